package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"vigil/proxy/httpcore"
)

// HTTP/1.1 on the event loops. A cleartext HTTP connection is served by
// the relay's event loops (relay.go) instead of a goroutine: the goroutine
// path parks and wakes its goroutine twice per request (waiting for the
// request, then for the response), and those wake-ups through Go's
// scheduler cost more than the proxying itself (bench/RESULTS.md has the
// figures). A loop reads what
// epoll reports ready for all its connections at once, so a request costs
// what it costs HAProxy: a read and a write each way.
//
// The loop serves the common request itself: a complete head with a
// Content-Length body or none, sent on an idle keep-alive connection to the
// backend taken from its pool (idlepool.go), and a response framed by
// Content-Length, chunked encoding (re-framed) or the end of the
// connection. Everything else goes to the goroutine path before any byte
// of the request has left: upgrades, Expect: 100-continue, chunked
// request bodies and requests that must queue for a backend slot. A
// request that needs a new backend connection gets it from a goroutine
// (connectHTTP, as on the goroutine path) and comes back to the loop with
// it. Every rule (parsing, routing, rewriting, framing, keep-alive,
// replay, the canned answers, the record) is httpcore's, as on the other
// paths; only where the work runs differs.

// httpSweepTick bounds how often a loop with HTTP connections checks their
// timeouts: stopping services close idle keep-alive clients after
// stopIdleGrace, which needs a finer tick than the timeouts do.
const httpSweepTick = 100 * time.Millisecond

// maxPipelined bounds the client bytes read ahead while a request is
// under way (pipelined requests); past it the client is not read until the
// response is done.
const maxPipelined = 64 << 10

// lingerTime is how long an error answer's connection reads and discards
// what the client still sends before it closes (see httpConn.linger).
const lingerTime = 500 * time.Millisecond

// loopHTTP is an event loop's HTTP state.
type loopHTTP struct {
	conns map[*hconn]struct{}
	// idle are the backends with idle connections on this loop's list of
	// their pool, nidle how many connections those lists hold.
	idle    map[*backend]struct{}
	nidle   int
	scratch []byte // a rewritten head and body on their way out
	// retry are the TLS connections to read after the batch, whatever
	// epoll says (see httptlsloop.go); spare is the list's other buffer.
	retry, spare []*hconn
	// h2dirty are the HTTP/2 connections with output to write after the
	// batch (httph2loop.go).
	h2dirty []*hconn
	// freeStreams are ended HTTP/2 streams kept for reuse.
	freeStreams []*h2stream
}

func (h *loopHTTP) busy() bool { return len(h.conns) > 0 || h.nidle > 0 }

// http is the loop's HTTP state, made on first use.
func (l *eventLoop) http() *loopHTTP {
	if h, ok := l.user.(*loopHTTP); ok {
		return h
	}
	h := &loopHTTP{conns: make(map[*hconn]struct{}), idle: make(map[*backend]struct{})}
	l.user = h
	return h
}

// first looks at a batch's events for idle backend connections before
// the loop dispatches the rest: one the backend closed, or sent something
// on, must leave the pool before a request of the same batch takes it.
func (h *loopHTTP) first(l *eventLoop, events []unix.EpollEvent) {
	if h.nidle == 0 {
		return
	}
	for i := range events {
		ev := &events[i]
		if fd := int(ev.Fd); fd < len(l.fds) {
			if be, ok := l.fds[fd].(*hback); ok && be.c == nil {
				be.ready(l, ev.Events)
				ev.Events = 0
			}
		}
	}
}

// hphase is where a client connection is in its current request.
type hphase uint8

const (
	hIdle    hphase = iota // waiting for the first byte of a request
	hHead                  // part of a request head has arrived
	hConnect               // a goroutine is getting a backend connection
	hSend                  // the request is on its way to the backend
	hResp                  // the request is sent; the response is coming back
	hLinger                // an error answer is out; what the client still sends is discarded
)

// hconn is a client connection served on an event loop. Only the loop
// touches it, but for idle and idleSince, which reclaimIdle reads.
type hconn struct {
	s      *Service
	sctx   context.Context // the service's: ends when it stops
	ctx    context.Context // for goroutines acting for it; canceled when it ends
	cancel context.CancelFunc
	l      *eventLoop
	fd     int
	events uint32
	sem    chan struct{} // its max_conn slot, given back when it ends; nil: none
	ip     string
	client netip.AddrPort
	ipKey  []byte
	// tls, for a client of a TLS service: the connection the bytes go
	// through, over link; nil in cleartext.
	tls      *tls.Conn
	link     *tlsLink
	retry    bool // on the loop's list of reads to try
	notified bool // close_notify sent
	// h2, for a client speaking HTTP/2: its protocol and streams; the
	// fields below for a request are then unused. wantH2: ALPN chose h2.
	h2     *h2side
	wantH2 bool

	firstReq bool // the current request is the connection's first

	in      []byte // client bytes not used yet: the current request from its start
	inOwned bool   // in is the connection's own memory, not the loop's read buffer
	scanned int    // bytes of in searched for the end of the head
	out     []byte // bytes for the client that it has not taken yet
	outBuf  *[]byte

	phase      hphase
	req, resp  httpcore.Head
	ex         httpcore.Exchange // the current request's record
	rt         routing           // where it goes
	g          *Service          // the group serving the current request
	b          *backend          // the backend slot held for it; nil: none
	be         *hback
	reqLeft    int64 // request body bytes still to forward
	respHead   bool  // the response head has been forwarded
	respMode   httpcore.Framing
	respLeft   int64 // Length: body bytes still to come
	chunks     httpcore.Chunked
	keepClient bool
	early      bool // the backend answered before the request body was all sent
	replayed   bool // the request went out again on a new backend connection
	setCookie  []byte
	started    bool  // a request is under way (booked when it ends)
	start      int64 // loop time of its first byte
	deadline   int64 // loop time the current wait ends; 0: none
	closing    bool  // close once out is written
	closed     bool
	halfClosed bool // the client ended its side after a request: answer it, then close
	inFull     bool // pipelined bytes filled maxPipelined: not read until the response is done

	idle      atomic.Bool
	idleSince atomic.Int64 // unix nanoseconds, for reclaimIdle
	served    atomic.Bool  // a request has started on it
	bytesIn   int64
	bytesOut  int64
}

// hback is a backend connection on an event loop: serving one request, or
// idle in the loop's pool.
type hback struct {
	fd      int
	events  uint32
	g       *Service
	b       *backend
	c       backUser // the request it serves; nil while idle
	out     []byte   // request bytes the backend has not taken yet
	outBuf  *[]byte
	in      []byte // a response head in parts
	reused  bool
	idleAt  int64
	sent    int64 // bytes to the backend, for its counters
	recv    int64 // bytes from it
	anyResp bool  // a response byte arrived for the current request
}

// backUser is the request a backend connection serves: an HTTP/1 client
// connection's current one (hconn), or an HTTP/2 stream (h2stream).
type backUser interface {
	// backendTook: the backend took every byte queued for it; false
	// when the request ended or failed meanwhile.
	backendTook(l *eventLoop) bool
	// backendSent takes response bytes from be; false when the request
	// ended or failed, or be is not to be read now.
	backendSent(l *eventLoop, be *hback, p []byte) bool
	// backendEOF: the backend closed its side.
	backendEOF(l *eventLoop)
	// backendFailed: the connection failed.
	backendFailed(l *eventLoop, err error)
}

