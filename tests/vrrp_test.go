package tests

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"vigil/tests/lab"
)

var (
	lanPrefix = netip.MustParsePrefix("10.0.0.0/24")
	vip4      = netip.MustParseAddr("10.0.0.100")
)

// pair is the usual lab: lb1 and lb2 run vigil, client uses the VIP.
type pair struct {
	lab           *lab.Lab
	lan           *lab.Net
	lb1, lb2, cli *lab.Host
	nodes         []*lab.Host
}

func newPair(t *testing.T) *pair {
	l := lab.New(t)
	lan := l.AddNet("lan", lanPrefix)
	p := &pair{lab: l, lan: lan, lb1: l.AddHost("lb1", lan), lb2: l.AddHost("lb2", lan), cli: l.AddHost("client", lan)}
	p.nodes = []*lab.Host{p.lb1, p.lb2}
	return p
}

// instanceYAML is one vrrp instance of a test config; extra lines are
// appended to the instance (indented by the caller).
func instanceYAML(name string, vrid, prio int, interval, vips, extra string) string {
	return fmt.Sprintf(`  - name: %s
    interface: eth0
    vrid: %d
    priority: %d
    advert_interval: %s
    vips: [%s]
    garp: { delay: 0s, repeat: 2 }
%s`, name, vrid, prio, interval, vips, extra)
}

func nodeConfig(node string, instances ...string) string {
	return fmt.Sprintf("node: %s\napi: { listen: \"\", socket: \"\" }\nvrrp:\n%s", node, strings.Join(instances, ""))
}

// startBackup starts a node once master is master, so tests that check the
// exact transitions of the backup do not depend on which process the
// kernel happened to start first.
func startBackup(t *testing.T, master *node, h *lab.Host, cfg string) *node {
	t.Helper()
	master.waitLog("to=MASTER", 10*time.Second)
	n := startVigil(t, h, cfg)
	n.waitLog("to=BACKUP", 5*time.Second)
	return n
}

