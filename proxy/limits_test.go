package proxy

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/config"
	"vigil/throttle"
)

// countingHandler counts the log records whose message starts with prefix.
type countingHandler struct {
	slog.Handler
	prefix string
	mu     *sync.Mutex
	n      *int
}

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.prefix) {
		h.mu.Lock()
		*h.n++
		h.mu.Unlock()
	}
	return h.Handler.Handle(ctx, r)
}

func (h countingHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return *h.n
}

func countLogs(t *testing.T, prefix string) (countingHandler, *slog.Logger) {
	h := countingHandler{Handler: testLog(t).Handler(), prefix: prefix, mu: &sync.Mutex{}, n: new(int)}
	return h, slog.New(h)
}

// keepAliveClient sends one request on a new connection and keeps the
// connection open and idle afterwards.
func keepAliveClient(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	br := bufio.NewReader(c)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c, br
}

// TestHTTPMaxConnReclaimsIdleKeepAlive: a service at max_conn whose slots
// are held by idle keep-alive clients serves a new client at once by
// closing the longest-idle one, not after http_keep_alive; clients in the
// middle of a request (slowloris) are not reclaimed but get 408 after
// http_request; and the limit is logged once, not per connection.
func TestHTTPMaxConnReclaimsIdleKeepAlive(t *testing.T) {
	be := startHTTPBackend(t, nameHandler("a"))
	cfg := httpCfg(be.addr)
	cfg.MaxConn = 3
	cfg.Timeouts.HTTPKeepAlive = config.Duration(time.Minute)
	cfg.Timeouts.HTTPRequest = config.Duration(time.Second)
	logs, log := countLogs(t, "service at max_conn")
	r := startService(t, cfg, func(s *Service) { s.log = log })

	var idle []*bufio.Reader
	var idleConns []net.Conn
	for range 3 {
		c, br := keepAliveClient(t, r.addr)
		idleConns, idle = append(idleConns, c), append(idle, br)
		time.Sleep(5 * time.Millisecond) // distinct idle-since times: the first is the oldest
	}
	start := time.Now()
	if got := rawRequest(t, r.addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Fatalf("request at max_conn: %q", got)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("served after %v", d)
	}
	// The oldest idle client was closed to make room; the other two are
	// still served on their connections.
	idleConns[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle[0].ReadByte(); err != io.EOF {
		t.Errorf("oldest idle client: read %v, want EOF (reclaimed)", err)
	}
	for i := 1; i < 3; i++ {
		io.WriteString(idleConns[i], "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(idle[i], nil)
		if err != nil {
			t.Fatalf("idle client %d, not the oldest: %v", i, err)
		}
		resp.Body.Close()
	}
	// Slowloris: three clients trickling a request head hold every slot.
	// They are not idle, so not reclaimed: each gets 408 after
	// http_request, and the waiting client is served after that.
	var slow []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		io.WriteString(c, "GET / HTTP/1.1\r\nX-Slow: ")
		slow = append(slow, c)
	}
	r.waitStats(t, "three slow clients connected", func(st ServiceStats) bool { return st.Active == 3 })
	start = time.Now()
	if got := rawRequest(t, r.addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Fatalf("request behind slow clients: %q", got)
	}
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Errorf("served after %v: a slow client in mid-request was cut instead of timed out", waited)
	}
	for i, c := range slow {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, _ := readAll(c)
		if !strings.HasPrefix(got, "HTTP/1.1 408") {
			t.Errorf("slow client %d got %q, want 408", i, got)
		}
	}
	// Hit twice (idle clients, then slow ones), logged once.
	if n := logs.count(); n != 1 {
		t.Errorf("the max_conn limit was logged %d times, want once", n)
	}
}

func TestLimitLogOncePerInterval(t *testing.T) {
	logs, log := countLogs(t, "limit")
	var l limitLog
	for range 100 {
		l.hit(log, "limit hit")
	}
	if n := logs.count(); n != 1 {
		t.Errorf("logged %d times, want 1", n)
	}
	// A minute later (the last line moved back), still hit.
	l.every = throttle.Every{Interval: limitLogEvery}
	l.every.Hit(time.Now().Add(-2 * limitLogEvery))
	l.hit(log, "limit hit")
	if n := logs.count(); n != 2 {
		t.Errorf("logged %d times after the interval, want 2", n)
	}
}

// TestReclaimIdleSparesFreshConnections: at max_conn, a goroutine-path
// connection no request has started on yet is spared for freshGrace, as
// on the event loops. Its first request may already sit in its reader,
// taken from the socket where hasPendingBytes looks, before the goroutine
// claims it; reclaiming it then would drop a request that arrived.
func TestReclaimIdleSparesFreshConnections(t *testing.T) {
	now := time.Now().UnixNano()
	for _, tc := range []struct {
		name      string
		served    bool
		idleSince int64
		reclaimed bool
	}{
		{"fresh, never served", false, now, false},
		{"never served, past the grace", false, now - int64(2*freshGrace), true},
		{"served, idle since now", true, now, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server, _ := tcpPair(t) // nothing sent: no pending bytes
			hc := &httpConn{tc: timedConn{c: server}}
			hc.served.Store(tc.served)
			hc.idleSince.Store(tc.idleSince)
			hc.idle.Store(true)
			s := &Service{hs: &httpService{conns: map[*httpConn]struct{}{hc: {}}}}
			if got := s.reclaimIdle(1) == 1; got != tc.reclaimed {
				t.Errorf("reclaimed %v, want %v", got, tc.reclaimed)
			}
			if hc.closed.Load() != tc.reclaimed {
				t.Errorf("closed %v, want %v", hc.closed.Load(), tc.reclaimed)
			}
		})
	}
}
