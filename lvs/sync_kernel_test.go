package lvs

// Kernel tests of connection synchronisation: the sync daemon driven over
// generic netlink, and an established connection surviving a failover
// between two directors. Like kernel_test.go they need root and IPVS, so
// tests/lvs_vm_test.go runs them in the IPVS VM.

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"vigil/config"
	"vigil/realserver"
)

// TestKernelSyncDaemon starts, reads back, restarts and stops the kernel's
// sync daemons in a namespace of their own.
func TestKernelSyncDaemon(t *testing.T) {
	requireIPVS(t)
	ns, _ := newNS(t, "syncd")
	// A master sends from the interface's IPv4 address: it needs one.
	h := netlinkAt(t, ns)
	if err := h.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "sync0"}}); err != nil {
		t.Fatalf("add dummy: %v", err)
	}
	link, err := h.LinkByName("sync0")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.AddrAdd(link, mustAddr(t, "10.90.0.1/24")); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { doInNS(ns, func() error { return ReconcileSync(KernelSync{}, nil) }) })

	running := func() []SyncDaemon {
		t.Helper()
		var ds []SyncDaemon
		inNS(t, ns, func() (err error) { ds, err = SyncDaemons(); return err })
		return ds
	}
	step := func(what string, fn func() error, want ...SyncDaemon) {
		t.Helper()
		inNS(t, ns, func() error {
			if err := fn(); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		})
		if got := running(); !slices.Equal(got, want) {
			t.Fatalf("after %s: running %v, want %v", what, got, want)
		}
	}
	master := SyncDaemon{SyncMaster, "sync0", 7}
	backup := SyncDaemon{SyncBackup, "sync0", 7}

	if got := running(); len(got) != 0 {
		t.Fatalf("a fresh namespace runs sync daemons: %v", got)
	}
	step("start master", func() error { return StartSyncDaemon(SyncMaster, "sync0", 7) }, master)
	step("start master again", func() error { return StartSyncDaemon(SyncMaster, "sync0", 7) }, master)
	inNS(t, ns, func() error {
		if err := StartSyncDaemon(SyncMaster, "sync0", 8); err == nil || !strings.Contains(err.Error(), "already running") {
			return fmt.Errorf("a second master with another sync id: %v, want already running", err)
		}
		if err := StartSyncDaemon(SyncBackup, "nosuch0", 7); err == nil {
			return fmt.Errorf("a backup on a missing interface started")
		}
		return nil
	})
	step("stop master", func() error { return StopSyncDaemon(SyncMaster) })
	step("stop master again", func() error { return StopSyncDaemon(SyncMaster) })
	step("start backup", func() error { return StartSyncDaemon(SyncBackup, "sync0", 7) }, backup)
	step("switch to master", func() error { return ReconcileSync(KernelSync{}, &master) }, master)
	step("switch again (no change)", func() error { return ReconcileSync(KernelSync{}, &master) }, master)
	restarted := SyncDaemon{SyncMaster, "sync0", 9}
	step("new sync id", func() error { return ReconcileSync(KernelSync{}, &restarted) }, restarted)
	step("switch to backup", func() error { return ReconcileSync(KernelSync{}, &backup) }, backup)
	// Both roles at once (ipvsadm allows it): reconciling keeps one.
	step("start a master beside", func() error { return StartSyncDaemon(SyncMaster, "sync0", 7) }, master, backup)
	step("reconcile to backup", func() error { return ReconcileSync(KernelSync{}, &backup) }, backup)
	step("stop all", func() error { return ReconcileSync(KernelSync{}, nil) })
}

