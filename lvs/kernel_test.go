package lvs

// Kernel tests: real IPVS, real TCP traffic between network namespaces.
// They need root and a kernel with IPVS, so on a host without it they skip;
// tests/lvs_vm_test.go runs them (^TestKernel) in a VM booted from Debian's
// stock kernel, where VIGIL_IN_VM=1 turns a missing IPVS into a failure.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"vigil/config"
)

const vipAddr = "10.9.100.1"

// requireIPVS skips the test where IPVS cannot be used, except in the test
// VM, where IPVS must be there and its absence is a failure.
func requireIPVS(t *testing.T) {
	t.Helper()
	inVM := os.Getenv("VIGIL_IN_VM") == "1"
	if os.Geteuid() != 0 && !inVM {
		t.Skip("needs root (network namespaces and IPVS)")
	}
	h, err := Open("")
	if err != nil {
		if inVM {
			t.Fatalf("in the test VM IPVS must be available: %v", err)
		}
		if errors.Is(err, ErrUnavailable) {
			t.Skipf("skipping: %v; tests/lvs_vm_test.go runs this in a VM", err)
		}
		t.Fatal(err)
	}
	h.Close()
}

var nsSeq atomic.Int32

// lab is a load balancer namespace with its own IPVS table, a client
// namespace routed to the VIP through it, and real servers, each in its
// own namespace behind the balancer, answering TCP on :8080 with its name.
type lab struct {
	t       *testing.T
	lb      netns.NsHandle
	lbPath  string
	client  netns.NsHandle
	ipvs    *ipvs.Handle
	servers map[string]string // name -> address "10.9.N.2:8080"
}

func newLab(t *testing.T, servers ...string) *lab {
	t.Helper()
	requireIPVS(t)
	l := &lab{t: t, servers: map[string]string{}}
	var lbName string
	l.lb, lbName = newNS(t, "lb")
	l.lbPath = "/run/netns/" + lbName
	l.client, _ = newNS(t, "client")

	lbLink := netlinkAt(t, l.lb)
	l.veth(lbLink, "c0", l.client, "10.9.0.1/24", "10.9.0.2/24", "10.9.0.1")
	c0, err := lbLink.LinkByName("c0")
	if err != nil {
		t.Fatal(err)
	}
	// The VIP is local on the balancer: IPVS takes packets at LOCAL_IN.
	if err := lbLink.AddrAdd(c0, mustAddr(t, vipAddr+"/32")); err != nil {
		t.Fatalf("add VIP: %v", err)
	}
	for i, name := range servers {
		ns, _ := newNS(t, name)
		n := i + 1
		l.veth(lbLink, fmt.Sprintf("s%d", n), ns, fmt.Sprintf("10.9.%d.1/24", n), fmt.Sprintf("10.9.%d.2/24", n), fmt.Sprintf("10.9.%d.1", n))
		addr := fmt.Sprintf("10.9.%d.2:8080", n)
		l.servers[name] = addr
		serveName(t, ns, addr, name)
	}
	// NAT replies from the real servers are forwarded back to the client.
	inNS(t, l.lb, func() error { return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644) })

	h, err := Open(l.lbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	l.ipvs = h
	return l
}

// newNS makes a named network namespace, removed when the test ends.
func newNS(t *testing.T, role string) (netns.NsHandle, string) {
	t.Helper()
	name := fmt.Sprintf("vigil-lvs-%d-%d-%s", os.Getpid(), nsSeq.Add(1), role)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name)
	if err != nil {
		t.Fatalf("new netns %s: %v", name, err)
	}
	if err := netns.Set(orig); err != nil {
		t.Fatalf("back to the original netns: %v", err)
	}
	t.Cleanup(func() {
		ns.Close()
		netns.DeleteNamed(name)
	})
	lo := netlinkAt(t, ns)
	if l, err := lo.LinkByName("lo"); err == nil {
		lo.LinkSetUp(l)
	}
	return ns, name
}

