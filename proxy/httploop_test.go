package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vigil/config"
)

// scriptedBackend answers each request by its path with a fixed raw
// response, so two services in front of it can be compared byte for byte.
func scriptedBackend(t testing.TB) *testBackend {
	responses := map[string]string{
		"/cl":      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nKeep-Alive: timeout=5\r\nConnection: X-A\r\n\r\nhello",
		"/chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n",
		"/204":     "HTTP/1.1 204 No Content\r\nX-B: 2\r\n\r\n",
		"/early":   "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"/bad":     "HTTP/1.1 2xx Nope\r\n\r\n",
		"/close":   "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye",
		"/big":     "HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + strings.Repeat("x", 300000),
	}
	return startBackend(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			body, _ := io.ReadAll(req.Body)
			switch req.URL.Path {
			case "/eof":
				io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nuntil the end")
				return
			case "/hang":
				io.Copy(io.Discard, br) // never answers
				return
			case "/echo":
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
				continue
			case "/head":
				// what reached the backend, for the head rewriting rules
				var sb strings.Builder
				fmt.Fprintf(&sb, "%s %s %s|", req.Method, req.URL, req.Proto)
				for _, k := range []string{"Connection", "Keep-Alive", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Drop", "X-Keep", "Te"} {
					fmt.Fprintf(&sb, "%s=%q|", k, req.Header.Values(k))
				}
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", sb.Len(), sb.String())
				continue
			}
			resp, ok := responses[req.URL.Path]
			if !ok {
				resp = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
			}
			io.WriteString(c, resp)
			if req.URL.Path == "/close" || req.URL.Path == "/bad" {
				return
			}
		}
	})
}

// exchange writes each part of script on one connection (half-closing
// after the last when halfClose is set) and returns what came back until
// the proxy closed.
func exchange(t *testing.T, addr string, script []string, halfClose bool) string {
	t.Helper()
	return exchangeOn(t, dialTCP, addr, script, halfClose)
}

// dialer connects a test client: in cleartext or TLS.
type dialer func(addr string) (net.Conn, error)

func dialTCP(addr string) (net.Conn, error) { return net.Dial("tcp", addr) }

// exchangeOn is exchange over a connection from dial.
func exchangeOn(t *testing.T, dial dialer, addr string, script []string, halfClose bool) string {
	t.Helper()
	c, err := dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for i, part := range script {
		if _, err := io.WriteString(c, part); err != nil {
			t.Fatalf("write part %d: %v", i, err)
		}
		if i < len(script)-1 {
			time.Sleep(5 * time.Millisecond) // arrive in separate reads
		}
	}
	if halfClose {
		raw := c
		if tc, ok := c.(*tls.Conn); ok {
			tc.CloseWrite() // close_notify
			raw = tc.NetConn()
		}
		raw.(*net.TCPConn).CloseWrite()
	}
	got, err := readAll(c)
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, got)
	}
	return got
}

// TestHTTPLoopMatchesGoroutinePath sends the same requests through a
// service on the event loops and one on goroutines: the clients must get
// the same bytes, whatever path each request took on the loop (served
// there, handed back, or failed there).
func TestHTTPLoopMatchesGoroutinePath(t *testing.T) {
	checkGoroutines(t)
	be := scriptedBackend(t)
	cfg := httpCfg(be.addr)
	cfg.ForwardedHeaders = true
	loopMatchesGoroutines(t, cfg, dialTCP)
}

// TestHTTPSLoopMatchesGoroutinePath is the same over TLS: a TLS service's
// HTTP/1.1 clients are served on the event loops too (httptlsloop.go).
func TestHTTPSLoopMatchesGoroutinePath(t *testing.T) {
	checkGoroutines(t)
	be := scriptedBackend(t)
	cfg := httpCfg(be.addr)
	cfg.ForwardedHeaders = true
	pool := x509.NewCertPool()
	cfg.TLS = &config.TLS{Certs: []config.Cert{selfSigned(t, pool, "a.example.com")}, HTTP2: true}
	loopMatchesGoroutines(t, cfg, func(addr string) (net.Conn, error) {
		return tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "a.example.com", NextProtos: []string{"http/1.1"}})
	})
}

