package proxy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Relay moves the bytes of established TCP tunnels on a few event loops,
// each an epoll instance on its own OS thread, instead of two goroutines
// per connection on Go's netpoller.
//
// Why: with the netpoller, every message costs a read that returns EAGAIN,
// a park, a wake-up through the scheduler (often a futex call to start a
// thread) and the read again, and the wake-ups cross cores. For the
// request/response traffic a load balancer mostly carries, that doubled the
// syscalls per message and kept vigil well below HAProxy's throughput with
// every other cost removed (bench/RESULTS.md). An event loop reads only
// what epoll reported ready and writes it straight to the other socket from
// the same thread: one read and one write per message, and one epoll_wait
// for all connections that became ready together, which is how HAProxy
// works too.
//
// Go code keeps the control phase (accept, PROXY headers, balancing,
// connect, retries, queueing); a connection enters the relay only once both
// sockets are established, and Tunnel users wait on a channel that is
// closed when it ends. Level-triggered epoll keeps the loop simple: a
// socket stays registered for reading except while the bytes it sent wait
// to be written to the other side (backpressure), and then the other side
// is registered for writing.
//
// Bulk transfers switch to splice(2) through a pipe per direction, as
// copy.go explains, and switch back after a quiet spell.
//
// A relay's loops wait either through Go's netpoller (NewRelay: any number
// of relays in a process) or in epoll_wait on their own threads, as
// HAProxy's do (NewDedicatedRelay: faster, one per process, which the
// daemon shares between its services).
type Relay struct {
	loops []*eventLoop
	next  atomic.Uint32
	wg    sync.WaitGroup
	once  sync.Once

	// spare is a descriptor kept open to be given up when a socket
	// handed to the loops cannot be duplicated for want of descriptors
	// (a flood of idle clients takes every free one): the duplicate takes
	// its number and the original's is freed at once, so the spare is
	// opened again right after.
	spareMu sync.Mutex
	spare   int
}

// errRelayClosed refuses tunnels after Close.
var errRelayClosed = errors.New("relay closed")

// relayBufSize is the loop's read buffer: one read takes what a typical
// message brings, and bulk reads move a useful amount per syscall.
const relayBufSize = 64 << 10

// relayYields is how many times an idle loop yields to other goroutines,
// polling after each, before it parks. Under load events arrive while the
// others run, which spares a park and a wake-up through the netpoller:
// one yield raised throughput and cut the tail; more measured no better
// (bench/RESULTS.md).
const relayYields = 1

// maxReadsPerWake bounds the reads of one socket per readiness event, so a
// socket that always has data cannot starve the others on its loop.
const maxReadsPerWake = 4

// maxTLSReadsPerWake is maxReadsPerWake for a TLS client, whose reads
// give a record (16 KiB at most) each.
const maxTLSReadsPerWake = 16

// NewRelay starts loops event loops (at least one) that wait through Go's
// netpoller, so any number of relays can share the process. GOMAXPROCS is
// the natural count: more loops than cores only add context switches.
func NewRelay(loops int) (*Relay, error) {
	return newRelay(loops, false)
}

// NewDedicatedRelay starts loops event loops that each keep an OS thread
// and wait on it in epoll_wait (eventLoop.runDedicated). That is faster
// and has a shorter tail than NewRelay's loops (bench/RESULTS.md), but a
// loop under load holds a P of its own, so GOMAXPROCS
// must exceed loops by what the rest of the process needs: the daemon runs
// one such relay for all its services and raises GOMAXPROCS by loops.
func NewDedicatedRelay(loops int) (*Relay, error) {
	loops = max(loops, 1)
	if procs := runtime.GOMAXPROCS(0); procs <= loops {
		return nil, fmt.Errorf("relay: %d dedicated event loops need GOMAXPROCS above %d, it is %d", loops, loops, procs)
	}
	return newRelay(loops, true)
}