// TestFailover runs two vigil nodes over multicast and again over unicast:
// the higher priority owns the VIP, clients follow it through a crash
// (GARP), and the old master preempts back on restart.
func TestFailover(t *testing.T) {
	for _, mode := range []string{"multicast", "unicast"} {
		t.Run(mode, func(t *testing.T) {
			p := newPair(t)
			extra := func(self, peer *lab.Host) string {
				if mode == "multicast" {
					return ""
				}
				return fmt.Sprintf("    unicast_source: %s\n    unicast_peers: [%s]\n", self.Addr(p.lan), peer.Addr(p.lan))
			}
			lb1 := startVigil(t, p.lb1, nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", extra(p.lb1, p.lb2))))
			lb2 := startBackup(t, lb1, p.lb2, nodeConfig("lb2", instanceYAML("VI_1", 51, 100, "100ms", "10.0.0.100/24", extra(p.lb2, p.lb1))))

			waitOwner(t, vip4, p.lb1, p.nodes, 10*time.Second)
			reach(t, p.cli, vip4, 5*time.Second)
			if got, want := neighMAC(p.cli, vip4), macOf(t, p.lb1, "eth0"); got != want {
				t.Errorf("client's ARP entry for the VIP is %s, want lb1's %s", got, want)
			}

			// Crash: no priority 0, the VIP stays stale on lb1's interface,
			// so clients move only because lb2 announces.
			lb1.proc.Kill()
			lab.WaitFor(t, 5*time.Second, "lb2 to take the VIP", func() (bool, string) {
				return hasAddr(p.lb2, vip4), strings.Join(lb2.transitions(), " ")
			})
			lb2MAC := macOf(t, p.lb2, "eth0")
			lab.WaitFor(t, 5*time.Second, "the client's ARP entry to move to lb2 (GARP)", func() (bool, string) {
				mac := neighMAC(p.cli, vip4)
				return mac == lb2MAC, "client has " + mac
			})
			reach(t, p.cli, vip4, 5*time.Second)

			// Restart: lb1 drops its stale VIP on hearing lb2, then preempts.
			lb1.restart()
			waitOwner(t, vip4, p.lb1, p.nodes, 10*time.Second)
			lb1MAC := macOf(t, p.lb1, "eth0")
			lab.WaitFor(t, 5*time.Second, "the client's ARP entry to move back to lb1", func() (bool, string) {
				mac := neighMAC(p.cli, vip4)
				return mac == lb1MAC, "client has " + mac
			})
			if got := lb2.transitions(); !slices.Equal(got, []string{"INIT>BACKUP", "BACKUP>MASTER", "MASTER>BACKUP"}) {
				t.Errorf("lb2 transitions %v, want INIT>BACKUP BACKUP>MASTER MASTER>BACKUP", got)
			}
		})
	}
}

// TestNopreempt: a restarted higher-priority node with preempt: false must
// not take the VIP back from a live master, and must not keep a stale copy.
func TestNopreempt(t *testing.T) {
	p := newPair(t)
	// Without preemption whoever comes up first keeps the VIP, so lb1 goes
	// first and lb2 joins once lb1 is master.
	lb1 := startVigil(t, p.lb1, nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", "    preempt: false\n")))
	waitOwner(t, vip4, p.lb1, p.nodes, 10*time.Second)
	lb2 := startVigil(t, p.lb2, nodeConfig("lb2", instanceYAML("VI_1", 51, 100, "100ms", "10.0.0.100/24", "    preempt: false\n")))
	lb2.waitLog("to=BACKUP", 5*time.Second)

	lb1.proc.Kill()
	lab.WaitFor(t, 5*time.Second, "lb2 to take the VIP", func() (bool, string) { return hasAddr(p.lb2, vip4), "" })
	lb1.restart()
	lb1.waitLog("another master is alive", 5*time.Second)
	waitOwner(t, vip4, p.lb2, p.nodes, 5*time.Second)
	// A negative property needs a window: lb1's Master_Down_Interval is
	// 0.3s + skew; three of them without a takeover is the proof.
	time.Sleep(1200 * time.Millisecond)
	if got := lb1.transitions(); !slices.Equal(got, []string{"INIT>BACKUP"}) {
		t.Errorf("restarted nopreempt lb1 transitions %v, want only INIT>BACKUP", got)
	}
	waitOwner(t, vip4, p.lb2, p.nodes, time.Second)
}

// TestGracefulStopHandsOver: SIGTERM makes the master resign with priority
// 0; it keeps its VIP until it hears the backup take over, then removes it
// and exits 0.
func TestGracefulStopHandsOver(t *testing.T) {
	p := newPair(t)
	lb1 := startVigil(t, p.lb1, nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "1s", "10.0.0.100/24", "")))
	lb2 := startVigil(t, p.lb2, nodeConfig("lb2", instanceYAML("VI_1", 51, 100, "1s", "10.0.0.100/24", "")))
	waitOwner(t, vip4, p.lb1, p.nodes, 10*time.Second)

	lb1.proc.Signal(syscall.SIGTERM)
	if err, ok := lb1.proc.Wait(5 * time.Second); !ok || err != nil {
		t.Fatalf("vigil did not exit 0 on SIGTERM: %v (exited: %v)", err, ok)
	}
	// With 1s adverts a crash takes 3.6s to notice; the priority-0 advert
	// makes lb2 wait only Skew_Time (0.61s). The log says which happened.
	waitOwner(t, vip4, p.lb2, p.nodes, 5*time.Second)
	lb2.waitLog("resigned (priority 0)", time.Second)
	// lb1 kept the VIP until it heard lb2 take over: no gap for clients.
	lb1.waitLog("handed over to 10.0.0.2 (priority 100)", time.Second)
	if got := lb1.transitions(); !slices.Equal(got, []string{"INIT>BACKUP", "BACKUP>MASTER", "MASTER>INIT"}) {
		t.Errorf("lb1 transitions %v", got)
	}
}