// TestKernelSyncKeepsConnectionOverFailover is the acceptance test of
// connection synchronisation: a TCP connection through director A goes on
// through director B after the VIP moves there, because A's master sync
// daemon told B's backup about it.
func TestKernelSyncKeepsConnectionOverFailover(t *testing.T) {
	for _, forward := range []string{"dr", "nat"} {
		t.Run(forward, func(t *testing.T) {
			l := newSyncLab(t, true, forward)
			c := l.connect()
			l.echo(c, "before failover")
			l.awaitSynced()
			l.failover()
			if err := l.tryEcho(c, "after failover"); err != nil {
				t.Fatalf("the connection broke on failover although B had it from sync: %v", err)
			}
			// And it goes on: B forwards every later packet.
			for i := range 5 {
				l.echo(c, fmt.Sprintf("after failover %d", i))
			}
			// B is master now, A backup (the roles switched with the VIP).
			l.wantRoles(l.b, SyncMaster)
			l.wantRoles(l.a, SyncBackup)
		})
	}
}

// TestKernelNoSyncBreaksConnectionOnFailover is the control: the same lab
// and failover without sync daemons. B has no entry for the connection and
// does not schedule a mid-stream packet (sloppy_tcp is off), so the
// connection breaks. Were it to survive, the test above would prove
// nothing.
func TestKernelNoSyncBreaksConnectionOnFailover(t *testing.T) {
	for _, forward := range []string{"dr", "nat"} {
		t.Run(forward, func(t *testing.T) {
			l := newSyncLab(t, false, forward)
			c := l.connect()
			for i := range 5 {
				l.echo(c, fmt.Sprintf("before failover %d", i))
			}
			if n := l.connEntries(l.b); n != 0 {
				t.Fatalf("B has %d connection entries without sync", n)
			}
			l.failover()
			if err := l.tryEcho(c, "after failover"); err == nil {
				t.Fatal("the connection survived the failover without sync: the lab does not test sync")
			} else {
				t.Logf("without sync the connection broke as expected: %v", err)
			}
		})
	}
}

// syncLab is two directors, a client and a real server, each in its own
// namespace, with the service forwarding by DR or NAT. The VM's kernel has no bridge module, so veth pairs make the
// links a shared segment would otherwise give:
//
//	client C 10.91.9.9 (on lo) --ca/ac-- director A --ar/ra-- real server R
//	                           --cb/bc-- director B --br/rb--   VIP on lo, RIP 10.91.7.2 on ra and rb
//	                           --cr/rc------------------------- R (replies go straight to C: DR)
//	A --as/bs-- B: the sync link, multicast 224.0.0.81:8848
//
// Both directors have the same IPVS service, VIP:7000 to R. C reaches the
// VIP through A; failover moves the VIP from A to B and C's route with it
// (what a gratuitous ARP does on a shared segment). With DR, R has the VIP
// on lo and replies to C over rc; with NAT, R's replies go back through
// the active director (R's route to C is its gateway, which moves with the
// failover as an inside VIP would), which rewrites them to come from the
// VIP, so the synced entry has to carry the NAT mapping.
type syncLab struct {
	t             *testing.T
	a, b, c, r    netns.NsHandle
	aLink, bLink  *netlink.Handle
	cLink         *netlink.Handle
	vip, rip, cip netip.Addr
	sync          bool
	nat           bool
	rLink         *netlink.Handle
}

const syncPort = 7000

