package daemon

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/moby/ipvs"

	"vigil/alerts"
	"vigil/config"
	"vigil/lvs"
	"vigil/metrics"
	"vigil/proxy"
	"vigil/vrrp"
)

// Apply replaces the running config with cfg (already loaded and
// validated) and applies only the difference:
//
//   - an unchanged VRRP instance keeps running untouched (state, VIPs,
//     timers); a changed one is reconfigured in place when it can be
//     (vrrp.Instance.Reconfigure: priority, VIPs, timers, peers...), and
//     replaced otherwise (a new VRID or interface is a new router);
//   - an unchanged service keeps its socket and connections; a changed
//     proxy service is swapped for a new one that takes over the listening
//     socket (no connection refused meanwhile), the old one draining its
//     established connections; a service moving between proxy and lvs mode
//     has its IPVS service removed or added without the VIP moving;
//   - check probers carry on with their state, so backends and tracks do
//     not flap.
//
// Everything that can fail is tried before anything running changes: new
// services are built and their sockets bound, new instances made, IPVS
// opened. If any of that fails Reload returns the error and the running
// config stays as it was. An error from the commit phase (a handoff that
// failed, say) means the new config was applied with that exception.
// Reload is the same for the config file the daemon runs.
func (d *Daemon) Apply(ctx context.Context, cfg *config.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	rt := d.rt
	if rt == nil || rt.ctx.Err() != nil {
		return errors.New("reload: the daemon is not running")
	}
	d.notifySystemd(reloadingState())
	defer d.notifySystemd("READY=1\nSTATUS=running")
	p, err := d.plan(ctx, cfg, false)
	if err != nil {
		// Logged here, not by the caller: only here is it known that
		// nothing changed (a commit error below means the opposite).
		d.log.Error("reload refused, keeping the running config", "config", cfg.File, "err", err)
		return fmt.Errorf("reload %s: %w (the running config is unchanged)", cfg.File, err)
	}
	err = d.commit(rt, p)
	d.log.Info("config reloaded", "config", cfg.File,
		"instances_kept", p.instancesKept, "instances_reconfigured", len(p.reconfigure),
		"instances_new", len(p.newInstances), "instances_stopped", len(p.stopInstances),
		"services_kept", p.servicesKept, "services_new", len(p.startServices), "services_stopped", len(p.stopServices))
	if err != nil {
		d.log.Error("reload applied with errors", "config", cfg.File, "err", err)
		return fmt.Errorf("reload %s: applied, except: %w", cfg.File, err)
	}
	return nil
}

// reloadPlan is a reload prepared and checked, not yet applied.
type reloadPlan struct {
	cfg *config.Config
	old *config.Config // the config it replaces

	instances     []*vrrp.Instance // new config order
	byName        map[string]*vrrp.Instance
	reconfigure   map[*vrrp.Instance]vrrp.InstanceConfig
	replaced      map[string]error // instances stopped for a new one, by name: why
	newInstances  []*vrrp.Instance
	stopInstances []*vrrp.Instance // removed or replaced
	instancesKept int

	services      map[string]*proxy.Service
	newServices   []*proxy.Service // made by the plan: released if it is refused
	release       func(*proxy.Service)
	startServices []serviceStart
	stopServices  []*proxy.Service
	servicesKept  int

	lvs       *lvs.Manager // new when the old config had none
	ipvs      *ipvs.Handle
	updateLVS bool

	// api is the api: section made ready: the token (re)read, so a
	// rotated token_file takes effect, and moved listeners bound.
	api *apiChange

	// alerts replaces the running alert senders when replaceAlerts is
	// set (nil when the new config has none).
	alerts        *alerts.Dispatcher
	replaceAlerts bool
}

// serviceStart is a new proxy service and where its socket comes from.
type serviceStart struct {
	s    *proxy.Service
	name string
	from *proxy.Service // hand off from this old service, or
	sock proxy.Socket   // serve on this socket, bound in advance
}

