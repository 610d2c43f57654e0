package lvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/ipvs"

	"vigil/config"
)

// DefaultResync is how often Run re-reads the kernel table and repairs it
// when nothing changed: a flushed or hand-edited table comes back within it.
const DefaultResync = 5 * time.Second

// Manager keeps the kernel's IPVS table in line with the mode: lvs services
// of the config and the health of their backends, and reports each
// service's health (quorum) for VRRP tracking and quorum hooks.
type Manager struct {
	log    *slog.Logger
	global config.LVSGlobal
	// Resync is the repair interval of Run; set before Run.
	Resync time.Duration

	kick chan struct{} // coalescing: something changed, reconcile soon

	// ipvsMu serialises use of the handle: moby/ipvs shares one netlink
	// socket and drops replies it did not ask for.
	ipvsMu sync.Mutex
	ipvs   IPVS

	mu       sync.Mutex
	services []config.Service
	state    map[string]*serviceState
	retired  map[Key]string // declared earlier, dropped since: delete when seen
	foreign  map[Key]bool   // reported once, left alone
}

// serviceState is what the manager knows about one declared service.
type serviceState struct {
	cfg      config.Service
	key      Key
	up       map[string]bool // backend address -> check says up
	quorate  bool
	applyErr error // the last reconcile could not put this service's rules in place
	changes  chan struct{}
}

// New prepares a manager for the mode: lvs services among services (others
// are ignored, so the whole config's list can be passed). Backends of a
// service without a check count as up; with a check they are down until
// SetBackendUp says otherwise. Nothing touches the kernel before Run or
// Reconcile.
func New(log *slog.Logger, services []config.Service, global config.LVSGlobal, h IPVS) (*Manager, error) {
	m := &Manager{
		log: log, global: global, Resync: DefaultResync, ipvs: h,
		kick:    make(chan struct{}, 1),
		state:   map[string]*serviceState{},
		retired: map[Key]string{},
		foreign: map[Key]bool{},
	}
	if err := m.Update(services); err != nil {
		return nil, err
	}
	return m, nil
}

// Update replaces the desired config (reload, or a service switching
// between proxy and lvs mode). Services no longer declared as lvs are
// deleted from the kernel at the next reconcile; services whose settings
// did not change are left untouched, and backends that stay keep their
// health. It fails, changing nothing, when a service cannot be mapped to
// IPVS.
func (m *Manager) Update(services []config.Service) error {
	var lvsServices []config.Service
	for _, sc := range services {
		if sc.Mode == "lvs" {
			lvsServices = append(lvsServices, sc)
		}
	}
	keys := map[string]Key{}
	for _, sc := range lvsServices {
		s, err := serviceSettings(sc)
		if err != nil {
			return fmt.Errorf("lvs %s: %w", sc.Name, err)
		}
		if _, err := desiredService(sc, nil); err != nil {
			return fmt.Errorf("lvs %s: %w", sc.Name, err)
		}
		keys[sc.Name] = s.Key
	}

	m.mu.Lock()
	old := m.state
	m.state = map[string]*serviceState{}
	m.services = lvsServices
	declared := map[Key]bool{}
	for _, sc := range lvsServices {
		st := &serviceState{cfg: sc, key: keys[sc.Name], up: map[string]bool{}, changes: make(chan struct{}, 1)}
		prev := old[sc.Name]
		for _, b := range sc.Backends {
			if prev != nil && prev.hasBackend(b.Address) && prev.cfg.Check != nil && sc.Check != nil {
				st.up[b.Address] = prev.up[b.Address]
			} else {
				st.up[b.Address] = sc.Check == nil // no check: nothing would ever bring it up
			}
		}
		if prev != nil {
			st.changes = prev.changes // keep subscribers' channel
			st.quorate = Quorate(prev.quorate, st.upCount(), len(sc.Backends), sc.Quorum, sc.Hysteresis)
		} else {
			st.quorate = st.upCount() >= sc.Quorum
		}
		m.state[sc.Name] = st
		declared[st.key] = true
		delete(m.retired, st.key)
	}
	for name, st := range old {
		if !declared[st.key] {
			m.retired[st.key] = name
		}
		if now, ok := m.state[name]; !ok || now.quorate != st.quorate {
			signal(st.changes)
		}
	}
	m.mu.Unlock()
	m.poke()
	return nil
}

func (st *serviceState) hasBackend(addr string) bool {
	return slices.ContainsFunc(st.cfg.Backends, func(b config.Backend) bool { return b.Address == addr })
}

func (st *serviceState) upCount() int {
	n := 0
	for _, b := range st.cfg.Backends {
		if st.up[b.Address] {
			n++
		}
	}
	return n
}

