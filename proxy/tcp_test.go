package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/config"
	"vigil/proxy/proxyproto"
)

func TestRoundRobin(t *testing.T) {
	checkGoroutines(t)
	a, b := startBackend(t, named("a")), startBackend(t, named("b"))
	r := startService(t, baseCfg(a.addr, b.addr))
	var got []string
	for range 4 {
		s, err := r.fetch(t)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if g := strings.Join(got, ""); g != "abab" && g != "baba" {
		t.Errorf("backends in order %q, want alternating", g)
	}
	st := r.waitStats(t, "connections closed", func(s ServiceStats) bool { return s.Active == 0 })
	if st.Total != 4 || st.BytesOut != 4 || st.Backends[0].Total != 2 || st.Backends[1].Total != 2 {
		t.Errorf("stats: total %d out %d per backend %d/%d", st.Total, st.BytesOut, st.Backends[0].Total, st.Backends[1].Total)
	}
	if !st.Up || !st.Listening {
		t.Errorf("service not up: %s", st.Reason)
	}
}

// TestBalanceKeys: source hashes the client address, so one client always
// lands on the same backend; uri has nothing to hash in a byte stream and
// falls back to round robin instead of sending everything to one backend.
func TestBalanceKeys(t *testing.T) {
	checkGoroutines(t)
	a, b := startBackend(t, named("a")), startBackend(t, named("b"))
	for _, bal := range []string{"source", "uri"} {
		cfg := baseCfg(a.addr, b.addr)
		cfg.Balance = bal
		r := startService(t, cfg)
		seen := map[string]int{}
		for range 6 {
			s, _ := r.fetch(t)
			seen[s]++
		}
		if bal == "source" && len(seen) != 1 {
			t.Errorf("source: one client spread over %v", seen)
		}
		if bal == "uri" && (seen["a"] != 3 || seen["b"] != 3) {
			t.Errorf("uri in tcp mode: %v, want round robin", seen)
		}
	}
}

func TestBackendDownGetsNoNewConnections(t *testing.T) {
	checkGoroutines(t)
	a, b := startBackend(t, named("a")), startBackend(t, named("b"))
	cfg := baseCfg(a.addr, b.addr)
	cfg.Check = &config.Check{Type: "tcp"} // backends start down until checked
	r := startService(t, cfg)

	expectClosed(t, r.dial(t), 2*time.Second)
	if st := r.waitStats(t, "no backend counted", func(s ServiceStats) bool { return s.Active == 0 }); st.NoBackend != 1 {
		t.Errorf("NoBackend = %d, want 1", st.NoBackend)
	}
	pick := func() string {
		s, err := r.fetch(t)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	r.SetBackendUp(a.addr, true, "test")
	for range 3 {
		if g := pick(); g != "a" {
			t.Fatalf("only a is up, got %q", g)
		}
	}
	r.SetBackendUp(b.addr, true, "test")
	if g := pick() + pick(); g != "ab" && g != "ba" {
		t.Fatalf("both up: got %q", g)
	}
	r.SetBackendUp(a.addr, false, "test")
	for range 3 {
		if g := pick(); g != "b" {
			t.Fatalf("a is down, got %q", g)
		}
	}
	if st := r.Stats(); st.Backends[0].Up || st.Backends[0].Reason != "test" || st.Backends[0].EffectiveWeight != 0 {
		t.Errorf("backend a stats: %+v", st.Backends[0])
	}
}

func TestBackupServesOnlyWithoutPrimaries(t *testing.T) {
	checkGoroutines(t)
	a, bk := startBackend(t, named("a")), startBackend(t, named("backup"))
	cfg := baseCfg(a.addr, bk.addr)
	cfg.Check = &config.Check{Type: "tcp"}
	cfg.Backends[1].Backup = true
	r := startService(t, cfg)
	r.SetBackendUp(a.addr, true, "")
	r.SetBackendUp(bk.addr, true, "")
	for range 2 {
		if s, _ := r.fetch(t); s != "a" {
			t.Fatalf("primary up: got %q", s)
		}
	}
	r.SetBackendUp(a.addr, false, "")
	if s, _ := r.fetch(t); s != "backup" {
		t.Fatalf("primary down: got %q", s)
	}
}

func TestRetryRedispatch(t *testing.T) {
	checkGoroutines(t)
	dead := deadAddr(t)
	live := startBackend(t, named("live"))

	cfg := baseCfg(dead, live.addr)
	cfg.Retries = 1
	r := startService(t, cfg)
	for i := range 4 {
		if s, err := r.fetch(t); s != "live" {
			t.Fatalf("connection %d: got %q (%v), want the live backend after a retry", i, s, err)
		}
	}
	st := r.waitStats(t, "idle", func(s ServiceStats) bool { return s.Active == 0 })
	if st.Retries != 2 || st.Backends[0].ConnectErrors != 2 || st.Backends[0].Retries != 2 || st.Backends[1].Total != 4 {
		t.Errorf("retries %d, dead backend errors %d retries %d, live total %d; want 2, 2, 2, 4",
			st.Retries, st.Backends[0].ConnectErrors, st.Backends[0].Retries, st.Backends[1].Total)
	}

	// Without retries, a connection that lands on the dead backend is closed.
	cfg.Retries = 0
	r0 := startService(t, cfg)
	closed := 0
	for range 4 {
		if s, _ := r0.fetch(t); s == "" {
			closed++
		}
	}
	if closed != 2 {
		t.Errorf("retries 0: %d of 4 connections failed, want 2", closed)
	}
}

// TestCopy moves data both ways in each copy mode: half-close must reach
// the backend, and big transfers must arrive intact across the switch
// from read/write to splice.
func TestCopy(t *testing.T) {
	modes := []struct {
		name  string
		after int64
	}{{"readwrite", -1}, {"splice", 0}, {"switch", 64 << 10}}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			checkGoroutines(t)
			tweak := func(s *Service) { s.spliceAfter = m.after; s.spliceChunk = 32 << 10 }
			t.Run("halfclose", func(t *testing.T) {
				// The backend answers only after the client's FIN.
				be := startBackend(t, func(c net.Conn) {
					n, _ := io.Copy(io.Discard, c)
					fmt.Fprintf(c, "got %d", n)
				})
				r := startService(t, baseCfg(be.addr), tweak)
				c := r.dial(t)
				io.WriteString(c, "hello")
				if err := c.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				if s, err := readAll(c); s != "got 5" || err != nil {
					t.Fatalf("got %q, %v", s, err)
				}
			})
			t.Run("bulk", func(t *testing.T) {
				be := startBackend(t, echo)
				r := startService(t, baseCfg(be.addr), tweak)
				c := r.dial(t)
				data := make([]byte, 3<<20)
				rand.Read(data)
				go func() {
					c.Write(data)
					c.CloseWrite()
				}()
				got, err := readAll(c)
				if err != nil {
					t.Fatal(err)
				}
				if sha256.Sum256([]byte(got)) != sha256.Sum256(data) {
					t.Fatalf("echo differs: %d bytes back of %d", len(got), len(data))
				}
				st := r.waitStats(t, "closed", func(s ServiceStats) bool { return s.Active == 0 })
				if st.BytesIn != uint64(len(data)) || st.BytesOut != uint64(len(data)) {
					t.Errorf("bytes in %d out %d, want %d", st.BytesIn, st.BytesOut, len(data))
				}
			})
		})
	}
}

