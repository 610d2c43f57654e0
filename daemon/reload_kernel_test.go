package daemon

// A kernel test of Apply (hot reload) switching a service between mode: lvs
// and mode: proxy, with real IPVS, real VRRP and real TCP between network
// namespaces. Like lvs_track_kernel_test.go it needs root and IPVS, so
// elsewhere it skips; tests/lvs_vm_test.go runs it in the IPVS VM.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"vigil/api"
	"vigil/config"
	"vigil/lvs"
	"vigil/vrrp"
)

// TestKernelReloadModeSwitch runs the daemon with a VRRP instance holding a
// VIP and a mode: lvs NAT service on VIP:80 of two real servers, then
// reloads it (Apply) through a changed lvs service, a switch to mode:
// proxy, a switch back, and two reloads that must be refused:
//
//	client ns 10.79.0.2 --vrm0-- root ns (daemon, IPVS, proxy, VRRP on vrm0, VIP 10.79.100.1)
//	                             root ns --vrm1-- be1 ns 10.79.1.2:8080
//	                             root ns --vrm2-- be2 ns 10.79.2.2:8080
//
// The backends answer with their name and the address the connection came
// from: the client's (10.79.0.2) through IPVS NAT, the balancer's own
// (10.79.n.1) through vigil's proxy. It asserts that after each reload the
// kernel table read back is exactly what the config says (or has no
// service at all in proxy mode), that the client is served the right way,
// that a refused reload changes neither the table nor the proxy, and that
// none of it touches VRRP: no transition, the instance's Since unchanged,
// the VIP never removed from vrm0, and the service never reported down to
// the instance tracking it (which would drop its priority and, with a
// peer, move the VIP).
func TestKernelReloadModeSwitch(t *testing.T) {
	h := kernelIPVS(t)

	const (
		vip     = "10.79.100.1"
		vipPort = "10.79.100.1:80"
		client  = "10.79.0.2"
		be1Addr = "10.79.1.2:8080"
		be2Addr = "10.79.2.2:8080"
		// The other proxy service of a refused reload listens here.
		otherListen = "10.79.0.1:8081"
	)
	key := lvs.Key{Family: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Addr: netip.MustParseAddrPort(vipPort)}
	// The balancer's address towards each backend: where proxied
	// connections come from.
	lbAddr := map[string]string{"be1": "10.79.1.1", "be2": "10.79.2.1"}

	// The network; links are made before the daemon and removed after it.
	root := tkNetlink(t, netns.None())
	clientNS := tkNewNS(t, "client")
	tkVeth(t, root, "vrm0", clientNS, "10.79.0.1/24", client+"/24")
	be1NS := tkNewNS(t, "be1")
	tkVeth(t, root, "vrm1", be1NS, "10.79.1.1/24", "10.79.1.2/24")
	be2NS := tkNewNS(t, "be2")
	tkVeth(t, root, "vrm2", be2NS, "10.79.2.1/24", "10.79.2.2/24")
	rmServe(t, be1NS, be1Addr, "be1")
	rmServe(t, be2NS, be2Addr, "be2")
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

	// Configs: one VRRP instance owning the VIP (auto-tracking the service
	// on it), and the service in its successive forms.
	const head = `lvs: { flush_on_stop: true }
vrrp:
  - name: vi
    interface: vrm0
    vrid: 79
    priority: 100
    version: 3
    advert_interval: 100ms
    vips: [` + vip + `/32]
services:
`
	const check = `    check: { type: tcp, interval: 100ms, timeout: 500ms, rise: 1, fall: 1 }
`
	lvsV1 := head + `  - name: web
    mode: lvs
    listen: ` + vipPort + `
    protocol: tcp
    balance: rr
    lvs: { forward: nat }
` + check + `    backends: [` + be1Addr + `, ` + be2Addr + `]
`
	lvsV2 := head + `  - name: web
    mode: lvs
    listen: ` + vipPort + `
    protocol: tcp
    balance: wrr
    lvs: { forward: nat }
` + check + `    backends:
      - { address: ` + be1Addr + `, weight: 3, max_conn: 5000 }
`
	proxyWeb := `  - name: web
    mode: proxy
    listen: ` + vipPort + `
    protocol: tcp
` + check + `    backends: [` + be1Addr + `, ` + be2Addr + `]
`
	proxyV := head + proxyWeb
	lvsV3 := head + `  - name: web
    mode: lvs
    listen: ` + vipPort + `
    protocol: tcp
    balance: wrr
    lvs: { forward: nat }
` + check + `    backends:
      - { address: ` + be1Addr + `, weight: 2 }
      - { address: ` + be2Addr + `, weight: 1 }
`
	// Refused in proxy mode: web back to lvs, plus a proxy service on an
	// address the test holds.
	lvsPlusBusy := lvsV3 + `  - name: other
    mode: proxy
    listen: ` + otherListen + `
    protocol: tcp
    backends: [` + be1Addr + `]
`
	parse := func(name, text string) *config.Config {
		t.Helper()
		cfg, _, err := config.Parse(name, []byte(text), config.Options{})
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, text)
		}
		return cfg
	}

	masq := uint32(ipvs.ConnectionFlagMasq)
	svc := func(sched string, dests ...lvs.Destination) lvs.Service {
		return lvs.Service{Key: key, Scheduler: sched, Netmask: math.MaxUint32, Destinations: dests}
	}
	dest := func(addr string, weight int, upper uint32) lvs.Destination {
		return lvs.Destination{Addr: netip.MustParseAddrPort(addr), Weight: weight, Forward: masq, UpperThreshold: upper}
	}
	wantV1 := svc("rr", dest(be1Addr, 1, 0), dest(be2Addr, 1, 0))
	wantV2 := svc("wrr", dest(be1Addr, 3, 5000))
	wantV3 := svc("wrr", dest(be1Addr, 2, 0), dest(be2Addr, 1, 0))

	var logs tkLockedBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	d, err := New(parse("v1.yaml", lvsV1), slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
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
	table := func() (lvs.Service, bool, error) {
		svcs, err := lvs.Read(h)
		if err != nil {
			return lvs.Service{}, false, err
		}
		for _, s := range svcs {
			if s.Key == key {
				slices.SortFunc(s.Destinations, func(a, b lvs.Destination) int { return a.Addr.Compare(b.Addr) })
				return s, true, nil
			}
		}
		return lvs.Service{}, false, nil
	}
	vipOn := func() bool {
		addrs, err := root.AddrList(tkLink(t, root, "vrm0"), netlink.FAMILY_V4)
		if err != nil {
			return false
		}
		return slices.ContainsFunc(addrs, func(a netlink.Addr) bool { return a.IP.String() == vip })
	}
	state := func() string {
		st := in.Status()
		s, ok, err := table()
		tbl := "no service"
		if ok {
			tbl = fmt.Sprintf("%+v", s)
		}
		return fmt.Sprintf("instance %s priority %d since %s (%s); VIP on vrm0 %v; table: %s (err %v); proxy services %v",
			st.State, st.Priority, st.Since.Format(time.StampMicro), st.LastReason, vipOn(), tbl, err, slices.Sorted(maps.Keys(d.Services())))
	}
	expectTable := func(stage string, want lvs.Service) {
		t.Helper()
		tkWaitFor(t, stage, state, func() bool {
			s, ok, err := table()
			return err == nil && ok && reflect.DeepEqual(s, want)
		})
	}
	expectNoService := func(stage string) {
		t.Helper()
		tkWaitFor(t, stage, state, func() bool {
			_, ok, err := table()
			return err == nil && !ok
		})
	}
	// served makes n connections from the client to VIP:80 and returns who
	// answered (sorted, once each), failing unless every connection came to
	// the backend from the client's address (IPVS NAT) or, proxied, from
	// the balancer's address towards that backend.
	served := func(stage string, n int, proxied bool) []string {
		t.Helper()
		var got []string
		for range n {
			name, peer, err := rmAsk(clientNS, vipPort)
			if err != nil {
				t.Fatalf("%s: connection to %s from the client: %v; %s", stage, vipPort, err, state())
			}
			want, how := client, "through IPVS NAT, from the client's address"
			if proxied {
				want, how = lbAddr[name], "through the proxy, from the balancer's address"
			}
			if peer != want {
				t.Errorf("%s: %s saw the connection from %s, want %s (%s)", stage, name, peer, want, how)
			}
			got = append(got, name)
		}
		slices.Sort(got)
		return slices.Compact(got)
	}
	apply := func(stage, text string) {
		t.Helper()
		if err := d.Apply(context.Background(), parse(stage+".yaml", text)); err != nil {
			t.Fatalf("%s: reload: %v; %s", stage, err, state())
		}
	}

	// Start: MASTER with the VIP, both real servers in the table, the
	// client served by both through IPVS.
	tkWaitFor(t, "MASTER", state, func() bool { return in.Status().State == vrrp.Master && vipOn() })
	expectTable("start: lvs rr with both real servers", wantV1)
	if got := served("start", 4, false); !slices.Equal(got, []string{"be1", "be2"}) {
		t.Errorf("start: answered by %v, want be1 and be2", got)
	}
	t.Logf("start: %s", state())
	since := in.Status().Since

	// From here on nothing may touch VRRP: watch the VIP on vrm0 (netlink
	// address events), the daemon's events and its log.
	vipGone := rmWatchVIP(t, vip)
	events, unsubscribe := d.Events()
	defer unsubscribe()
	logFrom := len(logs.String())

	// 1. The lvs service changed: scheduler, a weight, a connection limit
	// (a high one: IPVS counts against it the connections of earlier runs
	// still in its trash), a real server removed. The table read back is
	// exactly the new one.
	apply("lvs-changed", lvsV2)
	expectTable("lvs changed: wrr, be1 weight 3 max_conn 5000, be2 removed", wantV2)
	if got := served("lvs changed", 3, false); !slices.Equal(got, []string{"be1"}) {
		t.Errorf("lvs changed: answered by %v, want be1 only", got)
	}
	t.Logf("lvs changed: %s", state())

	// 2. To mode: proxy: the IPVS service goes, vigil's proxy answers on
	// VIP:80, the backends see the balancer's address.
	apply("to-proxy", proxyV)
	expectNoService("to proxy: IPVS service removed")
	web := d.Services()["web"]
	if web == nil {
		t.Fatalf("to proxy: no proxy service web; %s", state())
	}
	tkWaitFor(t, "to proxy: both backends up in the proxy", state, func() bool { return web.BackendsUp() == 2 && web.Stats().Listening })
	if got := served("to proxy", 4, true); !slices.Equal(got, []string{"be1", "be2"}) {
		t.Errorf("to proxy: answered by %v, want be1 and be2", got)
	}
	t.Logf("to proxy: %s", state())

	// 3. Refused: back to lvs plus a proxy service on an address the test
	// holds. Nothing changes: no IPVS service, the same proxy serving.
	busy, err := net.Listen("tcp", otherListen)
	if err != nil {
		t.Fatal(err)
	}
	err = d.Apply(context.Background(), parse("refused-busy-proxy.yaml", lvsPlusBusy))
	busy.Close()
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("refused in proxy mode: reload with %s taken returned %v, want EADDRINUSE", otherListen, err)
	}
	if svcs := d.Services(); len(svcs) != 1 || svcs["web"] != web {
		t.Errorf("refused in proxy mode: proxy services %v, want the same web service only", svcs)
	}
	if s, ok, err := table(); err != nil || ok {
		t.Errorf("refused in proxy mode: the table has %+v (present %v, err %v), want no service", s, ok, err)
	}
	if got := served("refused in proxy mode", 4, true); !slices.Equal(got, []string{"be1", "be2"}) {
		t.Errorf("refused in proxy mode: answered by %v, want be1 and be2", got)
	}

	// 4. Back to mode: lvs: the IPVS service is back with the right real
	// servers, the proxy lets go of VIP:80 (the test can bind it), the
	// client is served through IPVS again.
	apply("to-lvs", lvsV3)
	expectTable("to lvs: wrr, be1 weight 2, be2 weight 1", wantV3)
	if svcs := d.Services(); len(svcs) != 0 {
		t.Errorf("to lvs: proxy services %v remain", svcs)
	}
	var vipHold net.Listener
	tkWaitFor(t, "to lvs: the proxy's socket on VIP:80 closed (the test can bind it)", state, func() bool {
		vipHold, err = net.Listen("tcp", vipPort)
		return err == nil
	})
	t.Cleanup(func() { vipHold.Close() })
	if got := served("to lvs", 6, false); !slices.Equal(got, []string{"be1", "be2"}) {
		t.Errorf("to lvs: answered by %v, want be1 and be2", got)
	}
	t.Logf("to lvs: %s", state())

	// 5. Refused: to mode: proxy while the test holds VIP:80. The table and
	// the (absent) proxy are unchanged; IPVS still serves.
	before, _, _ := table()
	err = d.Apply(context.Background(), parse("refused-busy-vip.yaml", proxyV))
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("refused in lvs mode: reload to proxy with %s taken returned %v, want EADDRINUSE", vipPort, err)
	}
	if svcs := d.Services(); len(svcs) != 0 {
		t.Errorf("refused in lvs mode: proxy services %v, want none", svcs)
	}
	if s, ok, err := table(); err != nil || !ok || !reflect.DeepEqual(s, before) || !reflect.DeepEqual(s, wantV3) {
		t.Errorf("refused in lvs mode: the table has %+v (present %v, err %v), want it unchanged: %+v", s, ok, err, wantV3)
	}
	if got := served("refused in lvs mode", 4, false); !slices.Equal(got, []string{"be1", "be2"}) {
		t.Errorf("refused in lvs mode: answered by %v, want be1 and be2", got)
	}
	vipHold.Close()

	// VRRP was never touched.
	st := in.Status()
	if st.State != vrrp.Master || !st.Since.Equal(since) {
		t.Errorf("after the reloads: instance %s since %s, want MASTER since %s (no transition)", st.State, st.Since.Format(time.StampMicro), since.Format(time.StampMicro))
	}
	if st.Priority != 100 {
		t.Errorf("after the reloads: priority %d, want 100", st.Priority)
	}
	if !vipOn() {
		t.Errorf("after the reloads: the VIP %s is not on vrm0", vip)
	}
	if gone := vipGone(); gone != "" {
		t.Errorf("during the reloads the VIP was removed from vrm0: %s", gone)
	}
	unsubscribe()
	for drained := false; !drained; {
		select {
		case e := <-events:
			switch {
			case e.Kind == api.KindVRRP:
				t.Errorf("during the reloads VRRP event %s: %s -> %s (%s)", e.Subject, e.From, e.To, e.Reason)
			case e.Kind == api.KindService && (e.From == "down" || e.To == "down"):
				t.Errorf("during the reloads service %s was reported %s -> %s (%s)", e.Subject, e.From, e.To, e.Reason)
			}
		default:
			drained = true
		}
	}
	for line := range strings.Lines(logs.String()[logFrom:]) {
		if strings.Contains(line, "track changed") && strings.Contains(line, "state=failing") {
			t.Errorf("during the reloads the instance saw a track fail: %s", strings.TrimSpace(line))
		}
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s, ok, err := table(); err != nil || ok {
		t.Errorf("after stop with lvs.flush_on_stop the table has %+v (present %v, err %v)", s, ok, err)
	}
}

