package proxy

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHandoffTCP swaps a running service for a new one with another
// backend while a client connects in a tight loop: no connection is
// refused or left unanswered, new connections reach the new backend, and a
// connection established before the swap keeps working on the old one
// until it closes.
func TestHandoffTCP(t *testing.T) {
	checkGoroutines(t)
	oldBE := startBackend(t, echo)
	newBE := startBackend(t, named("new"))
	cfg := baseCfg(oldBE.addr)
	old := startService(t, cfg)
	established := old.dial(t)
	if got := roundTrip(t, established, "before"); got != "before" {
		t.Fatalf("echo through old service: %q", got)
	}

	// A client connecting all the time during the swap.
	var refused, ok atomic.Int64
	stopClient := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stopClient:
				return
			default:
			}
			c, err := net.Dial("tcp", old.addr)
			if err != nil {
				refused.Add(1)
				continue
			}
			c.Close()
			ok.Add(1)
		}
	})
	waitCount(t, &ok, 20)

	sock, err := old.Handoff()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Handoff(); err == nil {
		t.Error("a second Handoff succeeded")
	}
	ncfg := baseCfg(newBE.addr)
	ncfg.Listen = cfg.Listen
	repl, err := NewService(ncfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	repl.Adopt(sock)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- repl.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("new service Run: %v", err)
		}
	}()
	before := ok.Load()
	waitCount(t, &ok, before+20)
	close(stopClient)
	wg.Wait()
	if n := refused.Load(); n != 0 {
		t.Errorf("%d connections refused during the handoff", n)
	}
	if up, why := old.Health(); up || !strings.Contains(why, "handed off") {
		t.Errorf("old service health after handoff: %v %q", up, why)
	}

	c, err := net.Dial("tcp", old.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if s, err := readAll(c); s != "new" {
		t.Errorf("new connection answered %q (%v), want the new backend", s, err)
	}
	// The old service drains: its established connection still works.
	if got := roundTrip(t, established, "after"); got != "after" {
		t.Errorf("established connection after handoff: %q", got)
	}
	established.Close()
	old.stop(t)
}

// TestHandoffUDP: the new service answers on the same socket.
func TestHandoffUDP(t *testing.T) {
	checkGoroutines(t)
	a, b := startUDPBackend(t, "a"), startUDPBackend(t, "b")
	old := startService(t, udpCfg(a))
	c := newUDPClient(t, old.addr)
	if got := c.ask("x"); got != "a:x" {
		t.Fatalf("old service: %q", got)
	}
	sock, err := old.Handoff()
	if err != nil {
		t.Fatal(err)
	}
	ncfg := udpCfg(b)
	repl, err := NewService(ncfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	repl.Adopt(sock)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- repl.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if got := c.ask("y"); got != "b:y" {
		t.Errorf("after handoff: %q, want b:y", got)
	}
	old.stop(t)
}

// TestHandoffNotRunning: nothing to hand off from a stopped service.
func TestHandoffNotRunning(t *testing.T) {
	s, err := NewService(baseCfg("127.0.0.1:1"), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Handoff(); err == nil {
		t.Fatal("Handoff of a service that never ran succeeded")
	}
}

func waitCount(t *testing.T, n *atomic.Int64, want int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("count %d, want %d", n.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBackendAdmin: a drained backend takes no new connections while its
// open one carries on, counts as out of quorum, and comes back on enable.
func TestBackendAdmin(t *testing.T) {
	checkGoroutines(t)
	a, b := startBackend(t, echo), startBackend(t, named("b"))
	cfg := baseCfg(a.addr, b.addr)
	cfg.Quorum = 2
	r := startService(t, cfg)
	open := r.dial(t)
	// Round robin starts with the first backend, the echo server.
	if got := roundTrip(t, open, "hi"); got != "hi" {
		t.Fatalf("first connection: %q", got)
	}
	if !r.SetBackendAdmin(a.addr, "drain") {
		t.Fatal("backend not found")
	}
	if r.SetBackendAdmin("10.9.9.9:1", "drain") {
		t.Error("an unknown backend was found")
	}
	for range 4 {
		if s, _ := r.fetch(t); s != "b" {
			t.Fatalf("new connection while a is drained answered %q", s)
		}
	}
	if got := roundTrip(t, open, "still"); got != "still" {
		t.Errorf("open connection to the drained backend: %q", got)
	}
	st := r.Stats()
	if st.Backends[0].Admin != "drain" || st.Backends[0].EffectiveWeight != 0 {
		t.Errorf("drained backend stats: %+v", st.Backends[0])
	}
	if up, why := r.Health(); up {
		t.Errorf("service up with 1 of quorum 2 in balancing: %q", why)
	}
	r.SetBackendAdmin(a.addr, "")
	if up, why := r.Health(); !up {
		t.Errorf("service down after enable: %q", why)
	}
}