// connUser is what asked a goroutine for a backend connection
// (eventLoop.connectFor), and takes the answer on the loop.
type connUser interface {
	connected(l *eventLoop, r *hconnected)
}

// record notes the answer's retries, times and backend in a request's
// record (the times of a first connect only: replayed, it keeps them; and
// a request that took its slot on the loop was assigned then, not when
// the goroutine got to it).
func (r *hconnected) record(ex *httpcore.Exchange, replayed bool) {
	ex.Retries += r.res.retries
	ex.Redispatched = ex.Retries > 0
	if !r.res.assigned.IsZero() && !replayed && ex.Assigned < 0 {
		ex.Assigned = r.res.assigned.Sub(ex.Start)
	}
	if r.res.last != nil {
		ex.Backend = r.res.last.cfg.Address // the one that refused, on failure
	}
}

// hconnected is a goroutine's answer to a request for a backend connection.
type hconnected struct {
	u      connUser
	g      *Service
	b      *backend
	fd     int
	reused bool
	res    connResult // its times and retries
	err    error
}

// loopEligible reports whether the service's clients can be served on the
// event loops: HTTP/1 and HTTP/2 (httph2loop.go), in cleartext or TLS
// (httptlsloop.go), behind a PROXY header or not.
func (s *Service) loopEligible() bool {
	return s.hs != nil && !s.noLoopHTTP && s.relay != nil
}

// serveHTTPLoop hands a new client connection to an event loop. sem is
// the max_conn slot it holds (nil: none). It reports false when the loop
// could not take it; the caller then serves it on a goroutine.
func (s *Service) serveHTTPLoop(ctx context.Context, c *net.TCPConn, sem chan struct{}) bool {
	fd := -1
	slow := s.hs.tls != nil || s.cfg.ProxyProtocol.Accept // a goroutine's work first
	if !slow {
		var err error
		if fd, err = s.relay.dup(c); err != nil {
			return false
		}
	}
	client := addrPort(c.RemoteAddr())
	l := s.relay.loops[int(s.relay.next.Add(1))%len(s.relay.loops)]
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	hc := &hconn{s: s, sctx: ctx, ctx: hctx, cancel: cancel, l: l, fd: fd, sem: sem, ip: client.Addr().String(), client: client}
	if s.hashSource {
		hc.ipKey = client.Addr().AsSlice()
	}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		c.Close()
		closeFd(fd)
		cancel()
		if sem != nil {
			<-sem
		}
		return true
	}
	s.connOpenedLocked()
	s.st.total++
	s.hs.lconns[hc] = struct{}{}
	s.hwg.Add(1)
	s.mu.Unlock()
	if slow {
		go s.prepareForLoop(hc, c)
		return true
	}
	c.Close()
	hc.toLoop()
	return true
}

// gone takes a connection that ended off the service's books.
func (c *hconn) gone(in, out int64) {
	s := c.s
	c.cancel()
	s.mu.Lock()
	s.connClosedLocked()
	s.st.bytesIn += uint64(in)
	s.st.bytesOut += uint64(out)
	delete(s.hs.lconns, c)
	s.checkIdleLocked()
	s.mu.Unlock()
	if c.sem != nil {
		<-c.sem
	}
	s.hwg.Done()
}

// The commands other goroutines post to a loop about its HTTP
// connections (relayCmd.run), with what undoes them when the loop has
// stopped (relayCmd.undo).

// addConn has the loop serve a new client connection.
func addConn(c *hconn) relayCmd {
	return relayCmd{
		run: func(l *eventLoop) {
			h := l.http()
			if err := l.register(c.fd, unix.EPOLLIN, c); err != nil {
				unix.Close(c.fd)
				c.gone(0, 0)
				return
			}
			c.events = unix.EPOLLIN
			h.conns[c] = struct{}{}
			l.sweepAtLeast(c.s.httpTick())
			c.waitRequest(true)
			if c.wantH2 {
				c.startH2(l)
			}
			if len(c.in) > 0 {
				c.consume(l) // read behind a PROXY header
				if c.closed {
					return
				}
				c.keep()
			}
			c.retryRead(l) // the request may have come with the handshake
		},
		undo: func() {
			unix.Close(c.fd)
			c.gone(0, 0)
		},
	}
}

// toLoop hands the connection, its descriptor ready, to its loop; a loop
// that has stopped lets go of it as addConn's undo would.
func (c *hconn) toLoop() {
	if cmd := addConn(c); !c.l.post(cmd) {
		cmd.undo()
	}
}

// abortConn closes a connection: reclaimed while idle, or at the end of
// the drain (a request under way is recorded as killed).
func abortConn(c *hconn) relayCmd {
	return relayCmd{run: func(l *eventLoop) {
		if l.has(c) {
			if c.h2 != nil {
				c.h2.closeAll(l, true)
			}
			if c.started {
				c.ex.Fail(httpcore.CauseKilled, c.stage(), 0)
			}
			c.close(l)
		}
	}}
}

// stopService tells the loop that s is stopping: its idle keep-alive
// connections close after a grace.
func stopService(s *Service) relayCmd {
	return relayCmd{run: func(l *eventLoop) {
		for c := range l.http().conns {
			if c.s == s && c.h2 != nil {
				c.h2.goAway()
			}
			if c.s != s || c.phase != hIdle || (c.h2 != nil && len(c.h2.streams) > 0) {
				continue
			}
			grace := l.now + int64(min(stopIdleGrace, c.s.Drain))
			if c.deadline == 0 || c.deadline > grace {
				c.deadline = grace
			}
		}
	}}
}

// serviceGone closes the idle backend connections of a service that has
// stopped: on a relay that outlives the service (the daemon's), they
// would otherwise wait out idleExpiry.
func serviceGone(s *Service) relayCmd {
	return relayCmd{run: func(l *eventLoop) {
		for b := range l.http().idle {
			if list := *b.hc.pool.loopList(l); len(list) > 0 && list[0].g.root == s {
				l.dropIdleTo(b)
			}
		}
	}}
}

// backendDown closes the loop's idle connections to a backend that went
// down, as on the goroutine path (it may come back as another process).
func backendDown(b *backend) relayCmd {
	return relayCmd{run: func(l *eventLoop) { l.dropIdleTo(b) }}
}

// connectedCmd hands a goroutine's answer for a request's backend
// connection to the loop.
func connectedCmd(r *hconnected) relayCmd {
	return relayCmd{
		run: func(l *eventLoop) { r.u.connected(l, r) },
		undo: func() {
			if r.err == nil {
				closeFd(r.fd)
				r.g.release(r.b)
			}
		},
	}
}

// stealCmd asks the loop for one of its idle connections to a backend.
func stealCmd(req *stealReq) relayCmd {
	return relayCmd{
		run: func(l *eventLoop) {
			fd := -1
			if be := l.takeOwnIdle(req.b); be != nil {
				l.forget(be.fd, true)
				fd = be.fd
			}
			req.reply <- fd
		},
		undo: func() { req.reply <- -1 },
	}
}

