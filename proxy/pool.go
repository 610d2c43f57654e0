package proxy

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"vigil/proxy/balance"
	"vigil/proxy/httpcore"
)

// weightScale multiplies configured weights before slowstart, as HAProxy
// does (BE_WEIGHT_SCALE): balancers only compare ratios, and the scale
// lets a weight-1 backend ramp smoothly instead of jumping from 1 to 1.
const weightScale = 16

// pickOutcome says why pickLocked did or did not return a backend.
type pickOutcome int

const (
	picked  pickOutcome = iota
	allFull             // usable backends exist but all are at max_conn: wait in the queue
	noneUp              // nothing can take the connection: fail it
)

// waiter is a connection queued for a backend slot.
type waiter struct {
	key   []byte
	tried []*backend
	elem  *list.Element // nil once granted or removed
	grant chan *backend // buffered(1): the slot handed over by dispatchLocked
}

// alive reports whether b may take new traffic at all, full or not.
func (b *backend) alive() bool { return b.up && b.admin == "" && b.cfg.Weight > 0 }

// full reports whether b is at its max_conn.
func (b *backend) full() bool { return b.cfg.MaxConn > 0 && b.active >= b.cfg.MaxConn }

// weight is b's scaled effective weight now, with slowstart applied.
func (s *Service) weight(b *backend, now time.Time) int {
	if !b.alive() {
		return 0
	}
	if b.upSince.IsZero() {
		return b.cfg.Weight * weightScale
	}
	return balance.SlowstartWeight(b.cfg.Weight*weightScale, now.Sub(b.upSince), s.cfg.Slowstart.D())
}

// pickLocked chooses a backend for a connection, skipping those already
// tried by it. Full backends are offered to the balancer as down, so it
// picks among those with a free slot; but they still decide the tier (a
// full primary keeps connections queueing for the primaries rather than
// spilling to backups, as in HAProxy). s.mu is held.
func (s *Service) pickLocked(key []byte, tried []*backend) (*backend, pickOutcome) {
	usable := func(b *backend) bool {
		if !b.alive() {
			return false
		}
		for _, t := range tried {
			if t == b {
				return false
			}
		}
		return true
	}
	backupTier := true
	for _, b := range s.backends {
		if !b.cfg.Backup && usable(b) {
			backupTier = false
			break
		}
	}
	now := time.Now()
	s.scratch = s.scratch[:0]
	anyFull, anyFree := false, false
	for _, b := range s.backends {
		ok := b.cfg.Backup == backupTier && usable(b)
		if ok && b.full() {
			ok, anyFull = false, true
		}
		anyFree = anyFree || ok
		s.scratch = append(s.scratch, balance.Server{
			Key: b.cfg.Address, Weight: s.weight(b, now), Active: b.active, Up: ok, Backup: b.cfg.Backup,
		})
	}
	if anyFree {
		if i := s.bal.Pick(s.scratch, key); i >= 0 && i < len(s.backends) && s.scratch[i].Up {
			return s.backends[i], picked
		}
	}
	if anyFull {
		return nil, allFull
	}
	return nil, noneUp
}

// acquire takes a slot on a backend for a new connection: at once when one
// has room, otherwise (queue true) by waiting in the FIFO queue for up to
// the queue timeout. The caller must release the slot.
func (s *Service) acquire(ctx context.Context, key []byte, tried []*backend, queue bool) (*backend, error) {
	s.mu.Lock()
	b, res := s.pickLocked(key, tried)
	switch {
	case res == picked:
		b.active++
		s.mu.Unlock()
		return b, nil
	case res == noneUp:
		if len(tried) == 0 {
			s.st.noBackend++
		}
		s.mu.Unlock()
		return nil, errNoBackend
	case !queue || s.queue.Len() >= s.cfg.MaxQueue || s.stopping:
		s.st.queueOverflows++
		s.mu.Unlock()
		return nil, errQueueFull
	}
	w := &waiter{key: key, tried: tried, grant: make(chan *backend, 1)}
	w.elem = s.queue.PushBack(w)
	s.mu.Unlock()

	// HAProxy uses timeout connect when timeout queue is not set.
	wait := s.cfg.Timeouts.Queue.D()
	if wait <= 0 {
		wait = s.cfg.Timeouts.Connect.D()
	}
	var expire <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		expire = t.C
	}
	err := errQueueTime
	select {
	case b := <-w.grant:
		return b, nil
	case <-expire:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.mu.Lock()
	if w.elem != nil {
		s.queue.Remove(w.elem)
		w.elem = nil
		if err == errQueueTime {
			s.st.queueTimeouts++
		}
		s.mu.Unlock()
		return nil, err
	}
	s.mu.Unlock()
	// Granted while the timer fired: the slot is ours, use it.
	return <-w.grant, nil
}

