package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"vigil/config"
	"vigil/proxy/h2"
)

// h2client speaks raw HTTP/2 frames to a service, for the tests of the
// loops' limits and timeouts.
type h2client struct {
	t   *testing.T
	c   net.Conn
	fr  *http2.Framer
	hb  bytes.Buffer
	enc *hpack.Encoder

	status   map[uint32]int
	body     map[uint32][]byte
	ended    map[uint32]bool
	resets   map[uint32]http2.ErrCode
	goAway   *http2.GoAwayFrame
	settings map[http2.SettingID]uint32
	closed   bool
}

// dialH2 connects with prior knowledge and sends the preface and
// SETTINGS (settings, beside the defaults).
func dialH2(t *testing.T, addr string, settings ...http2.Setting) *h2client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h := &h2client{t: t, c: c, status: map[uint32]int{}, body: map[uint32][]byte{}, ended: map[uint32]bool{},
		resets: map[uint32]http2.ErrCode{}, settings: map[http2.SettingID]uint32{}}
	io.WriteString(c, http2.ClientPreface)
	h.fr = http2.NewFramer(c, c)
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.enc = hpack.NewEncoder(&h.hb)
	h.fr.WriteSettings(settings...)
	return h
}

// request opens stream id; end: no body follows.
func (h *h2client) request(id uint32, method, path string, end bool, extra ...[2]string) {
	h.hb.Reset()
	for _, f := range append(h2Fields(method, path), extra...) {
		h.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.hb.Bytes(), EndStream: end, EndHeaders: true}); err != nil {
		h.t.Fatal(err)
	}
}

// until reads frames until cond holds, failing the test after limit.
func (h *h2client) until(what string, limit time.Duration, cond func() bool) {
	h.t.Helper()
	h.c.SetReadDeadline(time.Now().Add(limit))
	for !cond() {
		if h.closed {
			h.t.Fatalf("waiting for %s: the connection closed", what)
		}
		f, err := h.fr.ReadFrame()
		if err != nil {
			if err == io.EOF {
				h.closed = true
				if cond() {
					return
				}
			}
			h.t.Fatalf("waiting for %s: %v", what, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				f.ForeachSetting(func(s http2.Setting) error { h.settings[s.ID] = s.Val; return nil })
				h.fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			if s, err := strconv.Atoi(f.PseudoValue("status")); err == nil && s >= 200 {
				h.status[f.StreamID] = s
			}
			if f.StreamEnded() {
				h.ended[f.StreamID] = true
			}
		case *http2.DataFrame:
			h.body[f.StreamID] = append(h.body[f.StreamID], f.Data()...)
			if f.StreamEnded() {
				h.ended[f.StreamID] = true
			}
		case *http2.RSTStreamFrame:
			h.resets[f.StreamID] = f.ErrCode
		case *http2.GoAwayFrame:
			h.goAway = f
		}
	}
}

// done is a stream's response complete, or its reset.
func (h *h2client) done(id uint32) func() bool {
	return func() bool {
		_, reset := h.resets[id]
		return h.ended[id] || reset
	}
}

// h2LimitsBackend answers /fast at once, /big with 200 kB, /hang once
// release is closed, and a POST after reading its body.
func h2LimitsBackend(t *testing.T, release chan struct{}) *httpTestBackend {
	return startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/hang":
			<-release
			io.WriteString(w, "released")
		case "/big":
			w.Write(bytes.Repeat([]byte("b"), 200_000))
		default:
			io.WriteString(w, "fast "+strconv.Itoa(len(b)))
		}
	}))
}

// startH2c runs an h2c service in front of h2LimitsBackend (tweak, when
// not nil, changes its config) and connects a raw HTTP/2 client to it.
func startH2c(t *testing.T, release chan struct{}, tweak func(*config.Service), settings ...http2.Setting) (*running, *h2client) {
	t.Helper()
	be := h2LimitsBackend(t, release)
	cfg := httpCfg(be.addr)
	cfg.H2C = true
	if tweak != nil {
		tweak(&cfg)
	}
	r := startService(t, cfg)
	return r, dialH2(t, r.addr, settings...)
}

