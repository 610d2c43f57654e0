package proxy

import (
	"net"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// idlePool holds one backend's idle keep-alive connections, for every
// path that serves HTTP: one set of rules for how many are kept, how long,
// what makes one unfit for reuse, and when they all go. Its connections
// live in two places, for speed only:
//
//   - each event loop keeps the ones it returned in a list only it
//     touches, still registered in its epoll set, so the next request on
//     that loop takes one without a system call or a lock; epoll reports
//     a backend that closes one or sends something unasked, and the loop
//     drops it (eventLoop.dispatch looks at idle connections first, so a
//     request never takes one whose event is in the same batch);
//   - the shared list, under a lock, holds the goroutine path's
//     connections and, for a backend with max_conn, every idle one (a
//     connection idle on one loop must not make another open one more
//     than max_conn allows). Nothing watches these, so each is checked
//     for stray bytes or EOF before it is reused.
//
// A loop that finds no connection of its own takes a shared one, or asks
// the other loops for one of theirs (stealIdle) before it dials.
type idlePool struct {
	mu     sync.Mutex
	shared []pooledConn // oldest first
	// loops are the lists of the loops, by eventLoop.id, made when the
	// service starts on a relay (prepareLoops); each is touched by its
	// loop only. Oldest first.
	loops [][]*hback
}

// pooledConn is an idle connection on the shared list: a goroutine
// path's connection, or a bare descriptor a loop gave up.
type pooledConn struct {
	bc    *bconn // nil for a descriptor
	fd    int
	since time.Time
}

func (pc pooledConn) close() {
	if pc.bc != nil {
		pc.bc.tc.c.Close()
		return
	}
	closeFd(pc.fd)
}

// idleUsable reports whether an idle connection can carry a request: the
// backend has neither closed it nor sent anything on it since its last
// response (a late or stray response would reach the next client). A
// non-blocking peek as a raw system call: the caller owns the connection,
// so its descriptor cannot be closed meanwhile, and the scheduler need
// not hear of a call that returns at once.
func idleUsable(fd int) bool {
	var b [1]byte
	_, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), 1, unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	return e == unix.EAGAIN
}

// popUsable takes the newest connection of the shared list that has not
// expired and that the backend has neither closed nor written to since;
// ok is false when there is none. The others are closed on the way.
func (p *idlePool) popUsable(now time.Time) (pc pooledConn, ok bool) {
	for {
		p.mu.Lock()
		n := len(p.shared)
		if n == 0 {
			p.mu.Unlock()
			return pooledConn{}, false
		}
		pc = p.shared[n-1]
		p.shared[n-1] = pooledConn{}
		p.shared = p.shared[:n-1]
		p.mu.Unlock()
		if now.Sub(pc.since) >= idleExpiry {
			pc.close()
			p.expire(now) // the rest is older still
			return pooledConn{}, false
		}
		fd := pc.fd
		if pc.bc != nil {
			fd = pc.bc.fd
		}
		if fd >= 0 && idleUsable(fd) {
			return pc, true
		}
		pc.close()
	}
}

// takeShared takes the newest usable connection of the shared list for
// the goroutine path, or nil.
func (p *idlePool) takeShared(s *Service, b *backend, now time.Time) *bconn {
	for {
		pc, ok := p.popUsable(now)
		if !ok {
			return nil
		}
		if pc.bc != nil {
			pc.bc.reused = true
			return pc.bc
		}
		if bc := s.fdConn(b, pc.fd); bc != nil {
			return bc
		}
	}
}

// takeSharedFd takes the newest usable connection of the shared list as
// a bare descriptor, for an event loop; -1 when there is none. r dups a
// goroutine path's connection out of Go's poller.
func (p *idlePool) takeSharedFd(r *Relay, now time.Time) int {
	for {
		pc, ok := p.popUsable(now)
		if !ok {
			return -1
		}
		if pc.bc == nil {
			return pc.fd
		}
		tc, ok := pc.bc.tc.c.(*net.TCPConn)
		if !ok {
			pc.close()
			continue
		}
		fd, err := r.dup(tc)
		tc.Close()
		if err == nil {
			return fd
		}
	}
}

// putShared keeps a goroutine path's connection, or a loop's descriptor
// (bc nil), on the shared list.
func (p *idlePool) putShared(bc *bconn, fd int, now time.Time) {
	if bc != nil {
		bc.idleSince = now
	}
	p.mu.Lock()
	var evict pooledConn
	full := len(p.shared) >= maxIdlePerBackend
	if full {
		evict = p.shared[0]
		copy(p.shared, p.shared[1:])
		p.shared = p.shared[:len(p.shared)-1]
	}
	p.shared = append(p.shared, pooledConn{bc: bc, fd: fd, since: now})
	p.mu.Unlock()
	if full {
		evict.close()
	}
}

// expire closes the shared connections idle for idleExpiry or longer.
func (p *idlePool) expire(now time.Time) {
	p.mu.Lock()
	k := 0
	for k < len(p.shared) && now.Sub(p.shared[k].since) >= idleExpiry {
		k++
	}
	old := make([]pooledConn, k)
	copy(old, p.shared[:k])
	n := copy(p.shared, p.shared[k:])
	clear(p.shared[n:])
	p.shared = p.shared[:n]
	p.mu.Unlock()
	for _, pc := range old {
		pc.close()
	}
}

// closeShared closes every connection of the shared list (the backend
// went down, or the service stopped); the loops drop theirs on a command.
func (p *idlePool) closeShared() {
	p.mu.Lock()
	old := p.shared
	p.shared = nil
	p.mu.Unlock()
	for _, pc := range old {
		pc.close()
	}
}

// loopList is the list of loop l; only l calls it.
func (p *idlePool) loopList(l *eventLoop) *[]*hback { return &p.loops[l.id] }

// fdConn makes a goroutine path connection of an idle descriptor, which
// it takes over; nil when it cannot.
func (s *Service) fdConn(b *backend, fd int) *bconn {
	f := os.NewFile(uintptr(fd), "backend")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil
	}
	return s.newBconn(b, tc, true)
}
