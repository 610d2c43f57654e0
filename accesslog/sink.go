package accesslog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sinkConfig holds a Sink's limits; tests shrink them.
type sinkConfig struct {
	// maxPending bounds the bytes waiting for the writer: beyond it a
	// line is dropped rather than held, so a stuck target costs at most
	// this much memory.
	maxPending int
	// delay is how long the writer lets lines gather after the first one
	// arrives, so that a busy service costs one write per batch, not one
	// per request.
	delay time.Duration
	// every is the least time between two reports of dropped lines: a
	// target that stays stuck must not flood the daemon's own log.
	every time.Duration
	// closeWait bounds how long Close waits for the last batch: a stuck
	// disk must not hang a reload or a shutdown.
	closeWait time.Duration
}

// defaultConfig is a Sink's limits outside tests.
func defaultConfig() sinkConfig {
	return sinkConfig{
		maxPending: 1 << 20,
		delay:      10 * time.Millisecond,
		every:      time.Minute,
		closeWait:  5 * time.Second,
	}
}

// output is where a Sink's writer puts its batches. Its methods are
// called with Sink.outMu held, never concurrently.
type output interface {
	// write writes a batch of whole lines and returns how many bytes of
	// it went out before an error.
	write(batch []byte) (int, error)
	// reopen replaces the underlying file or socket.
	reopen() error
	// close releases it; the output is not used again.
	close() error
}

// Sink is one access log target with its own writer goroutine. Several
// Loggers (services, formats) may share one. Write never blocks: lines
// wait in a bounded buffer, and are dropped and counted when it is full.
type Sink struct {
	target string
	log    *slog.Logger
	cfg    sinkConfig

	mu      sync.Mutex // guards pending and closed
	pending []byte
	closed  bool

	wake chan struct{} // capacity 1: pending stopped being empty
	full chan struct{} // capacity 1: pending passed half of maxPending
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the writer has finished

	dropped atomic.Uint64
	written atomic.Uint64

	outMu     sync.Mutex // guards out and outClosed: writer against Reopen
	out       output
	outClosed bool

	// The writer's own.
	spare    []byte    // the buffer swapped in for pending
	told     uint64    // dropped as of the last report
	failed   uint64    // lines lost to write errors since the last report
	lastErr  error     // the last of those errors
	toldAt   time.Time // of the last report
	closeErr error     // from closing out; read by Close after done
}

// Open opens a target and starts its writer. target is "stdout",
// "stderr", an absolute file path (appended to, created with mode 0640),
// "syslog://HOST[:PORT]" (UDP, port 514 by default) or "syslog:///PATH"
// (a unix datagram socket such as /dev/log). facility names the syslog
// facility, kern..ftp or local0..local7; "" is local0. log receives the
// Sink's own troubles (dropped lines, write errors); nil means
// slog.Default().
func Open(target, facility string, log *slog.Logger) (*Sink, error) {
	if log == nil {
		log = slog.Default()
	}
	fac, err := parseFacility(facility)
	if err != nil {
		return nil, err
	}
	var out output
	switch {
	case target == "stdout":
		out = &streamOut{w: os.Stdout}
	case target == "stderr":
		out = &streamOut{w: os.Stderr}
	case strings.HasPrefix(target, "syslog://"):
		o, err := newSyslogOut(target, fac)
		if err != nil {
			return nil, err
		}
		out = o
	case filepath.IsAbs(target):
		f, err := openFile(target)
		if err != nil {
			return nil, fmt.Errorf("access log: %w", err)
		}
		out = &streamOut{w: f, f: f, path: target}
	default:
		return nil, fmt.Errorf("access log %q: want stdout, stderr, an absolute file path, syslog://HOST[:PORT] or syslog:///PATH", target)
	}
	return newSink(target, out, log, defaultConfig()), nil
}

