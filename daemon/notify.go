package daemon

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"vigil/script"
)

// Notifier runs a hook program for each event, one at a time and in order,
// so two transitions of one instance never race each other in a script (a
// keepalived pain point). A hook that runs past the timeout is killed with
// its whole process group.
type Notifier struct {
	program string
	timeout time.Duration
	cred    *syscall.Credential
	env     []string
	log     *slog.Logger

	mu      sync.Mutex
	queue   [][]string
	wake    chan struct{}
	stopped bool
}

// NewNotifier makes a notifier for program; cred, when set, runs it as
// another user (script_user).
func NewNotifier(program string, timeout time.Duration, cred *syscall.Credential, log *slog.Logger) *Notifier {
	path := os.Getenv("PATH")
	if path == "" {
		path = script.DefaultPath
	}
	return &Notifier{
		program: program, timeout: timeout, cred: cred, log: log, wake: make(chan struct{}, 1),
		env: []string{"PATH=" + path}, // not the daemon's environment: it may hold secrets
	}
}

// Notify queues one run with these arguments; it never blocks.
func (n *Notifier) Notify(args ...string) {
	n.mu.Lock()
	if !n.stopped {
		n.queue = append(n.queue, args)
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Run executes queued hooks until ctx ends, then runs what is still queued
// (the STOP notifications of a shutdown come last) and returns.
func (n *Notifier) Run(ctx context.Context) {
	for {
		for {
			n.mu.Lock()
			if len(n.queue) == 0 {
				n.mu.Unlock()
				break
			}
			args := n.queue[0]
			n.queue = n.queue[1:]
			n.mu.Unlock()
			n.run(args)
		}
		select {
		case <-ctx.Done():
			n.mu.Lock()
			n.stopped = true
			rest := n.queue
			n.queue = nil
			n.mu.Unlock()
			for _, args := range rest {
				n.run(args)
			}
			return
		case <-n.wake:
		}
	}
}

func (n *Notifier) run(args []string) {
	ctx, cancel := context.WithTimeout(context.Background(), n.timeout)
	defer cancel()
	start := time.Now()
	r := script.Run(ctx, script.Cmd{Argv: append([]string{n.program}, args...), Env: n.env, Cred: n.cred})
	log := n.log.With("program", n.program, "args", strings.Join(args, " "), "took", time.Since(start).Round(time.Millisecond))
	switch {
	case r.Success():
		log.Debug("notify hook ran")
	case r.TimedOut:
		log.Error("notify hook killed after timeout", "timeout", n.timeout)
	default:
		log.Warn("notify hook failed", "reason", r.Reason(n.timeout))
	}
}
