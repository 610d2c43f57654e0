package proxy

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"golang.org/x/sys/unix"

	"vigil/proxy/h2"
	"vigil/proxy/httpcore"
)

// HTTP/2 on the event loops (h2 by ALPN, or h2c with prior knowledge). The
// client connection is an hconn whose h2 field is set: proxy/h2 is its
// protocol, fed what the loop reads, and each stream is an h2stream, a
// request with its own backend connection from the same pools as HTTP/1's.
// A stream's head is written out as an HTTP/1.1 head and parsed by
// httpcore like any other, so routing, rewriting, framing and the record
// follow the same rules; its body goes to the backend as it came (with a
// content-length) or chunked (without). The response head becomes the
// stream's HEADERS, its body DATA (a chunked one decoded, its trailers
// HTTP/2 trailers), within the client's flow-control windows: a stream
// the client gives no window stops reading its backend, and one that
// stays stuck past the client timeout is reset.
//
// What streams write is collected in the connection's output and written
// once per batch of events (loopHTTP.again), so the responses of many
// streams leave in one write and, over TLS, in few records.

// h2OutHigh bounds the bytes queued for an HTTP/2 client: past it the
// streams stop writing and the client is not read until the socket has
// taken some.
const h2OutHigh = 256 << 10

// h2side is an HTTP/2 client connection's protocol state.
type h2side struct {
	c       *hconn
	conn    *h2.Conn
	streams map[uint32]*h2stream
	dirty   bool // output to write after the batch
	broken  bool // a connection error: what is queued goes out, then it closes
	leaving bool // we sent a graceful GOAWAY: it closes once its streams are done
	ending  bool // the connection is closing: its streams end with it
	// resets is the budget of streams the client may reset once they
	// are under way (a token bucket, refilled at resetRate a second up
	// to resetBurst), at resetAt in loop time.
	resets  float64
	resetAt int64
	fields  []hpack.HeaderField
	scratch []byte
}

// h2stream is one HTTP/2 request on an event loop.
type h2stream struct {
	c  *hconn
	h  *h2side
	id uint32

	head      []byte // the request's HTTP/1.1 head, which req points into
	req, resp httpcore.Head
	ex        httpcore.Exchange
	rt        routing
	g         *Service
	b         *backend // the backend slot held; nil: none
	lastB     *backend // the backend it reached, for its record
	be        *hback
	phase     hphase // hConnect, hSend, hResp
	start     int64
	deadline  int64

	body      []byte // request body bytes for the backend, framed, not written yet
	unrefund  int    // DATA bytes taken and not yet refunded to the client's window
	reqEnded  bool   // the client ended its side
	chunked   bool   // the body goes chunked
	bodySent  bool   // some body bytes went to a backend (no replay then)
	replayed  bool
	early     bool // the backend answered before the body was all sent
	respHead  bool // the final response head is out
	respMode  httpcore.Framing
	respLeft  int64
	chunks    httpcore.Chunked
	pend      []byte // response bytes the client's windows have no room for yet
	respEnded bool   // the backend's response is complete (pend holds its rest)
	trailers  []byte // a chunked response's trailer fields, "name: value\r\n"
	setCookie []byte
	gone      bool
	// connecting: a goroutine is getting it a backend connection and
	// will answer to it, so it is not reused when it ends meanwhile.
	connecting bool
	cancel     context.CancelFunc // ends the goroutine's wait when the stream ends
}

// maxFreeStreams bounds the ended streams a loop keeps for reuse, and
// maxKeptBuffer the buffers they keep.
const (
	maxFreeStreams = 1024
	maxKeptBuffer  = 64 << 10
)

// newStream is a stream for a new request: an ended one, its heads and
// buffers keeping their memory, or a new one.
func (lh *loopHTTP) newStream(c *hconn, h *h2side, id uint32, now int64, end bool) *h2stream {
	st := &h2stream{}
	if n := len(lh.freeStreams); n > 0 {
		st = lh.freeStreams[n-1]
		lh.freeStreams[n-1] = nil
		lh.freeStreams = lh.freeStreams[:n-1]
	}
	*st = h2stream{
		c: c, h: h, id: id, start: now, reqEnded: end,
		req: st.req, resp: st.resp,
		head: st.head[:0], body: st.body[:0], pend: st.pend[:0], trailers: st.trailers[:0],
	}
	return st
}

