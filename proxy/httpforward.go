package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"vigil/proxy/httpcore"
)

// The goroutine path's request engine, shared by HTTP/1 connections
// (httpconn.go) and HTTP/2 streams (httph2.go): it gets a backend
// connection, sends the request head and body, relays interim responses,
// the response head and body, and gives the connection back to the pool.
// Every decision it takes is httpcore's; what differs between HTTP/1 and
// HTTP/2 is the client side, a downstream.

// downstream is the client side of a request: where its answer goes.
type downstream interface {
	// continue100 tells a client that sent Expect: 100-continue to send
	// its body.
	continue100() error
	// interim forwards a 1xx response (never a 101).
	interim(resp *httpcore.Head) error
	// head sends the final response head, with the sticky cookie line
	// setCookie (nil: none), saying the connection closes after it when
	// closing is set.
	head(resp *httpcore.Head, setCookie []byte, closing bool) error
	// chunkMode is how a chunked response body must reach it.
	chunkMode() httpcore.ChunkMode
	// write sends body bytes, framed as chunkMode says.
	write(p []byte) (int, error)
	// trailers sends a chunked body's trailer fields (Decode mode only),
	// as "name: value\r\n" lines.
	trailers(tr []byte) error
	// flush sends what is buffered.
	flush() error
	// answer sends one of the proxy's own answers; the client connection
	// closes after it.
	answer(code int)
	// refused says the backend answered before it took the whole request
	// body: what the client still sends of it is read and dropped, and
	// the client connection closes.
	refused()
	// upgrade completes a 101, books the request, and relays the
	// connection both ways until it ends; false when the client side
	// cannot be upgraded.
	upgrade(g *Service, b *backend, bc *bconn) bool
	// sent is how many bytes have gone to the client so far.
	sent() int64
}

// request is one request on the goroutine path: an HTTP/1 connection has
// one at a time, an HTTP/2 connection one per stream.
type request struct {
	s        *Service
	ctx      context.Context // ends when the request must be given up
	br       *bufio.Reader   // the client's bytes: the body follows the head
	down     downstream
	stopping func() bool // the service stops: the client connection must close
	fwd      httpcore.Forwarding
	client   netip.AddrPort
	ipKey    []byte // for balance source

	req, resp httpcore.Head
	ex        httpcore.Exchange
	chunks    httpcore.Chunked
	scratch   []byte
	g         *Service // the group that served it
	b         *backend // the backend it reached; nil: none
	booked    bool
	// beforeBook completes the record from the driver's side (the bytes
	// it wrote) just before it is booked; nil: nothing to add.
	beforeBook func()
	// cur is the backend connection in use, which an abort closes.
	cur atomic.Pointer[bconn]
}

// since is the time from the request's first byte to now, for its record.
func (x *request) since() time.Duration { return time.Since(x.ex.Start) }

// at is t as an offset in the request's record.
func (x *request) at(t time.Time) time.Duration {
	if t.IsZero() {
		return -1
	}
	return t.Sub(x.ex.Start)
}

// finish books the request, once.
func (x *request) finish() {
	if x.booked {
		return
	}
	x.booked = true
	if x.beforeBook != nil {
		x.beforeBook()
	}
	x.ex.End = x.since()
	x.s.book(&x.ex, x.g, x.b)
}

// forward serves the request whose head is in x.req. It returns whether
// the client connection may carry another request.
func (x *request) forward() bool {
	s, r := x.s, &x.req
	rt := s.route(r, x.ipKey)
	x.g = rt.g
	if r.ExpectContinue && r.HasBody() {
		// Answer the client's Expect ourselves, so it sends the body while
		// the backend connection is being set up; the backend then gets a
		// plain request.
		if err := x.down.continue100(); err != nil {
			x.ex.Fail(httpcore.CauseClient, httpcore.StageRequest, 0)
			return false
		}
	}
	x.ex.Queued = x.since()
	res, err := connectHTTP(x.ctx, rt.g, rt.key, rt.pref, nil, false)
	x.ex.Retries, x.ex.Redispatched = res.retries, res.retries > 0
	x.ex.Assigned, x.ex.Connected = x.at(res.assigned), x.at(res.connected)
	if res.last != nil {
		x.ex.Backend = res.last.cfg.Address // the one that refused, on failure
	}
	if err != nil {
		cause, stage, status := connectFailure(err, res)
		x.ex.Fail(cause, stage, status)
		if status != 0 {
			x.down.answer(status)
		}
		s.log.Debug("request failed: no backend connection", "client", x.fwd.ClientIP, "err", err)
		return false
	}
	x.b, x.ex.Backend = res.b, res.b.cfg.Address
	x.cur.Store(res.bc)
	if x.ctx.Err() != nil {
		res.bc.tc.c.Close() // aborted while connecting
	}
	keep, release := x.exchange(rt, res.b, res.bc)
	x.cur.Store(nil)
	if release {
		// bc is not touched here: back in the idle pool, it may already
		// serve another client (its bytes are in the record).
		rt.g.release(res.b)
	}
	return keep
}

