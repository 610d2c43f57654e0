// Package daemon wires vigil's parts together: from a config it builds the
// VRRP instances, the health checks they track, the link watcher, the
// announcer and the notify hooks, and runs them until told to stop. It is a
// package of its own because only the daemon may know every other part;
// the parts never reach into each other (docs/design.md: data flows one way).
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/moby/ipvs"

	"vigil/api"
	"vigil/arp"
	"vigil/checks"
	"vigil/config"
	"vigil/lvs"
	"vigil/metrics"
	"vigil/proxy"
	"vigil/script"
	"vigil/vrrp"
)

// Daemon runs one node's configuration, and replaces it on Reload.
type Daemon struct {
	log *slog.Logger

	// mu serialises Reload, and Run's start with it; the fields below
	// change only under it.
	mu        sync.Mutex
	cfg       *config.Config
	instances []*vrrp.Instance // in config order
	byName    map[string]*vrrp.Instance
	services  map[string]*proxy.Service // mode: proxy services
	lvs       *lvs.Manager              // nil without mode: lvs services
	ipvs      *ipvs.Handle              // the lvs manager's, closed when Run ends
	rt        *runState                 // while Run runs
	api       *apiEndpoints             // while Run runs, once started

	metrics     *metrics.Metrics
	checkStates checkStates
	events      eventHub
	adminMu     sync.Mutex
	admin       map[string]string // "service/address" -> drain or maint, set by operators
	started     time.Time
	openFiles   openFiles // RLIMIT_NOFILE as Run found and raised it
	lastReload  *api.Reload

	// logs are the access log targets; releases what each proxy service
	// gives back when it stops; conns the client connections of all
	// proxy services, the access log's actconn.
	logs       *accessLogs
	releasesMu sync.Mutex
	releases   map[*proxy.Service]func()
	conns      atomic.Int64

	// Version is reported by the status API and vigil_build_info, Commit
	// by vigil_build_info; set them before Run.
	Version, Commit string

	// ProxyLoops, when above 0, is how many dedicated event loops
	// (proxy.NewDedicatedRelay) the TCP and HTTP proxy services share.
	// Each keeps a P while traffic flows, so the caller raises GOMAXPROCS
	// by as many first. 0: each service runs loops of its own on Go's
	// netpoller (slower; what tests of the daemon use). Set it before Run.
	ProxyLoops int
}

// New checks that this build can run everything the config asks for and
// prepares the daemon. Parts not built yet are refused by name rather than
// silently skipped: running half a config is worse than not starting.
func New(cfg *config.Config, log *slog.Logger) (*Daemon, error) {
	if err := refuseUnbuilt(cfg); err != nil {
		return nil, err
	}
	if err := checkCapabilities(cfg); err != nil {
		return nil, err
	}
	if err := checkLVSSync(cfg); err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: log, byName: map[string]*vrrp.Instance{}, admin: map[string]string{},
		logs: newAccessLogs(log), releases: map[*proxy.Service]func(){}}
	services, err := d.buildServices(cfg)
	if err != nil {
		return nil, err
	}
	lvsManager, ipvsHandle, err := buildLVS(cfg, log)
	if err != nil {
		for _, s := range services {
			d.releaseService(s)
		}
		return nil, err
	}
	d.services, d.lvs, d.ipvs = services, lvsManager, ipvsHandle
	for _, ic := range cfg.VRRP {
		in, err := vrrp.NewInstance(instanceConfig(ic), vrrp.Hooks{}, log)
		if err != nil {
			if ipvsHandle != nil {
				ipvsHandle.Close()
			}
			return nil, err
		}
		d.instances = append(d.instances, in)
		d.byName[ic.Name] = in
	}
	d.metrics = d.newMetrics()
	return d, nil
}