func skipOnGoroutines(t *testing.T) {
	if *goroutineHTTP {
		t.Skip("HTTP/2 on the goroutine path is net/http's server, with its own limits and timeouts")
	}
}

// TestH2LoopStreamLimit: streams past http2_max_streams are refused
// (REFUSED_STREAM, which a client may retry) while the others are served,
// and the limit frees as streams end.
func TestH2LoopStreamLimit(t *testing.T) {
	skipOnGoroutines(t)
	checkGoroutines(t)
	release := make(chan struct{})
	_, h := startH2c(t, release, func(cfg *config.Service) { cfg.HTTP2MaxStreams = 2 })
	h.request(1, "GET", "/hang", true)
	h.request(3, "GET", "/hang", true)
	h.request(5, "GET", "/fast", true)
	h.until("stream 5 refused", 5*time.Second, h.done(5))
	if got := h.settings[http2.SettingMaxConcurrentStreams]; got != 2 {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS %d, want 2", got)
	}
	if code, ok := h.resets[5]; !ok || code != http2.ErrCodeRefusedStream {
		t.Fatalf("stream 5: reset %v (%v), status %d; want REFUSED_STREAM", code, ok, h.status[5])
	}
	close(release)
	h.until("streams 1 and 3", 5*time.Second, func() bool { return h.ended[1] && h.ended[3] })
	for _, id := range []uint32{1, 3} {
		if h.status[id] != 200 || string(h.body[id]) != "released" {
			t.Errorf("stream %d: %d %q", id, h.status[id], h.body[id])
		}
	}
	h.request(7, "GET", "/fast", true)
	h.until("stream 7", 5*time.Second, h.done(7))
	if h.status[7] != 200 || string(h.body[7]) != "fast 0" {
		t.Errorf("stream 7 after the others ended: %d %q (reset %v)", h.status[7], h.body[7], h.resets[7])
	}
}

// TestH2LoopStalledBody: a stream that never sends the body it announced
// is answered 408 after the client timeout and gives its backend
// connection back; the connection's other streams go on.
func TestH2LoopStalledBody(t *testing.T) {
	skipOnGoroutines(t)
	checkGoroutines(t)
	r, h := startH2c(t, nil, func(cfg *config.Service) { cfg.Timeouts.Client = config.Duration(300 * time.Millisecond) })
	h.request(1, "POST", "/upload", false, [2]string{"content-length", "10"})
	h.fr.WriteData(1, false, []byte("abc"))
	start := time.Now()
	h.until("stream 1 answered", 5*time.Second, func() bool { return h.status[1] != 0 })
	if h.status[1] != 408 {
		t.Fatalf("stalled body: status %d, want 408", h.status[1])
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Errorf("answered after %v, before the client timeout", waited)
	}
	h.until("stream 1 over", 5*time.Second, h.done(1))
	h.request(3, "POST", "/upload", false, [2]string{"content-length", "3"})
	h.fr.WriteData(3, true, []byte("xyz"))
	h.until("stream 3", 5*time.Second, h.done(3))
	if h.status[3] != 200 || string(h.body[3]) != "fast 3" {
		t.Errorf("the next stream: %d %q (reset %v)", h.status[3], h.body[3], h.resets[3])
	}
	r.waitStats(t, "the backend slot given back", func(s ServiceStats) bool { return s.Backends[0].Active == 0 })
}