func TestIdleTimeouts(t *testing.T) {
	checkGoroutines(t)
	be := startBackend(t, echo)
	for _, mode := range []int64{-1, 0} {
		t.Run(fmt.Sprintf("splice_after_%d", mode), func(t *testing.T) {
			tweak := func(s *Service) { s.spliceAfter = mode }
			cfg := baseCfg(be.addr)
			cfg.Timeouts.Client = config.Duration(200 * time.Millisecond)
			r := startService(t, cfg, tweak)

			idle := r.dial(t)
			roundTrip(t, idle, "x")
			if d := expectClosed(t, idle, 3*time.Second); d < 150*time.Millisecond {
				t.Errorf("closed after %s, before the 200ms timeout", d)
			}
			// A connection with traffic more often than the timeout lives on.
			busy := r.dial(t)
			for range 10 {
				roundTrip(t, busy, "y")
				time.Sleep(60 * time.Millisecond)
			}
			if st := r.Stats(); st.Timeouts != 1 {
				t.Errorf("Timeouts = %d, want 1", st.Timeouts)
			}

			// The server side has its own timeout.
			cfg.Timeouts.Client = config.Duration(10 * time.Second)
			cfg.Timeouts.Server = config.Duration(200 * time.Millisecond)
			rs := startService(t, cfg, tweak)
			c := rs.dial(t)
			roundTrip(t, c, "z")
			expectClosed(t, c, 3*time.Second)
		})
	}
}

