package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vigil/lvs"
)

func runArgs(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = runCLI(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckAcceptsEveryExample(t *testing.T) {
	files, err := filepath.Glob("examples/*/*.yaml")
	if err != nil || len(files) < 6 {
		t.Fatalf("want the three example pairs (6 files), found %v (%v)", files, err)
	}
	for _, f := range files {
		code, out, errOut := runArgs("check", "-c", f)
		if code != 0 {
			t.Errorf("vigil check -c %s exited %d:\n%s", f, code, errOut)
		}
		if !strings.Contains(out, f+": OK") || !strings.Contains(out, "vrrp instances: ") {
			t.Errorf("vigil check -c %s printed no summary:\n%s", f, out)
		}
	}
}

func TestCheckReportsAllMistakesWithLines(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.yaml")
	text := `vrrp:
  - name: VI_1
    interface: eth0
    vrid: 51
    priority: 300
    vips: [10.0.0.100/24]
    auth_pass: secret
services:
  - name: web
    listen: 10.0.0.100:80
    balance: fastest
    backends: [10.0.0.1:80]
`
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runArgs("check", "-c", file)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, want := range []string{
		file + ":5:15: vrrp[0].priority: 300 is out of range 1..255",
		file + ":7:16: vrrp[0].auth_pass: authentication exists only in VRRP v2",
		file + `:11:14: services[0].balance: "fastest" is not one of roundrobin, leastconn, source, uri, random`,
		file + ": 3 error(s); the config was not accepted",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if out != "" {
		t.Errorf("a rejected config printed a summary:\n%s", out)
	}
}

func TestCheckMissingFile(t *testing.T) {
	code, _, errOut := runArgs("check", "-c", "/nonexistent/vigil.yaml")
	if code != 1 || !strings.Contains(errOut, "/nonexistent/vigil.yaml: no such file or directory") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestCheckPrintShowsDefaults(t *testing.T) {
	code, out, errOut := runArgs("check", "-c", "examples/keepalived-v2-pair/lb1.yaml", "--print")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"version: 2", "preempt: true", "refresh_repeat: 1", "jitter: 100ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("--print lacks %q:\n%s", want, out)
		}
	}
}

func TestHelpAndUsage(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"run", "--help"}, {"check", "--help"}, {"check", "-h"}} {
		code, out, _ := runArgs(args...)
		if code != 0 || !strings.Contains(out, "Usage") {
			t.Errorf("vigil %s: exit %d, stdout %q", strings.Join(args, " "), code, out)
		}
	}
	for _, args := range [][]string{{}, {"frobnicate"}, {"check", "--nope"}, {"check", "extra-arg"}} {
		if code, _, _ := runArgs(args...); code != 2 {
			t.Errorf("vigil %s: exit %d, want 2 (usage)", strings.Join(args, " "), code)
		}
	}
	code, out, _ := runArgs("version")
	if code != 0 || !strings.HasPrefix(out, "vigil ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

// TestRunRefusesUnbuiltParts: a config using a part not built yet must not
// start the rest alone; vigil says which part is missing and exits 1.
func TestRunRefusesUnbuiltParts(t *testing.T) {
	file := filepath.Join(t.TempDir(), "svc.yaml")
	for text, want := range map[string]string{
		"alerts: { webhooks: [{ url: \"http://127.0.0.1:9/hook\" }] }\nservices:\n  - { name: web, listen: \"127.0.0.1:80\", backends: [127.0.0.1:8080] }\n": "alerts are not built yet",
	} {
		os.WriteFile(file, []byte(text), 0o644)
		code, _, errOut := runArgs("run", "-c", file)
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("exit %d, stderr %q, want %q", code, errOut, want)
		}
	}
	// mode: lvs on a kernel without IPVS: refused at start with the reason,
	// where moby/ipvs alone would accept every rule and forward nothing.
	if h, err := lvs.Open(""); err == nil {
		h.Close()
		t.Log("this kernel has IPVS: not checking the refusal of mode: lvs without it")
	} else {
		os.WriteFile(file, []byte("services:\n  - { name: ipvs, mode: lvs, listen: \"10.0.0.1:80\", backends: [10.0.0.2:80] }\n"), 0o644)
		code, _, errOut := runArgs("run", "-c", file)
		if want := "service ipvs (mode: lvs): lvs: IPVS not available in this kernel (load ip_vs, or use mode: proxy)"; code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("lvs without IPVS: exit %d, stderr %q, want %q", code, errOut, want)
		}
	}
	code, _, errOut := runArgs("run", "-c", "/nonexistent.yaml")
	if code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
}
