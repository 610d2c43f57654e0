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
