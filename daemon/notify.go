package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Notifier runs a hook program for each event, one at a time and in order,
// so two transitions of one instance never race each other in a script (a
// keepalived pain point). A hook that runs past the timeout is killed with
// its whole process group.
type Notifier struct {
	program string
	timeout time.Duration
	cred    *syscall.Credential
	log     *slog.Logger

	mu      sync.Mutex
	queue   [][]string
	wake    chan struct{}
	stopped bool
}

// NewNotifier makes a notifier for program; cred, when set, runs it as
// another user (script_user).
func NewNotifier(program string, timeout time.Duration, cred *syscall.Credential, log *slog.Logger) *Notifier {
	return &Notifier{program: program, timeout: timeout, cred: cred, log: log, wake: make(chan struct{}, 1)}
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
	cmd := exec.CommandContext(ctx, n.program, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: n.cred}
	// Kill the whole group: a hook that forked must not outlive its timeout.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	log := n.log.With("program", n.program, "args", strings.Join(args, " "), "took", time.Since(start).Round(time.Millisecond))
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		log.Error("notify hook killed after timeout", "timeout", n.timeout)
	case err != nil:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			log.Warn("notify hook failed", "exit", ee.ExitCode(), "output", firstLine(out))
		} else {
			log.Error("notify hook could not run", "err", err)
		}
	default:
		log.Debug("notify hook ran")
	}
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// credentialFor looks up a user (and its primary group) for script_user.
func credentialFor(name string) (*syscall.Credential, error) {
	if name == "" {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("script_user %s: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("script_user %s: non-numeric uid/gid %s/%s", name, u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