func newRelay(loops int, dedicated bool) (*Relay, error) {
	r := &Relay{spare: openSpare()}
	for range max(loops, 1) {
		l, err := newEventLoop()
		if err != nil {
			r.Close()
			return nil, err
		}
		l.id = len(r.loops)
		r.loops = append(r.loops, l)
		l.dedicated = dedicated
		r.wg.Go(l.run)
	}
	return r, nil
}

// Close ends every tunnel still running (reason "relay stopped") and stops
// the loops; tunnels started later are refused.
func (r *Relay) Close() {
	r.once.Do(func() {
		for _, l := range r.loops {
			l.post(relayCmd{stop: true})
		}
		r.wg.Wait()
		r.spareMu.Lock()
		closeFd(r.spare)
		r.spare = -1
		r.spareMu.Unlock()
	})
}

func openSpare() int {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// dup is dupConn that gives up the spare descriptor when the process has
// no other. The caller closes c right after (dup may have closed it
// already, to take the spare back).
func (r *Relay) dup(c *net.TCPConn) (int, error) {
	fd, err := dupConn(c)
	if err == nil || !(errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)) {
		return fd, err
	}
	r.spareMu.Lock()
	defer r.spareMu.Unlock()
	if r.spare < 0 {
		r.spare = openSpare()
		return -1, err
	}
	closeFd(r.spare)
	fd, err = dupConn(c)
	if err == nil {
		c.Close() // the callers close it anyway; now, for the spare
	}
	r.spare = openSpare() // -1 when someone else took the number; retried next time
	return fd, err
}

// start hands t's two established sockets to a loop. From here on the
// relay owns them: the *net.TCPConn values are closed (their file
// descriptors are duplicated first) and t.done is closed when the tunnel
// has ended, whatever happens.
func (r *Relay) start(t *tunnel, client, server *net.TCPConn) {
	cfd, cerr := dupConn(client)
	sfd, serr := dupConn(server)
	client.Close()
	server.Close()
	if err := errors.Join(cerr, serr); err != nil {
		closeFd(cfd)
		closeFd(sfd)
		t.end(fmt.Sprintf("relay: %v", err), false)
		return
	}
	l := r.loops[int(r.next.Add(1))%len(r.loops)]
	t.client.init(t, cfd, &t.c2s, &t.server)
	t.server.init(t, sfd, &t.s2c, &t.client)
	if !l.post(relayCmd{add: t}) {
		l.closeEnds(t)
		t.end("relay stopped", false)
		return
	}
	// t.loop is set only now, so an abort either finds it and queues
	// behind the add, or finds none and leaves its reason for here.
	t.mu.Lock()
	t.loop = l
	aborted := t.aborted
	t.mu.Unlock()
	if aborted != "" {
		l.post(relayCmd{abort: t, reason: aborted})
	}
}

// dupConn returns a duplicate of c's descriptor (non-blocking, like the
// original, since the flag lives in the shared file description).
func dupConn(c *net.TCPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("dup socket: %w", derr)
	}
	return fd, nil
}

