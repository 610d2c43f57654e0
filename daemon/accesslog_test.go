package daemon

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vigil/config"
	"vigil/proxy"
)

// TestAccessLogsShareAndRelease: services that log to one target share
// its Sink, which closes once the last of them lets go; a target that
// cannot be opened is refused with the config field that names it.
func TestAccessLogsShareAndRelease(t *testing.T) {
	dir := t.TempDir()
	shared, own := filepath.Join(dir, "shared.log"), filepath.Join(dir, "own.log")
	text := "node: n\napi: { listen: \"\", socket: \"\" }\nlog:\n  access: { to: " + shared + ", format: json }\nservices:\n" +
		"  - { name: a, listen: \"127.0.0.1:1\", backends: [\"127.0.0.1:2\"] }\n" +
		"  - { name: b, listen: \"127.0.0.1:3\", protocol: http, backends: [\"127.0.0.1:2\"] }\n" +
		"  - { name: c, listen: \"127.0.0.1:4\", protocol: http, access_log: " + own + ", backends: [\"127.0.0.1:2\"] }\n" +
		"  - { name: d, listen: \"127.0.0.1:5\", protocol: http, access_log: \"off\", backends: [\"127.0.0.1:2\"] }\n" +
		"  - { name: e, listen: \"127.0.0.1:6\", protocol: http, access_log: " + filepath.Join(dir, "no", "such", "dir.log") + ", backends: [\"127.0.0.1:2\"] }\n"
	cfg, _, err := config.Parse("t.yaml", []byte(text), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	logs := newAccessLogs(slog.New(slog.DiscardHandler))
	var releases []func()
	var services []*proxy.Service
	for i := range 4 {
		s, err := proxy.NewService(cfg.Services[i], nil)
		if err != nil {
			t.Fatal(err)
		}
		rel, err := logs.attach(cfg, i, s)
		if err != nil {
			t.Fatalf("service %d: %v", i, err)
		}
		releases, services = append(releases, rel), append(services, s)
	}
	if services[0].AccessLog.Sink() != services[1].AccessLog.Sink() || services[2].AccessLog.Sink() == services[0].AccessLog.Sink() {
		t.Error("services logging to one target must share its sink, and only they")
	}
	if services[3].AccessLog != nil {
		t.Error("access_log: off logs")
	}
	if st := logs.stats(); len(st) != 2 || st[0].Target != own || st[1].Target != shared {
		t.Errorf("stats %+v", st)
	}
	s, _ := proxy.NewService(cfg.Services[4], nil)
	if _, err := logs.attach(cfg, 4, s); err == nil || !strings.HasPrefix(err.Error(), "t.yaml:10:") || !strings.Contains(err.Error(), "services[4].access_log.to") {
		t.Errorf("unopenable target: %v", err)
	}

	// logrotate: the file is renamed, then reopened at its path.
	if err := os.Rename(own, own+".1"); err != nil {
		t.Fatal(err)
	}
	if err := logs.reopen(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(own); err != nil {
		t.Errorf("not reopened at its path: %v", err)
	}

	sink := services[0].AccessLog.Sink()
	releases[0]()
	releases[0]() // twice is once
	if st := logs.stats(); len(st) != 2 {
		t.Errorf("a sink still used by b closed: %+v", st)
	}
	releases[1]()
	if st := logs.stats(); len(st) != 1 || st[0].Target != own {
		t.Errorf("after the last user of %s let go: %+v", shared, st)
	}
	if sink.Write([]byte("x\n")) {
		t.Error("the released sink still takes lines")
	}
	releases[2]()
	releases[3]()
	if st := logs.stats(); len(st) != 0 {
		t.Errorf("sinks left open: %+v", st)
	}
}