// freeStream keeps an ended stream for the next request, unless a
// goroutine may still answer to it.
func (lh *loopHTTP) freeStream(st *h2stream) {
	if st.connecting || len(lh.freeStreams) >= maxFreeStreams {
		return
	}
	keep := func(b []byte) []byte {
		if cap(b) > maxKeptBuffer {
			return nil
		}
		return b[:0]
	}
	*st = h2stream{
		req: st.req, resp: st.resp, gone: true,
		head: keep(st.head), body: keep(st.body), pend: keep(st.pend), trailers: keep(st.trailers),
	}
	lh.freeStreams = append(lh.freeStreams, st)
}

// startH2 makes c an HTTP/2 connection.
func (c *hconn) startH2(l *eventLoop) {
	h := &h2side{c: c, streams: make(map[uint32]*h2stream)}
	h.conn = h2.NewConn(h2.Config{MaxConcurrentStreams: c.s.h2MaxStreams()}, h)
	c.h2 = h
	h.markDirty()
	if c.stopping() {
		h.goAway()
	}
}

// h2MaxStreams is the concurrent-stream limit of the service's HTTP/2
// connections.
func (s *Service) h2MaxStreams() uint32 {
	if n := s.cfg.HTTP2MaxStreams; n > 0 {
		return uint32(n)
	}
	return 100
}

// isH2Start reports whether in begins with the HTTP/2 preface, or could
// (a part of it, more to come).
func isH2Start(in []byte) (yes, maybe bool) {
	n := min(len(in), len(h2Preface))
	if string(in[:n]) != h2Preface[:n] {
		return false, false
	}
	return n == len(h2Preface), n < len(h2Preface)
}

func (h *h2side) markDirty() {
	if !h.dirty {
		h.dirty = true
		lh := h.c.l.http()
		lh.h2dirty = append(lh.h2dirty, h.c)
	}
}

// consume feeds what the client sent to the protocol.
func (h *h2side) consume(l *eventLoop) {
	c := h.c
	if h.broken {
		c.use(len(c.in))
		return
	}
	n, err := h.conn.Feed(c.in)
	if c.closed {
		return
	}
	c.use(n)
	h.markDirty()
	if err != nil {
		c.s.log.Debug("closing HTTP/2 client", "client", c.ip, "err", err)
		h.broken = true
		c.use(len(c.in))
	}
	h.idleCheck()
}

// flushOut writes the protocol's output to the client, and closes a
// connection that is done.
func (h *h2side) flushOut(l *eventLoop) {
	h.dirty = false
	c := h.c
	if c.closed {
		return
	}
	if out := h.conn.Output(); len(out) > 0 {
		queued := len(c.out) > 0
		if !c.send(l, out) {
			return
		}
		h.conn.Advance(len(out))
		if !queued && len(c.out) > 0 {
			c.setEvents(l, c.events|unix.EPOLLOUT)
		}
		if len(c.out) > h2OutHigh && c.events&unix.EPOLLIN != 0 {
			c.setEvents(l, c.events&^unix.EPOLLIN)
		}
	}
	if h.broken || (h.leaving && len(h.streams) == 0) {
		h.close(l)
	}
}

// close ends the connection once the client has what is queued, with a
// lingering close: what the client still sends meanwhile is read and
// dropped, so its kernel does not answer our last frames with a reset.
func (h *h2side) close(l *eventLoop) {
	if c := h.c; c.phase != hLinger && !c.closed {
		c.lingerAfter(l)
	}
}

// outHigh reports whether the client has enough queued already.
func (h *h2side) outHigh() bool {
	return len(h.c.out)+len(h.conn.Output()) > h2OutHigh
}

// drained: the client took what was queued; streams held back go on.
func (h *h2side) drained(l *eventLoop) {
	c := h.c
	ev := c.events &^ unix.EPOLLOUT
	if !h.broken {
		ev |= unix.EPOLLIN
	}
	c.setEvents(l, ev)
	h.pumpAll(l)
}

// pumpAll gives every stream with response bytes held back a chance.
func (h *h2side) pumpAll(l *eventLoop) {
	for _, st := range h.streams {
		if len(st.pend) > 0 || (st.respEnded && !st.gone) {
			st.pump(l)
			if h.c.closed {
				return
			}
		}
	}
}

// idleCheck keeps the connection's idle state (for reclaimIdle and the
// keep-alive timeout) in step with its streams.
func (h *h2side) idleCheck() {
	c := h.c
	if len(h.streams) > 0 || c.closed || h.ending {
		return
	}
	if !c.idle.Load() {
		c.waitRequest(false)
	}
}

// goAway starts a graceful end: streams under way finish, no new one is
// served.
func (h *h2side) goAway() {
	if !h.leaving {
		h.leaving = true
		h.conn.GoAway(http2.ErrCodeNo)
		h.markDirty()
	}
}

