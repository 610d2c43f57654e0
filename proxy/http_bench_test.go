package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
)

// rawHTTPBackend answers every request on a keep-alive connection with a
// fixed small response, parsing as little as possible, so benchmarks
// measure the proxy rather than the backend.
func rawHTTPBackend(c net.Conn) {
	br := bufio.NewReader(c)
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nhello, world\n")
	for {
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				break
			}
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// httpGetLoop sends n keep-alive GETs on c and reads each response
// (Content-Length framed).
func httpGetLoop(b *testing.B, c net.Conn, n int) {
	req := []byte("GET /index.html HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	br := bufio.NewReader(c)
	body := make([]byte, 64)
	for range n {
		if _, err := c.Write(req); err != nil {
			b.Error(err)
			return
		}
		cl := -1
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Error(err)
				return
			}
			if len(line) <= 2 {
				break
			}
			if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
				cl, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
		}
		if cl < 0 || cl > len(body) {
			b.Errorf("bad response framing %d", cl)
			return
		}
		if _, err := io.ReadFull(br, body[:cl]); err != nil {
			b.Error(err)
			return
		}
	}
}

// BenchmarkHTTPProxy is keep-alive GETs of a small body through the HTTP
// fast path (one op is one request/response); direct is without proxy.
func BenchmarkHTTPProxy(b *testing.B) {
	for _, name := range []string{"proxy", "direct", "reverseproxy"} {
		b.Run(name, func(b *testing.B) {
			be := startBackend(b, rawHTTPBackend)
			addr := be.addr
			switch name {
			case "proxy":
				addr = startService(b, httpCfg(be.addr)).addr
			case "reverseproxy":
				// net/http/httputil for comparison, tuned as in docs/reference.md
				u, _ := url.Parse("http://" + be.addr)
				rp := httputil.NewSingleHostReverseProxy(u)
				tr := &http.Transport{MaxIdleConnsPerHost: 512}
				rp.Transport = tr
				srv := httptest.NewServer(rp)
				b.Cleanup(func() { srv.Close(); tr.CloseIdleConnections() })
				addr = srv.Listener.Addr().String()
			}
			b.Run("seq", func(b *testing.B) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				httpGetLoop(b, c, 10) // warm up
				b.ReportAllocs()
				start := cpuTime()
				b.ResetTimer()
				httpGetLoop(b, c, b.N)
				b.StopTimer()
				reportCPU(b, start)
			})
			b.Run("par16", func(b *testing.B) {
				const conns = 16
				cs := make([]net.Conn, conns)
				for i := range cs {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					httpGetLoop(b, c, 2)
					cs[i] = c
				}
				b.ReportAllocs()
				start := cpuTime()
				b.ResetTimer()
				var wg sync.WaitGroup
				for i, c := range cs {
					n := b.N / conns
					if i < b.N%conns {
						n++
					}
					wg.Go(func() { httpGetLoop(b, c, n) })
				}
				wg.Wait()
				b.StopTimer()
				reportCPU(b, start)
			})
		})
	}
}
