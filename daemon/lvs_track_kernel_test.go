package daemon

// A kernel test (real IPVS, real VRRP, real TCP between network
// namespaces): it needs root and a kernel with IPVS, so elsewhere it skips;
// tests/lvs_vm_test.go runs it (^TestKernel) in the IPVS VM, where
// VIGIL_IN_VM=1 turns a missing IPVS into a failure.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"vigil/config"
	"vigil/lvs"
	"vigil/vrrp"
)

// TestKernelLVSQuorumTracking runs the daemon with a mode: lvs service of
// two real servers (quorum 2, a sorry server, quorum hooks) and a VRRP
// instance that tracks it and holds the service's VIP, then takes real
// servers away and brings them back. The topology, with the daemon in the
// VM's own network namespace acting as the balancer:
//
//	client ns 10.78.0.2 --vqt0-- root ns (daemon, IPVS, VRRP on vqt0, VIP 10.78.100.1)
//	                             root ns --vqt1-- be1 ns   10.78.1.2:8080
//	                             root ns --vqt2-- be2 ns   10.78.2.2:8080
//	                             root ns --vqt3-- sorry ns 10.78.3.2:8080
//
// It asserts that quorum loss lowers the instance's effective priority by
// the track's weight and runs quorum_down, that recovery restores both and
// runs quorum_up, and that with every real server down the sorry server is
// the only destination in the kernel table and answers a client's TCP
// connection to VIP:80 (IPVS NAT), as the real servers do while up.
func TestKernelLVSQuorumTracking(t *testing.T) {
	h := kernelIPVS(t)

	const (
		vip      = "10.78.100.1"
		vipPort  = "10.78.100.1:80"
		weight   = -30 // not auto_track's -50, so the explicit track is what counts
		basePrio = 100
	)
	key := lvs.Key{Family: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Addr: netip.MustParseAddrPort(vipPort)}

	// The network. Links are made before the daemon and removed after it
	// (cleanups run last-registered first).
	root := tkNetlink(t, netns.None())
	client := tkNewNS(t, "client")
	tkVeth(t, root, "vqt0", client, "10.78.0.1/24", "10.78.0.2/24")
	be1 := tkServe(t, tkVethNS(t, root, 1, "be1"), "10.78.1.2:8080", "be1")
	be2 := tkServe(t, tkVethNS(t, root, 2, "be2"), "10.78.2.2:8080", "be2")
	tkServe(t, tkVethNS(t, root, 3, "sorry"), "10.78.3.2:8080", "sorry")
	// NAT replies from the real servers are forwarded back to the client.
	tkSysctl(t, "/proc/sys/net/ipv4/ip_forward", "1")
	t.Cleanup(func() { // whatever the daemon left (it flushes on a clean stop)
		actual, err := lvs.Read(h)
		if err == nil {
			err = lvs.Apply(h, lvs.Diff(nil, []lvs.Key{key}, actual).Ops)
		}
		if err != nil {
			t.Errorf("removing the test's IPVS service: %v", err)
		}
	})

	dir := t.TempDir()
	hookLog := filepath.Join(dir, "hooks.log")
	hook := filepath.Join(dir, "quorum-hook")
	if err := os.WriteFile(hook, fmt.Appendf(nil, "#!/bin/sh\necho \"$*\" >> %s\n", hookLog), 0o755); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`lvs: { flush_on_stop: true }
vrrp:
  - name: vi
    interface: vqt0
    vrid: 78
    priority: %d
    version: 3
    advert_interval: 100ms
    vips: [%s/32]
    track: [{ service: web, weight: %d }]
services:
  - name: web
    mode: lvs
    listen: %s
    balance: rr
    lvs: { forward: nat, sorry_server: 10.78.3.2:8080 }
    check: { type: tcp, interval: 100ms, timeout: 500ms, rise: 1, fall: 1 }
    quorum: 2
    quorum_up: %s
    quorum_down: %s
    backends: [10.78.1.2:8080, 10.78.2.2:8080]
`, basePrio, vip, weight, vipPort, hook, hook)
	cfg, _, err := config.Parse("t.yaml", []byte(text), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logs tkLockedBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	d, err := New(cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			return fmt.Errorf("the daemon did not stop within 20s of cancel")
		}
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	in := d.Instances()[0]

	// What the test watches.
	dests := func() ([]string, error) {
		svcs, err := lvs.Read(h)
		if err != nil {
			return nil, err
		}
		for _, s := range svcs {
			if s.Key == key {
				var out []string
				for _, d := range s.Destinations {
					out = append(out, fmt.Sprintf("%s/w%d", d.Addr, d.Weight))
				}
				slices.Sort(out)
				return out, nil
			}
		}
		return nil, fmt.Errorf("service %s not in the kernel table", key)
	}
	hooks := func() []string {
		b, err := os.ReadFile(hookLog)
		if err != nil {
			return nil
		}
		return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(b)), " ", "_"))
	}
	state := func() string {
		st := in.Status()
		ds, err := dests()
		return fmt.Sprintf("instance %s priority %d (%s); table %v (err %v); hooks %v", st.State, st.Priority, st.LastReason, ds, err, hooks())
	}
	// expect waits for the instance, the kernel table and the hook log to
	// reach one stage together.
	expect := func(stage string, prio uint8, table []string, hookRuns []string) {
		t.Helper()
		tkWaitFor(t, stage, state, func() bool {
			st := in.Status()
			ds, err := dests()
			return st.State == vrrp.Master && st.Priority == prio && err == nil && slices.Equal(ds, table) && slices.Equal(hooks(), hookRuns)
		})
		t.Logf("%s: %s", stage, state())
	}
	// served makes n connections to the VIP from the client namespace and
	// returns who answered, sorted.
	served := func(n int) []string {
		t.Helper()
		var got []string
		for range n {
			name, err := tkAsk(client, vipPort)
			if err != nil {
				t.Fatalf("connection to %s from the client: %v; %s", vipPort, err, state())
			}
			got = append(got, name)
		}
		slices.Sort(got)
		return slices.Compact(got)
	}
	const (
		rs1   = "10.78.1.2:8080/w1"
		rs2   = "10.78.2.2:8080/w1"
		sorry = "10.78.3.2:8080/w1"
	)

	// Both real servers up: quorum, full priority, the VIP on this master.
	// The service starts without quorum (checks start down), so gaining it
	// is a change and runs quorum_up once.
	expect("both real servers up", basePrio, []string{rs1, rs2}, []string{"web_UP"})
	if got := served(4); !slices.Equal(got, []string{"be1", "be2"}) {
		t.Errorf("with both real servers up, answered by %v, want be1 and be2", got)
	}
	// The status API shows the kernel's view: both in the table at weight
	// 1, and the connections just made counted.
	tkWaitFor(t, "status API with the kernel's counters", func() string { return fmt.Sprintf("%+v", d.Status().Services) }, func() bool {
		svc := d.Status().Services[0]
		return svc.Up && svc.Total >= 4 && len(svc.Backends) == 2 &&
			svc.Backends[0].Up && svc.Backends[0].EffectiveWeight == 1 && svc.Backends[0].Total >= 1 &&
			svc.Backends[1].Up && svc.Backends[1].EffectiveWeight == 1 && svc.Backends[1].Total >= 1
	})

	// One down: below quorum 2, so the track fails and quorum_down runs;
	// the other real server still takes the traffic.
	be1.stop()
	expect("be1 down (quorum lost)", basePrio+weight, []string{rs2}, []string{"web_UP", "web_DOWN"})
	if svc := d.Status().Services[0]; svc.Up || svc.Backends[0].Up || svc.Backends[0].EffectiveWeight != 0 {
		t.Errorf("status API with be1 down: %+v", svc)
	}
	if got := served(3); !slices.Equal(got, []string{"be2"}) {
		t.Errorf("with be1 down, answered by %v, want be2 only", got)
	}

	// Back: quorum regained, priority restored, quorum_up runs.
	be1.start()
	expect("be1 back (quorum regained)", basePrio, []string{rs1, rs2}, []string{"web_UP", "web_DOWN", "web_UP"})

	// All down: the sorry server is the only destination and answers.
	be1.stop()
	be2.stop()
	expect("all real servers down", basePrio+weight, []string{sorry}, []string{"web_UP", "web_DOWN", "web_UP", "web_DOWN"})
	if got := served(3); !slices.Equal(got, []string{"sorry"}) {
		t.Errorf("with every real server down, answered by %v, want the sorry server only", got)
	}

	// One back: the sorry server goes, but one of two is still short of
	// quorum, so the priority stays lowered and no hook runs.
	be2.start()
	expect("be2 back, still below quorum", basePrio+weight, []string{rs2}, []string{"web_UP", "web_DOWN", "web_UP", "web_DOWN"})
	if got := served(3); !slices.Equal(got, []string{"be2"}) {
		t.Errorf("with only be2 up, answered by %v, want be2 only", got)
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Run drains queued hooks before it returns: a late, spurious run
	// would show here.
	if got, want := hooks(), []string{"web_UP", "web_DOWN", "web_UP", "web_DOWN"}; !slices.Equal(got, want) {
		t.Errorf("quorum hooks after stop: %v, want %v", got, want)
	}
	if _, err := dests(); err == nil {
		t.Errorf("after stop with lvs.flush_on_stop the service is still in the kernel table")
	}
	if a, err := root.AddrList(tkLink(t, root, "vqt0"), netlink.FAMILY_V4); err == nil {
		for _, x := range a {
			if x.IP.String() == vip {
				t.Errorf("after stop the VIP %s is still on vqt0", vip)
			}
		}
	}
}

