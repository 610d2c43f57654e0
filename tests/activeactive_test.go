package tests

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"vigil/tests/lab"
)

// TestActiveActive runs examples/active-active as shipped (the backends'
// addresses and the api: line adapted to the lab): each node is master for
// one VIP and backup for the other, both VIPs are served, either node's
// crash moves its VIP to the other, which then serves both, and the
// restarted node takes its own VIP back (preempt) while the other VIP
// stays where it is.
func TestActiveActive(t *testing.T) {
	l := lab.New(t)
	lan := l.AddNet("lan", lanPrefix)
	lb1h, lb2h, cli := l.AddHost("lb1", lan), l.AddHost("lb2", lan), l.AddHost("client", lan)
	be1, be2 := l.AddHost("be1", lan), l.AddHost("be2", lan)
	nodes := []*lab.Host{lb1h, lb2h}
	httpBackend(t, be1, 8080)
	httpBackend(t, be2, 8080)
	example := func(name string) string {
		b, err := os.ReadFile("../examples/active-active/" + name + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		cfg := strings.NewReplacer(
			"api: { listen: 127.0.0.1:9653 }", `api: { listen: "", socket: "" }`,
			"10.0.0.21:8080", be1.Addr(lan).String()+":8080",
			"10.0.0.22:8080", be2.Addr(lan).String()+":8080",
			"interval: 1s", "interval: 100ms",
		).Replace(string(b))
		if cfg == string(b) || strings.Contains(cfg, "10.0.0.21") {
			t.Fatalf("examples/active-active/%s.yaml no longer has the lines this test adapts", name)
		}
		return cfg
	}
	vipA, vipB := netip.MustParseAddr("10.0.0.100"), netip.MustParseAddr("10.0.0.101")
	client := httpClient(t, cli)
	served := func(vip netip.Addr, via *lab.Host) {
		t.Helper()
		mac := macOf(t, via, "eth0")
		lab.WaitFor(t, 10*time.Second, fmt.Sprintf("%s served through %s", vip, via.Name), func() (bool, string) {
			client.CloseIdleConnections()
			body, code, err := get(client, "http://"+vip.String()+"/")
			return err == nil && code == 200 && strings.HasPrefix(body, "be") && neighMAC(cli, vip) == mac,
				fmt.Sprintf("%d %q %v; client's entry %s, want %s", code, body, err, neighMAC(cli, vip), mac)
		})
	}

	lb1 := startVigil(t, lb1h, example("lb1"))
	lb2 := startVigil(t, lb2h, example("lb2"))
	waitOwner(t, vipA, lb1h, nodes, 10*time.Second)
	waitOwner(t, vipB, lb2h, nodes, 10*time.Second)
	served(vipA, lb1h)
	served(vipB, lb2h)

	// lb1 crashes: lb2 takes VI_A and serves both.
	lb1.proc.Kill()
	lab.WaitFor(t, 5*time.Second, "lb2 to take 10.0.0.100", func() (bool, string) { return hasAddr(lb2h, vipA), "" })
	served(vipA, lb2h)
	served(vipB, lb2h)

	// lb1 back (without the VIP its crash left: a reboot): it takes VI_A
	// back, VI_B stays on lb2.
	lb1h.MustExec("ip", "addr", "del", "10.0.0.100/24", "dev", "eth0")
	lb1.restart()
	waitOwner(t, vipA, lb1h, nodes, 10*time.Second)
	served(vipA, lb1h)
	if !hasAddr(lb2h, vipB) || hasAddr(lb1h, vipB) {
		t.Errorf("10.0.0.101 moved when lb1 came back")
	}

	// And the other way: lb2 crashes, lb1 serves both.
	lb2.proc.Kill()
	lab.WaitFor(t, 5*time.Second, "lb1 to take 10.0.0.101", func() (bool, string) { return hasAddr(lb1h, vipB), "" })
	served(vipA, lb1h)
	served(vipB, lb1h)
}
