package tests

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/tests/lab"
)

// unprivilegedUID is the uid vigil runs as here, distroless's "nonroot",
// which the Dockerfile uses too.
const unprivilegedUID = 65532

// twoCapabilities is CapEff with exactly CAP_NET_ADMIN (12) and CAP_NET_RAW (13).
const twoCapabilities = "0000000000003000"

// TestRunsUnprivilegedWithTwoCapabilities runs both nodes of a pair as a
// non-root user with only CAP_NET_ADMIN and CAP_NET_RAW, the two ways a
// deployment grants them: lb1 through ambient capabilities (systemd's
// User= with AmbientCapabilities=), lb2 through file capabilities on the
// binary with the bounding set cut to the two (the container image run
// with --cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW --user 65532).
// Each must own the VIP, announce it and proxy through it, and a vigil
// without the capabilities must refuse to start, naming what it lacks.
func TestRunsUnprivilegedWithTwoCapabilities(t *testing.T) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) not found")
	}
	setcap, err := exec.LookPath("setcap")
	if err != nil {
		t.Skip("setcap (libcap2-bin) not found")
	}
	// A directory the unprivileged user can read, holding a copy of the
	// binary (file capabilities go on that copy), the configs and sockets.
	dir, err := os.MkdirTemp("", "vigil-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "vigil")
	capped := filepath.Join(dir, "vigil-capped")
	for _, p := range []string{plain, capped} {
		if out, err := exec.Command("cp", vigilBin, p).CombinedOutput(); err != nil {
			t.Fatalf("copy vigil: %v: %s", err, out)
		}
	}
	if out, err := exec.Command(setcap, "cap_net_admin,cap_net_raw=ep", capped).CombinedOutput(); err != nil {
		t.Fatalf("setcap: %v: %s", err, out)
	}
	asUser := []string{setpriv, fmt.Sprintf("--reuid=%d", unprivilegedUID), fmt.Sprintf("--regid=%d", unprivilegedUID), "--clear-groups"}
	ambient := append(append([]string{}, asUser...),
		"--inh-caps=-all,+net_admin,+net_raw", "--ambient-caps=-all,+net_admin,+net_raw", "--bounding-set=-all,+net_admin,+net_raw", plain)
	fileCaps := append(append([]string{}, asUser...),
		"--inh-caps=-all", "--bounding-set=-all,+net_admin,+net_raw", capped)
	noCaps := append(append([]string{}, asUser...), "--inh-caps=-all", "--bounding-set=-all", plain)

	l := lab.New(t)
	lan := l.AddNet("lan", lanPrefix)
	lb1h, lb2h, cli := l.AddHost("lb1", lan), l.AddHost("lb2", lan), l.AddHost("client", lan)
	be := l.AddHost("be1", lan)
	nameServer(t, be, 9000)

	config := func(name string, prio int) string {
		sock := filepath.Join(dir, name)
		if err := os.Mkdir(sock, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(sock, unprivilegedUID, unprivilegedUID); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf(`node: %s
api: { listen: "", socket: %s/vigil.sock }
vrrp:
%s
services:
  - name: app
    listen: 10.0.0.100:8080
    mode: proxy
    protocol: tcp
    check: { type: tcp, interval: 100ms, timeout: 200ms, rise: 1, fall: 2 }
    backends: ["%s:9000"]
`, name, sock, instanceYAML("VI_1", 51, prio, "100ms", "10.0.0.100/24", ""), be.Addr(lan))
	}
	start := func(h *lab.Host, cfg string, argv []string) *node {
		file := filepath.Join(dir, h.Name+".yaml")
		if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		n := &node{t: t, host: h, conf: file, argv: argv}
		n.start()
		return n
	}

	// Without the capabilities vigil stops at once and says what to grant.
	refused := start(lb1h, config("refused", 150), noCaps)
	if _, done := refused.proc.Wait(10 * time.Second); !done {
		t.Fatalf("vigil without capabilities is still running:\n%s", refused.proc.Output())
	}
	if out := refused.proc.Output(); refused.proc.ExitCode() != 1 ||
		!strings.Contains(out, "without CAP_NET_RAW, CAP_NET_ADMIN") || !strings.Contains(out, "AmbientCapabilities=") {
		t.Fatalf("exit %d, want 1 and a message naming the capabilities:\n%s", refused.proc.ExitCode(), out)
	}

	lb1 := start(lb1h, config("lb1", 150), ambient)
	lb1.waitLog("to=MASTER", 10*time.Second)
	lb2 := start(lb2h, config("lb2", 100), fileCaps)
	lb2.waitLog("to=BACKUP", 10*time.Second)
	for _, n := range []*node{lb1, lb2} {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.proc.Pid()))
		if err != nil {
			t.Fatal(err)
		}
		uid := fmt.Sprintf("\t%d\t", unprivilegedUID)
		for _, want := range []string{"Uid:" + uid, "CapEff:\t" + twoCapabilities, "CapBnd:\t" + twoCapabilities} {
			if !strings.Contains(string(status), want) {
				t.Errorf("%s: /proc/PID/status lacks %q:\n%s", n.host.Name, want, status)
			}
		}
	}

	addr := netip.AddrPortFrom(vip4, 8080)
	served := func(via *lab.Host) {
		t.Helper()
		mac := macOf(t, via, "eth0")
		lab.WaitFor(t, 10*time.Second, "the client served through "+via.Name, func() (bool, string) {
			got, err := ask(cli, addr)
			return err == nil && got == "be1" && neighMAC(cli, vip4) == mac,
				fmt.Sprintf("%q %v, client's entry for the VIP %s, want %s", got, err, neighMAC(cli, vip4), mac)
		})
	}
	waitOwner(t, vip4, lb1h, []*lab.Host{lb1h, lb2h}, 10*time.Second)
	served(lb1h)
	// The CLI (root) talks to the unprivileged daemon over its socket.
	if out, code := runVigilCLI(t, "status", "-s", filepath.Join(dir, "lb1", "vigil.sock")); code != 0 || !strings.Contains(out, "MASTER") {
		t.Errorf("vigil status over lb1's socket: exit %d\n%s", code, out)
	}

	// lb1 crashes: lb2, with file capabilities, takes the VIP and announces
	// it, and the client follows.
	// The crashed process leaves its VIP on lb1's interface: the client
	// reaching lb2 shows that lb2's gratuitous ARP won.
	lb1.proc.Kill()
	lab.WaitFor(t, 5*time.Second, "lb2 to take the VIP", func() (bool, string) { return hasAddr(lb2h, vip4), "" })
	served(lb2h)
}
