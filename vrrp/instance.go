package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// InstanceConfig is what one running virtual router needs; the daemon builds
// it from the config file.
type InstanceConfig struct {
	Name           string
	Interface      string
	VRID           uint8
	Version        int
	Priority       uint8 // configured (base) priority
	AdvertInterval time.Duration
	Preempt        bool
	PreemptDelay   time.Duration
	// UnicastSource is the advert source in unicast mode; zero picks the
	// interface's own address.
	UnicastSource netip.Addr
	// UnicastPeers replaces multicast when set; adverts from any other
	// source are dropped (the TTL check alone is weak for unicast).
	UnicastPeers []netip.Addr
	AuthPass     string
	VIPs         []VIP
	GARP         GARP
	// Reconcile is how often the VIPs are re-checked against the kernel, so
	// an address deleted by hand comes back; 0 means 5s.
	Reconcile time.Duration
}

// GARP is the announcement schedule on becoming master (see config.GARP).
type GARP struct {
	Delay         time.Duration
	Repeat        int
	Interval      time.Duration
	Refresh       time.Duration
	RefreshRepeat int
}

// AnnounceFunc sends Repeat announcements per address, Interval apart, on
// one device, and returns how many went out. It must return early when ctx
// ends: a master that steps down stops announcing at once.
type AnnounceFunc func(ctx context.Context, dev string, addrs []netip.Addr, repeat int, interval time.Duration) (int, error)

// Hooks connect an instance to the rest of the daemon. Each is called from
// the instance's own goroutine and must not block.
type Hooks struct {
	// Announce sends gratuitous ARP / unsolicited NA; nil disables it.
	Announce AnnounceFunc
	// OnTransition reports every state change (after its effects).
	OnTransition func(name string, t Transition, priority uint8)
	// OnFault reports every change of the instance's own fault condition
	// (sync groups need it, see Group.ObserveFault).
	OnFault func(name string, fault bool)
}

// Stats are an instance's counters, for metrics and the status API.
type Stats struct {
	AdvertsSent     atomic.Uint64
	AdvertsReceived atomic.Uint64
	Announcements   atomic.Uint64
	Transitions     atomic.Uint64
	// MasterConflicts counts adverts from another master received while
	// this instance was master: a split brain resolving (one side steps
	// down, the other re-announces), or a peer that cannot hear us.
	MasterConflicts atomic.Uint64
	drops           sync.Map // DropReason -> *atomic.Uint64
	// heard is the last advert accepted: when and from whom. Adverts come
	// every interval, too often to publish a Status for each.
	heard atomic.Pointer[heardAdvert]
}

// heardAdvert is when an accepted advert arrived and who sent it.
type heardAdvert struct {
	at   time.Time
	from netip.Addr
}

// LastAdvert returns when the last accepted advert arrived and its
// sender; the zero time when none has been heard.
func (s *Stats) LastAdvert() (time.Time, netip.Addr) {
	if h := s.heard.Load(); h != nil {
		return h.at, h.from
	}
	return time.Time{}, netip.Addr{}
}

// Drops returns the dropped-packet count for one reason.
func (s *Stats) Drops(r DropReason) uint64 {
	if v, ok := s.drops.Load(r); ok {
		return v.(*atomic.Uint64).Load()
	}
	return 0
}

