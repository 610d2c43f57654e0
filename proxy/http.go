package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"vigil/proxy/proxyproto"
)

// The HTTP/1.1 goroutine path (protocol http). net/http's server and
// ReverseProxy cost too much per request to compete with HAProxy (see
// REFERENCE.md), so a client connection is served by one goroutine that
// parses request heads in place from a pooled reader, forwards them with
// the hop-by-hop fields rewritten to a keep-alive connection taken from the
// backend's idle pool, streams bodies through pooled buffers without
// holding them whole, and streams the response back. A backend slot
// (max_conn, queue, balance) is held per request, not per connection.
//
// Cleartext connections start on the event loops instead (httploop.go),
// which serve the common requests without a goroutine and hand anything
// else to this path; TLS and h2c connections are served here throughout.

const (
	httpReaderSize = 8 << 10  // longest head line; bigger ones get 431
	httpWriterSize = 16 << 10 // write buffer, taken per request
	maxHeadBytes   = 32 << 10 // whole head; more gets 431

	// maxIdlePerBackend bounds the idle keep-alive connections kept to one backend.
	maxIdlePerBackend = 512
	// idleExpiry closes backend connections idle this long; shorter than
	// common backend keep-alive timeouts (Apache's 5 s), so the proxy
	// rarely reuses a connection the backend is closing.
	idleExpiry = 4 * time.Second
)

// httpService is the protocol http state of a Service (and of each route's
// backend group, itself a Service).
type httpService struct {
	routes []httpRoute
	errs   map[int][]byte // canned error responses
	conns  map[*httpConn]struct{}
	lconns map[*hconn]struct{} // connections on event loops (httploop.go)
	groups []*Service          // s and the route groups, for reaping and health
	tls    *tls.Config         // nil: cleartext

	readers sync.Pool // *bufio.Reader of httpReaderSize
	writers sync.Pool // *bufio.Writer of httpWriterSize

	metrics httpMetrics // requests by code class and duration (httpmetrics.go)
}

type httpRoute struct {
	exact    []string // lower-case host names
	suffixes []string // ".example.com" for "*.example.com"
	prefix   string
	g        *Service
}

// httpBackend is the HTTP state of one backend: its idle connections and
// its sticky cookie.
type httpBackend struct {
	mu   sync.Mutex
	idle []*bconn // oldest first
	// fds are idle connections the event loops share, for a backend with
	// max_conn: a connection idle on one loop must not make another loop
	// open one more than max_conn (httploop.go). Oldest first.
	fds       []idleFd
	cookie    string // opaque id
	setCookie []byte // whole Set-Cookie line
}

// idleFd is an idle backend connection held as a bare descriptor.
type idleFd struct {
	fd    int
	since time.Time
}

// getFd takes the newest idle descriptor that has not expired; -1: none.
func (hb *httpBackend) getFd(now time.Time) int {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	for n := len(hb.fds); n > 0; n = len(hb.fds) {
		f := hb.fds[n-1]
		hb.fds = hb.fds[:n-1]
		if now.Sub(f.since) < idleExpiry {
			return f.fd
		}
		closeFd(f.fd)
	}
	return -1
}

// putFd keeps an idle descriptor.
func (hb *httpBackend) putFd(fd int, now time.Time) {
	hb.mu.Lock()
	if len(hb.fds) >= maxIdlePerBackend {
		closeFd(hb.fds[0].fd)
		hb.fds = append(hb.fds[:0], hb.fds[1:]...)
	}
	hb.fds = append(hb.fds, idleFd{fd, now})
	hb.mu.Unlock()
}

// bconn is a connection to a backend.
type bconn struct {
	tc        timedConn
	br        *bufio.Reader
	b         *backend
	reused    bool
	idleSince time.Time
}

func (hb *httpBackend) get(now time.Time) *bconn {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	for n := len(hb.idle); n > 0; n = len(hb.idle) {
		bc := hb.idle[n-1]
		hb.idle[n-1] = nil
		hb.idle = hb.idle[:n-1]
		if now.Sub(bc.idleSince) < idleExpiry {
			bc.reused = true
			return bc
		}
		bc.tc.c.Close()
		// everything below is older still
		for i, old := range hb.idle {
			old.tc.c.Close()
			hb.idle[i] = nil
		}
		hb.idle = hb.idle[:0]
	}
	return nil
}