// has reports whether c is one of the loop's connections.
func (l *eventLoop) has(c *hconn) bool {
	_, ok := l.http().conns[c]
	return ok
}

// wall is the wall-clock time of loop time t.
func (l *eventLoop) wall(t int64) time.Time { return l.start.Add(time.Duration(t)) }

// dropIdleTo closes the loop's idle connections to b.
func (l *eventLoop) dropIdleTo(b *backend) {
	if _, ok := l.http().idle[b]; !ok {
		return
	}
	list := b.hc.pool.loopList(l)
	for i, be := range *list {
		l.drop(be.fd)
		l.http().nidle--
		(*list)[i] = nil
	}
	*list = (*list)[:0]
	delete(l.http().idle, b)
}

// stealReq asks a loop for one of its idle connections to b; the reply
// is the descriptor, taken out of the loop, or -1.
type stealReq struct {
	b     *backend
	reply chan int
}

// stealIdle takes an idle connection to b from another loop of the
// relay: idle connections are kept per loop, and a loop without one must
// not open a new connection (or fail to, out of descriptors) while
// another loop has one to spare.
func (l *eventLoop) stealIdle(r *Relay, b *backend) int {
	for _, other := range r.loops {
		if other == l {
			continue
		}
		req := &stealReq{b: b, reply: make(chan int, 1)}
		if !other.post(stealCmd(req)) {
			continue
		}
		if fd := <-req.reply; fd >= 0 {
			return fd
		}
	}
	return -1
}

// stop closes every HTTP connection and idle backend connection.
func (h *loopHTTP) stop(l *eventLoop) {
	for c := range h.conns {
		c.close(l)
	}
	for b := range h.idle {
		l.dropIdleTo(b)
	}
}

// sweep enforces the HTTP timeouts and expires idle backend connections.
func (h *loopHTTP) sweep(l *eventLoop) {
	for c := range h.conns {
		if c.deadline > 0 && l.now >= c.deadline {
			c.timeout(l)
		}
		if c.h2 != nil && !c.closed {
			c.h2.sweep(l)
		}
	}
	for b := range h.idle {
		list := b.hc.pool.loopList(l)
		n := 0
		for n < len(*list) && time.Duration(l.now-(*list)[n].idleAt) >= idleExpiry {
			l.drop((*list)[n].fd)
			n++
		}
		if n > 0 {
			h.nidle -= n
			k := copy(*list, (*list)[n:])
			clear((*list)[k:])
			*list = (*list)[:k]
			if k == 0 {
				delete(h.idle, b)
			}
		}
	}
	if h.busy() {
		l.sweepAtLeast(httpSweepTick)
	}
}

// httpTick is how often the loop must check this service's timeouts.
func (s *Service) httpTick() time.Duration {
	t := s.cfg.Timeouts
	tick := watchTick(t.HTTPRequest.D(), t.HTTPKeepAlive.D(), t.Client.D(), t.Server.D())
	if tick == 0 || tick > httpSweepTick {
		tick = httpSweepTick
	}
	return tick
}

func (s *Service) requestTimeout() time.Duration {
	if d := s.cfg.Timeouts.HTTPRequest.D(); d > 0 {
		return d
	}
	return s.cfg.Timeouts.Client.D()
}

func (s *Service) keepAliveTimeout() time.Duration {
	if d := s.cfg.Timeouts.HTTPKeepAlive.D(); d > 0 {
		return d
	}
	return s.requestTimeout()
}

// after is the loop time d from now, or 0 (no deadline) for d <= 0.
func (l *eventLoop) after(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return l.now + int64(d)
}

func (c *hconn) setEvents(l *eventLoop, events uint32) {
	if events&unix.EPOLLIN != 0 && c.events&unix.EPOLLIN == 0 {
		c.retryRead(l)
	}
	if err := l.setFdEvents(c.fd, &c.events, events); err != nil {
		c.close(l)
	}
}

// stopping reports whether the service is stopping: the next response
// says Connection: close. It asks the service's context, as the goroutine
// path does (httpConn.stopping): the loop runs its service's hstop only
// after the batch of events under way, and a connection added later never
// sees one.
func (c *hconn) stopping() bool { return c.sctx.Err() != nil }

// waitRequest waits for the next request on the connection.
func (c *hconn) waitRequest(first bool) {
	l := c.l
	c.phase = hIdle
	c.started = false
	wait := c.s.keepAliveTimeout()
	if first {
		wait = c.s.requestTimeout()
	}
	if c.stopping() && (wait <= 0 || wait > stopIdleGrace) {
		wait = min(stopIdleGrace, c.s.Drain)
	}
	c.deadline = l.after(wait)
	c.idleSince.Store(time.Now().UnixNano())
	c.idle.Store(true)
	c.s.turnedIdle()
}

// ready handles an event on the client socket.
func (c *hconn) ready(l *eventLoop, events uint32) {
	if events&unix.EPOLLOUT != 0 && len(c.out) > 0 {
		if !c.flush(l) {
			return
		}
	}
	if c.closed {
		return
	}
	if events&unix.EPOLLIN != 0 && c.events&unix.EPOLLIN != 0 {
		c.readable(l)
		return
	}
	if events&(unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		// Reset or gone while we were not reading: nobody to answer.
		c.close(l)
	}
}

// readable reads what the client sent and acts on it.
func (c *hconn) readable(l *eventLoop) {
	reads := maxReadsPerWake
	if c.tls != nil {
		reads = maxTLSReadsPerWake
	}
	for range reads {
		var dst []byte
		if len(c.in) == 0 {
			dst = l.buf
		} else {
			c.own(len(c.in) + 4096)
			dst = c.in[len(c.in):cap(c.in)]
		}
		var n int
		var err error
		if c.tls != nil {
			n, err = c.tlsRead(dst)
		} else {
			n, err = rawRead(c.fd, dst)
		}
		switch {
		case err == unix.EAGAIN:
			c.keep()
			return
		case err != nil || n == 0:
			c.clientEOF(l)
			return
		}
		if c.tls == nil {
			c.bytesIn += int64(n)
		}
		if len(c.in) == 0 {
			c.in, c.inOwned = l.buf[:n], false
		} else {
			c.in = c.in[:len(c.in)+n]
		}
		c.consume(l)
		if c.closed {
			return
		}
		if c.events&unix.EPOLLIN == 0 || (n < len(dst) && c.tls == nil) {
			// A TLS read gives one record: only "would block" says the
			// socket is drained.
			c.keep()
			return
		}
	}
	c.keep()
	c.retryRead(l) // its share of the wake-up is read, maybe not all
}

// own moves in to the connection's own memory, with room for size bytes.
func (c *hconn) own(size int) {
	if c.inOwned && cap(c.in) >= size {
		return
	}
	b := make([]byte, len(c.in), max(size, 2*cap(c.in), 4096))
	copy(b, c.in)
	c.in, c.inOwned = b, true
}

// keep makes sure unused client bytes outlive the loop's read buffer.
func (c *hconn) keep() {
	if len(c.in) == 0 {
		c.in, c.inOwned, c.scanned = nil, false, 0
		return
	}
	if !c.inOwned {
		c.own(len(c.in))
	}
}

