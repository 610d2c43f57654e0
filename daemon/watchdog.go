package daemon

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"time"

	"vigil/vrrp"
)

// watchdogInterval reads systemd's WatchdogSec= as passed to the service
// (WATCHDOG_USEC, and WATCHDOG_PID when set must be this process). Zero
// means no watchdog.
func watchdogInterval() time.Duration {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond
}

// aliveChecker is what the watchdog asks: a VRRP instance's event loop.
type aliveChecker interface {
	Name() string
	Alive(ctx context.Context) error
}

// runWatchdog feeds systemd's watchdog (WATCHDOG=1) every half interval,
// but only after every VRRP event loop has answered within that half: a
// stuck loop means a master that no longer advertises or a backup that no
// longer takes over, and a restart (Restart=always) is the cure. The list
// of loops is read each round, so a reload's instances are the ones asked.
func runWatchdog(ctx context.Context, interval time.Duration, loops func() []aliveChecker, notify func(string) error, log *slog.Logger) {
	half := interval / 2
	tick := time.NewTicker(half)
	defer tick.Stop()
	stuck := ""
	for {
		err := checkLoops(ctx, half, loops())
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if msg := err.Error(); msg != stuck {
				log.Error("not feeding the systemd watchdog: a VRRP event loop is stuck; systemd will restart vigil", "err", err, "watchdog", interval)
				stuck = msg
			}
		default:
			if stuck != "" {
				log.Info("VRRP event loops answer again; feeding the systemd watchdog")
				stuck = ""
			}
			if err := notify("WATCHDOG=1"); err != nil {
				log.Warn("systemd watchdog", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// checkLoops asks every loop at once and returns their failures; a loop
// that has ended (an instance a reload just replaced) is not stuck.
func checkLoops(ctx context.Context, within time.Duration, loops []aliveChecker) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	errs := make(chan error, len(loops))
	for _, l := range loops {
		go func() { errs <- l.Alive(ctx) }()
	}
	var all []error
	for range loops {
		if err := <-errs; err != nil && !errors.Is(err, vrrp.ErrNotRunning) {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}