func (hb *httpBackend) put(bc *bconn, now time.Time) {
	bc.idleSince = now
	hb.mu.Lock()
	if len(hb.idle) >= maxIdlePerBackend {
		hb.idle[0].tc.c.Close()
		copy(hb.idle, hb.idle[1:])
		hb.idle = hb.idle[:len(hb.idle)-1]
	}
	hb.idle = append(hb.idle, bc)
	hb.mu.Unlock()
}

// reap closes connections idle past idleExpiry (all when all is set).
func (hb *httpBackend) reap(now time.Time, all bool) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	k := 0
	for _, f := range hb.fds {
		if all || now.Sub(f.since) >= idleExpiry {
			closeFd(f.fd)
			k++
			continue
		}
		break
	}
	hb.fds = append(hb.fds[:0], hb.fds[k:]...)
	n := 0
	for _, bc := range hb.idle {
		if all || now.Sub(bc.idleSince) >= idleExpiry {
			bc.tc.c.Close()
			n++
			continue
		}
		break
	}
	if n > 0 {
		k := copy(hb.idle, hb.idle[n:])
		clear(hb.idle[k:])
		hb.idle = hb.idle[:k]
	}
}

// initHTTP prepares a protocol http Service: route groups, canned errors,
// sticky cookies and buffer pools.
func (s *Service) initHTTP(log interface{ Warn(string, ...any) }) error {
	if s.cfg.ProxyProtocol.Send != "" {
		// A PROXY header names one client, and backend connections are
		// shared by all clients.
		return fmt.Errorf("service %s: proxy_protocol.send is not supported with protocol http (backend connections are shared between clients)", s.cfg.Name)
	}
	if s.cfg.Sticky != nil && (s.cfg.Sticky.Cookie == "" || strings.ContainsAny(s.cfg.Sticky.Cookie, "=;, \t\r\n")) {
		return fmt.Errorf("service %s: sticky cookie name %q is not a valid cookie name", s.cfg.Name, s.cfg.Sticky.Cookie)
	}
	hs := &httpService{conns: make(map[*httpConn]struct{}), lconns: make(map[*hconn]struct{})}
	hs.readers.New = func() any { return bufio.NewReaderSize(nil, httpReaderSize) }
	hs.writers.New = func() any { return bufio.NewWriterSize(nil, httpWriterSize) }
	hs.errs = map[int][]byte{}
	for code, text := range map[int]string{
		400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large",
		502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
	} {
		body := fmt.Sprintf("%d %s (service %s)\n", code, text, s.cfg.Name)
		hs.errs[code] = fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n%s",
			code, text, len(body), body)
	}
	s.hs = hs
	if s.cfg.TLS != nil {
		if err := s.initTLS(); err != nil {
			return err
		}
	}
	s.initHTTPBackends()
	hs.groups = append(hs.groups, s)
	for i, r := range s.cfg.Routes {
		rc := s.cfg
		rc.Name = fmt.Sprintf("%s/route%d", s.cfg.Name, i)
		rc.Routes = nil
		rc.TLS, rc.H2C = nil, false // the group only balances
		rc.Backends = r.Backends
		if r.Balance != "" {
			rc.Balance = r.Balance
		}
		g := s
		if len(r.Backends) > 0 {
			sub, err := NewService(rc, s.log)
			if err != nil {
				return fmt.Errorf("service %s: route %d: %w", s.cfg.Name, i, err)
			}
			g = sub
			g.root = s
			hs.groups = append(hs.groups, g)
		}
		hr := httpRoute{prefix: r.PathPrefix, g: g}
		for _, h := range r.Hosts {
			h = strings.ToLower(h)
			if suf, ok := strings.CutPrefix(h, "*"); ok {
				hr.suffixes = append(hr.suffixes, suf)
			} else {
				hr.exact = append(hr.exact, h)
			}
		}
		hs.routes = append(hs.routes, hr)
	}
	_ = log
	return nil
}