// SetBackendUp records a check result for one backend of a service and
// reconciles soon. Unknown services and addresses are ignored: a check
// event may race a reload that removed them.
func (m *Manager) SetBackendUp(service, addr string, up bool) {
	m.mu.Lock()
	st, ok := m.state[service]
	if !ok || !st.hasBackend(addr) || st.up[addr] == up {
		m.mu.Unlock()
		return
	}
	st.up[addr] = up
	was := st.quorate
	st.quorate = Quorate(was, st.upCount(), len(st.cfg.Backends), st.cfg.Quorum, st.cfg.Hysteresis)
	if st.quorate != was {
		if st.quorate {
			m.log.Info("lvs service has quorum", "service", service, "up", st.upCount(), "quorum", st.cfg.Quorum, "hysteresis", st.cfg.Hysteresis)
		} else {
			m.log.Warn("lvs service lost quorum", "service", service, "up", st.upCount(), "quorum", st.cfg.Quorum, "hysteresis", st.cfg.Hysteresis)
		}
		signal(st.changes)
	}
	m.mu.Unlock()
	m.poke()
}

// Health reports whether this node can serve the service: enough backends
// are up (quorum, with hysteresis) and its IPVS rules are in place.
func (m *Manager) Health(service string) (up bool, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.state[service]
	if !ok {
		return false, "not an lvs service of this config"
	}
	n, total := st.upCount(), len(st.cfg.Backends)
	switch {
	case st.applyErr != nil:
		return false, fmt.Sprintf("IPVS rules not in place: %v", st.applyErr)
	case !st.quorate:
		return false, fmt.Sprintf("%d of %d real servers up, quorum needs %d", n, total, max(min(st.cfg.Quorum+st.cfg.Hysteresis, total), st.cfg.Quorum))
	}
	return true, fmt.Sprintf("%s: %d of %d real servers up", st.key, n, total)
}

// HealthChanges is signalled whenever Health(service) may have changed. It
// holds at most one pending signal, so a slow reader sees one signal for
// many changes and calls Health for the current state. The channel of a
// service stays the same across Update; it is nil for unknown services.
func (m *Manager) HealthChanges(service string) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st, ok := m.state[service]; ok {
		return st.changes
	}
	return nil
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (m *Manager) poke() { signal(m.kick) }

// Run reconciles at start, on every change and every Resync until ctx
// ends. On stop it leaves the rules in place, so a restarted vigil adopts
// them without dropping a connection, unless lvs.flush_on_stop is set; then
// it deletes the services it declares (never foreign ones).
func (m *Manager) Run(ctx context.Context) error {
	resync := m.Resync
	if resync <= 0 {
		resync = DefaultResync
	}
	t := time.NewTicker(resync)
	defer t.Stop()
	for {
		if err := m.Reconcile(); err != nil {
			m.log.Error("lvs reconcile failed; retrying", "err", err, "in", resync)
		}
		select {
		case <-ctx.Done():
			if m.global.FlushOnStop {
				if err := m.flush(); err != nil {
					return err
				}
			}
			return nil
		case <-m.kick:
		case <-t.C:
		}
	}
}

