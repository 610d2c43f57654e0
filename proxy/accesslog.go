package proxy

import (
	"net/netip"
	"strings"
	"time"

	"vigil/accesslog"
	"vigil/proxy/httpcore"
)

// Access log lines, HAProxy's httplog and tcplog (or their JSON and nginx
// forms, package accesslog). An HTTP request's line comes from its
// exchange record when it is booked (book); a TCP connection's when it
// ends (serveConn). Formatting and writing happen off the caller's way:
// accesslog.Logger.Log never blocks.

// connOpenedLocked counts a client connection that opens; s.mu is held.
func (s *Service) connOpenedLocked() {
	s.st.active++
	s.feconn.Add(1)
	if s.Conns != nil {
		s.Conns.Add(1)
	}
}

// connClosedLocked counts a client connection that ends; s.mu is held.
func (s *Service) connClosedLocked() {
	s.st.active--
	s.feconn.Add(-1)
	if s.Conns != nil {
		s.Conns.Add(-1)
	}
}

// actconn is the process's client connections now, as far as the
// service knows.
func (s *Service) actconn() int {
	if s.Conns != nil {
		return int(s.Conns.Load())
	}
	return int(s.feconn.Load())
}

// beconnLocked is the group's requests or connections on its backends,
// queued ones included (HAProxy's beconn); g.mu is held.
func (g *Service) beconnLocked() int {
	n := g.queue.Len()
	for _, b := range g.backends {
		n += b.active
	}
	return n
}

// logHTTP writes the access log line of a finished request; g.mu is held
// (beconn, srv_conn).
func (s *Service) logHTTP(ex *httpcore.Exchange, g *Service, b *backend) {
	tr, tw, tc, tresp, ta := ex.Timers()
	e := accesslog.Entry{
		Client: ex.Client, Start: ex.Start, Service: s.cfg.Name, Backend: g.logName, Server: ex.Backend,
		TR: tr, Tw: tw, Tc: tc, Tr: tresp, Ta: ta,
		Status: ex.Status, BytesIn: ex.BytesIn, BytesOut: ex.BytesOut, BodyOut: ex.BodyOut,
		Termination: ex.Termination(),
		ActConn:     s.actconn(), FeConn: int(s.feconn.Load()), BeConn: g.beconnLocked(),
		Retries: ex.Retries, Redispatched: ex.Redispatched,
		TLS: ex.TLS,
	}
	if b != nil {
		e.SrvConn = b.active
	}
	if r := ex.Req; r != nil {
		e.Method, e.Target = r.Bytes(r.Method), r.Bytes(r.Target)
		e.Proto = []byte(ex.Proto)
		if r.HasHost {
			e.Host = r.Bytes(r.Host)
		}
		e.Referer, e.UserAgent = r.Field(httpcore.KindReferer), r.Field(httpcore.KindUserAgent)
	}
	s.AccessLog.Log(&e)
}

// tcpRecord is what a TCP connection's line says: when it was accepted,
// waited for a slot and connected, where it went, how it ended.
type tcpRecord struct {
	client              netip.AddrPort
	start               time.Time
	assigned, connected time.Time
	b                   *backend
	retries             int
	in, out             int64
	status              int
	term                [2]byte
}

// logTCP writes the access log line of a TCP connection that ended.
func (s *Service) logTCP(r *tcpRecord) {
	if s.AccessLog == nil {
		return
	}
	now := time.Now()
	e := accesslog.Entry{
		TCP: true, Client: r.client, Start: r.start, Service: s.cfg.Name, Backend: s.logName,
		Tw: -1, Tc: -1, Ta: now.Sub(r.start),
		Status: r.status, BytesIn: r.in, BytesOut: r.out,
		Termination: [4]byte{r.term[0], r.term[1], '-', '-'},
		ActConn:     s.actconn(), FeConn: int(s.feconn.Load()),
		Retries: r.retries, Redispatched: r.retries > 0,
	}
	if !r.assigned.IsZero() {
		e.Tw = r.assigned.Sub(r.start)
	}
	if !r.connected.IsZero() {
		e.Tc = r.connected.Sub(r.assigned)
	}
	s.mu.Lock()
	e.BeConn = s.beconnLocked()
	if r.b != nil {
		e.Server = r.b.cfg.Address
		e.SrvConn = r.b.active
	}
	s.mu.Unlock()
	s.AccessLog.Log(&e)
}

// tcpTermination is HAProxy's two termination characters for a tunnel
// that ended for reason (tunnel.end's words), after an idle timeout when
// timedOut is set.
func tcpTermination(reason string, timedOut bool) [2]byte {
	switch {
	case reason == "closed by peers":
		return [2]byte{'-', '-'}
	case timedOut && strings.HasPrefix(reason, "client"):
		return [2]byte{'c', 'D'}
	case timedOut:
		return [2]byte{'s', 'D'}
	case strings.HasPrefix(reason, "client side"):
		return [2]byte{'C', 'D'}
	case strings.HasPrefix(reason, "backend side"):
		return [2]byte{'S', 'D'}
	case strings.HasPrefix(reason, "backend down"):
		return [2]byte{'D', 'D'}
	case reason == "service stopped", reason == "relay stopped":
		return [2]byte{'K', 'D'}
	}
	return [2]byte{'R', 'D'} // the relay could not take it: out of descriptors
}