// use drops n bytes from the front of in.
func (c *hconn) use(n int) {
	c.in = c.in[n:]
	c.scanned = 0
	if len(c.in) == 0 {
		c.in, c.inOwned = nil, false
	}
}

// clientEOF: the client closed (or reset) its side.
func (c *hconn) clientEOF(l *eventLoop) {
	if c.phase == hSend && c.reqLeft > 0 {
		c.s.log.Debug("request body failed", "client", c.ip, "err", "client closed")
	}
	if c.requestOut() {
		// A client may end its side once its request is out: the answer
		// still goes to it (and to the requests it pipelined before),
		// then the connection closes.
		c.halfClosed = true
		c.setEvents(l, c.events&^unix.EPOLLIN)
		return
	}
	if c.phase == hIdle {
		c.closeAfterOut(l) // the last answer may still be on its way
		return
	}
	c.close(l)
}

// requestOut reports whether the whole current request has been read, so
// that what the client sends now belongs to the next one.
func (c *hconn) requestOut() bool {
	switch c.phase {
	case hConnect, hResp:
		return true
	case hSend:
		return c.reqLeft == 0
	}
	return false
}

// consume acts on the client bytes in c.in.
func (c *hconn) consume(l *eventLoop) {
	if c.h2 != nil && c.phase != hLinger {
		c.h2.consume(l)
		return
	}
	if c.s.cfg.H2C && c.phase == hIdle && !c.served.Load() {
		// HTTP/2 with prior knowledge: the preface, or a part of it.
		switch yes, maybe := isH2Start(c.in); {
		case yes:
			c.startH2(l)
			c.h2.consume(l)
			return
		case maybe:
			return
		}
	}
	switch c.phase {
	case hLinger:
		c.use(len(c.in))
	case hIdle, hHead:
		if c.phase == hIdle {
			if !c.idle.CompareAndSwap(true, false) {
				c.close(l) // reclaimed at the limit as the request came
				return
			}
			c.phase, c.started, c.start = hHead, true, l.now
			c.ex.Begin(l.wall(l.now), c.client, "HTTP/1.1")
			c.ex.TLS = c.tls != nil
			c.g, c.b = nil, nil
			c.firstReq = !c.served.Load()
			if c.firstReq {
				c.served.Store(true)
			}
			c.deadline = l.after(c.s.requestTimeout())
			if c.stopping() {
				c.deadline = l.after(stopIdleGrace)
			}
		}
		n, err := 0, httpcore.ErrIncomplete
		if httpcore.HeadEnd(c.in, c.scanned) >= 0 || len(c.in) >= httpReaderSize {
			// a whole head, or a line or head too long
			n, err = c.req.Parse(c.in, true)
		}
		switch err {
		case nil:
		case httpcore.ErrIncomplete:
			c.scanned = len(c.in)
			return
		default:
			// Answered here, as on the goroutine path: handing over
			// takes a descriptor, and a flood of bad requests may have
			// taken them all.
			c.s.log.Debug("closing client: bad request head", "client", c.ip, "err", err)
			code := httpcore.StatusOf(err)
			c.ex.BytesIn = int64(len(c.in))
			if c.firstReq && c.s.cfg.H2C {
				// On a listener that speaks h2c too, a first message
				// that is not HTTP/1 may be a broken HTTP/2 preface, to
				// whose client an HTTP/1 answer means nothing: the
				// connection closes (RFC 9113 §3.4).
				c.ex.Fail(httpcore.CauseProxy, httpcore.StageRequest, 0)
				c.close(l)
				return
			}
			c.ex.Fail(httpcore.CauseProxy, httpcore.StageRequest, code)
			c.fail(l, code)
			return
		}
		c.ex.HeadDone = time.Duration(l.now - c.start)
		c.ex.BytesIn = int64(n)
		c.ex.Req = &c.req
		if c.req.Minor == 0 {
			c.ex.Proto = "HTTP/1.0"
		}
		c.dispatch(l, n)
	case hSend:
		if c.reqLeft == 0 {
			c.readAhead(l)
		} else if c.sendBody(l) {
			c.sent()
		}
	case hConnect, hResp:
		c.readAhead(l)
	}
}

// readAhead keeps what the client sends while a request is under way (the
// client stays registered for reading, which spares two epoll_ctl calls per
// request), up to maxPipelined.
func (c *hconn) readAhead(l *eventLoop) {
	if len(c.in) >= maxPipelined {
		c.inFull = true
		c.setEvents(l, c.events&^unix.EPOLLIN)
	}
}

// dispatch starts the request whose head (n bytes) was just parsed.
func (c *hconn) dispatch(l *eventLoop, n int) {
	s, r := c.s, &c.req
	if r.Chunked || r.ExpectContinue || r.UpgradeRequested() {
		c.handBack(l)
		return
	}
	c.rt = s.route(r, c.ipKey)
	g := c.rt.g
	b := g.tryAcquire(c.rt.key, c.rt.pref)
	if b == nil {
		c.handBack(l) // the goroutine path queues, or answers 503
		return
	}
	c.use(n)
	c.g, c.b = g, b
	c.reqLeft = max(r.ContentLength, 0)
	c.respHead, c.early, c.replayed = false, false, false
	now := time.Duration(l.now - c.start)
	c.ex.Queued, c.ex.Assigned = now, now
	if be := l.takeIdle(b, g); be != nil {
		c.ex.Connected = now
		c.attach(l, be)
		return
	}
	c.connectAsync(l, b, false)
}