// netlinkAt opens a route netlink handle in ns; only NETLINK_ROUTE, since
// the VM's kernel may lack the XFRM family a default handle also opens.
func netlinkAt(t *testing.T, ns netns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink handle: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// veth links the balancer to peer: local gets lbAddr, the peer end (named
// name+"p") gets peerAddr and a default route via gw.
func (l *lab) veth(lbLink *netlink.Handle, name string, peer netns.NsHandle, lbAddr, peerAddr, gw string) {
	t := l.t
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p", PeerNamespace: netlink.NsFd(int(peer))}
	if err := lbLink.LinkAdd(v); err != nil {
		t.Fatalf("add veth %s: %v", name, err)
	}
	local, err := lbLink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := lbLink.AddrAdd(local, mustAddr(t, lbAddr)); err != nil {
		t.Fatal(err)
	}
	if err := lbLink.LinkSetUp(local); err != nil {
		t.Fatal(err)
	}
	ph := netlinkAt(t, peer)
	pl, err := ph.LinkByName(name + "p")
	if err != nil {
		t.Fatal(err)
	}
	if err := ph.AddrAdd(pl, mustAddr(t, peerAddr)); err != nil {
		t.Fatal(err)
	}
	if err := ph.LinkSetUp(pl); err != nil {
		t.Fatal(err)
	}
	if err := ph.RouteAdd(&netlink.Route{LinkIndex: pl.Attrs().Index, Gw: net.ParseIP(gw)}); err != nil {
		t.Fatalf("default route in peer of %s: %v", name, err)
	}
}

func mustAddr(t *testing.T, s string) *netlink.Addr {
	t.Helper()
	a, err := netlink.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// inNS runs fn on a thread switched into ns. Sockets made there stay in ns
// after the thread switches back.
func inNS(t *testing.T, ns netns.NsHandle, fn func() error) {
	t.Helper()
	if err := doInNS(ns, fn); err != nil {
		t.Fatal(err)
	}
}

func doInNS(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return err
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread is in the wrong namespace: let it die with the goroutine.
		panic(fmt.Sprintf("back to the original netns: %v", err))
	}
	return ferr
}

// serveName answers every TCP connection on addr in ns with name.
func serveName(t *testing.T, ns netns.NsHandle, addr, name string) {
	t.Helper()
	var ln net.Listener
	inNS(t, ns, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, name+"\n")
			c.Close()
		}
	}()
}

// ask connects from the client namespace to the VIP port and returns the
// name of the server that answered.
func (l *lab) ask(port int) (string, error) {
	var name string
	err := doInNS(l.client, func() error {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", vipAddr, port), 3*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		name, err = bufio.NewReader(c).ReadString('\n')
		name = strings.TrimSpace(name)
		return err
	})
	return name, err
}

// split makes n connections and returns who answered, in order.
func (l *lab) split(port, n int) []string {
	l.t.Helper()
	var got []string
	for range n {
		name, err := l.ask(port)
		if err != nil {
			l.t.Fatalf("connection %d to %s:%d: %v", len(got)+1, vipAddr, port, err)
		}
		got = append(got, name)
	}
	return got
}

func count(names []string) map[string]int {
	m := map[string]int{}
	for _, n := range names {
		m[n]++
	}
	return m
}

// service is an lvs service on the lab's VIP with the lab's servers.
func (l *lab) service(name string, port int, balance string, servers ...string) config.Service {
	s := config.Service{
		Name: name, Mode: "lvs", Protocol: "tcp", Balance: balance,
		Listen: netip.AddrPortFrom(netip.MustParseAddr(vipAddr), uint16(port)),
		Quorum: 1, LVS: config.LVS{Forward: "nat"},
	}
	for _, srv := range servers {
		s.Backends = append(s.Backends, config.Backend{Address: l.servers[srv], Weight: 1})
	}
	return s
}

func (l *lab) manager(global config.LVSGlobal, svcs ...config.Service) *Manager {
	l.t.Helper()
	m, err := New(quietLog(), svcs, global, l.ipvs)
	if err != nil {
		l.t.Fatal(err)
	}
	return m
}

