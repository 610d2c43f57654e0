package proxy

import (
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// HTTP/1.1 on the event loops. A cleartext HTTP connection is served by
// the relay's event loops (relay.go) instead of a goroutine: the goroutine
// path parks and wakes its goroutine twice per request (waiting for the
// request, then for the response), and those wake-ups through Go's
// scheduler cost more than the proxying itself (bench/proxy.sh: 0.73x
// HAProxy in http mode with a goroutine per connection). A loop reads what
// epoll reports ready for all its connections at once, so a request costs
// what it costs HAProxy: a read and a write each way.
//
// The loop serves the common request itself: a complete head with a
// Content-Length body or none, sent on an idle keep-alive connection to the
// backend that the loop keeps, and a response framed by Content-Length,
// chunked encoding or the end of the connection. Everything else goes to
// the goroutine path, which has the code for it, before any byte of the
// request has left: upgrades, Expect: 100-continue, chunked request bodies,
// heads that do not parse (the goroutine path answers 400 or 431) and
// requests that must queue for a backend slot. A request that needs a new
// backend connection gets it from a goroutine (connectHTTP: balancing,
// retries and the connect timeout as on the goroutine path) and comes back
// to the loop with it. The answers are the same either way; only where the
// work runs differs.

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
	conns   map[*hconn]struct{}
	idle    map[*backend][]*hback // idle backend connections, oldest first
	nidle   int
	scratch []byte // a rewritten head on its way out
}

func (h *loopHTTP) busy() bool { return len(h.conns) > 0 || h.nidle > 0 }

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
	ipKey  []byte

	in      []byte // client bytes not used yet: the current request from its start
	inOwned bool   // in is the connection's own memory, not the loop's read buffer
	scanned int    // bytes of in searched for the end of the head
	out     []byte // bytes for the client that it has not taken yet
	outBuf  *[]byte

	phase      hphase
	req, resp  httpHead
	g          *Service // the group serving the current request
	b          *backend // the backend slot held for it; nil: none
	be         *hback
	reqLeft    int64 // request body bytes still to forward
	respHead   bool  // the response head has been forwarded
	respMode   respFraming
	respLeft   int64 // respLength: body bytes still to come
	chunks     chunkScanner
	keepClient bool
	early      bool // the backend answered before the request body was all sent
	replayed   bool // the request went out again on a new backend connection
	setCookie  []byte
	status     int
	started    bool  // a request is under way (counted in the metrics when it ends)
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
	c       *hconn // the request it serves; nil while idle
	out     []byte // request bytes the backend has not taken yet
	outBuf  *[]byte
	in      []byte // a response head in parts
	reused  bool
	idleAt  int64
	sent    int64 // bytes to the backend, for its counters
	recv    int64 // bytes from it
	anyResp bool  // a response byte arrived for the current request
}

// hconnected is a goroutine's answer to a request for a backend connection.
type hconnected struct {
	c      *hconn
	g      *Service
	b      *backend
	fd     int
	reused bool
	err    error
}

// loopEligible reports whether the service's clients can be served on the
// event loops: cleartext HTTP/1 without a PROXY header to read.
func (s *Service) loopEligible() bool {
	return s.hs != nil && s.hs.tls == nil && !s.cfg.H2C && !s.cfg.ProxyProtocol.Accept && !s.noLoopHTTP && s.relay != nil
}

// serveHTTPLoop hands a new client connection to an event loop. sem is
// the max_conn slot it holds (nil: none). It reports false when the loop
// could not take it; the caller then serves it on a goroutine.
func (s *Service) serveHTTPLoop(ctx context.Context, c *net.TCPConn, sem chan struct{}) bool {
	fd, err := s.relay.dup(c)
	if err != nil {
		return false
	}
	client := addrPort(c.RemoteAddr())
	c.Close()
	l := s.relay.loops[int(s.relay.next.Add(1))%len(s.relay.loops)]
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	hc := &hconn{s: s, sctx: ctx, ctx: hctx, cancel: cancel, l: l, fd: fd, sem: sem, ip: client.Addr().String()}
	if s.hashSource {
		hc.ipKey = client.Addr().AsSlice()
	}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		unix.Close(fd)
		cancel()
		if sem != nil {
			<-sem
		}
		return true
	}
	s.st.active++
	s.st.total++
	s.hs.lconns[hc] = struct{}{}
	s.hwg.Add(1)
	s.mu.Unlock()
	if !l.post(relayCmd{hadd: hc}) {
		unix.Close(fd)
		hc.gone(0, 0)
	}
	return true
}

