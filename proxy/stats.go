package proxy

import "time"

// ServiceStats is a snapshot of one service, for metrics and the status API.
// Counters only grow (for the life of the Service); the others are gauges.
// "In" is what clients sent (and the proxy forwarded to backends), "out" is
// what reached clients, as in HAProxy's bin/bout.
type ServiceStats struct {
	// Name is the service name.
	Name string
	// Protocol is tcp, udp or http.
	Protocol string
	// Listening is true while the listener is bound.
	Listening bool
	// Up and Reason are what Health reports.
	Up     bool
	Reason string
	// Active is the number of client connections open now (tcp: from accept
	// to close, queued ones included) or of UDP sessions.
	Active int
	// Total counts client connections accepted (tcp) or UDP sessions opened.
	Total uint64
	// BytesIn and BytesOut count payload bytes, live connections included.
	BytesIn, BytesOut uint64
	// Retries counts failed backend connects that were retried on another backend.
	Retries uint64
	// ConnectErrors counts failed backend connects, retried or not.
	ConnectErrors uint64
	// NoBackend counts connections closed because no backend was up.
	NoBackend uint64
	// Queued is the number of connections waiting for a backend slot now.
	Queued int
	// QueueTimeouts counts connections closed after waiting Timeouts.Queue.
	QueueTimeouts uint64
	// QueueOverflows counts connections closed because the queue was full
	// (or, for UDP, datagrams that found every backend at max_conn).
	QueueOverflows uint64
	// Timeouts counts connections closed by the client or server inactivity timeout.
	Timeouts uint64
	// ProxyErrors counts clients closed for a missing or bad PROXY header.
	ProxyErrors uint64
	// Dropped counts UDP datagrams dropped (no backend, session limit, send error).
	Dropped uint64
	// SessionLimit counts UDP datagrams dropped because the session table was full.
	SessionLimit uint64
	// MaxConn and MaxQueue are the configured limits beside Active and
	// Queued (MaxConn 0: none).
	MaxConn, MaxQueue int
	// QueueWait is how long connections (tcp) or requests (http) waited
	// for a backend slot, 0 for those that got one at once; those that
	// never got one are not in it.
	QueueWait DurationHistogram
	// HTTP counts requests by code class and duration; nil unless the
	// protocol is http.
	HTTP *HTTPStats
	// Backends are in config order (protocol http: the service's own, then
	// each route group's, so an address may appear more than once).
	Backends []BackendStats
}

// BackendStats is a snapshot of one backend of a service. There is no
// per-backend queue: waiting connections queue per service and take the
// first slot that frees on any usable backend.
type BackendStats struct {
	// Address is the backend address as configured.
	Address string
	// Group is empty for the service's own backends and names the route
	// group ("web/route0") for a route's, so that an address in both is
	// still told apart.
	Group string
	// Up is the last health verdict, Reason its explanation.
	Up     bool
	Reason string
	// Admin is the operator's admin state: "", "drain" or "maint".
	Admin string
	// Backup marks a backup server.
	Backup bool
	// Weight is the configured weight.
	Weight int
	// EffectiveWeight is the weight now, in the same units, after slowstart
	// (rounded up); 0 while down.
	EffectiveWeight int
	// MaxConn is the configured limit (0: none).
	MaxConn int
	// Active is the number of connections or UDP sessions on it now.
	Active int
	// Total counts connections (or UDP sessions) established to it.
	Total uint64
	// BytesIn and BytesOut count payload bytes, live connections included.
	BytesIn, BytesOut uint64
	// Retries counts failed connects to it that were retried elsewhere.
	Retries uint64
	// ConnectErrors counts failed connects to it.
	ConnectErrors uint64
	// Connect is how long its new connections took to establish (failed
	// ones are not in it; an idle connection reused takes none).
	Connect DurationHistogram
	// Response is, for protocol http, the time from a request's backend
	// connection being ready to the backend's response head.
	Response DurationHistogram
	// Responses counts, for protocol http, the responses it sent by
	// class (Code1xx..Code5xx; CodeError stays 0).
	Responses [NumCodeClasses]uint64
}