// bodyFailure records a body copy that failed: which side, and how.
func (x *request) bodyFailure(err error, stage httpcore.Stage) {
	var he *httpcore.Error
	switch {
	case errors.As(err, &he):
		x.ex.Fail(httpcore.CauseProxy, stage, 0)
	case srcFailed(err) == (stage == httpcore.StageHeaders):
		// the client failed: reading its body, or taking the response
		if errors.Is(err, os.ErrDeadlineExceeded) {
			x.ex.Fail(httpcore.CauseClientTimeout, stage, 0)
		} else {
			x.ex.Fail(httpcore.CauseClient, stage, 0)
		}
	default:
		if errors.Is(err, os.ErrDeadlineExceeded) {
			x.ex.Fail(httpcore.CauseServerTimeout, stage, 0)
		} else {
			x.ex.Fail(httpcore.CauseServer, stage, 0)
		}
	}
}

// exchange sends the request on bc and relays the response. It returns
// whether the client connection stays open and whether the slot on b
// must still be released (an upgraded connection releases its own).
func (x *request) exchange(rt routing, b *backend, bc *bconn) (keep, release bool) {
	s, r, g := x.s, &x.req, rt.g
	bw := s.hs.writers.Get().(*bufio.Writer)
	defer func() {
		bw.Reset(nil)
		s.hs.writers.Put(bw)
	}()
	bodySent, early, replayed := false, false, false
	for {
		bw.Reset(&bc.tc)
		x.scratch = httpcore.AppendRequestHead(x.scratch[:0], r, x.fwd)
		bw.Write(x.scratch)
		var err error
		switch httpcore.RequestFraming(r) {
		case httpcore.Length:
			bodySent = true
			var n int64
			n, err = pumpLength(x.br, r.ContentLength, bw.Write, bw.Flush)
			x.ex.BytesIn += n
		case httpcore.ChunkedBody:
			bodySent = true
			x.chunks.Reset(httpcore.Reframe)
			var n int64
			n, err = pumpChunked(x.br, &x.chunks, &x.scratch, bw.Write, bw.Flush, nil)
			x.ex.BytesIn += n
		}
		if err == nil {
			if ferr := bw.Flush(); ferr != nil {
				err = writeErr(ferr)
			}
		}
		if err == nil {
			err = x.readResponseHead(bc)
		}
		if err != nil && bodySent && !srcFailed(err) && len(x.resp.Raw) == 0 {
			// The backend stopped taking the body: it may have answered
			// early (413, 401, ...), and that answer is the client's.
			if rerr := readHead(bc.br, &x.resp, false); rerr == nil && x.resp.Status >= 200 && x.resp.Status != 101 {
				err, early = nil, true
			}
		}
		if err == nil {
			break
		}
		// Anything at all from the backend means it took the request.
		answered := len(x.resp.Raw) > 0 || bc.tc.in > 0
		bc.tc.c.Close()
		x.backendBytes(bc)
		if srcFailed(err) && bodySent {
			var he *httpcore.Error
			if errors.As(err, &he) {
				// a broken chunked body
				x.ex.Fail(httpcore.CauseProxy, httpcore.StageHeaders, 400)
				x.down.answer(400)
				return false, true
			}
			// The client failed mid-body: it is gone, nothing to answer.
			x.bodyFailure(err, httpcore.StageHeaders)
			s.log.Debug("request body failed", "client", x.fwd.ClientIP, "err", err)
			return false, true
		}
		if errors.Is(err, errClientGone) {
			x.ex.Fail(httpcore.CauseClient, httpcore.StageHeaders, 0)
			return false, true
		}
		timedOut := errors.Is(err, os.ErrDeadlineExceeded)
		if httpcore.MayReplay(r, bc.reused, answered, replayed, timedOut) {
			// The backend closed its idle connection as the request went
			// out: nothing reached it, replay on a new connection.
			replayed = true
			nbc, derr := g.dialBackend(x.ctx, b)
			if derr == nil {
				bc = nbc
				x.cur.Store(bc)
				continue
			}
			err = derr
		}
		cause, status := httpcore.CauseServer, 502
		var he *httpcore.Error
		switch {
		case timedOut && !answered:
			cause, status = httpcore.CauseServerTimeout, 504
		case errors.As(err, &he):
			cause = httpcore.CauseProxy // a response vigil refuses to pass on
		}
		x.ex.Fail(cause, httpcore.StageHeaders, status)
		x.down.answer(status)
		s.log.Debug("request failed", "client", x.fwd.ClientIP, "backend", b.cfg.Address, "err", err)
		return false, true
	}

	resp := &x.resp
	x.ex.ResponseHead = x.since()
	if resp.Status == 101 {
		if !r.UpgradeRequested() {
			bc.tc.c.Close()
			x.backendBytes(bc)
			x.ex.Fail(httpcore.CauseProxy, httpcore.StageHeaders, 502)
			x.down.answer(502)
			return false, true
		}
		// The request ends with the 101 (the downstream books it); the
		// tunnel that follows is a connection.
		x.ex.Status, x.ex.FromBackend = resp.Status, true
		x.backendBytes(bc)
		if !x.down.upgrade(g, b, bc) {
			return false, true
		}
		return false, false
	}
	x.ex.Status, x.ex.FromBackend = resp.Status, true
	framing := httpcore.ResponseFraming(r, resp)
	keepClient, keepBackend := httpcore.KeepAlive(r, resp, framing)
	keepClient = keepClient && !x.stopping() && !early
	keepBackend = keepBackend && !early
	setCookie := s.stickyLine(r, b)
	stickyMarks(&x.ex, &rt, b, setCookie)

	err := x.down.head(resp, setCookie, !keepClient)
	headSent := x.down.sent()
	if err == nil {
		switch framing {
		case httpcore.ChunkedBody:
			x.chunks.Reset(x.down.chunkMode())
			_, err = pumpChunked(bc.br, &x.chunks, &x.scratch, x.down.write, x.down.flush, x.down.trailers)
		case httpcore.Length:
			_, err = pumpLength(bc.br, resp.ContentLength, x.down.write, x.down.flush)
		case httpcore.UntilClose:
			_, err = pumpUntilEOF(bc.br, x.down.write, x.down.flush)
		}
	} else {
		err = writeErr(err)
	}
	if err == nil {
		if ferr := x.down.flush(); ferr != nil {
			err = writeErr(ferr)
		}
	}
	x.ex.BodyOut = x.down.sent() - headSent
	if err != nil {
		bc.tc.c.Close()
		x.backendBytes(bc)
		x.bodyFailure(err, httpcore.StageData)
		s.log.Debug("response failed", "client", x.fwd.ClientIP, "backend", b.cfg.Address, "err", err)
		return false, true
	}
	x.backendBytes(bc)
	if keepBackend && bc.br.Buffered() == 0 && x.ctx.Err() == nil {
		b.hc.pool.putShared(bc, -1, time.Now())
	} else {
		bc.tc.c.Close()
	}
	if early {
		x.down.refused()
	}
	return keepClient, true
}