func (l *lab) reconcile(m *Manager) {
	l.t.Helper()
	if err := m.Reconcile(); err != nil {
		l.t.Fatalf("reconcile: %v", err)
	}
}

// inSync reads the kernel table back and fails unless it matches what the
// manager wants, and returns it by key.
func (l *lab) inSync(m *Manager) map[Key]Service {
	l.t.Helper()
	m.mu.Lock()
	desired, err := m.desiredLocked()
	m.mu.Unlock()
	if err != nil {
		l.t.Fatal(err)
	}
	actual, err := Read(l.ipvs)
	if err != nil {
		l.t.Fatal(err)
	}
	if p := Diff(desired, nil, actual); len(p.Ops) > 0 {
		l.t.Fatalf("kernel table differs from the config: first of %d ops: %s", len(p.Ops), p.Ops[0])
	}
	out := map[Key]Service{}
	for _, s := range actual {
		out[s.Key] = s
	}
	return out
}

func (l *lab) keyOf(s config.Service) Key {
	return Key{Family: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Addr: s.Listen}
}

func TestKernelSchedulers(t *testing.T) {
	l := newLab(t, "rs1", "rs2")
	scheds := []string{"rr", "wrr", "lc", "wlc", "sh", "mh", "dh", "sed", "nq", "lblc", "lblcr", "fo", "ovf"}
	var svcs []config.Service
	for i, sched := range scheds {
		svcs = append(svcs, l.service(sched, 1000+i, sched, "rs1", "rs2"))
	}
	m := l.manager(config.LVSGlobal{}, svcs...)
	l.reconcile(m)
	table := l.inSync(m)
	for i, sched := range scheds {
		s, ok := table[l.keyOf(svcs[i])]
		if !ok || s.Scheduler != sched || len(s.Destinations) != 2 {
			t.Errorf("%s: kernel has %+v", sched, s)
			continue
		}
		if name, err := l.ask(1000 + i); err != nil || (name != "rs1" && name != "rs2") {
			t.Errorf("%s: connection through IPVS: %q, %v", sched, name, err)
		}
	}
}

func TestKernelSplitByScheduler(t *testing.T) {
	l := newLab(t, "rs1", "rs2")
	rr := l.service("rr", 80, "rr", "rs1", "rs2")
	wrr := l.service("wrr", 81, "wrr", "rs1", "rs2")
	wrr.Backends[0].Weight = 3
	m := l.manager(config.LVSGlobal{}, rr, wrr)
	l.reconcile(m)
	l.inSync(m)

	got := l.split(80, 10)
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Errorf("rr did not alternate: %v", got)
			break
		}
	}
	if c := count(got); c["rs1"] != 5 || c["rs2"] != 5 {
		t.Errorf("rr split %v, want 5/5", c)
	}
	if c := count(l.split(81, 8)); c["rs1"] != 6 || c["rs2"] != 2 {
		t.Errorf("wrr 3:1 split %v, want 6/2", c)
	}
}