// timeout acts on the connection's deadline: idle too long.
func (h *h2side) timeout(l *eventLoop) {
	c := h.c
	if len(h.streams) > 0 {
		c.deadline = 0 // the streams have their own
		return
	}
	h.goAway()
	h.flushOut(l)
}

// sweep enforces the streams' timeouts.
func (h *h2side) sweep(l *eventLoop) {
	for _, st := range h.streams {
		if st.deadline > 0 && l.now >= st.deadline {
			st.timeout(l)
			if h.c.closed {
				return
			}
		}
	}
}

// closeAll ends every stream of a connection that is closing; killed
// says the drain ended them.
func (h *h2side) closeAll(l *eventLoop, killed bool) {
	h.ending = true
	for _, st := range h.streams {
		cause := httpcore.CauseClient
		if killed {
			cause = httpcore.CauseKilled
		}
		st.ex.Fail(cause, st.stage(), 0)
		st.end(l, false)
	}
}

// The h2.Handler events, inside Feed.

func (h *h2side) Request(id uint32, r *h2.Request, end bool) {
	c, l := h.c, h.c.l
	if c.closed {
		return
	}
	if len(h.streams) == 0 && !c.idle.CompareAndSwap(true, false) {
		// reclaimed at the limit as the stream came
		h.conn.ResetStream(id, http2.ErrCodeRefusedStream)
		return
	}
	c.served.Store(true)
	c.deadline = 0
	if c.stopping() {
		h.goAway() // streams already open are served; this one too
	}
	st := l.http().newStream(c, h, id, l.now, end)
	h.streams[id] = st
	st.ex.Begin(l.wall(l.now), c.client, "HTTP/2.0")
	st.ex.TLS = c.tls != nil
	st.head, st.chunked = appendH2Head(st.head, r, end)
	n, err := st.req.Parse(st.head, true)
	if err == nil && n != len(st.head) {
		err = httpcore.ErrField // a field that ended the head early
	}
	st.ex.BytesIn = int64(len(st.head))
	if err != nil {
		c.s.log.Debug("HTTP/2 request refused", "client", c.ip, "err", err)
		code := httpcore.StatusOf(err)
		st.ex.Fail(httpcore.CauseProxy, httpcore.StageRequest, code)
		st.answer(l, code)
		return
	}
	st.ex.Req = &st.req
	st.ex.HeadDone = time.Duration(l.now - st.start)
	st.rt = c.s.route(&st.req, c.ipKey)
	st.g = st.rt.g
	b := st.g.tryAcquire(st.rt.key, st.rt.pref)
	if b == nil {
		st.connect(l, nil, false) // queued, or answered 503, by the goroutine
		return
	}
	st.b = b
	now := time.Duration(l.now - st.start)
	st.ex.HeadDone, st.ex.Queued, st.ex.Assigned = now, now, now
	if be := l.takeIdle(b, st.g); be != nil {
		st.ex.Connected = now
		st.attach(l, be)
		return
	}
	st.connect(l, b, false)
}

func (h *h2side) Data(id uint32, p []byte, end bool) {
	st := h.streams[id]
	if st == nil || st.gone || h.c.closed {
		return // answered early: the body is not wanted
	}
	if st.chunked {
		st.body = httpcore.AppendChunk(st.body, p)
	} else {
		st.body = append(st.body, p...)
	}
	st.unrefund += len(p)
	st.ex.BytesIn += int64(len(p))
	if end {
		st.reqEnded = true
		if st.chunked {
			st.body = httpcore.AppendLastChunk(st.body, nil)
		}
	}
	st.sendBody(h.c.l)
}

func (h *h2side) Trailers(id uint32, fields []hpack.HeaderField) {
	st := h.streams[id]
	if st == nil || st.gone || h.c.closed {
		return
	}
	st.reqEnded = true
	if st.chunked {
		var tr []byte
		for _, f := range fields {
			tr = appendCanonical(tr, f.Name)
			tr = append(tr, ": "...)
			tr = append(tr, f.Value...)
			tr = append(tr, "\r\n"...)
		}
		st.body = httpcore.AppendLastChunk(st.body, tr)
	}
	// With a content-length, HTTP/1.1 has no place for trailers.
	st.sendBody(h.c.l)
}

func (h *h2side) Reset(id uint32, code http2.ErrCode) {
	st := h.streams[id]
	if st == nil || h.c.closed {
		return
	}
	st.ex.Fail(httpcore.CauseClient, st.stage(), 0)
	st.end(h.c.l, false)
	h.resetBudget()
}

// HTTP/2 "rapid reset" (CVE-2023-44487): a client that opens streams and
// resets them at once has every request start at a backend and stop
// there, while the concurrent-stream limit never binds. Each reset of a
// stream under way costs a token; a connection out of tokens is closed
// with ENHANCE_YOUR_CALM. Browsers reset streams now and then (a page
// navigated away), far below this.
const (
	resetBurst = 200 // tokens a connection starts with
	resetRate  = 50  // tokens a second it earns back
)

