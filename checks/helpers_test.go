package checks

import (
	"context"
	"net"
	"testing"
	"time"

	"vigil/config"
)

// newCheck returns a check of the given type with config's defaults, so
// tests state only what they are about.
func newCheck(typ string) config.Check {
	return config.Check{
		Type:         typ,
		Interval:     config.Duration(2 * time.Second),
		Timeout:      config.Duration(time.Second),
		Rise:         2,
		Fall:         3,
		Initial:      "down",
		Method:       "GET",
		Path:         "/",
		ExpectStatus: []config.StatusRange{{Min: 200, Max: 399}},
		QueryType:    "A",
	}
}

// probeOnce builds the probe for tgt and runs it once with the check's
// timeout, as the engine does.
func probeOnce(t *testing.T, name string, tgt Target, opts Options) result {
	t.Helper()
	p, err := newProbe(name, tgt, opts)
	if err != nil {
		t.Fatalf("newProbe: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), tgt.Check.Timeout.D())
	defer cancel()
	return p(ctx)
}

// waitFor polls cond until it holds, failing the test with cond's last
// explanation after timeout. Tests wait on conditions, never on guesses.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not reached after %s: %s", what, timeout, last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// closedAddr returns a loopback address on which nothing listens: bound,
// then released. Another process could take the port in between; on a test
// machine that is rare enough.
func closedAddr(t *testing.T, network string) string {
	t.Helper()
	switch network {
	case "tcp":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := l.Addr().String()
		l.Close()
		return a
	default:
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := c.LocalAddr().String()
		c.Close()
		return a
	}
}

// nextEvent reads one event or fails after a generous timeout.
func nextEvent(t *testing.T, w *Watch) Event {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatal("events channel closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("no event after 10s; state %+v", w.State())
	}
	return Event{}
}
