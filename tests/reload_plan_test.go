package tests

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/api"
	"vigil/tests/lab"
)

// TestReloadPlan edits a running node's config file and asks `vigil
// reload --plan` what a reload would do: each part with its action and
// differences, and nothing applied (priority, VIPs, services, the
// socket's group untouched). A file a reload would refuse gives exit 1
// and the reason. After a real reload the plan is empty.
func TestReloadPlan(t *testing.T) {
	l := lab.New(t)
	lan := l.AddNet("lan", lanPrefix)
	lb1h := l.AddHost("lb1", lan)
	be1, be2 := l.AddHost("be1", lan), l.AddHost("be2", lan)
	nameServer(t, be1, 9000)
	nameServer(t, be2, 9000)
	sock := filepath.Join(t.TempDir(), "vigil.sock")
	config := func(prio int, vips, level, group string, backends []*lab.Host, extra bool) string {
		var bs []string
		for _, b := range backends {
			bs = append(bs, fmt.Sprintf("%q", b.Addr(lan).String()+":9000"))
		}
		cfg := fmt.Sprintf("node: lb1\nlog: { level: %s }\napi: { listen: \"\", socket: %s, socket_group: %q }\nvrrp:\n%s", level, sock, group,
			instanceYAML("VI_1", 51, prio, "1s", vips, "    auth_pass: secret1\n    version: 2\n"))
		cfg += fmt.Sprintf(`services:
  - name: app
    listen: 10.0.0.100:8080
    mode: proxy
    protocol: tcp
    backends: [%s]
`, strings.Join(bs, ", "))
		if extra {
			cfg += fmt.Sprintf(`  - name: extra
    listen: 10.0.0.100:8081
    mode: proxy
    protocol: tcp
    backends: ["%s:9000"]
`, be2.Addr(lan))
		}
		return cfg
	}
	lb1 := startVigil(t, lb1h, config(150, "10.0.0.100/24", "info", "", []*lab.Host{be1}, false))
	lb1.waitLog("to=MASTER", 10*time.Second)
	lab.WaitFor(t, 5*time.Second, "the socket", func() (bool, string) {
		_, err := os.Stat(sock)
		return err == nil, fmt.Sprint(err)
	})
	plan := func(wantCode int) string {
		t.Helper()
		out, code := runVigilCLI(t, "reload", "--plan", "-s", sock)
		if code != wantCode {
			t.Fatalf("vigil reload --plan: exit %d, want %d:\n%s", code, wantCode, out)
		}
		return out
	}
	if out := plan(0); !strings.Contains(out, "nothing would change") || !strings.Contains(out, "(the same)") {
		t.Errorf("plan of the running file:\n%s", out)
	}

	// The file changes; nothing is reloaded.
	socketGID := func() uint32 {
		fi, err := os.Stat(sock)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Gid
	}
	gid := socketGID()
	edited := config(140, "10.0.0.100/24, 10.0.0.101/24", "debug, access: stdout", "daemon", []*lab.Host{be1, be2}, true)
	if err := os.WriteFile(lb1.conf, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	out := plan(0)
	for _, want := range []string{
		"vrrp VI_1: reconfigured in place",
		"vrrp[VI_1].priority: 150 -> 140",
		"vrrp[VI_1].vips[10.0.0.101/24]: added",
		"service app: replaced: the new service takes over the listening socket",
		"services[app].backends[" + be2.Addr(lan).String() + ":9000]: added",
		"service extra: added: listens on 10.0.0.100:8081",
		"log: needs a restart",
		"log.level: info -> debug",
		"log.access: applied: the proxy services that take this default change with it",
		"services[app].access_log: added {to: stdout, format: haproxy, facility: local0}",
		"api: updated",
		"api.socket_group: \"\" -> daemon",
		"a reload would apply: 6 part(s) change",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret1") {
		t.Errorf("the plan shows the password:\n%s", out)
	}
	st := statusOver(t, sock)
	if st.Instances[0].Priority != 150 || len(st.Services) != 1 || len(st.Services[0].Backends) != 1 || hasAddr(lb1h, netip.MustParseAddr("10.0.0.101")) {
		t.Errorf("the plan changed the running node: %+v", st)
	}
	if g := socketGID(); g != gid {
		t.Errorf("the plan set the socket's group: gid %d, was %d", g, gid)
	}
	if strings.Contains(lb1.proc.Output(), "config reloaded") {
		t.Error("the plan reloaded")
	}
	jsonOut, code := runVigilCLI(t, "reload", "--plan", "-o", "json", "-s", sock)
	var p api.ReloadPlan
	if err := json.Unmarshal([]byte(jsonOut), &p); code != 0 || err != nil || len(p.Parts) != 6 || p.FileHash == p.RunningHash {
		t.Errorf("reload --plan -o json: exit %d, %v: %+v", code, err, p)
	}

	// A file a reload would refuse.
	if err := os.WriteFile(lb1.conf, []byte(strings.Replace(edited, "priority: 140", "priority: 300", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := plan(1); !strings.Contains(out, "REFUSED") || !strings.Contains(out, "priority") {
		t.Errorf("plan of a bad file:\n%s", out)
	}

	// Applied for real, the plan is empty again.
	lb1.reload(edited, "config reloaded")
	if out := plan(0); !strings.Contains(out, "nothing would change") {
		t.Errorf("plan after the reload:\n%s", out)
	}
	if st := statusOver(t, sock); st.Instances[0].Priority != 140 || len(st.Services) != 2 {
		t.Errorf("after the reload: %+v", st)
	}
}