// gone takes a connection that ended off the service's books.
func (c *hconn) gone(in, out int64) {
	s := c.s
	c.cancel()
	s.mu.Lock()
	s.st.active--
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

// httpCmd runs a loop command about HTTP connections.
func (l *eventLoop) httpCmd(cmd relayCmd) {
	switch {
	case cmd.hadd != nil:
		c := cmd.hadd
		if l.http.conns == nil {
			l.http.conns = make(map[*hconn]struct{})
			l.http.idle = make(map[*backend][]*hback)
		}
		if err := l.register(c.fd, unix.EPOLLIN, c); err != nil {
			unix.Close(c.fd)
			c.gone(0, 0)
			return
		}
		c.events = unix.EPOLLIN
		l.http.conns[c] = struct{}{}
		l.sweepAtLeast(c.s.httpTick())
		c.waitRequest(true)
	case cmd.habort != nil:
		if _, ok := l.http.conns[cmd.habort]; ok {
			cmd.habort.close(l)
		}
	case cmd.hstop != nil:
		for c := range l.http.conns {
			if c.s != cmd.hstop {
				continue
			}
			if c.phase == hIdle {
				grace := l.now + int64(min(stopIdleGrace, c.s.Drain))
				if c.deadline == 0 || c.deadline > grace {
					c.deadline = grace
				}
			}
		}
	case cmd.hconnected != nil:
		l.connected(cmd.hconnected)
	case cmd.hsteal != nil:
		fd := -1
		if be := l.takeIdle(cmd.hsteal.b, nil); be != nil {
			l.forget(be.fd, true)
			fd = be.fd
		}
		cmd.hsteal.reply <- fd
	case cmd.hgone != nil:
		// On a relay that outlives the service (the daemon's), its idle
		// backend connections would otherwise wait out idleExpiry.
		for b, list := range l.http.idle {
			if len(list) > 0 && list[0].g.root == cmd.hgone {
				l.dropIdleTo(b)
			}
		}
	case cmd.hdown != nil:
		// The backend went down: its idle connections go, as on the
		// goroutine path (it may come back as another process).
		l.dropIdleTo(cmd.hdown)
	}
}

// dropIdleTo closes the loop's idle connections to b.
func (l *eventLoop) dropIdleTo(b *backend) {
	for _, be := range l.http.idle[b] {
		l.drop(be.fd)
		l.http.nidle--
	}
	delete(l.http.idle, b)
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
		if !other.post(relayCmd{hsteal: req}) {
			continue
		}
		if fd := <-req.reply; fd >= 0 {
			return fd
		}
	}
	return -1
}

// httpDrop undoes a command that a stopped loop will not run.
func (l *eventLoop) httpDrop(cmd relayCmd) {
	switch {
	case cmd.hsteal != nil:
		cmd.hsteal.reply <- -1
	case cmd.hadd != nil:
		unix.Close(cmd.hadd.fd)
		cmd.hadd.gone(0, 0)
	case cmd.hconnected != nil:
		r := cmd.hconnected
		if r.err == nil {
			closeFd(r.fd)
			r.g.release(r.b)
		}
	}
}

// httpStopAll closes every HTTP connection and idle backend connection.
func (l *eventLoop) httpStopAll() {
	for c := range l.http.conns {
		c.close(l)
	}
	for b := range l.http.idle {
		l.dropIdleTo(b)
	}
}

