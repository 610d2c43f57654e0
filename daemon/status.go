package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"vigil/api"
	"vigil/config"
	"vigil/lvs"
	"vigil/proxy"
	"vigil/vrrp"
)

// The daemon is the api.Source of the status API, the CLI and the page.
var _ api.Source = (*Daemon)(nil)

// recentEvents is how many events Status carries.
const recentEvents = 100

// maxStreams bounds the API's event streams open at once: each holds a
// buffer and a connection, and a client that opens streams and never
// closes them must not grow the daemon without end.
const maxStreams = 64

// eventHub keeps the latest events and hands new ones to subscribers. A
// subscriber that does not keep up misses events rather than holding the
// daemon up (its buffer is generous; a status page refetches anyway).
// The daemon's own subscribers (alerts) are never dropped; past
// maxStreams API streams, a new one ends the oldest (its channel closes).
type eventHub struct {
	mu      sync.Mutex
	recent  []api.Event
	subs    []subscriber // oldest first
	streams int          // API streams among subs
	dropped uint64       // streams ended to make room
}

type subscriber struct {
	ch     chan api.Event
	stream bool // an API stream: it may be dropped
}

func (h *eventHub) publish(e api.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recent = append(h.recent, e)
	if len(h.recent) > recentEvents {
		h.recent = h.recent[len(h.recent)-recentEvents:]
	}
	for _, s := range h.subs {
		select {
		case s.ch <- e:
		default:
		}
	}
}

// subscribe adds a subscriber; stream marks an API event stream, which a
// newer one may end. The func unsubscribes (leaving the channel open).
func (h *eventHub) subscribe(stream bool) (<-chan api.Event, func()) {
	ch := make(chan api.Event, 256)
	h.mu.Lock()
	if stream {
		if h.streams >= maxStreams {
			for i, s := range h.subs {
				if s.stream {
					close(s.ch) // its stream sees the end and returns
					h.subs = append(h.subs[:i], h.subs[i+1:]...)
					h.streams--
					h.dropped++
					break
				}
			}
		}
		h.streams++
	}
	h.subs = append(h.subs, subscriber{ch: ch, stream: stream})
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			for i, s := range h.subs {
				if s.ch == ch {
					h.subs = append(h.subs[:i], h.subs[i+1:]...)
					if s.stream {
						h.streams--
					}
					return
				}
			}
		})
	}
}

// counts returns the API streams open now and those ended to make room.
func (h *eventHub) counts() (open int, dropped uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.streams, h.dropped
}

func (h *eventHub) snapshot() []api.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]api.Event(nil), h.recent...)
}

// Events subscribes to the daemon's events (api.Source).
func (d *Daemon) Events() (<-chan api.Event, func()) { return d.events.subscribe(true) }