// discard undoes what plan prepared, for a reload that is refused.
func (p *reloadPlan) discard() {
	for _, st := range p.startServices {
		st.sock.Close()
	}
	for _, s := range p.newServices {
		p.release(s)
	}
	if p.ipvs != nil {
		p.ipvs.Close()
	}
	p.api.discard()
}

// plan builds and checks everything the new config needs. d.mu is held.
// dry (vigil reload --plan) changes nothing in place that discard would
// not undo: the socket's group is checked, not set.
func (d *Daemon) plan(ctx context.Context, cfg *config.Config, dry bool) (p *reloadPlan, err error) {
	if err := refuseUnbuilt(cfg); err != nil {
		return nil, err
	}
	if err := checkCapabilities(cfg); err != nil {
		return nil, err
	}
	if err := checkLVSSync(cfg); err != nil {
		return nil, err
	}
	p = &reloadPlan{
		cfg: cfg, old: d.cfg, byName: map[string]*vrrp.Instance{},
		reconfigure: map[*vrrp.Instance]vrrp.InstanceConfig{}, replaced: map[string]error{},
		services: map[string]*proxy.Service{},
		release:  d.releaseService,
	}
	// The plan as built so far: an error return sets p to nil before this
	// deferred call runs, so it must not discard through p.
	built := p
	defer func() {
		if err != nil {
			built.discard()
		}
	}()

	oldInstances := map[string]config.Instance{}
	for _, ic := range d.cfg.VRRP {
		oldInstances[ic.Name] = ic
	}
	for _, ic := range cfg.VRRP {
		want := instanceConfig(ic)
		in, existed := d.byName[ic.Name]
		same := existed && reflect.DeepEqual(instanceConfig(oldInstances[ic.Name]), want)
		var why error // why an instance cannot be reconfigured in place
		if existed && !same {
			why = in.CanReconfigure(want)
		}
		switch {
		case same:
			p.instancesKept++
		case existed && why == nil:
			p.reconfigure[in] = want
		default:
			if existed {
				p.stopInstances = append(p.stopInstances, in)
				p.replaced[ic.Name] = why
			}
			if in, err = vrrp.NewInstance(want, vrrp.Hooks{}, d.log); err != nil {
				return nil, err
			}
			p.newInstances = append(p.newInstances, in)
		}
		p.instances = append(p.instances, in)
		p.byName[ic.Name] = in
	}
	for name, in := range d.byName {
		if _, ok := p.byName[name]; !ok {
			p.stopInstances = append(p.stopInstances, in)
		}
	}

	// Services: kept when their config is unchanged; otherwise a new
	// Service, whose socket comes from the old service on the same address
	// (handoff), or is bound now so a busy address refuses the reload.
	oldServices := map[string]config.Service{}
	for _, sc := range d.cfg.Services {
		oldServices[sc.Name] = sc
	}
	replaced := map[string]bool{} // old proxy services not kept
	for name := range d.services {
		replaced[name] = true
	}
	for _, sc := range cfg.Services {
		if sc.Mode != "proxy" {
			continue
		}
		if old, ok := d.services[sc.Name]; ok && reflect.DeepEqual(oldServices[sc.Name], sc) {
			p.services[sc.Name] = old
			delete(replaced, sc.Name)
			p.servicesKept++
		}
	}
	handedOff := map[string]bool{}
	for _, sc := range cfg.Services {
		if sc.Mode != "proxy" || p.services[sc.Name] != nil {
			continue
		}
		s, err := d.newService(cfg, serviceIndex(cfg, sc.Name))
		if err != nil {
			return nil, err
		}
		p.newServices = append(p.newServices, s)
		p.services[sc.Name] = s
		st := serviceStart{s: s, name: sc.Name}
		for name := range replaced {
			if !handedOff[name] && proxy.CanHandoff(oldServices[name], sc) {
				st.from, handedOff[name] = d.services[name], true
				break
			}
		}
		if st.from == nil {
			if st.sock, err = proxy.Bind(ctx, sc); err != nil {
				return nil, err
			}
		}
		p.startServices = append(p.startServices, st)
	}
	for name := range replaced {
		p.stopServices = append(p.stopServices, d.services[name])
	}

	// LVS: validated now, applied in commit.
	hasLVS := false
	for _, sc := range cfg.Services {
		hasLVS = hasLVS || sc.Mode == "lvs"
	}
	switch {
	case d.lvs != nil:
		if _, err := lvs.Desired(cfg.Services, nil); err != nil {
			return nil, err
		}
		p.updateLVS = true
	case hasLVS:
		if p.lvs, p.ipvs, err = buildLVS(cfg, d.log); err != nil {
			return nil, err
		}
	}
	if d.api != nil {
		if p.api, err = prepareAPI(d.api.cfg, cfg.API, dry); err != nil {
			return nil, err
		}
	}
	if !reflect.DeepEqual(cfg.Alerts, d.cfg.Alerts) || cfg.Node != d.cfg.Node {
		if p.alerts, err = d.newDispatcher(cfg); err != nil {
			return nil, err
		}
		p.replaceAlerts = true
	}
	return p, nil
}