// tryAcquire takes a slot for a request at once, on pref when it is
// usable, else on the balancer's choice; nil when the request would have
// to wait (or no backend is up), which the goroutine path handles.
func (s *Service) tryAcquire(key []byte, pref *backend) *backend {
	if pref != nil && s.acquireThis(pref) {
		return pref
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, res := s.pickLocked(key, nil)
	if res != picked {
		return nil
	}
	b.active++
	return b
}

// takeIdle takes an idle connection to b from its pool: the newest on
// this loop's list, else one of the shared list (see idlePool), if any.
func (l *eventLoop) takeIdle(b *backend, g *Service) *hback {
	if be := l.takeOwnIdle(b); be != nil {
		be.g = g
		return be
	}
	for {
		fd := b.hc.pool.takeSharedFd(g.root.relay, time.Now())
		if fd < 0 {
			return nil
		}
		be := &hback{fd: fd, g: g, b: b, reused: true}
		if l.register(fd, unix.EPOLLIN, be) == nil {
			be.events = unix.EPOLLIN
			return be
		}
		unix.Close(fd)
	}
}

// takeOwnIdle takes the newest unexpired connection to b on this loop's
// list of its pool.
func (l *eventLoop) takeOwnIdle(b *backend) *hback {
	if _, ok := l.http().idle[b]; !ok {
		return nil
	}
	list := b.hc.pool.loopList(l)
	for len(*list) > 0 {
		n := len(*list)
		be := (*list)[n-1]
		(*list)[n-1] = nil
		*list = (*list)[:n-1]
		l.http().nidle--
		if n == 1 {
			delete(l.http().idle, b)
		}
		if time.Duration(l.now-be.idleAt) < idleExpiry {
			be.reused = true
			return be
		}
		l.drop(be.fd)
	}
	return nil
}

// putIdle keeps be in its backend's pool for the next request: on this
// loop's list, still watched, or for a backend with max_conn on the
// shared list, where every loop finds it.
func (l *eventLoop) putIdle(be *hback) {
	be.c, be.idleAt, be.anyResp = nil, l.now, false
	be.in = be.in[:0]
	pool := &be.b.hc.pool
	if be.b.cfg.MaxConn > 0 {
		l.forget(be.fd, true)
		pool.putShared(nil, be.fd, time.Now())
		return
	}
	list := pool.loopList(l)
	if len(*list) >= maxIdlePerBackend {
		l.drop((*list)[0].fd)
		k := copy(*list, (*list)[1:])
		(*list)[k] = nil
		*list = (*list)[:k]
		l.http().nidle--
	}
	*list = append(*list, be)
	l.http().idle[be.b] = struct{}{}
	l.http().nidle++
	l.sweepAtLeast(httpSweepTick)
}

// dropIdle removes be from its pool and closes it (it closed or sent
// something unasked).
func (l *eventLoop) dropIdle(be *hback) {
	list := be.b.hc.pool.loopList(l)
	for i, x := range *list {
		if x == be {
			copy((*list)[i:], (*list)[i+1:])
			(*list)[len(*list)-1] = nil
			*list = (*list)[:len(*list)-1]
			l.http().nidle--
			if len(*list) == 0 {
				delete(l.http().idle, be.b)
			}
			break
		}
	}
	l.drop(be.fd)
}

// connectAsync gets a backend connection for the current request from a
// goroutine: balancing with queueing, retries and the connect timeout are
// the goroutine path's. b, when not nil, is a backend the request holds a
// slot on and is tried first (on a new connection when fresh is set).
func (c *hconn) connectAsync(l *eventLoop, b *backend, fresh bool) {
	c.phase = hConnect
	c.deadline = 0
	c.b = nil // the goroutine owns the slot until it answers
	l.connectFor(c, c.ctx, c.s.relay, c.rt, b, fresh)
}

// connectFor has a goroutine get a backend connection for u's request,
// routed by rt, and post the answer to the loop: balancing with
// queueing, retries and the connect timeout are the goroutine path's. b,
// when not nil, is a backend the request holds a slot on and is tried
// first (on a new connection when fresh is set).
func (l *eventLoop) connectFor(u connUser, ctx context.Context, relay *Relay, rt routing, b *backend, fresh bool) {
	g, pref := rt.g, rt.pref
	key := append([]byte(nil), rt.key...) // it points into the request, which the goroutine must not read
	go func() {
		res := &hconnected{u: u, g: g, fd: -1}
		if b != nil && !fresh && b.cfg.MaxConn <= 0 {
			res.fd = l.stealIdle(relay, b)
		}
		if res.fd >= 0 {
			now := time.Now()
			res.b, res.reused = b, true
			res.res.assigned, res.res.connected = now, now
		} else if cr, err := connectHTTP(ctx, g, key, pref, b, fresh); err != nil {
			res.res, res.err = cr, err
		} else {
			res.res = cr
			res.b, res.reused = cr.b, cr.bc.reused
			if tc, ok := cr.bc.tc.c.(*net.TCPConn); ok {
				res.fd, res.err = relay.dup(tc)
			} else {
				res.err = errors.New("backend connection is not TCP")
			}
			cr.bc.tc.c.Close()
			if res.err != nil {
				g.release(cr.b)
			}
		}
		if !l.post(connectedCmd(res)) && res.err == nil {
			closeFd(res.fd)
			g.release(res.b)
		}
	}()
}

// connected takes a goroutine's answer for the request's backend
// connection.
func (c *hconn) connected(l *eventLoop, r *hconnected) {
	if _, ok := l.http().conns[c]; !ok || c.closed || c.phase != hConnect {
		if r.err == nil {
			closeFd(r.fd)
			r.g.release(r.b)
		}
		return
	}
	r.record(&c.ex, c.replayed)
	if r.err != nil {
		c.s.log.Debug("request failed: no backend connection", "client", c.ip, "err", r.err)
		cause, stage, code := connectFailure(r.err, r.res)
		c.ex.Fail(cause, stage, code)
		if code != 0 {
			c.fail(l, code)
		} else {
			c.close(l)
		}
		return
	}
	c.ex.Connected = r.res.connected.Sub(c.ex.Start)
	c.g, c.b = r.g, r.b
	be := &hback{fd: r.fd, g: r.g, b: r.b, reused: r.reused}
	if err := l.register(be.fd, 0, be); err != nil {
		unix.Close(be.fd)
		c.ex.Fail(httpcore.CauseResource, httpcore.StageConnect, 502)
		c.fail(l, 502)
		return
	}
	c.attach(l, be)
}

// attach sends the current request on be.
func (c *hconn) attach(l *eventLoop, be *hback) {
	be.c, be.anyResp = c, false
	be.in = be.in[:0]
	c.be = be
	c.phase = hSend
	c.inFull = false // what was read ahead is this request's body, or is kept
	c.respHead = false
	c.setCookie = c.s.stickyLine(&c.req, c.b)
	if c.closed {
		return
	}
	proto := "http"
	if c.tls != nil {
		proto = "https"
	}
	head := httpcore.AppendRequestHead(l.http().scratch[:0], &c.req, httpcore.Forwarding{Add: c.s.cfg.ForwardedHeaders, ClientIP: c.ip, Proto: proto})
	if k := int(min(c.reqLeft, int64(len(c.in)))); k > 0 && len(head)+k <= relayBufSize {
		// head and body in one write
		head = append(head, c.in[:k]...)
		c.use(k)
		c.reqLeft -= int64(k)
		c.ex.BytesIn += int64(k)
	}
	l.http().scratch = head[:0]
	if c.toBackend(l, head) && c.sendBody(l) {
		c.sent()
	}
}

// sendBody forwards the request body bytes that arrived while the backend
// takes them; false when the request failed.
func (c *hconn) sendBody(l *eventLoop) bool {
	k := int(min(c.reqLeft, int64(len(c.in))))
	if len(c.be.out) > 0 || k == 0 {
		return true
	}
	body := c.in[:k]
	c.reqLeft -= int64(k)
	c.ex.BytesIn += int64(k)
	c.use(k) // body still points at the bytes
	return c.toBackend(l, body)
}

// toBackend writes p to the request's backend connection, keeping what it
// cannot take yet; false when the request failed.
func (c *hconn) toBackend(l *eventLoop, p []byte) bool {
	if err := c.be.write(l, p); err != nil {
		c.backendFailed(l, err)
		return false
	}
	return true
}

// write writes p to the backend, keeping what it cannot take yet in out.
func (be *hback) write(l *eventLoop, p []byte) error {
	w, err := l.writeOrKeep(be.fd, &be.out, &be.outBuf, p)
	be.sent += int64(w)
	return err
}

// writeOrKeep writes p to fd and keeps what the socket cannot take yet in
// *out, a buffer from l.bufs (*buf) that the caller writes on EPOLLOUT;
// behind bytes kept already it only keeps, so they leave in order. It
// returns the bytes written now, and an error other than "would block".
func (l *eventLoop) writeOrKeep(fd int, out *[]byte, buf **[]byte, p []byte) (int, error) {
	if len(*out) > 0 {
		*out = append(*out, p...)
		return 0, nil
	}
	w, err := writeFull(fd, p)
	if err != nil && err != unix.EAGAIN {
		return w, err
	}
	if w < len(p) {
		b := l.bufs.Get().(*[]byte)
		*out, *buf = append((*b)[:0], p[w:]...), b
	}
	return w, nil
}

// sent sets the events after request bytes went out: read the client for
// more body only while the backend takes it, and always read the backend
// (its answer, or its close).
func (c *hconn) sent() {
	l, be := c.l, c.be
	if c.closed || be == nil {
		return
	}
	if c.reqLeft == 0 && len(be.out) == 0 {
		c.phase = hResp
	}
	bev := uint32(unix.EPOLLIN)
	if len(be.out) > 0 {
		bev |= unix.EPOLLOUT
	}
	if len(c.out) > 0 {
		bev &^= unix.EPOLLIN // the client is not taking the response yet
	}
	if err := l.setFdEvents(be.fd, &be.events, bev); err != nil {
		c.backendFailed(l, err)
		return
	}
	c.setEvents(l, c.clientEvents())
	c.wait()
}

// clientEvents is what the client socket waits for: reading, but while
// the backend has not taken the body bytes already read, after the client
// ended its side and while read-ahead is full; writing while it has not
// taken its bytes.
func (c *hconn) clientEvents() uint32 {
	ev := uint32(unix.EPOLLIN)
	if c.halfClosed || c.inFull || (c.phase == hSend && c.reqLeft > 0 && c.be != nil && len(c.be.out) > 0) {
		ev = 0
	}
	if len(c.out) > 0 {
		ev |= unix.EPOLLOUT
	}
	return ev
}

// wait sets the deadline of what the request waits for now: the client
// taking the response, the client sending its body, or the backend.
func (c *hconn) wait() {
	l := c.l
	switch {
	case len(c.out) > 0, c.phase == hSend && c.reqLeft > 0 && len(c.be.out) == 0:
		c.deadline = l.after(c.s.cfg.Timeouts.Client.D())
	default:
		c.deadline = l.after(c.s.cfg.Timeouts.Server.D())
	}
}

// ready handles an event on a backend connection.
func (be *hback) ready(l *eventLoop, events uint32) {
	c := be.c
	if c == nil {
		// Idle: it closed, or sent what nobody asked for.
		l.dropIdle(be)
		return
	}
	if events&unix.EPOLLOUT != 0 && len(be.out) > 0 {
		w, err := writeFull(be.fd, be.out)
		be.sent += int64(w)
		be.out = be.out[w:]
		if err != nil && err != unix.EAGAIN {
			c.backendFailed(l, err)
			return
		}
		if len(be.out) == 0 {
			l.bufs.Put(be.outBuf)
			be.out, be.outBuf = nil, nil
			if !c.backendTook(l) {
				return
			}
		}
	}
	if events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) != 0 && be.events&unix.EPOLLIN != 0 {
		be.readable(l, c)
	} else if events&(unix.EPOLLHUP|unix.EPOLLERR) != 0 && be.c != nil {
		c.backendFailed(l, errors.New(socketError(be.fd)))
	}
}