// rmWatchVIP follows netlink address events in this namespace until the
// test ends; the returned func describes the first removal of vip seen so
// far ("" for none).
func rmWatchVIP(t *testing.T, vip string) func() string {
	t.Helper()
	ch := make(chan netlink.AddrUpdate, 64)
	stop := make(chan struct{})
	var (
		mu   sync.Mutex
		gone string
	)
	fail := func(what string) {
		mu.Lock()
		defer mu.Unlock()
		if gone == "" {
			gone = what
		}
	}
	opts := netlink.AddrSubscribeOptions{ErrorCallback: func(err error) { fail(fmt.Sprintf("(address watch failed: %v)", err)) }}
	if err := netlink.AddrSubscribeWithOptions(ch, stop, opts); err != nil {
		t.Fatalf("watching addresses: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for u := range ch {
			if !u.NewAddr && u.LinkAddress.IP.String() == vip {
				fail(fmt.Sprintf("RTM_DELADDR %s (link index %d) at %s", u.LinkAddress.String(), u.LinkIndex, time.Now().Format(time.StampMicro)))
			}
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait() })
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return gone
	}
}

// rmServe answers every TCP connection on addr in ns with its name and the
// address the connection came from, until the test ends.
func rmServe(t *testing.T, ns netns.NsHandle, addr, name string) {
	t.Helper()
	var ln net.Listener
	if err := tkInNS(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("%s: listen on %s: %v", name, addr, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			peer, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "%s %s\n", name, peer)
			c.Close()
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
}

// rmAsk connects from ns to addr and returns the server's name and the
// address it saw the connection come from.
func rmAsk(ns netns.NsHandle, addr string) (name, peer string, err error) {
	err = tkInNS(ns, func() error {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return fmt.Errorf("read: %w (got %q)", err, line)
		}
		var ok bool
		if name, peer, ok = strings.Cut(strings.TrimSpace(line), " "); !ok {
			return fmt.Errorf("unexpected answer %q", line)
		}
		return nil
	})
	return name, peer, err
}