// commit applies a plan. d.mu is held. It goes on past errors, applying
// as much of the new config as it can, and returns them joined.
func (d *Daemon) commit(rt *runState, p *reloadPlan) error {
	var errs []error
	for in, cfg := range p.reconfigure {
		if err := in.Reconfigure(cfg); err != nil {
			errs = append(errs, err)
		}
	}
	// Removed and replaced instances stop first (gracefully: a master
	// resigns), so a replacement never runs beside its predecessor.
	for _, in := range p.stopInstances {
		d.log.Info("stopping VRRP instance removed or replaced by the reload", "instance", in.Name())
		rt.stops[in]()
		delete(rt.stops, in)
	}

	switch {
	case p.lvs != nil:
		d.lvs, d.ipvs = p.lvs, p.ipvs
		rt.lvsStops = rt.start("lvs", false, d.lvs.Run)
	case p.updateLVS:
		// The old wiring's health fan-out stops first: a service leaving
		// the manager (to mode: proxy, or removed) reads as down there
		// ("not an lvs service"), and reported to an instance tracking it
		// that would drop its priority, enough to move the VIP to a peer.
		// The new wiring starts with the current health.
		rt.wiring.stopHealth()
		if err := d.lvs.Update(p.cfg.Services); err != nil {
			errs = append(errs, err)
		}
	}

	d.cfg, d.instances, d.byName, d.services = p.cfg, p.instances, p.byName, p.services
	// lvs.sync changed or not, the syncer follows the instance named now.
	d.applyLVSSync(rt, p.cfg)
	d.applyAdmin(p.cfg, p.services)

	// The new wiring subscribes before the old lets go, so check probers
	// keep their state, and new services learn their backends' health
	// before they take over.
	next := d.wire(rt, p.cfg)
	d.awaitBackends(p)
	d.awaitLVS(p)
	// The old wiring stops reporting service health before the swap: a
	// replaced service saying "handed off" must not count as down for the
	// instances tracking it.
	rt.wiring.stopHealth()

	// New proxy services take their sockets; old ones drain in the
	// background, for up to their Drain, without holding the reload.
	for _, st := range p.startServices {
		sock := st.sock
		if st.from != nil {
			var err error
			if sock, err = st.from.Handoff(); err != nil {
				// The old service had lost its socket: bind afresh.
				if sock, err = proxy.Bind(rt.ctx, p.cfg.Services[serviceIndex(p.cfg, st.name)]); err != nil {
					errs = append(errs, err)
					continue
				}
			}
		}
		st.s.Adopt(sock)
	}
	for _, s := range p.stopServices {
		stop := rt.stops[s]
		delete(rt.stops, s)
		go stop()
	}
	for _, st := range p.startServices {
		rt.shareRelay(st.s, p.cfg.Services[serviceIndex(p.cfg, st.name)], d.ProxyLoops)
		rt.stops[st.s] = rt.start("service "+st.name, false, d.runService(st.s))
	}
	d.awaitListening(p)

	rt.wiring.stop()
	rt.wiring = next
	d.checkStates.retain(func(k metrics.CheckState) bool { return next.checks[k] })
	for _, in := range d.instances {
		in.RetainTracks(next.tracks[in])
	}
	next.startHealth()

	for _, in := range p.newInstances {
		rt.stops[in] = rt.start("vrrp "+in.Name(), false, in.Run)
	}
	if p.api != nil {
		d.applyAPI(rt, p.api)
	}
	if p.replaceAlerts {
		// The old senders flush in the background, for up to alertFlush.
		rt.alerts.replace(p.alerts)
	}
	return errors.Join(errs...)
}