// ReopenLogs reopens the access log files, as logrotate asks with SIGUSR1
// after renaming them, and reconnects the syslog targets. The running
// config's targets stay as they are; it returns what could not be
// reopened (that target keeps its old file).
func (d *Daemon) ReopenLogs() error {
	err := d.logs.reopen()
	if err != nil {
		d.log.Error("access logs not all reopened", "err", err)
	} else {
		d.log.Info("access logs reopened")
	}
	return err
}

// MetricsHandler serves the Prometheus metrics.
func (d *Daemon) MetricsHandler() http.Handler { return d.metrics.Handler() }

// refuseUnbuilt names what the config asks for that this build cannot do.
func refuseUnbuilt(cfg *config.Config) error {
	return config.Runnable(cfg)
}

// Instances returns the VRRP instances, in config order.
func (d *Daemon) Instances() []*vrrp.Instance {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.instances)
}

// Services returns the mode: proxy services by name.
func (d *Daemon) Services() map[string]*proxy.Service {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.services)
}

func instanceConfig(ic config.Instance) vrrp.InstanceConfig {
	vips := make([]vrrp.VIP, len(ic.VIPs))
	for i, v := range ic.VIPs {
		dev := v.Dev
		if dev == "" {
			dev = ic.Interface
		}
		vips[i] = vrrp.VIP{Prefix: v.Address, Dev: dev, Label: v.Label, Scope: v.Scope}
	}
	return vrrp.InstanceConfig{
		Name: ic.Name, Interface: ic.Interface, VRID: uint8(ic.VRID), Version: ic.Version,
		Priority: uint8(ic.Priority), AdvertInterval: ic.AdvertInterval.D(),
		Preempt: ic.Preempt, PreemptDelay: ic.PreemptDelay.D(),
		UnicastSource: ic.UnicastSource, UnicastPeers: ic.UnicastPeers, AuthPass: ic.AuthPass,
		VIPs: vips,
		GARP: vrrp.GARP{
			Delay: ic.GARP.Delay.D(), Repeat: ic.GARP.Repeat, Interval: ic.GARP.Interval.D(),
			Refresh: ic.GARP.Refresh.D(), RefreshRepeat: ic.GARP.RefreshRepeat,
		},
	}
}

// runState holds what Run starts, which outlives any one config: the
// link watcher, the check engine, the announcers, the notify hooks, and
// the running parts (instances, services), each stoppable on its own.
type runState struct {
	ctx    context.Context // Run's; parts run under children of it
	cancel context.CancelFunc
	log    *slog.Logger
	cred   *syscall.Credential

	links    *linkWatcher
	engine   *checks.Engine
	announce *announcers

	hookCtx   context.Context
	hooksWG   sync.WaitGroup
	notifyMu  sync.Mutex
	notifiers map[string]*Notifier
	alerts    *alerting

	parts    sync.WaitGroup
	errMu    sync.Mutex
	errs     []error
	stops    map[any]func() // *vrrp.Instance or *proxy.Service -> stop and wait
	wiring   *wiring
	lvsStops func()
	lvsSync  *lvsSyncer // while lvs.sync is configured

	// relay is the event loops every TCP and HTTP proxy service shares,
	// started for the first one (shareRelay); closed when Run ends.
	relay       *proxy.Relay
	relayFailed bool
}

// notifier returns the one Notifier of a program, started on first use;
// notify hooks outlive reloads, so a program keeps its queue and order.
func (rt *runState) notifier(program string, timeout time.Duration) *Notifier {
	if program == "" {
		return nil
	}
	rt.notifyMu.Lock()
	defer rt.notifyMu.Unlock()
	n, ok := rt.notifiers[program]
	if !ok {
		n = NewNotifier(program, timeout, rt.cred, rt.log)
		rt.notifiers[program] = n
		rt.hooksWG.Go(func() { n.Run(rt.hookCtx) })
	}
	return n
}

