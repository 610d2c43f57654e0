package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"vigil/proxy/proxyproto"
)

// HTTPS on the event loops. crypto/tls does the handshake and protects the
// records; the loops do the I/O. A connection's handshake runs on a
// goroutine of its own over the socket as Go's netpoller serves it (the
// handshake is a conversation, and crypto/tls cannot pause one halfway);
// then its descriptor moves to a loop, and the same tls.Conn goes on over
// a tlsLink that reads and writes the descriptor without blocking.
//
// Why this works: crypto/tls's read side keeps a connection usable after a
// net.Error whose Temporary() is true (readRecordOrCCS: the bytes of a
// record read so far stay buffered), so "nothing to read yet" is such an
// error and the loop calls Read again when epoll says so. The write side
// never sees "would block": the link queues what the socket cannot take in
// the connection's out buffer, which the loop writes on EPOLLOUT exactly
// as for cleartext, and reports the whole write done.
//
// crypto/tls may hold bytes the socket no longer shows (the rest of a
// record batch read at once, or what the client sent right behind its
// handshake), so epoll cannot be the only thing that says a TLS connection
// has something to read: whenever reading starts again, or a wake-up
// stopped short, the connection goes on its loop's list of reads to try
// (loopHTTP.retry, loopHTTP.again).

// errWouldBlock is the link's "nothing to read now".
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "read would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// tlsLink is the transport under a TLS connection served on a loop: before
// the loop takes it, and after the loop hands it back to a goroutine, it
// is nc (Go's netpoller); on the loop, the descriptor fd, owned by the loop.
type tlsLink struct {
	nc    net.Conn
	pre   []byte // bytes read behind a PROXY header, read first
	fd    int    // -1 while nc serves
	c     *hconn
	local net.Addr
	peer  net.Addr
}

func (k *tlsLink) Read(p []byte) (int, error) {
	if len(k.pre) > 0 {
		n := copy(p, k.pre)
		k.pre = k.pre[n:]
		return n, nil
	}
	if k.fd < 0 {
		return k.nc.Read(p)
	}
	n, err := rawRead(k.fd, p)
	switch {
	case err == unix.EAGAIN:
		return 0, errWouldBlock
	case err != nil:
		return 0, err
	case n == 0:
		return 0, io.EOF
	}
	k.c.bytesIn += int64(n)
	return n, nil
}

// Write on the loop writes what the socket takes and queues the rest in
// the connection's out buffer (written on EPOLLOUT by hconn.flush); behind
// bytes already queued, it only queues.
func (k *tlsLink) Write(p []byte) (int, error) {
	if k.fd < 0 {
		return k.nc.Write(p)
	}
	c := k.c
	w, err := c.l.writeOrKeep(k.fd, &c.out, &c.outBuf, p)
	c.bytesOut += int64(w)
	if err != nil {
		return w, err
	}
	return len(p), nil
}

// Close closes nc; the loop closes its descriptor itself.
func (k *tlsLink) Close() error {
	if k.fd < 0 {
		return k.nc.Close()
	}
	return nil
}

func (k *tlsLink) LocalAddr() net.Addr  { return k.local }
func (k *tlsLink) RemoteAddr() net.Addr { return k.peer }

// The deadlines are nc's; on the loop, the loop's own timers rule.
func (k *tlsLink) SetDeadline(t time.Time) error {
	if k.fd < 0 {
		return k.nc.SetDeadline(t)
	}
	return nil
}

func (k *tlsLink) SetReadDeadline(t time.Time) error {
	if k.fd < 0 {
		return k.nc.SetReadDeadline(t)
	}
	return nil
}

func (k *tlsLink) SetWriteDeadline(t time.Time) error {
	if k.fd < 0 {
		return k.nc.SetWriteDeadline(t)
	}
	return nil
}

// SyscallConn is nc's, so that hasPendingBytes sees through the TLS
// connection of a client a goroutine serves.
func (k *tlsLink) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := k.nc.(syscall.Conn); ok && k.fd < 0 {
		return sc.SyscallConn()
	}
	return nil, errors.New("tls link: no connection of its own")
}