// Stats returns a snapshot of the service and its backends.
func (s *Service) Stats() ServiceStats {
	// The HTTP counts first: book counts a request there last, so the
	// requests they count have moved every other counter read below.
	var hst *HTTPStats
	if s.hs != nil {
		h := s.hs.metrics.snapshot()
		hst = &h
	}
	up, reason := s.Health()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := ServiceStats{
		Name:           s.cfg.Name,
		Protocol:       s.cfg.Protocol,
		Listening:      s.listening,
		Up:             up,
		Reason:         reason,
		Active:         s.st.active,
		Total:          s.st.total,
		BytesIn:        s.st.bytesIn,
		BytesOut:       s.st.bytesOut,
		Retries:        s.st.retries,
		ConnectErrors:  s.st.connectErrors,
		NoBackend:      s.st.noBackend,
		Queued:         s.queue.Len(),
		QueueTimeouts:  s.st.queueTimeouts,
		QueueOverflows: s.st.queueOverflows,
		Timeouts:       s.st.timeouts,
		ProxyErrors:    s.st.proxyErrors,
		Dropped:        s.st.dropped,
		SessionLimit:   s.st.sessionLimit,
		MaxConn:        s.cfg.MaxConn,
		MaxQueue:       s.cfg.MaxQueue,
		QueueWait:      s.queueWait.snapshot(),
	}
	idx := make(map[*backend]int, len(s.backends))
	now := time.Now()
	for i, b := range s.backends {
		idx[b] = i
		st.Backends = append(st.Backends, BackendStats{
			Address:         b.cfg.Address,
			Up:              b.up,
			Reason:          b.reason,
			Admin:           b.admin,
			Backup:          b.cfg.Backup,
			Weight:          b.cfg.Weight,
			EffectiveWeight: (s.weight(b, now) + weightScale - 1) / weightScale,
			MaxConn:         b.cfg.MaxConn,
			Active:          b.active,
			Total:           b.total,
			BytesIn:         b.st.bytesIn,
			BytesOut:        b.st.bytesOut,
			Retries:         b.st.retries,
			ConnectErrors:   b.st.connectErrors,
			Connect:         b.obs.connect.snapshot(),
			Response:        b.obs.response.snapshot(),
		})
		bs := &st.Backends[len(st.Backends)-1]
		for c := range bs.Responses {
			bs.Responses[c] = b.obs.responses[c].Load()
		}
	}
	// Live connections' bytes are in their own counters until they end.
	add := func(b *backend, in, out int64) {
		st.BytesIn += uint64(in)
		st.BytesOut += uint64(out)
		bs := &st.Backends[idx[b]]
		bs.BytesIn += uint64(in)
		bs.BytesOut += uint64(out)
	}
	for t := range s.tunnels {
		add(t.b, t.c2s.written.Load(), t.s2c.written.Load())
	}
	for _, u := range s.sessions {
		add(u.b, u.in.Load(), u.out.Load())
	}
	if s.hs != nil {
		// Protocol http: the route groups' backends follow the service's
		// own, and their counters add to the service's.
		st.HTTP = hst
		for _, g := range s.hs.groups[1:] {
			gs := g.Stats()
			for i := range gs.Backends {
				gs.Backends[i].Group = gs.Name
			}
			st.Backends = append(st.Backends, gs.Backends...)
			st.BytesIn += gs.BytesIn
			st.BytesOut += gs.BytesOut
			st.Retries += gs.Retries
			st.ConnectErrors += gs.ConnectErrors
			st.NoBackend += gs.NoBackend
			st.Queued += gs.Queued
			st.QueueTimeouts += gs.QueueTimeouts
			st.QueueOverflows += gs.QueueOverflows
			st.Timeouts += gs.Timeouts
		}
	}
	return st
}