// start runs fn as a part until its own stop or Run's end. A fatal part's
// error stops the daemon (at start-up nothing half-working should run);
// a part a reload started only logs it, since the rest is serving.
func (rt *runState) start(name string, fatal bool, fn func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(rt.ctx)
	done := make(chan struct{})
	rt.parts.Go(func() {
		defer close(done)
		if err := fn(ctx); err != nil {
			if fatal {
				rt.fail(fmt.Errorf("%s: %w", name, err))
				return
			}
			rt.log.Error("part stopped on error", "part", name, "err", err)
		}
	})
	return func() { cancel(); <-done }
}

// fail records an error that stops the daemon, and stops it.
func (rt *runState) fail(err error) {
	rt.errMu.Lock()
	rt.errs = append(rt.errs, err)
	rt.errMu.Unlock()
	rt.cancel()
}

// Run runs every part until ctx ends, then shuts down gracefully: masters
// resign with priority 0 so a backup takes over after Skew_Time, VIPs are
// removed, and queued notify hooks run. It returns an error when a part
// cannot start; the others are stopped then too.
func (d *Daemon) Run(ctx context.Context) error {
	d.mu.Lock()
	cred, err := script.Credential(d.cfg.ScriptUser)
	if err != nil {
		d.mu.Unlock()
		return err
	}
	if d.ipvs != nil {
		defer func() { d.mu.Lock(); d.ipvs.Close(); d.mu.Unlock() }()
	}
	d.started = time.Now()
	d.openFiles = d.raiseOpenFilesLogged()
	d.raiseSchedPriorityLogged()
	// The parts run under a context of their own, not the caller's: on
	// stop the instances go first and the services after them (below).
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	hookCtx, stopHooks := context.WithCancel(context.Background())
	rt := &runState{
		ctx: runCtx, cancel: cancel, log: d.log, cred: cred,
		links:     newLinkWatcher(d.log),
		engine:    checks.NewEngine(d.log, checks.Options{ScriptUser: d.cfg.ScriptUser, OnProbe: d.observeProbe}),
		announce:  newAnnouncers(d.log),
		hookCtx:   hookCtx,
		notifiers: map[string]*Notifier{},
		stops:     map[any]func(){},
	}
	// Hooks drain last: after every part has stopped and queued its events.
	defer func() { stopHooks(); rt.hooksWG.Wait() }()
	defer rt.announce.Close()
	dispatcher, err := d.newDispatcher(d.cfg)
	if err != nil {
		d.mu.Unlock()
		return err
	}
	// Alerts too, flushed after the parts have stopped (deferred calls
	// run once Run's body is done).
	rt.alerts = d.startAlerts(dispatcher)
	defer rt.alerts.stop()

	d.applyLVSSync(rt, d.cfg)
	rt.wiring = d.wire(rt, d.cfg)
	rt.wiring.startHealth()
	rt.start("links", true, rt.links.Run)
	rt.start("checks", true, rt.engine.Run)
	for _, in := range d.instances {
		rt.stops[in] = rt.start("vrrp "+in.Name(), true, in.Run)
	}
	for name, s := range d.services {
		rt.shareRelay(s, d.cfg.Services[serviceIndex(d.cfg, name)], d.ProxyLoops)
		rt.stops[s] = rt.start("service "+name, true, d.runService(s))
	}
	if d.lvs != nil {
		rt.lvsStops = rt.start("lvs", true, d.lvs.Run)
	}
	if err := d.startAPI(rt, d.cfg.API); err != nil {
		rt.fail(err)
	}
	d.rt = rt
	d.log.Info("vigil running", "node", d.cfg.Node, "instances", len(d.instances), "services", len(d.services), "config", d.cfg.File)
	d.mu.Unlock()
	d.notifySystemd("READY=1\nSTATUS=running")
	watchdogCtx, stopWatchdog := context.WithCancel(runCtx)
	var watchdog sync.WaitGroup
	if interval := watchdogInterval(); interval > 0 {
		d.log.Info("feeding the systemd watchdog while the VRRP loops answer", "watchdog", interval)
		watchdog.Go(func() { runWatchdog(watchdogCtx, interval, d.aliveCheckers, sdNotify, d.log) })
	}

	select {
	case <-ctx.Done():
	case <-runCtx.Done(): // a part failed to start
	}
	// The watchdog stops with the active state: systemd does not enforce
	// it while the unit stops, and the loops stopping are not stuck.
	stopWatchdog()
	watchdog.Wait()
	d.notifySystemd("STOPPING=1")
	d.mu.Lock() // no reload runs while the parts stop
	d.rt = nil
	var resign sync.WaitGroup
	for _, in := range d.instances {
		if stop := rt.stops[in]; stop != nil {
			resign.Go(stop)
		}
	}
	d.mu.Unlock()
	// Instances first: a master resigns and keeps its VIPs until its
	// successor is heard, and the services keep accepting meanwhile, so a
	// client connecting to the VIP during a graceful stop is never refused.
	// Then everything else, and the services drain their connections.
	resign.Wait()
	cancel()
	rt.parts.Wait()
	if rt.relay != nil {
		rt.relay.Close()
	}
	rt.wiring.stop()
	rt.errMu.Lock()
	defer rt.errMu.Unlock()
	return errors.Join(rt.errs...)
}