// awaitBackends holds a changed service back until one of its backends is
// up, for as long as a first check of a new backend takes (bounded): a
// service swapped in before it knows any healthy backend would turn
// clients away that the old one was serving.
func (d *Daemon) awaitBackends(p *reloadPlan) {
	for _, st := range p.startServices {
		sc := p.cfg.Services[serviceIndex(p.cfg, st.name)]
		if sc.Check == nil || len(sc.Backends) == 0 {
			continue
		}
		limit := firstVerdictTime(sc.Check)
		if !awaitHealth(st.s.HealthChanges(), func() bool { return st.s.BackendsUp() > 0 }, limit) {
			d.log.Warn("service swapped in with no backend up yet", "service", st.name, "waited", limit)
		}
	}
}

// awaitLVS holds the reload, like awaitBackends, until lvs services that
// are new to the manager (or changed) have their backends' health: the
// manager starts them with every backend down, and the check verdicts
// reach it from the new wiring's goroutines.
func (d *Daemon) awaitLVS(p *reloadPlan) {
	if d.lvs == nil {
		return
	}
	old := map[string]config.Service{}
	for _, sc := range p.old.Services {
		old[sc.Name] = sc
	}
	for _, sc := range p.cfg.Services {
		if sc.Mode != "lvs" || sc.Check == nil || reflect.DeepEqual(old[sc.Name], sc) {
			continue
		}
		ready := func() bool { up, _ := d.lvs.Health(sc.Name); return up }
		awaitHealth(d.lvs.HealthChanges(sc.Name), ready, firstVerdictTime(sc.Check))
	}
}

// awaitListening waits (briefly: the sockets are bound already) until the
// new services serve, so the new wiring's first health report does not
// show a service that is merely starting as down.
func (d *Daemon) awaitListening(p *reloadPlan) {
	deadline := time.Now().Add(2 * time.Second)
	for _, st := range p.startServices {
		if !awaitHealth(st.s.HealthChanges(), func() bool { return st.s.Stats().Listening }, time.Until(deadline)) {
			d.log.Warn("service not listening yet after the reload", "service", st.name)
			return
		}
	}
}

// firstVerdictTime bounds how long a new backend's first check verdicts
// take: rise probes, a timeout, a second of slack; at most 10 s.
func firstVerdictTime(c *config.Check) time.Duration {
	return min(c.Interval.D()*time.Duration(max(c.Rise, 1))+c.Timeout.D()+time.Second, 10*time.Second)
}

// awaitHealth waits until ready holds, looking again on every signal of a
// service's health channel, for at most limit; it reports whether ready
// held. The reload calls it before the new wiring's health fan-out starts,
// so the channel has no other reader, and the fan-out begins with the
// current state: taking signals here loses none.
func awaitHealth(changes <-chan struct{}, ready func() bool, limit time.Duration) bool {
	timeout := time.NewTimer(max(limit, 0))
	defer timeout.Stop()
	for !ready() {
		select {
		case <-changes:
		case <-timeout.C:
			return ready()
		}
	}
	return true
}

func hasBackend(cfg *config.Config, service, address string) bool {
	for _, sc := range cfg.Services {
		if sc.Name == service {
			for _, b := range allBackends(sc) {
				if b.Address == address {
					return true
				}
			}
		}
	}
	return false
}

func serviceIndex(cfg *config.Config, name string) int {
	for i, sc := range cfg.Services {
		if sc.Name == name {
			return i
		}
	}
	return -1
}
