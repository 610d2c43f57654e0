package lvs

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"

	"vigil/config"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newManager(t *testing.T, h IPVS, global config.LVSGlobal, svcs ...config.Service) *Manager {
	t.Helper()
	m, err := New(quietLog(), svcs, global, h)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// table reads the fake's table back as vigil's types, destinations sorted.
func table(t *testing.T, h IPVS) map[Key][]Destination {
	t.Helper()
	svcs, err := Read(h)
	if err != nil {
		t.Fatal(err)
	}
	out := map[Key][]Destination{}
	for _, s := range svcs {
		out[s.Key] = sortedDestinations(s.Destinations)
	}
	return out
}

func wantTable(t *testing.T, h IPVS, want map[Key][]Destination) {
	t.Helper()
	if got := table(t, h); !reflect.DeepEqual(got, want) {
		t.Fatalf("kernel table:\n got  %v\n want %v", got, want)
	}
}

func checked(s *config.Service) { s.Check = &config.Check{Type: "tcp"} }

func TestManagerFollowsHealth(t *testing.T) {
	f := &fakeIPVS{}
	m := newManager(t, f, config.LVSGlobal{}, web(checked, func(s *config.Service) { s.LVS.SorryServer = sorry }))
	steps := []struct {
		name string
		set  func()
		want []Destination
	}{
		{"checked backends start down: sorry server", func() {}, []Destination{nat(sorry, 1)}},
		{"one up: sorry server goes", func() { m.SetBackendUp("web", "10.0.0.1:8080", true) }, []Destination{nat(rs1, 3)}},
		{"both up", func() { m.SetBackendUp("web", "10.0.0.2:8080", true) }, []Destination{nat(rs1, 3), nat(rs2, 1)}},
		{"one down: removed", func() { m.SetBackendUp("web", "10.0.0.1:8080", false) }, []Destination{nat(rs2, 1)}},
		{"unknown backend and service are ignored", func() {
			m.SetBackendUp("web", "10.9.9.9:1", true)
			m.SetBackendUp("nope", "10.0.0.1:8080", true)
		}, []Destination{nat(rs2, 1)}},
		{"all down: sorry server again", func() { m.SetBackendUp("web", "10.0.0.2:8080", false) }, []Destination{nat(sorry, 1)}},
	}
	for _, st := range steps {
		st.set()
		if err := m.Reconcile(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		t.Run(st.name, func(t *testing.T) { wantTable(t, f, map[Key][]Destination{webKey: st.want}) })
	}
}

func TestManagerWithoutCheckBackendsAreUp(t *testing.T) {
	f := &fakeIPVS{}
	m := newManager(t, f, config.LVSGlobal{}, web())
	if err := m.Reconcile(); err != nil {
		t.Fatal(err)
	}
	wantTable(t, f, map[Key][]Destination{webKey: {nat(rs1, 3), nat(rs2, 1)}})
	if up, why := m.Health("web"); !up {
		t.Errorf("Health = down (%s), want up", why)
	}
	// In sync: a second pass writes nothing.
	n := f.writeCount()
	if err := m.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if f.writeCount() != n {
		t.Errorf("a reconcile with nothing to do wrote %d times", f.writeCount()-n)
	}
}

func TestManagerRepairsHandEdits(t *testing.T) {
	f := &fakeIPVS{}
	m := newManager(t, f, config.LVSGlobal{}, web())
	if err := m.Reconcile(); err != nil {
		t.Fatal(err)
	}
	ks := toKernelService(Service{Key: webKey})
	if err := f.DelDestination(ks, toKernelDestination(nat(rs1, 3))); err != nil {
		t.Fatal(err)
	}
	if err := f.UpdateDestination(ks, toKernelDestination(nat(rs2, 50))); err != nil {
		t.Fatal(err)
	}
	if err := m.Reconcile(); err != nil {
		t.Fatal(err)
	}
	wantTable(t, f, map[Key][]Destination{webKey: {nat(rs1, 3), nat(rs2, 1)}})

	if err := f.DelService(ks); err != nil {
		t.Fatal(err)
	}
	if err := m.Reconcile(); err != nil {
		t.Fatal(err)
	}
	wantTable(t, f, map[Key][]Destination{webKey: {nat(rs1, 3), nat(rs2, 1)}})
}

func TestManagerRunRepairsOnTimerAndKeepsRulesOnStop(t *testing.T) {
	for _, flush := range []bool{false, true} {
		f := &fakeIPVS{}
		foreign := &ipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_UDP, Address: net.ParseIP("10.0.0.200"), Port: 53, SchedName: "rr"}
		if err := f.NewService(foreign); err != nil {
			t.Fatal(err)
		}
		m := newManager(t, f, config.LVSGlobal{FlushOnStop: flush}, web())
		m.Resync = 20 * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- m.Run(ctx) }()
		waitFor(t, "the service", func() bool { return len(table(t, f)[webKey]) == 2 })
		// A flush by hand, with nothing else changing: the timer repairs it.
		if err := f.DelService(toKernelService(Service{Key: webKey})); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the repair", func() bool { return len(table(t, f)[webKey]) == 2 })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		got := table(t, f)
		if _, kept := got[webKey]; kept == flush {
			t.Errorf("flush_on_stop %v: service kept = %v", flush, kept)
		}
		if _, ok := got[keyOf(foreign)]; !ok {
			t.Errorf("flush_on_stop %v: the foreign service was removed", flush)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestManagerUpdate(t *testing.T) {
	f := &fakeIPVS{}
	dns := config.Service{
		Name: "dns", Mode: "lvs", Protocol: "udp", Balance: "rr", Listen: netip.MustParseAddrPort("10.0.0.100:53"),
		Backends: []config.Backend{{Address: "10.0.0.1:53", Weight: 1}}, Quorum: 1, LVS: config.LVS{Forward: "nat"},
	}
	dnsKey := Key{Family: syscall.AF_INET, Protocol: syscall.IPPROTO_UDP, Addr: netip.MustParseAddrPort("10.0.0.100:53")}
	foreign := &ipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Address: net.ParseIP("10.0.0.200"), Port: 22, SchedName: "rr"}
	if err := f.NewService(foreign); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, f, config.LVSGlobal{}, web(checked), dns)
	m.SetBackendUp("web", "10.0.0.1:8080", true)
	if err := m.Reconcile(); err != nil {
		t.Fatal(err)
	}
	wantTable(t, f, map[Key][]Destination{webKey: {nat(rs1, 3)}, dnsKey: {nat(netip.MustParseAddrPort("10.0.0.1:53"), 1)}, keyOf(foreign): nil})

	// Reload: dns switches to proxy mode, web gets a new weight and backend;
	// the health of the backend that stayed is kept.
	dns.Mode = "proxy"
	w := web(checked, func(s *config.Service) {
		s.Backends[0].Weight = 5
		s.Backends = append(s.Backends, config.Backend{Address: "10.0.0.3:8080", Weight: 1})
	})
	if err := m.Update([]config.Service{w, dns}); err != nil {
		t.Fatal(err)
	}
	n := f.writeCount()
	if err := m.Reconcile(); err != nil {
		t.Fatal(err)
	}
	wantTable(t, f, map[Key][]Destination{webKey: {nat(rs1, 5)}, keyOf(foreign): nil})
	if got := f.writeCount() - n; got != 2 {
		t.Errorf("reload wrote %d times, want 2 (update one weight, delete dns)", got)
	}
	if up, why := m.Health("dns"); up || !strings.Contains(why, "not an lvs service") {
		t.Errorf("Health(dns) after switching to proxy = %v, %q", up, why)
	}

	// A bad service refuses the whole update and changes nothing.
	bad := web(func(s *config.Service) { s.Backends[0].Address = "nope" })
	if err := m.Update([]config.Service{bad}); err == nil {
		t.Fatal("Update accepted a backend without an IP")
	}
	if err := m.Reconcile(); err != nil {
		t.Fatal(err)
	}
	wantTable(t, f, map[Key][]Destination{webKey: {nat(rs1, 5)}, keyOf(foreign): nil})
}

func TestManagerHealth(t *testing.T) {
	f := &fakeIPVS{}
	svc := web(checked, func(s *config.Service) {
		s.Backends = append(s.Backends, config.Backend{Address: "10.0.0.3:8080", Weight: 1})
		s.Quorum, s.Hysteresis = 2, 1
	})
	m := newManager(t, f, config.LVSGlobal{}, svc)
	changes := m.HealthChanges("web")
	if m.HealthChanges("nope") != nil {
		t.Error("HealthChanges of an unknown service is not nil")
	}
	steps := []struct {
		addr       string
		up         bool
		wantUp     bool
		wantSignal bool
	}{
		{"10.0.0.1:8080", true, false, false},
		{"10.0.0.2:8080", true, false, false}, // 2 < quorum+hysteresis
		{"10.0.0.3:8080", true, true, true},
		{"10.0.0.3:8080", false, true, false}, // 2 >= quorum-hysteresis
		{"10.0.0.2:8080", false, true, false},
		{"10.0.0.1:8080", false, false, true},
	}
	for i, st := range steps {
		m.SetBackendUp("web", st.addr, st.up)
		signalled := false
		select {
		case <-changes:
			signalled = true
		default:
		}
		up, why := m.Health("web")
		if up != st.wantUp || signalled != st.wantSignal {
			t.Errorf("step %d (%s up=%v): Health = %v (%s), signalled %v; want %v, %v", i, st.addr, st.up, up, why, signalled, st.wantUp, st.wantSignal)
		}
	}
}

func TestManagerReadBackCatchesLostWrites(t *testing.T) {
	// moby/ipvs on a kernel without IPVS: every write "succeeds".
	f := &fakeIPVS{dropWrites: true}
	m := newManager(t, f, config.LVSGlobal{}, web())
	changes := m.HealthChanges("web")
	err := m.Reconcile()
	if err == nil || !strings.Contains(err.Error(), "still differs after apply") {
		t.Fatalf("Reconcile = %v, want a read-back failure", err)
	}
	<-changes
	if up, why := m.Health("web"); up || !strings.Contains(why, "IPVS rules not in place") {
		t.Errorf("Health = %v, %q; want down because the rules are missing", up, why)
	}
	f.dropWrites = false
	if err := m.Reconcile(); err != nil {
		t.Fatal(err)
	}
	<-changes
	if up, why := m.Health("web"); !up {
		t.Errorf("Health after a good reconcile = down, %q", why)
	}
}

func TestManagerOneBadServiceDoesNotBlockOthers(t *testing.T) {
	dns := web(func(s *config.Service) { s.Name, s.Listen = "dns", netip.MustParseAddrPort("10.0.0.100:53") })
	dnsKey := Key{Family: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Addr: dns.Listen}
	f := &fakeIPVS{failNew: &dnsKey}
	m := newManager(t, f, config.LVSGlobal{}, web(), dns)
	if err := m.Reconcile(); err == nil || !strings.Contains(err.Error(), "lvs dns: add service TCP 10.0.0.100:53") {
		t.Fatalf("Reconcile = %v, want the dns failure named", err)
	}
	if _, ok := table(t, f)[webKey]; !ok {
		t.Error("web was not created because dns failed")
	}
	if up, _ := m.Health("web"); !up {
		t.Error("web is down because dns failed")
	}
	if up, _ := m.Health("dns"); up {
		t.Error("dns is up though its service could not be created")
	}
}

func TestManagerStats(t *testing.T) {
	f := &fakeIPVS{}
	m := newManager(t, f, config.LVSGlobal{}, web())
	if err := m.Reconcile(); err != nil {
		t.Fatal(err)
	}
	other := &ipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Address: net.ParseIP("10.0.0.200"), Port: 22, SchedName: "rr"}
	if err := f.NewService(other); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.svcs[0].svc.Stats = ipvs.SvcStats{Connections: 10, PacketsIn: 20, PacketsOut: 30, BytesIn: 400, BytesOut: 500}
	f.svcs[0].dests[0].ActiveConnections = 2
	f.svcs[0].dests[0].InactiveConnections = 1
	f.svcs[0].dests[0].Stats = ipvs.DstStats{Connections: 7, BytesIn: 100}
	f.mu.Unlock()
	got, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := []Stats{{
		Name: "web", Key: webKey, Connections: 10, PacketsIn: 20, PacketsOut: 30, BytesIn: 400, BytesOut: 500,
		Destinations: []DestinationStats{
			{Addr: rs1, Weight: 3, ActiveConns: 2, InactiveConns: 1, Connections: 7, BytesIn: 100},
			{Addr: rs2, Weight: 1},
		},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Stats:\n got  %+v\n want %+v", got, want)
	}
}
