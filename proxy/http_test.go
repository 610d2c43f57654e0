package proxy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/config"
)

// httpTestBackend is a net/http server on loopback that counts accepted
// TCP connections.
type httpTestBackend struct {
	*httptest.Server
	addr    string
	accepts atomic.Int64
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func startHTTPBackend(t testing.TB, h http.Handler) *httpTestBackend {
	t.Helper()
	b := &httpTestBackend{}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = countingListener{srv.Listener, &b.accepts}
	srv.Start()
	b.Server = srv
	b.addr = srv.Listener.Addr().String()
	t.Cleanup(srv.Close)
	return b
}

func nameHandler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, name)
	})
}

func httpCfg(backends ...string) config.Service {
	cfg := baseCfg(backends...)
	cfg.Protocol = "http"
	cfg.Timeouts.HTTPRequest = config.Duration(2 * time.Second)
	cfg.Timeouts.HTTPKeepAlive = config.Duration(5 * time.Second)
	return cfg
}

// httpClient is a keep-alive client for the service at addr.
func httpClient(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(t testing.TB, c *http.Client, url string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// rawRequest writes req on a new connection and returns the response head
// and body read until close.
func rawRequest(t testing.TB, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, req)
	s, _ := readAll(c)
	return s
}

func TestHTTPRoundRobinKeepAlive(t *testing.T) {
	checkGoroutines(t)
	a := startHTTPBackend(t, nameHandler("a"))
	b := startHTTPBackend(t, nameHandler("b"))
	r := startService(t, httpCfg(a.addr, b.addr))
	c := httpClient(t)
	seen := map[string]int{}
	const n = 20
	for range n {
		code, body, _ := get(t, c, "http://"+r.addr+"/x")
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		seen[body]++
	}
	if seen["a"] != n/2 || seen["b"] != n/2 {
		t.Errorf("round robin: %v", seen)
	}
	if got := r.Stats().Total; got != 1 {
		t.Errorf("client connections: %d, want 1 (keep-alive)", got)
	}
	if acc := a.accepts.Load() + b.accepts.Load(); acc >= n/2 {
		t.Errorf("backend connections: %d for %d requests: no reuse", acc, n)
	} else {
		t.Logf("%d backend connections for %d requests", acc, n)
	}
}

func TestHTTPChunkedStreaming(t *testing.T) {
	checkGoroutines(t)
	release := make(chan struct{})
	be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			io.WriteString(w, "first")
			w.(http.Flusher).Flush()
			<-release
			io.WriteString(w, "second")
			return
		}
		// echo the body, chunked (net/http's server is not full duplex:
		// read it all first)
		if len(r.TransferEncoding) == 0 || r.TransferEncoding[0] != "chunked" {
			http.Error(w, "not chunked", 400)
			return
		}
		b, _ := io.ReadAll(r.Body)
		for len(b) > 0 {
			n := min(len(b), 7)
			w.Write(b[:n])
			w.(http.Flusher).Flush()
			b = b[n:]
		}
	}))
	r := startService(t, httpCfg(be.addr))
	c := httpClient(t)

	// chunked request body, chunked response
	pr, pw := io.Pipe()
	go func() {
		for i := range 50 {
			fmt.Fprintf(pw, "line %d\n", i)
		}
		pw.Close()
	}()
	resp, err := c.Post("http://"+r.addr+"/echo", "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var want strings.Builder
	for i := range 50 {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	if resp.StatusCode != 200 || string(body) != want.String() {
		t.Fatalf("echo: %d %q", resp.StatusCode, body)
	}
	if len(resp.TransferEncoding) == 0 {
		t.Errorf("response not chunked")
	}

	// the first chunk arrives before the backend finishes
	resp, err = c.Get("http://" + r.addr + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	got := make(chan error, 1)
	go func() { _, err := io.ReadFull(resp.Body, buf); got <- err }()
	select {
	case err := <-got:
		if err != nil || string(buf) != "first" {
			t.Fatalf("first chunk: %q %v", buf, err)
		}
	case <-time.After(3 * time.Second):
		close(release)
		t.Fatal("first chunk held back by the proxy")
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(rest) != "second" {
		t.Errorf("rest %q", rest)
	}
}

func TestHTTPLargeBodies(t *testing.T) {
	checkGoroutines(t)
	const size = 8 << 20
	payload := make([]byte, size)
	rand.Read(payload)
	sum := sha256.Sum256(payload)
	be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			w.Header().Set("Content-Length", fmt.Sprint(size))
			w.Write(payload)
			return
		}
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	}))
	r := startService(t, httpCfg(be.addr))
	c := httpClient(t)
	resp, err := c.Post("http://"+r.addr+"/up", "application/octet-stream", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("%d %x", size, sum); string(body) != want {
		t.Fatalf("upload: got %q want %q", body, want)
	}
	resp, err = c.Get("http://" + r.addr + "/down")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || n != size || !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatalf("download: %d bytes, err %v, hash %s", n, err, hex.EncodeToString(h.Sum(nil)))
	}
}