// aliveCheckers are the running VRRP instances, for the watchdog.
func (d *Daemon) aliveCheckers() []aliveChecker {
	var out []aliveChecker
	for _, in := range d.Instances() {
		out = append(out, in)
	}
	return out
}

func (d *Daemon) notifySystemd(state string) {
	if err := sdNotify(state); err != nil {
		d.log.Warn("cannot notify systemd", "err", err)
	}
}

// wiring is what connects the parts for one config: check watches feeding
// backends and tracks, link subscriptions, service health fan-out, hooks.
// A reload builds the next wiring before stopping this one, so check
// probers carry on with their state (checks.Engine.Watch).
type wiring struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	healthCtx    context.Context
	healthCancel context.CancelFunc
	healthWG     sync.WaitGroup

	unsub  []func()
	health map[string]*serviceHealth
	tracks map[*vrrp.Instance][]string // track names each instance has under this config
	checks map[metrics.CheckState]bool // the check consumers of this config
}

// startHealth starts the service health fan-out. Each service's change
// channel has one reader, so this runs only once the previous wiring has
// stopped; every subscriber gets the current health first.
func (w *wiring) startHealth() {
	for _, h := range w.health {
		h.run(w.healthCtx, &w.healthWG)
	}
}

// stopHealth ends the service health fan-out only; stop ends the rest.
func (w *wiring) stopHealth() {
	w.healthCancel()
	w.healthWG.Wait()
}

func (w *wiring) stop() {
	w.stopHealth()
	w.cancel()
	for _, u := range w.unsub {
		u()
	}
	w.wg.Wait()
}

