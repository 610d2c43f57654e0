package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"hash/fnv"
	"net"
	"strconv"
	"sync"
	"time"

	"vigil/config"
	"vigil/proxy/httpcore"
)

// The HTTP state of a service and what every path that serves HTTP shares
// with the others: the router, the canned answers, the backends' idle
// connections, and the one place an exchange is booked (book). The rules
// themselves are package httpcore's; the paths are the event loops
// (httploop.go), the goroutine path (httpconn.go, httpforward.go) and
// HTTP/2 (httph2.go).

const (
	httpReaderSize = httpcore.MaxLine // a goroutine's read buffer
	httpWriterSize = 16 << 10         // write buffer, taken per request

	// maxIdlePerBackend bounds the idle keep-alive connections kept to
	// one backend, on each list of its pool.
	maxIdlePerBackend = 512
	// idleExpiry closes backend connections idle this long; shorter than
	// common backend keep-alive timeouts (Apache's 5 s), so the proxy
	// rarely reuses a connection the backend is closing.
	idleExpiry = 4 * time.Second
)

// httpService is the protocol http state of a Service (and of each route's
// backend group, itself a Service).
type httpService struct {
	router  *httpcore.Router
	answers *httpcore.Answers
	conns   map[*httpConn]struct{}
	lconns  map[*hconn]struct{} // connections on event loops (httploop.go)
	groups  []*Service          // s and the route groups, by router group index
	tls     *tls.Config         // nil: cleartext

	readers sync.Pool // *bufio.Reader of httpReaderSize
	writers sync.Pool // *bufio.Writer of httpWriterSize

	metrics httpMetrics // requests by code class and duration (httpmetrics.go)
}

// httpBackend is the HTTP state of one backend: its idle connections and
// its sticky cookie.
type httpBackend struct {
	pool      idlePool
	cookie    string // opaque id
	setCookie []byte // whole Set-Cookie line
}

// bconn is a backend connection on the goroutine path.
type bconn struct {
	tc        timedConn
	br        *bufio.Reader
	fd        int // its descriptor, for the idle pool's check; -1: unknown
	b         *backend
	reused    bool
	idleSince time.Time
}

// newBconn wraps a backend connection for the goroutine path.
func (s *Service) newBconn(b *backend, c *net.TCPConn, reused bool) *bconn {
	bc := &bconn{b: b, reused: reused, fd: -1, tc: timedConn{c: c, rd: s.cfg.Timeouts.Server.D(), wd: s.cfg.Timeouts.Server.D()}}
	bc.br = bufio.NewReaderSize(&bc.tc, httpReaderSize)
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { bc.fd = int(fd) })
	}
	return bc
}

// initHTTP prepares a protocol http Service: route groups, router, canned
// answers, sticky cookies and buffer pools.
func (s *Service) initHTTP() error {
	if s.cfg.ProxyProtocol.Send != "" {
		// A PROXY header names one client, and backend connections are
		// shared by all clients.
		return fmt.Errorf("service %s: proxy_protocol.send is not supported with protocol http (backend connections are shared between clients)", s.cfg.Name)
	}
	if s.cfg.Sticky != nil && !config.ValidCookieName(s.cfg.Sticky.Cookie) {
		return fmt.Errorf("service %s: sticky cookie name %q is not a valid cookie name", s.cfg.Name, s.cfg.Sticky.Cookie)
	}
	hs := &httpService{
		conns:   make(map[*httpConn]struct{}),
		lconns:  make(map[*hconn]struct{}),
		answers: httpcore.NewAnswers(s.cfg.Name),
	}
	hs.readers.New = func() any { return bufio.NewReaderSize(nil, httpReaderSize) }
	hs.writers.New = func() any { return bufio.NewWriterSize(nil, httpWriterSize) }
	s.hs = hs
	if s.cfg.TLS != nil {
		if err := s.initTLS(); err != nil {
			return err
		}
	}
	s.initHTTPBackends()
	hs.groups = append(hs.groups, s)
	balances := []httpcore.Balance{balanceKey(s.cfg.Balance)}
	var specs []httpcore.RouteSpec
	for i, r := range s.cfg.Routes {
		group := 0
		if len(r.Backends) > 0 {
			rc := s.cfg
			rc.Name = fmt.Sprintf("%s/route%d", s.cfg.Name, i)
			rc.Routes = nil
			rc.TLS, rc.H2C = nil, false // the group only balances
			rc.AccessLog = nil
			rc.Backends = r.Backends
			if r.Balance != "" {
				rc.Balance = r.Balance
			}
			g, err := NewService(rc, s.log)
			if err != nil {
				return fmt.Errorf("service %s: route %d: %w", s.cfg.Name, i, err)
			}
			g.root = s
			group = len(hs.groups)
			hs.groups = append(hs.groups, g)
			balances = append(balances, balanceKey(rc.Balance))
		}
		specs = append(specs, httpcore.RouteSpec{Hosts: r.Hosts, PathPrefix: r.PathPrefix, Group: group})
	}
	cookie := ""
	if s.cfg.Sticky != nil {
		cookie = s.cfg.Sticky.Cookie
	}
	hs.router = httpcore.NewRouter(specs, balances, cookie)
	return nil
}