func TestHTTPForwardedHeaders(t *testing.T) {
	checkGoroutines(t)
	be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "xff=%s|proto=%s|host=%s|conn=%s|ka=%s|via=%s",
			strings.Join(r.Header.Values("X-Forwarded-For"), ";"), r.Header.Get("X-Forwarded-Proto"),
			r.Header.Get("X-Forwarded-Host"), r.Header.Get("Connection"), r.Header.Get("Keep-Alive"), r.Header.Get("Via"))
	}))
	cfg := httpCfg(be.addr)
	cfg.ForwardedHeaders = true
	r := startService(t, cfg)
	c := httpClient(t)
	_, body, _ := get(t, c, "http://"+r.addr+"/", "X-Forwarded-For", "1.2.3.4", "Host", "www.example.com", "Keep-Alive", "timeout=5", "X-Forwarded-Proto", "https")
	want := "xff=1.2.3.4, 127.0.0.1|proto=http|host=www.example.com|conn=|ka=|via="
	if body != want {
		t.Errorf("got  %s\nwant %s", body, want)
	}
	_, body, _ = get(t, c, "http://"+r.addr+"/")
	if !strings.HasPrefix(body, "xff=127.0.0.1|") {
		t.Errorf("without XFF: %s", body)
	}
}

func TestHTTPErrors(t *testing.T) {
	checkGoroutines(t)
	slow := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "ok")
	}))
	cfg := httpCfg(slow.addr)
	cfg.Timeouts.Server = config.Duration(300 * time.Millisecond)
	r := startService(t, cfg)

	big := "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("a", 1000)+"\r\n", 40) + "\r\n"
	if got := rawRequest(t, r.addr, big); !strings.HasPrefix(got, "HTTP/1.1 431 ") {
		t.Errorf("too large: %q", got)
	}
	long := "GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + strings.Repeat("a", 9000) + "\r\n\r\n"
	if got := rawRequest(t, r.addr, long); !strings.HasPrefix(got, "HTTP/1.1 431 ") {
		t.Errorf("long line: %q", got)
	}
	for _, bad := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n", // no Host
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
		"GET / FTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
	} {
		if got := rawRequest(t, r.addr, bad); !strings.HasPrefix(got, "HTTP/1.1 400 ") || !strings.Contains(got, "Bad Request") {
			t.Errorf("%q: %q", bad, got)
		}
	}
	if got := rawRequest(t, r.addr, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 504 ") {
		t.Errorf("slow backend: %q", got)
	}
	if got := rawRequest(t, r.addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.HasSuffix(got, "ok") {
		t.Errorf("good request: %q", got)
	}

	r.SetBackendUp(slow.addr, false, "test")
	got := rawRequest(t, r.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 503 ") || !strings.Contains(got, "service t") {
		t.Errorf("no backend: %q", got)
	}

	dead := startService(t, httpCfg(deadAddr(t)))
	got = rawRequest(t, dead.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 502 ") || !strings.Contains(got, "502 Bad Gateway (service t)") || strings.Contains(got, "refused") {
		t.Errorf("dead backend: %q", got)
	}
}

