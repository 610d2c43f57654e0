package proxy

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// How a TCP connection's bytes move. Measured on this project's machines
// (docs/reference.md, and BenchmarkTCPProxyEcho / BenchmarkTCPProxyBulk here):
// for small request/response messages splice(2) costs more than it saves,
// because every message pays two splice calls through a pipe; plain
// read/write wins there. For bulk transfers splice
// wins, since the bytes never enter user space.
//
// So each direction starts with read/write and switches to splice during
// bursts: after spliceAfter bytes of consecutive reads that filled the
// whole buffer (data arriving faster than it is forwarded). It switches
// back when the direction has been quiet for spliceQuiet. Counting bursts rather than total bytes matters: a
// keep-alive connection that has moved megabytes in small messages over
// an hour is still small-message traffic and keeps the faster path.
//
// The bytes move on the Relay's event loops (relay.go), which read into one
// buffer per loop and take a pooled buffer only for bytes a socket could
// not take yet, so an idle connection holds no buffer at all: ten thousand
// idle keep-alive connections cost their sockets, not 320 MB of buffers.
const (
	// copyBufSize is the buffer of the HTTP/2 response body copies, which
	// run outside the relay: big enough that one read takes what a typical
	// response brings, small enough to pool.
	copyBufSize = 16 << 10
	// defaultSpliceChunk bounds one splice call, so byte counters see
	// progress at least every chunk (see BenchmarkTCPProxyBulk for the
	// cost of smaller chunks).
	defaultSpliceChunk = 256 << 10
	// spliceQuiet is how long a splice call waits for data before the
	// direction goes back to read/write: a burst moving less than a chunk
	// in this long is no burst.
	spliceQuiet = 100 * time.Millisecond
	// minWatchTick is the finest the idle timeouts are checked.
	minWatchTick = 5 * time.Millisecond
)

// flow counts the bytes of one direction. read is what came from the
// source, written what reached the destination; they differ only while a
// write is in progress. The relay loop is the only writer; Stats reads.
type flow struct {
	read, written atomic.Int64
}

// tunnel is an established client <-> backend connection.
type tunnel struct {
	s        *Service
	b        *backend
	relay    *Relay
	c2s, s2c flow

	clientIdle, serverIdle time.Duration
	tick                   time.Duration // how often the loop checks the timeouts
	spliceAfter            int64
	spliceChunk            int64

	// client and server are the sockets as the relay loop sees them; only
	// the loop touches them once start has handed them over.
	client, server relayEnd

	mu      sync.Mutex
	loop    *eventLoop // set when the relay has the sockets
	aborted string     // abort before the relay had them

	done     chan struct{}
	reason   string // why it ended; read after done is closed
	timedOut bool   // ended by an idle timeout; read after done is closed
	conns    [2]*net.TCPConn
}

func (s *Service) newTunnel(client, server *net.TCPConn, b *backend) *tunnel {
	t := &tunnel{
		s: s, b: b, relay: s.relay,
		clientIdle:  s.cfg.Timeouts.Client.D(),
		serverIdle:  s.cfg.Timeouts.Server.D(),
		spliceAfter: s.spliceAfter,
		spliceChunk: s.spliceChunk,
		done:        make(chan struct{}),
		conns:       [2]*net.TCPConn{client, server},
	}
	t.tick = watchTick(t.clientIdle, t.serverIdle)
	return t
}

// watchTick is how often the idle timeouts are checked: an eighth of the
// shortest timeout, so a connection is closed at most 12.5% late, and the
// loop wakes once every few seconds for them at default timeouts.
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

// run relays both directions on the relay until both have ended or the
// tunnel is aborted; both sockets are closed when it returns.
func (t *tunnel) run() {
	t.relay.start(t, t.conns[0], t.conns[1])
	t.conns = [2]*net.TCPConn{}
	<-t.done
}

// end records why the tunnel ended and wakes run; the relay calls it once.
func (t *tunnel) end(reason string, timedOut bool) {
	t.reason, t.timedOut = reason, timedOut
	close(t.done)
}

// abort ends the tunnel from any goroutine (drain, shutdown_sessions).
func (t *tunnel) abort(reason string) {
	t.mu.Lock()
	l := t.loop
	if l == nil {
		if t.aborted == "" {
			t.aborted = reason
		}
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	l.post(relayCmd{abort: t, reason: reason})
}

// why is the reason the tunnel ended (after run returned).
func (t *tunnel) why() string {
	return t.reason
}
