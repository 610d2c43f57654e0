package proxy

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"vigil/config"
)

// startUDPBackend answers every datagram with "name:" + payload.
func startUDPBackend(t testing.TB, name string) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return serveUDPBackend(t, c, name)
}

func serveUDPBackend(t testing.TB, c *net.UDPConn, name string) string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(append([]byte(name+":"), buf[:n]...), from)
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return c.LocalAddr().String()
}

// udpClient is an unconnected socket, so the test sees the source address
// of every reply.
type udpClient struct {
	t    testing.TB
	c    *net.UDPConn
	to   netip.AddrPort
	from netip.AddrPort
}

func newUDPClient(t testing.TB, service string) *udpClient {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return udpClientOn(t, c, service)
}

func udpClientOn(t testing.TB, c *net.UDPConn, service string) *udpClient {
	t.Cleanup(func() { c.Close() })
	return &udpClient{t: t, c: c, to: netip.MustParseAddrPort(service)}
}

// ask sends msg and returns the reply; it fails the test when the reply
// does not come from the service address.
func (u *udpClient) ask(msg string) string {
	u.t.Helper()
	if _, err := u.c.WriteToUDPAddrPort([]byte(msg), u.to); err != nil {
		u.t.Fatal(err)
	}
	u.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 65536)
	n, from, err := u.c.ReadFromUDPAddrPort(buf)
	if err != nil {
		u.t.Fatalf("no reply to %q: %v", msg, err)
	}
	if from != u.to {
		u.t.Errorf("reply from %s, want the service address %s", from, u.to)
	}
	return string(buf[:n])
}

func udpCfg(backends ...string) config.Service {
	cfg := baseCfg(backends...)
	cfg.Protocol = "udp"
	cfg.Timeouts.UDPSession = config.Duration(300 * time.Millisecond)
	return cfg
}

func TestUDPSessions(t *testing.T) {
	checkGoroutines(t)
	a, b := startUDPBackend(t, "a"), startUDPBackend(t, "b")
	r := startService(t, udpCfg(a, b))
	c1, c2 := newUDPClient(t, r.addr), newUDPClient(t, r.addr)

	r1, r2 := c1.ask("one"), c2.ask("two")
	name1, _, _ := strings.Cut(r1, ":")
	name2, _, _ := strings.Cut(r2, ":")
	if !strings.HasSuffix(r1, ":one") || !strings.HasSuffix(r2, ":two") || name1 == name2 {
		t.Fatalf("replies %q and %q; want one client on each backend", r1, r2)
	}
	// A session keeps its backend.
	for range 3 {
		if got := c1.ask("again"); got != name1+":again" {
			t.Fatalf("session moved: %q", got)
		}
	}
	st := r.Stats()
	if st.Active != 2 || st.Total != 2 || st.BytesIn != uint64(3+3+3*5) || st.BytesOut != uint64(len(r1)+len(r2)+3*len(name1+":again")) {
		t.Errorf("stats: active %d total %d in %d out %d", st.Active, st.Total, st.BytesIn, st.BytesOut)
	}

	// Idle sessions expire; the next datagram opens a new one.
	r.waitStats(t, "sessions expired", func(s ServiceStats) bool { return s.Active == 0 })
	c1.ask("back")
	if st := r.Stats(); st.Total != 3 || st.Active != 1 {
		t.Errorf("after expiry: total %d active %d, want 3 and 1", st.Total, st.Active)
	}
}

func TestUDPBackendDown(t *testing.T) {
	checkGoroutines(t)
	a, b := startUDPBackend(t, "a"), startUDPBackend(t, "b")
	cfg := udpCfg(a, b)
	cfg.Timeouts.UDPSession = config.Duration(10 * time.Second)
	r := startService(t, cfg)
	c := newUDPClient(t, r.addr)
	first, _, _ := strings.Cut(c.ask("x"), ":")
	down, other := a, "b"
	if first == "b" {
		down, other = b, "a"
	}
	// The session of a backend that goes down ends; the client moves.
	r.SetBackendUp(down, false, "test")
	if got := c.ask("y"); got != other+":y" {
		t.Fatalf("after %s went down: %q", first, got)
	}
	if st := r.waitStats(t, "old session gone", func(s ServiceStats) bool { return s.Active == 1 }); st.Total != 2 {
		t.Errorf("total sessions %d, want 2", st.Total)
	}
}

func TestUDPSessionLimit(t *testing.T) {
	checkGoroutines(t)
	a := startUDPBackend(t, "a")
	cfg := udpCfg(a)
	cfg.MaxConn = 1
	r := startService(t, cfg)
	newUDPClient(t, r.addr).ask("first")
	c2 := newUDPClient(t, r.addr)
	c2.c.WriteToUDPAddrPort([]byte("second"), c2.to)
	r.waitStats(t, "dropped", func(s ServiceStats) bool { return s.SessionLimit == 1 && s.Dropped == 1 })
	// Once the first session expires there is room again.
	r.waitStats(t, "expired", func(s ServiceStats) bool { return s.Active == 0 })
	if got := c2.ask("again"); got != "a:again" {
		t.Fatalf("got %q", got)
	}
}