// prepareForLoop does what a new client needs before a loop can take it,
// on the calling goroutine: reading its PROXY header, its TLS handshake.
// c is counted as one of the loop's connections already.
func (s *Service) prepareForLoop(c *hconn, nc *net.TCPConn) {
	var pre []byte
	if s.cfg.ProxyProtocol.Accept {
		h, rest, ok := s.acceptProxyHeader(c.ctx, nc, c.client)
		if !ok {
			c.gone(0, 0)
			return
		}
		if h.Command == proxyproto.Proxy && h.Source.IsValid() {
			c.client = unmap(h.Source)
			c.ip = c.client.Addr().String()
			if s.hashSource {
				c.ipKey = c.client.Addr().AsSlice()
			}
		}
		pre = rest
	}
	if s.hs.tls != nil {
		s.handshakeForLoop(c, nc, pre)
		return
	}
	fd, err := s.relay.dup(nc)
	if err != nil {
		c.toGoroutine(&prefixConn{Conn: nc, rest: pre}, nc, nil, nil)
		return
	}
	nc.Close()
	c.fd = fd
	c.in, c.inOwned = pre, len(pre) > 0
	c.bytesIn = int64(len(pre))
	c.toLoop()
}

// handshakeForLoop runs a new client's TLS handshake (pre: its first
// bytes, read already), then moves the connection to its loop (HTTP/1.1
// or HTTP/2), or to the goroutine path when no descriptor is to be had.
func (s *Service) handshakeForLoop(c *hconn, nc *net.TCPConn, pre []byte) {
	link := &tlsLink{nc: nc, pre: pre, fd: -1, c: c, local: nc.LocalAddr(), peer: nc.RemoteAddr()}
	tc := tls.Server(link, s.hs.tls)
	if d := s.requestTimeout(); d > 0 {
		nc.SetDeadline(time.Now().Add(d))
	}
	// The end of the drain (c.ctx) cuts a handshake short through the
	// deadline: HandshakeContext would start a goroutine per handshake
	// to watch the context.
	stop := context.AfterFunc(c.ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	err := tc.Handshake()
	stop()
	if err != nil {
		s.log.Debug("closing client: TLS handshake failed", "client", c.ip, "err", err)
		nc.Close()
		c.gone(0, 0)
		return
	}
	nc.SetDeadline(time.Time{})
	c.wantH2 = tc.ConnectionState().NegotiatedProtocol == "h2"
	fd, err := s.relay.dup(nc)
	if err != nil {
		// Out of descriptors: serve it where it is.
		c.toGoroutine(tc, nc, nil, nil)
		return
	}
	nc.Close()
	link.nc, link.fd = nil, fd
	c.fd, c.tls, c.link = fd, tc, link
	c.toLoop()
}

// tlsRead reads plaintext from the client into dst: n > 0, or the error
// unix.EAGAIN (nothing now), or io.EOF or another (the client is gone).
// A record's bytes and an end in the same call come as the bytes first:
// crypto/tls reports the end again on the next call.
func (c *hconn) tlsRead(dst []byte) (int, error) {
	n, err := c.tls.Read(dst)
	if n > 0 {
		return n, nil
	}
	if err == errWouldBlock {
		return 0, unix.EAGAIN
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return 0, err
}

// retryRead puts a TLS connection on its loop's list of reads to try
// after the batch: crypto/tls may hold bytes epoll does not report.
func (c *hconn) retryRead(l *eventLoop) {
	if c.tls == nil || c.retry {
		return
	}
	c.retry = true
	h := l.http()
	h.retry = append(h.retry, c)
}

// again tries the reads of the retry list; true when some are left for
// the next round (a connection that read its share of the wake-up).
func (h *loopHTTP) again(l *eventLoop) bool {
	if len(h.retry) == 0 {
		h.flushH2()
		return false
	}
	list := h.retry
	h.retry = h.spare[:0]
	for i, c := range list {
		list[i] = nil
		c.retry = false
		if !c.closed && c.events&unix.EPOLLIN != 0 {
			c.readable(l)
		}
	}
	h.spare = list[:0]
	h.flushH2()
	return len(h.retry) > 0
}

// flushH2 writes what the batch left for the HTTP/2 clients.
func (h *loopHTTP) flushH2() {
	if len(h.h2dirty) == 0 {
		return
	}
	for i := 0; i < len(h.h2dirty); i++ { // flushOut may add one
		c := h.h2dirty[i]
		h.h2dirty[i] = nil
		if c.h2.dirty {
			c.h2.flushOut(c.l)
		}
	}
	h.h2dirty = h.h2dirty[:0]
}

// tlsCloseNotify tells the client the connection ends, as a TLS peer
// must, before the loop closes (or half-closes) the socket.
func (c *hconn) tlsCloseNotify() {
	if c.tls != nil && !c.notified {
		c.notified = true
		c.tls.CloseWrite()
	}
}
