package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"vigil/config"
)

// The three HTTP paths (the cleartext event loops, the goroutine path
// that serves TLS and whatever a loop hands over, and HTTP/2) must answer
// a request alike: same status, same end-to-end header fields, same body
// and trailers, same interim responses. These tests send the same
// requests through a service of each kind in front of the same backend
// and compare what the clients got, in HTTP's terms rather than bytes
// (HTTP/2 frames a message differently).

// pathRequest is one request of a comparison.
type pathRequest struct {
	method, target string
	header         [][2]string // in order
	body           string
	chunked        bool // HTTP/1.1: send the body chunked; HTTP/2: without a length
}

// pathAnswer is what a client made of the answer.
type pathAnswer struct {
	interim []int
	status  int
	header  http.Header // end-to-end fields only
	body    string
	trailer http.Header
	err     string
}

func (a pathAnswer) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "interim %v status %d err %q\n", a.interim, a.status, a.err)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range a.header {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&sb, "  %s: %q\n", k, a.header[k])
	}
	fmt.Fprintf(&sb, "  body %q\n  trailer %v", clip(a.body), a.trailer)
	return sb.String()
}

// endToEnd drops what differs by protocol version or by the moment:
// framing and connection fields, and Date.
func endToEnd(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		switch k {
		case "Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", "Date", "Trailer":
			continue
		}
		out[k] = v
	}
	return out
}

// h1Ask sends r on a new HTTP/1.1 connection and reads the answer.
func h1Ask(t *testing.T, addr string, r pathRequest) pathAnswer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %s HTTP/1.1\r\nHost: x\r\n", r.method, r.target)
	for _, h := range r.header {
		fmt.Fprintf(&sb, "%s: %s\r\n", h[0], h[1])
	}
	switch {
	case r.chunked:
		sb.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		for b := r.body; len(b) > 0; {
			n := min(len(b), 7)
			fmt.Fprintf(&sb, "%x\r\n%s\r\n", n, b[:n])
			b = b[n:]
		}
		sb.WriteString("0\r\n\r\n")
	case r.body != "":
		fmt.Fprintf(&sb, "Content-Length: %d\r\n\r\n%s", len(r.body), r.body)
	default:
		sb.WriteString("\r\n")
	}
	io.WriteString(c, sb.String())
	br := bufio.NewReader(c)
	var a pathAnswer
	for {
		req, _ := http.NewRequest(r.method, "http://x"+r.target, nil)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			a.err = "no response"
			return a
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 {
			a.interim = append(a.interim, resp.StatusCode)
			continue
		}
		a.status, a.header = resp.StatusCode, endToEnd(resp.Header)
		b, err := io.ReadAll(resp.Body)
		a.body = string(b)
		if err != nil {
			a.err = "body cut short"
		}
		if len(resp.Trailer) > 0 {
			a.trailer = resp.Trailer
		}
		return a
	}
}

// h2Client is an HTTP/2 client with prior knowledge (h2c).
func h2Client(t *testing.T) *http.Client {
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// h2Ask sends r over HTTP/2 and reads the answer.
func h2Ask(t *testing.T, c *http.Client, addr string, r pathRequest) pathAnswer {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
		if r.chunked {
			body = io.MultiReader(body) // hides the length
		}
	}
	req, err := http.NewRequest(r.method, "http://"+addr+r.target, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "x"
	for _, h := range r.header {
		req.Header.Add(h[0], h[1])
	}
	var a pathAnswer
	req = req.WithContext(httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
			a.interim = append(a.interim, code)
			return nil
		},
	}))
	resp, err := c.Do(req)
	if err != nil {
		a.err = "no response"
		return a
	}
	defer resp.Body.Close()
	a.status, a.header = resp.StatusCode, endToEnd(resp.Header)
	b, err := io.ReadAll(resp.Body)
	a.body = string(b)
	if err != nil {
		a.err = "body cut short"
	}
	if len(resp.Trailer) > 0 {
		a.trailer = resp.Trailer
	}
	return a
}

// pathServices runs cfg three times: on the event loops, on goroutines,
// and with h2c (HTTP/2 clients).
type pathServices struct {
	loop, goroutine, h2 *running
	h2c                 *http.Client
}

func startPathServices(t *testing.T, cfg config.Service, tweak ...func(*Service)) pathServices {
	h2cfg := cfg
	h2cfg.H2C = true
	return pathServices{
		loop:      startService(t, cfg, append(tweak, func(s *Service) { s.noLoopHTTP = false })...),
		goroutine: startService(t, cfg, append(tweak, func(s *Service) { s.noLoopHTTP = true })...),
		h2:        startService(t, h2cfg, tweak...),
		h2c:       h2Client(t),
	}
}