// release gives back a slot taken by acquire and hands it to the oldest
// waiter that can use it.
func (s *Service) release(b *backend) {
	s.mu.Lock()
	b.active--
	s.dispatchLocked()
	s.mu.Unlock()
}

// dispatchLocked grants free slots to queued connections, oldest first. s.mu is held.
func (s *Service) dispatchLocked() {
	for e := s.queue.Front(); e != nil; {
		next := e.Next()
		w := e.Value.(*waiter)
		b, res := s.pickLocked(w.key, w.tried)
		if res != picked {
			if len(w.tried) == 0 {
				// Whether a slot is free does not depend on the key, so
				// nobody behind a fresh waiter can be served either; only
				// waiters that excluded some backends (retries) can differ.
				return
			}
			e = next
			continue
		}
		b.active++
		s.queue.Remove(e)
		w.elem = nil
		w.grant <- b
		e = next
	}
}

// connect finds a backend and connects to it within the connect timeout.
// A failed connect is retried up to cfg.Retries times, each on a backend
// not tried yet (HAProxy's retries with option redispatch): a backend that
// refuses is most likely down before its check says so, and another one
// can serve the client now. The returned backend holds a slot. rec, when
// not nil, gets the times and the retries for the access log.
func (s *Service) connect(ctx context.Context, network string, key []byte, queue bool, rec *tcpRecord) (*backend, net.Conn, error) {
	var tried []*backend
	var lastErr error
	var failed *backend // the backend the last connect failed to
	asked := time.Now()
	for attempt := 0; ; attempt++ {
		b, err := s.acquire(ctx, key, tried, queue)
		if err == nil && attempt == 0 {
			s.queueWait.observe(time.Since(asked))
		}
		if err == nil && failed != nil {
			// a retry only once another backend took it
			s.countRetry(failed)
			if rec != nil {
				rec.retries++
			}
		}
		if rec != nil && err == nil {
			if rec.assigned.IsZero() {
				rec.assigned = time.Now()
			}
			rec.b = b
		}
		if err != nil {
			if lastErr != nil {
				return nil, nil, fmt.Errorf("%w; no other backend to retry on (%v)", lastErr, err)
			}
			return nil, nil, err
		}
		dctx := ctx
		if t := s.cfg.Timeouts.Connect.D(); t > 0 {
			var cancel context.CancelFunc
			dctx, cancel = context.WithTimeout(ctx, t)
			defer cancel()
		}
		dialed := time.Now()
		c, err := s.dial(dctx, network, b.cfg.Address)
		if err == nil {
			now := time.Now()
			b.obs.connect.observe(now.Sub(dialed))
			if rec != nil {
				rec.connected = now
			}
			return b, c, nil
		}
		lastErr = fmt.Errorf("connect to %s: %w", b.cfg.Address, err)
		if !s.connectFailed(ctx, b, attempt) {
			return nil, nil, lastErr
		}
		failed = b
		s.log.Debug("connect failed, retrying on another backend", "backend", b.cfg.Address, "err", err)
		tried = append(tried, b)
	}
}

// connectFailed counts a failed connect to b, gives its slot back and
// reports whether the client may try another backend.
func (s *Service) connectFailed(ctx context.Context, b *backend, attempt int) bool {
	s.mu.Lock()
	b.st.connectErrors++
	s.st.connectErrors++
	s.mu.Unlock()
	s.release(b)
	return httpcore.MayRetryConnect(attempt, s.cfg.Retries) && ctx.Err() == nil
}

// countRetry counts a connect that failed on b and is retried on
// another backend.
func (s *Service) countRetry(b *backend) {
	s.mu.Lock()
	b.st.retries++
	s.st.retries++
	s.mu.Unlock()
}

// connectFailure is what a client that got no backend connection
// records (the cause and stage of HAProxy's termination state), and the
// status an HTTP request is answered with (0: nothing can be sent). res
// says how far the attempt went.
func connectFailure(err error, res connResult) (httpcore.Cause, httpcore.Stage, int) {
	stage := httpcore.StageConnect
	if res.assigned.IsZero() {
		stage = httpcore.StageQueue
	}
	switch {
	case errors.Is(err, context.Canceled):
		return httpcore.CauseClient, stage, 0
	case errors.Is(err, errQueueTime):
		return httpcore.CauseServerTimeout, httpcore.StageQueue, httpcore.ConnectFailStatus(true)
	case errors.Is(err, errQueueFull):
		return httpcore.CauseProxy, httpcore.StageQueue, httpcore.ConnectFailStatus(true)
	case errors.Is(err, errNoBackend):
		return httpcore.CauseServer, httpcore.StageConnect, httpcore.ConnectFailStatus(true)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return httpcore.CauseServerTimeout, httpcore.StageConnect, httpcore.ConnectFailStatus(false)
	}
	return httpcore.CauseServer, httpcore.StageConnect, httpcore.ConnectFailStatus(false)
}
