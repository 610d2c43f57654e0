package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// How a TCP connection's bytes move. Measured on this project's machines
// (REFERENCE.md, and BenchmarkTCPProxyEcho / BenchmarkTCPProxyBulk here):
// for small request/response messages splice(2) costs more than it saves,
// because every message pays two splice calls through a pipe; plain
// read/write with a 16 KiB buffer wins there. For bulk transfers splice
// wins, since the bytes never enter user space.
//
// So each direction starts with read/write and switches to splice during
// bursts: after spliceAfter bytes of consecutive reads that filled the
// whole buffer (data arriving faster than it is forwarded). It switches
// back when a splice call sees a quiet spell (spliceQuiet without
// filling its chunk). Counting bursts rather than total bytes matters: a
// keep-alive connection that has moved megabytes in small messages over
// an hour is still small-message traffic and keeps the faster path.
//
// The read/write path waits for readability through RawConn and takes a
// buffer from a pool only once data is there, so an idle connection holds
// no buffer at all: ten thousand idle keep-alive connections cost their
// goroutines and sockets, not 320 MB of buffers.
const (
	// copyBufSize is the read/write buffer: big enough that one read takes
	// what a typical request or response brings, small enough to pool.
	copyBufSize = 16 << 10
	// defaultSpliceChunk bounds one splice call, so byte counters see
	// progress at least every chunk (see BenchmarkTCPProxyBulk for the
	// cost of smaller chunks).
	defaultSpliceChunk = 256 << 10
	// spliceQuiet is how long a splice call waits for data before the
	// direction goes back to read/write: a burst moving less than a chunk
	// in this long is no burst.
	spliceQuiet = 100 * time.Millisecond
	// minWatchTick is the finest the idle watchdog looks.
	minWatchTick = 5 * time.Millisecond
)

// errSplice ends the read/write phase of a direction in a burst;
// errReadWrite ends the splice phase when the burst is over.
var (
	errSplice    = errors.New("switch to splice")
	errReadWrite = errors.New("switch to read/write")
)

// flow counts the bytes of one direction. read is what came from the
// source, written what reached the destination; they differ only while a
// write is in progress. Each has one writer, so the atomics do not bounce
// between cores.
type flow struct {
	read, written atomic.Int64
	spliced       atomic.Bool // in the splice phase: the watchdog asks the kernel
}

// tunnel is an established client <-> backend connection.
type tunnel struct {
	s              *Service
	b              *backend
	client, server *net.TCPConn
	c2s, s2c       flow

	clientIdle, serverIdle time.Duration
	tick                   time.Duration

	// The watchdog runs on a timer; wdMu serialises its runs with start
	// and stop, so its state needs no other locking.
	wdMu             sync.Mutex
	wd               *time.Timer
	lastC, lastS     int64
	kernC, kernS     uint64 // TCP_INFO progress, sampled while splicing
	activeC, activeS time.Time

	once     sync.Once
	closed   atomic.Bool
	reason   atomic.Pointer[string]
	timedOut bool // set by the watchdog under wdMu; read after run returns
}

func (s *Service) newTunnel(client, server *net.TCPConn, b *backend) *tunnel {
	t := &tunnel{
		s: s, b: b, client: client, server: server,
		clientIdle: s.cfg.Timeouts.Client.D(),
		serverIdle: s.cfg.Timeouts.Server.D(),
	}
	t.tick = watchTick(t.clientIdle, t.serverIdle)
	return t
}

// watchTick is how often the watchdog looks: an eighth of the shortest
// timeout, so a connection is closed at most 12.5% late, and an idle
// connection costs one timer firing every few seconds at default timeouts.
func watchTick(timeouts ...time.Duration) time.Duration {
	var m time.Duration
	for _, d := range timeouts {
		if d > 0 && (m == 0 || d < m) {
			m = d
		}
	}
	if m == 0 {
		return 0
	}
	return max(m/8, minWatchTick)
}

// run relays both directions until both have ended or the tunnel is
// aborted, then closes both sockets.
func (t *tunnel) run() {
	t.startWatchdog()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.pipe(&t.s2c, t.server, t.client)
	}()
	t.pipe(&t.c2s, t.client, t.server)
	<-done
	t.stopWatchdog()
	t.abort("closed by peers")
}

// abort closes both sockets once, which ends both directions wherever they block.
func (t *tunnel) abort(reason string) {
	t.once.Do(func() {
		t.reason.Store(&reason)
		t.closed.Store(true)
		t.client.Close()
		t.server.Close()
	})
}

// why is the reason the tunnel ended.
func (t *tunnel) why() string {
	if r := t.reason.Load(); r != nil {
		return *r
	}
	return ""
}

// pipe copies src to dst. At EOF it half-closes dst, so a peer that shuts
// down its write side (protocols that send a request then FIN, and wait for
// the answer) is seen as such by the other peer. Any other end is an error
// on this connection and aborts both directions.
func (t *tunnel) pipe(f *flow, src, dst *net.TCPConn) {
	var err error
	for {
		if err = t.copyBuffered(f, src, dst); err != errSplice {
			break
		}
		f.spliced.Store(true)
		err = t.copySplice(f, src, dst)
		f.spliced.Store(false)
		if err != errReadWrite {
			break
		}
	}
	if err == nil {
		if cerr := dst.CloseWrite(); cerr == nil || t.closed.Load() {
			return
		}
	}
	if !t.closed.Load() {
		t.abort(describe(err, src == t.client))
	}
}