// ask sends r through the three paths and fails the test where an answer
// differs from the loop's.
func (p pathServices) ask(t *testing.T, r pathRequest) pathAnswer {
	t.Helper()
	loop := h1Ask(t, p.loop.addr, r)
	if g := h1Ask(t, p.goroutine.addr, r); g.String() != loop.String() {
		t.Errorf("%s %s: the goroutine path answered\n%s\nthe event loop\n%s", r.method, r.target, g, loop)
	}
	if h := h2Ask(t, p.h2c, p.h2.addr, r); h.String() != loop.String() {
		t.Errorf("%s %s: HTTP/2 answered\n%s\nthe event loop\n%s", r.method, r.target, h, loop)
	}
	return loop
}

// TestHTTPPathsAnswerAlike sends one request per case through each path.
func TestHTTPPathsAnswerAlike(t *testing.T) {
	checkGoroutines(t)
	be := scriptedBackend(t)
	cfg := httpCfg(be.addr)
	cfg.ForwardedHeaders = true
	p := startPathServices(t, cfg)
	for _, r := range []pathRequest{
		{method: "GET", target: "/cl"},
		{method: "GET", target: "/chunked"},
		{method: "GET", target: "/early"},
		{method: "GET", target: "/204"},
		{method: "HEAD", target: "/cl"},
		{method: "GET", target: "/eof"},
		{method: "GET", target: "/close"},
		{method: "GET", target: "/big"},
		{method: "GET", target: "/nothing"},
		{method: "POST", target: "/echo", body: "hello world"},
		{method: "PUT", target: "/echo", body: strings.Repeat("y", 200000)},
		{method: "POST", target: "/echo", body: "in chunks of seven", chunked: true},
		{method: "GET", target: "/head?q=1", header: [][2]string{{"X-Keep", "b"}, {"X-Forwarded-For", "1.2.3.4"}, {"X-Forwarded-Proto", "https"}}},
		{method: "GET", target: "/bad"},
	} {
		a := p.ask(t, r)
		if a.err != "" || a.status == 0 {
			t.Errorf("%s %s: %s", r.method, r.target, a)
		}
	}
}

// countingHandler wraps a backend handler and counts the bytes it reads
// and writes, to hold the proxy's books to what the backend saw.
type byteCount struct{ in, out atomic.Int64 }

type countedConn struct {
	net.Conn
	n *byteCount
}

func (c countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.in.Add(int64(n))
	return n, err
}

func (c countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.out.Add(int64(n))
	return n, err
}

// TestHTTPPathsBookAlike: every path books each request once, with the
// same outcome: requests by class, durations, timeouts, retries, and the
// backend's bytes exactly as the backend counted them.
func TestHTTPPathsBookAlike(t *testing.T) {
	checkGoroutines(t)
	script := scriptedBackend(t)
	type path struct {
		name string
		r    *running
		ask  func(pathRequest) pathAnswer
		n    *byteCount
	}
	var paths []path
	for _, kind := range []string{"loop", "goroutine", "h2"} {
		n := &byteCount{}
		be := startBackend(t, func(c net.Conn) {
			b, err := net.Dial("tcp", script.addr)
			if err != nil {
				return
			}
			relay(countedConn{c, n}, b)
		})
		cfg := httpCfg(be.addr, deadAddr(t))
		cfg.Retries = 1
		cfg.Timeouts.Server = config.Duration(300 * time.Millisecond)
		var r *running
		var ask func(pathRequest) pathAnswer
		switch kind {
		case "loop", "goroutine":
			r = startService(t, cfg, func(s *Service) { s.noLoopHTTP = kind == "goroutine" })
			ask = func(q pathRequest) pathAnswer { return h1Ask(t, r.addr, q) }
		case "h2":
			cfg.H2C = true
			r = startService(t, cfg)
			c := h2Client(t)
			ask = func(q pathRequest) pathAnswer { return h2Ask(t, c, r.addr, q) }
		}
		paths = append(paths, path{kind, r, ask, n})
	}
	requests := []pathRequest{
		{method: "GET", target: "/cl"},
		{method: "GET", target: "/cl"},
		{method: "GET", target: "/chunked"},
		{method: "POST", target: "/echo", body: "hello"},
		{method: "GET", target: "/204"},
		{method: "GET", target: "/bad"},
		{method: "GET", target: "/hang"},
	}
	for _, p := range paths {
		for _, q := range requests {
			p.ask(q)
		}
		p.r.waitStats(t, p.name+": all booked", func(st ServiceStats) bool {
			return st.HTTP.Duration.Count == uint64(len(requests))
		})
		// Every backend byte is in the books once the connections are closed.
		p.r.stop(t)
		st := p.r.Stats()
		if got, want := st.HTTP.Requests, ([NumCodeClasses]uint64{Code2xx: 5, CodeError: 2}); got != want {
			t.Errorf("%s: requests by class %v, want %v", p.name, got, want)
		}
		if st.Timeouts != 1 {
			t.Errorf("%s: %d timeouts booked, want 1 (the 504)", p.name, st.Timeouts)
		}
		if st.Retries == 0 || st.ConnectErrors != st.Retries {
			t.Errorf("%s: retries %d, connect errors %d: want the dead backend retried each time", p.name, st.Retries, st.ConnectErrors)
		}
		live := st.Backends[0]
		deadline := time.Now().Add(5 * time.Second)
		for (p.n.in.Load() != int64(live.BytesIn) || p.n.out.Load() != int64(live.BytesOut)) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if p.n.in.Load() != int64(live.BytesIn) || p.n.out.Load() != int64(live.BytesOut) {
			t.Errorf("%s: backend bytes booked in %d out %d, the backend read %d and wrote %d",
				p.name, live.BytesIn, live.BytesOut, p.n.in.Load(), p.n.out.Load())
		}
	}
}

