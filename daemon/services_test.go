package daemon

import (
	"log/slog"
	"runtime"
	"testing"

	"vigil/config"
	"vigil/proxy"
)

// TestShareRelay: TCP and HTTP services share the one dedicated relay,
// started for the first of them; UDP services and a daemon without
// ProxyLoops get none; when the relay cannot start, services fall back to
// loops of their own and it is not tried again for each.
func TestShareRelay(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("a dedicated relay needs GOMAXPROCS 2 or more")
	}
	rt := &runState{log: slog.New(slog.DiscardHandler)}
	defer func() {
		if rt.relay != nil {
			rt.relay.Close()
		}
	}()
	svc := func(protocol string) (*proxy.Service, config.Service) {
		sc := config.Service{Name: protocol, Mode: "proxy", Protocol: protocol}
		return &proxy.Service{}, sc
	}
	s, sc := svc("tcp")
	rt.shareRelay(s, sc, 0)
	if s.Relay != nil || rt.relay != nil {
		t.Fatal("ProxyLoops 0 started a relay")
	}
	u, uc := svc("udp")
	rt.shareRelay(u, uc, 1)
	if u.Relay != nil || rt.relay != nil {
		t.Fatal("a udp service got a relay")
	}
	rt.shareRelay(s, sc, 1)
	h, hc := svc("http")
	rt.shareRelay(h, hc, 1)
	if s.Relay == nil || s.Relay != h.Relay || rt.relay != s.Relay {
		t.Fatalf("tcp %p and http %p do not share the daemon's relay %p", s.Relay, h.Relay, rt.relay)
	}

	failing := &runState{log: slog.New(slog.DiscardHandler)}
	f, fc := svc("tcp")
	failing.shareRelay(f, fc, runtime.GOMAXPROCS(0)) // a loop for every P: refused
	if f.Relay != nil || !failing.relayFailed {
		t.Fatalf("relay %p, failed %v: want none, and the failure remembered", f.Relay, failing.relayFailed)
	}
}
