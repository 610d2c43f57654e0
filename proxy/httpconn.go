package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"vigil/proxy/httpcore"
	"vigil/proxy/proxyproto"
)

// The HTTP/1.1 goroutine path's driver. net/http's server and
// ReverseProxy cost too much per request to compete with HAProxy (see
// docs/reference.md), so a client connection is served by one goroutine that
// reads request heads from a pooled reader, has the request engine
// (httpforward.go) forward each over a keep-alive backend connection,
// and streams the answer back. A backend slot (max_conn, queue, balance)
// is held per request, not per connection.
//
// Cleartext connections start on the event loops instead (httploop.go),
// which serve the common requests without a goroutine and hand anything
// else to this path; TLS and h2c connections are served here throughout.

// httpConn is one client connection on the goroutine path.
type httpConn struct {
	request
	sctx   context.Context // the service's: over once it stops
	cancel context.CancelFunc
	tc     timedConn
	ip     string // client IP, for logs
	tls    bool
	outAt  int64 // tc.out when the current request began
	// cw writes to the client; taken per request.
	cw   *bufio.Writer
	idle atomic.Bool // waiting for the next request
	// idleSince is when an HTTP/1 connection last started waiting for a
	// request (unix nanoseconds); reclaimIdle closes the oldest first.
	// Zero for HTTP/2, whose idle flag means something else.
	idleSince atomic.Int64
	served    atomic.Bool // a request has started on it
	closed    atomic.Bool
}

// stopping reports whether the service is stopping: the next response
// says Connection: close. It asks the service's context itself, not a
// flag that context.AfterFunc sets, because that runs in a goroutine of its
// own: a response written just after the stop could beat it.
func (hc *httpConn) stopping() bool { return hc.sctx.Err() != nil }

// stopIdleGrace is how long a stopping service leaves an idle keep-alive
// connection open for a request already on its way.
const stopIdleGrace = 500 * time.Millisecond

// abort closes the client connection and the backend one in use.
func (hc *httpConn) abort() {
	if hc.closed.Swap(true) {
		return
	}
	if hc.cancel != nil {
		hc.cancel()
	}
	hc.tc.c.Close()
	if bc := hc.cur.Load(); bc != nil {
		bc.tc.c.Close()
	}
}

// serveHTTP serves one client connection until it closes, times out or
// asks to close, or the service stops.
func (s *Service) serveHTTP(ctx context.Context, c net.Conn) {
	s.serveHTTPFrom(ctx, c, nil, false, netip.AddrPort{})
}

