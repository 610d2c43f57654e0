package vrrp

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotRunning is Alive's answer for an instance whose Run has returned:
// stopped (by a reload, or on the way down), not stuck.
var ErrNotRunning = errors.New("not running")

// Alive reports whether the instance's event loop is turning: it asks the
// loop to run a no-op and waits for it, up to ctx. The systemd watchdog is
// fed only while every instance answers, so a loop stuck on a lock or a
// blocked call gets the daemon restarted rather than a master that
// silently stops advertising. It returns an error when ctx ends first, and
// one wrapping ErrNotRunning when Run has returned.
func (in *Instance) Alive(ctx context.Context) error {
	answered := make(chan struct{})
	select {
	case in.inbox <- func() { close(answered) }:
	case <-in.done:
		return fmt.Errorf("vrrp %s: %w", in.name, ErrNotRunning)
	case <-ctx.Done():
		return fmt.Errorf("vrrp %s: event loop did not take a request: %w", in.name, ctx.Err())
	}
	select {
	case <-answered:
		return nil
	case <-in.done:
		return fmt.Errorf("vrrp %s: %w", in.name, ErrNotRunning)
	case <-ctx.Done():
		return fmt.Errorf("vrrp %s: event loop did not answer: %w", in.name, ctx.Err())
	}
}