func (s *Stats) drop(r DropReason) {
	v, _ := s.drops.LoadOrStore(r, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

// Status is a snapshot of an instance for logs, tests and the status API.
type Status struct {
	Name string
	// Interface, VRID, Version, AdvertInterval and VIPs are as configured.
	Interface      string
	VRID           uint8
	Version        int
	AdvertInterval time.Duration
	VIPs           []netip.Prefix
	State          State
	Priority       uint8 // effective
	Base           uint8 // configured
	MasterAddr     netip.Addr
	Address        netip.Addr // ours, as advertised
	LastReason     string
	Since          time.Time
	Tracks         []TrackStatus // in the order they were first reported
	// Problems are what the diagnosis finds wrong with the peers (split
	// brain, config mismatch, a silent peer), oldest first.
	Problems []Problem
}

// Instance runs one virtual router: it owns the socket, the timers and the
// VIPs, and feeds the pure Machine. Everything the Machine decides happens
// on one goroutine (Run), so no locks guard the election state.
type Instance struct {
	name string // cfg.Name, for other goroutines: cfg changes on Reconfigure
	cfg  InstanceConfig
	// wireIdentity is the config the instance was made with; what of it
	// fixes the instance on the wire never changes (canReconfigure), so
	// other goroutines may read it.
	wireIdentity InstanceConfig
	hooks        atomic.Pointer[Hooks] // swapped by SetHooks on reload; read on the instance goroutine
	log          *slog.Logger
	stats        Stats

	inbox   chan func()   // work posted by other goroutines (tracks, sync groups, links)
	done    chan struct{} // closed when Run returns, so late senders never block
	status  atomic.Pointer[Status]
	machine *Machine
	conn    *Conn
	vips    *VIPSet
	addr    netip.Addr
	v6      bool

	timers   [numTimers]*time.Timer
	timerGen [numTimers]uint64
	fired    chan timerFire

	tracks    map[string]TrackStatus
	trackKeys []string
	linkDown  bool
	fault     bool

	adopted        bool // VIPs were on the interface at start and are kept until a master is heard
	holdVIPs       bool // shutting down as master: VIPs stay until the successor is heard
	announceCancel context.CancelFunc
	refresh        *time.Ticker
	reconcileTick  *time.Ticker

	conflictLogged time.Time // last "another master" log line, to rate-limit it
	lastAnswer     time.Time // last announcement answering another master
	// handoverGen and handoverPending track a VIP removal delayed by
	// handoverGrace after a better master took over.
	handoverGen     uint64
	handoverPending bool
	diag            *diagnosis
}

// handoverGrace is how long a resigning master keeps its VIPs after
// hearing its successor, for the successor's GARP to reach the clients.
const handoverGrace = 50 * time.Millisecond

// answerEvery bounds the announcements answering a lower-priority master:
// the first heals a split brain at once; a peer that keeps advertising
// (it cannot hear us) gets one a second, not a GARP burst per advert.
const answerEvery = time.Second

// conflictLogEvery bounds the "another master" log line: a peer that
// cannot hear us (a one-way block) sends one every advert interval.
const conflictLogEvery = 10 * time.Second

type timerFire struct {
	timer Timer
	gen   uint64
}

// NewInstance checks the config and prepares an instance; Run starts it.
func NewInstance(cfg InstanceConfig, hooks Hooks, log *slog.Logger) (*Instance, error) {
	if len(cfg.VIPs) == 0 {
		return nil, fmt.Errorf("vrrp %s: no VIPs", cfg.Name)
	}
	if cfg.Reconcile == 0 {
		cfg.Reconcile = 5 * time.Second
	}
	if cfg.GARP.Repeat < 1 {
		cfg.GARP.Repeat = 1
	}
	in := &Instance{
		name:         cfg.Name,
		cfg:          cfg,
		wireIdentity: cfg,
		log:          log.With("instance", cfg.Name),
		inbox:        make(chan func(), 256),
		done:         make(chan struct{}),
		fired:        make(chan timerFire, 16),
		tracks:       map[string]TrackStatus{},
		v6:           cfg.VIPs[0].Prefix.Addr().Is6(),
		diag:         newDiagnosis(),
	}
	in.hooks.Store(&hooks)
	st := &Status{State: Initialize, Priority: cfg.Priority, Since: time.Now()}
	st.configured(&cfg)
	in.status.Store(st)
	return in, nil
}

// SetHooks sets the hooks, before Run or while it runs (a reload rewires
// notify hooks and sync groups); calls already under way finish with the
// old ones.
func (in *Instance) SetHooks(h Hooks) { in.hooks.Store(&h) }

// Name is the instance name.
func (in *Instance) Name() string { return in.name }

// Stats returns the live counters.
func (in *Instance) Stats() *Stats { return &in.stats }

// Status returns the latest snapshot; safe from any goroutine.
func (in *Instance) Status() Status { return *in.status.Load() }

// post runs fn on the instance goroutine. It never blocks the caller for
// long: the inbox is large and only control events use it.
func (in *Instance) post(fn func()) {
	select {
	case in.inbox <- fn:
	case <-in.done:
	}
}

// SetTrack reports a tracked item's state (keepalived weight semantics; see
// TrackStatus). Safe from any goroutine; the first call for a name adds it.
func (in *Instance) SetTrack(name string, weight int, failing bool, why string) {
	in.post(func() {
		old, known := in.tracks[name]
		if known && old.Failing == failing && old.Weight == weight {
			return
		}
		if !known {
			in.trackKeys = append(in.trackKeys, name)
		}
		in.tracks[name] = TrackStatus{Name: name, Weight: weight, Failing: failing}
		state := "healthy"
		if failing {
			state = "failing"
		}
		if known || failing {
			in.log.Info("track changed", "track", name, "state", state, "reason", why)
		}
		in.recomputePriority()
	})
}

// SetLink reports whether the instance's own interface is up (carrier).
func (in *Instance) SetLink(up bool) {
	in.post(func() {
		if in.linkDown == !up {
			return
		}
		in.linkDown = !up
		in.recomputePriority()
	})
}

// Force moves the instance as a sync group orders.
func (in *Instance) Force(state State, reason string) {
	in.post(func() {
		if in.machine != nil {
			in.apply(in.machine.Step(ForceState{State: state, Reason: reason}))
		}
	})
}

func (in *Instance) recomputePriority() {
	prio, fault, reason := in.effectiveNow()
	if in.machine == nil {
		in.fault = fault
		return // Run applies the state it finds at start
	}
	if prio != in.machine.Priority() {
		if reason == "" {
			reason = "all tracks healthy"
		}
		in.log.Info("priority changed", "from", in.machine.Priority(), "to", prio, "reason", reason)
		in.apply(in.machine.Step(PriorityChanged{Priority: prio, Reason: reason}))
	}
	if fault != in.fault {
		in.fault = fault
		if in.hooks.Load().OnFault != nil {
			in.hooks.Load().OnFault(in.cfg.Name, fault)
		}
		if !fault {
			reason = "fault cleared"
		}
		in.apply(in.machine.Step(FaultChanged{Fault: fault, Reason: reason}))
	}
	in.publish("")
}

// Run opens the socket and runs the instance until ctx ends; then it resigns
// (priority 0 when master), removes its VIPs and returns nil. An error means
// it could not start.
func (in *Instance) Run(ctx context.Context) error {
	defer close(in.done)
	if err := in.open(); err != nil {
		return err
	}
	defer in.vips.Close()
	defer func() { in.conn.Close() }()

	packets := make(chan Received, 64)
	readerDone := make(chan struct{})
	go in.readLoop(in.conn, packets, readerDone)

	present, err := in.vips.Present()
	if err != nil {
		in.log.Warn("cannot list VIPs at start", "err", err)
	}
	if len(present) > 0 {
		// We were master before a restart (or crash): keep the VIPs rather
		// than flap them, until we either become master again or hear
		// another master, whichever comes first.
		in.adopted = true
		in.log.Info("adopting VIPs already on the interface", "count", len(present))
	}

	prio, fault, why := in.effectiveNow()
	in.machine = NewMachine(Params{
		Version: in.cfg.Version, Priority: prio, AdvertInterval: in.cfg.AdvertInterval,
		Preempt: in.cfg.Preempt, PreemptDelay: in.cfg.PreemptDelay, Address: in.addr,
	})
	if fault {
		in.fault = true
		if in.hooks.Load().OnFault != nil {
			in.hooks.Load().OnFault(in.cfg.Name, true)
		}
		in.apply(in.machine.Step(FaultChanged{Fault: true, Reason: why}))
	}
	in.log.Info("starting", "interface", in.cfg.Interface, "vrid", in.cfg.VRID, "version", in.cfg.Version,
		"priority", prio, "address", in.addr, "advert_interval", in.cfg.AdvertInterval,
		"mode", in.mode())
	in.apply(in.machine.Step(Start{}))
	in.publish("")

	in.reconcileTick = time.NewTicker(in.cfg.Reconcile)
	defer in.reconcileTick.Stop()
	var adoptWindow <-chan time.Time
	if in.adopted {
		// VIPs on the interface at start mean we were master a moment ago
		// (a crash or kill -9 and a quick restart). If no master speaks up
		// within one interval, nobody took over: claim the role at once, so
		// the backups' timers are reset before they fire and the VIP never
		// moves. If a master does speak, handle drops the stale VIPs.
		t := time.NewTimer(in.cfg.AdvertInterval)
		defer t.Stop()
		adoptWindow = t.C
	}
	for {
		var refresh <-chan time.Time
		if in.refresh != nil {
			refresh = in.refresh.C
		}
		select {
		case <-ctx.Done():
			in.shutdown(packets)
			return nil
		case r, ok := <-packets:
			if !ok {
				// The socket failed (interface gone): reopen when possible.
				packets = in.reopen(ctx, readerDone)
				readerDone = make(chan struct{})
				continue
			}
			in.handle(r)
		case f := <-in.fired:
			if f.gen == in.timerGen[f.timer] && in.timers[f.timer] != nil {
				in.timers[f.timer] = nil
				in.apply(in.machine.Step(TimerFired{Timer: f.timer}))
			}
		case fn := <-in.inbox:
			fn()
		case <-adoptWindow:
			if in.adopted && in.machine.State() == Backup {
				in.apply(in.machine.Step(ForceState{State: Master, Reason: "no other master heard for one interval after restart: keeping the VIPs found on the interface"}))
			}
		case <-in.reconcileTick.C:
			in.reconcile()
			in.diagnoseTick()
		case <-refresh:
			in.announce(in.cfg.GARP.RefreshRepeat, 0)
		}
	}
}

func (in *Instance) mode() string {
	if len(in.cfg.UnicastPeers) > 0 {
		return "unicast"
	}
	return "multicast"
}

func (in *Instance) effectiveNow() (uint8, bool, string) {
	ts := make([]TrackStatus, 0, len(in.trackKeys))
	for _, k := range in.trackKeys {
		ts = append(ts, in.tracks[k])
	}
	prio, fault, reason := Effective(in.cfg.Priority, ts)
	if in.linkDown {
		return prio, true, fmt.Sprintf("interface %s down", in.cfg.Interface)
	}
	return prio, fault, reason
}

func (in *Instance) open() error {
	var err error
	in.vips, err = NewVIPSet(in.cfg.VIPs)
	if err != nil {
		return fmt.Errorf("vrrp %s: %w", in.cfg.Name, err)
	}
	if err := in.openConn(); err != nil {
		in.vips.Close()
		return err
	}
	return nil
}

func (in *Instance) openConn() error {
	in.addr = in.cfg.UnicastSource
	if !in.addr.IsValid() {
		vipAddrs := make([]netip.Addr, len(in.cfg.VIPs))
		for i, v := range in.cfg.VIPs {
			vipAddrs[i] = v.Prefix.Addr()
		}
		a, err := PrimaryAddress(in.cfg.Interface, in.v6, vipAddrs)
		if err != nil {
			return fmt.Errorf("vrrp %s: %w", in.cfg.Name, err)
		}
		in.addr = a
	}
	conn, err := Listen(in.cfg.Interface, in.v6, len(in.cfg.UnicastPeers) == 0)
	if err != nil {
		return fmt.Errorf("vrrp %s: %w", in.cfg.Name, err)
	}
	in.conn = conn
	return nil
}

func (in *Instance) readLoop(c *Conn, out chan<- Received, done chan<- struct{}) {
	defer close(done)
	defer close(out)
	for {
		r, err := c.Read()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				in.log.Warn("reading adverts failed", "err", err)
			}
			return
		}
		r.Payload = slices.Clone(r.Payload)
		select {
		case out <- r:
		case <-in.done:
			return
		}
	}
}