// TestLinkDownFaults: the master's interface going down faults the instance
// and moves the VIP; link up brings it back (preempt).
func TestLinkDownFaults(t *testing.T) {
	p := newPair(t)
	lb1 := startVigil(t, p.lb1, nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", "")))
	startVigil(t, p.lb2, nodeConfig("lb2", instanceYAML("VI_1", 51, 100, "100ms", "10.0.0.100/24", "")))
	waitOwner(t, vip4, p.lb1, p.nodes, 10*time.Second)

	p.lb1.MustExec("ip", "link", "set", "eth0", "down")
	waitOwner(t, vip4, p.lb2, p.nodes, 5*time.Second)
	lb1.waitLog("to=FAULT", time.Second)
	p.lb1.MustExec("ip", "link", "set", "eth0", "up")
	waitOwner(t, vip4, p.lb1, p.nodes, 10*time.Second)
	reach(t, p.cli, vip4, 5*time.Second)
}

// TestVIPReconciled: a VIP deleted by hand on the master comes back, with
// its label.
func TestVIPReconciled(t *testing.T) {
	p := newPair(t)
	lb1 := startVigil(t, p.lb1, nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "100ms", `"10.0.0.100/24 label eth0:vip"`, "")))
	waitOwner(t, vip4, p.lb1, p.nodes, 10*time.Second)
	if out := p.lb1.MustExec("ip", "-o", "addr", "show", "label", "eth0:vip"); !strings.Contains(out, "10.0.0.100/24") {
		t.Errorf("VIP without its label: %q", out)
	}
	p.lb1.MustExec("ip", "addr", "del", "10.0.0.100/24", "dev", "eth0")
	lab.WaitFor(t, 10*time.Second, "the VIP to come back", func() (bool, string) { return hasAddr(p.lb1, vip4), "" })
	lb1.waitLog("VIPs missing on master", time.Second)
	if out := p.lb1.MustExec("ip", "-o", "addr", "show", "label", "eth0:vip"); !strings.Contains(out, "10.0.0.100/24") {
		t.Errorf("VIP came back without its label: %q", out)
	}
	if got := lb1.transitions(); len(got) != 2 {
		t.Errorf("reconcile caused transitions: %v", got)
	}
}