// readable reads the response and forwards it.
func (be *hback) readable(l *eventLoop, c backUser) {
	for range maxReadsPerWake {
		n, err := rawRead(be.fd, l.buf)
		switch {
		case err == unix.EAGAIN:
			return
		case err != nil:
			c.backendFailed(l, err)
			return
		case n == 0:
			c.backendEOF(l)
			return
		}
		be.recv += int64(n)
		be.anyResp = true
		if !c.backendSent(l, be, l.buf[:n]) || be.events&unix.EPOLLIN == 0 || n < len(l.buf) {
			return
		}
	}
}

func (c *hconn) backendTook(l *eventLoop) bool {
	if !c.sendBody(l) {
		return false
	}
	c.sent()
	return !c.closed
}

func (c *hconn) backendSent(l *eventLoop, be *hback, p []byte) bool {
	return c.response(l, p) && c.be == be
}

// response takes bytes the backend sent; false when the request ended or
// failed.
func (c *hconn) response(l *eventLoop, p []byte) bool {
	var out []byte // the head and body for the client, in l.http().scratch
	if !c.respHead {
		head, rest, ok := c.responseHead(l, p)
		if !ok || head == nil {
			return ok
		}
		out, p = head, rest
	}
	headLen := len(out)
	var k int
	var done bool
	var err error
	switch {
	case c.respMode == httpcore.ChunkedBody:
		// re-framed, never forwarded as it came
		k, out, done, err = c.chunks.Feed(p, append(l.http().scratch[:0], out...))
		l.http().scratch = out[:0]
	case out != nil:
		k, done = c.body(p)
		out = append(out, p[:k]...)
		l.http().scratch = out[:0]
	default:
		k, done = c.body(p)
		out = p[:k]
	}
	c.ex.BodyOut += int64(len(out) - headLen)
	if !c.toClient(l, out) {
		return false
	}
	if err != nil {
		c.backendFailed(l, err)
		return false
	}
	if done {
		c.responseDone(l, k < len(p))
		return false
	}
	c.wait()
	return true
}

// responseHead parses the response head from what the backend sent so far
// (p, after any part kept before), forwarding interim responses. It
// returns the head for the client and the bytes after it; a nil head
// with ok while the head is not all there, ok false when the request
// failed.
func (c *hconn) responseHead(l *eventLoop, p []byte) (head, rest []byte, ok bool) {
	be := c.be
	if c.phase == hSend {
		// An answer before the whole body went out: it is the client's,
		// and the rest of the body is not wanted.
		c.early = true
	}
	data := p
	if len(be.in) > 0 {
		be.in = append(be.in, p...)
		data = be.in
	}
	for {
		n, err := c.resp.Parse(data, false)
		if err == httpcore.ErrIncomplete {
			be.in = append(be.in[:0], data...)
			c.wait()
			return nil, nil, true
		}
		if err != nil {
			c.backendFailed(l, err)
			return nil, nil, false
		}
		data = data[n:]
		st := c.resp.Status
		if st >= 200 {
			break
		}
		if st == 101 {
			c.backendFailed(l, errUnaskedUpgrade)
			return nil, nil, false
		}
		if httpcore.ForwardInterim(&c.req, &c.resp) {
			if !c.toClient(l, httpcore.AppendResponseHead(l.http().scratch[:0], &c.resp, nil, false)) {
				return nil, nil, false
			}
		}
	}
	c.respHead = true
	c.ex.ResponseHead = time.Duration(l.now - c.start)
	c.ex.Status, c.ex.FromBackend = c.resp.Status, true
	stickyMarks(&c.ex, &c.rt, c.b, c.setCookie)
	be.in = be.in[:0]
	c.respMode = httpcore.ResponseFraming(&c.req, &c.resp)
	switch c.respMode {
	case httpcore.ChunkedBody:
		c.chunks.Reset(httpcore.Reframe)
	case httpcore.Length:
		c.respLeft = c.resp.ContentLength
	}
	keep, _ := httpcore.KeepAlive(&c.req, &c.resp, c.respMode)
	c.keepClient = keep && !c.stopping() && !c.early
	return httpcore.AppendResponseHead(l.http().scratch[:0], &c.resp, c.setCookie, !c.keepClient), data, true
}