// TestLongDownloadIsNotIdle: a client that sends nothing while the backend
// streams is busy, not idle.
func TestLongDownloadIsNotIdle(t *testing.T) {
	checkGoroutines(t)
	be := startBackend(t, func(c net.Conn) {
		for range 12 {
			if _, err := io.WriteString(c, "tick"); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	cfg := baseCfg(be.addr)
	cfg.Timeouts.Client = config.Duration(200 * time.Millisecond)
	r := startService(t, cfg)
	if s, err := r.fetch(t); len(s) != 48 || err != nil {
		t.Fatalf("got %d bytes (%v), want all 48", len(s), err)
	}
}

func TestMaxConnQueue(t *testing.T) {
	checkGoroutines(t)
	be := startBackend(t, echo)
	cfg := baseCfg(be.addr)
	cfg.Backends[0].MaxConn = 1
	r := startService(t, cfg)

	c1 := r.dial(t)
	roundTrip(t, c1, "1")
	c2 := r.dial(t)
	io.WriteString(c2, "2")
	r.waitStats(t, "second client queued", func(s ServiceStats) bool { return s.Queued == 1 })
	c2.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _ := c2.Read(make([]byte, 1)); n != 0 {
		t.Fatal("queued client got an answer while the backend was full")
	}
	c1.Close()
	c2.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c2, buf); err != nil || buf[0] != '2' {
		t.Fatalf("queued client after the slot freed: %q, %v", buf, err)
	}
	if st := r.Stats(); st.Queued != 0 || st.Backends[0].Active != 1 {
		t.Errorf("queued %d, backend active %d; want 0, 1", st.Queued, st.Backends[0].Active)
	}
}

func TestQueueOverflowAndTimeout(t *testing.T) {
	checkGoroutines(t)
	be := startBackend(t, echo)
	cfg := baseCfg(be.addr)
	cfg.Backends[0].MaxConn = 1
	cfg.MaxQueue = 1
	cfg.Timeouts.Queue = config.Duration(300 * time.Millisecond)
	r := startService(t, cfg)

	c1 := r.dial(t)
	roundTrip(t, c1, "1")
	c2 := r.dial(t)
	r.waitStats(t, "second client queued", func(s ServiceStats) bool { return s.Queued == 1 })
	c3 := r.dial(t)
	if d := expectClosed(t, c3, 2*time.Second); d > 250*time.Millisecond {
		t.Errorf("overflowing client closed after %s; want at once", d)
	}
	if d := expectClosed(t, c2, 3*time.Second); d < 200*time.Millisecond {
		t.Errorf("queued client closed after %s, before the queue timeout", d)
	}
	st := r.waitStats(t, "counted", func(s ServiceStats) bool { return s.Active == 1 })
	if st.QueueOverflows != 1 || st.QueueTimeouts != 1 || st.Queued != 0 {
		t.Errorf("overflows %d timeouts %d queued %d; want 1 1 0", st.QueueOverflows, st.QueueTimeouts, st.Queued)
	}
	roundTrip(t, c1, "still here")
}

// TestServiceMaxConn: over the service limit the proxy stops accepting, so
// clients wait in the kernel's backlog instead of being closed.
func TestServiceMaxConn(t *testing.T) {
	checkGoroutines(t)
	be := startBackend(t, echo)
	cfg := baseCfg(be.addr)
	cfg.MaxConn = 1
	r := startService(t, cfg)
	c1 := r.dial(t)
	roundTrip(t, c1, "1")
	c2 := r.dial(t) // completes in the kernel backlog
	io.WriteString(c2, "2")
	time.Sleep(100 * time.Millisecond)
	if st := r.Stats(); st.Total != 1 {
		t.Fatalf("accepted %d connections over max_conn 1", st.Total)
	}
	c1.Close()
	c2.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c2, buf); err != nil || buf[0] != '2' {
		t.Fatalf("second client after the first left: %q, %v", buf, err)
	}
}

func TestProxyProtocolSend(t *testing.T) {
	for _, v := range []string{"v1", "v2"} {
		t.Run(v, func(t *testing.T) {
			checkGoroutines(t)
			headers := make(chan proxyproto.Header, 1)
			lines := make(chan string, 1)
			be := startBackend(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				if v == "v1" {
					line, _ := br.Peek(len("PROXY TCP4 "))
					lines <- string(line)
				}
				h, err := proxyproto.Read(br)
				if err != nil {
					t.Errorf("backend: %v", err)
					return
				}
				headers <- h
				io.Copy(c, br)
			})
			cfg := baseCfg(be.addr)
			cfg.ProxyProtocol.Send = v
			r := startService(t, cfg)
			c := r.dial(t)
			if got := roundTrip(t, c, "ping"); got != "ping" {
				t.Fatalf("echo %q", got)
			}
			h := <-headers
			want := netip.MustParseAddrPort(c.LocalAddr().String())
			if h.Command != proxyproto.Proxy || h.Source != want || h.Destination.String() != r.addr || h.Version != int(v[1]-'0') {
				t.Errorf("header %+v; want source %s destination %s", h, want, r.addr)
			}
			if v == "v1" {
				if l := <-lines; l != "PROXY TCP4 " {
					t.Errorf("v1 header starts %q", l)
				}
			}
		})
	}
}

