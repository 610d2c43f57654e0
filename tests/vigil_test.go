// Package tests holds vigil's end-to-end tests: real vigil binaries (and
// real keepalived peers) in network namespaces built by tests/lab.
package tests

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/tests/lab"
)

// vigilBin is the binary under test, built once by TestMain.
var vigilBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vigil-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	vigilBin = filepath.Join(dir, "vigil")
	// Built with the race detector: the runner's goroutines (timers, reader,
	// hooks) only ever run for real here, so this is where a race would show.
	build := exec.Command("go", "build", "-race", "-o", vigilBin, "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building vigil:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is one vigil process in a lab host.
type node struct {
	t    *testing.T
	host *lab.Host
	conf string
	proc *lab.Proc
	// argv runs vigil; empty means vigilBin itself. A test that runs vigil
	// under another user or capability set puts the wrapper here.
	argv []string
}

// startVigil writes cfg to a file and runs `vigil run` with it in host;
// argv, when given, is the command that runs vigil (a wrapper and a binary).
func startVigil(t *testing.T, h *lab.Host, cfg string, argv ...string) *node {
	t.Helper()
	file := filepath.Join(t.TempDir(), h.Name+".yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, host: h, conf: file, argv: argv}
	n.start()
	return n
}

func (n *node) start() {
	n.t.Helper()
	argv := n.argv
	if len(argv) == 0 {
		argv = []string{vigilBin}
	}
	p := n.host.Start(append(argv, "run", "-c", n.conf)...)
	n.proc = p
	n.t.Cleanup(func() {
		p.Kill() // runs before the lab's teardown (cleanups are LIFO)
		p.Wait(5 * time.Second)
		if strings.Contains(p.Output(), "DATA RACE") {
			n.t.Errorf("%s: the race detector fired:\n%s", n.host.Name, p.Output())
		}
	})
}

// restart starts the same config again after the process ended.
func (n *node) restart() {
	n.t.Helper()
	// A process just killed may not have been reaped yet on a busy machine.
	if _, exited := n.proc.Wait(10 * time.Second); !exited {
		n.t.Fatalf("%s: restart while still running", n.host.Name)
	}
	n.start()
}

// reload writes cfg as the node's config, sends SIGHUP and waits for the
// node to log expect once more ("config reloaded", or the refusal).
func (n *node) reload(cfg, expect string) {
	n.t.Helper()
	if err := os.WriteFile(n.conf, []byte(cfg), 0o644); err != nil {
		n.t.Fatal(err)
	}
	seen := strings.Count(n.proc.Output(), expect)
	if err := n.proc.Signal(syscall.SIGHUP); err != nil {
		n.t.Fatal(err)
	}
	lab.WaitFor(n.t, 10*time.Second, fmt.Sprintf("%s: reload, then %q", n.host.Name, expect), func() (bool, string) {
		return strings.Count(n.proc.Output(), expect) > seen, n.proc.State()
	})
}

// transitions lists the "transition" log lines so far, as "FROM>TO".
func (n *node) transitions() []string {
	var out []string
	re := regexp.MustCompile(`msg=transition .*from=(\w+) to=(\w+)`)
	for _, m := range re.FindAllStringSubmatch(n.proc.Output(), -1) {
		out = append(out, m[1]+">"+m[2])
	}
	return out
}

func (n *node) waitLog(what string, timeout time.Duration) {
	n.t.Helper()
	lab.WaitFor(n.t, timeout, fmt.Sprintf("%s to log %q", n.host.Name, what), func() (bool, string) {
		return strings.Contains(n.proc.Output(), what), n.host.Name + " " + n.proc.State()
	})
}

// hasAddr reports whether addr is configured on any interface of h.
func hasAddr(h *lab.Host, addr netip.Addr) bool {
	out, err := h.Exec("ip", "-o", "addr", "show")
	if err != nil {
		return false
	}
	return strings.Contains(out, " "+addr.String()+"/")
}

// waitOwner waits until exactly owner holds vip among nodes.
func waitOwner(t *testing.T, vip netip.Addr, owner *lab.Host, all []*lab.Host, timeout time.Duration) {
	t.Helper()
	lab.WaitFor(t, timeout, fmt.Sprintf("%s to be the only holder of %s", owner.Name, vip), func() (bool, string) {
		var holders []string
		for _, h := range all {
			if hasAddr(h, vip) {
				holders = append(holders, h.Name)
			}
		}
		return len(holders) == 1 && holders[0] == owner.Name, fmt.Sprintf("holders: %v", holders)
	})
}

// macOf is the MAC address of a host's interface.
func macOf(t *testing.T, h *lab.Host, ifname string) string {
	t.Helper()
	out := h.MustExec("cat", "/sys/class/net/"+ifname+"/address")
	return strings.TrimSpace(out)
}

// neighMAC is the MAC a host's neighbour table holds for addr ("" if none).
func neighMAC(h *lab.Host, addr netip.Addr) string {
	out, _ := h.Exec("ip", "neigh", "show", addr.String())
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "lladdr" {
			return f[i+1]
		}
	}
	return ""
}

// reach waits until client can ping addr.
func reach(t *testing.T, client *lab.Host, addr netip.Addr, timeout time.Duration) {
	t.Helper()
	lab.WaitFor(t, timeout, fmt.Sprintf("%s to reach %s", client.Name, addr), func() (bool, string) {
		out, err := client.Exec("ping", "-c", "1", "-W", "1", addr.String())
		return err == nil, out
	})
}

func splitLines(s string) []string { return strings.Split(s, "\n") }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// lookNft finds nft for tests that cut paths with nftables.
func lookNft() (string, error) {
	p, err := exec.LookPath("nft")
	if err != nil {
		return "", fmt.Errorf("needs nft (apt-get install nftables)")
	}
	return p, nil
}
