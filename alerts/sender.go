package alerts

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"vigil/throttle"
)

// Sink makes one attempt at delivering events somewhere.
type Sink interface {
	// Name identifies the sink in logs and metrics ("webhook
	// https://hooks.example.com/vigil", "email smtp.example.com:25"); it
	// carries no secret.
	Name() string
	// Deliver makes one attempt within ctx. An error wrapped by permanent
	// means another attempt cannot help (a receiver that answered 4xx).
	// Errors need not name the sink: the Sender logs them with Name.
	Deliver(ctx context.Context, batch []Event) error
}

// Outcome is what became of events, as counted in Stats and reported to
// Options.Observe.
type Outcome string

const (
	// Sent events were accepted by the receiver.
	Sent Outcome = "sent"
	// Failed events were given up after a permanent error or the last retry.
	Failed Outcome = "failed"
	// Dropped events never got an attempt: the queue was full, or the
	// sender stopped before their turn.
	Dropped Outcome = "dropped"
)

// Stats counts a Sender's events by outcome.
type Stats struct {
	Sent, Failed, Dropped uint64
	// Queued is how many wait now.
	Queued int
}

// SenderOptions shape a Sender's queue and attempts.
type SenderOptions struct {
	// QueueSize bounds the events waiting; past it the oldest is dropped.
	QueueSize int
	// Timeout bounds one delivery attempt.
	Timeout time.Duration
	// MaxBatch is how many events one delivery carries; at least 1.
	MaxBatch int
	// Gather, when set, waits this long after an event arrives for more to
	// deliver with it (one mail for a failover's few events).
	Gather time.Duration
	// Log receives the sender's lines; required.
	Log *slog.Logger
	// Observe, when set, is told of every outcome as it happens, with the
	// number of events; it is called from Enqueue too, so it must be quick.
	Observe func(sink string, o Outcome, n int)
}

// dropLogEvery spaces the lines about dropped events.
const dropLogEvery = 10 * time.Second

// Sender delivers one sink's events in order from a bounded queue, with
// retries. Enqueue never blocks: it is called from the VRRP instance's
// own goroutine, which must never wait for a receiver.
type Sender struct {
	sink    Sink
	o       SenderOptions
	backoff backoff
	wake    chan struct{}

	mu      sync.Mutex
	q       *queue
	drops   throttle.Every
	stats   Stats
	stopped bool // Run has returned: Enqueue drops
}

// NewSender makes a Sender for sink; Run starts its deliveries.
func NewSender(sink Sink, o SenderOptions) *Sender {
	o.MaxBatch = max(o.MaxBatch, 1)
	return &Sender{
		sink: sink, o: o, backoff: defaultBackoff, wake: make(chan struct{}, 1),
		q: newQueue(o.QueueSize), drops: throttle.Every{Interval: dropLogEvery},
	}
}

// Name is the sink's name.
func (s *Sender) Name() string { return s.sink.Name() }

// Enqueue queues e for delivery and returns at once. When the queue is
// full the oldest queued event is dropped and counted; drops are logged at
// most once per dropLogEvery.
func (s *Sender) Enqueue(e Event) {
	s.mu.Lock()
	dropped := s.stopped || s.q.push(e)
	if s.stopped {
		s.stats.Dropped++ // e itself
	} else if dropped {
		s.stats.Dropped++ // the oldest
	}
	var report uint64
	var due bool
	if dropped {
		report, due = s.drops.Hit(time.Now())
	}
	total := s.stats.Dropped
	s.mu.Unlock()
	if dropped {
		s.observe(Dropped, 1)
		if due {
			s.o.Log.Warn("alert queue full or stopped, dropping events", "sink", s.Name(), "dropped", report, "dropped_total", total, "queue", s.o.QueueSize)
		}
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Stats returns the counts so far.
func (s *Sender) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Queued = s.q.len()
	return st
}

// Run delivers queued events until ctx ends, then goes on delivering what
// is queued for at most flush more, so the last transitions of a shutdown
// or a reload still go out without holding either up for long. Events
// still queued after that count as dropped.
func (s *Sender) Run(ctx context.Context, flush time.Duration) {
	deliverCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	defer context.AfterFunc(ctx, func() {
		flushEnd := time.AfterFunc(flush, cancel)
		context.AfterFunc(deliverCtx, func() { flushEnd.Stop() })
	})()
	for deliverCtx.Err() == nil {
		batch := s.next(ctx)
		if batch == nil {
			break // ctx ended and the queue is empty
		}
		s.deliver(deliverCtx, batch)
	}
	s.mu.Lock()
	s.stopped = true
	rest := s.q.pop(s.q.len())
	s.stats.Dropped += uint64(len(rest))
	s.mu.Unlock()
	if len(rest) > 0 {
		s.observe(Dropped, len(rest))
		s.o.Log.Warn("alerts not delivered before stopping", "sink", s.Name(), "dropped", len(rest), "flush", flush)
	}
}

// next waits for events and takes the next batch; after ctx ends it takes
// what is queued without waiting, and nil once the queue is empty.
func (s *Sender) next(ctx context.Context) []Event {
	for {
		s.mu.Lock()
		n := s.q.len()
		s.mu.Unlock()
		if n > 0 {
			if s.o.Gather > 0 && n < s.o.MaxBatch && ctx.Err() == nil {
				gather := time.NewTimer(s.o.Gather)
				select {
				case <-gather.C:
				case <-ctx.Done():
					gather.Stop()
				}
			}
			s.mu.Lock()
			batch := s.q.pop(s.o.MaxBatch)
			s.mu.Unlock()
			return batch
		}
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
		}
	}
}

// deliver tries batch until it is sent, fails permanently, runs out of
// attempts or ctx ends.
func (s *Sender) deliver(ctx context.Context, batch []Event) {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, s.o.Timeout)
		err := s.sink.Deliver(actx, batch)
		cancel()
		if err == nil {
			s.count(Sent, len(batch))
			return
		}
		wait, again := s.backoff.delay(attempt)
		if errors.As(err, new(*permanentError)) || !again || ctx.Err() != nil {
			s.count(Failed, len(batch))
			s.o.Log.Error("alert not delivered", "sink", s.Name(), "events", len(batch), "first", change(batch[0]), "attempts", attempt, "err", err)
			return
		}
		s.o.Log.Warn("alert delivery failed, retrying", "sink", s.Name(), "attempt", attempt, "retry_in", wait, "err", err)
		retry := time.NewTimer(wait)
		select {
		case <-retry.C:
		case <-ctx.Done():
			retry.Stop()
			s.count(Failed, len(batch))
			s.o.Log.Error("alert not delivered before stopping", "sink", s.Name(), "events", len(batch), "first", change(batch[0]), "attempts", attempt, "err", err)
			return
		}
	}
}

func (s *Sender) count(o Outcome, n int) {
	s.mu.Lock()
	switch o {
	case Sent:
		s.stats.Sent += uint64(n)
	case Failed:
		s.stats.Failed += uint64(n)
	}
	s.mu.Unlock()
	s.observe(o, n)
}

func (s *Sender) observe(o Outcome, n int) {
	if s.o.Observe != nil {
		s.o.Observe(s.Name(), o, n)
	}
}

// permanentError marks a delivery error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err: err} }
