package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The request-smuggling vectors HAProxy refuses or rewrites, each sent on
// every path: raw HTTP/1.1 bytes to a service on the event loops and one
// on goroutines, and, where HTTP/2 can carry the vector at all, raw
// HTTP/2 frames to an h2c service. A recording backend answers with the
// bytes it received, so a test sees what was forwarded, not only what the
// client got.

// recorder is a backend that answers each request with the exact bytes
// of it that reached it: its head, and its body as framed (it reads
// chunked bodies strictly, as vigil must have re-framed them). answered,
// when not nil, counts the requests it took whole.
func recorder(t testing.TB, answered *atomic.Int64) *testBackend {
	return startBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			var head bytes.Buffer
			chunked, length := false, 0
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				head.WriteString(line)
				if line == "\r\n" {
					break
				}
				name, value, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
				switch strings.ToLower(name) {
				case "transfer-encoding":
					chunked = true
				case "content-length":
					length, _ = strconv.Atoi(strings.TrimSpace(value))
				}
			}
			got := head.String()
			switch {
			case chunked:
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					got += line
					size, err := strconv.ParseInt(strings.TrimRight(line, "\r\n"), 16, 64)
					if err != nil {
						got += "<not canonical>"
						break
					}
					if size == 0 {
						for {
							line, err := br.ReadString('\n')
							if err != nil {
								return
							}
							got += line
							if line == "\r\n" {
								break
							}
						}
						break
					}
					data := make([]byte, size+2)
					if _, err := io.ReadFull(br, data); err != nil {
						return
					}
					got += string(data)
				}
			case length > 0:
				data := make([]byte, length)
				if _, err := io.ReadFull(br, data); err != nil {
					return
				}
				got += string(data)
			}
			if answered != nil {
				answered.Add(1)
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(got), got)
		}
	})
}

// h1Raw sends raw bytes on a new connection and returns the status of the
// answer and its body (what the recorder saw), or status 0.
func h1Raw(t *testing.T, addr, req string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, req)
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || len(line) < 12 {
		return 0, ""
	}
	status, _ := strconv.Atoi(line[9:12])
	length := -1
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return status, ""
		}
		if l == "\r\n" {
			break
		}
		if n, v, _ := strings.Cut(strings.TrimRight(l, "\r\n"), ":"); strings.EqualFold(n, "content-length") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if length < 0 {
		return status, ""
	}
	body := make([]byte, length)
	io.ReadFull(br, body)
	return status, string(body)
}

// h2Raw sends one request on a new h2c connection as raw frames, with the
// header fields exactly as given (pseudo-headers first), and returns the
// response's status and body; status 0 with the error when the stream or
// connection was reset instead.
func h2Raw(t *testing.T, addr string, fields [][2]string, body []byte) (int, string, error) {
	return h2Send(t, addr, fields, body, false)
}

// h2RawTrailers is h2Raw with a body sent without a length, then a
// trailer section.
func h2RawTrailers(t *testing.T, addr string, fields [][2]string, body []byte, trailers ...[2]string) (int, string, error) {
	return h2Send(t, addr, fields, body, true, trailers...)
}

// h2Send sends the request of h2Raw; with withTrailers, the body is
// followed by a HEADERS frame of trailers that ends the stream.
func h2Send(t *testing.T, addr string, fields [][2]string, body []byte, withTrailers bool, trailers ...[2]string) (int, string, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	block := func(fs [][2]string) []byte {
		hb.Reset()
		for _, f := range fs {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		return hb.Bytes()
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(fields), EndStream: body == nil && !withTrailers, EndHeaders: true})
	if body != nil {
		fr.WriteData(1, !withTrailers, body)
	}
	if withTrailers {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(trailers), EndStream: true, EndHeaders: true})
	}
	status := 0
	var got []byte
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return status, string(got), err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == 1 {
				if s, err := strconv.Atoi(f.PseudoValue("status")); err == nil && s >= 200 {
					status = s
				}
				if f.StreamEnded() {
					return status, string(got), nil
				}
			}
		case *http2.DataFrame:
			if f.StreamID == 1 {
				got = append(got, f.Data()...)
				if f.StreamEnded() {
					return status, string(got), nil
				}
			}
		case *http2.RSTStreamFrame:
			return 0, string(got), fmt.Errorf("stream reset: %v", f.ErrCode)
		case *http2.GoAwayFrame:
			return 0, string(got), fmt.Errorf("connection closed: %v", f.ErrCode)
		}
	}
}