// Status is a snapshot of the node (api.Source).
func (d *Daemon) Status() api.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := api.Status{
		Node: d.cfg.Node, Version: d.Version, Config: d.cfg.File, ConfigHash: d.cfg.Hash, Started: d.started,
		MaxOpenFiles: d.openFiles.Soft, Recent: d.events.snapshot(),
	}
	if d.rt != nil && d.rt.lvsSync != nil {
		ls := d.rt.lvsSync.status()
		st.LVSSync = &ls
	}
	if d.lastReload != nil {
		r := *d.lastReload
		st.LastReload = &r
	}
	for i, ic := range d.cfg.VRRP {
		s := d.instances[i].Status()
		in := api.Instance{
			Name: ic.Name, Interface: ic.Interface, VRID: ic.VRID, Version: ic.Version,
			AdvertIntervalMs: ic.AdvertInterval.D().Milliseconds(),
			State:            stateName(s.State), Priority: int(s.Priority), BasePriority: int(s.Base),
			Since: s.Since, Reason: s.LastReason, VIPs: []string{},
		}
		for _, v := range ic.VIPs {
			in.VIPs = append(in.VIPs, v.Address.String())
		}
		if vs := d.instances[i].Stats(); vs != nil {
			if at, from := vs.LastAdvert(); !at.IsZero() {
				in.LastAdvert, in.LastAdvertFrom = &at, from.String()
			}
			c := &api.InstanceCounters{AdvertsSent: vs.AdvertsSent.Load(), AdvertsReceived: vs.AdvertsReceived.Load(),
				Announcements: vs.Announcements.Load(), MasterConflicts: vs.MasterConflicts.Load()}
			for _, r := range vrrp.Reasons() {
				if n := vs.Drops(r); n > 0 {
					if c.Dropped == nil {
						c.Dropped = map[string]uint64{}
					}
					c.Dropped[string(r)] = n
				}
			}
			in.Counters = c
		}
		if s.MasterAddr.IsValid() {
			in.MasterAddress = s.MasterAddr.String()
		}
		for _, t := range s.Tracks {
			in.Tracks = append(in.Tracks, api.Track{Name: t.Name, Weight: t.Weight, Failing: t.Failing})
		}
		for _, p := range s.Problems {
			in.Problems = append(in.Problems, api.Problem{Kind: string(p.Kind), Peer: p.Peer.String(), Cause: p.Cause, Since: p.Since, LastSeen: p.LastSeen})
		}
		st.Instances = append(st.Instances, in)
	}
	lvsStats := map[string]lvs.Stats{}
	if d.lvs != nil {
		// The kernel's counters; a failed read leaves them out (logged by
		// the metrics scrape, which reads the same).
		all, _ := d.lvs.Stats()
		for _, ls := range all {
			lvsStats[ls.Name] = ls
		}
	}
	for _, sc := range d.cfg.Services {
		svc := api.Service{Name: sc.Name, Mode: sc.Mode, Protocol: sc.Protocol, Listen: listenName(sc)}
		if s := d.services[sc.Name]; s != nil {
			ps := s.Stats()
			svc.Up, svc.Reason = ps.Up, ps.Reason
			svc.Active, svc.Total, svc.BytesIn, svc.BytesOut = ps.Active, ps.Total, ps.BytesIn, ps.BytesOut
			for _, b := range ps.Backends {
				svc.Backends = append(svc.Backends, api.Backend{
					Address: b.Address, Group: b.Group, Up: b.Up, Reason: b.Reason, Admin: b.Admin,
					Weight: b.Weight, EffectiveWeight: b.EffectiveWeight, Active: b.Active, Total: b.Total,
				})
			}
		} else if d.lvs != nil {
			svc.Up, svc.Reason = d.lvs.Health(sc.Name)
			ls := lvsStats[sc.Name]
			svc.Total, svc.BytesIn, svc.BytesOut = ls.Connections, ls.BytesIn, ls.BytesOut
			dests := map[string]lvs.DestinationStats{}
			for _, dst := range ls.Destinations {
				dests[dst.Addr.String()] = dst
				svc.Active += dst.ActiveConns
			}
			for _, b := range sc.Backends {
				up, known := d.checkStates.get(sc.Name, b.Address, "service "+sc.Name)
				if sc.Check == nil {
					up, known = true, true
				}
				ab := api.Backend{Address: b.Address, Up: up, Weight: b.Weight, Admin: d.adminState(sc.Name + "/" + b.Address)}
				if !known {
					ab.Reason = "not checked yet"
				}
				if dst, ok := dests[normalAddr(b.Address)]; ok {
					ab.EffectiveWeight, ab.Active, ab.Total = dst.Weight, dst.ActiveConns, dst.Connections
				}
				svc.Backends = append(svc.Backends, ab)
			}
		}
		st.Services = append(st.Services, svc)
	}
	return st
}

// normalAddr spells a backend address as netip.AddrPort does, to match
// the kernel's view.
func normalAddr(a string) string {
	if ap, err := netip.ParseAddrPort(a); err == nil {
		return ap.String()
	}
	return a
}

func stateName(s vrrp.State) string {
	if s == vrrp.Initialize {
		return "init"
	}
	return strings.ToLower(s.String())
}

func listenName(sc config.Service) string {
	if sc.Fwmark != 0 {
		return fmt.Sprintf("fwmark %d", sc.Fwmark)
	}
	if sc.Listen == (netip.AddrPort{}) {
		return ""
	}
	return sc.Listen.String()
}