func TestKernelHealthGatesTraffic(t *testing.T) {
	for _, inhibit := range []bool{false, true} {
		t.Run(fmt.Sprintf("inhibit=%v", inhibit), func(t *testing.T) {
			l := newLab(t, "rs1", "rs2", "sorry")
			s := l.service("web", 80, "rr", "rs1", "rs2")
			s.Check = &config.Check{Type: "tcp"}
			s.Quorum = 2
			s.LVS.InhibitOnFailure = inhibit
			s.LVS.SorryServer = netip.MustParseAddrPort(l.servers["sorry"])
			m := l.manager(config.LVSGlobal{}, s)
			changes := m.HealthChanges("web")
			rs1, rs2 := l.servers["rs1"], l.servers["rs2"]

			// Checked backends start down: only the sorry server answers.
			l.reconcile(m)
			l.inSync(m)
			if c := count(l.split(80, 4)); c["sorry"] != 4 {
				t.Errorf("before any check passed: %v, want only the sorry server", c)
			}
			if up, _ := m.Health("web"); up {
				t.Error("Health up with no backend up")
			}

			m.SetBackendUp("web", rs1, true)
			m.SetBackendUp("web", rs2, true)
			l.reconcile(m)
			table := l.inSync(m)
			if c := count(l.split(80, 6)); c["rs1"] != 3 || c["rs2"] != 3 {
				t.Errorf("both up: %v, want 3/3 and no sorry server", c)
			}
			if n := len(table[l.keyOf(s)].Destinations); n != 2 {
				t.Errorf("both up: %d destinations, want 2 (the sorry server gone)", n)
			}
			waitSignal(t, changes, "quorum reached")
			if up, why := m.Health("web"); !up {
				t.Errorf("Health down with both up: %s", why)
			}

			m.SetBackendUp("web", rs1, false)
			l.reconcile(m)
			table = l.inSync(m)
			if c := count(l.split(80, 6)); c["rs2"] != 6 {
				t.Errorf("rs1 down: %v, want all on rs2", c)
			}
			dests := table[l.keyOf(s)].Destinations
			rs1Entry := slicesIndex(dests, rs1)
			switch {
			case inhibit && (rs1Entry < 0 || dests[rs1Entry].Weight != 0):
				t.Errorf("inhibit_on_failure: rs1 should stay with weight 0, kernel has %+v", dests)
			case !inhibit && rs1Entry >= 0:
				t.Errorf("rs1 down should be removed, kernel has %+v", dests)
			}
			waitSignal(t, changes, "quorum lost")
			if up, why := m.Health("web"); up || !strings.Contains(why, "1 of 2") {
				t.Errorf("Health with 1 of 2 up and quorum 2 = %v, %q", up, why)
			}

			m.SetBackendUp("web", rs1, true)
			l.reconcile(m)
			l.inSync(m)
			if c := count(l.split(80, 6)); c["rs1"] != 3 || c["rs2"] != 3 {
				t.Errorf("rs1 recovered: %v, want 3/3", c)
			}

			m.SetBackendUp("web", rs1, false)
			m.SetBackendUp("web", rs2, false)
			l.reconcile(m)
			l.inSync(m)
			if c := count(l.split(80, 4)); c["sorry"] != 4 {
				t.Errorf("all down: %v, want only the sorry server", c)
			}
		})
	}
}

func slicesIndex(ds []Destination, addr string) int {
	for i, d := range ds {
		if d.Addr.String() == addr {
			return i
		}
	}
	return -1
}

func waitSignal(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		t.Fatalf("no health change signalled: %s", what)
	}
}

func TestKernelRepairAndReload(t *testing.T) {
	l := newLab(t, "rs1", "rs2")
	web := l.service("web", 80, "rr", "rs1", "rs2")
	api := l.service("api", 81, "wlc", "rs1")
	m := l.manager(config.LVSGlobal{}, web, api)
	m.Resync = 200 * time.Millisecond
	// Someone else's service in the same table.
	foreign := &ipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Address: net.ParseIP(vipAddr), Port: 9999, SchedName: "rr", Netmask: 0xffffffff}
	if err := l.ipvs.NewService(foreign); err != nil {
		t.Fatal(err)
	}
	foreignKey := Key{Family: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Addr: netip.MustParseAddrPort(vipAddr + ":9999")}

	l.reconcile(m)
	l.inSync(m)

	// A destination deleted by hand comes back on the next reconcile.
	webKS := toKernelService(Service{Key: l.keyOf(web)})
	if err := l.ipvs.DelDestination(webKS, toKernelDestination(Destination{Addr: netip.MustParseAddrPort(l.servers["rs1"])})); err != nil {
		t.Fatal(err)
	}
	l.reconcile(m)
	l.inSync(m)
	if c := count(l.split(80, 4)); c["rs1"] != 2 || c["rs2"] != 2 {
		t.Errorf("after repair: %v, want 2/2", c)
	}

	// A service deleted by hand, with nothing else changing: Run's slow
	// timer repairs it.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	time.Sleep(50 * time.Millisecond) // let Run's first pass go by
	if err := l.ipvs.DelService(webKS); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Run uses the same netlink socket: one dump at a time on it, or
		// the kernel answers EBUSY.
		m.ipvsMu.Lock()
		actual, err := Read(l.ipvs)
		m.ipvsMu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if slicesContainsKey(actual, l.keyOf(web)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hand-deleted service was not repaired by the resync timer")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l.inSync(m)

	// Reload: web gets wrr with new weights, api switches to proxy mode.
	web.Balance = "wrr"
	web.Backends[1].Weight = 3
	api.Mode = "proxy"
	if err := m.Update([]config.Service{web, api}); err != nil {
		t.Fatal(err)
	}
	l.reconcile(m)
	table := l.inSync(m)
	if _, ok := table[l.keyOf(api)]; ok {
		t.Error("api switched to proxy mode but its IPVS service is still there")
	}
	if _, ok := table[foreignKey]; !ok {
		t.Error("the foreign service was removed")
	}
	if s := table[l.keyOf(web)]; s.Scheduler != "wrr" {
		t.Errorf("web after reload has scheduler %q", s.Scheduler)
	}
	if c := count(l.split(80, 8)); c["rs1"] != 2 || c["rs2"] != 6 {
		t.Errorf("after reload to wrr 1:3: %v, want 2/6", c)
	}
}

