package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"vigil/proxy/httpcore"
	"vigil/proxy/proxyproto"
)

// proxyHeaderBuf is the read buffer for an incoming PROXY header: a v1
// header is at most 107 bytes and proxyproto accepts v2 headers up to
// 16+2048 bytes; client bytes read past the header are forwarded.
const proxyHeaderBuf = 4096

// runTCP is Run for protocol tcp.
func (s *Service) runTCP(ctx context.Context) error {
	sock, err := s.takeSocket(func() (Socket, error) {
		ln, _, err := s.listen(ctx, "tcp", s.cfg.Listen.String())
		return Socket{stream: ln}, err
	})
	if err != nil {
		s.setListening(nil, err.Error())
		return fmt.Errorf("service %s: listen on %s: %w", s.cfg.Name, s.cfg.Listen, err)
	}
	ln := sock.stream
	s.relay = s.Relay
	if s.relay == nil {
		r, err := NewRelay(runtime.GOMAXPROCS(0))
		if err != nil {
			ln.Close()
			s.setListening(nil, err.Error())
			return fmt.Errorf("service %s: %w", s.cfg.Name, err)
		}
		defer r.Close() // after the drain below: deferred calls run last
		s.relay = r
	}
	s.publishSocket(sock)
	s.setListening(ln.Addr(), "")
	s.log.Info("listening", "addr", ln.Addr().String(), "protocol", s.cfg.Protocol)
	// The stop ends Accept with a deadline rather than closing the
	// listener: handshakes the kernel has completed wait in its backlog,
	// and closing would reset them. They are accepted below and served
	// through the drain; releaseSocket closes the listener after that.
	stop := context.AfterFunc(ctx, func() { sock.setDeadline(time.Unix(1, 0)) })
	defer stop()
	loopHTTP := s.loopEligible()
	if loopHTTP {
		s.prepareLoops(s.relay)
		s.loops.Store(s.relay)
		defer s.loops.Store(nil)
		// An HTTP connection on an event loop stops keeping alive once
		// ctx is over; its loop closes it when idle, after a grace.
		relay := s.relay
		stopLoops := context.AfterFunc(ctx, func() {
			for _, l := range relay.loops {
				l.post(stopService(s))
			}
		})
		defer stopLoops()
	}
	handingOff := s.handingOff // replaced only by the next Run
	// A TCP client accepted before the stop is served through the drain
	// like an established one, its backend connect included: connCtx ends
	// only when the drain is over (drainTCP), not when ctx does.
	connCtx, endDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer endDrain()

	// The service's max_conn is a semaphore. A connection is accepted
	// first and then waits for a slot, so that over the limit exactly one
	// accepted client waits here (the rest in the kernel's backlog, not
	// accepted and closed), and an HTTP service knows someone is waiting:
	// it closes its longest-idle keep-alive connection to make room.
	var sem chan struct{}
	if s.cfg.MaxConn > 0 {
		sem = make(chan struct{}, s.cfg.MaxConn)
	}
	var wg sync.WaitGroup
	// serve takes an accepted client; slot says it holds one of sem's.
	serve := func(c *net.TCPConn, slot bool) {
		if loopHTTP {
			var held chan struct{}
			if slot {
				held = sem
			}
			if s.serveHTTPLoop(ctx, c, held) {
				return
			}
		}
		if s.hs == nil {
			// Counted here, not in its goroutine, so that a drain starting
			// now waits for it.
			s.mu.Lock()
			s.serving++
			s.mu.Unlock()
		}
		wg.Go(func() {
			if slot {
				defer func() { <-sem }()
			}
			if s.hs != nil {
				s.serveHTTP(ctx, c)
				return
			}
			s.serveConn(connCtx, c)
		})
	}
	// waitForSlot takes a client the stop found without a max_conn slot:
	// it is served when a connection ending in the drain frees one, as
	// HAProxy serves its queue while it stops, and closed if the drain
	// ends first. Counted as serving, so that the drain waits for it.
	waitForSlot := func(c *net.TCPConn) {
		s.mu.Lock()
		s.serving++
		s.mu.Unlock()
		wg.Go(func() {
			slot := false
			select {
			case sem <- struct{}{}:
				slot = true
			case <-connCtx.Done():
			}
			switch {
			case connCtx.Err() != nil: // the drain is over, slot or not
				c.Close()
			case s.hs == nil:
				defer func() { <-sem }()
				s.serveConn(connCtx, c) // it counts serving down
				return
			default:
				// The goroutine path: the loops take no connection once
				// the drain has begun. ctx is over, so the answer says
				// Connection: close.
				s.serveHTTP(ctx, c)
			}
			if slot {
				<-sem
			}
			s.mu.Lock()
			s.serving--
			s.checkIdleLocked()
			s.mu.Unlock()
		})
	}
	backoff := time.Duration(0)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) || s.handedOff() {
				break
			}
			// Out of file descriptors and the like: make room by closing
			// idle keep-alive clients, and wait for connections to end
			// instead of spinning on Accept (net/http backs off too).
			reclaimed := s.reclaimIdle(reclaimBatch)
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			if reclaimed > 0 {
				backoff = 0
			}
			s.acceptLog.hit(s.log, "accept failed: new connections wait in the listen backlog", "err", err, "idle_closed", reclaimed, "backoff", backoff)
			if backoff > 0 {
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
				}
			}
			continue
		}
		slot := false
		if sem != nil {
			var ok bool
			if slot, ok = s.takeSlot(ctx, sem, handingOff); !ok {
				waitForSlot(c.(*net.TCPConn))
				break
			}
		}
		backoff = 0
		serve(c.(*net.TCPConn), slot)
	}
	if ctx.Err() != nil && !s.handedOff() {
		for _, c := range acceptBacklog(ln) {
			slot := false
			if sem != nil {
				select {
				case sem <- struct{}{}:
					slot = true
				default:
					waitForSlot(c)
					continue
				}
			}
			serve(c, slot)
		}
	}
	if s.releaseSocket(stop) {
		s.setListening(nil, "handed off")
		s.log.Info("handed the listening socket on, draining", "drain", s.Drain)
	} else {
		s.setListening(nil, "stopped")
		s.log.Info("stopped accepting, draining", "drain", s.Drain)
	}
	s.drainTCP(endDrain)
	wg.Wait()
	s.hwg.Wait()
	if loopHTTP && s.Relay != nil {
		for _, l := range s.relay.loops {
			l.post(serviceGone(s))
		}
	}
	return nil
}