func TestProxyProtocolAccept(t *testing.T) {
	checkGoroutines(t)
	headers := make(chan proxyproto.Header, 4)
	be := startBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		h, err := proxyproto.Read(br)
		if err != nil {
			t.Errorf("backend: %v", err)
			return
		}
		headers <- h
		io.Copy(c, br)
	})
	cfg := baseCfg(be.addr)
	cfg.ProxyProtocol = config.ProxyProtocol{Accept: true, Send: "v2"}
	cfg.Balance = "source"
	cfg.Timeouts.Client = config.Duration(300 * time.Millisecond)
	r := startService(t, cfg)

	// v1 from the client, with data in the same segment as the header.
	c := r.dial(t)
	io.WriteString(c, "PROXY TCP4 192.0.2.7 198.51.100.1 4444 80\r\nhello")
	buf := make([]byte, 5)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("echo %q, %v", buf, err)
	}
	h := <-headers
	if h.Source != netip.MustParseAddrPort("192.0.2.7:4444") || h.Destination != netip.MustParseAddrPort("198.51.100.1:80") {
		t.Errorf("backend saw %+v, want the client's PROXY addresses", h)
	}

	// v2 from the client.
	c2 := r.dial(t)
	in := proxyproto.Header{Version: 2, Command: proxyproto.Proxy, Protocol: proxyproto.TCP,
		Source: netip.MustParseAddrPort("[2001:db8::5]:5555"), Destination: netip.MustParseAddrPort("[2001:db8::1]:443")}
	hdr, err := in.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	c2.Write(hdr)
	if got := roundTrip(t, c2, "v2 data"); got != "v2 data" {
		t.Fatalf("echo %q", got)
	}
	if h := <-headers; h.Source != in.Source || h.Destination != in.Destination {
		t.Errorf("backend saw %+v, want %+v", h, in)
	}

	// No header, and a silent client: both closed, counted.
	bad := r.dial(t)
	io.WriteString(bad, "GET / HTTP/1.0\r\n\r\n")
	expectClosed(t, bad, 2*time.Second)
	silent := r.dial(t)
	if d := expectClosed(t, silent, 3*time.Second); d < 200*time.Millisecond {
		t.Errorf("silent client closed after %s, before the client timeout", d)
	}
	if st := r.waitStats(t, "errors counted", func(s ServiceStats) bool { return s.ProxyErrors == 2 }); st.Backends[0].Total != 2 {
		t.Errorf("backend got %d connections, want 2", st.Backends[0].Total)
	}
}