// TestHTTPPathsReplayStale: when the backend closes an idle connection
// as a request goes out on it, every path sends the request again on a
// new connection and the client never sees the failure.
func TestHTTPPathsReplayStale(t *testing.T) {
	checkGoroutines(t)
	var conns atomic.Int64
	be := startBackend(t, func(c net.Conn) {
		n := conns.Add(1)
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n%d", n%10)
		// Keep-alive in the response, then close once the next request
		// arrives, without answering it.
		http.ReadRequest(br)
	})
	p := startPathServices(t, httpCfg(be.addr))
	for name, ask := range map[string]func() pathAnswer{
		"loop":      func() pathAnswer { return h1AskKeep(t, p.loop.addr) },
		"goroutine": func() pathAnswer { return h1AskKeep(t, p.goroutine.addr) },
		"h2":        func() pathAnswer { return h2Ask(t, p.h2c, p.h2.addr, pathRequest{method: "GET", target: "/"}) },
	} {
		before := conns.Load()
		for i := range 2 {
			if a := ask(); a.status != 200 {
				t.Errorf("%s: request %d: %s", name, i, a)
			}
		}
		if n := conns.Load() - before; n != 2 {
			t.Errorf("%s: backend saw %d connections, want 2 (the replay on a new one)", name, n)
		}
	}
}

// h1AskKeep sends GET / on a new connection; the service keeps its
// backend connection for the next one.
func h1AskKeep(t *testing.T, addr string) pathAnswer {
	return h1Ask(t, addr, pathRequest{method: "GET", target: "/"})
}

// TestHTTPPathsBalanceAlike: every path balances and sticks the same way:
// the same round-robin order, the same sticky cookie for a backend, the
// same backend for a cookie, the same backend for a path under balance uri.
func TestHTTPPathsBalanceAlike(t *testing.T) {
	checkGoroutines(t)
	a := startHTTPBackend(t, nameHandler("a"))
	b := startHTTPBackend(t, nameHandler("b"))
	c := startHTTPBackend(t, nameHandler("c"))
	cfg := httpCfg(a.addr, b.addr, c.addr)
	cfg.Sticky = &config.Sticky{Cookie: "SRV"}
	sticky := startPathServices(t, cfg)
	uri := cfg
	uri.Sticky, uri.Balance = nil, "uri"
	byURI := startPathServices(t, uri)

	type seen struct {
		order   []string
		cookies map[string]string // backend -> its cookie
		stuck   []string          // what each cookie's request reached
		paths   map[string]string // path -> backend under balance uri
	}
	observe := func(s, u *running, ask func(addr string, q pathRequest) pathAnswer) seen {
		var v seen
		v.cookies = map[string]string{}
		for range 6 {
			ans := ask(s.addr, pathRequest{method: "GET", target: "/"})
			v.order = append(v.order, ans.body)
			v.cookies[ans.body] = ans.header.Get("Set-Cookie")
		}
		for _, name := range []string{"c", "a", "b"} {
			ck, _, _ := strings.Cut(strings.TrimPrefix(v.cookies[name], "SRV="), ";")
			ans := ask(s.addr, pathRequest{method: "GET", target: "/", header: [][2]string{{"Cookie", "x=1; SRV=" + ck}}})
			v.stuck = append(v.stuck, ans.body+" set:"+ans.header.Get("Set-Cookie"))
		}
		v.paths = map[string]string{}
		for i := range 8 {
			target := fmt.Sprintf("/p%d?q=%d", i, i)
			v.paths[target] = ask(u.addr, pathRequest{method: "GET", target: target}).body
		}
		return v
	}
	h1 := func(addr string, q pathRequest) pathAnswer { return h1Ask(t, addr, q) }
	h2 := func(addr string, q pathRequest) pathAnswer { return h2Ask(t, sticky.h2c, addr, q) }
	want := observe(sticky.loop, byURI.loop, h1)
	if strings.Join(want.order, "") != "abcabc" {
		t.Errorf("round robin on the loop: %v", want.order)
	}
	if strings.Join(want.stuck, ",") != "c set:,a set:,b set:" {
		t.Errorf("sticky on the loop: %v", want.stuck)
	}
	for name, got := range map[string]seen{
		"goroutine": observe(sticky.goroutine, byURI.goroutine, h1),
		"h2":        observe(sticky.h2, byURI.h2, h2),
	} {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s balanced\n%+v\nthe loop\n%+v", name, got, want)
		}
	}
}