func closeFd(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// relayCmd is a request to a loop from another goroutine.
type relayCmd struct {
	add    *tunnel
	abort  *tunnel
	reason string
	stop   bool

	// run is work another part of the proxy (the HTTP connections,
	// httploop.go) has the loop do on its own thread; undo, when the loop
	// stopped before it could run it, lets go of what run would have
	// taken over.
	run  func(l *eventLoop)
	undo func()
}

// loopUser is what another part of the proxy keeps on a loop beside its
// tunnels (the HTTP connections and idle backend connections,
// httploop.go), called at the points where the tunnels need the same.
type loopUser interface {
	// first sees each batch of events before the loop dispatches it,
	// and takes the ones it handles then (their Events zeroed).
	first(l *eventLoop, events []unix.EpollEvent)
	// sweep enforces its timeouts; busy says whether it needs sweeps.
	sweep(l *eventLoop)
	// again does the work epoll will not announce (reads crypto/tls
	// holds the bytes of) after each batch; true when some is left, so
	// the loop must not wait for events before calling it again.
	again(l *eventLoop) bool
	busy() bool
	// stop ends all it holds: the loop stops.
	stop(l *eventLoop)
}

// loopFD is a descriptor an event loop watches: one end of a tunnel, an
// HTTP client connection or a backend connection.
type loopFD interface {
	ready(l *eventLoop, events uint32)
}

func (e *relayEnd) ready(l *eventLoop, events uint32) { l.handle(e, events) }

// eventLoop is one epoll instance and the tunnels registered with it. Only
// its own goroutine touches ends, tunnels and the tunnels' ends.
type eventLoop struct {
	id           int // its index in its relay's loops
	epfd, wakefd int
	dedicated    bool        // runDedicated, not run
	parked       atomic.Bool // a dedicated loop has given its P back (waits as a blocking system call)

	mu      sync.Mutex
	cmds    []relayCmd
	stopped bool

	fds     []loopFD // by file descriptor
	tunnels map[*tunnel]struct{}
	buf     []byte
	bufs    sync.Pool // *[]byte of relayBufSize, for bytes a socket could not take yet
	start   time.Time
	now     int64 // nanoseconds since start, at the last wake-up

	sweepEvery int64 // finest idle-timeout tick of the tunnels on the loop; 0: none
	nextSweep  int64

	user loopUser // nil until another part keeps state on the loop
	more bool     // user has work left that no event will announce
}

func newEventLoop() (*eventLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("relay: epoll_create: %w", err)
	}
	// Non-blocking, so that os.NewFile registers it with the netpoller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("relay: epoll non-blocking: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("relay: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("relay: register eventfd: %w", err)
	}
	l := &eventLoop{
		epfd: epfd, wakefd: wakefd,
		tunnels: make(map[*tunnel]struct{}),
		buf:     make([]byte, relayBufSize),
		start:   time.Now(),
	}
	l.bufs.New = func() any { b := make([]byte, relayBufSize); return &b }
	return l, nil
}

// post queues a command and wakes the loop; false when the loop has stopped.
func (l *eventLoop) post(c relayCmd) bool {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return false
	}
	if c.stop {
		l.stopped = true
	}
	l.cmds = append(l.cmds, c)
	l.mu.Unlock()
	var one = [8]byte{1}
	unix.Write(l.wakefd, one[:])
	return true
}

// run is the loop of a relay from NewRelay. It waits for its epoll
// instance to have events the way any goroutine waits for a socket,
// through Go's netpoller (an epoll descriptor is itself pollable), then
// takes all ready events with a non-blocking epoll_wait. No thread is held
// in a blocking syscall, so it needs no P of its own; the price is a
// wake-up through the scheduler whenever the loop has parked.
func (l *eventLoop) run() {
	if l.dedicated {
		l.runDedicated()
		return
	}
	f := os.NewFile(uintptr(l.epfd), "relay-epoll")
	defer f.Close()
	defer unix.Close(l.wakefd)
	rc, err := f.SyscallConn()
	if err != nil {
		l.stopAll("relay: " + err.Error())
		l.drainCmds()
		return
	}
	events := make([]unix.EpollEvent, 256)
	var n int
	var werr error
	poll := func(uintptr) bool {
		n, werr = epollWait(l.epfd, events, 0)
		return n > 0 || (werr != nil && werr != unix.EINTR)
	}
	for {
		if !poll(0) && werr == nil && !l.more {
			for range relayYields {
				runtime.Gosched()
				if poll(0) || werr != nil {
					break
				}
			}
		}
		if n == 0 && werr == nil && !l.more {
			if l.sweepEvery > 0 {
				f.SetReadDeadline(l.start.Add(time.Duration(l.nextSweep)))
			} else {
				f.SetReadDeadline(time.Time{})
			}
			if err := rc.Read(poll); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				werr = err
			}
		}
		l.now = int64(time.Since(l.start))
		if l.failed(werr) || l.dispatch(events[:n]) {
			return
		}
		n = 0
	}
}

