package proxy

import (
	"cmp"
	"crypto/tls"
	"log/slog"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"vigil/throttle"
)

// limitLogEvery is how often a limit that keeps being hit is logged again:
// a flood must not turn into a log line per connection.
const limitLogEvery = time.Minute

// limitLog logs a limit when it is first hit, then at most once per
// limitLogEvery with how many times it was hit in between.
type limitLog struct {
	mu    sync.Mutex
	every throttle.Every
}

// hit records the limit being hit and logs when it is time to.
func (l *limitLog) hit(log *slog.Logger, msg string, args ...any) {
	l.mu.Lock()
	if l.every.Interval == 0 {
		l.every.Interval = limitLogEvery
	}
	count, due := l.every.Hit(time.Now())
	l.mu.Unlock()
	if !due {
		return
	}
	if missed := count - 1; missed > 0 {
		args = append(args, "times_since_last_logged", missed)
	}
	log.Warn(msg, args...)
}

// reclaimIdle closes up to n of the HTTP/1 client connections that wait
// for their next request (or their first), oldest first, and returns how
// many it closed. A client that is not sending anything is the cheapest to
// turn away when the service is at max_conn or the process is out of file
// descriptors, as nginx does with its keep-alive connections: a client
// that wants to be served is, and the idle one reconnects when it has
// something to ask. Connections in the middle of a request, slow or not,
// are left to http_request and the client timeout.
func (s *Service) reclaimIdle(n int) int {
	if s.hs == nil || n <= 0 {
		return 0
	}
	// Both kinds of connection, goroutine and event loop, compete on age:
	// the oldest idle ones go first, whichever path serves them.
	type candidate struct {
		since int64
		hc    *httpConn
		lc    *hconn
	}
	now := time.Now().UnixNano()
	s.mu.Lock()
	var oldest []candidate
	for hc := range s.hs.conns {
		if hc.idleSince.Load() == 0 || !hc.idle.Load() || (!hc.served.Load() && now-hc.idleSince.Load() < int64(freshGrace)) || hasPendingBytes(hc.tc.c) {
			continue
		}
		oldest = append(oldest, candidate{since: hc.idleSince.Load(), hc: hc})
	}
	for c := range s.hs.lconns {
		if !c.idle.Load() || (!c.served.Load() && now-c.idleSince.Load() < int64(freshGrace)) || fdHasPendingBytes(c.fd) {
			continue
		}
		oldest = append(oldest, candidate{since: c.idleSince.Load(), lc: c})
	}
	s.mu.Unlock()
	if len(oldest) > n {
		// Partial selection would do; a sort is simple and this runs only
		// at the limit.
		slices.SortFunc(oldest, func(a, b candidate) int { return cmp.Compare(a.since, b.since) })
		oldest = oldest[:n]
	}
	closed := 0
	for _, c := range oldest {
		// Claim it: the connection's goroutine (or loop) clears idle when
		// a request starts, and a request under way is never cut.
		switch {
		case c.hc != nil && c.hc.idle.CompareAndSwap(true, false):
			c.hc.abort()
			closed++
		case c.lc != nil && c.lc.idle.CompareAndSwap(true, false) && c.lc.l.post(abortConn(c.lc)):
			closed++
		}
	}
	return closed
}

// freshGrace spares a connection just accepted for a moment: its
// client's first request may still be on the way (nothing to read yet),
// or already read but not yet claimed by its loop or goroutine (taken from
// the socket, so hasPendingBytes cannot see it), and it must not be taken
// for an idle one.
const freshGrace = 100 * time.Millisecond

// fdHasPendingBytes is hasPendingBytes for a descriptor an event loop
// holds. The loop may close it meanwhile, but only after clearing the
// idle flag, so the claim that follows fails whatever this answered.
func fdHasPendingBytes(fd int) bool {
	n, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	return err != nil || n > 0
}

// hasPendingBytes reports whether the client has sent bytes the connection
// has not read yet: a request that arrived while its goroutine is still to
// be scheduled, on a connection that only looks idle. Unknown counts as
// pending, so a connection is never reclaimed on a guess.
func hasPendingBytes(c net.Conn) bool {
	switch w := c.(type) {
	case *tls.Conn:
		c = w.NetConn()
	case *prefixConn:
		c = w.Conn
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	pending := true
	rc.Control(func(fd uintptr) { pending = fdHasPendingBytes(int(fd)) })
	return pending
}
