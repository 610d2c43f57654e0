// Package daemon wires vigil's parts together: from a config it builds the
// VRRP instances, the health checks they track, the link watcher, the
// announcer and the notify hooks, and runs them until told to stop. It is a
// package of its own because only the daemon may know every other part;
// the parts never reach into each other (DESIGN.md: data flows one way).
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/moby/ipvs"

	"vigil/arp"
	"vigil/checks"
	"vigil/config"
	"vigil/lvs"
	"vigil/proxy"
	"vigil/script"
	"vigil/vrrp"
)

// Daemon runs one node's configuration.
type Daemon struct {
	cfg       *config.Config
	log       *slog.Logger
	instances []*vrrp.Instance
	byName    map[string]*vrrp.Instance
	services  map[string]*proxy.Service
	lvs       *lvs.Manager // nil without mode: lvs services
	ipvs      *ipvs.Handle // the lvs manager's, closed when Run ends
}

// New checks that this build can run everything the config asks for and
// prepares the daemon. Parts not built yet are refused by name rather than
// silently skipped: running half a config is worse than not starting.
func New(cfg *config.Config, log *slog.Logger) (*Daemon, error) {
	if len(cfg.VRRP) == 0 && len(cfg.Services) == 0 {
		return nil, fmt.Errorf("%s: nothing to run: no vrrp instances and no services", cfg.File)
	}
	if cfg.LVS.Sync != nil {
		return nil, fmt.Errorf("%s: lvs.sync needs LVS mode, which this build does not have yet", cfg.File)
	}
	if len(cfg.Alerts.Webhooks) > 0 || cfg.Alerts.Email != nil {
		return nil, fmt.Errorf("%s: alerts are not built yet; remove the alerts: section", cfg.File)
	}
	services, err := buildServices(cfg, log)
	if err != nil {
		return nil, err
	}
	lvsManager, ipvsHandle, err := buildLVS(cfg, log)
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: log, byName: map[string]*vrrp.Instance{}, services: services, lvs: lvsManager, ipvs: ipvsHandle}
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
	return d, nil
}

// Instances returns the running VRRP instances, in config order.
func (d *Daemon) Instances() []*vrrp.Instance { return d.instances }

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

// Run runs every part until ctx ends, then shuts down gracefully: masters
// resign with priority 0 so a backup takes over after Skew_Time, VIPs are
// removed, and queued notify hooks run. It returns an error when a part
// cannot start; the others are stopped then too.
func (d *Daemon) Run(ctx context.Context) error {
	cred, err := script.Credential(d.cfg.ScriptUser)
	if err != nil {
		return err
	}
	if d.ipvs != nil {
		defer d.ipvs.Close()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var bg sync.WaitGroup // parts that outlive the instances (hooks must drain last)
	hookCtx, stopHooks := context.WithCancel(context.Background())
	defer func() { stopHooks(); bg.Wait() }()

	links := newLinkWatcher(d.log)
	engine := checks.NewEngine(d.log, checks.Options{ScriptUser: d.cfg.ScriptUser})
	announce := newAnnouncers(d.log)
	defer announce.Close()

	notifiers := map[string]*Notifier{}
	notifierFor := func(program string, timeout time.Duration) *Notifier {
		if program == "" {
			return nil
		}
		n, ok := notifiers[program]
		if !ok {
			n = NewNotifier(program, timeout, cred, d.log)
			notifiers[program] = n
			bg.Add(1)
			go func() { defer bg.Done(); n.Run(hookCtx) }()
		}
		return n
	}

	groups := newSyncGroups(d.cfg.SyncGroups, d.byName, d.log)
	for _, g := range d.cfg.SyncGroups {
		groups.setNotifier(g.Name, notifierFor(g.Notify, 10*time.Second))
	}

	health := map[string]*serviceHealth{}
	for name, s := range d.services {
		health[name] = &serviceHealth{s: s}
	}
	for _, sc := range d.cfg.Services {
		if sc.Mode == "lvs" {
			health[sc.Name] = &serviceHealth{s: lvsHealth{m: d.lvs, name: sc.Name}}
		}
	}
	for i, ic := range d.cfg.VRRP {
		in := d.instances[i]
		notify := notifierFor(ic.Notify, ic.NotifyTimeout.D())
		in.SetHooks(vrrp.Hooks{
			Announce: announce.Announce,
			OnTransition: func(name string, t vrrp.Transition, prio uint8) {
				if notify != nil {
					notify.Notify("INSTANCE", name, notifyState(t.To), strconv.Itoa(int(prio)))
				}
				groups.observe(name, t)
			},
			OnFault: groups.observeFault,
		})
		links.Subscribe(ic.Interface, in.SetLink)
		for _, t := range ic.Track {
			switch {
			case t.Check != "":
				w := engine.Watch(t.Check, checks.Target{Check: *d.cfg.Checks[t.Check]})
				name, weight := "check "+t.Check, t.Weight
				follow(ctx, &bg, w, func(ev checks.Event) { in.SetTrack(name, weight, !ev.Up, ev.Reason) })
			case t.Service != "":
				trackService(health[t.Service], in, t.Service, t.Weight)
			case t.Interface != "":
				name, weight := "interface "+t.Interface, t.Weight
				links.Subscribe(t.Interface, func(up bool) {
					why := "link up"
					if !up {
						why = "link down"
					}
					in.SetTrack(name, weight, !up, why)
				})
			}
		}
	}

	for i, ic := range d.cfg.VRRP {
		for _, sc := range autoTracked(ic, d.cfg.Services) {
			trackService(health[sc.Name], d.instances[i], sc.Name, ic.AutoTrack.Weight)
		}
	}
	for _, sc := range d.cfg.Services {
		if sc.Mode == "lvs" {
			name := sc.Name
			gateBackends(ctx, &bg, engine, sc, func(addr string, up bool, _ string) { d.lvs.SetBackendUp(name, addr, up) })
		} else {
			gateBackends(ctx, &bg, engine, sc, d.services[sc.Name].SetBackendUp)
		}
		quorumHooks(health[sc.Name], sc.Name, notifierFor(sc.QuorumUp, 10*time.Second), notifierFor(sc.QuorumDown, 10*time.Second))
		health[sc.Name].run(ctx, &bg)
	}

	errs := make(chan error, len(d.instances)+len(d.services)+2)
	var parts sync.WaitGroup
	start := func(name string, fn func(context.Context) error) {
		parts.Add(1)
		go func() {
			defer parts.Done()
			if err := fn(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	start("links", links.Run)
	start("checks", engine.Run)
	for _, in := range d.instances {
		start("vrrp "+in.Name(), in.Run)
	}
	for name, s := range d.services {
		start("service "+name, s.Run)
	}
	if d.lvs != nil {
		start("lvs", d.lvs.Run)
	}
	d.log.Info("vigil running", "node", d.cfg.Node, "instances", len(d.instances), "services", len(d.services), "config", d.cfg.File)
	parts.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
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