func newSyncLab(t *testing.T, sync bool, forward string) *syncLab {
	t.Helper()
	requireIPVS(t)
	l := &syncLab{
		t: t, sync: sync, nat: forward == "nat",
		vip: netip.MustParseAddr("10.91.100.1"), rip: netip.MustParseAddr("10.91.7.2"), cip: netip.MustParseAddr("10.91.9.9"),
	}
	var aName, bName string
	l.a, aName = newNS(t, "dirA")
	l.b, bName = newNS(t, "dirB")
	l.c, _ = newNS(t, "client")
	l.r, _ = newNS(t, "rs")
	l.aLink, l.bLink, l.cLink = netlinkAt(t, l.a), netlinkAt(t, l.b), netlinkAt(t, l.c)
	rLink := netlinkAt(t, l.r)
	l.rLink = rLink

	l.pair(l.c, "ca", "10.91.1.2/24", l.a, "ac", "10.91.1.1/24")
	l.pair(l.c, "cb", "10.91.2.2/24", l.b, "bc", "10.91.2.1/24")
	l.pair(l.a, "ar", "10.91.3.1/24", l.r, "ra", "10.91.3.2/24")
	l.pair(l.b, "br", "10.91.4.1/24", l.r, "rb", "10.91.4.2/24")
	l.pair(l.r, "rc", "10.91.6.2/24", l.c, "cr", "10.91.6.1/24")
	l.pair(l.a, "as", "10.91.5.1/24", l.b, "bs", "10.91.5.2/24")

	// C's own address, stable across the route change; the VIP through A.
	addLo(t, l.cLink, l.cip)
	route(t, l.cLink, l.vip, "ca", "10.91.1.1", l.cip)
	// R, DR: the VIP on lo (realserver does the DR part: VIP on lo, ARP
	// sysctls), replies to C over their own link. NAT: no VIP; replies to
	// C go back through A, the directors forward.
	if !l.nat {
		inNS(t, l.r, func() error {
			_, err := realserver.NewHost().Apply([]netip.Addr{l.vip})
			return err
		})
	}
	// The RIP on both of R's director links: arp_ignore=1 answers ARP only
	// for addresses of the interface asked on.
	for _, dev := range []string{"ra", "rb"} {
		link, err := rLink.LinkByName(dev)
		if err != nil {
			t.Fatal(err)
		}
		if err := rLink.AddrAdd(link, mustAddr(t, l.rip.String()+"/32")); err != nil {
			t.Fatalf("RIP on %s: %v", dev, err)
		}
	}
	if l.nat {
		route(t, rLink, l.cip, "ra", "10.91.3.1", netip.Addr{})
		for _, ns := range []netns.NsHandle{l.a, l.b} {
			inNS(t, ns, func() error { return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644) })
		}
	} else {
		route(t, rLink, l.cip, "rc", "10.91.6.1", netip.Addr{})
	}
	// Replies from the VIP come in on C's cr while C sends on ca or cb.
	for _, ns := range []netns.NsHandle{l.a, l.b, l.c, l.r} {
		inNS(t, ns, func() error {
			for _, f := range []string{"all", "default"} {
				if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+f+"/rp_filter", []byte("0"), 0o644); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for _, ns := range []netns.NsHandle{l.c, l.r} {
		for _, link := range []string{"ca", "cb", "cr", "ra", "rb", "rc"} {
			inNS(t, ns, func() error {
				err := os.WriteFile("/proc/sys/net/ipv4/conf/"+link+"/rp_filter", []byte("0"), 0o644)
				if os.IsNotExist(err) {
					return nil
				}
				return err
			})
		}
	}

	// The directors: the RIP over their link to R, C's address back (for
	// a reset from B in the control), the service, A holds the VIP.
	route(t, l.aLink, l.rip, "ar", "", netip.Addr{})
	route(t, l.bLink, l.rip, "br", "", netip.Addr{})
	route(t, l.aLink, l.cip, "ac", "10.91.1.2", netip.Addr{})
	route(t, l.bLink, l.cip, "bc", "10.91.2.2", netip.Addr{})
	svc := config.Service{
		Name: "synced", Mode: "lvs", Protocol: "tcp", Balance: "rr",
		Listen: netip.AddrPortFrom(l.vip, syncPort), Quorum: 1, LVS: config.LVS{Forward: forward},
		Backends: []config.Backend{{Address: netip.AddrPortFrom(l.rip, syncPort).String(), Weight: 1}},
	}
	for _, name := range []string{aName, bName} {
		h, err := Open("/run/netns/" + name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.Close)
		m, err := New(quietLog(), []config.Service{svc}, config.LVSGlobal{}, h)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Reconcile(); err != nil {
			t.Fatalf("director %s: %v", name, err)
		}
	}
	l.addVIP(l.aLink, "ac")
	serveEcho(t, l.r, netip.AddrPortFrom(netip.IPv4Unspecified(), syncPort).String())

	if sync {
		l.setRole(l.a, SyncMaster)
		l.setRole(l.b, SyncBackup)
		for _, ns := range []netns.NsHandle{l.a, l.b} {
			t.Cleanup(func() { doInNS(ns, func() error { return ReconcileSync(KernelSync{}, nil) }) })
		}
	}
	return l
}

// pair links namespace x (device xDev, address xAddr) to y.
func (l *syncLab) pair(x netns.NsHandle, xDev, xAddr string, y netns.NsHandle, yDev, yAddr string) {
	t := l.t
	t.Helper()
	xh, yh := netlinkAt(t, x), netlinkAt(t, y)
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: xDev}, PeerName: yDev, PeerNamespace: netlink.NsFd(int(y))}
	if err := xh.LinkAdd(v); err != nil {
		t.Fatalf("add veth %s-%s: %v", xDev, yDev, err)
	}
	for _, end := range []struct {
		h         *netlink.Handle
		dev, addr string
	}{{xh, xDev, xAddr}, {yh, yDev, yAddr}} {
		link, err := end.h.LinkByName(end.dev)
		if err != nil {
			t.Fatal(err)
		}
		if err := end.h.AddrAdd(link, mustAddr(t, end.addr)); err != nil {
			t.Fatalf("address %s on %s: %v", end.addr, end.dev, err)
		}
		if err := end.h.LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
	}
}