// errUnaskedUpgrade is a 101 to a request that asked for no upgrade.
var errUnaskedUpgrade = &httpcore.Error{Status: 502, Reason: "101 without an upgrade request"}

// body takes the response body bytes in p (framed by length, or by the
// connection's end): how many belong to it and whether it ended.
func (c *hconn) body(p []byte) (int, bool) {
	switch c.respMode {
	case httpcore.NoBody:
		return 0, true
	case httpcore.Length:
		k := int(min(c.respLeft, int64(len(p))))
		c.respLeft -= int64(k)
		return k, c.respLeft == 0
	}
	return len(p), false
}

// send writes p to the client (through TLS, when it speaks it), queuing
// what the socket cannot take yet in c.out; false when the connection
// ended.
func (c *hconn) send(l *eventLoop, p []byte) bool {
	if c.tls != nil {
		// Behind queued bytes, the link only queues.
		if _, err := c.tls.Write(p); err != nil {
			c.close(l)
			return false
		}
		return true
	}
	w, err := l.writeOrKeep(c.fd, &c.out, &c.outBuf, p)
	c.bytesOut += int64(w)
	if err != nil {
		c.close(l)
		return false
	}
	return true
}

// toClient writes p to the client, keeping what it cannot take yet and
// pausing the backend until it has; false when the connection ended.
func (c *hconn) toClient(l *eventLoop, p []byte) bool {
	if len(p) == 0 {
		return true
	}
	c.ex.BytesOut += int64(len(p))
	queued := len(c.out) > 0
	if !c.send(l, p) {
		return false
	}
	if !queued && len(c.out) > 0 {
		if be := c.be; be != nil && be.c == c {
			if err := l.setFdEvents(be.fd, &be.events, be.events&^unix.EPOLLIN); err != nil {
				c.close(l)
				return false
			}
		}
		c.setEvents(l, c.events|unix.EPOLLOUT)
		c.wait()
	}
	return !c.closed
}

// flush writes what the client has not taken yet; false when the
// connection ended.
func (c *hconn) flush(l *eventLoop) bool {
	w, err := writeFull(c.fd, c.out)
	c.bytesOut += int64(w)
	c.out = c.out[w:]
	if err != nil && err != unix.EAGAIN {
		c.close(l)
		return false
	}
	if len(c.out) > 0 {
		c.wait()
		return true
	}
	l.bufs.Put(c.outBuf)
	c.out, c.outBuf = nil, nil
	if c.closing {
		c.close(l)
		return false
	}
	if c.h2 != nil && c.phase != hLinger {
		c.h2.drained(l)
		return !c.closed
	}
	if be := c.be; be != nil && be.c == c && c.phase >= hSend {
		c.sent() // read the backend again
		return !c.closed
	}
	c.setEvents(l, c.events&^unix.EPOLLOUT)
	if c.phase == hLinger {
		c.linger(l)
	}
	return !c.closed
}

// responseDone ends the current request after its response was forwarded.
// extra: the backend sent more than the response, so its connection is
// not reused.
func (c *hconn) responseDone(l *eventLoop, extra bool) {
	be := c.be
	_, keep := httpcore.KeepAlive(&c.req, &c.resp, c.respMode)
	keepBackend := keep && !c.early && !extra && c.reqLeft == 0 && len(be.out) == 0
	c.endRequest(l, keepBackend)
	if c.closed {
		return
	}
	switch {
	case c.early:
		c.lingerAfter(l)
	case !c.keepClient:
		c.closeAfterOut(l)
	default:
		c.waitRequest(false)
		c.inFull = false
		c.setEvents(l, c.clientEvents())
		if len(c.in) > 0 && !c.closed {
			c.consume(l) // a pipelined request
		}
		if c.halfClosed && !c.closed && (c.phase == hIdle || c.phase == hHead) {
			c.closeAfterOut(l) // nothing more will come
		}
	}
}

// endRequest ends the current request: it gives back its backend
// connection (to the idle pool when keep is set, else closed) and its
// slot, and books it.
func (c *hconn) endRequest(l *eventLoop, keep bool) {
	b := c.b
	c.releaseBackend(l, keep)
	c.book(l, b)
}

// releaseBackend gives back the current request's backend connection (to
// the idle pool when keep is set, else closed) and its slot.
func (c *hconn) releaseBackend(l *eventLoop, keep bool) {
	if be := c.be; be != nil {
		c.be = nil
		c.ex.BackendOut += be.sent
		c.ex.BackendIn += be.recv
		be.sent, be.recv = 0, 0
		l.closeBackend(be, keep && !c.closed)
	}
	if c.b != nil {
		c.g.release(c.b)
		c.b = nil
	}
}

// book books the current request, once; b is the backend it reached.
func (c *hconn) book(l *eventLoop, b *backend) {
	if !c.started {
		return
	}
	c.started = false
	c.ex.End = time.Duration(l.now - c.start)
	if b != nil {
		c.ex.Backend = b.cfg.Address
	}
	c.s.book(&c.ex, c.g, b)
}

// stage is where the current request is, for its record.
func (c *hconn) stage() httpcore.Stage {
	switch c.phase {
	case hHead:
		return httpcore.StageRequest
	case hConnect:
		if c.ex.Assigned < 0 {
			return httpcore.StageQueue
		}
		return httpcore.StageConnect
	case hSend:
		return httpcore.StageHeaders
	case hResp:
		if c.respHead {
			return httpcore.StageData
		}
		return httpcore.StageHeaders
	}
	return httpcore.StageDone
}

// closeBackend puts be in the idle pool (keep) or closes it.
func (l *eventLoop) closeBackend(be *hback, keep bool) {
	if be.outBuf != nil {
		l.bufs.Put(be.outBuf)
		be.out, be.outBuf = nil, nil
	}
	if keep && l.setFdEvents(be.fd, &be.events, unix.EPOLLIN) == nil {
		l.putIdle(be)
		return
	}
	l.drop(be.fd)
}

// backendEOF: the backend closed its side.
func (c *hconn) backendEOF(l *eventLoop) {
	if c.respHead && c.respMode == httpcore.UntilClose {
		c.responseDone(l, false)
		return
	}
	c.backendFailed(l, errBackendClosed)
}

// errBackendClosed is a backend that closed before its response ended.
var errBackendClosed = errors.New("backend closed the connection")

// backendFailed ends a request whose backend connection failed: the
// request goes out again on a new connection when the backend closed an
// idle one as it went out, else the client gets 502 (or, once the
// response has started, its connection closes).
func (c *hconn) backendFailed(l *eventLoop, err error) {
	be := c.be
	if be == nil || c.closed {
		return
	}
	c.s.log.Debug("request failed", "client", c.ip, "backend", be.b.cfg.Address, "err", err)

	if !c.respHead && httpcore.MayReplay(&c.req, be.reused, be.anyResp, c.replayed, false) {
		// Nothing reached a backend that was closing: replay on a new
		// connection to the same backend, keeping the slot.
		c.be = nil
		c.ex.BackendOut += be.sent
		c.ex.BackendIn += be.recv
		l.closeBackend(be, false)
		c.replayed = true
		c.connectAsync(l, c.b, true)
		return
	}
	cause := httpcore.CauseServer
	var he *httpcore.Error
	if errors.As(err, &he) {
		cause = httpcore.CauseProxy // a response vigil refuses to pass on
	}
	if c.respHead {
		c.ex.Fail(cause, httpcore.StageData, 0)
		c.endRequest(l, false)
		c.close(l)
		return
	}
	c.ex.Fail(cause, httpcore.StageHeaders, 502)
	c.fail(l, 502)
}