func (h *h2side) resetBudget() {
	now := h.c.l.now
	if h.resetAt == 0 {
		h.resets = resetBurst
	} else {
		h.resets = min(resetBurst, h.resets+float64(now-h.resetAt)/float64(time.Second)*resetRate)
	}
	h.resetAt = now
	h.resets--
	if h.resets < 0 && !h.broken {
		h.c.s.log.Debug("closing HTTP/2 client: too many streams reset", "client", h.c.ip)
		h.conn.GoAway(http2.ErrCodeEnhanceYourCalm)
		h.broken = true
		h.markDirty()
	}
}

func (h *h2side) Writable(id uint32) {
	if h.c.closed {
		return
	}
	if id == 0 {
		h.pumpAll(h.c.l)
		return
	}
	if st := h.streams[id]; st != nil {
		st.pump(h.c.l)
	}
}

// appendH2Head appends the HTTP/1.1 head of an HTTP/2 request, and says
// whether its body goes chunked (it has one of unknown length).
func appendH2Head(b []byte, r *h2.Request, end bool) ([]byte, bool) {
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, r.Path...)
	b = append(b, " HTTP/1.1\r\n"...)
	if r.Authority != "" {
		b = append(b, "Host: "...)
		b = append(b, r.Authority...)
		b = append(b, "\r\n"...)
	}
	cookies := 0
	for _, f := range r.Fields {
		switch f.Name {
		case "host":
			if r.Authority != "" {
				continue // :authority wins
			}
		case "cookie":
			cookies++
			continue
		case "content-length", "te", "http2-settings", "trailer":
			// written below, hop-by-hop, or (trailer) not forwarded, as
			// net/http's server does not on the goroutine path
			continue
		}
		b = appendCanonical(b, f.Name)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	if cookies > 0 {
		// RFC 9113 §8.2.3: crumbs are joined into one field for HTTP/1.1.
		b = append(b, "Cookie: "...)
		first := true
		for _, f := range r.Fields {
			if f.Name == "cookie" {
				if !first {
					b = append(b, "; "...)
				}
				b = append(b, f.Value...)
				first = false
			}
		}
		b = append(b, "\r\n"...)
	}
	chunked := false
	switch {
	case r.ContentLength >= 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, r.ContentLength, 10)
		b = append(b, "\r\n"...)
	case !end:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
		chunked = true
	}
	return append(b, "\r\n"...), chunked
}

// appendCanonical appends a lower-case HTTP/2 field name in the form
// HTTP/1.1 backends are used to (Content-Type), as the goroutine path's
// net/http writes it.
func appendCanonical(b []byte, name string) []byte {
	upper := true
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if upper && 'a' <= ch && ch <= 'z' {
			ch -= 'a' - 'A'
		}
		b = append(b, ch)
		upper = ch == '-'
	}
	return b
}

// connect has a goroutine get the stream a backend connection.
func (st *h2stream) connect(l *eventLoop, b *backend, fresh bool) {
	st.connecting = true
	st.phase = hConnect
	st.deadline = 0
	st.b = nil // the goroutine owns the slot until it answers
	ctx, cancel := context.WithCancel(st.c.ctx)
	st.cancel = cancel
	l.connectFor(st, ctx, st.c.s.relay, st.rt, b, fresh)
}

func (st *h2stream) connected(l *eventLoop, r *hconnected) {
	st.connecting = false
	st.cancel()
	if st.gone || st.c.closed || st.phase != hConnect {
		if r.err == nil {
			closeFd(r.fd)
			r.g.release(r.b)
		}
		return
	}
	r.record(&st.ex, st.replayed)
	if r.err != nil {
		st.c.s.log.Debug("request failed: no backend connection", "client", st.c.ip, "err", r.err)
		cause, stage, code := connectFailure(r.err, r.res)
		st.ex.Fail(cause, stage, code)
		if code != 0 {
			st.answer(l, code)
		} else {
			st.reset(l, http2.ErrCodeCancel)
		}
		return
	}
	st.g, st.b = r.g, r.b
	be := &hback{fd: r.fd, g: r.g, b: r.b, reused: r.reused}
	if err := l.register(be.fd, 0, be); err != nil {
		unix.Close(be.fd)
		st.ex.Fail(httpcore.CauseResource, httpcore.StageConnect, 502)
		st.answer(l, 502)
		return
	}
	st.ex.Connected = r.res.connected.Sub(st.ex.Start)
	st.attach(l, be)
}

