package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/api"
	"vigil/lvs"
)

func runArgs(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = runCLI(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckAcceptsEveryExample(t *testing.T) {
	files, err := filepath.Glob("examples/*/*.yaml")
	if err != nil || len(files) < 8 {
		t.Fatalf("want the four example pairs (8 files), found %v (%v)", files, err)
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
	for _, args := range [][]string{{"--help"}, {"help"}, {"run", "--help"}, {"check", "--help"}, {"check", "-h"},
		{"status", "--help"}, {"reload", "-h"}, {"backend", "--help"}, {"backend", "drain", "--help"}} {
		code, out, _ := runArgs(args...)
		if code != 0 || !strings.Contains(out, "Usage") {
			t.Errorf("vigil %s: exit %d, stdout %q", strings.Join(args, " "), code, out)
		}
	}
	for _, args := range [][]string{{}, {"frobnicate"}, {"check", "--nope"}, {"check", "extra-arg"},
		{"status", "-o", "yaml"}, {"status", "extra"}, {"reload", "extra"}, {"backend"}, {"backend", "drain", "web"},
		{"backend", "pause", "web", "10.0.0.1:80"}, {"backend", "drain", "web", "10.0.0.1:80", "more"}, {"backend", "drain", "-x"}} {
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
		"node: lb1\n": "nothing to run: no vrrp instances and no services",
	} {
		os.WriteFile(file, []byte(text), 0o644)
		for _, cmd := range []string{"run", "check"} { // check refuses what run would
			code, _, errOut := runArgs(cmd, "-c", file)
			if code != 1 || !strings.Contains(errOut, want) {
				t.Errorf("vigil %s: exit %d, stderr %q, want %q", cmd, code, errOut, want)
			}
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

// fakeDaemon is an api.Source standing in for a running daemon.
type fakeDaemon struct {
	mu        sync.Mutex
	status    api.Status
	reloadErr error
	reloads   int
	plan      api.ReloadPlan
}

func (f *fakeDaemon) Status() api.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.status
	st.Services = append([]api.Service(nil), st.Services...)
	for i := range st.Services {
		st.Services[i].Backends = append([]api.Backend(nil), st.Services[i].Backends...)
	}
	return st
}

func (f *fakeDaemon) Events() (<-chan api.Event, func()) { return make(chan api.Event), func() {} }

func (f *fakeDaemon) Reload(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	return f.reloadErr
}

func (f *fakeDaemon) PlanReload(context.Context) (api.ReloadPlan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.plan, nil
}

func (f *fakeDaemon) SetBackendAdmin(service, address, state string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.status.Services {
		for j, b := range s.Backends {
			if s.Name == service && b.Address == address {
				if state == api.ActionEnable {
					state = api.AdminNone
				}
				f.status.Services[i].Backends[j].Admin = state
				return nil
			}
		}
	}
	return fmt.Errorf("no backend %s in service %s: %w", address, service, api.ErrNotFound)
}

// serveFake serves a fakeDaemon on a unix socket in a temp dir, as vigil run
// would, and returns it with the socket's path.
func serveFake(t *testing.T) (*fakeDaemon, string) {
	t.Helper()
	f := &fakeDaemon{status: api.Status{
		Node: "lb1", Version: "v1.2.3", Config: "/etc/vigil/vigil.yaml", Started: time.Now().Add(-time.Hour),
		Instances: []api.Instance{{Name: "VI_1", Interface: "eth0", VRID: 51, Version: 3, AdvertIntervalMs: 1000, VIPs: []string{"10.0.0.100/24"},
			State: "master", Priority: 150, BasePriority: 150, MasterAddress: "10.0.0.11"}},
		Services: []api.Service{{Name: "web", Mode: "proxy", Protocol: "tcp", Listen: "10.0.0.100:80", Up: true, Active: 2,
			Backends: []api.Backend{
				{Address: "10.0.1.1:8080", Up: true, Weight: 1, EffectiveWeight: 1, Active: 2},
				{Address: "10.0.1.2:8080", Up: false, Reason: "connection refused", Weight: 1},
			}}},
	}}
	path := filepath.Join(t.TempDir(), "vigil.sock")
	ln, err := api.ListenSocket(path, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		api.New(f, api.Options{}).Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return f, path
}

func TestStatusCommand(t *testing.T) {
	_, sock := serveFake(t)
	code, out, errOut := runArgs("status", "-s", sock)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"node lb1, vigil v1.2.3",
		"VI_1  eth0       51    v3/1s    MASTER  150/150    10.0.0.11",
		"VI_1 vips 10.0.0.100/24",
		"web 10.0.0.100:80 proxy/tcp UP",
		"  -> 10.0.1.2:8080  -      0/1     DOWN    -      0       0      connection refused",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = runArgs("status", "-s", sock, "-o", "json")
	var st api.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Node != "lb1" || len(st.Services[0].Backends) != 2 {
		t.Errorf("status -o json: exit %d, %s %s", code, out, errOut)
	}
}

func TestReloadCommand(t *testing.T) {
	f, sock := serveFake(t)
	if code, out, errOut := runArgs("reload", "-s", sock); code != 0 || out != "reloaded\n" || f.reloads != 1 {
		t.Errorf("reload: exit %d, %q %q, %d reload(s)", code, out, errOut, f.reloads)
	}
	f.reloadErr = errors.New("vigil.yaml:5:15: vrrp[0].priority: 300 is out of range 1..255")
	code, _, errOut := runArgs("reload", "-s", sock)
	if code != 1 || !strings.Contains(errOut, "refused, the running config is kept") || !strings.Contains(errOut, f.reloadErr.Error()) {
		t.Errorf("refused reload: exit %d, stderr %q", code, errOut)
	}
}

func TestReloadPlanCommand(t *testing.T) {
	f, sock := serveFake(t)
	f.plan = api.ReloadPlan{Config: "/etc/vigil/vigil.yaml", RunningHash: "aa", FileHash: "bb", Parts: []api.PlanPart{
		{Part: "vrrp VI_1", Action: "reconfigured in place: state and VIPs held, no failover", Changes: []string{"vrrp[VI_1].priority: 100 -> 150"}},
	}}
	code, out, errOut := runArgs("reload", "--plan", "-s", sock)
	if code != 0 || f.reloads != 0 || !strings.Contains(out, "vrrp VI_1: reconfigured in place") ||
		!strings.Contains(out, "\n    vrrp[VI_1].priority: 100 -> 150\n") || !strings.Contains(out, "a reload would apply: 1 part(s) change") {
		t.Errorf("reload --plan: exit %d, %d reload(s)\n%s%s", code, f.reloads, out, errOut)
	}
	code, out, _ = runArgs("reload", "--plan", "-o", "json", "-s", sock)
	var got api.ReloadPlan
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || !reflect.DeepEqual(got, f.plan) {
		t.Errorf("reload --plan -o json: exit %d, %v: %+v", code, err, got)
	}
	f.plan = api.ReloadPlan{Config: "/etc/vigil/vigil.yaml", RunningHash: "aa", FileHash: "aa", Parts: []api.PlanPart{}}
	if code, out, _ := runArgs("reload", "--plan", "-s", sock); code != 0 || !strings.Contains(out, "(the same)") || !strings.Contains(out, "nothing would change") {
		t.Errorf("empty plan: exit %d\n%s", code, out)
	}
	f.plan.Refused = "vigil.yaml:5:15: vrrp[0].priority: 300 is out of range 1..255"
	if code, out, _ := runArgs("reload", "--plan", "-s", sock); code != 1 || !strings.Contains(out, "REFUSED") || !strings.Contains(out, f.plan.Refused) {
		t.Errorf("refused plan: exit %d\n%s", code, out)
	}
	if code, _, _ := runArgs("reload", "--plan", "-o", "yaml", "-s", sock); code != 2 {
		t.Errorf("-o yaml: exit %d, want 2", code)
	}
}

func TestBackendCommand(t *testing.T) {
	f, sock := serveFake(t)
	admin := func() string { return f.Status().Services[0].Backends[1].Admin }
	// -s may come after the arguments, as the usage shows.
	code, out, errOut := runArgs("backend", "drain", "web", "10.0.1.2:8080", "-s", sock)
	if code != 0 || out != "web 10.0.1.2:8080: draining\n" || admin() != api.AdminDrain {
		t.Errorf("drain: exit %d, %q %q, admin %q", code, out, errOut, admin())
	}
	if code, _, errOut := runArgs("backend", "-s", sock, "maint", "web", "10.0.1.2:8080"); code != 0 || admin() != api.AdminMaint {
		t.Errorf("maint: exit %d, %q, admin %q", code, errOut, admin())
	}
	if code, _, errOut := runArgs("backend", "enable", "web", "10.0.1.2:8080", "-s", sock); code != 0 || admin() != api.AdminNone {
		t.Errorf("enable: exit %d, %q, admin %q", code, errOut, admin())
	}
	code, _, errOut = runArgs("backend", "drain", "web", "10.9.9.9:80", "-s", sock)
	if code != 1 || !strings.Contains(errOut, "no backend 10.9.9.9:80 in service web") {
		t.Errorf("unknown backend: exit %d, stderr %q", code, errOut)
	}
}

// TestProfileCommand saves profiles from a live socket: a gzip-compressed
// pprof file for cpu and heap, a runtime trace for trace, nothing left
// behind on a refusal.
func TestProfileCommand(t *testing.T) {
	_, sock := serveFake(t)
	dir := t.TempDir()
	for _, c := range []struct {
		args   []string
		file   string
		header string
	}{
		{[]string{"profile", "-seconds", "1", "-s", sock, "-o", filepath.Join(dir, "cpu.pprof")}, "cpu.pprof", "\x1f\x8b"},
		{[]string{"profile", "heap", "-s", sock, "-o", filepath.Join(dir, "heap.pprof")}, "heap.pprof", "\x1f\x8b"},
		{[]string{"profile", "trace", "-seconds", "1", "-s", sock, "-o", filepath.Join(dir, "t.trace")}, "t.trace", "go 1."},
	} {
		code, out, errOut := runArgs(c.args...)
		if code != 0 || !strings.Contains(out, "wrote "+filepath.Join(dir, c.file)) {
			t.Errorf("vigil %s: exit %d, %q %q", strings.Join(c.args, " "), code, out, errOut)
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, c.file))
		if err != nil || !strings.HasPrefix(string(b), c.header) {
			t.Errorf("%s: %v, starts % x, want %q", c.file, err, b[:min(len(b), 8)], c.header)
		}
	}
	for _, args := range [][]string{{"profile", "nope", "-s", sock}, {"profile", "-seconds", "99", "-s", sock}, {"profile", "cpu", "heap", "-s", sock}} {
		if code, _, _ := runArgs(args...); code != 2 {
			t.Errorf("vigil %s: exit %d, want 2 (bad usage)", strings.Join(args, " "), code)
		}
	}
	if code, _, errOut := runArgs("profile", "heap", "-s", sock, "-o", filepath.Join(dir, "missing", "heap.pprof")); code != 1 || !strings.Contains(errOut, "no such file or directory") {
		t.Errorf("profile into a missing directory: exit %d, %q", code, errOut)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".part") {
			t.Errorf("partial file left behind: %s", e.Name())
		}
	}
}

// TestControlCommandsWithoutDaemon: no daemon on the socket is a failure
// (exit 1) that names the socket, not a usage error.
func TestControlCommandsWithoutDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, args := range [][]string{{"status", "-s", sock}, {"reload", "-s", sock}, {"backend", "drain", "web", "10.0.1.1:80", "-s", sock}, {"profile", "heap", "-s", sock}} {
		code, _, errOut := runArgs(args...)
		if code != 1 || !strings.Contains(errOut, "connect to vigil at "+sock) {
			t.Errorf("vigil %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
		}
	}
}

func TestDemoUsage(t *testing.T) {
	if code, out, _ := runArgs("demo", "--help"); code != 0 || !strings.Contains(out, "Usage: vigil demo") || !strings.Contains(out, "-watch") {
		t.Errorf("vigil demo --help: exit %d, output:\n%s", code, out)
	}
	for _, args := range [][]string{{"demo", "extra"}, {"demo", "--watch", "0s"}, {"demo", "--nope"}} {
		if code, _, _ := runArgs(args...); code != 2 {
			t.Errorf("vigil %v: exit %d, want 2 (bad usage)", args, code)
		}
	}
}

// TestVersionStamped: a binary built from a git checkout says which
// commit it is, and build flags override what the checkout says.
func TestVersionStamped(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skip("not a git checkout")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "vigil")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "commit " + strings.TrimSpace(string(head)); !strings.Contains(string(out), want) {
		t.Errorf("vigil version says\n%s\nwant a line starting %q", out, want)
	}
	if !regexp.MustCompile(`(?m)^built \d{4}-\d\d-\d\dT`).Match(out) {
		t.Errorf("vigil version gives no build date:\n%s", out)
	}
	flags := "-X main.version=v9.8.7 -X main.commit=abc123 -X main.date=2026-01-02T03:04:05Z"
	if out, err := exec.Command("go", "build", "-ldflags", flags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, _ = exec.Command(bin, "version").Output()
	for _, want := range []string{"vigil v9.8.7\n", "commit abc123\n", "built 2026-01-02T03:04:05Z\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("with build flags, vigil version says\n%s\nwant %q", out, want)
		}
	}
}

// TestStatusCheck: vigil status --check prints a plugin's verdict and
// exits with it, as Nagios reads it: the fake daemon has a backend down
// (warning), then a service down (critical), then nobody answers.
func TestStatusCheck(t *testing.T) {
	f, sock := serveFake(t)
	code, out, _ := runArgs("status", "--check", "-s", sock)
	if code != 1 || !strings.HasPrefix(out, "VIGIL WARNING - lb1: 1 VRRP instance(s), 1 master; 1 of 1 service(s) up; service web: backend 10.0.1.2:8080 down (connection refused)") {
		t.Errorf("a backend down: exit %d\n%s", code, out)
	}
	f.mu.Lock()
	f.status.Services[0].Up, f.status.Services[0].Reason = false, "no backend up"
	f.status.Services[0].Backends[1].Admin = api.AdminMaint
	f.mu.Unlock()
	code, out, _ = runArgs("status", "--check", "-s", sock)
	if code != 2 || !strings.Contains(out, "VIGIL CRITICAL") || !strings.Contains(out, "\nservice web down (no backend up)\n") {
		t.Errorf("a service down: exit %d\n%s", code, out)
	}
	f.mu.Lock()
	f.status.Services[0].Up = true
	f.mu.Unlock()
	if code, out, _ = runArgs("status", "--check", "-s", sock); code != 0 || !strings.HasPrefix(out, "VIGIL OK - lb1") {
		t.Errorf("all well (the down backend in maintenance): exit %d\n%s", code, out)
	}
	code, out, _ = runArgs("status", "--check", "-s", filepath.Join(t.TempDir(), "none.sock"))
	if code != 2 || !strings.HasPrefix(out, "VIGIL CRITICAL - the daemon does not answer") {
		t.Errorf("no daemon: exit %d\n%s", code, out)
	}
}

func TestHelpPrintsOnceToStdout(t *testing.T) {
	for _, cmd := range []string{"check", "status", "reload", "backend", "profile", "import", "realserver"} {
		code, out, errOut := runArgs(cmd, "--help")
		if code != 0 || errOut != "" || strings.Count(out, "Usage: vigil "+cmd) != 1 {
			t.Errorf("vigil %s --help: exit %d, stdout %q, stderr %q", cmd, code, out, errOut)
		}
	}
	code, out, errOut := runArgs("reload", "--no-such-flag")
	if code != 2 || out != "" || !strings.Contains(errOut, "-no-such-flag") || strings.Count(errOut, "Usage: vigil reload") != 1 {
		t.Errorf("unknown flag: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
