package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// UDP is relayed per client address: the first datagram from a client opens
// a session, a connected socket of its own to a backend picked then; the
// client's later datagrams go through it and the backend's replies are
// sent back from the listener socket, so the client sees them come from
// the address it sent to (the VIP). A session ends after Timeouts.UDPSession
// without traffic either way.
const (
	// maxDatagram holds any UDP payload, so nothing is truncated.
	maxDatagram = 64 << 10
	// defaultUDPSession is the idle expiry when the service sets none.
	defaultUDPSession = 30 * time.Second
)

// udpSession is one client address mapped to one backend socket.
type udpSession struct {
	s       *Service
	b       *backend
	client  netip.AddrPort // as the listener reported it, to reply to
	conn    *net.UDPConn   // connected to the backend
	last    atomic.Int64   // unix nanoseconds of the last datagram either way
	in, out atomic.Int64   // bytes client->backend, backend->client
}

// runUDP is Run for protocol udp.
func (s *Service) runUDP(ctx context.Context) error {
	sock, err := s.takeSocket(func() (Socket, error) {
		_, pc, err := s.listen(ctx, "udp", s.cfg.Listen.String())
		if err != nil {
			return Socket{}, err
		}
		return Socket{packet: pc.(*net.UDPConn)}, nil
	})
	if err != nil {
		s.setListening(nil, err.Error())
		return fmt.Errorf("service %s: listen on %s: %w", s.cfg.Name, s.cfg.Listen, err)
	}
	ln := sock.packet
	s.publishSocket(sock)
	s.setListening(ln.LocalAddr(), "")
	s.log.Info("listening", "addr", ln.LocalAddr().String(), "protocol", "udp")
	if s.cfg.Listen.Addr().IsUnspecified() {
		// Replies leave through the listener; on a wildcard socket the
		// kernel picks their source by route, which for a VIP that is a
		// secondary address is not the address the client sent to.
		s.log.Warn("udp service listens on a wildcard address: replies may come from another address than the VIP; listen on the VIP itself")
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	limit := s.cfg.MaxConn
	if limit <= 0 {
		limit = defaultUDPSessions
	}
	var wg sync.WaitGroup
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := ln.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) || s.handedOff() {
				break
			}
			s.log.Debug("udp read failed", "err", err)
			continue
		}
		u := s.udpSession(ctx, ln, from, limit, &wg)
		if u == nil {
			s.drop()
			continue
		}
		u.last.Store(time.Now().UnixNano())
		// Counted before the send, so a reader that saw the answer also
		// sees the bytes; taken back when the send fails.
		u.in.Add(int64(n))
		if _, err := u.conn.Write(buf[:n]); err != nil {
			// Typically ECONNREFUSED reported for an earlier datagram;
			// the health check, not one datagram, decides about the backend.
			u.in.Add(-int64(n))
			s.drop()
		}
	}
	if s.releaseSocket(stop) {
		s.setListening(nil, "handed off")
	} else {
		s.setListening(nil, "stopped")
	}
	// Replies leave through the listener, which is closed or belongs to
	// the next Service now, so there is nothing to drain: end every session.
	s.mu.Lock()
	s.stopping = true
	var all []*udpSession
	for k, u := range s.sessions {
		all = append(all, u)
		delete(s.sessions, k)
	}
	s.mu.Unlock()
	for _, u := range all {
		u.close()
	}
	wg.Wait()
	return nil
}

func (s *Service) drop() {
	s.mu.Lock()
	s.st.dropped++
	s.mu.Unlock()
}

// udpSession returns the client's session, opening one when it has none.
// It returns nil when the datagram must be dropped: session limit reached,
// no backend, or the service is stopping.
func (s *Service) udpSession(ctx context.Context, ln *net.UDPConn, from netip.AddrPort, limit int, wg *sync.WaitGroup) *udpSession {
	s.mu.Lock()
	if u := s.sessions[from]; u != nil {
		s.mu.Unlock()
		return u
	}
	if s.stopping {
		s.mu.Unlock()
		return nil
	}
	if len(s.sessions) >= limit {
		s.st.sessionLimit++
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()

	var key []byte
	if s.hashSource {
		key = from.Addr().Unmap().AsSlice()
	}
	// Datagrams cannot wait in a queue: a full pool drops them (counted).
	b, c, err := s.connect(ctx, "udp", key, false, nil)
	if err != nil {
		s.log.Debug("udp: no backend for client", "client", from.String(), "err", err)
		return nil
	}
	u := &udpSession{s: s, b: b, client: from, conn: c.(*net.UDPConn)}
	u.last.Store(time.Now().UnixNano())
	s.mu.Lock()
	if s.stopping || !b.up {
		s.mu.Unlock()
		u.conn.Close()
		s.release(b)
		return nil
	}
	s.sessions[from] = u
	s.st.active++
	s.st.total++
	b.total++
	s.mu.Unlock()
	s.log.Debug("udp session opened", "client", from.String(), "backend", b.cfg.Address)
	wg.Go(func() { u.run(ln) })
	return u
}

// run relays the backend's replies to the client until the session has
// been idle for the session timeout or is closed.
func (u *udpSession) run(ln *net.UDPConn) {
	defer u.finish()
	timeout := u.s.cfg.Timeouts.UDPSession.D()
	if timeout <= 0 {
		timeout = defaultUDPSession
	}
	rc, err := u.conn.SyscallConn()
	if err != nil {
		return
	}
	pool := &u.s.dgrams
	var rerr error
	// relay runs when the backend socket may be readable. It takes a
	// buffer only then, so idle sessions hold none.
	relay := func(fd uintptr) bool {
		buf := pool.Get().(*[]byte)
		defer pool.Put(buf)
		var n int
		for {
			n, rerr = syscall.Read(int(fd), *buf)
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			return false
		}
		if rerr == nil && n >= 0 {
			u.out.Add(int64(n))
			if _, err := ln.WriteToUDPAddrPort((*buf)[:n], u.client); err != nil {
				u.out.Add(-int64(n))
			}
			u.last.Store(time.Now().UnixNano())
		}
		return true
	}
	for {
		deadline := time.Unix(0, u.last.Load()).Add(timeout)
		if !time.Now().Before(deadline) {
			u.s.log.Debug("udp session expired", "client", u.client.String(), "backend", u.b.cfg.Address)
			return
		}
		u.conn.SetReadDeadline(deadline)
		if err := rc.Read(relay); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue // the loop decides whether the session really idled
			}
			return // closed
		}
		if rerr != nil && rerr != syscall.ECONNREFUSED {
			u.s.log.Debug("udp backend read failed", "backend", u.b.cfg.Address, "err", rerr)
			return
		}
	}
}

// close ends the session; run notices and cleans up.
func (u *udpSession) close() { u.conn.Close() }

// finish removes the session and frees its backend slot.
func (u *udpSession) finish() {
	u.conn.Close()
	in, out := uint64(u.in.Load()), uint64(u.out.Load())
	s := u.s
	s.mu.Lock()
	if s.sessions[u.client] == u {
		delete(s.sessions, u.client)
	}
	s.st.active--
	s.st.bytesIn += in
	s.st.bytesOut += out
	u.b.st.bytesIn += in
	u.b.st.bytesOut += out
	u.b.active--
	s.dispatchLocked()
	s.mu.Unlock()
}