// describe names why a direction ended, for the debug log.
func describe(err error, fromClient bool) string {
	side := "backend"
	if fromClient {
		side = "client"
	}
	if err == nil {
		return side + " half-close failed"
	}
	return side + " side: " + err.Error()
}

// copyBuffered moves bytes with read/write through pooled buffers until
// EOF (nil), an error, or errSplice once a burst of spliceAfter bytes in
// full-buffer reads has passed.
func (t *tunnel) copyBuffered(f *flow, src, dst *net.TCPConn) error {
	rc, err := src.SyscallConn()
	if err != nil {
		return err
	}
	pool := &t.s.bufs
	var (
		buf  *[]byte
		n    int
		rerr error
	)
	// read runs when Go's poller says src may be readable; it takes a
	// buffer only then, and returns false to go back to waiting when the
	// socket had nothing after all.
	read := func(fd uintptr) bool {
		buf = pool.Get().(*[]byte)
		for {
			n, rerr = syscall.Read(int(fd), *buf)
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			pool.Put(buf)
			buf = nil
			return false
		}
		return true
	}
	after := t.s.spliceAfter
	burst := int64(0)
	for {
		if after >= 0 && burst >= after {
			return errSplice
		}
		if err := rc.Read(read); err != nil {
			return err // closed or past a deadline
		}
		if rerr != nil || n <= 0 {
			pool.Put(buf)
			if rerr != nil {
				return os.NewSyscallError("read", rerr)
			}
			return nil // EOF
		}
		f.read.Add(int64(n))
		if n == len(*buf) {
			burst += int64(n)
		} else {
			burst = 0
		}
		_, werr := dst.Write((*buf)[:n])
		pool.Put(buf)
		if werr != nil {
			return werr
		}
		f.written.Add(int64(n))
	}
}

// copySplice moves bytes with splice(2) (TCPConn.ReadFrom on a TCP source)
// until EOF (nil), an error, or errReadWrite when the burst is over. Each
// call splices at most spliceChunk bytes under a read deadline of
// spliceQuiet; a call that ends at the deadline moved less than a chunk in
// that time, so the direction goes back to read/write. Only the read side
// has a deadline: a write timing out could drop bytes already in the pipe.
func (t *tunnel) copySplice(f *flow, src, dst *net.TCPConn) error {
	defer src.SetReadDeadline(time.Time{})
	lr := io.LimitedReader{R: src}
	for {
		src.SetReadDeadline(time.Now().Add(spliceQuiet))
		lr.N = t.s.spliceChunk
		n, err := dst.ReadFrom(&lr)
		f.read.Add(n)
		f.written.Add(n)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !t.closed.Load() {
				return errReadWrite
			}
			return err
		}
		if lr.N > 0 {
			return nil // EOF before the chunk was full
		}
	}
}

// startWatchdog arms the idle timer when the service has timeouts.
func (t *tunnel) startWatchdog() {
	if t.tick == 0 {
		return
	}
	t.wdMu.Lock()
	defer t.wdMu.Unlock()
	now := time.Now()
	t.activeC, t.activeS = now, now
	t.wd = time.AfterFunc(t.tick, t.checkIdle)
}

func (t *tunnel) stopWatchdog() {
	t.wdMu.Lock()
	defer t.wdMu.Unlock()
	if t.wd != nil {
		t.wd.Stop()
		t.wd = nil
	}
}

// checkIdle closes the tunnel when one side has been inactive for its
// timeout. A side is active when bytes are read from it or written to it
// (HAProxy's timeout client and timeout server): a client that sends
// nothing while downloading a large file is busy, not idle, and a client
// that stopped reading is idle even though the backend still has data.
func (t *tunnel) checkIdle() {
	t.wdMu.Lock()
	defer t.wdMu.Unlock()
	if t.wd == nil || t.closed.Load() {
		return
	}
	now := time.Now()
	if c := t.c2s.read.Load() + t.s2c.written.Load(); c != t.lastC {
		t.lastC, t.activeC = c, now
	}
	if s := t.s2c.read.Load() + t.c2s.written.Load(); s != t.lastS {
		t.lastS, t.activeS = s, now
	}
	// A splice call reports its bytes only when it returns, and one
	// pumping a chunk to a slow reader can take longer than a timeout; the
	// kernel's own counters show that such a connection is moving.
	if t.c2s.spliced.Load() || t.s2c.spliced.Load() {
		if k := tcpProgress(t.client); k != t.kernC {
			t.kernC, t.activeC = k, now
		}
		if k := tcpProgress(t.server); k != t.kernS {
			t.kernS, t.activeS = k, now
		}
	}
	switch {
	case t.clientIdle > 0 && now.Sub(t.activeC) >= t.clientIdle:
		t.timedOut = true
		t.abort("client timeout")
		return
	case t.serverIdle > 0 && now.Sub(t.activeS) >= t.serverIdle:
		t.timedOut = true
		t.abort("server timeout")
		return
	}
	t.wd.Reset(t.tick)
}

// tcpProgress is the bytes the kernel has received on c plus those the peer
// has acknowledged (TCP_INFO), or 0 when unavailable.
func tcpProgress(c *net.TCPConn) uint64 {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var v uint64
	rc.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			v = info.Bytes_acked + info.Bytes_received
		}
	})
	return v
}