// attach sends the request on be.
func (st *h2stream) attach(l *eventLoop, be *hback) {
	be.c, be.anyResp = st, false
	be.in = be.in[:0]
	st.be = be
	st.phase = hSend
	st.respHead = false
	st.setCookie = st.c.s.stickyLine(&st.req, st.b)
	proto := "http"
	if st.c.tls != nil {
		proto = "https"
	}
	head := httpcore.AppendRequestHead(st.h.scratch[:0], &st.req, httpcore.Forwarding{Add: st.c.s.cfg.ForwardedHeaders, ClientIP: st.c.ip, Proto: proto})
	if len(st.body) > 0 && len(head)+len(st.body) <= relayBufSize {
		head = append(head, st.body...)
		st.bodySent = true
		st.body = st.body[:0]
	}
	st.h.scratch = head[:0]
	if st.toBackend(l, head) {
		st.sendBody(l)
	}
}

// sendBody forwards the body bytes that arrived while the backend takes
// them, and gives the client back its window for what the backend took.
func (st *h2stream) sendBody(l *eventLoop) {
	be := st.be
	if be == nil || st.gone {
		return // still connecting: kept until then
	}
	if len(be.out) == 0 && len(st.body) > 0 {
		body := st.body
		st.body = st.body[:0]
		st.bodySent = true
		if !st.toBackend(l, body) {
			return
		}
	}
	if len(be.out) == 0 && len(st.body) == 0 && st.unrefund > 0 {
		st.h.conn.Consumed(st.id, st.unrefund)
		st.unrefund = 0
		st.h.markDirty()
	}
	st.events(l)
}

// toBackend writes p to the stream's backend, keeping what it cannot take
// yet; false when the stream failed.
func (st *h2stream) toBackend(l *eventLoop, p []byte) bool {
	if err := st.be.write(l, p); err != nil {
		st.backendFailed(l, err)
		return false
	}
	return true
}

// events sets what the backend connection waits for, and the stream's
// deadline: the backend is read unless response bytes wait for the
// client's window.
func (st *h2stream) events(l *eventLoop) {
	be := st.be
	if be == nil {
		return
	}
	if st.phase == hSend && st.reqEnded && len(st.body) == 0 && len(be.out) == 0 {
		st.phase = hResp
	}
	ev := uint32(0)
	if len(st.pend) == 0 {
		ev = unix.EPOLLIN
	}
	if len(be.out) > 0 {
		ev |= unix.EPOLLOUT
	}
	if err := l.setFdEvents(be.fd, &be.events, ev); err != nil {
		st.backendFailed(l, err)
		return
	}
	st.wait(l)
}

// wait sets the deadline of what the stream waits for now.
func (st *h2stream) wait(l *eventLoop) {
	t := st.c.s.cfg.Timeouts
	switch {
	case len(st.pend) > 0:
		st.deadline = l.after(t.Client.D()) // the client's window
	case st.phase == hSend && !st.reqEnded && (st.be == nil || len(st.be.out) == 0):
		st.deadline = l.after(t.Client.D()) // the client's body
	case st.phase == hConnect:
		st.deadline = 0 // the goroutine's connect timeout
	default:
		st.deadline = l.after(t.Server.D())
	}
}

func (st *h2stream) backendTook(l *eventLoop) bool {
	st.sendBody(l)
	return !st.gone && st.be != nil
}

func (st *h2stream) backendSent(l *eventLoop, be *hback, p []byte) bool {
	return st.response(l, p) && st.be == be && len(st.pend) == 0
}

// response takes bytes the backend sent; false when the response ended
// or the stream failed.
func (st *h2stream) response(l *eventLoop, p []byte) bool {
	be := st.be
	if !st.respHead {
		rest, ok := st.responseHead(l, p)
		if !ok || !st.respHead {
			return ok
		}
		p = rest
		if st.respMode == httpcore.NoBody || (st.respMode == httpcore.Length && st.respLeft == 0) {
			st.backendDone(l, len(p) > 0)
			st.end(l, true) // the HEADERS ended the stream
			return false
		}
	}
	var data []byte
	var k int
	var done bool
	var err error
	switch st.respMode {
	case httpcore.ChunkedBody:
		k, data, done, err = st.chunks.Feed(p, st.h.scratch[:0])
		st.h.scratch = data[:0]
		if done {
			st.trailers = append(st.trailers[:0], st.chunks.Trailers()...)
		}
	case httpcore.Length:
		k = int(min(st.respLeft, int64(len(p))))
		st.respLeft -= int64(k)
		data, done = p[:k], st.respLeft == 0
	default: // until the backend closes
		k, data = len(p), p
	}
	st.ex.BodyOut += int64(len(data))
	st.ex.BytesOut += int64(len(data))
	if err != nil {
		st.backendFailed(l, err)
		return false
	}
	if done {
		st.backendDone(l, k < len(p))
		st.write(l, data, true)
		return false
	}
	st.write(l, data, false)
	if len(st.pend) > 0 {
		st.events(l) // stop reading the backend
		return false
	}
	st.wait(l)
	return be == st.be
}