// balanceKey is what a group balancing with algorithm hashes.
func balanceKey(algorithm string) httpcore.Balance {
	switch algorithm {
	case "source":
		return httpcore.BalanceSource
	case "uri":
		return httpcore.BalanceURI
	}
	return httpcore.BalancePlain
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

// prepareLoops makes room in every backend's pool for the idle
// connections of r's loops, before they serve the service.
func (s *Service) prepareLoops(r *Relay) {
	for _, g := range s.hs.groups {
		for _, b := range g.backends {
			b.hc.pool.loops = make([][]*hback, len(r.loops))
		}
	}
}

// routing is where a request goes: its group, the key the group hashes,
// and the backend its sticky cookie names (nil: none, or the service is
// not sticky) with what the cookie was worth (httpcore's Cookie marks).
type routing struct {
	g        *Service
	key      []byte
	pref     *backend
	cookieIn byte
}

// route decides for request r from a client whose balance source key is
// ipKey.
func (s *Service) route(r *httpcore.Head, ipKey []byte) routing {
	d := s.hs.router.Route(r, ipKey)
	rt := routing{g: s.hs.groups[d.Group], key: d.Key}
	if s.cfg.Sticky == nil {
		return rt
	}
	rt.cookieIn = httpcore.CookieNone
	if d.Cookie != nil {
		rt.pref = rt.g.byCookie(d.Cookie)
		rt.cookieIn = httpcore.CookieInvalid
		if rt.pref != nil {
			rt.cookieIn = httpcore.CookieValid
		}
	}
	return rt
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

// stickyLine is the Set-Cookie line that makes the client of r stick to
// b, or nil when it sticks to b already or the service has no stickiness.
func (s *Service) stickyLine(r *httpcore.Head, b *backend) []byte {
	if s.cfg.Sticky == nil || b.hc.setCookie == nil {
		return nil
	}
	if v := r.Cookie(s.cfg.Sticky.Cookie); v != nil && string(v) == b.hc.cookie {
		return nil
	}
	return b.hc.setCookie
}

// stickyMarks completes an exchange's cookie marks once its backend is
// known: a cookie that named another backend than the one used named one
// that could not take the request.
func stickyMarks(ex *httpcore.Exchange, rt *routing, b *backend, setCookie []byte) {
	if rt.cookieIn == 0 {
		return
	}
	ex.CookieIn = rt.cookieIn
	if rt.pref != nil && rt.pref != b {
		ex.CookieIn = httpcore.CookieDown
	}
	if setCookie != nil {
		ex.CookieOut = httpcore.CookieInserted
	}
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

// reapIdle closes the shared idle connections past idleExpiry (all when
// all is set); the loops expire their own in their sweep.
func (s *Service) reapIdle(now time.Time, all bool) {
	for _, g := range s.hs.groups {
		for _, b := range g.backends {
			if all {
				b.hc.pool.closeShared()
			} else {
				b.hc.pool.expire(now)
			}
		}
	}
}

// book books one finished request, whichever path served it: its
// metrics, the timeouts, the backend's bytes and the access log line.
// Every path calls it exactly once per request, failed ones included; b
// is the backend it reached, nil when none.
func (s *Service) book(ex *httpcore.Exchange, g *Service, b *backend) {
	class := CodeError
	if ex.FromBackend {
		class = classOf(ex.Status)
	}
	// Counted last, after everything else the request moves: a reader
	// that sees n requests (Stats reads this first) sees all their
	// effects.
	defer s.hs.metrics.observe(class, max(ex.End, 0))
	if ex.Queued >= 0 && ex.Assigned >= ex.Queued {
		s.queueWait.observe(ex.Assigned - ex.Queued)
	}
	if b != nil && ex.FromBackend {
		b.obs.responses[class].Add(1)
		if ex.Connected >= 0 && ex.ResponseHead >= ex.Connected {
			b.obs.response.observe(ex.ResponseHead - ex.Connected)
		}
	}
	timeout := ex.Cause == httpcore.CauseServerTimeout || ex.Cause == httpcore.CauseClientTimeout
	if g == nil {
		g = s
	}
	if !timeout && b == nil && s.AccessLog == nil {
		return
	}
	g.mu.Lock()
	if timeout {
		g.st.timeouts++
	}
	if b != nil {
		b.st.bytesIn += uint64(ex.BackendOut)
		b.st.bytesOut += uint64(ex.BackendIn)
	}
	if s.AccessLog != nil {
		s.logHTTP(ex, g, b)
	}
	g.mu.Unlock()
}