// TestH2LoopNoWindowUpdate: a client that gives a stream no more window
// holds up only that stream, whose backend stops being read; after the
// client timeout the stream is reset and its backend connection closed,
// and the connection serves on.
func TestH2LoopNoWindowUpdate(t *testing.T) {
	skipOnGoroutines(t)
	checkGoroutines(t)
	r, h := startH2c(t, nil, func(cfg *config.Service) { cfg.Timeouts.Client = config.Duration(300 * time.Millisecond) }, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1000})
	h.request(1, "GET", "/big", true)
	h.until("the first 1000 bytes", 5*time.Second, func() bool { return len(h.body[1]) >= 1000 })
	// Another stream is not held up behind it.
	h.request(3, "GET", "/fast", true)
	h.until("stream 3", 5*time.Second, h.done(3))
	if h.status[3] != 200 || string(h.body[3]) != "fast 0" {
		t.Errorf("stream 3 beside a stalled one: %d %q", h.status[3], h.body[3])
	}
	h.until("stream 1 reset", 5*time.Second, h.done(1))
	if code, ok := h.resets[1]; !ok || code != http2.ErrCodeCancel {
		t.Fatalf("stalled stream: reset %v (%v), ended %v; want CANCEL", code, ok, h.ended[1])
	}
	if n := len(h.body[1]); n != 1000 {
		t.Errorf("stalled stream got %d bytes, its window was 1000", n)
	}
	r.waitStats(t, "the backend slot given back", func(s ServiceStats) bool { return s.Backends[0].Active == 0 })
	h.request(5, "GET", "/fast", true)
	h.until("stream 5", 5*time.Second, h.done(5))
	if h.status[5] != 200 {
		t.Errorf("after the reset: status %d", h.status[5])
	}
}

// TestH2LoopGoAwayOnStop: a stopping service sends GOAWAY, finishes the
// streams under way, refuses new ones, then closes the connection.
func TestH2LoopGoAwayOnStop(t *testing.T) {
	skipOnGoroutines(t)
	checkGoroutines(t)
	release := make(chan struct{})
	r, h := startH2c(t, release, nil)
	h.request(1, "GET", "/hang", true)
	r.waitStats(t, "the request at the backend", func(s ServiceStats) bool { return s.Backends[0].Active == 1 })
	r.cancel()
	h.until("GOAWAY", 5*time.Second, func() bool { return h.goAway != nil })
	if h.goAway.ErrCode != http2.ErrCodeNo || h.goAway.LastStreamID != 1 {
		t.Errorf("GOAWAY %v, last stream %d; want NO_ERROR, 1", h.goAway.ErrCode, h.goAway.LastStreamID)
	}
	h.request(3, "GET", "/fast", true)
	close(release)
	h.until("stream 1", 5*time.Second, h.done(1))
	if h.status[1] != 200 || string(h.body[1]) != "released" {
		t.Errorf("the stream under way: %d %q (reset %v)", h.status[1], h.body[1], h.resets[1])
	}
	h.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := h.fr.ReadFrame(); err != nil {
			if err != io.EOF && !strings.Contains(err.Error(), "reset") {
				t.Errorf("the connection did not close: %v", err)
			}
			break
		}
	}
	if h.status[3] != 0 {
		t.Errorf("a stream opened after GOAWAY was served: %d", h.status[3])
	}
}