// responseHead parses the response head from what the backend sent so
// far and sends it as HEADERS (interim ones too); it returns the bytes
// after it, ok false when the stream failed.
func (st *h2stream) responseHead(l *eventLoop, p []byte) ([]byte, bool) {
	be := st.be
	if st.phase == hSend {
		st.early = true
	}
	data := p
	if len(be.in) > 0 {
		be.in = append(be.in, p...)
		data = be.in
	}
	for {
		n, err := st.resp.Parse(data, false)
		if err == httpcore.ErrIncomplete {
			be.in = append(be.in[:0], data...)
			st.wait(l)
			return nil, true
		}
		if err != nil {
			st.backendFailed(l, err)
			return nil, false
		}
		data = data[n:]
		if st.resp.Status >= 200 {
			break
		}
		if st.resp.Status == 101 {
			st.backendFailed(l, errUnaskedUpgrade)
			return nil, false
		}
		if httpcore.ForwardInterim(&st.req, &st.resp) {
			st.h.conn.WriteHeaders(st.id, st.resp.Status, st.h.responseFields(&st.resp, nil), false)
			st.h.markDirty()
		}
	}
	st.respHead = true
	st.ex.ResponseHead = time.Duration(l.now - st.start)
	st.ex.Status, st.ex.FromBackend = st.resp.Status, true
	st.ex.BytesOut += int64(len(st.resp.Raw))
	stickyMarks(&st.ex, &st.rt, st.b, st.setCookie)
	st.respMode = httpcore.ResponseFraming(&st.req, &st.resp)
	switch st.respMode {
	case httpcore.ChunkedBody:
		st.chunks.Reset(httpcore.Decode)
	case httpcore.Length:
		st.respLeft = st.resp.ContentLength
	}
	noBody := st.respMode == httpcore.NoBody || (st.respMode == httpcore.Length && st.respLeft == 0)
	if err := st.h.conn.WriteHeaders(st.id, st.resp.Status, st.h.responseFields(&st.resp, st.setCookie), noBody); err != nil {
		st.reset(l, http2.ErrCodeInternal)
		return nil, false
	}
	st.h.markDirty()
	if noBody {
		st.respEnded = true
	}
	be.in = be.in[:0]
	return data, true
}

// responseFields are the HTTP/2 fields of a response head: its end-to-end
// fields (proxy/h2 drops the connection-specific ones), and a sticky
// cookie.
func (h *h2side) responseFields(resp *httpcore.Head, setCookie []byte) []hpack.HeaderField {
	f := h.fields[:0]
	for i := range resp.Fields {
		if !resp.EndToEnd(i) {
			continue
		}
		fd := &resp.Fields[i]
		if fd.Kind == httpcore.KindContentLength {
			f = append(f, hpack.HeaderField{Name: "content-length", Value: strconv.FormatInt(resp.ContentLength, 10)})
			continue
		}
		f = append(f, hpack.HeaderField{Name: h2FieldName(resp.Bytes(fd.Name)), Value: string(resp.Bytes(fd.Value))})
	}
	if setCookie != nil {
		line := bytes.TrimSuffix(bytes.TrimPrefix(setCookie, []byte("Set-Cookie: ")), []byte("\r\n"))
		f = append(f, hpack.HeaderField{Name: "set-cookie", Value: string(line)})
	}
	h.fields = f
	return f
}

// h2FieldName is an HTTP/1.1 field name as HTTP/2 writes it, in lower
// case; the common ones without allocating.
func h2FieldName(name []byte) string {
	var buf [32]byte
	if len(name) > len(buf) {
		return strings.ToLower(string(name))
	}
	low := buf[:len(name)]
	for i, ch := range name {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		low[i] = ch
	}
	switch string(low) {
	case "server":
		return "server"
	case "date":
		return "date"
	case "content-type":
		return "content-type"
	case "last-modified":
		return "last-modified"
	case "etag":
		return "etag"
	case "accept-ranges":
		return "accept-ranges"
	case "cache-control":
		return "cache-control"
	case "expires":
		return "expires"
	case "vary":
		return "vary"
	case "content-encoding":
		return "content-encoding"
	case "location":
		return "location"
	case "set-cookie":
		return "set-cookie"
	case "x-content-type-options":
		return "x-content-type-options"
	case "strict-transport-security":
		return "strict-transport-security"
	case "age":
		return "age"
	}
	return string(low)
}

