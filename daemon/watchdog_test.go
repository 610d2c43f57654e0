package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"vigil/vrrp"
)

// fakeLoop answers Alive after delay, or with err.
type fakeLoop struct {
	name  string
	mu    sync.Mutex
	stuck bool
	err   error
}

func (f *fakeLoop) Name() string { return f.name }

func (f *fakeLoop) Alive(ctx context.Context) error {
	f.mu.Lock()
	stuck, err := f.stuck, f.err
	f.mu.Unlock()
	if stuck {
		<-ctx.Done()
		return fmt.Errorf("%s: %w", f.name, ctx.Err())
	}
	return err
}

func (f *fakeLoop) set(stuck bool) {
	f.mu.Lock()
	f.stuck = stuck
	f.mu.Unlock()
}

// TestWatchdogFedOnlyWhileLoopsAnswer: WATCHDOG=1 goes out every half
// interval while every loop answers, stops while one is stuck (so systemd
// restarts vigil), and resumes when it answers again; a loop that has
// ended (replaced by a reload) does not count as stuck.
func TestWatchdogFedOnlyWhileLoopsAnswer(t *testing.T) {
	a := &fakeLoop{name: "VI_1"}
	b := &fakeLoop{name: "VI_2"}
	gone := &fakeLoop{name: "VI_old", err: fmt.Errorf("vrrp VI_old: %w", vrrp.ErrNotRunning)}
	notes := make(chan string, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		runWatchdog(ctx, 40*time.Millisecond, func() []aliveChecker { return []aliveChecker{a, b, gone} },
			func(s string) error { notes <- s; return nil }, slog.New(slog.DiscardHandler))
	}()
	defer func() { cancel(); <-done }()

	next := func(within time.Duration) (string, bool) {
		select {
		case s := <-notes:
			return s, true
		case <-time.After(within):
			return "", false
		}
	}
	for i := range 3 {
		if s, ok := next(5 * time.Second); !ok || s != "WATCHDOG=1" {
			t.Fatalf("feed %d: %q %v", i, s, ok)
		}
	}
	b.set(true)
	// Drain what was sent before b got stuck, then expect silence for
	// several intervals.
	for {
		if _, ok := next(100 * time.Millisecond); !ok {
			break
		}
	}
	if s, ok := next(300 * time.Millisecond); ok {
		t.Fatalf("fed %q while VI_2's loop is stuck", s)
	}
	b.set(false)
	if s, ok := next(5 * time.Second); !ok || s != "WATCHDOG=1" {
		t.Fatalf("not fed again after VI_2 answered: %q %v", s, ok)
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
	}{
		{"", "", 0},
		{"junk", "", 0},
		{"10000000", "", 10 * time.Second},
		{"10000000", "1", 0}, // meant for another process
		{"2000000", fmt.Sprint(os.Getpid()), 2 * time.Second},
	} {
		t.Setenv("WATCHDOG_USEC", tc.usec)
		t.Setenv("WATCHDOG_PID", tc.pid)
		if got := watchdogInterval(); got != tc.want {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %v, want %v", tc.usec, tc.pid, got, tc.want)
		}
	}
}