// acceptBacklog accepts, without waiting, the connections whose handshake
// the kernel has completed on ln. A stopping service serves them: by the
// time a VRRP node stops its services its VIPs are gone, so no new ones
// arrive, and the clients already in the backlog would otherwise be reset
// when the listener closes.
func acceptBacklog(ln net.Listener) []*net.TCPConn {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return nil
	}
	var conns []*net.TCPConn
	rc.Control(func(lfd uintptr) {
		for {
			fd, _, err := unix.Accept4(int(lfd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			if err == unix.EINTR || err == unix.ECONNABORTED {
				continue
			}
			if err != nil {
				return // EAGAIN: the backlog is empty
			}
			f := os.NewFile(uintptr(fd), "backlog")
			c, err := net.FileConn(f) // a dup: f's own descriptor closes next
			f.Close()
			if tc, ok := c.(*net.TCPConn); ok && err == nil {
				conns = append(conns, tc)
			} else if c != nil {
				c.Close()
			}
		}
	})
	return conns
}

// reclaimBatch is how many idle keep-alive clients an HTTP service closes
// at once when accept fails for want of file descriptors.
const reclaimBatch = 16

// takeSlot waits for one of the max_conn slots for a connection just
// accepted. At the limit it logs (once in a while) and, for HTTP, closes
// the longest-idle keep-alive client to make room. It reports whether it
// took a slot, and ok false when the service stops first. A handoff
// starting meanwhile lets the connection through without a slot: it was
// accepted here, it is served here, and the accept loop must not hold up
// the handoff (the old service drains, briefly one over max_conn).
func (s *Service) takeSlot(ctx context.Context, sem chan struct{}, handingOff <-chan struct{}) (slot, ok bool) {
	select {
	case sem <- struct{}{}:
		return true, true
	default:
	}
	// Counted before looking for idle connections: one that turns idle
	// after the look sees a waiter and wakes it (turnedIdle), as a client
	// that connects while the last response is on its way otherwise
	// waits for a slot that nothing frees.
	s.slotWaiters.Add(1)
	defer s.slotWaiters.Add(-1)
	reclaimed := s.reclaimIdle(1)
	s.maxConnLog.hit(s.log, "service at max_conn: new connections wait for a slot", "max_conn", s.cfg.MaxConn, "idle_closed", reclaimed)
	for {
		select {
		case sem <- struct{}{}:
			return true, true
		case <-s.idleWake:
			s.reclaimIdle(1)
		case <-handingOff:
			return false, true
		case <-ctx.Done():
			return false, false
		}
	}
}

// turnedIdle is called when a client connection turns idle between
// requests: an accept loop waiting for a max_conn slot may now reclaim it.
func (s *Service) turnedIdle() {
	if s.slotWaiters.Load() > 0 {
		select {
		case s.idleWake <- struct{}{}:
		default:
		}
	}
}

// drainTCP waits up to s.Drain for established connections, TCP clients
// still connecting to a backend included, to end; then it closes the rest,
// and endDrain makes the connects still under way give up. Run's context
// has ended, so no new connection is accepted.
func (s *Service) drainTCP(endDrain func()) {
	timer := time.NewTimer(s.Drain)
	defer timer.Stop()
	s.mu.Lock()
	s.stopping = true
	if len(s.tunnels) > 0 || s.serving > 0 || (s.hs != nil && len(s.hs.conns)+len(s.hs.lconns) > 0) {
		s.idle = make(chan struct{})
		idle := s.idle
		s.mu.Unlock()
		select {
		case <-idle:
		case <-timer.C:
		}
		s.mu.Lock()
	}
	s.idle = nil
	s.drainOver = true // no tunnel registers from now on
	left := make([]*tunnel, 0, len(s.tunnels))
	for t := range s.tunnels {
		left = append(left, t)
	}
	var conns []*httpConn
	var lconns []*hconn
	if s.hs != nil {
		for hc := range s.hs.conns {
			conns = append(conns, hc)
		}
		for c := range s.hs.lconns {
			lconns = append(lconns, c)
		}
	}
	s.mu.Unlock()
	endDrain()
	if n := len(left) + len(conns) + len(lconns); n > 0 {
		s.log.Info("drain period over, closing connections", "count", n)
	}
	for _, c := range lconns {
		c.l.post(abortConn(c))
		c.cancel() // a TLS handshake still under way gives up
	}
	for _, t := range left {
		t.abort("service stopped")
	}
	for _, hc := range conns {
		hc.abort()
	}
}

// serveConn handles one client connection from accept to close; the
// accept loop has counted it in s.serving. ctx ends when the service's
// drain is over.
func (s *Service) serveConn(ctx context.Context, c *net.TCPConn) {
	s.mu.Lock()
	s.connOpenedLocked()
	s.st.total++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.connClosedLocked()
		s.serving--
		s.checkIdleLocked()
		s.mu.Unlock()
	}()

	client, local := addrPort(c.RemoteAddr()), addrPort(c.LocalAddr())
	rec := &tcpRecord{start: time.Now(), client: client, status: 200}
	logged := false
	defer func() {
		// before the connection is counted out: HAProxy's feconn
		// includes the connection it logs
		if logged {
			s.logTCP(rec)
		}
	}()
	log := s.log.With("client", client.String())
	var early []byte // client bytes read together with its PROXY header
	if s.cfg.ProxyProtocol.Accept {
		h, rest, ok := s.acceptProxyHeader(ctx, c, client)
		if !ok {
			return
		}
		// LOCAL is the sender's own connection (a health check): it
		// carries no client, so the real peer stays the client.
		if h.Command == proxyproto.Proxy && h.Source.IsValid() {
			client = unmap(h.Source)
			local = unmap(h.Destination)
			log = s.log.With("client", client.String())
			rec.client = client
		}
		early = rest
	}
	logged = true

	var key []byte
	if s.hashSource {
		key = client.Addr().AsSlice()
	}
	stopClose := context.AfterFunc(ctx, func() { c.Close() })
	b, sc, err := s.connect(ctx, "tcp", key, true, rec)
	if !stopClose() || err != nil {
		if err == nil {
			sc.Close()
			s.release(b)
			rec.term = [2]byte{'K', 'C'}
		} else {
			cause, stage, status := connectFailure(err, connResult{assigned: rec.assigned})
			if errors.Is(err, context.Canceled) {
				cause = httpcore.CauseKilled // the drain is over
			}
			rec.term, rec.status = httpcore.Letters(cause, stage), status
		}
		log.Debug("closing client: no backend connection", "err", err)
		c.Close()
		return
	}
	server := sc.(*net.TCPConn)
	log = log.With("backend", b.cfg.Address)

	if s.cfg.ProxyProtocol.Send != "" {
		hdr, err := s.proxyHeader(client, local)
		if err != nil {
			log.Warn("closing client: cannot build PROXY header", "err", err)
			rec.term, rec.status = [2]byte{'P', 'C'}, 502
			s.closeBoth(c, server, b)
			return
		}
		early = append(hdr, early...)
	}
	t := s.newTunnel(c, server, b)
	if len(early) > 0 {
		if _, err := server.Write(early); err != nil {
			log.Debug("closing client: write to backend failed", "err", err)
			rec.term = [2]byte{'S', 'D'}
			s.closeBoth(c, server, b)
			return
		}
	}
	if !s.register(ctx, t) {
		log.Debug("closing client: drain over or backend shut down")
		rec.term = [2]byte{'K', 'C'}
		s.closeBoth(c, server, b)
		return
	}
	log.Debug("connected")
	t.run()
	s.unregister(t)
	rec.in, rec.out = t.c2s.written.Load(), t.s2c.written.Load()
	rec.term = tcpTermination(t.why(), t.timedOut)
	log.Debug("closed", "reason", t.why(), "in", rec.in, "out", rec.out)
}