// errClientGone says the client went away while the proxy waited for the
// backend's answer.
var errClientGone = errors.New("client gone")

// readResponseHead reads the backend's response head, forwarding the
// interim responses before the final one.
func (x *request) readResponseHead(bc *bconn) error {
	for {
		if err := readHead(bc.br, &x.resp, false); err != nil {
			return err
		}
		if x.resp.Status >= 200 || x.resp.Status == 101 {
			return nil
		}
		if httpcore.ForwardInterim(&x.req, &x.resp) {
			if err := x.down.interim(&x.resp); err != nil {
				return errClientGone
			}
		}
	}
}

// backendBytes moves what bc carried for this request into its record.
func (x *request) backendBytes(bc *bconn) {
	x.ex.BackendOut += bc.tc.out
	x.ex.BackendIn += bc.tc.in
	bc.tc.in, bc.tc.out = 0, 0
}

// readHead reads and parses one head from br. It returns br's error
// untouched when nothing at all was read (a clean close or an idle
// timeout), io.ErrUnexpectedEOF for a head cut short, and httpcore's
// errors for a head refused. It consumes exactly the head's bytes.
func readHead(br *bufio.Reader, h *httpcore.Head, request bool) error {
	h.Raw = h.Raw[:0] // nothing read yet, whatever the last head was
	var acc []byte    // the head so far, when it spans more than br holds
	for {
		if _, err := br.Peek(1); err != nil {
			if len(acc) == 0 {
				return err
			}
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		p, _ := br.Peek(br.Buffered())
		data := p
		if len(acc) > 0 {
			acc = append(acc, p...)
			data = acc
		}
		n, err := h.Parse(data, request)
		switch err {
		case nil:
			br.Discard(n - (len(data) - len(p)))
			return nil
		case httpcore.ErrIncomplete:
			if len(acc) == 0 {
				acc = append(acc, p...)
			}
			br.Discard(len(p))
		default:
			return err
		}
	}
}

// connResult is a backend connection got for a request, and how.
type connResult struct {
	b         *backend
	bc        *bconn
	last      *backend // the backend tried last, whether it took or not
	retries   int
	assigned  time.Time // when the slot was taken
	connected time.Time // when the connection was ready
}

// connectHTTP takes a backend slot and a connection to it: an idle one
// when there is one, else a new one, retrying failed connects on other
// backends (httpcore.MayRetryConnect). first, when not nil, is a backend
// the caller already holds a slot on: it is tried first (fresh, a new
// connection, when fresh is set) and its slot is the caller's to give
// back only if an error is returned without trying it.
func connectHTTP(ctx context.Context, g *Service, key []byte, pref *backend, first *backend, fresh bool) (connResult, error) {
	var res connResult
	var tried []*backend
	var lastErr error
	var failed *backend // the backend the last connect failed to
	for attempt := 0; ; attempt++ {
		var b *backend
		if first != nil && attempt == 0 {
			b = first
		} else if pref != nil && attempt == 0 && g.acquireThis(pref) {
			b = pref
		} else {
			var err error
			b, err = g.acquire(ctx, key, tried, true)
			if err != nil {
				if lastErr != nil {
					// still a 502: the backend that was picked failed
					return res, fmt.Errorf("%w; no other backend to retry on (%v)", lastErr, err)
				}
				return res, err
			}
		}
		if failed != nil {
			// a retry only once another backend took it
			g.countRetry(failed)
			res.retries++
		}
		now := time.Now()
		if res.assigned.IsZero() {
			res.assigned = now
		}
		res.last = b
		if !fresh || attempt > 0 {
			if bc := b.hc.pool.takeShared(g, b, now); bc != nil {
				res.b, res.bc, res.connected = b, bc, now
				return res, nil
			}
		}
		bc, err := g.dialBackend(ctx, b)
		if err == nil {
			res.b, res.bc, res.connected = b, bc, time.Now()
			return res, nil
		}
		lastErr = err
		if !g.connectFailed(ctx, b, attempt) {
			return res, lastErr
		}
		failed = b
		tried = append(tried, b)
	}
}

// dialBackend opens a new connection to b within the connect timeout.
func (s *Service) dialBackend(ctx context.Context, b *backend) (*bconn, error) {
	dctx := ctx
	if t := s.cfg.Timeouts.Connect.D(); t > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	dialed := time.Now()
	c, err := s.dial(dctx, "tcp", b.cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", b.cfg.Address, err)
	}
	b.obs.connect.observe(time.Since(dialed))
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("connect to %s: not a TCP connection", b.cfg.Address)
	}
	s.mu.Lock()
	b.total++
	s.mu.Unlock()
	return s.newBconn(b, tc, false), nil
}

// acquireThis takes a slot on b for a sticky request when b is usable and
// has room; otherwise the request is balanced as usual.
func (s *Service) acquireThis(b *backend) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !b.alive() || b.full() || s.queue.Len() > 0 {
		return false
	}
	b.active++
	return true
}