// failed ends every tunnel when epoll_wait fails for a reason other than
// a signal. Only a programming error gets here (EBADF, EFAULT, EINVAL):
// stopping beats spinning.
func (l *eventLoop) failed(err error) bool {
	if err == nil || err == unix.EINTR {
		return false
	}
	l.stopAll("relay: epoll_wait: " + err.Error())
	l.drainCmds()
	return true
}

// runDedicated is the loop of a dedicated relay (NewDedicatedRelay): it
// blocks in epoll_wait itself, as HAProxy's threads do, so the kernel
// wakes the loop's thread when a socket is ready, with no Go scheduler in
// between. While traffic flows ("hot") it waits with a raw system call
// that keeps its P: a wait that tells the scheduler (entersyscall) lets
// sysmon hand the P away, and taking one back on a wake-up is the hand-off
// this loop exists to avoid. After hotWaitMillis without an event it waits
// as an ordinary blocking system call, which gives the P back to the rest
// of the process until traffic returns, so an idle relay holds no P and
// wakes nobody. Its epoll descriptor stays out of Go's netpoller: there,
// every burst of events would also wake an idle runtime thread for
// nothing, at a measurable cost in requests per second.
//
// A raw wait does not stop the runtime: a stop-the-world or a stack scan
// signals the thread, epoll_wait returns EINTR, and the loop reaches a
// safe point at its next call. sysmon preempts a loop that has run 10 ms
// the same way, and the loop is soon running again, often on another
// thread (a runtime trace's figures are in bench/RESULTS.md). The
// goroutine is not locked to its thread and never yields by itself:
// measured side by side, a locked loop pays two thread hand-offs per
// preemption, and a periodic runtime.Gosched wakes a spinning thread each
// time; both had longer tails. Yielding to the P's own run queue (the
// runtime's goyield, reachable only through linkname) ended the
// preemptions and the moves but changed neither req/s nor p99, so the
// loop does without it.
func (l *eventLoop) runDedicated() {
	defer unix.Close(l.epfd)
	defer unix.Close(l.wakefd)
	events := make([]unix.EpollEvent, 256)
	hot := true
	for {
		wait := -1 // milliseconds, as epoll_wait takes them
		if l.sweepEvery > 0 {
			untilSweep := time.Duration(l.nextSweep - int64(time.Since(l.start)))
			wait = max(0, int((untilSweep+time.Millisecond-1)/time.Millisecond))
		}
		if l.more {
			wait = 0
		}
		var n int
		var err error
		if hot || l.more {
			full := wait < 0 || wait >= hotWaitMillis
			if full {
				wait = hotWaitMillis
			}
			n, err = epollWait(l.epfd, events, wait)
			hot = n > 0 || err != nil || !full
		} else {
			l.parked.Store(true)
			n, err = epollWaitBlocking(l.epfd, events, wait)
			hot = n > 0 || err != nil // not a sweep's timeout
			l.parked.Store(!hot)
		}
		l.now = int64(time.Since(l.start))
		if l.failed(err) || l.dispatch(events[:n]) {
			return
		}
	}
}

// hotWaitMillis is how long a dedicated loop waits for an event keeping
// its P before it gives the P back: long against the gaps between
// messages under load, short against what the rest of the process could
// do with the P.
const hotWaitMillis = 10

// epollWaitBlocking waits up to timeout milliseconds (-1: no limit) as a
// blocking system call, which lets the scheduler run other goroutines on
// the caller's P meanwhile.
func epollWaitBlocking(epfd int, events []unix.EpollEvent, timeout int) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(timeout), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// dispatch handles one batch of ready events, then the queued commands and
// a due sweep; true when the loop must stop.
func (l *eventLoop) dispatch(events []unix.EpollEvent) bool {
	if l.user != nil {
		l.user.first(l, events)
	}
	woken := false
	for i := range events {
		ev := &events[i]
		fd := int(ev.Fd)
		if fd == l.wakefd {
			woken = true
			continue
		}
		if ev.Events != 0 && fd < len(l.fds) && l.fds[fd] != nil {
			l.fds[fd].ready(l, ev.Events)
		}
	}
	// Commands run after the batch: a tunnel added now may reuse a
	// descriptor number that a stale event in this batch still names.
	if woken && l.runCmds() {
		return true
	}
	if l.sweepEvery > 0 && l.now >= l.nextSweep {
		l.sweep()
	}
	l.more = l.user != nil && l.user.again(l)
	return false
}