func addLo(t *testing.T, h *netlink.Handle, a netip.Addr) {
	t.Helper()
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.AddrAdd(lo, mustAddr(t, a.String()+"/32")); err != nil {
		t.Fatalf("add %s to lo: %v", a, err)
	}
}

// route sets (or replaces) the host route to dst over dev, through gw
// when given, else on-link, preferring source src when valid.
func route(t *testing.T, h *netlink.Handle, dst netip.Addr, dev, gw string, src netip.Addr) {
	t.Helper()
	link, err := h.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: &net.IPNet{IP: dst.AsSlice(), Mask: net.CIDRMask(32, 32)}}
	if gw != "" {
		r.Gw = net.ParseIP(gw)
	} else {
		r.Scope = netlink.SCOPE_LINK
	}
	if src.IsValid() {
		r.Src = src.AsSlice()
	}
	if err := h.RouteReplace(r); err != nil {
		t.Fatalf("route to %s via %s %s: %v", dst, dev, gw, err)
	}
}

func (l *syncLab) addVIP(h *netlink.Handle, dev string) {
	l.t.Helper()
	link, err := h.LinkByName(dev)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := h.AddrAdd(link, mustAddr(l.t, l.vip.String()+"/32")); err != nil {
		l.t.Fatalf("add VIP on %s: %v", dev, err)
	}
}

// setRole switches a director's sync daemon as the daemon does on a VRRP
// transition, through ReconcileSync.
func (l *syncLab) setRole(ns netns.NsHandle, role SyncRole) {
	l.t.Helper()
	dev := "as"
	if ns == l.b {
		dev = "bs"
	}
	inNS(l.t, ns, func() error { return ReconcileSync(KernelSync{}, &SyncDaemon{Role: role, Interface: dev, ID: 5}) })
}

func (l *syncLab) wantRoles(ns netns.NsHandle, role SyncRole) {
	l.t.Helper()
	var ds []SyncDaemon
	inNS(l.t, ns, func() (err error) { ds, err = SyncDaemons(); return err })
	if len(ds) != 1 || ds[0].Role != role || ds[0].ID != 5 {
		l.t.Errorf("sync daemons %v, want one %s with syncid 5", ds, role)
	}
}