// Reconcile reads the kernel table, applies the difference to the desired
// state and reads it back: moby/ipvs can report success for writes that did
// not happen, so only the read-back says the rules are in place.
func (m *Manager) Reconcile() error {
	m.mu.Lock()
	desired, err := m.desiredLocked()
	retired := make([]Key, 0, len(m.retired))
	for k := range m.retired {
		retired = append(retired, k)
	}
	m.mu.Unlock()
	if err != nil {
		return err // Update validated the services; only a bug lands here
	}

	m.ipvsMu.Lock()
	plan, applyErr := m.applyLocked(desired, retired)
	var after Plan
	actual, readErr := Read(m.ipvs)
	if readErr == nil {
		after = Diff(desired, retired, actual)
	}
	m.ipvsMu.Unlock()

	for _, op := range plan.Ops {
		m.log.Info("lvs "+op.String(), "service", op.Service.Name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.noteForeign(plan.Foreign)
	// Each service's rules are in place when the read-back shows nothing
	// left to do for it.
	pending := map[Key][]string{}
	for _, op := range after.Ops {
		pending[op.Service.Key] = append(pending[op.Service.Key], op.String())
	}
	for k := range m.retired {
		if readErr == nil && len(pending[k]) == 0 {
			delete(m.retired, k)
		}
	}
	for _, st := range m.state {
		var now error
		switch {
		case readErr != nil:
			now = readErr
		case len(pending[st.key]) > 0:
			now = fmt.Errorf("kernel table still differs after apply: %s", strings.Join(pending[st.key], "; "))
		}
		if (now == nil) != (st.applyErr == nil) {
			signal(st.changes)
		}
		st.applyErr = now
	}
	if readErr != nil {
		return errors.Join(applyErr, readErr)
	}
	if len(after.Ops) > 0 {
		return errors.Join(applyErr, fmt.Errorf("lvs: kernel table still differs after apply: %d ops left, first: %s", len(after.Ops), after.Ops[0]))
	}
	return applyErr
}

func (m *Manager) desiredLocked() ([]Service, error) {
	health := Health{}
	for name, st := range m.state {
		health[name] = st.up
	}
	return Desired(m.services, health)
}

func (m *Manager) applyLocked(desired []Service, retired []Key) (Plan, error) {
	actual, err := Read(m.ipvs)
	if err != nil {
		return Plan{}, err
	}
	plan := Diff(desired, retired, actual)
	named := map[Key]string{}
	for _, s := range desired {
		named[s.Key] = s.Name
	}
	for i := range plan.Ops {
		if n, ok := named[plan.Ops[i].Service.Key]; ok {
			plan.Ops[i].Service.Name = n
		}
	}
	return plan, Apply(m.ipvs, plan.Ops)
}

func (m *Manager) noteForeign(keys []Key) {
	for _, k := range keys {
		if !m.foreign[k] {
			m.foreign[k] = true
			m.log.Info("lvs: leaving alone an IPVS service vigil does not declare", "service", k.String())
		}
	}
}

// flush deletes the services vigil declares from the kernel.
func (m *Manager) flush() error {
	m.mu.Lock()
	var mine []Key
	for _, st := range m.state {
		mine = append(mine, st.key)
	}
	for k := range m.retired {
		mine = append(mine, k)
	}
	m.mu.Unlock()
	m.ipvsMu.Lock()
	defer m.ipvsMu.Unlock()
	actual, err := Read(m.ipvs)
	if err != nil {
		return fmt.Errorf("lvs: flush on stop: %w", err)
	}
	plan := Diff(nil, mine, actual)
	if err := Apply(m.ipvs, plan.Ops); err != nil {
		return fmt.Errorf("lvs: flush on stop: %w", err)
	}
	m.log.Info("lvs: flushed vigil's IPVS services on stop", "services", len(plan.Ops))
	return nil
}

// Stats are the kernel's counters for one service. Connection counts are
// immediate; packet and byte counters come from the kernel's estimator and
// lag by up to about 2 seconds.
type Stats struct {
	// Name is the service's name in the config.
	Name string
	// Key identifies the service in the kernel.
	Key Key
	// Connections, packets and bytes since the service was created.
	Connections uint64
	PacketsIn   uint64
	PacketsOut  uint64
	BytesIn     uint64
	BytesOut    uint64
	// Destinations are the real servers now in the table.
	Destinations []DestinationStats
}

// DestinationStats are the kernel's counters for one real server.
type DestinationStats struct {
	// Addr is the real server.
	Addr netip.AddrPort
	// Weight is its weight in the table now (0 while inhibited).
	Weight int
	// ActiveConns and InactiveConns are the kernel's current connection counts.
	ActiveConns   int
	InactiveConns int
	// Connections, packets and bytes since the real server was added.
	Connections uint64
	PacketsIn   uint64
	PacketsOut  uint64
	BytesIn     uint64
	BytesOut    uint64
}

// Stats reads the counters of the declared services that are in the
// kernel, sorted by name.
func (m *Manager) Stats() ([]Stats, error) {
	m.mu.Lock()
	names := map[Key]string{}
	for name, st := range m.state {
		names[st.key] = name
	}
	m.mu.Unlock()

	m.ipvsMu.Lock()
	defer m.ipvsMu.Unlock()
	svcs, err := m.ipvs.GetServices()
	if err != nil {
		return nil, fmt.Errorf("lvs: stats: %w", err)
	}
	var out []Stats
	for _, ks := range svcs {
		s, err := fromKernelService(ks)
		if err != nil {
			return nil, fmt.Errorf("lvs: stats: %w", err)
		}
		name, ok := names[s.Key]
		if !ok {
			continue
		}
		st := Stats{
			Name: name, Key: s.Key,
			Connections: uint64(ks.Stats.Connections), PacketsIn: uint64(ks.Stats.PacketsIn), PacketsOut: uint64(ks.Stats.PacketsOut),
			BytesIn: ks.Stats.BytesIn, BytesOut: ks.Stats.BytesOut,
		}
		dsts, err := m.ipvs.GetDestinations(ks)
		if err != nil {
			return nil, fmt.Errorf("lvs %s: stats: %w", name, err)
		}
		for _, kd := range dsts {
			d, err := fromKernelDestination(kd)
			if err != nil {
				return nil, fmt.Errorf("lvs %s: stats: %w", name, err)
			}
			st.Destinations = append(st.Destinations, destinationStats(d, kd))
		}
		slices.SortFunc(st.Destinations, func(a, b DestinationStats) int { return a.Addr.Compare(b.Addr) })
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Stats) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func destinationStats(d Destination, kd *ipvs.Destination) DestinationStats {
	return DestinationStats{
		Addr: d.Addr, Weight: d.Weight,
		ActiveConns: kd.ActiveConnections, InactiveConns: kd.InactiveConnections,
		Connections: uint64(kd.Stats.Connections), PacketsIn: uint64(kd.Stats.PacketsIn), PacketsOut: uint64(kd.Stats.PacketsOut),
		BytesIn: kd.Stats.BytesIn, BytesOut: kd.Stats.BytesOut,
	}
}