// write sends response body bytes within the client's windows, keeping
// the rest for Writable; end: they are the last.
func (st *h2stream) write(l *eventLoop, data []byte, end bool) {
	if end {
		st.respEnded = true
	}
	if len(st.pend) > 0 || st.h.outHigh() {
		st.pend = append(st.pend, data...)
		return
	}
	n := st.h.conn.WriteData(st.id, data, end && st.trailers == nil)
	st.h.markDirty()
	if n < len(data) {
		st.pend = append(st.pend, data[n:]...)
		return
	}
	if end {
		st.finish(l, st.trailers == nil)
	}
}

// pump sends what the client's windows had no room for; once all is out
// the backend is read again, or the stream ends.
func (st *h2stream) pump(l *eventLoop) {
	if st.gone {
		return
	}
	sentEnd := false
	for len(st.pend) > 0 {
		if st.h.outHigh() {
			return
		}
		end := st.respEnded && st.trailers == nil
		n := st.h.conn.WriteData(st.id, st.pend, end)
		st.h.markDirty()
		if n == 0 {
			return
		}
		st.pend = st.pend[n:]
		sentEnd = end && len(st.pend) == 0
	}
	st.pend = nil
	if st.respEnded {
		st.finish(l, sentEnd)
		return
	}
	st.events(l) // read the backend again
}

// backendDone: the backend's response is complete. Its connection goes
// back to the pool (or closes); the stream ends once the client has the
// rest (write, pump).
func (st *h2stream) backendDone(l *eventLoop, extra bool) {
	if be := st.be; be != nil {
		_, keep := httpcore.KeepAlive(&st.req, &st.resp, st.respMode)
		st.releaseBackend(l, keep && !st.early && !extra && st.reqEnded && len(st.body) == 0 && len(be.out) == 0)
	}
	st.respEnded = true
}

// finish ends the stream once its response is out: sent says the last
// DATA carried END_STREAM already; else trailers or an empty DATA do.
func (st *h2stream) finish(l *eventLoop, sent bool) {
	if st.gone {
		return
	}
	if !sent {
		if len(st.trailers) > 0 {
			st.h.conn.WriteTrailers(st.id, trailerFields(st.trailers))
		} else {
			st.h.conn.WriteData(st.id, nil, true)
		}
		st.h.markDirty()
	}
	if st.be != nil {
		st.releaseBackend(l, false) // ended before the backend did
	}
	st.end(l, true)
}

// trailerFields turns "name: value\r\n" lines into fields.
func trailerFields(tr []byte) []hpack.HeaderField {
	var f []hpack.HeaderField
	eachTrailer(tr, func(name, value []byte) {
		f = append(f, hpack.HeaderField{Name: string(bytes.ToLower(name)), Value: string(value)})
	})
	return f
}

// eachTrailer calls fn with each field of trailer lines ("name:
// value\r\n", as httpcore.Chunked keeps them), its value trimmed.
func eachTrailer(tr []byte, fn func(name, value []byte)) {
	for len(tr) > 0 {
		i := bytes.Index(tr, []byte("\r\n"))
		if i < 0 {
			break
		}
		line := tr[:i]
		tr = tr[i+2:]
		if c := bytes.IndexByte(line, ':'); c > 0 {
			fn(line[:c], httpcore.TrimOWS(line[c+1:]))
		}
	}
}

// end forgets the stream and books it; answered says the response went
// out whole. A client still sending is told to stop (RST_STREAM
// NO_ERROR, RFC 9113 §8.1).
func (st *h2stream) end(l *eventLoop, answered bool) {
	if st.gone {
		return
	}
	st.gone = true
	if st.connecting {
		st.cancel() // a stream reset while it queues leaves the queue
	}
	h := st.h
	if answered && !st.reqEnded {
		h.conn.ResetStream(st.id, http2.ErrCodeNo)
		h.markDirty()
	}
	if st.be != nil {
		st.releaseBackend(l, false)
	}
	if st.b != nil {
		st.g.release(st.b)
		st.b = nil
	}
	delete(h.streams, st.id)
	st.ex.End = time.Duration(l.now - st.start)
	st.c.s.book(&st.ex, st.g, st.lastB)
	h.idleCheck()
	l.http().freeStream(st)
	if h.leaving && len(h.streams) == 0 {
		h.markDirty() // flushOut closes it
	}
}

