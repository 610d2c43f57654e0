package proxy

import (
	"bufio"
	"bytes"
	"testing"
)

// FuzzHTTPHead: the head parser never panics, and what it accepts keeps
// its spans inside the head.
func FuzzHTTPHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /a?b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close, X-A\r\nX-A: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.0 101\r\nUpgrade: x\r\n\r\n",
		"\r\nGET / HTTP/1.0\n\n",
		"GET / HTTP/1.1\r\nHost: [::1]:80\r\nCookie: a=1; SRV=x\r\n\r\n",
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, request bool) {
		var h httpHead
		br := bufio.NewReaderSize(bytes.NewReader(data), 64)
		if err := h.read(br, request); err != nil {
			return
		}
		for _, f := range h.fields {
			_ = h.bytes(f.name)
			_ = h.bytes(f.value)
		}
		if request {
			_ = h.path()
			_ = h.hostName()
			_ = h.cookie("SRV")
			_ = h.idempotent()
		} else {
			_ = h.bytes(h.statusText)
		}
	})
}

func TestChunkSize(t *testing.T) {
	for line, want := range map[string]int64{"0\r\n": 0, "1a\r\n": 26, "FF;x=y\r\n": 255, "10 \r\n": 16} {
		if n, ok := chunkSize([]byte(line)); !ok || n != want {
			t.Errorf("%q: %d %v", line, n, ok)
		}
	}
	for _, bad := range []string{"\r\n", "x\r\n", "-1\r\n", "1234567890abcdef0\r\n"} {
		if _, ok := chunkSize([]byte(bad)); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}