// epollWait takes the ready events, waiting up to timeout milliseconds.
// It is a raw system call that keeps the goroutine's P: with timeout 0 it
// cannot block, and a dedicated loop blocks in it on purpose (runDedicated).
// Both waits are epoll_pwait with no signal mask, which is epoll_wait:
// arm64 has no epoll_wait system call, only epoll_pwait.
func epollWait(epfd int, events []unix.EpollEvent, timeout int) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(timeout), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// runCmds runs the queued commands; true when the loop must stop.
func (l *eventLoop) runCmds() bool {
	var drain [8]byte
	unix.Read(l.wakefd, drain[:])
	l.mu.Lock()
	cmds := l.cmds
	l.cmds = nil
	l.mu.Unlock()
	for _, c := range cmds {
		switch {
		case c.stop:
			l.stopAll("relay stopped")
			l.drainCmds()
			return true
		case c.add != nil:
			l.add(c.add)
		case c.abort != nil:
			if _, ok := l.tunnels[c.abort]; ok {
				l.finish(c.abort, c.reason, false)
			}
		case c.run != nil:
			c.run(l)
		}
	}
	return false
}

// drainCmds ends tunnels whose add was queued behind a stop.
func (l *eventLoop) drainCmds() {
	l.mu.Lock()
	cmds := l.cmds
	l.cmds = nil
	l.mu.Unlock()
	for _, c := range cmds {
		if c.add != nil {
			l.closeEnds(c.add)
			c.add.end("relay stopped", false)
		}
		if c.undo != nil {
			c.undo()
		}
	}
}

func (l *eventLoop) stopAll(reason string) {
	for t := range l.tunnels {
		l.finish(t, reason, false)
	}
	if l.user != nil {
		l.user.stop(l)
	}
}

// register puts fd in the epoll set with events, for f.
func (l *eventLoop) register(fd int, events uint32, f loopFD) error {
	for fd >= len(l.fds) {
		l.fds = append(l.fds, make([]loopFD, len(l.fds)+64)...)
	}
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return err
	}
	l.fds[fd] = f
	return nil
}

// drop forgets fd and closes it.
func (l *eventLoop) drop(fd int) {
	l.forget(fd, false)
	unix.Close(fd)
}

// forget takes fd out of the loop's table before it is closed (closing
// takes it out of the epoll set) or handed on (del: EPOLL_CTL_DEL).
func (l *eventLoop) forget(fd int, del bool) {
	if fd >= 0 && fd < len(l.fds) {
		l.fds[fd] = nil
	}
	if del {
		unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
}

func (l *eventLoop) add(t *tunnel) {
	for _, e := range []*relayEnd{&t.client, &t.server} {
		e.active = l.now
		if err := l.register(e.fd, unix.EPOLLIN, e); err != nil {
			l.tunnels[t] = struct{}{}
			l.finish(t, fmt.Sprintf("relay: register socket: %v", err), false)
			return
		}
		e.events = unix.EPOLLIN
	}
	l.tunnels[t] = struct{}{}
	if t.spliceAfter == 0 {
		l.toSplice(&t.client)
		l.toSplice(&t.server)
	}
	l.sweepAtLeast(t.tick)
}

// sweepAtLeast makes the loop sweep at least every tick (0: no need).
func (l *eventLoop) sweepAtLeast(tick time.Duration) {
	if tick <= 0 {
		return
	}
	if n := int64(tick); l.sweepEvery == 0 || n < l.sweepEvery {
		l.sweepEvery = n
		l.nextSweep = l.now + n
	}
}

// handle acts on one readiness event of e.
func (l *eventLoop) handle(e *relayEnd, events uint32) {
	t := e.t
	if events&unix.EPOLLOUT != 0 && e.pending() > 0 {
		if !l.flush(e) {
			return
		}
	}
	if events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
		return
	}
	if e.events&unix.EPOLLIN != 0 {
		// The read reports what ended the connection, if anything did.
		l.readable(e)
		return
	}
	if events&(unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		if _, ok := l.tunnels[t]; ok {
			l.finish(t, e.side()+" side: "+socketError(e.fd), false)
		}
	}
}

