package h2

import (
	"net"
	"sync"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// plainBody is what the test server answers every request with; h2spec
// needs at least 5 bytes to test flow control.
var plainBody = []byte("hello from vigil h2\n")

// answerHandler answers each request with 200 text/plain once the
// request has ended, sending the body as flow control allows.
type answerHandler struct {
	c       *Conn
	pending map[uint32][]byte
}

func newAnswerHandler() *answerHandler {
	return &answerHandler{pending: map[uint32][]byte{}}
}

func (h *answerHandler) Request(id uint32, r *Request, end bool) {
	if end {
		h.answer(id)
	}
}

func (h *answerHandler) Data(id uint32, p []byte, end bool) {
	h.c.Consumed(id, len(p))
	if end {
		h.answer(id)
	}
}

func (h *answerHandler) Trailers(id uint32, _ []hpack.HeaderField) { h.answer(id) }

func (h *answerHandler) Reset(id uint32, _ http2.ErrCode) { delete(h.pending, id) }

func (h *answerHandler) Writable(id uint32) {
	if id != 0 {
		h.push(id)
		return
	}
	for id := range h.pending {
		h.push(id)
	}
}

func (h *answerHandler) answer(id uint32) {
	fields := []hpack.HeaderField{{Name: "content-type", Value: "text/plain"}}
	if err := h.c.WriteHeaders(id, 200, fields, false); err != nil {
		return
	}
	h.pending[id] = plainBody
	h.push(id)
}

func (h *answerHandler) push(id uint32) {
	p, ok := h.pending[id]
	if !ok {
		return
	}
	n := h.c.WriteData(id, p, true)
	if n == len(p) {
		delete(h.pending, id)
		return
	}
	h.pending[id] = p[n:]
}

// serve drives one connection the way an event loop would, minus the
// loop: read, Feed, write Output, close on a connection error.
func serve(nc net.Conn) {
	defer nc.Close()
	h := newAnswerHandler()
	c := NewConn(Config{}, h)
	h.c = c
	buf := make([]byte, 0, c.MaxBuffered()+64<<10)
	for {
		if out := c.Output(); len(out) > 0 {
			n, err := nc.Write(out)
			c.Advance(n)
			if err != nil {
				return
			}
		}
		if len(buf) == cap(buf) {
			return
		}
		n, rerr := nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		used, ferr := c.Feed(buf)
		buf = buf[:copy(buf, buf[used:])]
		if ferr != nil {
			nc.Write(c.Output())
			return
		}
		if rerr != nil {
			return
		}
	}
}

// startServer listens on 127.0.0.1:0 and serves each connection on a
// goroutine of its own; stop closes the listener and waits for them.
func startServer(t *testing.T) (addr *net.TCPAddr, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[nc] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serve(nc)
				mu.Lock()
				delete(conns, nc)
				mu.Unlock()
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr), func() {
		ln.Close()
		mu.Lock()
		for nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}