// httpSweep enforces the HTTP timeouts and expires idle backend connections.
func (l *eventLoop) httpSweep() {
	for c := range l.http.conns {
		if c.deadline > 0 && l.now >= c.deadline {
			c.timeout(l)
		}
	}
	for b, list := range l.http.idle {
		n := 0
		for n < len(list) && time.Duration(l.now-list[n].idleAt) >= idleExpiry {
			l.drop(list[n].fd)
			n++
		}
		if n > 0 {
			l.http.nidle -= n
			if n == len(list) {
				delete(l.http.idle, b)
			} else {
				l.http.idle[b] = append(list[:0], list[n:]...)
			}
		}
	}
	if l.http.busy() {
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
	for range maxReadsPerWake {
		var dst []byte
		if len(c.in) == 0 {
			dst = l.buf
		} else {
			c.own(len(c.in) + 4096)
			dst = c.in[len(c.in):cap(c.in)]
		}
		n, err := rawRead(c.fd, dst)
		switch {
		case err == unix.EAGAIN:
			c.keep()
			return
		case err != nil || n == 0:
			c.clientEOF(l)
			return
		}
		c.bytesIn += int64(n)
		if len(c.in) == 0 {
			c.in, c.inOwned = l.buf[:n], false
		} else {
			c.in = c.in[:len(c.in)+n]
		}
		c.consume(l)
		if c.closed {
			return
		}
		if c.events&unix.EPOLLIN == 0 || n < len(dst) {
			c.keep()
			return
		}
	}
	c.keep()
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
	switch c.phase {
	case hLinger:
		c.use(len(c.in))
	case hIdle, hHead:
		if c.phase == hIdle {
			if !c.idle.CompareAndSwap(true, false) {
				c.close(l) // reclaimed at the limit as the request came
				return
			}
			c.phase, c.started, c.start, c.status = hHead, true, l.now, 0
			if !c.served.Load() {
				c.served.Store(true)
			}
			c.deadline = l.after(c.s.requestTimeout())
			if c.stopping() {
				c.deadline = l.after(stopIdleGrace)
			}
		}
		n, err := 0, errIncomplete
		if headEnd(c.in, c.scanned) >= 0 || len(c.in) >= httpReaderSize {
			// a whole head, or a line or head too long
			n, err = c.req.parse(c.in, true)
		}
		switch err {
		case nil:
		case errIncomplete:
			c.scanned = len(c.in)
			return
		default:
			// Answered here, as on the goroutine path: handing over
			// takes a descriptor, and a flood of bad requests may have
			// taken them all.
			c.s.log.Debug("closing client: bad request head", "client", c.ip, "err", err)
			code := 400
			if err == errHeadTooLarge {
				code = 431
			}
			c.fail(l, code)
			return
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
	if r.chunked || r.expectContinue || r.connUpgrade || r.hasUpgrade {
		c.handBack(l)
		return
	}
	g, key, pref := s.balanceRequest(r, c.ipKey)
	b := g.tryAcquire(key, pref)
	if b == nil {
		c.handBack(l) // the goroutine path queues, or answers 503
		return
	}
	c.use(n)
	c.g, c.b = g, b
	c.reqLeft = max(r.contentLength, 0)
	c.respHead, c.early, c.replayed = false, false, false
	if be := l.takeIdle(b, g); be != nil {
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

// takeIdle takes the newest idle connection to b, if any.
func (l *eventLoop) takeIdle(b *backend, g *Service) *hback {
	if b.cfg.MaxConn > 0 {
		// Shared by the loops: max_conn counts every open connection.
		for {
			fd := b.hc.getFd(time.Now())
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
	list := l.http.idle[b]
	for len(list) > 0 {
		be := list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		l.http.nidle--
		l.http.idle[b] = list
		if time.Duration(l.now-be.idleAt) < idleExpiry {
			be.reused = true
			return be
		}
		l.drop(be.fd)
	}
	return nil
}

// putIdle keeps be for the next request to its backend.
func (l *eventLoop) putIdle(be *hback) {
	be.c, be.idleAt, be.anyResp = nil, l.now, false
	be.in = be.in[:0]
	if be.b.cfg.MaxConn > 0 {
		l.forget(be.fd, true)
		be.b.hc.putFd(be.fd, time.Now())
		return
	}
	list := l.http.idle[be.b]
	if len(list) >= maxIdlePerBackend {
		old := list[0]
		l.drop(old.fd)
		list = append(list[:0], list[1:]...)
		l.http.nidle--
	}
	l.http.idle[be.b] = append(list, be)
	l.http.nidle++
	l.sweepAtLeast(httpSweepTick)
}

// dropIdle removes be from the idle pool and closes it (it closed or
// sent something unasked).
func (l *eventLoop) dropIdle(be *hback) {
	list := l.http.idle[be.b]
	for i, x := range list {
		if x == be {
			copy(list[i:], list[i+1:])
			list[len(list)-1] = nil
			l.http.idle[be.b] = list[:len(list)-1]
			l.http.nidle--
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
	r := &c.req
	g, key, pref := c.s.balanceRequest(r, c.ipKey)
	key = append([]byte(nil), key...) // r is reused by the next request
	idem := r.idempotent()
	c.b = nil // the goroutine owns the slot until it answers
	relay := c.s.relay
	go func() {
		res := &hconnected{c: c, g: g, fd: -1}
		if b != nil && !fresh && b.cfg.MaxConn <= 0 {
			res.fd = l.stealIdle(relay, b)
		}
		if res.fd >= 0 {
			res.b, res.reused = b, true
		} else if nb, bc, err := connectHTTP(c.ctx, g, key, pref, idem, b, fresh); err != nil {
			res.err = err
		} else {
			res.b, res.reused = nb, bc.reused
			if tc, ok := bc.tc.c.(*net.TCPConn); ok {
				res.fd, res.err = relay.dup(tc)
			} else {
				res.err = errors.New("backend connection is not TCP")
			}
			bc.tc.c.Close()
			if res.err != nil {
				g.release(nb)
			}
		}
		if !l.post(relayCmd{hconnected: res}) && res.err == nil {
			closeFd(res.fd)
			g.release(res.b)
		}
	}()
}

// connected takes a goroutine's answer for a request's backend connection.
func (l *eventLoop) connected(r *hconnected) {
	c := r.c
	if _, ok := l.http.conns[c]; !ok || c.closed || c.phase != hConnect {
		if r.err == nil {
			closeFd(r.fd)
			r.g.release(r.b)
		}
		return
	}
	if r.err != nil {
		c.s.log.Debug("request failed: no backend connection", "client", c.ip, "err", r.err)
		if code := connectFailStatus(r.err); code != 0 {
			c.fail(l, code)
		} else {
			c.close(l)
		}
		return
	}
	c.g, c.b = r.g, r.b
	be := &hback{fd: r.fd, g: r.g, b: r.b, reused: r.reused}
	if err := l.register(be.fd, 0, be); err != nil {
		unix.Close(be.fd)
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
	c.status = 0
	c.setCookie = c.s.stickyLine(&c.req, c.b)
	if c.closed {
		return
	}
	head := appendRequestHead(l.http.scratch[:0], &c.req, c.s.cfg.ForwardedHeaders, c.ip, "http")
	if k := int(min(c.reqLeft, int64(len(c.in)))); k > 0 && len(head)+k <= relayBufSize {
		// head and body in one write
		head = append(head, c.in[:k]...)
		c.use(k)
		c.reqLeft -= int64(k)
	}
	l.http.scratch = head[:0]
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
	c.use(k) // body still points at the bytes
	return c.toBackend(l, body)
}

// toBackend writes p to the request's backend connection, keeping what it
// cannot take yet; false when the request failed.
func (c *hconn) toBackend(l *eventLoop, p []byte) bool {
	be := c.be
	if len(be.out) > 0 {
		be.out = append(be.out, p...)
		return true
	}
	w, err := writeFull(be.fd, p)
	be.sent += int64(w)
	if err != nil && err != unix.EAGAIN {
		c.backendFailed(l, err)
		return false
	}
	if w < len(p) {
		b := l.bufs.Get().(*[]byte)
		be.out, be.outBuf = append((*b)[:0], p[w:]...), b
	}
	return true
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
			if !c.sendBody(l) {
				return
			}
			c.sent()
			if c.closed {
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
func (be *hback) readable(l *eventLoop, c *hconn) {
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
		if !c.response(l, l.buf[:n]) || c.be != be || be.events&unix.EPOLLIN == 0 || n < len(l.buf) {
			return
		}
	}
}

// response takes bytes the backend sent; false when the request ended or
// failed.
func (c *hconn) response(l *eventLoop, p []byte) bool {
	var head []byte
	if !c.respHead {
		var ok bool
		if head, p, ok = c.responseHead(l, p); !ok || head == nil {
			return ok
		}
	}
	k, done, err := c.body(p)
	if err != nil {
		c.backendFailed(l, err)
		return false
	}
	out := p[:k]
	if head != nil {
		out = append(head, out...)
		l.http.scratch = out[:0]
	}
	if !c.toClient(l, out) {
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
		n, err := c.resp.parse(data, false)
		if err == errIncomplete {
			be.in = append(be.in[:0], data...)
			c.wait()
			return nil, nil, true
		}
		if err != nil {
			c.backendFailed(l, err)
			return nil, nil, false
		}
		data = data[n:]
		st := c.resp.status
		if st >= 200 {
			break
		}
		if st == 101 {
			c.backendFailed(l, errors.New("101 without an upgrade request"))
			return nil, nil, false
		}
		// Interim responses go to the client as they are.
		if !c.toClient(l, appendResponseHead(l.http.scratch[:0], &c.resp, nil, false)) {
			return nil, nil, false
		}
	}
	c.respHead = true
	c.status = c.resp.status
	be.in = be.in[:0]
	c.respMode = responseFraming(&c.req, &c.resp)
	switch c.respMode {
	case respChunked:
		c.chunks.reset()
	case respLength:
		c.respLeft = c.resp.contentLength
	}
	keep, _ := keepAlive(&c.req, &c.resp, c.respMode)
	c.keepClient = keep && !c.stopping() && !c.early
	return appendResponseHead(l.http.scratch[:0], &c.resp, c.setCookie, !c.keepClient), data, true
}

// body takes the response body bytes in p: how many belong to it and
// whether it ended.
func (c *hconn) body(p []byte) (int, bool, error) {
	switch c.respMode {
	case respNone:
		return 0, true, nil
	case respLength:
		k := int(min(c.respLeft, int64(len(p))))
		c.respLeft -= int64(k)
		return k, c.respLeft == 0, nil
	case respChunked:
		return c.chunks.scan(p)
	}
	return len(p), false, nil
}

// toClient writes p to the client, keeping what it cannot take yet and
// pausing the backend until it has; false when the connection ended.
func (c *hconn) toClient(l *eventLoop, p []byte) bool {
	if len(p) == 0 {
		return true
	}
	if len(c.out) > 0 {
		c.out = append(c.out, p...)
		return true
	}
	w, err := writeFull(c.fd, p)
	c.bytesOut += int64(w)
	if err != nil && err != unix.EAGAIN {
		c.close(l)
		return false
	}
	if w < len(p) {
		b := l.bufs.Get().(*[]byte)
		c.out, c.outBuf = append((*b)[:0], p[w:]...), b
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
	_, keep := keepAlive(&c.req, &c.resp, c.respMode)
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

// endRequest counts the current request and gives back its backend: to
// the idle pool when keep is set, else closed.
func (c *hconn) endRequest(l *eventLoop, keep bool) {
	if be := c.be; be != nil {
		c.be = nil
		l.closeBackend(be, keep && !c.closed)
	}
	if c.b != nil {
		c.g.release(c.b)
		c.b = nil
	}
	if c.started {
		c.s.hs.metrics.observe(classOf(c.status), time.Duration(l.now-c.start))
		c.started = false
	}
}

// closeBackend counts what be moved for the request that ends and puts
// it in the idle pool (keep) or closes it.
func (l *eventLoop) closeBackend(be *hback, keep bool) {
	if be.outBuf != nil {
		l.bufs.Put(be.outBuf)
		be.out, be.outBuf = nil, nil
	}
	g, b := be.g, be.b
	g.mu.Lock()
	b.st.bytesIn += uint64(be.sent)
	b.st.bytesOut += uint64(be.recv)
	g.mu.Unlock()
	be.sent, be.recv = 0, 0
	if keep && l.setFdEvents(be.fd, &be.events, unix.EPOLLIN) == nil {
		l.putIdle(be)
		return
	}
	l.drop(be.fd)
}

// backendEOF: the backend closed its side.
func (c *hconn) backendEOF(l *eventLoop) {
	if c.respHead && c.respMode == respEOF {
		c.responseDone(l, false)
		return
	}
	c.backendFailed(l, errors.New("backend closed the connection"))
}

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

	if be.reused && !be.anyResp && !c.replayed && c.req.contentLength <= 0 && c.req.idempotent() && !c.respHead {
		// Nothing reached a backend that was closing: replay on a new
		// connection to the same backend, keeping the slot.
		c.be = nil
		l.closeBackend(be, false)
		c.replayed = true
		c.connectAsync(l, c.b, true)
		return
	}
	if c.respHead {
		c.endRequest(l, false)
		c.close(l)
		return
	}
	c.endRequest(l, false)
	c.fail(l, 502)
}

// fail answers the current request with a canned error; the connection
// closes after it.
func (c *hconn) fail(l *eventLoop, code int) {
	if c.closed {
		return
	}
	c.endRequest(l, false)
	c.use(len(c.in))
	c.keepClient = false
	if !c.toClient(l, c.s.hs.errs[code]) {
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
	switch {
	case c.phase == hHead && len(c.out) == 0:
		c.s.log.Debug("closing client: bad request head", "client", c.ip, "err", "timeout")
		c.fail(l, 408)
	case c.phase == hResp && !c.respHead && len(c.out) == 0:
		c.g.mu.Lock()
		c.g.st.timeouts++
		c.g.mu.Unlock()
		c.s.log.Debug("request failed", "client", c.ip, "err", "server timeout")
		c.endRequest(l, false)
		c.fail(l, 504)
	default:
		// idle keep-alive, linger over, or a side that stopped moving
		c.close(l)
	}
}

// close ends the connection and the request under way.
func (c *hconn) close(l *eventLoop) {
	if c.closed {
		return
	}
	c.closed = true
	c.idle.Store(false)
	c.endRequest(l, false)
	if c.outBuf != nil {
		l.bufs.Put(c.outBuf)
		c.out, c.outBuf = nil, nil
	}
	c.in = nil
	delete(l.http.conns, c)
	l.drop(c.fd)
	c.gone(c.bytesIn, c.bytesOut)
}

// handBack gives the connection to the goroutine path with the client
// bytes not used yet (the current request from its start). Nothing of the
// request has gone anywhere, so the goroutine path serves it as if it had
// read it itself.
func (c *hconn) handBack(l *eventLoop) {
	pre := append([]byte(nil), c.in...)
	if c.b != nil {
		c.g.release(c.b)
		c.b = nil
	}
	c.closed = true
	c.idle.Store(false)
	delete(l.http.conns, c)
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
		rawWrite(c.fd, c.s.hs.errs[503])
		unix.Close(c.fd)
		c.gone(c.bytesIn, c.bytesOut)
		return
	}
	unix.Close(c.fd)
	s := c.s
	s.mu.Lock()
	s.st.active-- // serveHTTPFrom counts it again
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
		s.serveHTTPFrom(ctx, tc, pre, true)
	}()
}
