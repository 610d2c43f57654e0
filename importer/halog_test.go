package importer

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLogTargets maps HAProxy's log target forms onto access_log.to, and
// refuses what HAProxy refuses or vigil cannot write to.
func TestLogTargets(t *testing.T) {
	tests := []struct {
		line string
		to   string // "" when not converted
		bad  string // in the parse error or the reason it is not converted
	}{
		{"log 127.0.0.1:514 local0", "syslog://127.0.0.1:514", ""},
		{"log 10.0.0.5 local1", "syslog://10.0.0.5:514", ""},
		{"log udp@10.0.0.5:5140 local1 info", "syslog://10.0.0.5:5140", ""},
		{"log udp4@10.0.0.5 local1", "syslog://10.0.0.5:514", ""},
		{"log ipv4@10.0.0.5:10514 len 4096 format rfc5424 local1 info notice", "syslog://10.0.0.5:10514", ""},
		{"log [2001:db8::1]:1514 local0", "syslog://[2001:db8::1]:1514", ""},
		{"log [2001:db8::1] local0", "syslog://[2001:db8::1]:514", ""},
		{"log 2001:db8::1:1514 local0", "syslog://[2001:db8::1]:1514", ""},
		{"log udp6@2001:db8::1: local0", "syslog://[2001:db8::1]:514", ""},
		{"log logs.example.com:5514 daemon", "syslog://logs.example.com:5514", ""},
		{"log /dev/log local0", "syslog:///dev/log", ""},
		{"log unix@/run/syslog.sock local0", "syslog:///run/syslog.sock", ""},
		{"log uxdg@/dev/log local0", "syslog:///dev/log", ""},
		{"log stdout format raw local0", "stdout", ""},
		{"log stderr format raw daemon notice", "stderr", ""},
		{"log fd@1 daemon", "stdout", ""},
		{"log fd@2 daemon", "stderr", ""},
		{"log stdout format short sample 1:2 profile p daemon", "stdout", ""},
		{"log ring@buf local0", "", "ring buffers"},
		{"log backend@logs local0", "", "log backends"},
		{"log tcp@10.0.0.5:601 local0", "", "not over a stream"},
		{"log uxst@/dev/log local0", "", "not over a stream"},
		{"log fd@3 local0", "", "file descriptor"},
		{"log abns@syslog local0", "", "abstract unix sockets"},
		{"log ${SYSLOG}:514 local0", "", "environment variables"},
		{"log dev/log local0", "", "not an address"},
		{"log 10.0.0.5:99999 local0", "", "not an address"},
		{"log fe80::1%eth0: local0", "", "not an address"},
		{"log quic4@10.0.0.5:514 local0", "", "not an address"},
		{"log unix@relative local0", "", "not an address"},
		{"log 10.0.0.5", "", "needs a target and a facility"},
		{"log 10.0.0.5 len 10 local0", "", "len"},
		{"log 10.0.0.5 format json local0", "", "unknown format"},
		{"log 10.0.0.5 local9", "", "not a syslog facility"},
		{"log 10.0.0.5 format raw", "", "needs a facility"},
		{"log 10.0.0.5 local0 loud", "", "not a syslog level"},
		{"log 10.0.0.5 local0 info debug extra", "", `unexpected "extra"`},
	}
	for _, tc := range tests {
		words, err := haWords(tc.line)
		if err != nil {
			t.Fatal(err)
		}
		lt, bad := parseLogTarget(haLine{words: words})
		to, why := "", bad
		if lt != nil {
			to, why = lt.vigilTo()
		}
		if to != tc.to || tc.bad == "" && why != "" || !strings.Contains(why, tc.bad) {
			t.Errorf("%s: to %q (%s), want %q (%s)", tc.line, to, why, tc.to, tc.bad)
		}
	}
}

// TestAccessLogPerService checks when the access log is written once as
// log.access and when per service.
func TestAccessLogPerService(t *testing.T) {
	const head = "global\n log 10.0.0.5 local0\ndefaults\n mode http\n log global\n option httplog\n"
	const be = "backend b\n server s 10.0.0.1:80\n"
	tests := []struct {
		name, cfg string
		want      []string
		notWant   []string
	}{
		{"one for all", head + "frontend a\n bind :80\n default_backend b\nlisten t\n bind :5432\n mode tcp\n server s 10.0.0.2:5432\n" + be,
			[]string{"log:\n  access: syslog://10.0.0.5:514\n"}, []string{"access_log"}},
		{"one without", head + "frontend a\n bind :80\n default_backend b\nfrontend q\n bind :81\n no log\n default_backend b\n" + be,
			[]string{"    access_log: syslog://10.0.0.5:514\n"}, []string{"log:\n"}},
		{"formats differ", head + "frontend a\n bind :80\n default_backend b\nfrontend c\n bind :81\n option httplog clf\n default_backend b\n" + be,
			[]string{"    access_log: syslog://10.0.0.5:514\n", "    access_log: {to: 'syslog://10.0.0.5:514', format: combined}\n"}, []string{"log:\n"}},
		{"log global, no global log", "defaults\n mode http\n log global\n option httplog\nfrontend a\n bind :80\n default_backend b\n" + be,
			[]string{"log: ignored: the global section has no log line", "option httplog: ignored: no effect"}, []string{"access_log:", "\nlog:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Convert(Input{HAProxy: "h.cfg"}, MapFiles{"h.cfg": []byte(tc.cfg)})
			if err != nil {
				t.Fatal(err)
			}
			out := string(res.YAML)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestManyGlobalLogTargetsStayFast: every "log global" takes all the global
// targets again, and each may cost a note; a file with many of both must
// not make millions of them.
func TestManyGlobalLogTargetsStayFast(t *testing.T) {
	var ha strings.Builder
	ha.WriteString("global\n")
	for i := range 5000 {
		fmt.Fprintf(&ha, " log 10.0.%d.%d local0\n", i/250, i%250+1)
	}
	ha.WriteString("backend b\n server s 10.0.0.1:80\n")
	for i := range 2000 {
		// Each frontend's own target comes first, so every global one is a
		// target not converted, with a note of its own.
		fmt.Fprintf(&ha, "frontend f%d\n bind 10.1.%d.%d:80\n log 10.9.%d.%d local0\n log global\n default_backend b\n", i, i/250, i%250+1, i/250, i%250+1)
	}
	start := time.Now()
	res, err := Convert(Input{HAProxy: "h.cfg"}, MapFiles{"h.cfg": []byte(ha.String())})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("took %s", d)
	}
	if n := len(res.Notes); n > 2*maxGlobalLogUses {
		t.Errorf("%d notes", n)
	}
	if !strings.Contains(string(res.YAML), "global log targets (all of them once per log global)") {
		t.Error("the bound on global log targets did not stop the conversion")
	}
}
