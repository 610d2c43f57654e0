package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"vigil/api"
	"vigil/tests/lab"
)

// runVigilCLI runs a vigil command on the test's own side (the unix
// socket is a file, reachable from any namespace) and returns its
// combined output and exit code.
func runVigilCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(vigilBin, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		t.Fatalf("vigil %v: %v", args, err)
	}
	return string(out), 0
}

// statusOver asks the daemon behind sock for its status (vigil status -o json).
func statusOver(t *testing.T, sock string) api.Status {
	t.Helper()
	out, code := runVigilCLI(t, "status", "-s", sock, "-o", "json")
	if code != 0 {
		t.Fatalf("vigil status: exit %d: %s", code, out)
	}
	var st api.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("vigil status -o json: %v\n%s", err, out)
	}
	return st
}

// vigilPid finds the pid of the vigil process running in h: the one
// process in h's namespace whose command is vigil.
func vigilPid(t *testing.T, h *lab.Host) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "pids", h.NS).Output()
	if err != nil {
		t.Fatalf("ip netns pids %s: %v", h.NS, err)
	}
	var found []int
	for _, f := range strings.Fields(string(out)) {
		pid, _ := strconv.Atoi(f)
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if strings.HasPrefix(strings.TrimSpace(string(comm)), "vigil") {
			found = append(found, pid)
		}
	}
	if len(found) != 1 {
		t.Fatalf("vigil processes in %s: %v, want one", h.Name, found)
	}
	return found[0]
}

// openFilesLimit reads the soft and hard "Max open files" of a process.
func openFilesLimit(t *testing.T, pid int) (soft, hard uint64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			soft, _ = strconv.ParseUint(f[0], 10, 64)
			hard, _ = strconv.ParseUint(f[1], 10, 64)
			return soft, hard
		}
	}
	t.Fatalf("no open files limit in /proc/%d/limits", pid)
	return 0, 0
}

// TestReloadFaults: reloads that must be refused, each through `vigil
// reload` on the unix socket: a YAML syntax error, a TLS certificate file
// that does not exist, an interface that does not exist, and a certificate
// file that exists but holds no certificate (which only building the
// service finds). Each time the CLI exits non-zero with the reason, the
// status API's last reload carries it, the log says the reload was
// refused and why, and the old config keeps running: the VIP stays, the
// service answers, neither node makes a transition. A good reload after
// them succeeds. It also checks the open-files limit the daemon reports.
func TestReloadFaults(t *testing.T) {
	p := newPair(t)
	be1 := p.lab.AddHost("be1", p.lan)
	nameServer(t, be1, 9000)
	dir := t.TempDir()
	sock := filepath.Join(dir, "vigil.sock")
	addr := netip.AddrPortFrom(vip4, 8080)
	service := fmt.Sprintf(`services:
  - name: app
    listen: 10.0.0.100:8080
    mode: proxy
    protocol: tcp
    check: { type: tcp, interval: 100ms, timeout: 100ms, rise: 1, fall: 2 }
    backends: ["%s:9000"]
`, be1.Addr(p.lan))
	lb1cfg := func(prio int, iface string) string {
		inst := strings.Replace(instanceYAML("VI_1", 51, prio, "100ms", "10.0.0.100/24", ""), "interface: eth0", "interface: "+iface, 1)
		return fmt.Sprintf("node: lb1\napi: { listen: \"\", socket: %q }\nvrrp:\n%s%s", sock, inst, service)
	}
	tlsService := func(cert, key string) string {
		return fmt.Sprintf(`  - name: tls
    listen: 10.0.0.100:443
    protocol: http
    tls: { certs: [{ cert: %q, key: %q }] }
    backends: ["%s:9000"]
`, cert, key, be1.Addr(p.lan))
	}
	lb1 := startVigil(t, p.lb1, lb1cfg(150, "eth0"))
	lb2 := startBackup(t, lb1, p.lb2, nodeConfig("lb2", instanceYAML("VI_1", 51, 100, "100ms", "10.0.0.100/24", "")))
	waitOwner(t, vip4, p.lb1, p.nodes, 10*time.Second)
	lab.WaitFor(t, 5*time.Second, "be1 through the VIP", func() (bool, string) {
		got, err := ask(p.cli, addr)
		return err == nil && got == "be1", fmt.Sprintf("%q %v", got, err)
	})

	// Resource limits: the soft open-files limit is the hard one, and the
	// status API reports what the process has.
	soft, hard := openFilesLimit(t, vigilPid(t, p.lb1))
	if soft != hard {
		t.Errorf("vigil runs with open files soft %d, hard %d: not raised", soft, hard)
	}
	if st := statusOver(t, sock); st.MaxOpenFiles != soft {
		t.Errorf("status max_open_files = %d, the process has %d", st.MaxOpenFiles, soft)
	}
	lb1.waitLog(fmt.Sprintf("msg=\"open files limit\" soft=%d hard=%d", soft, hard), time.Second)

	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	before1, before2 := lb1.transitions(), lb2.transitions()
	for _, c := range []struct {
		name, cfg, want string
	}{
		{"yaml syntax error", "vrrp: [ this is not yaml\n", "YAML syntax"},
		{"missing TLS cert file", lb1cfg(150, "eth0") + tlsService(missing, missing), `file "` + missing + `" does not exist`},
		{"unknown interface", lb1cfg(150, "eth9"), `interface "eth9" does not exist`},
		{"unreadable TLS cert", lb1cfg(150, "eth0") + tlsService(garbage, garbage), garbage},
	} {
		if err := os.WriteFile(lb1.conf, []byte(c.cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		out, code := runVigilCLI(t, "reload", "-s", sock)
		if code == 0 || !strings.Contains(out, "refused") || !strings.Contains(out, c.want) {
			t.Errorf("%s: vigil reload exit %d, want non-zero with %q:\n%s", c.name, code, c.want, out)
		}
		if r := statusOver(t, sock).LastReload; r == nil || r.OK || !strings.Contains(r.Error, c.want) {
			t.Errorf("%s: status last_reload %+v, want a refusal with %q", c.name, r, c.want)
		}
		// The log's text handler quotes the error, escaping its quotes.
		if !containsLine(lb1.proc.Output(), "reload refused, keeping the running config", strings.ReplaceAll(c.want, `"`, `\"`)) {
			t.Errorf("%s: no log line saying the reload was refused with %q", c.name, c.want)
		}
		if got, err := ask(p.cli, addr); err != nil || got != "be1" {
			t.Errorf("%s: after the refused reload the service answered %q, %v", c.name, got, err)
		}
		waitOwner(t, vip4, p.lb1, p.nodes, time.Second)
	}
	if a1, a2 := lb1.transitions(), lb2.transitions(); !slices.Equal(before1, a1) || !slices.Equal(before2, a2) {
		t.Errorf("transitions across refused reloads: lb1 %v -> %v, lb2 %v -> %v", before1, a1, before2, a2)
	}

	// Control: a good config is applied, and the status says so.
	if err := os.WriteFile(lb1.conf, []byte(lb1cfg(140, "eth0")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := runVigilCLI(t, "reload", "-s", sock); code != 0 {
		t.Fatalf("good reload: exit %d: %s", code, out)
	}
	st := statusOver(t, sock)
	if r := st.LastReload; r == nil || !r.OK || r.Error != "" {
		t.Errorf("status after a good reload: %+v", r)
	}
	if st.Instances[0].BasePriority != 140 {
		t.Errorf("priority after the good reload: %d, want 140", st.Instances[0].BasePriority)
	}
}