// serveHTTPFrom is serveHTTP for a connection that may have been served by
// an event loop until now (fromLoop): pre holds the client bytes the loop
// read and did not use (the current request from its start), read again
// before the connection's own, and the connection is counted already.
// client, when valid, is the client's address as the loop knew it (from
// a PROXY header).
func (s *Service) serveHTTPFrom(ctx context.Context, c net.Conn, pre []byte, fromLoop bool, client netip.AddrPort) {
	if !client.IsValid() {
		client = addrPort(c.RemoteAddr())
	}
	if s.cfg.ProxyProtocol.Accept && !fromLoop {
		tcp, _ := c.(*net.TCPConn)
		h, rest, ok := s.acceptProxyHeader(ctx, tcp, client)
		if !ok {
			return
		}
		if h.Command == proxyproto.Proxy && h.Source.IsValid() {
			client = unmap(h.Source)
		}
		if len(rest) > 0 {
			c = &prefixConn{Conn: c, rest: rest}
		}
	}
	// Requests outlive the service's context: a stopping service still
	// answers the requests under way and the ones its keep-alive clients
	// send before they read Connection: close. abort (at the end of the
	// drain, or when the connection ends) cancels them.
	reqCtx, cancelReqs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelReqs()
	hc := &httpConn{sctx: ctx, cancel: cancelReqs, tc: timedConn{c: c, wd: s.cfg.Timeouts.Client.D(), pre: pre}}
	hc.s, hc.ctx, hc.client = s, reqCtx, client
	hc.ip = client.Addr().String()
	hc.tls = s.hs.tls != nil
	hc.fwd = httpcore.Forwarding{Add: s.cfg.ForwardedHeaders, ClientIP: hc.ip, Proto: "http"}
	if hc.tls {
		hc.fwd.Proto = "https"
	}
	hc.request.stopping = hc.stopping
	hc.down = (*h1Down)(hc)
	hc.beforeBook = func() {
		if hc.cw != nil {
			hc.cw.Flush()
		}
		hc.ex.BytesOut = hc.tc.out - hc.outAt
		if hc.ex.Req != nil && hc.ex.Req.Minor == 0 {
			hc.ex.Proto = "HTTP/1.0"
		}
	}
	if s.hashSource {
		hc.ipKey = client.Addr().AsSlice()
	}
	s.mu.Lock()
	s.connOpenedLocked()
	if !fromLoop {
		s.st.total++
	}
	s.hs.conns[hc] = struct{}{}
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		// The next response says Connection: close (stopping) and the
		// connection ends after it, which a client never races. An idle
		// connection is closed only after a grace: closing it at once
		// would reset the request a busy keep-alive client is sending
		// right now (a reload swapping the service would fail requests
		// under load).
		time.AfterFunc(min(stopIdleGrace, s.Drain), func() {
			if hc.idle.Load() {
				hc.abort()
			}
		})
	})
	hc.br = s.hs.readers.Get().(*bufio.Reader)
	hc.br.Reset(&hc.tc)
	defer func() {
		stop()
		hc.abort()
		hc.br.Reset(nil)
		s.hs.readers.Put(hc.br)
		s.mu.Lock()
		s.connClosedLocked()
		s.st.bytesIn += uint64(hc.tc.in)
		s.st.bytesOut += uint64(hc.tc.out)
		delete(s.hs.conns, hc)
		s.checkIdleLocked()
		s.mu.Unlock()
	}()

	reqTimeout, kaTimeout := s.requestTimeout(), s.keepAliveTimeout()
	if hc.tls {
		// A loop hands over connections whose handshake is done.
		tc, done := c.(*tls.Conn)
		var h2 bool
		if done && tc.ConnectionState().HandshakeComplete {
			h2 = tc.ConnectionState().NegotiatedProtocol == "h2"
		} else {
			var err error
			if tc, h2, err = s.startTLS(ctx, c, reqTimeout); err != nil {
				s.log.Debug("closing client: TLS handshake failed", "client", hc.ip, "err", err)
				return
			}
		}
		hc.tc.c = tc
		if h2 {
			s.serveH2(ctx, hc, tc, kaTimeout)
			return
		}
	} else if s.cfg.H2C {
		if reqTimeout > 0 {
			c.SetReadDeadline(time.Now().Add(reqTimeout))
		}
		if isH2Preface(hc.br) {
			s.serveH2(ctx, hc, bufConn{c, hc.br}, kaTimeout)
			return
		}
	}
	for first := true; ; first = false {
		hc.tc.readTimeout(0)
		wait := reqTimeout
		if !first {
			wait = kaTimeout
		}
		if hc.stopping() && (wait <= 0 || wait > stopIdleGrace) {
			// Stopping: a request the client sent after our last
			// keep-alive response still gets its answer (with Connection:
			// close), but an idle client is not waited for long.
			wait = stopIdleGrace
		}
		if wait > 0 {
			c.SetReadDeadline(time.Now().Add(wait))
		} else {
			c.SetReadDeadline(time.Time{})
		}
		hc.idleSince.Store(time.Now().UnixNano())
		hc.idle.Store(true)
		s.turnedIdle()
		if _, err := hc.br.Peek(1); err != nil {
			return // closed, or idle too long: HAProxy closes silently too
		}
		if !hc.idle.CompareAndSwap(true, false) {
			return // reclaimed at the limit (reclaimIdle) as the request came
		}
		if first {
			hc.served.Store(true)
		}
		hc.begin()
		if !first && reqTimeout > 0 {
			c.SetReadDeadline(time.Now().Add(reqTimeout))
		}
		in := hc.tc.in - int64(hc.br.Buffered())
		err := readHead(hc.br, &hc.req, true)
		hc.ex.BytesIn = hc.tc.in - int64(hc.br.Buffered()) - in
		if err != nil {
			// a head refused, a client too slow, or one that left
			code, cause := 0, httpcore.CauseClient
			var he *httpcore.Error
			switch {
			case errors.As(err, &he):
				code, cause = he.Status, httpcore.CauseProxy
			case errors.Is(err, os.ErrDeadlineExceeded):
				code, cause = 408, httpcore.CauseClientTimeout
			}
			hc.ex.Fail(cause, httpcore.StageRequest, code)
			if code != 0 {
				hc.down.answer(code)
			}
			hc.finish()
			s.log.Debug("closing client: bad request head", "client", hc.ip, "err", err)
			return
		}
		hc.ex.HeadDone = hc.since()
		hc.ex.Req = &hc.req
		hc.tc.readTimeout(s.cfg.Timeouts.Client.D())
		keep := hc.forward()
		hc.finish()
		if !keep {
			return
		}
	}
}

// begin starts the record of a request whose first byte has arrived.
func (hc *httpConn) begin() {
	hc.ex.Begin(time.Now(), hc.client, "HTTP/1.1")
	hc.booked, hc.b, hc.g = false, nil, nil
	hc.ex.TLS = hc.tls
	hc.outAt = hc.tc.out
}

// h1Down is an HTTP/1.1 connection as the request engine's downstream.
type h1Down httpConn

func (d *h1Down) conn() *httpConn { return (*httpConn)(d) }

func (d *h1Down) continue100() error {
	_, err := d.tc.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n"))
	return err
}

func (d *h1Down) writer() *bufio.Writer {
	if d.cw == nil {
		d.cw = d.s.hs.writers.Get().(*bufio.Writer)
		d.cw.Reset(&d.tc)
	}
	return d.cw
}