func TestHTTPRetry(t *testing.T) {
	checkGoroutines(t)
	live := startHTTPBackend(t, nameHandler("live"))
	cfg := httpCfg(deadAddr(t), live.addr)
	cfg.Retries = 1
	r := startService(t, cfg)
	c := httpClient(t)
	for range 4 {
		if code, body, _ := get(t, c, "http://"+r.addr+"/"); code != 200 || body != "live" {
			t.Fatalf("GET: %d %q", code, body)
		}
	}
	st := r.Stats()
	if st.Retries == 0 {
		t.Errorf("no retries counted: %+v", st)
	}
	// A connect that fails sent nothing: a POST is retried on another
	// backend as well (HAProxy's retries and redispatch), its body
	// untouched until a connection is there.
	before := st.Retries
	for range 4 {
		resp, err := c.Post("http://"+r.addr+"/", "text/plain", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "live" {
			t.Errorf("POST: %d %q", resp.StatusCode, b)
		}
	}
	if after := r.Stats().Retries; after == before {
		t.Errorf("POST not retried: %d -> %d", before, after)
	}
}

func TestHTTPRoutes(t *testing.T) {
	checkGoroutines(t)
	api := startHTTPBackend(t, nameHandler("api"))
	img := startHTTPBackend(t, nameHandler("img"))
	def := startHTTPBackend(t, nameHandler("default"))
	cfg := httpCfg(def.addr)
	cfg.Routes = []config.Route{
		{Hosts: []string{"api.example.com"}, Backends: []config.Backend{{Address: api.addr, Weight: 1}}},
		{Hosts: []string{"*.static.example.com"}, PathPrefix: "/img/", Backends: []config.Backend{{Address: img.addr, Weight: 1}}},
		{PathPrefix: "/api/", Backends: []config.Backend{{Address: api.addr, Weight: 1}}},
	}
	r := startService(t, cfg)
	c := httpClient(t)
	u := "http://" + r.addr
	for _, tc := range []struct{ host, path, want string }{
		{"api.example.com", "/", "api"},
		{"API.Example.com:8080", "/x", "api"},
		{"a.static.example.com", "/img/1.png", "img"},
		{"a.static.example.com", "/css/1.css", "default"},
		{"static.example.com", "/img/1.png", "default"},
		{"other", "/api/v1", "api"},
		{"other", "/", "default"},
	} {
		if _, body, _ := get(t, c, u+tc.path, "Host", tc.host); body != tc.want {
			t.Errorf("%s%s: %q, want %q", tc.host, tc.path, body, tc.want)
		}
	}
	// a check verdict reaches every group with the address
	r.SetBackendUp(api.addr, false, "test")
	if code, _, _ := get(t, c, u+"/", "Host", "api.example.com"); code != 503 {
		t.Errorf("api down, host route: %d", code)
	}
	if code, _, _ := get(t, c, u+"/api/v1", "Host", "other"); code != 503 {
		t.Errorf("api down, path route: %d", code)
	}
	r.SetBackendUp(api.addr, true, "test")
	if _, body, _ := get(t, c, u+"/api/v1", "Host", "other"); body != "api" {
		t.Errorf("api back up: %q", body)
	}
}

func TestHTTPSticky(t *testing.T) {
	checkGoroutines(t)
	a := startHTTPBackend(t, nameHandler("a"))
	b := startHTTPBackend(t, nameHandler("b"))
	cfg := httpCfg(a.addr, b.addr)
	cfg.Sticky = &config.Sticky{Cookie: "SRV", MaxAge: config.Duration(time.Hour)}
	r := startService(t, cfg)
	c := httpClient(t)
	u := "http://" + r.addr + "/"
	_, first, h := get(t, c, u)
	sc := h.Get("Set-Cookie")
	if !strings.HasPrefix(sc, "SRV=") || !strings.Contains(sc, "Max-Age=3600") || strings.Contains(sc, a.addr) {
		t.Fatalf("Set-Cookie %q", sc)
	}
	cookie := strings.SplitN(sc, ";", 2)[0]
	for range 6 {
		_, body, h := get(t, c, u, "Cookie", "x=1; "+cookie)
		if body != first {
			t.Fatalf("sticky: %q then %q", first, body)
		}
		if h.Get("Set-Cookie") != "" {
			t.Errorf("cookie set again")
		}
	}
	// the pinned backend goes down: the request goes elsewhere, with a new cookie
	pinned := a.addr
	if first == "b" {
		pinned = b.addr
	}
	r.SetBackendUp(pinned, false, "test")
	_, body, h := get(t, c, u, "Cookie", cookie)
	if body == first || h.Get("Set-Cookie") == "" {
		t.Errorf("pinned backend down: served by %q, Set-Cookie %q", body, h.Get("Set-Cookie"))
	}
}

func TestHTTPWebSocket(t *testing.T) {
	checkGoroutines(t)
	be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" || r.Header.Get("Connection") != "Upgrade" {
			http.Error(w, "no upgrade", 400)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		buf := make([]byte, 100)
		for {
			n, err := brw.Read(buf)
			if n > 0 {
				c.Write(bytes.ToUpper(buf[:n]))
			}
			if err != nil {
				return
			}
		}
	}))
	r := startService(t, httpCfg(be.addr))
	c := r.dial(t)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nhello")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "HELLO" {
		t.Fatalf("echo of early bytes: %q %v", buf, err)
	}
	io.WriteString(c, "again")
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "AGAIN" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	c.Close()
	r.waitStats(t, "tunnel closed", func(st ServiceStats) bool { return st.Active == 0 && st.Backends[0].Active == 0 })
}