// h2Fields is a GET to host x with extra fields.
func h2Fields(method, path string, extra ...[2]string) [][2]string {
	return append([][2]string{{":method", method}, {":scheme", "http"}, {":authority", "x"}, {":path", path}}, extra...)
}

// TestHTTPSmugglingVectorsRefused: requests a backend could read another
// way than vigil are refused on every path. A refused head reaches no
// backend; a body refused as it streams (its head went ahead, as in
// HAProxy) is cut off before its bad bytes, so the backend never takes a
// whole request.
func TestHTTPSmugglingVectorsRefused(t *testing.T) {
	checkGoroutines(t)
	var answered atomic.Int64
	rec := recorder(t, &answered)
	p := startPathServices(t, httpCfg(rec.addr))
	const post = "POST / HTTP/1.1\r\nHost: x\r\n"
	for _, tc := range []struct {
		name, req string
		want      int
		body      bool // refused in the body, once the head went ahead
	}{
		{"junk after a chunk size", post + "Transfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n", 400, true},
		{"bare CR in a chunk extension", post + "Transfer-Encoding: chunked\r\n\r\n5;a\rb\r\nhello\r\n0\r\n\r\n", 400, true},
		{"bare LF after a chunk size", post + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400, true},
		{"bare LF after chunk data", post + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 400, true},
		{"a request line as a trailer", post + "Transfer-Encoding: chunked\r\n\r\n0\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n", 400, true},
		{"chunked, chunked", post + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400, false},
		{"absolute-form authority differs from Host", "GET http://other.example/ HTTP/1.1\r\nHost: x\r\n\r\n", 400, false},
		{"target byte 0x80", "GET /\x80 HTTP/1.1\r\nHost: x\r\n\r\n", 400, false},
		{"target fragment", "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400, false},
		{"broken percent-encoding", "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, false},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, false},
		{"different Content-Lengths", post + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, false},
		{"102 fields", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: 1\r\n", 101) + "\r\n", 431, false},
		{"CONNECT", "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", 501, false},
	} {
		answeredBefore := answered.Load()
		for name, svc := range map[string]*running{"loop": p.loop, "goroutine": p.goroutine} {
			// The proxy's own count of backend connections: it moves
			// before the client could hear anything, unlike what the
			// backend's goroutines count.
			before := svc.Stats().Backends[0].Total
			if st, _ := h1Raw(t, svc.addr, tc.req); st != tc.want {
				t.Errorf("%s, %s: status %d, want %d", tc.name, name, st, tc.want)
			}
			if n := svc.Stats().Backends[0].Total - before; n != 0 && !tc.body {
				t.Errorf("%s, %s: %d connections reached the backend", tc.name, name, n)
			}
		}
		if n := answered.Load() - answeredBefore; n != 0 {
			t.Errorf("%s: the backend took %d whole requests", tc.name, n)
		}
	}
	// What HTTP/2 can carry of them. The stream must be refused (by
	// vigil's status, or by the HTTP/2 server's reset) and reach nothing.
	for _, tc := range []struct {
		name   string
		fields [][2]string
		want   int // 0: a reset is fine too
	}{
		{"target byte 0x80", h2Fields("GET", "/\x80"), 0}, // proxy/h2 resets it: not visible ASCII
		{"target fragment", h2Fields("GET", "/a#b"), 400},
		{"broken percent-encoding", h2Fields("GET", "/a%zz"), 0},
		{"102 fields", h2Fields("GET", "/", repeatField("x-a", "1", 102)...), 431},
		{"transfer-encoding: chunked, chunked", h2Fields("POST", "/", [2]string{"transfer-encoding", "chunked, chunked"}), 0},
		{"upgrade: h2c", h2Fields("GET", "/", [2]string{"upgrade", "h2c"}), 0},
		{"connection option", h2Fields("GET", "/", [2]string{"connection", "x-a"}, [2]string{"x-a", "1"}), 0},
	} {
		before := p.h2.Stats().Backends[0].Total
		st, _, err := h2Raw(t, p.h2.addr, tc.fields, nil)
		if (tc.want != 0 && st != tc.want) || (tc.want == 0 && st != 0 && st != 400) {
			t.Errorf("h2 %s: status %d (%v), want %d", tc.name, st, err, tc.want)
		}
		if n := p.h2.Stats().Backends[0].Total - before; n != 0 {
			t.Errorf("h2 %s: %d connections reached the backend", tc.name, n)
		}
	}
}

func repeatField(name, value string, n int) [][2]string {
	var out [][2]string
	for range n {
		out = append(out, [2]string{name, value})
	}
	return out
}

// TestHTTPSmugglingVectorsRewritten: what is forwarded once made
// unambiguous reaches the backend in its one canonical form, on every
// path.
func TestHTTPSmugglingVectorsRewritten(t *testing.T) {
	checkGoroutines(t)
	be := recorder(t, nil)
	cfg := httpCfg(be.addr)
	cfg.ForwardedHeaders = false
	p := startPathServices(t, cfg)
	const post = "POST /p HTTP/1.1\r\nHost: x\r\n"
	for _, tc := range []struct {
		name, req, want string
	}{
		{"chunk extensions dropped, sizes re-written",
			post + "Transfer-Encoding: chunked\r\n\r\n0005;a=b;c=\"d;e\"\r\nhello\r\nA\r\n0123456789\r\n0;x\r\n\r\n",
			post + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\na\r\n0123456789\r\n0\r\n\r\n"},
		{"trailers parsed, framing ones dropped",
			post + "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-Sum: 1\r\nContent-Length: 99\r\nHost: evil\r\n\r\n",
			post + "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-Sum: 1\r\n\r\n"},
		{"equal Content-Lengths merged",
			post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
			post + "Content-Length: 5\r\n\r\nhello"},
		{"a Content-Length list merged",
			post + "Content-Length: 5, 005\r\n\r\nhello",
			post + "Content-Length: 5\r\n\r\nhello"},
		{"Upgrade: h2c stripped",
			"GET /p HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
			"GET /p HTTP/1.1\r\nHost: x\r\n\r\n"},
	} {
		for name, addr := range map[string]string{"loop": p.loop.addr, "goroutine": p.goroutine.addr} {
			st, got := h1Raw(t, addr, tc.req)
			if st != 200 || got != tc.want {
				t.Errorf("%s, %s: %d, the backend got\n%q\nwant\n%q", tc.name, name, st, got, tc.want)
			}
		}
	}
	// HTTP/2: a body of unknown length goes chunked, canonically, with
	// its trailers; equal content-lengths go as one.
	fields := h2Fields("POST", "/p", [2]string{"trailer", "x-sum"})
	st, got, err := h2RawTrailers(t, p.h2.addr, fields, []byte("hello world"), [2]string{"x-sum", "1"})
	if want := "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\nX-Sum: 1\r\n\r\n"; st != 200 || got != want {
		t.Errorf("h2 chunked: %d %v, the backend got\n%q\nwant\n%q", st, err, got, want)
	}
	st, got, err = h2Raw(t, p.h2.addr, h2Fields("POST", "/p", [2]string{"content-length", "5"}, [2]string{"content-length", "5"}), []byte("hello"))
	if want := "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"; st != 0 && (st != 200 || got != want) {
		t.Errorf("h2 equal content-lengths: %d %v, the backend got\n%q\nwant\n%q", st, err, got, want)
	}
	// The authority is :authority's alone: a host field cannot add another.
	st, got, err = h2Raw(t, p.h2.addr, h2Fields("GET", "/p", [2]string{"host", "evil"}), nil)
	if st == 200 && got != "GET /p HTTP/1.1\r\nHost: x\r\n\r\n" {
		t.Errorf("h2 host field: the backend got %q", got)
	} else if st != 200 && st != 400 && err == nil {
		t.Errorf("h2 host field: %d", st)
	}
}

// TestHTTPResponseFraming: a backend's chunked response reaches every
// client re-framed, its extensions gone and its trailers kept; a response
// that could be read two ways never reaches a client as a whole.
func TestHTTPResponseFraming(t *testing.T) {
	checkGoroutines(t)
	responses := map[string]string{
		"/ext":     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n005;a=\"b\"\r\nhello\r\n0;z\r\nX-T: 1\r\nContent-Length: 3\r\n\r\n",
		"/junk":    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n",
		"/barelf":  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
		"/twice":   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
		"/lengths": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
		"/te10":    "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	}
	be := startBackend(t, func(c net.Conn) {
		line, err := readRequestHead(bufio.NewReader(c))
		if err != nil {
			return
		}
		path := strings.Fields(line)[1]
		io.WriteString(c, responses[path])
	})
	p := startPathServices(t, httpCfg(be.addr))
	for name, addr := range map[string]string{"loop": p.loop.addr, "goroutine": p.goroutine.addr} {
		got := exchange(t, addr, []string{"GET /ext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, false)
		if want := "\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"; !strings.HasSuffix(got, want) || !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") {
			t.Errorf("%s: re-framed response %q, want it to end %q", name, got, want)
		}
	}
	a := h2Ask(t, p.h2c, p.h2.addr, pathRequest{method: "GET", target: "/ext"})
	if a.status != 200 || a.body != "hello" || a.trailer.Get("X-T") != "1" || a.trailer.Get("Content-Length") != "" {
		t.Errorf("h2: %s", a)
	}
	for _, path := range []string{"/junk", "/barelf", "/twice", "/lengths", "/te10"} {
		r := pathRequest{method: "GET", target: path}
		for name, addr := range map[string]string{"loop": p.loop.addr, "goroutine": p.goroutine.addr} {
			if a := h1Ask(t, addr, r); a.err == "" && a.status != 502 {
				t.Errorf("%s %s: the client took it whole: %s", name, path, a)
			}
		}
		if a := h2Ask(t, p.h2c, p.h2.addr, r); a.err == "" && a.status != 502 {
			t.Errorf("h2 %s: the client took it whole: %s", path, a)
		}
	}
}

// TestHTTPLateBackendBytes: a backend that sends something after its
// response, on a connection that went back to the idle pool, never gets
// those bytes to the next client: the connection is checked before it is
// reused, on every path.
func TestHTTPLateBackendBytes(t *testing.T) {
	checkGoroutines(t)
	var conns atomic.Int64
	proceed, lateSent := make(chan struct{}), make(chan struct{})
	be := startBackend(t, func(c net.Conn) {
		n := conns.Add(1)
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			line, err := readRequestHead(br)
			if err != nil {
				return
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nc%d/%d", n, i)
			if strings.Contains(line, "/late") {
				// a second response nobody asked for, once the first
				// is the client's and the connection is idle
				select {
				case <-proceed:
				case <-time.After(5 * time.Second):
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nLATE")
				lateSent <- struct{}{}
			}
		}
	})
	p := startPathServices(t, httpCfg(be.addr))
	check := func(name string, ask func(target string) pathAnswer) {
		if a := ask("/late"); a.status != 200 {
			t.Fatalf("%s: first request: %s", name, a)
		}
		proceed <- struct{}{}
		<-lateSent
		a := ask("/next")
		if a.status != 200 || strings.Contains(a.body, "LATE") {
			t.Errorf("%s: the next client got %s", name, a)
		}
	}
	check("loop", func(target string) pathAnswer {
		return h1Ask(t, p.loop.addr, pathRequest{method: "GET", target: target})
	})
	check("goroutine", func(target string) pathAnswer {
		return h1Ask(t, p.goroutine.addr, pathRequest{method: "GET", target: target})
	})
	check("h2", func(target string) pathAnswer {
		return h2Ask(t, p.h2c, p.h2.addr, pathRequest{method: "GET", target: target})
	})
}

// readRequestHead reads a request head, bodiless, as a test backend
// takes it: its request line is returned, its fields skipped.
func readRequestHead(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if l == "\r\n" {
			return line, nil
		}
	}
}
