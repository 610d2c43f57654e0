package tests

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/tests/lab"
)

// withAPIListen turns on a test config's HTTP API on addr (metrics, status).
func withAPIListen(cfg, addr string) string {
	return strings.Replace(cfg, `api: { listen: "", socket: "" }`, `api: { listen: "`+addr+`", socket: "" }`, 1)
}

// addrMonitor runs `ip monitor address` in h: every address added or
// deleted there from now on, as the kernel's netlink notifications say.
type addrMonitor struct {
	h    *lab.Host
	proc *lab.Proc
	n    int // barriers used, for unique addresses
}

func monitorAddrs(t *testing.T, h *lab.Host) *addrMonitor {
	t.Helper()
	m := &addrMonitor{h: h, proc: h.Start("ip", "-o", "monitor", "address")}
	m.sync(t) // the monitor is subscribed once it reports a change
	return m
}

// sync adds and deletes a scratch address and waits for the monitor to
// print the deletion: every notification before it has been printed too.
func (m *addrMonitor) sync(t *testing.T) {
	t.Helper()
	m.n++
	scratch := fmt.Sprintf("192.0.2.%d/32", m.n)
	lab.WaitFor(t, 5*time.Second, "ip monitor to report a scratch address", func() (bool, string) {
		m.h.Exec("ip", "addr", "add", scratch, "dev", "lo")
		m.h.Exec("ip", "addr", "del", scratch, "dev", "lo")
		return strings.Contains(m.proc.Output(), "Deleted") && strings.Contains(m.proc.Output(), scratch), m.proc.Output()
	})
}

// lines are the monitor's lines about addr so far.
func (m *addrMonitor) lines(addr netip.Addr) []string {
	var out []string
	for _, l := range splitLines(m.proc.Output()) {
		if strings.Contains(l, " "+addr.String()+"/") {
			out = append(out, l)
		}
	}
	return out
}