// releaseBackend gives back the stream's backend connection (to the idle
// pool when keep is set, else closed) and its slot.
func (st *h2stream) releaseBackend(l *eventLoop, keep bool) {
	if be := st.be; be != nil {
		st.be = nil
		st.ex.BackendOut += be.sent
		st.ex.BackendIn += be.recv
		be.sent, be.recv = 0, 0
		l.closeBackend(be, keep && !st.c.closed)
	}
	if st.b != nil {
		st.ex.Backend = st.b.cfg.Address
		st.lastB = st.b
		st.g.release(st.b)
		st.b = nil
	}
}

// answer sends one of the proxy's own answers, when no response head went
// out yet.
func (st *h2stream) answer(l *eventLoop, code int) {
	if st.be != nil {
		st.releaseBackend(l, false)
	}
	if st.respHead {
		st.reset(l, http2.ErrCodeInternal)
		return
	}
	body := st.c.s.hs.answers.Body(code)
	fields := []hpack.HeaderField{
		{Name: "content-type", Value: httpcore.AnswerContentType},
		{Name: "content-length", Value: strconv.Itoa(len(body))},
		{Name: "cache-control", Value: "no-store"},
	}
	if err := st.h.conn.WriteHeaders(st.id, code, fields, false); err != nil {
		st.end(l, false)
		return
	}
	st.respHead = true
	st.ex.BytesOut += int64(len(st.c.s.hs.answers.H1(code)))
	st.h.markDirty()
	st.trailers = nil
	st.write(l, body, true)
	if !st.gone {
		st.wait(l)
	}
}

// reset ends the stream with RST_STREAM.
func (st *h2stream) reset(l *eventLoop, code http2.ErrCode) {
	if st.gone {
		return
	}
	st.h.conn.ResetStream(st.id, code)
	st.h.markDirty()
	st.end(l, false)
}

func (st *h2stream) backendEOF(l *eventLoop) {
	if st.respHead && st.respMode == httpcore.UntilClose {
		st.backendDone(l, false)
		st.write(l, nil, true)
		return
	}
	st.backendFailed(l, errBackendClosed)
}

func (st *h2stream) backendFailed(l *eventLoop, err error) {
	be := st.be
	if be == nil || st.gone {
		return
	}
	st.c.s.log.Debug("request failed", "client", st.c.ip, "backend", be.b.cfg.Address, "err", err)
	if !st.respHead && !st.bodySent && httpcore.MayReplay(&st.req, be.reused, be.anyResp, st.replayed, false) {
		st.be = nil
		st.ex.BackendOut += be.sent
		st.ex.BackendIn += be.recv
		l.closeBackend(be, false)
		st.replayed = true
		st.connect(l, st.b, true)
		return
	}
	cause := httpcore.CauseServer
	if _, ok := err.(*httpcore.Error); ok {
		cause = httpcore.CauseProxy
	}
	if st.respHead {
		st.ex.Fail(cause, httpcore.StageData, 0)
		st.releaseBackend(l, false)
		st.reset(l, http2.ErrCodeInternal)
		return
	}
	st.ex.Fail(cause, httpcore.StageHeaders, 502)
	st.answer(l, 502)
}

// timeout acts on the stream's deadline.
func (st *h2stream) timeout(l *eventLoop) {
	switch {
	case len(st.pend) > 0:
		st.c.s.log.Debug("HTTP/2 stream reset: the client gave no window", "client", st.c.ip)
		st.ex.Fail(httpcore.CauseClientTimeout, httpcore.StageData, 0)
		st.reset(l, http2.ErrCodeCancel)
	case st.phase == hSend && !st.reqEnded && !st.respHead:
		st.c.s.log.Debug("HTTP/2 stream: request body timed out", "client", st.c.ip)
		st.ex.Fail(httpcore.CauseClientTimeout, httpcore.StageHeaders, 408)
		st.answer(l, 408)
	case !st.respHead:
		st.c.s.log.Debug("request failed", "client", st.c.ip, "err", "server timeout")
		st.ex.Fail(httpcore.CauseServerTimeout, httpcore.StageHeaders, 504)
		st.answer(l, 504)
	default:
		cause := httpcore.CauseServerTimeout
		if st.phase == hSend && !st.reqEnded {
			cause = httpcore.CauseClientTimeout
		}
		st.ex.Fail(cause, httpcore.StageData, 0)
		st.reset(l, http2.ErrCodeCancel)
	}
}

// stage is where the stream is, for its record.
func (st *h2stream) stage() httpcore.Stage {
	switch st.phase {
	case hConnect:
		if st.ex.Assigned < 0 {
			return httpcore.StageQueue
		}
		return httpcore.StageConnect
	case hSend, hResp:
		if st.respHead {
			return httpcore.StageData
		}
		return httpcore.StageHeaders
	}
	return httpcore.StageRequest
}