// wire connects d's current parts as cfg says. d.mu is held.
func (d *Daemon) wire(rt *runState, cfg *config.Config) *wiring {
	ctx, cancel := context.WithCancel(rt.ctx)
	w := &wiring{ctx: ctx, cancel: cancel, health: map[string]*serviceHealth{}, tracks: map[*vrrp.Instance][]string{}, checks: map[metrics.CheckState]bool{}}
	w.healthCtx, w.healthCancel = context.WithCancel(ctx)
	checkState := func(check, target, consumer string) func(up bool) {
		w.checks[metrics.CheckState{Check: check, Target: target, Consumer: consumer}] = true
		return func(up bool) { d.checkStates.set(check, target, consumer, up) }
	}

	groups := newSyncGroups(cfg.SyncGroups, d.byName, d.log)
	for _, g := range cfg.SyncGroups {
		groups.setNotifier(g.Name, rt.notifier(g.Notify, 10*time.Second))
	}
	for _, sc := range cfg.Services {
		if sc.Mode == "lvs" {
			w.health[sc.Name] = &serviceHealth{s: lvsHealth{m: d.lvs, name: sc.Name}}
		} else {
			w.health[sc.Name] = &serviceHealth{s: d.services[sc.Name]}
		}
	}
	lvsSync := rt.lvsSync
	for i, ic := range cfg.VRRP {
		in := d.instances[i]
		notify := rt.notifier(ic.Notify, ic.NotifyTimeout.D())
		in.SetHooks(vrrp.Hooks{
			Announce: rt.announce.Announce,
			OnTransition: func(name string, t vrrp.Transition, prio uint8) {
				d.metrics.ObserveTransition(name, t.From, t.To)
				d.events.publish(api.Event{Kind: api.KindVRRP, Subject: name, From: stateName(t.From), To: stateName(t.To), Reason: t.Reason})
				if notify != nil {
					notify.Notify("INSTANCE", name, notifyState(t.To), strconv.Itoa(int(prio)))
				}
				groups.observe(name, t)
				if lvsSync != nil {
					lvsSync.observe(name, t.To)
				}
			},
			OnFault: groups.observeFault,
		})
		w.unsub = append(w.unsub, rt.links.Subscribe(ic.Interface, in.SetLink))
		for _, t := range ic.Track {
			switch {
			case t.Check != "":
				watch := rt.engine.Watch(t.Check, checks.Target{Check: *cfg.Checks[t.Check]})
				name, weight := "check "+t.Check, t.Weight
				w.tracks[in] = append(w.tracks[in], name)
				record := checkState(t.Check, "", "vrrp "+ic.Name)
				follow(ctx, &w.wg, watch, func(ev checks.Event) {
					record(ev.Up)
					in.SetTrack(name, weight, !ev.Up, ev.Reason)
				})
			case t.Service != "":
				w.tracks[in] = append(w.tracks[in], trackService(w.health[t.Service], in, t.Service, t.Weight))
			case t.Interface != "":
				name, weight := "interface "+t.Interface, t.Weight
				w.tracks[in] = append(w.tracks[in], name)
				w.unsub = append(w.unsub, rt.links.Subscribe(t.Interface, func(up bool) {
					why := "link up"
					if !up {
						why = "link down"
					}
					in.SetTrack(name, weight, !up, why)
				}))
			}
		}
		for _, sc := range autoTracked(ic, cfg.Services) {
			w.tracks[in] = append(w.tracks[in], trackService(w.health[sc.Name], in, sc.Name, ic.AutoTrack.Weight))
		}
	}
	for _, sc := range cfg.Services {
		var set func(addr string, up bool, reason string)
		if sc.Mode == "lvs" {
			sc, m := sc, d.lvs
			// Through lvsBackendUp, so an operator's drain holds.
			set = func(addr string, _ bool, _ string) { m.SetBackendUp(sc.Name, addr, d.lvsBackendUp(sc, addr)) }
		} else {
			set = d.services[sc.Name].SetBackendUp
		}
		name := sc.Name
		records := map[string]func(bool){}
		for _, b := range allBackends(sc) {
			records[b.Address] = checkState(name, b.Address, "service "+name)
		}
		last := map[string]bool{}
		var lastMu sync.Mutex
		gateBackends(ctx, &w.wg, rt.engine, sc, func(addr string, up bool, reason string) {
			records[addr](up)
			set(addr, up, reason)
			lastMu.Lock()
			was, known := last[addr]
			last[addr] = up
			lastMu.Unlock()
			if known && was != up {
				d.events.publish(api.Event{Kind: api.KindBackend, Subject: name + "/" + addr, From: upName(was), To: upName(up), Reason: reason})
			}
		})
		first, was := true, false
		w.health[name].subscribe(func(up bool, why string) {
			if !first && up != was {
				d.events.publish(api.Event{Kind: api.KindService, Subject: name, From: upName(was), To: upName(up), Reason: why})
			}
			first, was = false, up
		})
		quorumHooks(w.health[sc.Name], sc.Name, rt.notifier(sc.QuorumUp, 10*time.Second), rt.notifier(sc.QuorumDown, 10*time.Second))
	}
	return w
}