// socketError names what a hung-up or failed socket reports.
func socketError(fd int) string {
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && v != 0 {
		return unix.Errno(v).Error()
	}
	return "connection closed"
}

// readable moves what e has sent to its peer.
func (l *eventLoop) readable(e *relayEnd) {
	if e.pipe[0] >= 0 {
		l.spliceIn(e)
		return
	}
	p := e.peer
	for range maxReadsPerWake {
		n, err := rawRead(e.fd, l.buf)
		switch {
		case err == unix.EAGAIN:
			return
		case err != nil:
			l.finish(e.t, e.side()+" side: read: "+err.Error(), false)
			return
		case n == 0:
			l.readEOF(e)
			return
		}
		e.active = l.now
		e.flow.read.Add(int64(n))
		w, err := writeFull(p.fd, l.buf[:n])
		if w > 0 {
			p.active = l.now
			e.flow.written.Add(int64(w))
		}
		if err != nil && err != unix.EAGAIN {
			l.finish(e.t, p.side()+" side: write: "+err.Error(), false)
			return
		}
		if w < n {
			b := l.bufs.Get().(*[]byte)
			p.out, p.outBuf = (*b)[:copy(*b, l.buf[w:n])], b
			l.wait(e, p)
			return
		}
		if n < len(l.buf) {
			e.burst = 0
			return
		}
		e.burst += int64(n)
		if after := e.t.spliceAfter; after >= 0 && e.burst >= after {
			l.toSplice(e)
			return
		}
	}
}