func TestShutdownSessions(t *testing.T) {
	checkGoroutines(t)
	for _, onDown := range []string{"", "shutdown_sessions"} {
		t.Run("on_down="+onDown, func(t *testing.T) {
			be := startBackend(t, echo)
			cfg := baseCfg(be.addr)
			cfg.Check = &config.Check{Type: "tcp"}
			cfg.OnDown = onDown
			r := startService(t, cfg)
			r.SetBackendUp(be.addr, true, "ok")
			c := r.dial(t)
			roundTrip(t, c, "1")
			r.SetBackendUp(be.addr, false, "gone")
			if onDown == "" {
				roundTrip(t, c, "still served")
				return
			}
			expectClosed(t, c, 2*time.Second)
			r.waitStats(t, "released", func(s ServiceStats) bool { return s.Backends[0].Active == 0 })
		})
	}
}

func TestDrain(t *testing.T) {
	checkGoroutines(t)
	be := startBackend(t, echo)
	r := startService(t, baseCfg(be.addr), func(s *Service) { s.Drain = 5 * time.Second })
	c := r.dial(t)
	roundTrip(t, c, "before")
	r.cancel()
	r.waitStats(t, "listener closed", func(s ServiceStats) bool { return !s.Listening })
	if nc, err := net.Dial("tcp", r.addr); err == nil {
		nc.Close()
		t.Fatal("new connection accepted while draining")
	}
	roundTrip(t, c, "during drain")
	start := time.Now()
	c.Close()
	r.stop(t)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run returned %s after the last connection closed", d)
	}

	// A connection that does not end is closed when the drain period is over.
	r2 := startService(t, baseCfg(be.addr), func(s *Service) { s.Drain = 300 * time.Millisecond })
	held := r2.dial(t)
	roundTrip(t, held, "x")
	start = time.Now()
	r2.stop(t)
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Errorf("Run returned after %s; want the 300ms drain", d)
	}
	expectClosed(t, held, time.Second)
}

