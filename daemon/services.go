package daemon

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"vigil/checks"
	"vigil/config"
	"vigil/proxy"
	"vigil/vrrp"
)

// buildServices makes the proxy services of the config, with their access
// logs; mode: lvs services are the lvs manager's (see buildLVS).
func (d *Daemon) buildServices(cfg *config.Config) (map[string]*proxy.Service, error) {
	out := map[string]*proxy.Service{}
	for i, sc := range cfg.Services {
		if sc.Mode == "lvs" {
			continue
		}
		s, err := d.newService(cfg, i)
		if err != nil {
			for _, s := range out {
				d.releaseService(s)
			}
			return nil, err
		}
		out[sc.Name] = s
	}
	return out, nil
}

// newService makes the proxy service of cfg.Services[i], attached to its
// access log and to the connection count the services share.
func (d *Daemon) newService(cfg *config.Config, i int) (*proxy.Service, error) {
	sc := cfg.Services[i]
	s, err := proxy.NewService(sc, d.log) // it names itself in its log lines
	if err != nil {
		return nil, fmt.Errorf("%s: service %s: %w", cfg.File, sc.Name, err)
	}
	release, err := d.logs.attach(cfg, i, s)
	if err != nil {
		return nil, err
	}
	s.Conns = &d.conns
	d.releasesMu.Lock()
	d.releases[s] = release
	d.releasesMu.Unlock()
	return s, nil
}

// releaseService gives back what newService attached s to, once s has
// stopped (or will never run).
func (d *Daemon) releaseService(s *proxy.Service) {
	d.releasesMu.Lock()
	release := d.releases[s]
	delete(d.releases, s)
	d.releasesMu.Unlock()
	if release != nil {
		release()
	}
}

// runService is a service's part: it runs until stopped, then lets go of
// its access log.
func (d *Daemon) runService(s *proxy.Service) func(context.Context) error {
	return func(ctx context.Context) error {
		defer d.releaseService(s)
		return s.Run(ctx)
	}
}

// gateBackends feeds each backend's health check into its service through
// set (a proxy service or the lvs manager): one watch per backend, shared
// with any other consumer of the same target.
func gateBackends(ctx context.Context, wg *sync.WaitGroup, engine *checks.Engine, sc config.Service, set func(addr string, up bool, reason string)) {
	if sc.Check == nil {
		return // no check: backends count as up (HAProxy without "check")
	}
	// Route groups (http) have backends of their own; an address shared by
	// several groups is probed once and SetBackendUp reaches every group.
	seen := map[string]bool{}
	for _, b := range allBackends(sc) {
		if seen[b.Address] {
			continue
		}
		seen[b.Address] = true
		w := engine.Watch(sc.Name+"/"+b.Address, checks.Target{Check: *sc.Check, Address: b.Address})
		addr := b.Address
		follow(ctx, wg, w, func(ev checks.Event) { set(addr, ev.Up, ev.Reason) })
	}
}

// allBackends is a service's backends and its route groups'.
func allBackends(sc config.Service) []config.Backend {
	all := slices.Clone(sc.Backends)
	for _, r := range sc.Routes {
		all = append(all, r.Backends...)
	}
	return all
}

// follow hands every event of a check watch to fn until ctx ends or the
// engine stops, then closes the watch.
func follow(ctx context.Context, wg *sync.WaitGroup, w *checks.Watch, fn func(checks.Event)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer w.Close()
		for {
			select {
			case ev, ok := <-w.Events():
				if !ok {
					return
				}
				fn(ev)
			case <-ctx.Done():
				return
			}
		}
	}()
}

// serviceHealth fans one service's health out to every consumer (VRRP
// tracks, quorum hooks): the service signals changes on a single coalescing
// channel, which only one reader may drain.
type serviceHealth struct {
	s    healthSource
	subs []func(up bool, why string)
}

// healthSource is a service's own health on this node: a proxy service's,
// or an lvs service's as the lvs manager reports it.
type healthSource interface {
	Health() (up bool, reason string)
	HealthChanges() <-chan struct{}
}

// subscribe registers fn; it is called with the current health when the
// fan-out starts and on every change after.
func (h *serviceHealth) subscribe(fn func(up bool, why string)) { h.subs = append(h.subs, fn) }

func (h *serviceHealth) run(ctx context.Context, wg *sync.WaitGroup) {
	if len(h.subs) == 0 {
		return
	}
	notify := func() {
		up, why := h.s.Health()
		for _, fn := range h.subs {
			fn(up, why)
		}
	}
	notify()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-h.s.HealthChanges():
				notify()
			case <-ctx.Done():
				return
			}
		}
	}()
}

// trackService makes an instance follow a service's own health on this
// node: while the node cannot serve it, the instance's priority drops (or it
// faults, weight 0) so a healthy peer takes the VIP.
// It returns the track's name.
func trackService(h *serviceHealth, in *vrrp.Instance, name string, weight int) string {
	track := "service " + name
	h.subscribe(func(up bool, why string) { in.SetTrack(track, weight, !up, why) })
	return track
}

// autoTracked lists the services an instance tracks without being told: the
// ones listening on its VIPs that no explicit track already names.
func autoTracked(ic config.Instance, services []config.Service) []config.Service {
	if !ic.AutoTrack.Services {
		return nil
	}
	explicit := map[string]bool{}
	for _, t := range ic.Track {
		if t.Service != "" {
			explicit[t.Service] = true
		}
	}
	var out []config.Service
	for _, sc := range services {
		if explicit[sc.Name] || !sc.Listen.IsValid() {
			continue
		}
		for _, v := range ic.VIPs {
			if v.Address.Addr() == sc.Listen.Addr() {
				out = append(out, sc)
				break
			}
		}
	}
	return out
}

// quorumHooks runs a service's quorum_up / quorum_down programs
// (keepalived's virtual_server hooks) when this node's view of the service
// crosses its quorum. Only changes are reported, not the first state.
func quorumHooks(h *serviceHealth, name string, up, down *Notifier) {
	if up == nil && down == nil {
		return
	}
	first, last := true, false
	h.subscribe(func(now bool, _ string) {
		if first || now == last {
			first, last = false, now
			return
		}
		last = now
		if now && up != nil {
			up.Notify(name, "UP")
		} else if !now && down != nil {
			down.Notify(name, "DOWN")
		}
	})
}

// shareRelay gives a TCP or HTTP proxy service the daemon's event loops,
// starting them for the first such service: one set of loops, one per
// core, serves every service, rather than a set per service competing for
// the same cores. Without them (loops 0, or they cannot start) the service
// runs loops of its own. Called under Daemon.mu, before the service runs.
func (rt *runState) shareRelay(s *proxy.Service, sc config.Service, loops int) {
	if loops <= 0 || sc.Protocol == "udp" || rt.relayFailed {
		return
	}
	if rt.relay == nil {
		r, err := proxy.NewDedicatedRelay(loops)
		if err != nil {
			rt.relayFailed = true
			rt.log.Warn("proxy services run event loops of their own", "err", err)
			return
		}
		rt.relay = r
	}
	s.Relay = rt.relay
}