func (s *Service) initHTTPBackends() {
	for _, b := range s.backends {
		h := fnv.New64a()
		h.Write([]byte(s.cfg.Name))
		h.Write([]byte{0})
		h.Write([]byte(b.cfg.Address))
		hb := &httpBackend{cookie: strconv.FormatUint(h.Sum64(), 36)}
		if st := s.cfg.Sticky; st != nil {
			line := "Set-Cookie: " + st.Cookie + "=" + hb.cookie + "; Path=/; HttpOnly"
			if st.MaxAge > 0 {
				line += "; Max-Age=" + strconv.Itoa(int(st.MaxAge.D()/time.Second))
			}
			hb.setCookie = []byte(line + "\r\n")
		}
		b.hc = hb
	}
}

// route picks the backend group for a request.
func (s *Service) route(host, path []byte) *Service {
	for i := range s.hs.routes {
		r := &s.hs.routes[i]
		if len(r.exact)+len(r.suffixes) > 0 {
			ok := false
			for _, h := range r.exact {
				if equalFold(host, h) {
					ok = true
					break
				}
			}
			for _, suf := range r.suffixes {
				if !ok && len(host) > len(suf) && equalFold(host[len(host)-len(suf):], suf) {
					ok = true
				}
			}
			if !ok {
				continue
			}
		}
		if len(path) >= len(r.prefix) && string(path[:len(r.prefix)]) == r.prefix {
			return r.g
		}
	}
	return s
}

// balanceRequest is how a request is balanced: the group its route
// picks, the balance key (client address for source, path for uri; it
// points into r or ipKey) and the backend its sticky cookie names.
func (s *Service) balanceRequest(r *httpHead, ipKey []byte) (g *Service, key []byte, pref *backend) {
	g = s.route(r.hostName(), r.path())
	switch {
	case g.hashSource:
		key = ipKey
	case g.cfg.Balance == "uri":
		key = r.path()
	}
	if s.cfg.Sticky != nil {
		if v := r.cookie(s.cfg.Sticky.Cookie); v != nil {
			pref = g.byCookie(v)
		}
	}
	return g, key, pref
}

// byCookie finds the backend whose sticky id is v.
func (s *Service) byCookie(v []byte) *backend {
	for _, b := range s.backends {
		if b.hc != nil && string(v) == b.hc.cookie {
			return b
		}
	}
	return nil
}

// reapLoop closes expired idle backend connections until ctx ends, then
// all of them.
func (s *Service) reapLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			s.reapIdle(now, false)
		case <-ctx.Done():
			s.reapIdle(time.Now(), true)
			return
		}
	}
}

func (s *Service) reapIdle(now time.Time, all bool) {
	for _, g := range s.hs.groups {
		for _, b := range g.backends {
			b.hc.reap(now, all)
		}
	}
}

// httpConn is one client connection.
type httpConn struct {
	s      *Service
	sctx   context.Context // the service's: over once it stops
	ctx    context.Context // of its requests: ends with abort, not with the service
	cancel context.CancelFunc
	tc     timedConn
	br     *bufio.Reader
	ip     string // client IP for X-Forwarded-For
	proto  string // http or https, for X-Forwarded-Proto
	ipKey  []byte // for balance source
	req    httpHead
	resp   httpHead
	// scratch holds a rewritten head on its way out.
	scratch []byte
	idle    atomic.Bool // waiting for the next request
	// idleSince is when an HTTP/1 connection last started waiting for a
	// request (unix nanoseconds); reclaimIdle closes the oldest first.
	// Zero for HTTP/2, whose idle flag means something else.
	idleSince atomic.Int64
	served    atomic.Bool // a request has started on it
	closed    atomic.Bool
	cur       atomic.Pointer[bconn] // backend connection in use
	start     time.Time             // the current request's first byte; zero once counted
	status    int                   // the backend's final status for it; 0 while none
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
	s.serveHTTPFrom(ctx, c, nil, false)
}