func TestHTTPSlowloris(t *testing.T) {
	checkGoroutines(t)
	be := startHTTPBackend(t, nameHandler("ok"))
	cfg := httpCfg(be.addr)
	cfg.Timeouts.HTTPRequest = config.Duration(300 * time.Millisecond)
	r := startService(t, cfg)
	slow := r.dial(t)
	io.WriteString(slow, "GET / HTTP/1.1\r\nHost: x\r\nX-A: ")
	start := time.Now()
	// another client is served meanwhile
	c := httpClient(t)
	for range 3 {
		if code, body, _ := get(t, c, "http://"+r.addr+"/"); code != 200 || body != "ok" {
			t.Fatalf("other client: %d %q", code, body)
		}
	}
	// the slow one keeps trickling but its head time runs out
	for range 5 {
		io.WriteString(slow, "a")
		time.Sleep(50 * time.Millisecond)
	}
	got, _ := readAll(slow)
	if !strings.HasPrefix(got, "HTTP/1.1 408 ") {
		t.Errorf("slow client got %q", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("slow client closed after %s", d)
	}
}

func TestHTTPKeepAliveIdleTimeout(t *testing.T) {
	checkGoroutines(t)
	be := startHTTPBackend(t, nameHandler("ok"))
	cfg := httpCfg(be.addr)
	cfg.Timeouts.HTTPKeepAlive = config.Duration(200 * time.Millisecond)
	r := startService(t, cfg)
	c := r.dial(t)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("idle keep-alive connection: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("closed after %s", d)
	}
}

// TestHTTPPipelineAndHTTP10: pipelined requests are answered in order;
// an HTTP/1.0 client gets its answer and a close.
func TestHTTPPipelineAndHTTP10(t *testing.T) {
	checkGoroutines(t)
	be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	r := startService(t, httpCfg(be.addr))
	got := rawRequest(t, r.addr, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if strings.Count(got, "HTTP/1.1 200") != 3 || !strings.Contains(got, "/1") || !strings.HasSuffix(got, "/3") {
		t.Errorf("pipelined: %q", got)
	}
	got = rawRequest(t, r.addr, "GET /old HTTP/1.0\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200") || !strings.HasSuffix(got, "/old") {
		t.Errorf("HTTP/1.0: %q", got)
	}
}

func TestHTTPDrain(t *testing.T) {
	checkGoroutines(t)
	var wg sync.WaitGroup
	be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
		io.WriteString(w, "done")
	}))
	r := startService(t, httpCfg(be.addr))
	idle := r.dial(t) // an idle keep-alive client is closed at once
	busy := r.dial(t)
	io.WriteString(busy, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	r.waitStats(t, "two clients", func(st ServiceStats) bool { return st.Active == 2 && st.Backends[0].Active == 1 })
	wg.Go(func() { r.stop(t) })
	got, _ := readAll(busy)
	if !strings.HasPrefix(got, "HTTP/1.1 200") || !strings.HasSuffix(got, "done") || !strings.Contains(got, "Connection: close") {
		t.Errorf("in-flight request during stop: %q", got)
	}
	expectClosed(t, idle, 2*time.Second)
	wg.Wait()
}

