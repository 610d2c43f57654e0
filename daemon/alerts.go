package daemon

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"vigil/alerts"
	"vigil/api"
	"vigil/config"
)

// alertFlush bounds how long the alerts still queued may take to go out
// when a reload replaces the alerts: section or the daemon stops: long
// enough for a receiver that answers, short enough that a dead one does
// not hold a shutdown.
const alertFlush = 5 * time.Second

// alerting feeds the daemon's events to the alert sinks of the running
// config. It reads the event hub like any other subscriber, so the parts
// that publish (VRRP instances, check watchers) know nothing of alerts,
// and it only ever enqueues, so a slow receiver cannot hold them up.
type alerting struct {
	log         *slog.Logger
	events      <-chan api.Event
	unsubscribe func()
	quit        chan struct{} // closed to stop forwarding
	forwarded   chan struct{} // closed when the forwarder has returned

	mu      sync.Mutex
	current *alerts.Dispatcher // nil when the config has no alerts
	stopCur func()             // stops current after its flush; nil with it
	retired sync.WaitGroup     // dispatchers a reload replaced, flushing
}

// newDispatcher builds the alert senders cfg asks for, or nil for none.
func (d *Daemon) newDispatcher(cfg *config.Config) (*alerts.Dispatcher, error) {
	if len(cfg.Alerts.Webhooks) == 0 && cfg.Alerts.Email == nil {
		return nil, nil
	}
	return alerts.New(cfg.Node, cfg.Alerts, alerts.Options{
		Log: d.log,
		Observe: func(sink string, o alerts.Outcome, n int) {
			d.metrics.ObserveAlert(sink, string(o), n)
		},
	})
}

// startAlerts subscribes to the daemon's events and starts dispatcher
// (nil for none). It runs before the parts start, so their first
// transitions are alerted too.
func (d *Daemon) startAlerts(dispatcher *alerts.Dispatcher) *alerting {
	events, unsubscribe := d.events.subscribe(false)
	a := &alerting{log: d.log, events: events, unsubscribe: unsubscribe, quit: make(chan struct{}), forwarded: make(chan struct{})}
	a.replace(dispatcher)
	go a.forward()
	return a
}

// replace makes next the dispatcher events go to; the previous one
// flushes what it has queued, for up to alertFlush, in the background.
func (a *alerting) replace(next *alerts.Dispatcher) {
	var stop func()
	if next != nil {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); next.Run(ctx, alertFlush) }()
		stop = func() { cancel(); <-done }
		a.log.Info("alerts on", "sinks", strings.Join(next.Sinks(), ", "))
	}
	a.mu.Lock()
	old := a.stopCur
	a.current, a.stopCur = next, stop
	a.mu.Unlock()
	if old != nil {
		a.retired.Go(old)
	}
}

// stop forwards the events already published, then stops the dispatchers
// once they have flushed (for up to alertFlush).
func (a *alerting) stop() {
	close(a.quit)
	<-a.forwarded
	a.replace(nil)
	a.retired.Wait()
}

func (a *alerting) forward() {
	defer close(a.forwarded)
	for {
		select {
		case e := <-a.events:
			a.notify(e)
		case <-a.quit:
			a.unsubscribe()
			for {
				select {
				case e := <-a.events:
					a.notify(e)
				default:
					return
				}
			}
		}
	}
}

func (a *alerting) notify(e api.Event) {
	ae, ok := alertEvent(e)
	if !ok {
		return
	}
	a.mu.Lock()
	current := a.current
	a.mu.Unlock()
	if current != nil {
		current.Notify(ae)
	}
}

// alertEvent is the alert for an event, if it is one: VRRP transitions,
// backends and services going up or down (and operators' admin changes),
// not reloads. VRRP states are spelled as keepalived's mails do (BACKUP,
// MASTER), which people who get these mails know.
func alertEvent(e api.Event) (alerts.Event, bool) {
	switch e.Kind {
	case api.KindVRRP:
		e.From, e.To = strings.ToUpper(e.From), strings.ToUpper(e.To)
	case api.KindBackend, api.KindService:
	default:
		return alerts.Event{}, false
	}
	return alerts.Event{Kind: e.Kind, Subject: e.Subject, From: e.From, To: e.To, Reason: e.Reason, Time: e.Time}, true
}