// reopen replaces a failed socket, retrying until it works or ctx ends.
func (in *Instance) reopen(ctx context.Context, oldDone <-chan struct{}) chan Received {
	in.conn.Close()
	<-oldDone
	for attempt := 0; ; attempt++ {
		if err := in.openConn(); err == nil {
			packets := make(chan Received, 64)
			done := make(chan struct{})
			go in.readLoop(in.conn, packets, done)
			in.log.Info("socket reopened")
			return packets
		} else if attempt == 0 {
			in.log.Warn("cannot reopen socket; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// handle validates one received packet and steps the machine with it. A
// packet that fails any check is dropped and counted, never obeyed.
func (in *Instance) handle(r Received) {
	adv, ok := in.validate(r)
	if !ok {
		return
	}
	wasMaster := in.machine.State() == Master
	in.apply(in.machine.Step(AdvertReceived{From: r.Src, Priority: adv.Priority, Interval: adv.Interval}))
	if wasMaster && adv.Priority > 0 {
		in.masterConflict(r.Src, adv.Priority)
	}
	in.diagnoseAdvert(r.Src, adv, wasMaster)
	if in.adopted && adv.Priority > 0 && in.machine.State() == Backup {
		// Someone else is master: the VIPs we kept from before a restart
		// are stale here and must go at once.
		in.adopted = false
		in.removeVIPs("another master is alive: " + r.Src.String())
	}
	in.publish("")
}

// validate runs every check a received packet must pass before it may
// affect the election; one that fails is dropped and counted.
func (in *Instance) validate(r Received) (Advert, bool) {
	if r.Src == in.addr {
		return Advert{}, false // our own advert (unicast peers can echo it back)
	}
	if r.TTL != 255 {
		in.dropped(ReasonTTL, r, fmt.Sprintf("ttl %d, want 255", r.TTL))
		return Advert{}, false
	}
	adv, err := Parse(r.Payload, r.Src, r.Dst)
	if err != nil {
		in.dropped(ReasonOf(err), r, err.Error())
		return Advert{}, false
	}
	if adv.VRID != in.cfg.VRID {
		// Other routers share the link; count them, but they are not errors.
		in.stats.drop(ReasonVRID)
		return Advert{}, false
	}
	if err := adv.Check(Expect{Version: in.cfg.Version, VRID: in.cfg.VRID, AuthPass: in.cfg.AuthPass, Interval: in.cfg.AdvertInterval}); err != nil {
		in.dropped(ReasonOf(err), r, err.Error())
		in.diagnoseMismatch(r.Src, ReasonOf(err), err.Error())
		return Advert{}, false
	}
	if len(in.cfg.UnicastPeers) > 0 && !slices.Contains(in.cfg.UnicastPeers, r.Src) {
		in.dropped(ReasonNotPeer, r, "source is not a configured unicast peer")
		return Advert{}, false
	}
	in.stats.AdvertsReceived.Add(1)
	in.stats.heard.Store(&heardAdvert{at: time.Now(), from: r.Src})
	return adv, true
}

// masterConflict counts and logs an advert from another master heard
// while we were master, with what the election made of it.
func (in *Instance) masterConflict(from netip.Addr, prio uint8) {
	in.stats.MasterConflicts.Add(1)
	if time.Since(in.conflictLogged) < conflictLogEvery {
		return
	}
	in.conflictLogged = time.Now()
	outcome := "we stay master and re-announce the VIPs"
	if in.machine.State() != Master {
		outcome = "we step down"
	}
	in.log.Warn("another master on the link (split brain)", "peer", from, "peer_priority", prio,
		"priority", in.machine.Priority(), "outcome", outcome)
}

func (in *Instance) dropped(reason DropReason, r Received, detail string) {
	in.stats.drop(reason)
	in.log.Debug("dropped packet", "reason", string(reason), "from", r.Src, "detail", detail)
}

// apply carries out the machine's actions in order.
func (in *Instance) apply(actions []Action) {
	for _, a := range actions {
		switch a := a.(type) {
		case SendAdvert:
			in.send(a.Priority)
		case SetTimer:
			in.setTimer(a.Timer, a.After)
		case StopTimer:
			in.stopTimer(a.Timer)
		case AddVIPs:
			in.handoverGen++ // a pending handover removal no longer applies
			in.handoverPending = false
			in.adopted = false
			if n, err := in.vips.Add(); err != nil {
				in.log.Error("adding VIPs failed", "err", err)
			} else if n > 0 {
				in.log.Debug("VIPs added", "count", n)
			}
		case RemoveVIPs:
			switch {
			case in.holdVIPs:
			case a.Handover:
				in.removeVIPsAfterGrace()
			default:
				in.removeVIPs("")
			}
		case Announce:
			if a.Answer {
				if time.Since(in.lastAnswer) < answerEvery {
					continue
				}
				in.lastAnswer = time.Now()
			}
			in.announce(in.cfg.GARP.Repeat, in.cfg.GARP.Delay)
			if in.cfg.GARP.Refresh > 0 && in.refresh == nil {
				in.refresh = time.NewTicker(in.cfg.GARP.Refresh)
			}
		case Transition:
			in.stats.Transitions.Add(1)
			if a.To != Master {
				in.stopAnnouncing()
			}
			in.log.Info("transition", "from", a.From.String(), "to", a.To.String(), "reason", a.Reason, "priority", in.machine.Priority())
			in.publish(a.Reason)
			if in.hooks.Load().OnTransition != nil {
				in.hooks.Load().OnTransition(in.cfg.Name, a, in.machine.Priority())
			}
		}
	}
}

// removeVIPsAfterGrace takes the VIPs off handoverGrace from now, on the
// instance goroutine, unless the instance is master again by then.
func (in *Instance) removeVIPsAfterGrace() {
	in.handoverGen++
	gen := in.handoverGen
	in.handoverPending = true
	time.AfterFunc(handoverGrace, func() {
		in.post(func() {
			if gen != in.handoverGen || !in.handoverPending {
				return
			}
			in.handoverPending = false
			if in.machine.State() != Master {
				in.removeVIPs("handed over to a better master")
			}
		})
	})
}

func (in *Instance) removeVIPs(why string) {
	in.stopAnnouncing()
	n, err := in.vips.Remove()
	if err != nil {
		in.log.Error("removing VIPs failed", "err", err)
	}
	if why != "" && n > 0 {
		in.log.Info("VIPs removed", "count", n, "reason", why)
	}
}

func (in *Instance) stopAnnouncing() {
	if in.announceCancel != nil {
		in.announceCancel()
		in.announceCancel = nil
	}
	if in.refresh != nil {
		in.refresh.Stop()
		in.refresh = nil
	}
}

func (in *Instance) send(priority uint8) {
	adv := Advert{
		Version: in.cfg.Version, VRID: in.cfg.VRID, Priority: priority,
		Interval: in.cfg.AdvertInterval, Addresses: make([]netip.Addr, len(in.cfg.VIPs)),
	}
	for i, v := range in.cfg.VIPs {
		adv.Addresses[i] = v.Prefix.Addr()
	}
	if in.cfg.Version == 2 && in.cfg.AuthPass != "" {
		adv.AuthType, adv.AuthData = AuthSimple, PassData(in.cfg.AuthPass)
	}
	dsts := in.cfg.UnicastPeers
	if len(dsts) == 0 {
		dsts = []netip.Addr{MulticastIPv4}
		if in.v6 {
			dsts = []netip.Addr{MulticastIPv6}
		}
	}
	for _, dst := range dsts {
		b, err := adv.Marshal(in.addr, dst)
		if err != nil {
			in.log.Error("cannot encode advert", "err", err)
			return
		}
		if err := in.conn.Write(b, in.addr, dst); err != nil {
			in.log.Warn("sending advert failed", "to", dst, "err", err)
			continue
		}
		in.stats.AdvertsSent.Add(1)
	}
}

func (in *Instance) setTimer(t Timer, d time.Duration) {
	if in.timers[t] != nil {
		in.timers[t].Stop()
	}
	in.timerGen[t]++
	gen := in.timerGen[t]
	in.timers[t] = time.AfterFunc(d, func() {
		select {
		case in.fired <- timerFire{t, gen}:
		case <-in.done:
		}
	})
}

func (in *Instance) stopTimer(t Timer) {
	if in.timers[t] != nil {
		in.timers[t].Stop()
		in.timers[t] = nil
	}
	in.timerGen[t]++ // a fire already queued is now stale
}

// announce sends GARP/NA for every VIP, grouped by device, in the background
// so the election loop never waits on it.
func (in *Instance) announce(repeat int, delay time.Duration) {
	send := in.hooks.Load().Announce
	if send == nil {
		return
	}
	interval := in.cfg.GARP.Interval
	if in.announceCancel != nil {
		in.announceCancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	in.announceCancel = cancel
	byDev := map[string][]netip.Addr{}
	for _, v := range in.cfg.VIPs {
		byDev[v.Dev] = append(byDev[v.Dev], v.Prefix.Addr())
	}
	for dev, addrs := range byDev {
		go func() {
			burst := func() bool {
				n, err := send(ctx, dev, addrs, repeat, interval)
				in.stats.Announcements.Add(uint64(n))
				if err != nil && ctx.Err() == nil {
					in.log.Warn("announcing VIPs failed", "dev", dev, "err", err)
				}
				return ctx.Err() == nil
			}
			if !burst() || delay <= 0 {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			burst()
		}()
	}
}

// reconcile re-applies the VIPs' desired state: a master holds all of them
// (an address deleted by hand comes back and is re-announced); a backup
// holds none, except the ones adopted at start while no master is known.
func (in *Instance) reconcile() {
	present, err := in.vips.Present()
	if err != nil {
		in.log.Warn("reconcile: cannot list VIPs", "err", err)
		return
	}
	switch {
	case in.machine.State() == Master && len(present) < len(in.cfg.VIPs):
		in.log.Warn("reconcile: VIPs missing on master; adding them back", "missing", len(in.cfg.VIPs)-len(present))
		if _, err := in.vips.Add(); err != nil {
			in.log.Error("reconcile: adding VIPs failed", "err", err)
		}
		in.announce(in.cfg.GARP.Repeat, 0)
	case in.machine.State() != Master && !in.adopted && len(present) > 0:
		in.removeVIPs(fmt.Sprintf("reconcile: %s must not hold VIPs", in.machine.State()))
	}
}

// shutdown resigns. A master sends priority 0 but keeps its VIPs until it
// hears the backup that took over (or a bound passes), so clients are served
// all through the handover instead of losing the VIP for Skew_Time; the new
// master's GARP moves them, then we let go.
func (in *Instance) shutdown(packets <-chan Received) {
	wasMaster := in.machine.State() == Master
	in.holdVIPs = wasMaster
	in.apply(in.machine.Step(Shutdown{}))
	in.holdVIPs = false
	in.stopAnnouncing()
	for t := range in.timers {
		in.stopTimer(Timer(t))
	}
	if in.handoverPending {
		// Stopping within the grace after a handover: nothing runs the
		// delayed removal once Run returns.
		in.handoverPending = false
		in.removeVIPs("handed over to a better master")
	}
	if wasMaster {
		why, heard := in.awaitSuccessor(packets)
		if heard {
			// The successor announces the VIPs right after the advert we
			// just heard; a client that sent to our MAC before its GARP
			// arrived still reaches us for this long, instead of losing a
			// SYN to an address that is gone (a 1 s retransmit).
			time.Sleep(handoverGrace)
		}
		in.removeVIPs(why)
	} else if in.adopted {
		in.removeVIPs("shutdown")
	}
	in.publish("shutdown")
}

// awaitSuccessor waits for a valid advert from the node that took over. The
// best backup waits Skew_Time (under one interval) after our priority 0, so
// two intervals is plenty; with no backup at all we give up then.
func (in *Instance) awaitSuccessor(packets <-chan Received) (why string, heard bool) {
	bound := 2*in.cfg.AdvertInterval + 100*time.Millisecond
	timeout := time.NewTimer(bound)
	defer timeout.Stop()
	for {
		select {
		case r, ok := <-packets:
			if !ok {
				return "shutdown (socket closed)", false
			}
			if adv, valid := in.validate(r); valid && adv.Priority > 0 {
				return fmt.Sprintf("shutdown: handed over to %s (priority %d)", r.Src, adv.Priority), true
			}
		case <-timeout.C:
			return fmt.Sprintf("shutdown: no successor heard within %s", bound), false
		}
	}
}

// configured fills in what the status says of the instance's config.
func (s *Status) configured(cfg *InstanceConfig) {
	s.Name, s.Interface, s.VRID, s.Version = cfg.Name, cfg.Interface, cfg.VRID, cfg.Version
	s.AdvertInterval, s.Base = cfg.AdvertInterval, cfg.Priority
	s.VIPs = make([]netip.Prefix, len(cfg.VIPs))
	for i, v := range cfg.VIPs {
		s.VIPs[i] = v.Prefix
	}
}

func (in *Instance) publish(reason string) {
	old := in.status.Load()
	s := &Status{
		State: in.machine.State(), Priority: in.machine.Priority(),
		MasterAddr: in.machine.MasterAddr(), Address: in.addr, LastReason: old.LastReason, Since: old.Since,
	}
	s.configured(&in.cfg)
	for _, k := range in.trackKeys {
		s.Tracks = append(s.Tracks, in.tracks[k])
	}
	s.Problems = in.diag.list()
	if s.State != old.State {
		s.Since = time.Now()
	}
	if reason != "" {
		s.LastReason = reason
	}
	in.status.Store(s)
}