func newSink(target string, out output, log *slog.Logger, cfg sinkConfig) *Sink {
	s := &Sink{
		target: target,
		log:    log,
		cfg:    cfg,
		out:    out,
		// Both buffers are made whole now, so that Write never grows
		// one (a copy of up to maxPending under the mutex, on a loop
		// thread). Twice maxPending per Sink is why services that log
		// to the same target should share its Sink.
		pending: make([]byte, 0, cfg.maxPending),
		spare:   make([]byte, 0, cfg.maxPending),
		wake:    make(chan struct{}, 1),
		full:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go s.run()
	return s
}

// Write queues one line for the writer and reports whether it was taken.
// It never blocks on the target: when the pending buffer is full, or the
// Sink is closed, the line is dropped and counted. A missing final '\n'
// is added. The line is copied; the caller may reuse it at once.
func (s *Sink) Write(line []byte) bool {
	n := len(line)
	if n == 0 || line[n-1] != '\n' {
		n++
	}
	s.mu.Lock()
	if s.closed || len(s.pending)+n > s.cfg.maxPending {
		s.mu.Unlock()
		s.dropped.Add(1)
		return false
	}
	before := len(s.pending)
	s.pending = append(s.pending, line...)
	if n > len(line) {
		s.pending = append(s.pending, '\n')
	}
	s.mu.Unlock()
	// Only the first line of a batch wakes the writer: the others find
	// it already on its way. A batch that fills half the buffer before
	// the delay is up cuts the delay short: waiting longer would only
	// turn a burst into drops.
	if before == 0 {
		signal(s.wake)
	}
	if half := s.cfg.maxPending / 2; before < half && before+n >= half {
		signal(s.full)
	}
	return true
}

// signal sends on a channel of capacity 1 unless a signal already waits.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Reopen replaces the target's file or socket: a file is closed and
// opened again at its path, which is what logrotate's postrotate
// (SIGUSR1) asks for after renaming it; a syslog socket is dialed again.
// stdout and stderr are left as they are. On error the old file or socket
// stays in use. A batch being written is finished first, so Reopen waits
// for a slow target; call it from a goroutine of its own, not a loop.
func (s *Sink) Reopen() error {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if s.outClosed {
		return fmt.Errorf("access log %s: closed", s.target)
	}
	if err := s.out.reopen(); err != nil {
		return fmt.Errorf("access log %s: reopen: %w", s.target, err)
	}
	return nil
}

// Dropped returns how many lines were lost: refused by a full pending
// buffer or a closed Sink, or lost to write errors.
func (s *Sink) Dropped() uint64 { return s.dropped.Load() }

// Written returns how many lines reached the target.
func (s *Sink) Written() uint64 { return s.written.Load() }

// Target returns the target as Open was given it.
func (s *Sink) Target() string { return s.target }

// Close writes the lines still pending, stops the writer and closes the
// file or socket (not stdout or stderr). Lines written after Close are
// dropped. If the target has not taken the last batch within a few
// seconds, Close gives up on it and says so.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	t := time.NewTimer(s.cfg.closeWait)
	defer t.Stop()
	select {
	case <-s.done:
		return s.closeErr
	case <-t.C:
		return fmt.Errorf("access log %s: still writing after %v: the lines not yet written are lost", s.target, s.cfg.closeWait)
	}
}

// run is the writer: it sleeps until lines arrive, lets them gather for
// cfg.delay (or until they fill half the buffer) and writes them as one
// batch.
func (s *Sink) run() {
	defer close(s.done)
	batch := time.NewTimer(time.Hour)
	batch.Stop()
	report := time.NewTimer(time.Hour)
	report.Stop()
	for {
		select {
		case <-s.wake:
			batch.Reset(s.cfg.delay)
			select {
			case <-batch.C:
			case <-s.full:
				batch.Stop()
			case <-s.stop:
				batch.Stop()
				s.finish()
				return
			}
			s.flush()
		case <-report.C:
		case <-s.stop:
			s.finish()
			return
		}
		// Drops not yet told are told when the interval is up, even if
		// no line comes to wake the writer by then.
		if wait := s.report(time.Now(), false); wait > 0 {
			report.Reset(wait)
		}
	}
}

// finish writes what is pending, tells the drops not yet told and
// closes the output.
func (s *Sink) finish() {
	s.flush()
	s.report(time.Now(), true)
	s.outMu.Lock()
	s.outClosed = true
	s.closeErr = s.out.close()
	s.outMu.Unlock()
}

var newline = []byte{'\n'}

// flush swaps the pending buffer for the spare one and writes it out.
func (s *Sink) flush() {
	s.mu.Lock()
	batch := s.pending
	s.pending = s.spare[:0]
	s.mu.Unlock()
	s.spare = batch[:0]
	if len(batch) == 0 {
		return
	}
	s.outMu.Lock()
	n, err := s.out.write(batch)
	s.outMu.Unlock()
	s.written.Add(uint64(bytes.Count(batch[:n], newline)))
	if err != nil {
		lost := uint64(bytes.Count(batch[n:], newline))
		s.dropped.Add(lost)
		s.failed += lost
		s.lastErr = err
	}
}

// report logs the lines dropped since the last report, at once the first
// time and then at most once per cfg.every (always when final). When
// drops are waiting for the interval to end, it returns how long is left.
// throttle.Every does not fit: it counts its own calls, and these drops
// are counted where they happen, on the event loops, by an atomic.
func (s *Sink) report(now time.Time, final bool) time.Duration {
	d := s.dropped.Load()
	if d == s.told {
		return 0
	}
	if !final && !s.toldAt.IsZero() {
		if wait := s.toldAt.Add(s.cfg.every).Sub(now); wait > 0 {
			return wait
		}
	}
	args := []any{"target", s.target, "dropped", d - s.told}
	if s.failed > 0 {
		args = append(args, "write_failures", s.failed, "error", s.lastErr.Error())
	}
	s.log.Warn("access log lines dropped: the target does not keep up", args...)
	s.told, s.failed, s.lastErr, s.toldAt = d, 0, nil, now
	return 0
}

// streamOut writes to a file or to any io.Writer (stdout, stderr, tests).
type streamOut struct {
	w    io.Writer
	f    *os.File // owned: closed by close; nil for stdout and stderr
	path string   // what reopen opens; "" for stdout and stderr
}

func openFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
}

func (o *streamOut) write(batch []byte) (int, error) { return o.w.Write(batch) }

func (o *streamOut) reopen() error {
	if o.path == "" {
		return nil
	}
	f, err := openFile(o.path)
	if err != nil {
		return err
	}
	old := o.f
	o.f, o.w = f, f
	if old != nil {
		return old.Close()
	}
	return nil
}

func (o *streamOut) close() error {
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f = nil
	o.w = closedWriter{}
	return err
}

type closedWriter struct{}

func (closedWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }
