package checks

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"vigil/config"
)

// Fallbacks for a Check built by hand without config's defaults; a zero
// interval would spin and a zero timeout would fail every probe.
const (
	fallbackInterval = 2 * time.Second
	fallbackTimeout  = time.Second
)

// watchBuffer is how many transitions a Watch holds for a slow consumer
// before the oldest are dropped. Transitions are rare; 16 only matters for a
// consumer stalled through a flapping backend, and the latest still wins.
const watchBuffer = 16

// Target is what to probe: a check's settings and, for network types, the
// address. Two Targets that are equal after normalisation share one prober.
type Target struct {
	// Check holds the settings, by value so a later config reload cannot
	// change a running prober under it.
	Check config.Check
	// Address is host:port for tcp, http, https, dns and udp checks. For a
	// service check it is the backend's address; Check.Port, when set,
	// replaces its port (keepalived connect_port). For a named check it may
	// be left empty and Check.Target is used. Exec checks ignore it except
	// to pass it to the program in VIGIL_TARGET.
	Address string
}

// Event is a target's state as a consumer sees it.
type Event struct {
	// Name is the label the consumer gave to Watch, e.g. "nginx-alive" or
	// "web/10.0.0.21:8080", so one consumer can multiplex many watches.
	Name string
	// Up is the state after rise/fall.
	Up bool
	// Reason says why, for humans: "connect refused", "status 503",
	// "timeout after 1s", "exit status 1: <first line of output>",
	// "ok (status 200)".
	Reason string
	// Seq increases with every transition of the target; the initial state
	// is 1. Consumers use it to order events and to notice coalescing.
	Seq uint64
	// Time is when the state was reached.
	Time time.Time
}

// Options tune an Engine.
type Options struct {
	// ScriptUser runs exec checks as this user (keepalived script_user);
	// empty runs them as vigil's own user.
	ScriptUser string
	// Now stamps events; nil uses time.Now. Tests pin it.
	Now func() time.Time
	// RootCAs verifies https checks with tls_verify; nil uses the system
	// roots. Set it for backends with certificates from a private CA.
	RootCAs *x509.CertPool
	// OnProbe, when set, is told every probe's outcome, before rise/fall:
	// name is the target's label (the name its first watch was given), d
	// how long the probe took, reason what Event.Reason would say. It is
	// for metrics; it runs on the target's own goroutine and must not block.
	// Probes cut short because the engine or the target stopped are not
	// reported: they say nothing about the target.
	OnProbe func(name string, d time.Duration, ok bool, reason string)
}

// Engine runs health checks and fans their results out to watchers. It
// probes each distinct Target once, however many consumers watch it.
type Engine struct {
	log  *slog.Logger
	opts Options

	mu      sync.Mutex
	probers map[string]*prober
	phase   phase
	ctx     context.Context // the running engine's context; probers derive from it
	wg      sync.WaitGroup  // running prober goroutines
}

type phase int

const (
	idle phase = iota
	running
	stopped
)

// NewEngine returns an engine that probes nothing until Run.
func NewEngine(log *slog.Logger, opts Options) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Engine{log: log, opts: opts, probers: map[string]*prober{}}
}

// Watch subscribes to a target's state. A Target equal to one already
// watched (same settings, same address) shares its prober and its state;
// the prober starts with its first watch, at once if the engine is running,
// otherwise when Run starts, and stops when its last watch closes.
//
// A reload that keeps a target should Watch it under the new config before
// closing the old watch: the prober then carries on with its state and its
// rise/fall counts instead of starting over from the initial state.
//
// On an engine whose Run has returned, the Watch delivers the initial state
// and its channel is closed.
func (e *Engine) Watch(name string, t Target) *Watch {
	t = normalize(t)
	key := keyOf(name, t)

	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.probers[key]
	if p == nil {
		p = e.newProber(key, name, t)
		e.probers[key] = p
		if e.phase == running {
			e.start(p)
		}
	}
	w := &Watch{name: name, e: e, p: p, ch: make(chan Event, watchBuffer)}
	p.mu.Lock()
	p.watches[w] = struct{}{}
	w.deliver(p.cur)
	p.mu.Unlock()
	if e.phase == stopped {
		w.shut()
	}
	return w
}

// Run probes until ctx ends, then stops every prober, waits for them and
// closes every watch's channel. It returns nil when ctx ends, and an error
// if called a second time: an engine runs once.
func (e *Engine) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.mu.Lock()
	if e.phase != idle {
		e.mu.Unlock()
		return errors.New("checks: engine already ran")
	}
	e.phase = running
	e.ctx = ctx
	for _, p := range e.probers {
		e.start(p)
	}
	n := len(e.probers)
	e.mu.Unlock()
	e.log.Info("health checks running", "targets", n)

	<-ctx.Done()

	e.mu.Lock()
	e.phase = stopped
	e.mu.Unlock()
	cancel()
	e.wg.Wait()

	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.probers {
		p.mu.Lock()
		for w := range p.watches {
			w.shut()
		}
		p.mu.Unlock()
	}
	return nil
}

// start launches p's goroutine; e.mu is held and the engine is running.
func (e *Engine) start(p *prober) {
	ctx, cancel := context.WithCancel(e.ctx)
	p.cancel = cancel
	p.done = make(chan struct{})
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer close(p.done)
		p.loop(ctx)
	}()
}

// release drops w from its prober and stops the prober with its last watch.
func (e *Engine) release(w *Watch) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := w.p
	p.mu.Lock()
	delete(p.watches, w)
	left := len(p.watches)
	p.mu.Unlock()
	if left == 0 && e.probers[p.key] == p {
		delete(e.probers, p.key)
		if p.cancel != nil {
			p.cancel()
		}
	}
}

// normalize folds the ways of naming the same probe into one, so they dedupe:
// the address is resolved from Check.Target and Check.Port here, and those two
// fields are then cleared since Address carries them.
func normalize(t Target) Target {
	if t.Check.Type == "exec" {
		t.Check.Target, t.Check.Port = "", 0
		return t
	}
	if t.Address == "" {
		t.Address = t.Check.Target
	}
	if t.Check.Port != 0 {
		host := t.Address
		if h, _, err := net.SplitHostPort(t.Address); err == nil {
			host = h
		}
		t.Address = net.JoinHostPort(host, strconv.Itoa(t.Check.Port))
	}
	t.Check.Target, t.Check.Port = "", 0
	return t
}

// keyOf identifies a prober. Exec checks include the watch name because the
// program sees it in VIGIL_CHECK: two differently named exec checks are two
// different questions even with the same command.
func keyOf(name string, t Target) string {
	k := fmt.Sprintf("%q %#v", t.Address, t.Check)
	if t.Check.Type == "exec" {
		k = strconv.Quote(name) + " " + k
	}
	return k
}

// prober probes one Target on its schedule and owns its state.
type prober struct {
	e     *Engine
	key   string
	label string // for logs: the first watcher's name and what is probed
	probe probeFunc

	interval, jitter, timeout time.Duration

	cancel context.CancelFunc // nil until started
	done   chan struct{}      // closed when the goroutine ends; nil until started

	mu      sync.Mutex
	rf      riseFall
	cur     Event // Name is filled per watch
	probes  uint64
	watches map[*Watch]struct{}
}

func (e *Engine) newProber(key, name string, t Target) *prober {
	c := t.Check
	p := &prober{
		e:        e,
		key:      key,
		label:    name,
		interval: c.Interval.D(),
		jitter:   c.Jitter.D(),
		timeout:  c.Timeout.D(),
		watches:  map[*Watch]struct{}{},
	}
	if p.interval <= 0 {
		p.interval = fallbackInterval
	}
	if p.timeout <= 0 {
		p.timeout = fallbackTimeout
		t.Check.Timeout = config.Duration(p.timeout)
	}
	if p.jitter < 0 {
		p.jitter = 0
	}
	initialUp := strings.EqualFold(c.Initial, "up")
	p.rf = newRiseFall(initialUp, c.Rise, c.Fall)
	state := "down"
	if initialUp {
		state = "up"
	}
	p.cur = Event{Up: initialUp, Reason: "initial state " + state + ", not probed yet", Seq: 1, Time: e.opts.Now()}

	probe, err := newProbe(name, t, e.opts)
	if err != nil {
		// Config validation should have refused this; keep the target down
		// with the reason rather than crash or silently pass.
		reason := "invalid check: " + err.Error()
		e.log.Error("health check cannot run", "check", name, "err", err)
		probe = func(context.Context) result { return fail(reason) }
	}
	p.probe = probe
	return p
}

// loop runs probes until ctx ends: the first after a random delay within
// the jitter, so targets loaded together do not fire together, then every
// interval plus or minus the jitter, start to start. A probe longer than the
// interval delays the next one instead of overlapping it.
//
// One goroutine per target rather than a timer wheel: it makes "never
// overlaps itself" structural, and it is cheap enough. Measured with 1000
// tcp targets: 1000 goroutines, about 8 MiB of stacks and 6 MiB of heap, all
// first probes spread over the jitter window (TestJitterSpreads1000).
func (p *prober) loop(ctx context.Context) {
	t := time.NewTimer(randUpTo(p.jitter))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, p.timeout)
		r := p.probe(pctx)
		took := time.Since(start)
		cancel()
		if ctx.Err() != nil {
			// Stopped mid-probe: the result says nothing about the target.
			return
		}
		if on := p.e.opts.OnProbe; on != nil {
			on(p.label, took, r.ok, r.reason)
		}
		p.record(r)
		next := p.interval - p.jitter + randUpTo(2*p.jitter)
		t.Reset(max(0, next-time.Since(start)))
	}
}

// randUpTo is uniform in [0, d).
func randUpTo(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)))
}

// record feeds one result through rise/fall and, on a transition, tells
// every watch. Delivery never blocks (see Watch.deliver), so a stalled
// consumer cannot stall the probes that others rely on.
func (p *prober) record(r result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.probes++
	if !p.rf.observe(r.ok) {
		if !r.ok {
			p.e.log.Debug("health check probe failed", "check", p.label, "reason", r.reason,
				"failures", p.rf.fail, "fall", p.rf.fall, "up", p.rf.up)
		}
		return
	}
	p.cur = Event{Up: p.rf.up, Reason: r.reason, Seq: p.cur.Seq + 1, Time: p.e.opts.Now()}
	state := "down"
	if p.cur.Up {
		state = "up"
	}
	p.e.log.Info("health check "+state, "check", p.label, "reason", r.reason, "watchers", len(p.watches))
	for w := range p.watches {
		w.deliver(p.cur)
	}
}

// Watch is one consumer's subscription to a target's state.
type Watch struct {
	name string
	e    *Engine
	p    *prober
	ch   chan Event

	mu     sync.Mutex
	closed bool // ch is closed
	once   sync.Once
}

// Events delivers the current state first, then each up/down transition in
// order. It never blocks the prober: when the consumer falls behind by more
// than a few transitions the oldest are dropped, so intermediate states may
// be lost (Seq shows the gap) but the latest state is always the last value
// delivered. Treat each event as "the state is now X", not as "it changed".
// The channel is closed by Close and when the engine's Run returns.
func (w *Watch) Events() <-chan Event { return w.ch }

// State returns the target's current state: the same value as the latest
// event, whether or not the consumer has read it yet.
func (w *Watch) State() Event {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	ev := w.p.cur
	ev.Name = w.name
	return ev
}

// Close unsubscribes and closes the Events channel; the target stops being
// probed when its last watch closes. Closing twice is harmless.
func (w *Watch) Close() {
	w.once.Do(func() {
		w.e.release(w)
		w.shut()
	})
}

// deliver queues ev without ever blocking: if the buffer is full it drops
// the oldest queued event to make room, so the newest is always delivered.
// Callers hold the prober's lock, so events enter in Seq order.
func (w *Watch) deliver(ev Event) {
	ev.Name = w.name
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	for {
		select {
		case w.ch <- ev:
			return
		default:
		}
		select {
		case <-w.ch:
		default:
		}
	}
}

// shut closes the channel once; deliver checks closed under the same lock,
// so nothing is ever sent on a closed channel.
func (w *Watch) shut() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
}