// TestCrashRestartSoleMasterAdoptsVIPs: the only node, SIGKILLed and
// restarted, keeps its VIP through the restart: netlink reports no
// RTM_DELADDR for it and no new RTM_NEWADDR (adopted, not re-added).
func TestCrashRestartSoleMasterAdoptsVIPs(t *testing.T) {
	p := newPair(t)
	lb1 := startVigil(t, p.lb1, nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", "")))
	waitOwner(t, vip4, p.lb1, p.nodes, 10*time.Second)
	mon := monitorAddrs(t, p.lb1)

	lb1.proc.Kill()
	lb1.proc.Wait(5 * time.Second)
	lb1.restart()
	lb1.waitLog("adopting VIPs already on the interface", 5*time.Second)
	lab.WaitFor(t, 5*time.Second, "the restarted lb1 to be master", func() (bool, string) {
		return slices.Equal(lb1.transitions(), []string{"INIT>BACKUP", "BACKUP>MASTER"}), fmt.Sprint(lb1.transitions())
	})
	mon.sync(t)
	if got := mon.lines(vip4); len(got) != 0 {
		t.Errorf("the VIP was touched across the restart (want no netlink event):\n%s", strings.Join(got, "\n"))
	}
	if !hasAddr(p.lb1, vip4) {
		t.Error("the restarted master has no VIP")
	}
}

// TestCrashNopreemptMidTraffic: clients connect through the VIP all along;
// the master is SIGKILLed, the backup takes over, and the old master comes
// back with nopreempt. It must drop the stale VIP the crash left on its
// interface and not take the VIP back: the new master makes no transition
// while the old one hears many of its adverts, and no client connection
// fails once the new master serves.
func TestCrashNopreemptMidTraffic(t *testing.T) {
	p := newPair(t)
	be1 := p.lab.AddHost("be1", p.lan)
	nameServer(t, be1, 9000)
	service := fmt.Sprintf(`services:
  - name: app
    listen: 10.0.0.100:8080
    mode: proxy
    protocol: tcp
    check: { type: tcp, interval: 100ms, timeout: 100ms, rise: 1, fall: 2 }
    backends: ["%s:9000"]
`, be1.Addr(p.lan))
	nopreempt := "    preempt: false\n"
	lb1api := p.lb1.Addr(p.lan).String() + ":9653"
	lb1 := startVigil(t, p.lb1, withAPIListen(nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", nopreempt)), lb1api)+service)
	waitOwner(t, vip4, p.lb1, p.nodes, 10*time.Second)
	lb2 := startVigil(t, p.lb2, nodeConfig("lb2", instanceYAML("VI_1", 51, 100, "100ms", "10.0.0.100/24", nopreempt))+service)
	lb2.waitLog("to=BACKUP", 5*time.Second)
	addr := netip.AddrPortFrom(vip4, 8080)
	lab.WaitFor(t, 5*time.Second, "be1 through lb1", func() (bool, string) {
		got, err := ask(p.cli, addr)
		return err == nil && got == "be1", fmt.Sprintf("%q %v", got, err)
	})

	// The client connects back to back; counting starts once lb2 serves.
	probe := startProber(t, p.cli, addr, 5*time.Millisecond, false, func(got string, err error) string {
		if err != nil || got != "be1" {
			return "failed"
		}
		return ""
	})

	lb1.proc.Kill()
	lb1.proc.Wait(5 * time.Second)
	lab.WaitFor(t, 5*time.Second, "lb2 to take the VIP", func() (bool, string) { return hasAddr(p.lb2, vip4), "" })
	lab.WaitFor(t, 5*time.Second, "be1 through lb2", func() (bool, string) {
		got, err := ask(p.cli, addr)
		return err == nil && got == "be1", fmt.Sprintf("%q %v", got, err)
	})
	probe.counting.Store(true)
	if !hasAddr(p.lb1, vip4) {
		t.Fatal("the killed master left no VIP behind: the stale-VIP case is not exercised")
	}

	lb1.restart()
	lb1.waitLog("another master is alive", 5*time.Second)
	waitOwner(t, vip4, p.lb2, p.nodes, 5*time.Second)
	// The window for a wrong takeover: lb1 hears 30 of lb2's adverts
	// (3 s, over eight of its Master_Down_Intervals).
	var heard float64
	lab.WaitFor(t, 15*time.Second, "lb1 to hear 30 adverts from lb2", func() (bool, string) {
		heard = scrapeValue(t, scrape(t, p.cli, lb1api), "vigil_vrrp_adverts_received_total", "VI_1")
		return heard >= 30, fmt.Sprintf("%v heard", heard)
	})
	if got := lb1.transitions(); !slices.Equal(got, []string{"INIT>BACKUP"}) {
		t.Errorf("restarted nopreempt lb1 transitions %v, want only INIT>BACKUP", got)
	}
	if got := lb2.transitions(); !slices.Equal(got, []string{"INIT>BACKUP", "BACKUP>MASTER"}) {
		t.Errorf("new master lb2 transitions %v, want INIT>BACKUP BACKUP>MASTER (no extra)", got)
	}
	waitOwner(t, vip4, p.lb2, p.nodes, time.Second)
	if n := probe.probes.Load(); n < 100 {
		t.Errorf("only %d client connections while lb2 served", n)
	}
	f, last := probe.failures()
	if f != 0 {
		t.Errorf("%d of %d client connections failed after lb2 took over; last: %v", f, probe.probes.Load(), last)
	}
	t.Logf("%d client connections through lb2 across lb1's restart, %d failed", probe.probes.Load(), f)
}

// TestCrashStaleVIPOnBackupStart: a node that starts with the VIP already
// on its interface (left by a crash, or by hand) while a higher-priority
// master holds it must remove it and stay backup, without a transition
// that would announce it to clients.
func TestCrashStaleVIPOnBackupStart(t *testing.T) {
	p := newPair(t)
	lb1 := startVigil(t, p.lb1, nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", "")))
	waitOwner(t, vip4, p.lb1, p.nodes, 10*time.Second)
	p.lb2.MustExec("ip", "addr", "add", "10.0.0.100/24", "dev", "eth0")
	mon := monitorAddrs(t, p.lb2)

	lb2 := startVigil(t, p.lb2, nodeConfig("lb2", instanceYAML("VI_1", 51, 100, "100ms", "10.0.0.100/24", "")))
	lb2.waitLog("another master is alive", 5*time.Second)
	waitOwner(t, vip4, p.lb1, p.nodes, 5*time.Second)
	mon.sync(t)
	if got := mon.lines(vip4); len(got) != 1 || !strings.HasPrefix(got[0], "Deleted") {
		t.Errorf("netlink events for the VIP on lb2: %q, want exactly one deletion", got)
	}
	if got := lb2.transitions(); !slices.Equal(got, []string{"INIT>BACKUP"}) {
		t.Errorf("lb2 transitions %v, want only INIT>BACKUP", got)
	}
	if got := lb1.transitions(); !slices.Equal(got, []string{"INIT>BACKUP", "BACKUP>MASTER"}) {
		t.Errorf("lb1 transitions %v", got)
	}
	reach(t, p.cli, vip4, 5*time.Second)
	if got, want := neighMAC(p.cli, vip4), macOf(t, p.lb1, "eth0"); got != want {
		t.Errorf("the client's ARP entry for the VIP is %s, want the master lb1's %s", got, want)
	}
}