// connect opens the long-lived connection from C to the VIP (through A).
func (l *syncLab) connect() net.Conn {
	l.t.Helper()
	var c net.Conn
	inNS(l.t, l.c, func() (err error) {
		d := net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: l.cip.AsSlice()}}
		c, err = d.Dial("tcp", netip.AddrPortFrom(l.vip, syncPort).String())
		return err
	})
	l.t.Cleanup(func() { c.Close() })
	return c
}

func (l *syncLab) echo(c net.Conn, msg string) {
	l.t.Helper()
	if err := l.tryEcho(c, msg); err != nil {
		l.t.Fatal(err)
	}
}

// tryEcho sends one line and waits for it to come back.
func (l *syncLab) tryEcho(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\n", msg); err != nil {
		return fmt.Errorf("send %q: %w", msg, err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("echo of %q: %w", msg, err)
	}
	if got != msg+"\n" {
		return fmt.Errorf("echo of %q: got %q", msg, got)
	}
	return nil
}

// awaitSynced waits until B's table has C's connection. The master syncs a
// connection once it is established and has seen sync_threshold packets,
// then sends its buffer within about two seconds.
func (l *syncLab) awaitSynced() {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.connEntries(l.b) == 0 {
		if time.Now().After(deadline) {
			l.t.Fatalf("B never learnt the connection from A; A has %d entries", l.connEntries(l.a))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// connEntries counts the entries of C's connections to the VIP in the
// IPVS connection table of ns. /proc/thread-self, not /proc/net (which is
// /proc/self/net, the main thread's namespace): the thread is in ns.
func (l *syncLab) connEntries(ns netns.NsHandle) int {
	l.t.Helper()
	var text []byte
	inNS(l.t, ns, func() (err error) {
		text, err = os.ReadFile("/proc/thread-self/net/ip_vs_conn")
		return err
	})
	hexAddr := func(a netip.Addr) string { return fmt.Sprintf("%X", a.AsSlice()) }
	n := 0
	for _, line := range strings.Split(string(text), "\n") {
		// Pro FromIP FPrt ToIP TPrt DestIP DPrt State Expires ...
		f := strings.Fields(line)
		if len(f) >= 8 && f[0] == "TCP" && f[1] == hexAddr(l.cip) && f[3] == hexAddr(l.vip) && f[4] == fmt.Sprintf("%04X", syncPort) {
			n++
		}
	}
	return n
}

// failover moves the VIP from A to B as VRRP would, with the sync roles
// following, and C's route with it.
func (l *syncLab) failover() {
	l.t.Helper()
	link, err := l.aLink.LinkByName("ac")
	if err != nil {
		l.t.Fatal(err)
	}
	if err := l.aLink.AddrDel(link, mustAddr(l.t, l.vip.String()+"/32")); err != nil {
		l.t.Fatalf("remove the VIP from A: %v", err)
	}
	if l.sync {
		l.setRole(l.a, SyncBackup)
	}
	l.addVIP(l.bLink, "bc")
	if l.sync {
		l.setRole(l.b, SyncMaster)
	}
	route(l.t, l.cLink, l.vip, "cb", "10.91.2.1", l.cip)
	if l.nat {
		// R's gateway moves with the VIP, as an inside VIP would.
		route(l.t, l.rLink, l.cip, "rb", "10.91.4.1", netip.Addr{})
	}
}

// serveEcho echoes every line back on each connection to addr in ns.
func serveEcho(t *testing.T, ns netns.NsHandle, addr string) {
	t.Helper()
	var ln net.Listener
	inNS(t, ns, func() (err error) { ln, err = net.Listen("tcp", addr); return err })
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s := bufio.NewScanner(c)
				for s.Scan() {
					if _, err := fmt.Fprintf(c, "%s\n", s.Text()); err != nil {
						return
					}
				}
			}()
		}
	}()
}