// serveHTTPFrom is serveHTTP for a connection that may have been served by
// an event loop until now (fromLoop): pre holds the client bytes the loop
// read and did not use (the current request from its start), read again
// before the connection's own, and the connection is counted already.
func (s *Service) serveHTTPFrom(ctx context.Context, c net.Conn, pre []byte, fromLoop bool) {
	client := addrPort(c.RemoteAddr())
	if s.cfg.ProxyProtocol.Accept && !fromLoop {
		tcp, _ := c.(*net.TCPConn)
		h, rest, err := s.readProxyHeader(ctx, tcp)
		if err != nil {
			s.mu.Lock()
			s.st.proxyErrors++
			s.mu.Unlock()
			s.log.Debug("closing client: bad PROXY header", "client", client.String(), "err", err)
			c.Close()
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
	hc := &httpConn{s: s, sctx: ctx, ctx: reqCtx, cancel: cancelReqs, tc: timedConn{c: c, wd: s.cfg.Timeouts.Client.D(), pre: pre}}
	hc.ip = client.Addr().String()
	hc.proto = "http"
	if s.hs.tls != nil {
		hc.proto = "https"
	}
	if s.hashSource {
		hc.ipKey = client.Addr().AsSlice()
	}
	s.mu.Lock()
	s.st.active++
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
		s.st.active--
		s.st.bytesIn += uint64(hc.tc.in)
		s.st.bytesOut += uint64(hc.tc.out)
		delete(s.hs.conns, hc)
		s.checkIdleLocked()
		s.mu.Unlock()
	}()

	reqTimeout, kaTimeout := s.requestTimeout(), s.keepAliveTimeout()
	if s.hs.tls != nil {
		tc, h2, err := s.startTLS(ctx, c, reqTimeout)
		if err != nil {
			s.log.Debug("closing client: TLS handshake failed", "client", hc.ip, "err", err)
			return
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
		hc.start, hc.status = time.Now(), 0
		if !first && reqTimeout > 0 {
			c.SetReadDeadline(hc.start.Add(reqTimeout))
		}
		if err := hc.req.read(hc.br, true); err != nil {
			switch {
			case err == errHeadTooLarge:
				hc.fail(431)
			case err == errMalformed:
				hc.fail(400)
			case errors.Is(err, os.ErrDeadlineExceeded):
				hc.fail(408)
			}
			hc.finish()
			s.log.Debug("closing client: bad request head", "client", hc.ip, "err", err)
			return
		}
		hc.tc.readTimeout(s.cfg.Timeouts.Client.D())
		if !hc.serve() {
			return
		}
	}
}

// fail sends a canned error response; the connection closes after it.
func (hc *httpConn) fail(code int) {
	if _, err := hc.tc.Write(hc.s.hs.errs[code]); err != nil {
		return
	}
	hc.linger(256 << 10)
}

// linger is a lingering close: closing with unread request bytes would make
// the kernel reset the connection, and the client might lose the answer.
// Send FIN, then discard up to max bytes that still come, for a moment.
func (hc *httpConn) linger(max int64) {
	if cw, ok := hc.tc.c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		hc.tc.c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		io.CopyN(io.Discard, hc.tc.c, max)
	}
}

// serve forwards one request and its response. It returns whether the
// client connection may carry another request.
func (hc *httpConn) serve() bool {
	defer hc.finish()
	s, r := hc.s, &hc.req
	g, key, pref := s.balanceRequest(r, hc.ipKey)
	hasBody := r.hasBody()
	if r.expectContinue && hasBody && r.minor == 1 {
		// Answer the client's Expect ourselves, so it sends the body while
		// the backend connection is being set up; the backend then gets a
		// plain request.
		if _, err := hc.tc.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n")); err != nil {
			return false
		}
	}
	idem := r.idempotent()

	b, bc, err := connectHTTP(hc.ctx, g, key, pref, idem, nil, false)
	if err != nil {
		if code := connectFailStatus(err); code != 0 {
			hc.fail(code)
		}
		s.log.Debug("request failed: no backend connection", "client", hc.ip, "err", err)
		return false
	}
	hc.cur.Store(bc)
	if hc.closed.Load() {
		bc.tc.c.Close() // aborted while connecting
	}
	keep, release := hc.exchange(g, b, bc, idem)
	hc.cur.Store(nil)
	if release {
		// bc is not touched here: back in the idle pool, it may already
		// serve another client (exchange counted its bytes before).
		g.release(b)
	}
	return keep
}