// Reload loads the config file again and applies it (api.Source, SIGHUP):
// the file is checked as at start, and a config that fails keeps the
// running one. The outcome is kept for Status and published as an event.
func (d *Daemon) Reload(ctx context.Context) error {
	d.mu.Lock()
	file := d.cfg.File
	d.mu.Unlock()
	d.log.Info("reloading", "config", file)
	cfg, warnings, err := config.Load(file, config.Options{Host: config.SystemHost{}, StrictHost: true})
	for _, w := range warnings {
		d.log.Warn("config warning", "warning", w)
	}
	if err == nil {
		err = d.Apply(ctx, cfg)
	} else {
		d.log.Error("reload refused, keeping the running config", "err", err)
	}
	r := &api.Reload{Time: time.Now(), OK: err == nil}
	ev := api.Event{Kind: api.KindReload, Subject: file, To: "applied"}
	if err != nil {
		r.Error, ev.To, ev.Reason = err.Error(), "refused", err.Error()
	}
	d.mu.Lock()
	d.lastReload = r
	d.mu.Unlock()
	d.metrics.ObserveReload(r.OK, r.Time)
	d.events.publish(ev)
	return err
}

// SetBackendAdmin drains, takes into maintenance or enables a backend
// (api.Source). The state survives reloads. A proxy service takes the
// backend out of balancing and lets open connections finish; an lvs
// service treats it as down (removed, or weight 0 with inhibit_on_failure).
func (d *Daemon) SetBackendAdmin(service, address, action string) error {
	var state string
	switch action {
	case api.ActionEnable:
	case api.ActionDrain:
		state = api.AdminDrain
	case api.ActionMaint:
		state = api.AdminMaint
	default:
		return fmt.Errorf("unknown admin action %q (enable, drain, maint)", action)
	}
	d.mu.Lock()
	var sc *config.Service
	for i := range d.cfg.Services {
		if d.cfg.Services[i].Name == service {
			sc = &d.cfg.Services[i]
		}
	}
	if sc == nil {
		d.mu.Unlock()
		return fmt.Errorf("service %s: %w", service, api.ErrNotFound)
	}
	found := false
	for _, b := range allBackends(*sc) {
		found = found || b.Address == address
	}
	if !found {
		d.mu.Unlock()
		return fmt.Errorf("service %s: backend %s: %w", service, address, api.ErrNotFound)
	}
	key := service + "/" + address
	d.adminMu.Lock()
	old := d.admin[key]
	if state == "" {
		delete(d.admin, key)
	} else {
		d.admin[key] = state
	}
	d.adminMu.Unlock()
	if s := d.services[service]; s != nil {
		s.SetBackendAdmin(address, state)
	} else if d.lvs != nil {
		d.lvs.SetBackendUp(service, address, d.lvsBackendUp(*sc, address))
	}
	d.mu.Unlock()
	if old != state {
		d.events.publish(api.Event{Kind: api.KindBackend, Subject: key, From: adminName(old), To: adminName(state), Reason: "operator"})
	}
	return nil
}

func adminName(s string) string {
	if s == "" {
		return "enabled"
	}
	return s
}

// lvsBackendUp is what an lvs backend counts as: its check's verdict,
// unless an operator drained it or took it into maintenance. It takes no
// d.mu: check callbacks call it, and a reload holding d.mu waits for them.
func (d *Daemon) lvsBackendUp(sc config.Service, address string) bool {
	if d.adminState(sc.Name+"/"+address) != "" {
		return false
	}
	if sc.Check == nil {
		return true
	}
	up, _ := d.checkStates.get(sc.Name, address, "service "+sc.Name)
	return up
}

// adminState is an operator's admin state of "service/address".
func (d *Daemon) adminState(key string) string {
	d.adminMu.Lock()
	defer d.adminMu.Unlock()
	return d.admin[key]
}

// applyAdmin gives new proxy services the admin states operators set on
// their predecessors, and forgets those of backends cfg no longer has.
func (d *Daemon) applyAdmin(cfg *config.Config, services map[string]*proxy.Service) {
	d.adminMu.Lock()
	defer d.adminMu.Unlock()
	for key, state := range d.admin {
		name, addr, _ := strings.Cut(key, "/")
		if !hasBackend(cfg, name, addr) {
			delete(d.admin, key)
			continue
		}
		if s := services[name]; s != nil {
			s.SetBackendAdmin(addr, state)
		}
	}
}