func loopMatchesGoroutines(t *testing.T, cfg config.Service, dial dialer) {
	loop := startService(t, cfg, func(s *Service) { s.noLoopHTTP = false })
	goroutines := startService(t, cfg, func(s *Service) { s.noLoopHTTP = true })
	cases := []struct {
		name      string
		script    []string
		halfClose bool
	}{
		{"pipelined framings", []string{"GET /cl HTTP/1.1\r\nHost: x\r\n\r\nGET /chunked HTTP/1.1\r\nHost: x\r\n\r\nGET /204 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /cl HTTP/1.1\r\nHost: x\r\n\r\nGET /early HTTP/1.1\r\nHost: x\r\n\r\nGET /eof HTTP/1.1\r\nHost: x\r\n\r\n"}, false},
		{"head in pieces", []string{"GET /cl HT", "TP/1.1\r\nHo", "st: x\r\n", "\r\n", "GET /close HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, false},
		{"body in pieces", []string{"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhel", "lo wor", "ld", "GET /close HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, false},
		{"big body and response", []string{"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n" + strings.Repeat("y", 200000) + "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, false},
		{"half-close after request", []string{"GET /cl HTTP/1.1\r\nHost: x\r\n\r\n"}, true},
		{"half-close after pipeline", []string{"GET /cl HTTP/1.1\r\nHost: x\r\n\r\nGET /chunked HTTP/1.1\r\nHost: x\r\n\r\n"}, true},
		{"head rewriting", []string{"GET /head?q=1 HTTP/1.1\r\nHost: h.example:81\r\nConnection: keep-alive, X-Drop\r\nKeep-Alive: 5\r\nX-Drop: a\r\nX-Keep: b\r\nTE: trailers\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\n\r\nGET /close HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, false},
		{"HTTP/1.0", []string{"GET /cl HTTP/1.0\r\n\r\n"}, false},
		{"leading empty lines", []string{"\r\n\r\nGET /close HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, false},
		{"bad backend response", []string{"GET /bad HTTP/1.1\r\nHost: x\r\n\r\n"}, false},
		{"malformed request", []string{"GET / HTTP/1.1\r\nHost: x\r\nBad Field: y\r\n\r\n"}, false},
		{"missing host", []string{"GET / HTTP/1.1\r\n\r\n"}, false},
		{"chunked request", []string{"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /close HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, false},
		{"expect continue", []string{"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n", "ok"}, false},
		{"backend closes, client stays", []string{"GET /close HTTP/1.1\r\nHost: x\r\n\r\n", "GET /cl HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, false},
		{"unknown path then close", []string{"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, false},
		// the chunked request goes to the goroutine path while the big
		// response is still on its way to the client
		{"handed over behind a big response", []string{"GET /big HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}, false},
		{"many pipelined", []string{strings.Repeat("GET /cl HTTP/1.1\r\nHost: x\r\n\r\n", 200) + "GET /cl HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := exchangeOn(t, dial, goroutines.addr, tc.script, tc.halfClose)
			got := exchangeOn(t, dial, loop.addr, tc.script, tc.halfClose)
			if got != want {
				t.Errorf("event loop answered\n%q\nthe goroutine path\n%q", clip(got), clip(want))
			}
			if want == "" {
				t.Errorf("no answer at all")
			}
		})
	}
	st := loop.Stats()
	if st.Active != 0 {
		loop.waitStats(t, "no connection left", func(s ServiceStats) bool { return s.Active == 0 })
	}
}

func clip(s string) string {
	if len(s) > 600 {
		return s[:300] + fmt.Sprintf("...(%d bytes)...", len(s)-600) + s[len(s)-300:]
	}
	return s
}

// TestHTTPLoopStaleIdleConnectionReplayed: the backend closes a pooled
// connection as a request goes out on it; the loop sends the request again
// on a new connection and the client never sees the failure.
func TestHTTPLoopStaleIdleConnectionReplayed(t *testing.T) {
	checkGoroutines(t)
	var conns atomic.Int64
	be := startBackend(t, func(c net.Conn) {
		n := conns.Add(1)
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			c.Close()
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n%d", n%10)
		if n == 1 {
			// Keep-alive in the response, then close once the next
			// request arrives, without answering it.
			http.ReadRequest(br)
		}
		c.Close()
	})
	r := startService(t, httpCfg(be.addr))
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 2 {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("backend saw %d connections, want 2 (the replay on a new one)", n)
	}
}

// TestHTTPLoopReclaimsIdle: at max_conn a connection idle on an event loop
// is closed to make room, as on the goroutine path.
func TestHTTPLoopReclaimsIdle(t *testing.T) {
	checkGoroutines(t)
	be := scriptedBackend(t)
	cfg := httpCfg(be.addr)
	cfg.MaxConn = 1
	r := startService(t, cfg, func(s *Service) { s.noLoopHTTP = false })
	idle, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET /cl HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first client: %v", err)
	} else {
		io.ReadAll(resp.Body)
	}
	got := exchange(t, r.addr, []string{"GET /close HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, false)
	if !strings.HasSuffix(got, "bye") {
		t.Fatalf("second client: %q", got)
	}
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Error("idle client still open")
	}
}

// TestHTTPLoopSharedRelayServiceStop: on a relay that outlives the
// service (the daemon's), a stopped service's idle backend connections
// close when it stops rather than after idleExpiry.
func TestHTTPLoopSharedRelayServiceStop(t *testing.T) {
	checkGoroutines(t)
	closed := make(chan struct{}, 4)
	be := startBackend(t, func(c net.Conn) {
		defer func() { closed <- struct{}{} }()
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	relay, err := NewRelay(1)
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	r := startService(t, httpCfg(be.addr), func(s *Service) { s.noLoopHTTP = false; s.Relay = relay })
	got := exchange(t, r.addr, []string{"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, false)
	if !strings.HasSuffix(got, "ok") {
		t.Fatalf("response %q", got)
	}
	r.stop(t)
	// Commands run in order: the service posted its stop before Run
	// returned, so a steal posted now finds no idle connection left.
	req := &stealReq{b: r.byAddr[be.addr], reply: make(chan int, 1)}
	if !relay.loops[0].post(stealCmd(req)) {
		t.Fatal("relay stopped")
	}
	if fd := <-req.reply; fd >= 0 {
		closeFd(fd)
		t.Fatal("an idle backend connection outlived its stopped service")
	}
	select {
	case <-closed:
	case <-time.After(idleExpiry / 2):
		t.Fatal("the backend connection stayed open")
	}
}