// closeBoth ends a connection that never became a tunnel.
func (s *Service) closeBoth(client, server net.Conn, b *backend) {
	client.Close()
	server.Close()
	s.release(b)
}

// register adds an established tunnel to the set that drain and
// shutdown_sessions close. It refuses when
// the drain is over or the backend went down (with shutdown_sessions)
// between connect and now, since nobody would close the tunnel later.
func (s *Service) register(ctx context.Context, t *tunnel) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil || s.drainOver || (!t.b.up && s.cfg.OnDown == "shutdown_sessions") {
		return false
	}
	s.tunnels[t] = struct{}{}
	t.b.total++
	return true
}

// unregister removes a finished tunnel, adds its bytes to the totals and
// frees its backend slot.
func (s *Service) unregister(t *tunnel) {
	in, out := uint64(t.c2s.written.Load()), uint64(t.s2c.written.Load())
	s.mu.Lock()
	delete(s.tunnels, t)
	s.st.bytesIn += in
	s.st.bytesOut += out
	t.b.st.bytesIn += in
	t.b.st.bytesOut += out
	if t.timedOut {
		s.st.timeouts++
	}
	s.checkIdleLocked()
	t.b.active--
	s.dispatchLocked()
	s.mu.Unlock()
}

// readProxyHeader reads the client's PROXY header (v1 or v2) within the
// client timeout. It returns the header and any client bytes read past it,
// which must reach the backend first.
func (s *Service) readProxyHeader(ctx context.Context, c *net.TCPConn) (proxyproto.Header, []byte, error) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if t := s.cfg.Timeouts.Client.D(); t > 0 {
		c.SetReadDeadline(time.Now().Add(t))
		defer c.SetReadDeadline(time.Time{})
	}
	br := bufio.NewReaderSize(c, proxyHeaderBuf)
	h, err := proxyproto.Read(br)
	if err != nil {
		return h, nil, fmt.Errorf("read PROXY header: %w", err)
	}
	var rest []byte
	if n := br.Buffered(); n > 0 {
		p, _ := br.Peek(n)
		rest = append([]byte(nil), p...)
	}
	return h, rest, nil
}