// TestH2LargeBodies: bodies far beyond the flow-control windows go both
// ways intact, with and without a content-length (the request body then
// goes chunked to the backend, a chunked response is decoded), over h2c
// and TLS, on several streams at once.
func TestH2LargeBodies(t *testing.T) {
	checkGoroutines(t)
	be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sum := sha256.New()
		n, _ := io.Copy(sum, r.Body)
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		w.Header().Set("X-Got", fmt.Sprintf("%d %x %v", n, sum.Sum(nil), r.TransferEncoding))
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		w.Write(bytes.Repeat([]byte("r"), size))
	}))
	pool := x509.NewCertPool()
	cfg := httpCfg(be.addr)
	cfg.H2C = true
	h2c := startService(t, cfg)
	cfg.H2C = false
	cfg.TLS = &config.TLS{Certs: []config.Cert{selfSigned(t, pool, "a.example.com")}, HTTP2: true}
	tlsSvc := startService(t, cfg)
	clients := map[string]*http.Client{
		"http://" + h2c.addr: {Transport: &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}, Timeout: 20 * time.Second},
		"https://" + tlsSvc.addr: {Transport: &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "a.example.com"}}, Timeout: 20 * time.Second},
	}
	body := make([]byte, 3<<20)
	rand.Read(body)
	want := fmt.Sprintf("%x", sha256.Sum256(body))
	for base, c := range clients {
		var wg sync.WaitGroup
		for i, tc := range []struct {
			known   bool // the request says its length
			chunked bool // the response goes chunked
		}{{true, false}, {false, false}, {true, true}, {false, true}} {
			wg.Go(func() {
				var rd io.Reader = bytes.NewReader(body)
				if !tc.known {
					rd = io.MultiReader(rd) // hides the length: no content-length
				}
				size := 2<<20 + i
				q := fmt.Sprintf("%s/up?size=%d", base, size)
				if tc.chunked {
					q += "&chunked=1"
				}
				resp, err := c.Post(q, "application/octet-stream", rd)
				if err != nil {
					t.Errorf("%s %+v: %v", base, tc, err)
					return
				}
				defer resp.Body.Close()
				got, err := io.ReadAll(resp.Body)
				if err != nil || len(got) != size || resp.ProtoMajor != 2 {
					t.Errorf("%s %+v: response %d of %d bytes, %s, %v", base, tc, len(got), size, resp.Proto, err)
				}
				wantTE := "[]"
				if !tc.known {
					wantTE = "[chunked]"
				}
				if g := resp.Header.Get("X-Got"); g != fmt.Sprintf("%d %s %s", len(body), want, wantTE) {
					t.Errorf("%s %+v: the backend got %s", base, tc, g)
				}
			})
		}
		wg.Wait()
		c.CloseIdleConnections()
	}
}

// TestH2LoopResetWhileQueued: a stream the client resets while it waits
// for a backend slot (max_conn) frees nothing twice and takes nothing
// from the streams after it: the slot it is granted later goes back, and
// the next streams are served.
func TestH2LoopResetWhileQueued(t *testing.T) {
	skipOnGoroutines(t)
	checkGoroutines(t)
	release := make(chan struct{})
	r, h := startH2c(t, release, func(cfg *config.Service) { cfg.Backends[0].MaxConn = 1 })
	h.request(1, "GET", "/hang", true)
	r.waitStats(t, "the slot taken", func(s ServiceStats) bool { return s.Backends[0].Active == 1 })
	h.request(3, "GET", "/fast", true) // queues
	r.waitStats(t, "stream 3 queued", func(s ServiceStats) bool { return s.Queued == 1 })
	h.fr.WriteRSTStream(3, http2.ErrCodeCancel)
	for id := uint32(5); id <= 11; id += 2 {
		h.request(id, "GET", "/fast", true) // queue behind, reusing ended streams
	}
	close(release)
	h.until("streams 1, 5 to 11", 5*time.Second, func() bool {
		return h.ended[1] && h.ended[5] && h.ended[7] && h.ended[9] && h.ended[11]
	})
	for id := uint32(5); id <= 11; id += 2 {
		if h.status[id] != 200 || string(h.body[id]) != "fast 0" {
			t.Errorf("stream %d: %d %q", id, h.status[id], h.body[id])
		}
	}
	if h.status[3] != 0 {
		t.Errorf("the reset stream was answered: %d", h.status[3])
	}
	r.waitStats(t, "the slot given back", func(s ServiceStats) bool { return s.Backends[0].Active == 0 && s.Queued == 0 })
}

