package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkWatcher follows interface state through netlink notifications (no
// polling) and tells every subscriber when an interface it cares about goes
// up or down.
type linkWatcher struct {
	log    *slog.Logger
	mu     sync.Mutex
	subs   map[string]map[int]func(up bool)
	nextID int
	last   map[string]bool
}

func newLinkWatcher(log *slog.Logger) *linkWatcher {
	return &linkWatcher{log: log, subs: map[string]map[int]func(bool){}, last: map[string]bool{}}
}

// Subscribe registers fn for an interface and calls it at once with the
// current state (down when the interface does not exist). The returned
// func ends the subscription (a reload drops the old wiring's).
func (w *linkWatcher) Subscribe(name string, fn func(up bool)) (unsubscribe func()) {
	w.mu.Lock()
	if w.subs[name] == nil {
		w.subs[name] = map[int]func(bool){}
	}
	id := w.nextID
	w.nextID++
	w.subs[name][id] = fn
	up, known := w.last[name]
	w.mu.Unlock()
	if !known {
		up = currentlyUp(name)
	}
	fn(up)
	return func() {
		w.mu.Lock()
		delete(w.subs[name], id)
		w.mu.Unlock()
	}
}

func currentlyUp(name string) bool {
	l, err := netlink.LinkByName(name)
	return err == nil && linkUp(l.Attrs())
}

// linkUp is administratively up with carrier. Virtual links without carrier
// reporting say "unknown", which counts as up (keepalived does the same).
func linkUp(a *netlink.LinkAttrs) bool {
	if a.Flags&net.FlagUp == 0 {
		return false
	}
	return a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown
}

// Run listens for link changes until ctx ends.
func (w *linkWatcher) Run(ctx context.Context) error {
	updates := make(chan netlink.LinkUpdate, 64)
	errs := make(chan error, 1)
	if err := netlink.LinkSubscribeWithOptions(updates, ctx.Done(), netlink.LinkSubscribeOptions{
		ListExisting: true,
		ErrorCallback: func(err error) {
			select {
			case errs <- err:
			default:
			}
		},
	}); err != nil {
		return fmt.Errorf("links: subscribe: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			w.log.Warn("link updates failed", "err", err)
		case u, ok := <-updates:
			if !ok {
				return nil
			}
			name := u.Attrs().Name
			up := u.Header.Type != unix.RTM_DELLINK && linkUp(u.Attrs())
			w.mu.Lock()
			prev, known := w.last[name]
			w.last[name] = up
			subs := make([]func(bool), 0, len(w.subs[name]))
			for _, fn := range w.subs[name] {
				subs = append(subs, fn)
			}
			w.mu.Unlock()
			if known && prev == up {
				continue
			}
			if len(subs) > 0 {
				w.log.Info("link changed", "interface", name, "up", up)
			}
			for _, fn := range subs {
				fn(up)
			}
		}
	}
}