func slicesContainsKey(ss []Service, k Key) bool {
	for _, s := range ss {
		if s.Key == k {
			return true
		}
	}
	return false
}

func TestKernelServiceKinds(t *testing.T) {
	l := newLab(t, "rs1")
	v6 := func(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
	svcs := []config.Service{
		func() config.Service {
			s := l.service("dr", 90, "wlc", "rs1")
			s.Backends[0].Address = "10.9.1.2:90"
			s.LVS.Forward = "dr"
			return s
		}(),
		func() config.Service {
			s := l.service("tun", 91, "rr", "rs1")
			s.Backends[0].Address = "10.9.1.2:91"
			s.LVS.Forward = "tun"
			return s
		}(),
		func() config.Service {
			s := l.service("persist", 92, "sh", "rs1")
			s.LVS.Persistence = config.Duration(300 * time.Second)
			s.LVS.PersistenceNetmask = "255.255.255.0"
			s.LVS.SchedFlags = []string{"sh-fallback", "sh-port"}
			s.Backends[0].MaxConn = 50
			return s
		}(),
		func() config.Service {
			s := l.service("udp", 53, "rr", "rs1")
			s.Protocol = "udp"
			return s
		}(),
		func() config.Service {
			s := l.service("sctp", 3868, "rr", "rs1")
			s.Protocol = "sctp"
			return s
		}(),
		{
			Name: "v6", Mode: "lvs", Protocol: "tcp", Balance: "mh", Listen: v6("[2001:db8::100]:80"), Quorum: 1,
			Backends: []config.Backend{{Address: "[2001:db8:1::2]:80", Weight: 2}},
			LVS:      config.LVS{Forward: "nat", Persistence: config.Duration(time.Minute), PersistenceNetmask: "64", SchedFlags: []string{"mh-port"}},
		},
		{
			Name: "fwm4", Mode: "lvs", Protocol: "tcp", Balance: "rr", Fwmark: 7, Quorum: 1,
			Backends: []config.Backend{{Address: "10.9.1.2:8080", Weight: 1}}, LVS: config.LVS{Forward: "nat"},
		},
		{
			Name: "fwm6", Mode: "lvs", Protocol: "tcp", Balance: "rr", Fwmark: 7, Quorum: 1,
			Backends: []config.Backend{{Address: "[2001:db8:1::2]:8080", Weight: 1}}, LVS: config.LVS{Forward: "dr"},
		},
	}
	m := l.manager(config.LVSGlobal{}, svcs...)
	l.reconcile(m)
	table := l.inSync(m)
	if len(table) != len(svcs) {
		t.Errorf("kernel has %d services, want %d", len(table), len(svcs))
	}
	byName := map[string]Service{}
	for _, sc := range svcs {
		s, err := serviceSettings(sc)
		if err != nil {
			t.Fatal(err)
		}
		byName[sc.Name] = table[s.Key]
	}
	checks := []struct {
		name string
		ok   func(Service) bool
	}{
		{"dr", func(s Service) bool { return s.Destinations[0].Forward == ipvs.ConnectionFlagDirectRoute }},
		{"tun", func(s Service) bool { return s.Destinations[0].Forward == ipvs.ConnectionFlagTunnel }},
		{"persist", func(s Service) bool {
			return s.Flags == FlagPersistent|FlagSched1|FlagSched2 && s.Timeout == 300 &&
				maskAddr(s.Netmask) == netip.MustParseAddr("255.255.255.0") &&
				s.Destinations[0].UpperThreshold == 50
		}},
		{"udp", func(s Service) bool { return s.Key.Protocol == syscall.IPPROTO_UDP }},
		{"sctp", func(s Service) bool { return s.Key.Protocol == syscall.IPPROTO_SCTP }},
		{"v6", func(s Service) bool {
			return s.Key.Family == syscall.AF_INET6 && s.Netmask == 64 && s.Flags == FlagPersistent|FlagSched2 &&
				s.Destinations[0].Addr == v6("[2001:db8:1::2]:80") && s.Destinations[0].Weight == 2
		}},
		{"fwm4", func(s Service) bool { return s.Key.Fwmark == 7 && s.Key.Family == syscall.AF_INET }},
		{"fwm6", func(s Service) bool {
			return s.Key.Fwmark == 7 && s.Key.Family == syscall.AF_INET6 && s.Destinations[0].Forward == ipvs.ConnectionFlagDirectRoute
		}},
	}
	for _, c := range checks {
		s := byName[c.name]
		if len(s.Destinations) == 0 || !c.ok(s) {
			t.Errorf("%s: kernel has %+v", c.name, s)
		}
	}
}

// maskAddr shows a netmask the way it was written: the inverse of netmask().
func maskAddr(v uint32) netip.Addr {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

func TestKernelFlushOnStop(t *testing.T) {
	for _, flush := range []bool{false, true} {
		t.Run(fmt.Sprintf("flush_on_stop=%v", flush), func(t *testing.T) {
			l := newLab(t, "rs1")
			web := l.service("web", 80, "rr", "rs1")
			m := l.manager(config.LVSGlobal{FlushOnStop: flush}, web)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- m.Run(ctx) }()
			deadline := time.Now().Add(10 * time.Second)
			for {
				if name, err := l.ask(80); err == nil && name == "rs1" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("Run did not put the service in place")
				}
				time.Sleep(50 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			actual, err := Read(l.ipvs)
			if err != nil {
				t.Fatal(err)
			}
			if kept := slicesContainsKey(actual, l.keyOf(web)); kept == flush {
				t.Errorf("after stop the service is kept = %v", kept)
			}
			if !flush {
				// A restarted vigil adopts the rules: nothing to write.
				m2 := l.manager(config.LVSGlobal{}, web)
				m2.mu.Lock()
				desired, _ := m2.desiredLocked()
				m2.mu.Unlock()
				if p := Diff(desired, nil, actual); len(p.Ops) != 0 {
					t.Errorf("a restart would change the table: %v", p.Ops)
				}
			}
		})
	}
}

func TestKernelStats(t *testing.T) {
	l := newLab(t, "rs1", "rs2")
	web := l.service("web", 80, "rr", "rs1", "rs2")
	m := l.manager(config.LVSGlobal{}, web)
	l.reconcile(m)
	l.split(80, 6)
	// Packet and byte counters come from the kernel's estimator, which
	// runs every 2 s.
	var got []Stats
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if got, err = m.Stats(); err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 && got[0].Connections >= 6 && got[0].BytesOut > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats never showed the 6 connections: %+v", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	s := got[0]
	if s.Name != "web" || len(s.Destinations) != 2 || s.PacketsIn == 0 || s.BytesIn == 0 {
		t.Errorf("service stats %+v", s)
	}
	for _, d := range s.Destinations {
		if d.Connections != 3 || d.ActiveConns+d.InactiveConns == 0 {
			t.Errorf("real server %s: %+v, want 3 connections, some still in the table", d.Addr, d)
		}
	}
}