func TestAppendH2Head(t *testing.T) {
	fields := func(kv ...string) []hpack.HeaderField {
		var f []hpack.HeaderField
		for i := 0; i < len(kv); i += 2 {
			f = append(f, hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		return f
	}
	for _, tc := range []struct {
		name    string
		r       h2.Request
		end     bool
		want    string
		chunked bool
	}{
		{"get", h2.Request{Method: "GET", Path: "/a?b", Authority: "x.example", ContentLength: -1, Fields: fields("user-agent", "t", "x-a-b", "1")}, true,
			"GET /a?b HTTP/1.1\r\nHost: x.example\r\nUser-Agent: t\r\nX-A-B: 1\r\n\r\n", false},
		{"host field without :authority", h2.Request{Method: "GET", Path: "/", ContentLength: -1, Fields: fields("host", "h")}, true,
			"GET / HTTP/1.1\r\nHost: h\r\n\r\n", false},
		{":authority wins over host", h2.Request{Method: "GET", Path: "/", Authority: "a", ContentLength: -1, Fields: fields("host", "h")}, true,
			"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"cookie crumbs joined", h2.Request{Method: "GET", Path: "/", Authority: "a", ContentLength: -1, Fields: fields("cookie", "a=1", "accept", "*/*", "cookie", "b=2")}, true,
			"GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nCookie: a=1; b=2\r\n\r\n", false},
		{"length", h2.Request{Method: "POST", Path: "/", Authority: "a", ContentLength: 5, Fields: fields("content-length", "5", "te", "trailers")}, false,
			"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", false},
		{"no length, a body", h2.Request{Method: "POST", Path: "/", Authority: "a", ContentLength: -1, Fields: fields("trailer", "x-sum")}, false,
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"no length, no body", h2.Request{Method: "POST", Path: "/", Authority: "a", ContentLength: -1}, true,
			"POST / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	} {
		got, chunked := appendH2Head(nil, &tc.r, tc.end)
		if string(got) != tc.want || chunked != tc.chunked {
			t.Errorf("%s: %q chunked %v, want %q chunked %v", tc.name, got, chunked, tc.want, tc.chunked)
		}
	}
}

func TestH2FieldName(t *testing.T) {
	for in, want := range map[string]string{
		"Content-Type": "content-type", "SERVER": "server", "X-Custom-Thing": "x-custom-thing",
		strings.Repeat("A", 40): strings.Repeat("a", 40), "date": "date",
	} {
		if got := h2FieldName([]byte(in)); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { h2FieldName([]byte("Content-Type")) }); n != 0 {
		t.Errorf("a common name allocates %v times", n)
	}
}

// TestH2LoopRapidReset: a client that opens streams and resets them at
// once (CVE-2023-44487) is closed with ENHANCE_YOUR_CALM once it has
// spent its budget, instead of starting requests at the backend forever.
func TestH2LoopRapidReset(t *testing.T) {
	skipOnGoroutines(t)
	checkGoroutines(t)
	r, h := startH2c(t, nil, nil)
	// 1000 streams opened and reset, written from another goroutine while
	// this one reads (the server closes before it has read them all).
	var flood bytes.Buffer
	fr := http2.NewFramer(&flood, nil)
	for id := uint32(1); id < 2*1000; id += 2 {
		h.hb.Reset()
		for _, f := range h2Fields("GET", "/fast") {
			h.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.hb.Bytes(), EndStream: true, EndHeaders: true})
		fr.WriteRSTStream(id, http2.ErrCodeCancel)
	}
	go h.c.Write(flood.Bytes())
	h.until("GOAWAY", 10*time.Second, func() bool { return h.goAway != nil })
	if h.goAway.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("GOAWAY %v, want ENHANCE_YOUR_CALM", h.goAway.ErrCode)
	}
	st := r.waitStats(t, "the connection gone", func(s ServiceStats) bool { return s.Active == 0 })
	var n uint64
	for _, c := range st.HTTP.Requests {
		n += c
	}
	if n > 400 {
		t.Errorf("%d requests booked before the connection closed, the budget is %d resets", n, resetBurst)
	}
}