// connectFailStatus is the answer to a request that got no backend
// connection: 503 when no backend had a slot for it, 502 when connecting
// failed, none (0) when the request was canceled.
func connectFailStatus(err error) int {
	switch {
	case noBackendSlot(err):
		return 503
	case errors.Is(err, context.Canceled):
		return 0
	}
	return 502
}

// noBackendSlot reports whether err says that no backend was up or had
// room for a request.
func noBackendSlot(err error) bool {
	return errors.Is(err, errNoBackend) || errors.Is(err, errQueueFull) || errors.Is(err, errQueueTime)
}

// countBackendBytes adds what bc moved for this request to b's totals and
// zeroes its counters; it runs before bc goes back to the idle pool.
func (g *Service) countBackendBytes(b *backend, bc *bconn) {
	g.mu.Lock()
	b.st.bytesIn += uint64(bc.tc.out)
	b.st.bytesOut += uint64(bc.tc.in)
	g.mu.Unlock()
	bc.tc.in, bc.tc.out = 0, 0
}

// connectHTTP takes a backend slot and a connection to it: an idle one
// when there is one, else a new one, retrying refused connects on other
// backends for idempotent requests. first, when not nil, is a backend the
// caller already holds a slot on: it is tried first (fresh, a new
// connection, when fresh is set) and its slot is the caller's to give
// back only if an error is returned without trying it.
func connectHTTP(ctx context.Context, g *Service, key []byte, pref *backend, idem bool, first *backend, fresh bool) (*backend, *bconn, error) {
	var tried []*backend
	var lastErr error
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
					return nil, nil, fmt.Errorf("%w; no other backend to retry on (%v)", lastErr, err)
				}
				return nil, nil, err
			}
		}
		if !fresh || attempt > 0 {
			if bc := b.hc.get(time.Now()); bc != nil {
				return b, bc, nil
			}
			if bc := g.idleFromLoops(b); bc != nil {
				return b, bc, nil
			}
		}
		bc, err := g.dialBackend(ctx, b)
		if err == nil {
			return b, bc, nil
		}
		lastErr = err
		if !g.connectFailed(ctx, b, idem, attempt) {
			return nil, nil, lastErr
		}
		tried = append(tried, b)
	}
}

// connectFailed counts a failed connect to b, gives its slot back and
// reports whether the request may be retried on another backend.
func (g *Service) connectFailed(ctx context.Context, b *backend, idem bool, attempt int) bool {
	g.mu.Lock()
	b.st.connectErrors++
	g.st.connectErrors++
	retry := idem && attempt < g.cfg.Retries && ctx.Err() == nil
	if retry {
		b.st.retries++
		g.st.retries++
	}
	g.mu.Unlock()
	g.release(b)
	return retry
}

// idleFromLoops takes an idle connection the event loops share (backends
// with max_conn only), as a bconn.
func (s *Service) idleFromLoops(b *backend) *bconn {
	if b.cfg.MaxConn <= 0 {
		return nil
	}
	for {
		fd := b.hc.getFd(time.Now())
		if fd < 0 {
			return nil
		}
		f := os.NewFile(uintptr(fd), "backend")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			continue
		}
		tc, ok := c.(*net.TCPConn)
		if !ok {
			c.Close()
			continue
		}
		bc := &bconn{b: b, reused: true, tc: timedConn{c: tc, rd: s.cfg.Timeouts.Server.D(), wd: s.cfg.Timeouts.Server.D()}}
		bc.br = bufio.NewReaderSize(&bc.tc, httpReaderSize)
		return bc
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
	c, err := s.dial(dctx, "tcp", b.cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", b.cfg.Address, err)
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("connect to %s: not a TCP connection", b.cfg.Address)
	}
	bc := &bconn{b: b, tc: timedConn{c: tc, rd: s.cfg.Timeouts.Server.D(), wd: s.cfg.Timeouts.Server.D()}}
	bc.br = bufio.NewReaderSize(&bc.tc, httpReaderSize)
	s.mu.Lock()
	b.total++
	s.mu.Unlock()
	return bc, nil
}

