package importer

import (
	"strings"
	"testing"
)

// TestReportNamesUnsupported checks that keywords vigil cannot carry over
// are reported with their file and line, in the notes and in the header.
func TestReportNamesUnsupported(t *testing.T) {
	ka := "testdata/import/keepalived/full-vrrp.conf"
	lvs := "testdata/import/keepalived/full-lvs.conf"
	ha := "testdata/import/haproxy/full.cfg"
	inc := "testdata/import/keepalived/include/keepalived.conf"
	logs := "testdata/import/haproxy/log-targets.cfg"
	tests := []struct {
		in   Input
		want Note
	}{
		{Input{Keepalived: ka}, Note{File: ka, Line: 71, Keyword: "use_vmac", Severity: Unsupported}},
		{Input{Keepalived: ka}, Note{File: ka, Line: 72, Keyword: "mcast_src_ip", Severity: Unsupported}},
		{Input{Keepalived: ka}, Note{File: ka, Line: 73, Keyword: "virtual_routes", Severity: Unsupported}},
		{Input{Keepalived: ka}, Note{File: ka, Line: 66, Keyword: "notify_master/backup/fault/stop", Severity: Unsupported}},
		{Input{Keepalived: ka}, Note{File: ka, Line: 11, Keyword: "vrrp_strict", Severity: Unsupported}},
		{Input{Keepalived: ka}, Note{File: ka, Line: 12, Keyword: "maxlen", Severity: Unsupported}},
		{Input{Keepalived: ka}, Note{File: ka, Line: 34, Keyword: "state", Severity: Ignored}},
		{Input{Keepalived: lvs}, Note{File: lvs, Line: 90, Keyword: "misc_dynamic", Severity: Unsupported}},
		{Input{Keepalived: lvs}, Note{File: lvs, Line: 92, Keyword: "SMTP_CHECK", Severity: Unsupported}},
		{Input{Keepalived: lvs}, Note{File: lvs, Line: 32, Keyword: "delay_before_retry", Severity: Changed}},
		{Input{Keepalived: inc}, Note{File: inc, Line: 5, Keyword: "include", Severity: Ignored}},
		{Input{HAProxy: ha}, Note{File: ha, Line: 6, Keyword: "tune.bufsize", Severity: Unsupported}},
		{Input{HAProxy: ha}, Note{File: ha, Line: 24, Keyword: "timeout tunnel", Severity: Unsupported}},
		{Input{HAProxy: ha}, Note{File: ha, Line: 43, Keyword: "use_backend unless", Severity: Unsupported}},
		{Input{HAProxy: ha}, Note{File: ha, Line: 58, Keyword: "verify", Severity: Unsupported}},
		{Input{HAProxy: logs}, Note{File: logs, Line: 51, Keyword: "log", Severity: Unsupported}},
		{Input{HAProxy: logs}, Note{File: logs, Line: 36, Keyword: "log-format", Severity: Unsupported}},
		{Input{HAProxy: logs}, Note{File: logs, Line: 20, Keyword: "option httplog", Severity: Changed}},
		{Input{HAProxy: logs}, Note{File: logs, Line: 57, Keyword: "option dontlog-normal", Severity: Changed}},
	}
	for _, tc := range tests {
		t.Run(tc.want.Keyword, func(t *testing.T) {
			res, err := Convert(tc.in, OSFiles{})
			if err != nil {
				t.Fatal(err)
			}
			var found *Note
			for i, n := range res.Notes {
				if n.File == tc.want.File && n.Line == tc.want.Line && n.Keyword == tc.want.Keyword {
					found = &res.Notes[i]
				}
			}
			if found == nil {
				t.Fatalf("no note for %s:%d %s in:\n%s", tc.want.File, tc.want.Line, tc.want.Keyword, res.YAML)
			}
			if found.Severity != tc.want.Severity {
				t.Errorf("%s is %s, want %s", found, found.Severity, tc.want.Severity)
			}
			if found.Message == "" {
				t.Errorf("%s says nothing about what to do", found)
			}
			if !strings.Contains(string(res.YAML), "#   "+found.String()+"\n") {
				t.Errorf("the header does not list %q", found)
			}
			if tc.want.Severity == Unsupported && res.Complete() {
				t.Error("Complete() with an unsupported keyword")
			}
		})
	}
}

// TestTrackScriptReplaced checks the keepalived+HAProxy pair: the script that
// only checks HAProxy is alive becomes tracking of the imported services.
func TestTrackScriptReplaced(t *testing.T) {
	in := Input{Keepalived: "testdata/import/pairs/haproxy-track/keepalived.conf", HAProxy: "testdata/import/pairs/haproxy-track/haproxy.cfg"}
	res, err := Convert(in, OSFiles{})
	if err != nil {
		t.Fatal(err)
	}
	out := string(res.YAML)
	for _, want := range []string{"{service: web, weight: -60}", "{service: db, weight: -40}", "{check: chk_upstream, weight: -10}"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	replaced := 0
	for _, n := range res.Notes {
		if n.Keyword == "chk_haproxy" && strings.Contains(n.Message, "replaced by tracking vigil's own services") {
			replaced++
		}
	}
	if replaced != 2 {
		t.Errorf("%d notes say chk_haproxy was replaced, want 2 (VI_WEB and VI_DB)", replaced)
	}
	// Without haproxy.cfg the script stays a check, with a warning.
	alone, err := Convert(Input{Keepalived: in.Keepalived}, OSFiles{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(alone.YAML), "service: web") || !strings.Contains(string(alone.YAML), "check: chk_haproxy") {
		t.Errorf("without haproxy.cfg chk_haproxy should stay a check:\n%s", alone.YAML)
	}
}

func TestAliveTarget(t *testing.T) {
	tests := []struct {
		script string
		want   string
	}{
		{"killall -0 haproxy", "haproxy"},
		{"/usr/bin/killall -0 haproxy", "haproxy"},
		{"pidof haproxy", "haproxy"},
		{"pgrep -x nginx", "nginx"},
		{"systemctl is-active --quiet haproxy", "haproxy"},
		{"/bin/sh -c 'pidof haproxy || exit 1'", "haproxy"},
		{"curl -sf http://localhost:8080/health", "local proxy"},
		{"curl -sf http://127.0.0.1/", "local proxy"},
		{"curl -sf http://10.1.0.50/health", ""},
		{"/etc/keepalived/check_haproxy.sh", ""},
		{"bash /etc/keepalived/check_haproxy.sh", ""},
		{"pidof sshd", ""},
	}
	for _, tc := range tests {
		if got := aliveTarget(splitCommand(tc.script)); got != tc.want {
			t.Errorf("aliveTarget(%q) = %q, want %q", tc.script, got, tc.want)
		}
	}
}