// rawHeadBackend reads one request head per round and answers with resp;
// it reports each request head on heads. With once it closes after the
// first answer, without saying so (a backend dropping idle connections).
func rawHeadBackend(resp string, once bool, heads chan<- string) func(net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			var head strings.Builder
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				head.WriteString(line)
				if line == "\r\n" {
					break
				}
			}
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head.String())))
			if err == nil && req.ContentLength > 0 {
				io.CopyN(io.Discard, br, req.ContentLength)
			}
			if heads != nil {
				heads <- head.String()
			}
			io.WriteString(c, resp)
			if once {
				return
			}
		}
	}
}

func TestHTTPHopByHop(t *testing.T) {
	checkGoroutines(t)
	heads := make(chan string, 4)
	be := startBackend(t, rawHeadBackend("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\nConnection: X-Secret\r\nX-Secret: 1\r\nX-Kept: 1\r\n\r\nok", false, heads))
	r := startService(t, httpCfg(be.addr))
	got := rawRequest(t, r.addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\nTE: trailers\r\nKeep-Alive: 1\r\nProxy-Connection: keep-alive\r\nX-End: 1\r\n\r\n")
	head := <-heads
	for _, bad := range []string{"X-Hop", "Te:", "Keep-Alive", "Proxy-Connection", "Connection"} {
		if strings.Contains(head, bad) {
			t.Errorf("request to backend has %s:\n%s", bad, head)
		}
	}
	if !strings.Contains(head, "X-End: 1") || !strings.HasPrefix(head, "GET / HTTP/1.1\r\n") {
		t.Errorf("request to backend:\n%s", head)
	}
	for _, bad := range []string{"Keep-Alive", "X-Secret"} {
		if strings.Contains(got, bad) {
			t.Errorf("response has %s:\n%s", bad, got)
		}
	}
	if !strings.Contains(got, "X-Kept: 1") || !strings.Contains(got, "Connection: close") || !strings.HasSuffix(got, "ok") {
		t.Errorf("response:\n%s", got)
	}
}

func TestHTTPChunkedTrailersAndExpect(t *testing.T) {
	checkGoroutines(t)
	be := startBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		b, _ := io.ReadAll(req.Body)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n%x\r\n%s\r\n0\r\nX-Sum: %d\r\n\r\n", len(b)+len(req.Trailer.Get("X-T")), string(b)+req.Trailer.Get("X-T"), len(b))
	})
	r := startService(t, httpCfg(be.addr))
	c := r.dial(t)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n")
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	if line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("no 100 Continue: %q", line)
	}
	br.ReadString('\n')
	io.WriteString(c, "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: !\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "abcde!" || resp.Trailer.Get("X-Sum") != "5" {
		t.Errorf("body %q trailer %v", body, resp.Trailer)
	}
}