func TestHealthQuorum(t *testing.T) {
	checkGoroutines(t)
	a, b, c := deadAddr(t), "127.0.0.1:2", "127.0.0.1:3"
	cfg := baseCfg(a, b, c)
	cfg.Check = &config.Check{Type: "tcp"}
	cfg.Quorum, cfg.Hysteresis = 2, 1
	s, err := NewService(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if up, why := s.Health(); up || !contains(why, "not listening") {
		t.Errorf("before Run: %v %q", up, why)
	}
	r := startService(t, cfg)
	<-r.HealthChanges() // listening
	steps := []struct {
		addr string
		up   bool
		want bool
	}{
		{a, true, false}, // 1 up: below quorum
		{b, true, false}, // 2: quorum, but down needs quorum+hysteresis = 3
		{c, true, true},  // 3
		{c, false, true}, // 2: still up (goes down below quorum-hysteresis = 1)
		{b, false, true}, // 1
		{a, false, false},
		{a, true, false},
		{b, true, false},
		{c, true, true},
	}
	for i, st := range steps {
		r.SetBackendUp(st.addr, st.up, "step")
		select {
		case <-r.HealthChanges():
		default:
			t.Errorf("step %d: no health change signalled", i)
		}
		if up, why := r.Health(); up != st.want {
			t.Fatalf("step %d (%s up=%v): Health %v (%s), want %v", i, st.addr, st.up, up, why, st.want)
		}
	}
	r.stop(t)
	if up, why := r.Health(); up || !contains(why, "stopped") {
		t.Errorf("after stop: %v %q", up, why)
	}

	// Quorum+hysteresis above the backend count is clamped, or the service
	// could never come back.
	cfg = baseCfg(a, b)
	cfg.Check = &config.Check{Type: "tcp"}
	cfg.Quorum, cfg.Hysteresis = 2, 1
	r2 := startService(t, cfg)
	r2.SetBackendUp(a, true, "")
	r2.SetBackendUp(b, true, "")
	if up, why := r2.Health(); !up {
		t.Errorf("all backends up: %s", why)
	}
}

func TestSlowstart(t *testing.T) {
	checkGoroutines(t)
	cfg := baseCfg("127.0.0.1:1", "127.0.0.1:2")
	cfg.Backends[0].Weight, cfg.Backends[1].Weight = 10, 10
	cfg.Check = &config.Check{Type: "tcp"}
	cfg.Slowstart = config.Duration(time.Hour)
	s, err := NewService(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	s.SetBackendUp("127.0.0.1:1", true, "")
	if w := s.Stats().Backends[0].EffectiveWeight; w < 1 || w >= 10 {
		t.Errorf("just up with an hour of slowstart: effective weight %d, want 1..9", w)
	}
	cfg.Check = nil // up from the start: no ramp
	s, _ = NewService(cfg, testLog(t))
	if w := s.Stats().Backends[0].EffectiveWeight; w != 10 {
		t.Errorf("up from start: effective weight %d, want 10", w)
	}
}

// TestFreebind: the listener binds an address that is on no interface, as a
// backup node does on its VIP before VRRP gives it the address.
func TestFreebind(t *testing.T) {
	checkGoroutines(t)
	addrs := []string{"192.0.2.123:0"} // TEST-NET-1, not configured anywhere
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		ln.Close()
		addrs = append(addrs, "[2001:db8::123]:0") // documentation prefix
	}
	for _, addr := range addrs {
		for _, proto := range []string{"tcp", "udp"} {
			cfg := baseCfg("127.0.0.1:1")
			cfg.Protocol = proto
			cfg.Listen = netip.MustParseAddrPort(addr)
			r := startService(t, cfg)
			if up, why := r.Health(); !up {
				t.Errorf("%s %s: not healthy after binding a foreign address: %s", proto, addr, why)
			}
			r.stop(t)
		}
	}
}

func TestListenFailure(t *testing.T) {
	checkGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := baseCfg("127.0.0.1:1")
	cfg.Listen = netip.MustParseAddrPort(ln.Addr().String())
	s, _ := NewService(cfg, testLog(t))
	if err := s.Run(t.Context()); err == nil || !contains(err.Error(), "listen") {
		t.Fatalf("Run on a busy port: %v", err)
	}
	if up, why := s.Health(); up || !contains(why, "in use") {
		t.Errorf("Health after failed bind: %v %q", up, why)
	}
}

func TestNewServiceRefuses(t *testing.T) {
	for name, mut := range map[string]func(*config.Service){
		"http no cert": func(c *config.Service) { c.Protocol = "http"; c.TLS = &config.TLS{} },
		"lvs":          func(c *config.Service) { c.Mode = "lvs" },
		"tls":          func(c *config.Service) { c.TLS = &config.TLS{} },
		"balance":      func(c *config.Service) { c.Balance = "wlc" },
		"no listen":    func(c *config.Service) { c.Listen = netip.AddrPort{} },
		"udp proxy":    func(c *config.Service) { c.Protocol = "udp"; c.ProxyProtocol.Accept = true },
		"duplicate":    func(c *config.Service) { c.Backends = append(c.Backends, c.Backends[0]) },
		"send v3":      func(c *config.Service) { c.ProxyProtocol.Send = "v3" },
		"unknown udp":  func(c *config.Service) { c.Protocol = "sctp" },
	} {
		cfg := baseCfg("127.0.0.1:1")
		mut(&cfg)
		if _, err := NewService(cfg, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestMisbehavingPeers: clients and backends that reset, stall or vanish
// affect only their own connections, and nothing leaks.
func TestMisbehavingPeers(t *testing.T) {
	checkGoroutines(t)
	resetter := startBackend(t, func(c net.Conn) {
		c.(*net.TCPConn).SetLinger(0) // close sends RST
	})
	good := startBackend(t, echo)
	cfg := baseCfg(resetter.addr, good.addr)
	cfg.Timeouts.Client = config.Duration(300 * time.Millisecond)
	cfg.Backends[1].MaxConn = 2
	cfg.Timeouts.Queue = config.Duration(200 * time.Millisecond)
	r := startService(t, cfg)
	var keep []*net.TCPConn
	for i := range 20 {
		c := r.dial(t)
		switch i % 4 {
		case 0: // reset by the client
			c.SetLinger(0)
			c.Close()
		case 1: // half a message then gone
			io.WriteString(c, "half")
			c.Close()
		case 2: // stays idle until the timeout
			keep = append(keep, c)
		case 3:
			c.Write(bytes.Repeat([]byte("z"), 100<<10))
			c.CloseWrite()
			readAll(c)
		}
	}
	// Idle clients are closed at the client timeout, freeing the good
	// backend's slots.
	for _, c := range keep {
		expectClosed(t, c, 3*time.Second)
	}
	// The service still serves after all that.
	served := false
	for range 4 {
		c := r.dial(t)
		c.SetDeadline(time.Now().Add(2 * time.Second))
		io.WriteString(c, "ok")
		b := make([]byte, 2)
		_, err := io.ReadFull(c, b)
		c.Close()
		if err == nil && string(b) == "ok" {
			served = true
			break
		}
	}
	if !served {
		t.Fatal("service stopped serving after misbehaving peers")
	}
	r.waitStats(t, "all closed", func(s ServiceStats) bool { return s.Active == 0 })
}

// TestTCPDrainServesClientsStillConnecting: a client accepted just before
// the service stops, whose backend connect is still under way, is served
// through the drain like an established connection (a reload's old
// service must not drop it), and Run waits for it.
func TestTCPDrainServesClientsStillConnecting(t *testing.T) {
	checkGoroutines(t)
	be := startBackend(t, func(c net.Conn) { io.WriteString(c, "hello") })
	dialing, release := make(chan struct{}), make(chan struct{})
	r := startService(t, baseCfg(be.addr), func(s *Service) {
		dial := s.dial
		s.dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			close(dialing)
			<-release
			return dial(ctx, network, address)
		}
	})
	c := r.dial(t)
	<-dialing
	r.cancel() // the stop begins while the connect is under way
	r.waitStats(t, "listener closed", func(s ServiceStats) bool { return !s.Listening })
	close(release)
	if got, err := readAll(c); got != "hello" {
		t.Fatalf("client got %q, %v; want the backend's answer", got, err)
	}
	c.Close() // the tunnel ends, and with it the drain
	r.stop(t)
}

// TestTCPDrainEndsConnectsAtItsEnd: a connect still under way when the
// drain period ends gives up, its client is closed, and Run returns.
func TestTCPDrainEndsConnectsAtItsEnd(t *testing.T) {
	checkGoroutines(t)
	dialing := make(chan struct{})
	r := startService(t, baseCfg("127.0.0.1:1"), func(s *Service) {
		s.Drain = 100 * time.Millisecond
		s.dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			close(dialing)
			<-ctx.Done() // a backend that never answers the connect
			return nil, ctx.Err()
		}
	})
	c := r.dial(t)
	<-dialing
	r.stop(t) // returns once the drain is over and the connect has given up
	if got, _ := readAll(c); got != "" {
		t.Fatalf("client got %q", got)
	}
}

// TestStopServesTheBacklog: clients whose handshake the kernel completed
// before the stop, still in the listen backlog when it comes, are accepted
// and served through the drain, not reset when the listener closes. HTTP
// ones get their answer with Connection: close.
func TestStopServesTheBacklog(t *testing.T) {
	for _, protocol := range []string{"tcp", "http"} {
		t.Run(protocol, func(t *testing.T) {
			checkGoroutines(t)
			cfg := baseCfg(startBackend(t, func(c net.Conn) { io.WriteString(c, "hello") }).addr)
			want := func(got string) bool { return got == "hello" }
			if protocol == "http" {
				cfg = httpCfg(startHTTPBackend(t, nameHandler("hello")).addr)
				want = func(got string) bool {
					return strings.HasPrefix(got, "HTTP/1.1 200") && strings.Contains(got, "Connection: close") && strings.HasSuffix(got, "hello")
				}
			}
			sock, err := Bind(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			addr := sock.stream.Addr().String()
			var clients []net.Conn
			for range 50 {
				c, err := net.Dial("tcp", addr) // the kernel completes the handshake
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				if protocol == "http" {
					io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				}
				clients = append(clients, c)
			}
			s, err := NewService(cfg, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			s.noLoopHTTP = *goroutineHTTP
			s.Relay = sharedRelay
			s.Adopt(sock)
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // stopped before it has accepted anyone
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			served := 0
			for i, c := range clients {
				got, err := readAll(c)
				c.Close() // the tunnel ends, and the drain with the last
				if want(got) {
					served++
				} else if served+5 > i { // one line per failure is enough for a few
					t.Errorf("client %d: got %q, %v", i, got, err)
				}
			}
			if served != len(clients) {
				t.Errorf("%d of %d clients in the backlog served", served, len(clients))
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after the drain")
			}
		})
	}
}

// TestStopServesClientsWaitingForASlot: at the service's max_conn, the
// client the accept loop holds while it waits for a slot and one still in
// the listen backlog are served once the connection holding the slot ends
// during the drain, not closed by the stop.
func TestStopServesClientsWaitingForASlot(t *testing.T) {
	for _, protocol := range []string{"tcp", "http"} {
		t.Run(protocol, func(t *testing.T) {
			checkGoroutines(t)
			release := make(chan struct{})
			var first atomic.Bool
			hold := func() {
				if !first.Swap(true) {
					<-release
				}
			}
			cfg := baseCfg(startBackend(t, func(c net.Conn) { hold(); io.WriteString(c, "hello") }).addr)
			want := func(got string) bool { return got == "hello" }
			if protocol == "http" {
				cfg = httpCfg(startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					hold()
					io.WriteString(w, "hello")
				})).addr)
				want = func(got string) bool {
					return strings.HasPrefix(got, "HTTP/1.1 200") && strings.Contains(got, "Connection: close") && strings.HasSuffix(got, "hello")
				}
			}
			cfg.MaxConn = 1
			r := startService(t, cfg)
			// The held handler must end for the backend to close, a
			// failed test's included.
			var releaseOnce sync.Once
			freeHeld := func() { releaseOnce.Do(func() { close(release) }) }
			t.Cleanup(freeHeld)
			dial := func() net.Conn {
				c := r.dial(t)
				if protocol == "http" {
					io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				}
				return c
			}
			holder := dial()
			r.waitStats(t, "a client holding the slot", func(st ServiceStats) bool { return st.Active == 1 })
			waiting := dial()
			deadline := time.Now().Add(5 * time.Second)
			for r.slotWaiters.Load() != 1 {
				if time.Now().After(deadline) {
					t.Fatal("the second client never waited for a slot")
				}
				time.Sleep(time.Millisecond)
			}
			queued := dial() // the accept loop is busy: it stays in the backlog
			r.cancel()
			r.waitStats(t, "listener closed", func(s ServiceStats) bool { return !s.Listening })
			freeHeld()
			// Read at once: which of the two waiting clients gets the
			// freed slot first is not fixed, and each holds it until its
			// client closes.
			var wg sync.WaitGroup
			for i, c := range []net.Conn{holder, waiting, queued} {
				wg.Go(func() {
					got, err := readAll(c)
					c.Close()
					if !want(got) {
						t.Errorf("client %d: got %q, %v", i, got, err)
					}
				})
			}
			wg.Wait()
			r.stop(t)
		})
	}
}