func upName(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

// notifyState is keepalived's spelling of states for notify scripts.
func notifyState(s vrrp.State) string {
	if s == vrrp.Initialize {
		return "STOP"
	}
	return s.String()
}

// announcers keeps one arp.Announcer per device, opened on first use.
type announcers struct {
	log *slog.Logger
	mu  sync.Mutex
	by  map[string]*arp.Announcer
}

func newAnnouncers(log *slog.Logger) *announcers {
	return &announcers{log: log, by: map[string]*arp.Announcer{}}
}

func (a *announcers) Announce(ctx context.Context, dev string, addrs []netip.Addr, repeat int, interval time.Duration) (int, error) {
	a.mu.Lock()
	an, ok := a.by[dev]
	if !ok {
		var err error
		if an, err = arp.NewAnnouncer(dev); err != nil {
			a.mu.Unlock()
			return 0, err
		}
		a.by[dev] = an
	}
	a.mu.Unlock()
	return an.AnnounceBurst(ctx, addrs, arp.Burst{Repeat: repeat, Interval: interval})
}

func (a *announcers) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, an := range a.by {
		an.Close()
	}
}

// syncGroups glues the pure vrrp.Group coordinators to running instances.
// Instances report from their own goroutines, so one lock orders them.
type syncGroups struct {
	log      *slog.Logger
	mu       sync.Mutex
	groupOf  map[string]string
	groups   map[string]*vrrp.Group
	notify   map[string]*Notifier
	byName   map[string]*vrrp.Instance
	reported map[string]vrrp.State
}

func newSyncGroups(cfg []config.SyncGroup, byName map[string]*vrrp.Instance, log *slog.Logger) *syncGroups {
	s := &syncGroups{
		log: log, groupOf: map[string]string{}, groups: map[string]*vrrp.Group{},
		notify: map[string]*Notifier{}, byName: byName, reported: map[string]vrrp.State{},
	}
	for _, g := range cfg {
		s.groups[g.Name] = vrrp.NewGroup(g.Members)
		for _, m := range g.Members {
			s.groupOf[m] = g.Name
		}
	}
	return s
}

func (s *syncGroups) setNotifier(group string, n *Notifier) {
	if n != nil {
		s.notify[group] = n
	}
}

func (s *syncGroups) observe(member string, t vrrp.Transition) {
	s.mu.Lock()
	name, ok := s.groupOf[member]
	if !ok {
		s.mu.Unlock()
		return
	}
	forced := s.groups[name].Observe(member, t)
	// The group's state is its members' common state: report it once when
	// all members agree on a new one.
	var groupState *vrrp.State
	all := true
	for m, g := range s.groupOf {
		if g != name {
			continue
		}
		st := s.byName[m].Status().State
		if m == member {
			st = t.To
		}
		if st != t.To {
			all = false
		}
	}
	if all && s.reported[name] != t.To {
		s.reported[name] = t.To
		st := t.To
		groupState = &st
	}
	n := s.notify[name]
	s.mu.Unlock()
	s.force(forced)
	if groupState != nil {
		s.log.Info("sync group transition", "group", name, "to", groupState.String())
		if n != nil {
			n.Notify("GROUP", name, notifyState(*groupState), "0")
		}
	}
}

func (s *syncGroups) observeFault(member string, fault bool) {
	s.mu.Lock()
	name, ok := s.groupOf[member]
	if !ok {
		s.mu.Unlock()
		return
	}
	forced := s.groups[name].ObserveFault(member, fault)
	s.mu.Unlock()
	s.force(forced)
}

// force delivers a group's orders outside the lock: Force posts to another
// instance's goroutine, which may be reporting to the group itself.
func (s *syncGroups) force(forced []vrrp.Forced) {
	for _, f := range forced {
		s.byName[f.Member].Force(f.State, f.Reason)
	}
}