// exchange sends the request on bc and relays the response. It returns
// whether the client connection stays open and whether the slot on b
// must still be released (a WebSocket tunnel releases its own).
func (hc *httpConn) exchange(g *Service, b *backend, bc *bconn, idem bool) (keep, release bool) {
	s, r := hc.s, &hc.req
	w := s.hs.writers.Get().(*bufio.Writer)
	pooled := false
	defer func() {
		w.Reset(nil)
		s.hs.writers.Put(w)
		if release && !pooled {
			g.countBackendBytes(b, bc)
		}
	}()
	bodySent, early := false, false
	for {
		w.Reset(&bc.tc)
		hc.writeRequestHead(w)
		var err error
		if r.contentLength > 0 {
			bodySent = true
			err = copyN(w, hc.br, r.contentLength)
		} else if r.chunked {
			bodySent = true
			err = copyChunked(w, hc.br)
		}
		if err == nil {
			if ferr := w.Flush(); ferr != nil {
				err = writeErr(ferr)
			}
		}
		if err == nil {
			err = hc.resp.read(bc.br, false)
			for err == nil && hc.resp.status >= 100 && hc.resp.status < 200 && hc.resp.status != 101 {
				// Interim responses go to the client as they are.
				if hc.resp.status != 100 || !r.expectContinue {
					w.Reset(&hc.tc)
					hc.writeResponseHead(w, nil, false)
					if ferr := w.Flush(); ferr != nil {
						bc.tc.c.Close()
						return false, true
					}
				}
				err = hc.resp.read(bc.br, false)
			}
		}
		if err != nil && bodySent && !srcFailed(err) && len(hc.resp.raw) == 0 {
			// The backend stopped taking the body: it may have answered
			// early (413, 401, ...), and that answer is the client's.
			if rerr := hc.resp.read(bc.br, false); rerr == nil && hc.resp.status >= 200 && hc.resp.status != 101 {
				err, early = nil, true
			}
		}
		if err == nil {
			break
		}
		bc.tc.c.Close()
		if srcFailed(err) && bodySent {
			if errors.Is(err, errMalformed) {
				hc.fail(400) // a broken chunked body
				return false, true
			}
			// The client failed mid-body: it is gone, nothing to answer.
			s.log.Debug("request body failed", "client", hc.ip, "err", err)
			return false, true
		}
		if bc.reused && !bodySent && idem && len(hc.resp.raw) == 0 && !errors.Is(err, os.ErrDeadlineExceeded) {
			// The backend closed its idle connection as the request went
			// out: nothing reached it, replay on a new connection.
			nbc, derr := g.dialBackend(hc.ctx, b)
			if derr == nil {
				bc = nbc
				hc.cur.Store(bc)
				continue
			}
			err = derr
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && len(hc.resp.raw) == 0 {
			g.mu.Lock()
			g.st.timeouts++
			g.mu.Unlock()
			hc.fail(504)
		} else {
			hc.fail(502)
		}
		s.log.Debug("request failed", "client", hc.ip, "backend", b.cfg.Address, "err", err)
		return false, true
	}

	resp := &hc.resp
	if resp.status == 101 {
		if !r.connUpgrade {
			bc.tc.c.Close()
			hc.fail(502)
			return false, true
		}
		// The request ends here; the tunnel that follows is a connection.
		hc.status = resp.status
		hc.finish()
		return hc.upgrade(w, g, b, bc), false
	}
	hc.status = resp.status
	framing := responseFraming(r, resp)
	keepClient, keepBackend := keepAlive(r, resp, framing)
	keepClient = keepClient && !hc.stopping() && !early
	keepBackend = keepBackend && !early

	w.Reset(&hc.tc)
	hc.writeResponseHead(w, s.stickyLine(r, b), !keepClient)
	var err error
	switch framing {
	case respNone:
	case respChunked:
		err = copyChunked(w, bc.br)
	case respLength:
		err = copyN(w, bc.br, resp.contentLength)
	default:
		err = copyUntilEOF(w, bc.br)
	}
	if err == nil {
		if ferr := w.Flush(); ferr != nil {
			err = writeErr(ferr)
		}
	}
	if err != nil {
		bc.tc.c.Close()
		s.log.Debug("response failed", "client", hc.ip, "backend", b.cfg.Address, "err", err)
		return false, true
	}
	if keepBackend && bc.br.Buffered() == 0 && !hc.closed.Load() {
		g.countBackendBytes(b, bc)
		pooled = true
		b.hc.put(bc, time.Now())
	} else {
		bc.tc.c.Close()
	}
	if early {
		hc.linger(64 << 20) // the rest of the body the backend refused
	}
	return keepClient, true
}

// respFraming is how the end of a response body is found.
type respFraming uint8

const (
	respNone    respFraming = iota // no body
	respLength                     // Content-Length
	respChunked                    // chunked
	respEOF                        // until the backend closes
)

// responseFraming is how the body of resp, the answer to r, ends.
func responseFraming(r, resp *httpHead) respFraming {
	switch {
	case r.isHead() || resp.status == 204 || resp.status == 304:
		return respNone
	case resp.chunked:
		return respChunked
	case resp.contentLength >= 0:
		return respLength
	}
	return respEOF
}

// keepAlive reports whether, after resp (the answer to r, framed so),
// the client and the backend connection may each carry another request,
// as far as the two heads tell.
func keepAlive(r, resp *httpHead, framing respFraming) (client, backend bool) {
	bounded := framing != respEOF
	client = r.minor == 1 && !r.connClose && bounded
	backend = resp.minor == 1 && !resp.connClose && bounded && r.minor == 1
	return client, backend
}

// stickyLine is the Set-Cookie line that makes the client of r stick to
// b, or nil when it sticks to b already or the service has no stickiness.
func (s *Service) stickyLine(r *httpHead, b *backend) []byte {
	if s.cfg.Sticky == nil || b.hc.setCookie == nil {
		return nil
	}
	if v := r.cookie(s.cfg.Sticky.Cookie); v != nil && string(v) == b.hc.cookie {
		return nil
	}
	return b.hc.setCookie
}

// appendRequestHead appends the request head for the backend to dst:
// hop-by-hop fields dropped (RFC 9110 7.6.1), Upgrade kept for upgrade
// requests, X-Forwarded-* added when fwd is set (ip is the client, proto
// http or https). Both the goroutine path and the event loops use it, so
// a request reaches the backend the same way whichever served it.
func appendRequestHead(w []byte, r *httpHead, fwd bool, ip, proto string) []byte {
	w = append(w, r.bytes(r.method)...)
	w = append(w, ' ')
	w = append(w, r.bytes(r.target)...)
	if r.minor == 0 {
		w = append(w, " HTTP/1.0\r\n"...)
	} else {
		w = append(w, " HTTP/1.1\r\n"...)
	}
	var xff []byte
	for i := range r.fields {
		f := &r.fields[i]
		if f.drop {
			continue
		}
		switch f.kind {
		case fConnection, fHop:
			continue
		case fExpect:
			if r.expectContinue {
				continue // answered by the proxy
			}
		case fUpgrade:
			if !r.connUpgrade {
				continue
			}
		case fXFF:
			if fwd {
				if xff == nil {
					xff = r.bytes(f.value)
					continue
				}
				// several fields: write the earlier ones as they are; the
				// last gets the client appended
				w = append(w, r.raw[f.name.a:f.name.b]...)
				w = append(w, ": "...)
				w = append(w, xff...)
				w = append(w, "\r\n"...)
				xff = r.bytes(f.value)
				continue
			}
		case fXFProto, fXFHost:
			if fwd {
				continue // the client's own claims are not passed on
			}
		}
		w = append(w, r.raw[f.name.a:f.name.b]...)
		w = append(w, ": "...)
		w = append(w, r.bytes(f.value)...)
		w = append(w, "\r\n"...)
	}
	if r.connUpgrade && r.hasUpgrade {
		w = append(w, "Connection: Upgrade\r\n"...)
	}
	if fwd {
		w = append(w, "X-Forwarded-For: "...)
		if len(xff) > 0 {
			w = append(w, xff...)
			w = append(w, ", "...)
		}
		w = append(w, ip...)
		w = append(w, "\r\nX-Forwarded-Proto: "...)
		w = append(w, proto...)
		w = append(w, "\r\n"...)
		if r.hasHost {
			w = append(w, "X-Forwarded-Host: "...)
			w = append(w, r.bytes(r.host)...)
			w = append(w, "\r\n"...)
		}
	}
	return append(w, "\r\n"...)
}

// appendResponseHead appends the response head for the client to dst:
// hop-by-hop fields dropped, the sticky cookie line added when setCookie is
// not nil, Connection: close when closing.
func appendResponseHead(w []byte, p *httpHead, setCookie []byte, closing bool) []byte {
	w = append(w, "HTTP/1.1 "...)
	w = append(w, p.bytes(p.statusText)...)
	w = append(w, "\r\n"...)
	upgrade := p.status == 101
	for i := range p.fields {
		f := &p.fields[i]
		if f.drop {
			continue
		}
		switch f.kind {
		case fConnection, fHop:
			continue
		case fUpgrade:
			if !upgrade {
				continue
			}
		}
		w = append(w, p.raw[f.name.a:f.name.b]...)
		w = append(w, ": "...)
		w = append(w, p.bytes(f.value)...)
		w = append(w, "\r\n"...)
	}
	if upgrade {
		w = append(w, "Connection: Upgrade\r\n"...)
	}
	w = append(w, setCookie...)
	if closing && p.status >= 200 {
		w = append(w, "Connection: close\r\n"...)
	}
	return append(w, "\r\n"...)
}

// writeRequestHead writes the request head for the backend to w.
func (hc *httpConn) writeRequestHead(w *bufio.Writer) {
	hc.scratch = appendRequestHead(hc.scratch[:0], &hc.req, hc.s.cfg.ForwardedHeaders, hc.ip, hc.proto)
	w.Write(hc.scratch)
}

// writeResponseHead writes the response head for the client to w, with
// the Set-Cookie line setCookie (nil: none).
func (hc *httpConn) writeResponseHead(w *bufio.Writer, setCookie []byte, closing bool) {
	hc.scratch = appendResponseHead(hc.scratch[:0], &hc.resp, setCookie, closing)
	w.Write(hc.scratch)
}

// upgrade completes a 101 Switching Protocols exchange and relays the
// connection raw both ways (WebSocket and the like) with the TCP tunnel,
// which takes over the backend slot.
func (hc *httpConn) upgrade(w *bufio.Writer, g *Service, b *backend, bc *bconn) bool {
	s := hc.s
	w.Reset(&hc.tc)
	hc.writeResponseHead(w, nil, false)
	// Bytes either side sent right after the heads are already buffered.
	if n := bc.br.Buffered(); n > 0 {
		p, _ := bc.br.Peek(n)
		w.Write(p)
	}
	err := w.Flush()
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
		return false
	}
	hc.tc.c.SetDeadline(time.Time{})
	sc.SetDeadline(time.Time{})
	c, ok := hc.tc.c.(*net.TCPConn)
	if !ok {
		// TLS client: a plain two-way copy, no splice.
		relay(hc.tc.c, sc)
		g.release(b)
		return false
	}
	t := s.newTunnel(c, sc, b)
	t.s = g // the slot and the bytes belong to the group
	if !g.register(hc.ctx, t) {
		sc.Close()
		g.release(b)
		return false
	}
	t.run()
	g.unregister(t)
	return false
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