// acceptProxyHeader reads the PROXY header of client's connection c; on
// failure the refusal is counted and logged, c is closed, and ok is false.
func (s *Service) acceptProxyHeader(ctx context.Context, c *net.TCPConn, client netip.AddrPort) (h proxyproto.Header, rest []byte, ok bool) {
	h, rest, err := s.readProxyHeader(ctx, c)
	if err != nil {
		s.mu.Lock()
		s.st.proxyErrors++
		s.mu.Unlock()
		s.log.Debug("closing client: bad PROXY header", "client", client.String(), "err", err)
		c.Close()
		return h, nil, false
	}
	return h, rest, true
}

// proxyHeader builds the PROXY header sent to a backend, carrying the
// client's address (from its own PROXY header when accepted) and the
// service address it connected to.
func (s *Service) proxyHeader(client, local netip.AddrPort) ([]byte, error) {
	v := 1
	if s.cfg.ProxyProtocol.Send == "v2" {
		v = 2
	}
	h := proxyproto.Header{Version: v, Command: proxyproto.Proxy, Source: client, Destination: local, Protocol: proxyproto.TCP}
	b, err := h.AppendTo(nil)
	if err != nil {
		return nil, fmt.Errorf("PROXY v%d header for %s -> %s: %w", v, client, local, err)
	}
	return b, nil
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