func TestHTTPStaleBackendConnection(t *testing.T) {
	checkGoroutines(t)
	be := startBackend(t, rawHeadBackend("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true, nil))
	r := startService(t, httpCfg(be.addr))
	c := httpClient(t)
	for i := range 5 {
		if code, body, _ := get(t, c, "http://"+r.addr+"/"); code != 200 || body != "ok" {
			t.Fatalf("GET %d: %d %q", i, code, body)
		}
		time.Sleep(10 * time.Millisecond) // let the backend's close arrive
	}
}

func TestHTTPBackendDownClosesIdle(t *testing.T) {
	checkGoroutines(t)
	closed := make(chan struct{}, 1)
	be := startBackend(t, func(c net.Conn) {
		rawHeadBackend("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, nil)(c)
		closed <- struct{}{}
	})
	r := startService(t, httpCfg(be.addr))
	if got := rawRequest(t, r.addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); !strings.HasSuffix(got, "ok") {
		t.Fatalf("GET: %q", got)
	}
	select {
	case <-closed:
		t.Fatal("backend connection not kept idle")
	case <-time.After(50 * time.Millisecond):
	}
	r.SetBackendUp(be.addr, false, "test")
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatal("idle connection to a down backend not closed")
	}
}

func TestHTTPEarlyResponseAndBadChunks(t *testing.T) {
	checkGoroutines(t)
	// answers 413 at once and closes without reading the body
	be := startBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbig")
		c.(*net.TCPConn).CloseWrite()
		time.Sleep(100 * time.Millisecond)
	})
	r := startService(t, httpCfg(be.addr))
	c := httpClient(t)
	resp, err := c.Post("http://"+r.addr+"/", "application/octet-stream", bytes.NewReader(make([]byte, 32<<20)))
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 413 || string(body) != "big" {
			t.Errorf("early answer: %d %q", resp.StatusCode, body)
		}
	} else {
		t.Logf("client saw %v (the reset can beat the answer)", err)
	}
	got := rawRequest(t, r.addr, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 400 ") {
		t.Errorf("bad chunk size: %q", got)
	}
}

func TestHTTPBalanceURIAndMaxConn(t *testing.T) {
	checkGoroutines(t)
	a := startHTTPBackend(t, nameHandler("a"))
	b := startHTTPBackend(t, nameHandler("b"))
	cfg := httpCfg(a.addr, b.addr)
	cfg.Balance = "uri"
	r := startService(t, cfg)
	c := httpClient(t)
	seen := map[string]bool{}
	for i := range 20 {
		path := fmt.Sprintf("/p%d", i)
		_, first, _ := get(t, c, "http://"+r.addr+path)
		_, again, _ := get(t, c, "http://"+r.addr+path+"?q=1")
		if first != again {
			t.Errorf("uri %s: %s then %s", path, first, again)
		}
		seen[first] = true
	}
	if len(seen) != 2 {
		t.Errorf("uri hashing used %v", seen)
	}

	// max_conn 1: concurrent requests queue for the slot, all succeed
	slow := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
		io.WriteString(w, "ok")
	}))
	cfg = httpCfg(slow.addr)
	cfg.Backends[0].MaxConn = 1
	r2 := startService(t, cfg)
	var wg sync.WaitGroup
	var okCount atomic.Int64
	for range 4 {
		wg.Go(func() {
			if got := rawRequest(t, r2.addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); strings.HasSuffix(got, "ok") {
				okCount.Add(1)
			}
		})
	}
	wg.Wait()
	if okCount.Load() != 4 {
		t.Errorf("%d of 4 queued requests served", okCount.Load())
	}
	if n := slow.accepts.Load(); n != 1 {
		t.Errorf("max_conn 1 backend saw %d connections", n)
	}
}

func TestHTTPProxyProtocolAccept(t *testing.T) {
	checkGoroutines(t)
	be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Forwarded-For"))
	}))
	cfg := httpCfg(be.addr)
	cfg.ForwardedHeaders = true
	cfg.ProxyProtocol.Accept = true
	r := startService(t, cfg)
	got := rawRequest(t, r.addr, "PROXY TCP4 10.1.2.3 10.0.0.1 1234 80\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !strings.HasSuffix(got, "\r\n\r\n10.1.2.3") {
		t.Errorf("XFF from PROXY header: %q", got)
	}
	if got := rawRequest(t, r.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); got != "" {
		t.Errorf("no PROXY header: %q", got)
	}
	cfg.ProxyProtocol = config.ProxyProtocol{Send: "v2"}
	if _, err := NewService(cfg, nil); err == nil {
		t.Error("proxy_protocol.send accepted for http")
	}
}