// TestTrackedCheckMovesVIP: an exec check tracked with weight -60 lowers the
// master below the backup, which preempts; healing moves it back.
func TestTrackedCheckMovesVIP(t *testing.T) {
	p := newPair(t)
	flag := filepath.Join(t.TempDir(), "healthy")
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	checks := fmt.Sprintf("checks:\n  alive: { type: exec, command: [test, -e, %s], interval: 100ms, timeout: 1s, rise: 1, fall: 2 }\n", flag)
	lb1 := startVigil(t, p.lb1, nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", "    track: [{ check: alive, weight: -60 }]\n"))+checks)
	startVigil(t, p.lb2, nodeConfig("lb2", instanceYAML("VI_1", 51, 100, "100ms", "10.0.0.100/24", "")))
	waitOwner(t, vip4, p.lb1, p.nodes, 10*time.Second)

	os.Remove(flag)
	waitOwner(t, vip4, p.lb2, p.nodes, 10*time.Second)
	lb1.waitLog("priority changed", time.Second)
	os.WriteFile(flag, nil, 0o644)
	waitOwner(t, vip4, p.lb1, p.nodes, 10*time.Second)
}

// TestNotifyHook: the notify program gets keepalived's arguments for every
// transition, in order, including STOP on shutdown.
func TestNotifyHook(t *testing.T) {
	p := newPair(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "notify.log")
	script := filepath.Join(dir, "notify.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+log+"\n"), 0o755)
	lb1 := startVigil(t, p.lb1, nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", "    notify: "+script+"\n")))
	waitOwner(t, vip4, p.lb1, p.nodes, 10*time.Second)
	lb1.proc.Signal(syscall.SIGTERM)
	lb1.proc.Wait(5 * time.Second)
	want := "INSTANCE VI_1 BACKUP 150\nINSTANCE VI_1 MASTER 150\nINSTANCE VI_1 STOP 150\n"
	lab.WaitFor(t, 5*time.Second, "notify calls", func() (bool, string) {
		b, _ := os.ReadFile(log)
		return string(b) == want, fmt.Sprintf("%q", b)
	})
}

// TestIPv6 runs a v3 IPv6 pair: the VIP moves and clients follow through
// unsolicited neighbour advertisements.
func TestIPv6(t *testing.T) {
	p := newPair(t)
	vip := netip.MustParseAddr("fd00:100::100")
	cfg := func(node string, prio int) string {
		return nodeConfig(node, instanceYAML("VI_6", 61, prio, "100ms", `"fd00:100::100/64"`, ""))
	}
	p.cli.MustExec("ip", "addr", "add", "fd00:100::1/64", "dev", "eth0", "nodad")
	lb1 := startVigil(t, p.lb1, cfg("lb1", 150))
	startVigil(t, p.lb2, cfg("lb2", 100))
	waitOwner(t, vip, p.lb1, p.nodes, 10*time.Second)
	reach(t, p.cli, vip, 5*time.Second)
	lb1.proc.Kill()
	lab.WaitFor(t, 5*time.Second, "lb2 to take the IPv6 VIP", func() (bool, string) { return hasAddr(p.lb2, vip), "" })
	lb2MAC := macOf(t, p.lb2, "eth0")
	lab.WaitFor(t, 5*time.Second, "the client's neighbour entry to move to lb2 (NA)", func() (bool, string) {
		mac := neighMAC(p.cli, vip)
		return mac == lb2MAC, "client has " + mac
	})
}

// TestSplitBrainHeals: with protocol 112 dropped both ways for 5 s
// both become master; when the drop is lifted exactly one master remains,
// the loser drops its VIP, and the winner re-announces it, so the client's
// ARP entry (moved to the loser by its GARP during the split) comes back
// without the client asking. Both sides count and log the conflict.
func TestSplitBrainHeals(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/nft"); err != nil {
		t.Skip("needs nft (apt-get install nftables)")
	}
	p := newPair(t)
	apiAddr := p.lb1.Addr(p.lan).String() + ":9653"
	lb1cfg := strings.Replace(nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", "")),
		`api: { listen: "", socket: "" }`, `api: { listen: "`+apiAddr+`", socket: "" }`, 1)
	lb1 := startVigil(t, p.lb1, lb1cfg)
	lb2 := startBackup(t, lb1, p.lb2, nodeConfig("lb2", instanceYAML("VI_1", 51, 100, "100ms", "10.0.0.100/24", "")))
	waitOwner(t, vip4, p.lb1, p.nodes, 10*time.Second)
	reach(t, p.cli, vip4, 5*time.Second) // the client has an ARP entry for the VIP to move
	lb1MAC, lb2MAC := macOf(t, p.lb1, "eth0"), macOf(t, p.lb2, "eth0")

	// Both ways: with a one-way block lb1 would still hear lb2 and answer
	// each of its adverts with an announcement, so lb2 would never hold
	// the client for long.
	blocked := time.Now()
	for _, h := range p.nodes {
		h.MustExec("nft", "add table inet vigiltest; add chain inet vigiltest in { type filter hook input priority 0; }; add rule inet vigiltest in meta l4proto 112 drop")
	}
	lab.WaitFor(t, 5*time.Second, "both nodes to hold the VIP (split brain)", func() (bool, string) {
		return hasAddr(p.lb1, vip4) && hasAddr(p.lb2, vip4), ""
	})
	lab.WaitFor(t, 5*time.Second, "lb2's GARP to move the client during the split", func() (bool, string) {
		mac := neighMAC(p.cli, vip4)
		return mac == lb2MAC, "client has " + mac
	})
	announced := scrapeValue(t, scrape(t, p.cli, apiAddr), "vigil_vrrp_announcements_sent_total", "VI_1")
	// The fault lasts 5 s, as a real partition would: many intervals.
	time.Sleep(time.Until(blocked.Add(5 * time.Second)))
	for _, h := range p.nodes {
		h.MustExec("nft", "delete table inet vigiltest")
	}
	healed := time.Now()
	waitOwner(t, vip4, p.lb1, p.nodes, 5*time.Second)
	t.Logf("one master again %v after the block was lifted (adverts every 100ms)", time.Since(healed).Round(time.Millisecond))
	// No ping here: only an announcement from lb1 can move the entry back.
	lab.WaitFor(t, 5*time.Second, "the winner's GARP to move the client back", func() (bool, string) {
		mac := neighMAC(p.cli, vip4)
		return mac == lb1MAC, "client has " + mac
	})
	if got := lb2.transitions(); !slices.Equal(got, []string{"INIT>BACKUP", "BACKUP>MASTER", "MASTER>BACKUP"}) {
		t.Errorf("lb2 transitions %v", got)
	}
	if got := lb1.transitions(); !slices.Equal(got, []string{"INIT>BACKUP", "BACKUP>MASTER"}) {
		t.Errorf("lb1 transitions %v: the winner must stay master throughout", got)
	}
	families := scrape(t, p.cli, apiAddr)
	if v := scrapeValue(t, families, "vigil_vrrp_master_conflicts_total", "VI_1"); v < 1 {
		t.Errorf("lb1 vigil_vrrp_master_conflicts_total = %v, want >= 1", v)
	}
	if v := scrapeValue(t, families, "vigil_vrrp_announcements_sent_total", "VI_1"); v <= announced {
		t.Errorf("lb1 announcements %v after the heal, %v before: the winner did not re-announce", v, announced)
	}
	lb1.waitLog("outcome=\"we stay master and re-announce the VIPs\"", time.Second)
	lb2.waitLog("outcome=\"we step down\"", time.Second)
}

// scrapeValue is the value of a metric with the label instance=instance.
func scrapeValue(t *testing.T, families map[string]*dto.MetricFamily, name, instance string) float64 {
	t.Helper()
	for _, m := range families[name].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "vrrp_instance" && lp.GetValue() == instance {
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s{instance=%q}", name, instance)
	return 0
}

// TestTrackedInterface: an interface tracked with weight -60 going down
// lowers the master below the backup, which preempts.
func TestTrackedInterface(t *testing.T) {
	l := lab.New(t)
	lan := l.AddNet("lan", lanPrefix)
	uplink := l.AddNet("uplink", netip.MustParsePrefix("10.1.0.0/24"))
	lb1h, lb2h := l.AddHost("lb1", lan, uplink), l.AddHost("lb2", lan, uplink)
	nodes := []*lab.Host{lb1h, lb2h}
	track := "    track: [{ interface: eth1, weight: -60 }]\n"
	lb1 := startVigil(t, lb1h, nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", track)))
	startVigil(t, lb2h, nodeConfig("lb2", instanceYAML("VI_1", 51, 100, "100ms", "10.0.0.100/24", track)))
	waitOwner(t, vip4, lb1h, nodes, 10*time.Second)

	lb1h.MustExec("ip", "link", "set", "eth1", "down")
	waitOwner(t, vip4, lb2h, nodes, 5*time.Second)
	lb1.waitLog("priority changed", time.Second)
	lb1h.MustExec("ip", "link", "set", "eth1", "up")
	waitOwner(t, vip4, lb1h, nodes, 5*time.Second)
}

// TestSyncGroupMovesTogether: VI_2 faults when its tracked uplink goes down;
// its sync group takes VI_1 along, so both VIPs move to lb2 together and
// come back together.
func TestSyncGroupMovesTogether(t *testing.T) {
	l := lab.New(t)
	lan := l.AddNet("lan", lanPrefix)
	uplink := l.AddNet("uplink", netip.MustParsePrefix("10.1.0.0/24"))
	lb1h, lb2h := l.AddHost("lb1", lan, uplink), l.AddHost("lb2", lan, uplink)
	nodes := []*lab.Host{lb1h, lb2h}
	vip1, vip2 := vip4, netip.MustParseAddr("10.0.0.101")
	cfg := func(node string, prio int) string {
		return nodeConfig(node,
			instanceYAML("VI_1", 51, prio, "100ms", "10.0.0.100/24", ""),
			instanceYAML("VI_2", 52, prio, "100ms", "10.0.0.101/24", "    track: [{ interface: eth1, weight: 0 }]\n")) +
			"sync_groups: [{ name: G1, members: [VI_1, VI_2] }]\n"
	}
	lb1 := startVigil(t, lb1h, cfg("lb1", 150))
	startVigil(t, lb2h, cfg("lb2", 100))
	waitOwner(t, vip1, lb1h, nodes, 10*time.Second)
	waitOwner(t, vip2, lb1h, nodes, 10*time.Second)

	lb1h.MustExec("ip", "link", "set", "eth1", "down")
	waitOwner(t, vip2, lb2h, nodes, 5*time.Second)
	waitOwner(t, vip1, lb2h, nodes, 5*time.Second) // only the group moves VI_1
	lb1.waitLog("sync group transition", time.Second)

	lb1h.MustExec("ip", "link", "set", "eth1", "up")
	waitOwner(t, vip1, lb1h, nodes, 5*time.Second)
	waitOwner(t, vip2, lb1h, nodes, 5*time.Second)
}

// TestRestartAdoptsVIPs: a master killed and restarted before its backup
// notices keeps its VIP the whole time; the backup never takes over.
func TestRestartAdoptsVIPs(t *testing.T) {
	p := newPair(t)
	lb1 := startVigil(t, p.lb1, nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "1s", "10.0.0.100/24", "")))
	lb2 := startBackup(t, lb1, p.lb2, nodeConfig("lb2", instanceYAML("VI_1", 51, 100, "1s", "10.0.0.100/24", "")))
	waitOwner(t, vip4, p.lb1, p.nodes, 10*time.Second)

	lb1.proc.Kill()
	lb1.proc.Wait(5 * time.Second)
	lb1.restart()
	lb1.waitLog("adopting VIPs already on the interface", 5*time.Second)
	lab.WaitFor(t, 5*time.Second, "restarted lb1 to claim master", func() (bool, string) {
		return slices.Equal(lb1.transitions(), []string{"INIT>BACKUP", "BACKUP>MASTER"}), fmt.Sprint(lb1.transitions())
	})
	// lb2's Master_Down_Interval (3.6s) has passed since lb1's last advert
	// before the kill; had lb1 stayed silent, lb2 would have taken over.
	time.Sleep(4 * time.Second)
	if got := lb2.transitions(); !slices.Equal(got, []string{"INIT>BACKUP"}) {
		t.Errorf("lb2 transitions %v: the restart moved the VIP", got)
	}
	if strings.Contains(lb1.proc.Output(), "VIPs removed") {
		t.Errorf("the restarted master removed its VIPs:\n%s", lb1.proc.Output())
	}
	waitOwner(t, vip4, p.lb1, p.nodes, time.Second)
}

// TestGARPRefresh: with garp.refresh set the master re-announces while it
// stays master, so a client whose ARP entry went wrong is corrected without
// any failover (keepalived's garp_master_refresh).
func TestGARPRefresh(t *testing.T) {
	p := newPair(t)
	cfg := nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", ""))
	cfg = strings.Replace(cfg, "garp: { delay: 0s, repeat: 2 }", "garp: { delay: 0s, repeat: 2, refresh: 300ms }", 1)
	startVigil(t, p.lb1, cfg)
	waitOwner(t, vip4, p.lb1, p.nodes, 10*time.Second)
	reach(t, p.cli, vip4, 5*time.Second)
	p.cli.MustExec("ip", "neigh", "replace", vip4.String(), "lladdr", "02:00:00:00:00:99", "dev", "eth0", "nud", "stale")
	want := macOf(t, p.lb1, "eth0")
	lab.WaitFor(t, 5*time.Second, "a refresh to correct the client's ARP entry", func() (bool, string) {
		mac := neighMAC(p.cli, vip4)
		return mac == want, "client has " + mac
	})
}