// fail answers the current request with a canned error; the connection
// closes after it.
func (c *hconn) fail(l *eventLoop, code int) {
	if c.closed {
		return
	}
	b := c.b
	c.releaseBackend(l, false)
	c.use(len(c.in))
	c.keepClient = false
	ok := c.toClient(l, c.s.hs.answers.H1(code))
	c.book(l, b)
	if !ok {
		return
	}
	c.lingerAfter(l)
}

// lingerAfter lingers once what is queued for the client is written.
func (c *hconn) lingerAfter(l *eventLoop) {
	c.phase = hLinger
	c.use(len(c.in))
	if len(c.out) > 0 {
		c.setEvents(l, unix.EPOLLOUT)
		c.wait()
		return
	}
	c.linger(l)
}

// linger half-closes and discards what the client still sends, for a
// moment, so the client reads the answer rather than a reset.
func (c *hconn) linger(l *eventLoop) {
	c.tlsCloseNotify()
	if err := unix.Shutdown(c.fd, unix.SHUT_WR); err != nil {
		c.close(l)
		return
	}
	c.deadline = l.after(lingerTime)
	c.setEvents(l, unix.EPOLLIN)
}

// closeAfterOut closes once the client has taken everything.
func (c *hconn) closeAfterOut(l *eventLoop) {
	if len(c.out) == 0 {
		c.close(l)
		return
	}
	c.closing = true
	c.setEvents(l, unix.EPOLLOUT)
	c.wait()
}

// timeout acts on a deadline that passed.
func (c *hconn) timeout(l *eventLoop) {
	if c.h2 != nil && !c.closing && c.phase != hLinger {
		c.h2.timeout(l)
		return
	}
	switch {
	case c.phase == hHead && len(c.out) == 0:
		c.s.log.Debug("closing client: bad request head", "client", c.ip, "err", "timeout")
		c.ex.Fail(httpcore.CauseClientTimeout, httpcore.StageRequest, 408)
		c.fail(l, 408)
	case c.phase == hResp && !c.respHead && len(c.out) == 0:
		c.s.log.Debug("request failed", "client", c.ip, "err", "server timeout")
		c.ex.Fail(httpcore.CauseServerTimeout, httpcore.StageHeaders, 504)
		c.fail(l, 504)
	default:
		// idle keep-alive, linger over, or a side that stopped moving
		if c.started {
			cause := httpcore.CauseServerTimeout
			if len(c.out) > 0 || (c.phase == hSend && c.reqLeft > 0 && c.be != nil && len(c.be.out) == 0) {
				cause = httpcore.CauseClientTimeout
			}
			c.ex.Fail(cause, c.stage(), 0)
		}
		c.close(l)
	}
}

// close ends the connection and the request under way.
func (c *hconn) close(l *eventLoop) {
	if c.closed {
		return
	}
	if c.h2 != nil {
		c.h2.closeAll(l, false)
	}
	c.closed = true
	c.idle.Store(false)
	if c.started {
		c.ex.Fail(httpcore.CauseClient, c.stage(), 0)
	}
	c.endRequest(l, false)
	if c.outBuf != nil {
		l.bufs.Put(c.outBuf)
		c.out, c.outBuf = nil, nil
	}
	if c.tls != nil && !c.notified {
		c.tlsCloseNotify() // as far as the socket takes it now
		if c.outBuf != nil {
			l.bufs.Put(c.outBuf)
			c.out, c.outBuf = nil, nil
		}
	}
	c.in = nil
	delete(l.http().conns, c)
	l.drop(c.fd)
	c.gone(c.bytesIn, c.bytesOut)
}

// handBack gives the connection to the goroutine path with the client
// bytes not used yet (the current request from its start). Nothing of the
// request has gone anywhere, so the goroutine path serves it as if it had
// read it itself; what the client has not taken yet of the answers before
// it goes first.
func (c *hconn) handBack(l *eventLoop) {
	pre := append([]byte(nil), c.in...)
	var out []byte
	if len(c.out) > 0 {
		out = append(out, c.out...)
		l.bufs.Put(c.outBuf)
		c.out, c.outBuf = nil, nil
	}
	if c.b != nil {
		c.g.release(c.b)
		c.b = nil
	}
	c.started = false // the goroutine path records the request from its start
	c.closed = true
	c.idle.Store(false)
	delete(l.http().conns, c)
	l.forget(c.fd, true)
	fd, err := unix.Dup(c.fd)
	var nc net.Conn
	if err == nil {
		f := os.NewFile(uintptr(fd), "client")
		nc, err = net.FileConn(f)
		f.Close()
	}
	tc, _ := nc.(*net.TCPConn)
	if err != nil || tc == nil {
		// Out of descriptors, most likely: the client hears why.
		if nc != nil {
			nc.Close()
		}
		c.s.log.Debug("closing client: cannot hand over the connection", "client", c.ip, "err", err)
		if c.tls != nil {
			c.tls.Write(c.s.hs.answers.H1(503))
			c.tlsCloseNotify()
		} else {
			rawWrite(c.fd, c.s.hs.answers.H1(503))
		}
		if c.outBuf != nil {
			l.bufs.Put(c.outBuf)
			c.out, c.outBuf = nil, nil
		}
		unix.Close(c.fd)
		c.gone(c.bytesIn, c.bytesOut)
		return
	}
	unix.Close(c.fd)
	var serve net.Conn = tc
	if c.tls != nil {
		c.link.nc, c.link.fd = tc, -1
		serve = c.tls
	}
	c.toGoroutine(serve, tc, pre, out)
}

// toGoroutine has the goroutine path serve the connection from here on:
// nc, after the raw bytes out are written to raw (what the client has not
// taken yet), with pre the client bytes read and not used. The loop has
// let go of it, or never had it.
func (c *hconn) toGoroutine(nc net.Conn, raw *net.TCPConn, pre, out []byte) {
	s := c.s
	s.mu.Lock()
	s.connClosedLocked() // serveHTTPFrom counts it again
	s.st.bytesIn += uint64(c.bytesIn)
	s.st.bytesOut += uint64(c.bytesOut)
	delete(s.hs.lconns, c)
	s.mu.Unlock()
	ctx := c.sctx
	go func() {
		defer func() {
			c.cancel()
			if c.sem != nil {
				<-c.sem
			}
			s.hwg.Done()
		}()
		if len(out) > 0 {
			if d := s.cfg.Timeouts.Client.D(); d > 0 {
				raw.SetWriteDeadline(time.Now().Add(d))
			}
			if _, err := raw.Write(out); err != nil {
				nc.Close()
				return
			}
			raw.SetWriteDeadline(time.Time{})
		}
		s.serveHTTPFrom(ctx, nc, pre, true, c.client)
	}()
}