// writeFull writes b to fd until it is all written, the socket is full
// (EAGAIN) or an error; it returns how much was written.
func writeFull(fd int, b []byte) (int, error) {
	w := 0
	for w < len(b) {
		n, err := rawWrite(fd, b[w:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return w, err
		}
		w += n
	}
	return w, nil
}

// rawRead and rawWrite are read(2) and write(2) on a non-blocking
// socket as raw system calls: they return at once, so the scheduler need
// not hear about them (entersyscall/exitsyscall per message showed in
// profiles). rawRead retries a read a signal interrupted, as writeFull
// does for writes, so its callers see data, EOF, EAGAIN or a real error.
func rawRead(fd int, b []byte) (int, error) {
	for {
		r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		switch e {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		}
		return 0, e
	}
}

func rawWrite(fd int, b []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// wait stops reading src until dst has taken what is pending for it.
func (l *eventLoop) wait(src, dst *relayEnd) {
	l.setEvents(src, src.events&^unix.EPOLLIN)
	l.setEvents(dst, dst.events|unix.EPOLLOUT)
}

// flush writes what is pending for e; false when the tunnel ended.
func (l *eventLoop) flush(e *relayEnd) bool {
	src := e.peer
	if src.pipe[0] >= 0 {
		if !l.spliceOut(src) {
			return false
		}
	} else {
		w, err := writeFull(e.fd, e.out)
		if w > 0 {
			e.active = l.now
			src.flow.written.Add(int64(w))
			e.out = e.out[w:]
		}
		if err != nil && err != unix.EAGAIN {
			l.finish(e.t, e.side()+" side: write: "+err.Error(), false)
			return false
		}
		if len(e.out) > 0 {
			return true
		}
		l.bufs.Put(e.outBuf)
		e.out, e.outBuf = nil, nil
	}
	if e.pending() > 0 {
		return true
	}
	l.setEvents(e, e.events&^unix.EPOLLOUT)
	if src.eof {
		return l.shutWrite(e)
	}
	l.setEvents(src, src.events|unix.EPOLLIN)
	return true
}

// readEOF: e half-closed its side. The FIN is passed on once the peer has
// taken every byte before it.
func (l *eventLoop) readEOF(e *relayEnd) {
	e.eof = true
	l.setEvents(e, e.events&^unix.EPOLLIN)
	if e.peer.pending() == 0 {
		l.shutWrite(e.peer)
	}
}

// shutWrite passes a FIN on to e; the tunnel ends when both directions
// have. False when the tunnel ended.
func (l *eventLoop) shutWrite(e *relayEnd) bool {
	l.closePipe(e.peer)
	if err := unix.Shutdown(e.fd, unix.SHUT_WR); err != nil {
		l.finish(e.t, e.side()+" side: half-close: "+err.Error(), false)
		return false
	}
	e.shut = true
	if e.peer.shut {
		l.finish(e.t, "closed by peers", false)
		return false
	}
	return true
}

// toSplice moves e's direction to splice(2) through a pipe.
func (l *eventLoop) toSplice(e *relayEnd) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return // stay on read/write; nothing is lost
	}
	// A pipe as big as a chunk lets one splice call move a whole chunk;
	// where the limit is lower the default 64 KiB serves.
	unix.FcntlInt(uintptr(p[0]), unix.F_SETPIPE_SZ, int(e.t.spliceChunk))
	e.pipe = p
	e.inPipe = 0
	e.lastIn = l.now
}

// closePipe returns e's direction to read/write (its pipe must be empty).
func (l *eventLoop) closePipe(e *relayEnd) {
	if e.pipe[0] >= 0 {
		unix.Close(e.pipe[0])
		unix.Close(e.pipe[1])
		e.pipe = [2]int{-1, -1}
		e.inPipe = 0
	}
	e.burst = 0
}

// spliceIn moves what e has sent into its pipe and on to the peer. A
// direction that has been quiet for spliceQuiet goes back to read/write
// first: bulk transfers are over, small messages are cheaper copied.
func (l *eventLoop) spliceIn(e *relayEnd) {
	if e.t.spliceAfter != 0 && l.now-e.lastIn >= int64(spliceQuiet) && e.inPipe == 0 {
		l.closePipe(e)
		l.readable(e)
		return
	}
	for {
		n, err := unix.Splice(e.fd, nil, e.pipe[1], nil, int(e.t.spliceChunk), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			// The socket is empty (or the pipe full, which a non-empty
			// pipe below handles by waiting for the peer).
			if e.inPipe > 0 {
				l.spliceOut(e)
			}
			return
		case err != nil:
			l.finish(e.t, e.side()+" side: splice: "+err.Error(), false)
			return
		case n == 0:
			if e.inPipe > 0 && !l.spliceOut(e) {
				return
			}
			l.readEOF(e)
			return
		}
		e.active, e.lastIn = l.now, l.now
		e.flow.read.Add(n)
		e.inPipe += n
		if !l.spliceOut(e) || e.inPipe > 0 {
			return
		}
		if n < e.t.spliceChunk {
			return
		}
	}
}

// spliceOut moves e's pipe to the peer; when the peer is full it waits
// for it. False when the tunnel ended.
func (l *eventLoop) spliceOut(e *relayEnd) bool {
	p := e.peer
	for e.inPipe > 0 {
		n, err := unix.Splice(e.pipe[0], nil, p.fd, nil, int(e.inPipe), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			if e.events&unix.EPOLLIN != 0 {
				l.wait(e, p)
			}
			return true
		}
		if err != nil {
			l.finish(e.t, p.side()+" side: splice: "+err.Error(), false)
			return false
		}
		p.active = l.now
		e.flow.written.Add(n)
		e.inPipe -= n
	}
	return true
}