func (d *h1Down) interim(resp *httpcore.Head) error {
	w := d.writer()
	d.scratch = httpcore.AppendResponseHead(d.scratch[:0], resp, nil, false)
	w.Write(d.scratch)
	return w.Flush()
}

func (d *h1Down) head(resp *httpcore.Head, setCookie []byte, closing bool) error {
	d.scratch = httpcore.AppendResponseHead(d.scratch[:0], resp, setCookie, closing)
	_, err := d.writer().Write(d.scratch)
	return err
}

func (d *h1Down) chunkMode() httpcore.ChunkMode { return httpcore.Reframe }

func (d *h1Down) write(p []byte) (int, error) { return d.writer().Write(p) }

func (d *h1Down) trailers([]byte) error { return nil }

func (d *h1Down) flush() error {
	if d.cw == nil {
		return nil
	}
	return d.cw.Flush()
}

// sent counts what the connection wrote and what waits in its writer.
func (d *h1Down) sent() int64 {
	n := d.tc.out
	if d.cw != nil {
		n += int64(d.cw.Buffered())
	}
	return n
}

// release gives the writer back once a request is done with it.
func (d *h1Down) release() {
	if d.cw != nil {
		d.cw.Reset(nil)
		d.s.hs.writers.Put(d.cw)
		d.cw = nil
	}
}

// answer sends a canned answer; the connection closes after it.
func (d *h1Down) answer(code int) { d.conn().fail(code) }

func (d *h1Down) refused() { d.conn().linger(64 << 20) }

func (d *h1Down) upgrade(g *Service, b *backend, bc *bconn) bool {
	d.conn().upgrade(g, b, bc)
	return true
}

// finish books the request and gives its writer back.
func (hc *httpConn) finish() {
	hc.request.finish()
	(*h1Down)(hc).release()
}

// fail sends a canned error response; the connection closes after it.
func (hc *httpConn) fail(code int) {
	if hc.cw != nil {
		hc.cw.Flush()
	}
	if _, err := hc.tc.Write(hc.s.hs.answers.H1(code)); err != nil {
		return
	}
	hc.linger(256 << 10)
}

// linger is a lingering close: closing with unread request bytes would make
// the kernel reset the connection, and the client might lose the answer.
// Send FIN, then discard up to max bytes that still come, for a moment.
func (hc *httpConn) linger(max int64) {
	if cw, ok := hc.tc.c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		hc.tc.c.SetReadDeadline(time.Now().Add(lingerTime))
		io.CopyN(io.Discard, hc.tc.c, max)
	}
}

// upgrade completes a 101 Switching Protocols exchange and relays the
// connection raw both ways (WebSocket and the like) with the TCP tunnel,
// which takes over the backend slot.
func (hc *httpConn) upgrade(g *Service, b *backend, bc *bconn) {
	s := hc.s
	d := (*h1Down)(hc)
	d.head(&hc.resp, nil, false)
	w := d.writer()
	// Bytes either side sent right after the heads are already buffered.
	if n := bc.br.Buffered(); n > 0 {
		p, _ := bc.br.Peek(n)
		w.Write(p)
	}
	err := w.Flush()
	hc.finish() // the request ends with its 101
	if err == nil {
		if n := hc.br.Buffered(); n > 0 {
			p, _ := hc.br.Peek(n)
			_, err = bc.tc.c.Write(p)
		}
	}
	if err == nil && len(hc.tc.pre) > 0 {
		// Client bytes an event loop read past the head, not yet in br.
		_, err = bc.tc.c.Write(hc.tc.pre)
		hc.tc.pre = nil
	}
	sc := bc.tc.c.(*net.TCPConn)
	if err != nil {
		sc.Close()
		g.release(b)
		return
	}
	hc.tc.c.SetDeadline(time.Time{})
	sc.SetDeadline(time.Time{})
	c, ok := hc.tc.c.(*net.TCPConn)
	if !ok {
		// TLS client: a plain two-way copy, no splice.
		relay(hc.tc.c, sc)
		g.release(b)
		return
	}
	t := s.newTunnel(c, sc, b)
	t.s = g // the slot and the bytes belong to the group
	if !g.register(hc.ctx, t) {
		sc.Close()
		g.release(b)
		return
	}
	t.run()
	g.unregister(t)
}

// checkIdleLocked wakes a draining Run once no connection is left.
func (s *Service) checkIdleLocked() {
	if s.idle != nil && len(s.tunnels) == 0 && s.serving == 0 && (s.hs == nil || len(s.hs.conns)+len(s.hs.lconns) == 0) {
		close(s.idle)
		s.idle = nil
	}
}

// relay copies both ways between a and b until either side ends, then
// closes both.
func relay(a, b net.Conn) {
	done := make(chan struct{})
	go func() {
		io.Copy(a, b)
		a.Close()
		b.Close()
		close(done)
	}()
	io.Copy(b, a)
	a.Close()
	b.Close()
	<-done
}

// prefixConn returns bytes read ahead (past a PROXY header) before the
// connection's own.
type prefixConn struct {
	net.Conn
	rest []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes the connection underneath.
func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