// tkWaitFor polls cond until it holds, failing with describe() after 20s.
func tkWaitFor(t *testing.T, what string, describe func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; now: %s", what, describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type tkLockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *tkLockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *tkLockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tkSysctl sets a /proc/sys value for the test and restores it after.
func tkSysctl(t *testing.T, path, value string) {
	t.Helper()
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(path, old, 0o644) })
}

// tkNewNS makes an unnamed network namespace with lo up, closed when the
// test ends (the namespace goes with its last reference).
func tkNewNS(t *testing.T, role string) netns.NsHandle {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatalf("new netns for %s: %v", role, err)
	}
	if err := netns.Set(orig); err != nil {
		panic(fmt.Sprintf("back to the original netns: %v", err))
	}
	t.Cleanup(func() { ns.Close() })
	nh := tkNetlink(t, ns)
	if err := nh.LinkSetUp(tkLink(t, nh, "lo")); err != nil {
		t.Fatal(err)
	}
	return ns
}

// tkNetlink opens a route netlink handle in ns (netns.None(): this one);
// only NETLINK_ROUTE, since the VM's kernel may lack XFRM.
func tkNetlink(t *testing.T, ns netns.NsHandle) *netlink.Handle {
	t.Helper()
	var (
		h   *netlink.Handle
		err error
	)
	if ns.IsOpen() {
		h, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	} else {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	}
	if err != nil {
		t.Fatalf("netlink handle: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

func tkLink(t *testing.T, h *netlink.Handle, name string) netlink.Link {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	return l
}

// tkVeth links this namespace (end name, address local) to peer (end
// name+"p", address remote, default route back through local); the pair
// is deleted when the test ends.
func tkVeth(t *testing.T, root *netlink.Handle, name string, peer netns.NsHandle, local, remote string) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p", PeerNamespace: netlink.NsFd(int(peer))}
	if err := root.LinkAdd(v); err != nil {
		t.Fatalf("add veth %s: %v", name, err)
	}
	t.Cleanup(func() {
		if l, err := root.LinkByName(name); err == nil {
			root.LinkDel(l)
		}
	})
	l := tkLink(t, root, name)
	if err := root.AddrAdd(l, tkAddr(t, local)); err != nil {
		t.Fatal(err)
	}
	if err := root.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	ph := tkNetlink(t, peer)
	pl := tkLink(t, ph, name+"p")
	if err := ph.AddrAdd(pl, tkAddr(t, remote)); err != nil {
		t.Fatal(err)
	}
	if err := ph.LinkSetUp(pl); err != nil {
		t.Fatal(err)
	}
	gw, _, _ := strings.Cut(local, "/")
	if err := ph.RouteAdd(&netlink.Route{LinkIndex: pl.Attrs().Index, Gw: net.ParseIP(gw)}); err != nil {
		t.Fatalf("default route in the peer of %s: %v", name, err)
	}
}

// tkVethNS makes a namespace for a server linked as 10.78.n.2/24 to this
// one's 10.78.n.1/24.
func tkVethNS(t *testing.T, root *netlink.Handle, n int, role string) netns.NsHandle {
	t.Helper()
	ns := tkNewNS(t, role)
	tkVeth(t, root, fmt.Sprintf("vqt%d", n), ns, fmt.Sprintf("10.78.%d.1/24", n), fmt.Sprintf("10.78.%d.2/24", n))
	return ns
}

func tkAddr(t *testing.T, s string) *netlink.Addr {
	t.Helper()
	a, err := netlink.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tkInNS runs fn on a thread switched into ns; sockets made there stay in
// ns after the thread switches back.
func tkInNS(ns netns.NsHandle, fn func() error) error {
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
		panic(fmt.Sprintf("back to the original netns: %v", err))
	}
	return ferr
}

// tkServer answers every TCP connection on addr in ns with its name, and
// can be stopped and started again (a real server going away and back).
type tkServer struct {
	t    *testing.T
	ns   netns.NsHandle
	addr string
	name string
	mu   sync.Mutex
	ln   net.Listener
	wg   sync.WaitGroup
}

func tkServe(t *testing.T, ns netns.NsHandle, addr, name string) *tkServer {
	t.Helper()
	s := &tkServer{t: t, ns: ns, addr: addr, name: name}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *tkServer) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return
	}
	var ln net.Listener
	if err := tkInNS(s.ns, func() error {
		var err error
		ln, err = net.Listen("tcp", s.addr)
		return err
	}); err != nil {
		s.t.Fatalf("%s: listen on %s: %v", s.name, s.addr, err)
	}
	s.ln = ln
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, s.name+"\n")
			c.Close()
		}
	}()
}

func (s *tkServer) stop() {
	s.mu.Lock()
	ln := s.ln
	s.ln = nil
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
		s.wg.Wait()
	}
}

// tkAsk connects from ns to addr and returns the name the server sent.
func tkAsk(ns netns.NsHandle, addr string) (string, error) {
	var name string
	err := tkInNS(ns, func() error {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
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