// setEvents changes e's registered interest.
func (l *eventLoop) setEvents(e *relayEnd, events uint32) {
	if err := l.setFdEvents(e.fd, &e.events, events); err != nil {
		l.finish(e.t, "relay: epoll_ctl: "+err.Error(), false)
	}
}

// setFdEvents changes the epoll interest of fd from *cur to events.
func (l *eventLoop) setFdEvents(fd int, cur *uint32, events uint32) error {
	if *cur == events {
		return nil
	}
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &ev); err != nil {
		return err
	}
	*cur = events
	return nil
}

// sweep closes tunnels idle past their timeouts. A side is active when
// bytes are read from it or written to it (HAProxy's timeout client and
// timeout server): a client that sends nothing while downloading is busy,
// and a client that stopped reading is idle even though the backend still
// has data for it.
func (l *eventLoop) sweep() {
	if l.user != nil {
		l.user.sweep(l)
	}
	if len(l.tunnels) == 0 && (l.user == nil || !l.user.busy()) {
		l.sweepEvery = 0
		return
	}
	for t := range l.tunnels {
		switch {
		case t.clientIdle > 0 && l.now-t.client.active >= int64(t.clientIdle):
			l.finish(t, "client timeout", true)
		case t.serverIdle > 0 && l.now-t.server.active >= int64(t.serverIdle):
			l.finish(t, "server timeout", true)
		}
	}
	l.nextSweep = l.now + l.sweepEvery
}

// finish ends t: both sockets closed, buffers returned, waiters woken.
func (l *eventLoop) finish(t *tunnel, reason string, timedOut bool) {
	if _, ok := l.tunnels[t]; !ok {
		return
	}
	delete(l.tunnels, t)
	for _, e := range []*relayEnd{&t.client, &t.server} {
		if e.fd >= 0 && e.fd < len(l.fds) && l.fds[e.fd] == loopFD(e) {
			l.fds[e.fd] = nil
		}
		if e.outBuf != nil {
			l.bufs.Put(e.outBuf)
			e.out, e.outBuf = nil, nil
		}
	}
	l.closeEnds(t)
	t.end(reason, timedOut)
}

// closeEnds closes t's sockets and pipes (closing a descriptor also takes
// it out of the epoll set, as the relay holds the only one).
func (l *eventLoop) closeEnds(t *tunnel) {
	for _, e := range []*relayEnd{&t.client, &t.server} {
		l.closePipe(e)
		closeFd(e.fd)
		e.fd = -1
	}
}

// relayEnd is one socket of a tunnel, as seen by its loop.
type relayEnd struct {
	t    *tunnel
	fd   int
	peer *relayEnd
	flow *flow // the direction that reads from this socket

	// out holds bytes read from the peer that this socket could not take
	// yet (read/write path); outBuf is its pooled buffer.
	out    []byte
	outBuf *[]byte

	// pipe is the splice pipe of the direction reading from this socket
	// ({-1,-1} on the read/write path), inPipe the bytes in it.
	pipe   [2]int
	inPipe int64
	burst  int64 // bytes in back-to-back full reads
	lastIn int64 // loop time of the last splice read

	eof    bool   // read EOF: the socket half-closed its side
	shut   bool   // the socket's write side was shut after the peer's EOF
	events uint32 // registered epoll interest
	active int64  // loop time of the last byte read from or written to it
}

func (e *relayEnd) init(t *tunnel, fd int, f *flow, peer *relayEnd) {
	*e = relayEnd{t: t, fd: fd, flow: f, peer: peer, pipe: [2]int{-1, -1}}
}

// pending is how many bytes wait to be written to e.
func (e *relayEnd) pending() int64 {
	return int64(len(e.out)) + e.peer.inPipe
}

func (e *relayEnd) side() string {
	if e == &e.t.client {
		return "client"
	}
	return "backend"
}
