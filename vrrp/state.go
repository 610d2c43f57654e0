package vrrp

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// State is the RFC 5798 state of one virtual router instance, plus Fault,
// which keepalived added and users expect (an instance whose tracked
// interface is down must neither hold the VIP nor compete for it).
type State int

// The states. Initialize is the zero value so a fresh Machine is in it.
const (
	// Initialize: not started yet, or shut down. Nothing is sent or held.
	Initialize State = iota
	// Backup: listening for the master, ready to take over.
	Backup
	// Master: holds the VIPs and advertises.
	Master
	// Fault: a tracked interface or weight-0 track failed; the instance
	// holds nothing and does not compete until the fault clears.
	Fault
)

// String returns the keepalived spelling, which is what notify scripts,
// logs and users already expect.
func (s State) String() string {
	switch s {
	case Initialize:
		return "INIT"
	case Backup:
		return "BACKUP"
	case Master:
		return "MASTER"
	case Fault:
		return "FAULT"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Params configures a Machine. NewMachine normalizes out-of-range values
// rather than failing, because config validation happens elsewhere and the
// machine must never be left without sane timers.
type Params struct {
	// Version is 2 (RFC 3768, keepalived's default) or 3 (RFC 5798); any
	// other value means 3. It decides timer precision and whether a
	// backup learns the master's advert interval.
	Version int
	// Priority is the effective priority at start (1..255); 255 means the
	// address owner, which goes master at once. 0 is reserved for
	// resigning on the wire, so it is treated as 1.
	Priority uint8
	// AdvertInterval is our configured advert interval. v3 rounds it to
	// whole centiseconds (10ms..40.95s) and v2 to whole seconds
	// (1s..255s), because that is all the wire can carry; 0 means 1s.
	AdvertInterval time.Duration
	// Preempt lets a higher-priority backup take over from a live
	// lower-priority master (RFC default true). False is keepalived's
	// nopreempt.
	Preempt bool
	// PreemptDelay holds off preemption after Start (and after leaving
	// Fault) so a node that has just come up can settle before it grabs
	// the VIP. Ignored when Preempt is false.
	PreemptDelay time.Duration
	// Address is our primary address, compared with the sender's on equal
	// priority (higher wins) and used to ignore our own looped-back adverts.
	Address netip.Addr
}

// Timer names one of the machine's timers. The runner keeps one real timer
// per name; SetTimer replaces (re-arms) a running one.
type Timer int

// The timers of RFC 5798 section 6.2, plus keepalived's preempt delay.
const (
	// AdvertTimer (Adver_Timer): master sends its next advert when it fires.
	AdvertTimer Timer = iota
	// MasterDownTimer (Master_Down_Timer): backup takes over when it fires.
	MasterDownTimer
	// PreemptDelayTimer ends the hold-off on preemption after start.
	PreemptDelayTimer

	numTimers
)

// String names the timer for logs and test failures.
func (t Timer) String() string {
	switch t {
	case AdvertTimer:
		return "advert"
	case MasterDownTimer:
		return "master-down"
	case PreemptDelayTimer:
		return "preempt-delay"
	}
	return "Timer(" + strconv.Itoa(int(t)) + ")"
}

// Event is an input to Machine.Step. The interface is sealed so a runner
// cannot invent inputs the machine has no rule for.
type Event interface{ isEvent() }

// Start leaves Initialize: a priority-255 owner becomes Master at once,
// anyone else Backup (or Fault when a fault is already known).
type Start struct{}

// AdvertReceived is a valid advert for our VRID from a peer. The codec and
// runner have already checked version, VRID, TTL, auth, checksum and (v2)
// interval, so the machine only applies the election rules.
type AdvertReceived struct {
	// From is the sender's primary address (IP source).
	From netip.Addr
	// Priority is the advertised priority; 0 means the master resigns.
	Priority uint8
	// Interval is the advertised interval; a v3 backup adopts it.
	Interval time.Duration
}

// TimerFired reports that a timer armed by SetTimer expired. A fire for a
// timer the machine has since stopped or never armed is ignored, so a
// runner racing a stop against an expiry cannot cause a spurious takeover.
type TimerFired struct{ Timer Timer }

// PriorityChanged carries a new effective priority (see Effective). It is
// an event rather than a setter so the master can advertise it at once.
type PriorityChanged struct {
	Priority uint8
	Reason   string
}

// FaultChanged reports that the instance's own fault condition (tracked
// interface down, weight-0 track failing) started or ended.
type FaultChanged struct {
	Fault  bool
	Reason string
}

// ForceState is a sync group's order to follow a sibling instance: Master,
// Backup or Fault. It is ignored when already there, before Start, and
// (for Master or Backup) while our own fault holds us in Fault.
type ForceState struct {
	State  State
	Reason string
}

// Shutdown stops the instance: a master resigns with priority 0 so the best
// backup takes over after Skew_Time instead of Master_Down_Interval.
type Shutdown struct{}

func (Start) isEvent()           {}
func (AdvertReceived) isEvent()  {}
func (TimerFired) isEvent()      {}
func (PriorityChanged) isEvent() {}
func (FaultChanged) isEvent()    {}
func (ForceState) isEvent()      {}
func (Shutdown) isEvent()        {}

// Action is an output of Machine.Step for the runner to carry out, in the
// order given. Sealed for the same reason as Event.
type Action interface{ isAction() }

// SendAdvert asks the runner to send one advert now with this priority
// (0 when resigning) and our own configured interval.
type SendAdvert struct{ Priority uint8 }

// SetTimer arms (or re-arms, replacing) the named timer.
type SetTimer struct {
	Timer Timer
	After time.Duration
}

// StopTimer disarms the named timer. It is only emitted for armed timers.
type StopTimer struct{ Timer Timer }

// AddVIPs asks the runner to put the virtual addresses on the interface.
type AddVIPs struct{}

// RemoveVIPs asks the runner to take the virtual addresses off.
type RemoveVIPs struct {
	// Handover marks a master stepping down because a better one spoke:
	// that one announces the VIPs at once, and the runner keeps them a
	// moment longer so clients that have not yet heard its GARP still
	// reach a node that has them.
	Handover bool
}

// Announce asks for a gratuitous ARP / unsolicited NA burst, so switches
// and clients move their traffic to us. It always comes after AddVIPs.
type Announce struct {
	// Answer marks the announcement a master makes on hearing a
	// lower-priority master: the runner rate-limits those, since a peer
	// that cannot hear us (a one-way block) sends one every interval.
	Answer bool
}

// Transition reports a state change with a reason a human can act on. It
// is the last action of its Step, after the effects it describes, so a
// notify hook run for it sees the VIPs already moved.
type Transition struct {
	From, To State
	Reason   string
}

func (SendAdvert) isAction() {}
func (SetTimer) isAction()   {}
func (StopTimer) isAction()  {}
func (AddVIPs) isAction()    {}
func (RemoveVIPs) isAction() {}
func (Announce) isAction()   {}
func (Transition) isAction() {}

// timerCentisecond is the v3 timer unit; computing in it reproduces the RFC's
// integer arithmetic exactly.
const timerCentisecond = 10 * time.Millisecond

// durationCentis rounds to whole centiseconds, the only unit a v3 interval has on
// the wire.
func durationCentis(d time.Duration) int64 {
	return int64((d + timerCentisecond/2) / timerCentisecond)
}

// SkewTime is RFC 5798's Skew_Time = ((256 - Priority) *
// Master_Adver_Interval) / 256, which makes a better backup fire first.
// For v3 it is computed in integer centiseconds exactly as the RFC does,
// so all nodes agree to the timerCentisecond. For v2 (whole-second intervals)
// it is computed in integer microseconds like keepalived's timers, so a v2
// backup's timing matches a keepalived peer's.
func SkewTime(priority uint8, interval time.Duration, version int) time.Duration {
	if version == 2 {
		us := interval.Microseconds()
		return time.Duration((256-int64(priority))*us/256) * time.Microsecond
	}
	cs := durationCentis(interval)
	return time.Duration((256-int64(priority))*cs/256) * timerCentisecond
}

// MasterDownInterval is RFC 5798's Master_Down_Interval = 3 *
// Master_Adver_Interval + Skew_Time, with the same precision as SkewTime:
// a backup declares the master dead after three missed adverts plus a
// priority-dependent skew so the best backup wins the race.
func MasterDownInterval(priority uint8, interval time.Duration, version int) time.Duration {
	if version == 2 {
		us := interval.Microseconds()
		return time.Duration(3*us+(256-int64(priority))*us/256) * time.Microsecond
	}
	cs := durationCentis(interval)
	return time.Duration(3*cs+(256-int64(priority))*cs/256) * timerCentisecond
}

// Machine is the pure VRRP state machine of one instance. It reads no
// clock and does no I/O: the runner feeds it events with Step and carries
// out the returned actions, so the same code runs in production and in a
// simulated network. It is not safe for concurrent use; the runner
// serializes Step calls.
type Machine struct {
	p        Params
	state    State
	priority uint8

	masterAddr     netip.Addr
	masterInterval time.Duration // Master_Adver_Interval

	armed       [numTimers]bool
	mdtArmedFor time.Duration // what MasterDownTimer was last armed with, for the reason
	resignedBy  netip.Addr    // set when MasterDownTimer was cut to Skew_Time by a priority-0 advert
	// discarded* remember the lower-priority master we ignored since the
	// last accepted advert, so the takeover says it was a preemption.
	discarded     bool
	discardedFrom netip.Addr
	discardedPrio uint8

	preemptHold bool // within PreemptDelay: behave as nopreempt

	ownFault    bool // our own FaultChanged; blocks forced Master/Backup
	faultReason string
	forcedFault bool // Fault because a sync group said so, not our own fault

	out []Action
}

// NewMachine returns a machine in Initialize with normalized parameters.
func NewMachine(p Params) *Machine {
	if p.Version != 2 {
		p.Version = 3
	}
	if p.Priority == 0 {
		p.Priority = 1
	}
	p.AdvertInterval = wireInterval(p.AdvertInterval, p.Version)
	if p.PreemptDelay < 0 || !p.Preempt {
		p.PreemptDelay = 0
	}
	return &Machine{
		p:              p,
		priority:       p.Priority,
		masterInterval: p.AdvertInterval,
	}
}

// wireInterval snaps an interval to what the version's wire format
// can carry, so local timers match what peers will compute from our adverts.
func wireInterval(d time.Duration, version int) time.Duration {
	if d <= 0 {
		return time.Second
	}
	if version == 2 {
		s := (d + time.Second/2) / time.Second
		return min(max(s, 1), 255) * time.Second
	}
	return time.Duration(min(max(durationCentis(d), 1), 4095)) * timerCentisecond
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Priority returns the effective priority used in adverts and elections.
func (m *Machine) Priority() uint8 { return m.priority }

// MasterAddr returns the last known master: ourselves when Master, the
// sender of the last accepted advert when Backup, invalid when unknown.
func (m *Machine) MasterAddr() netip.Addr { return m.masterAddr }

// MasterAdvertInterval returns Master_Adver_Interval: the interval learned
// from the master (v3) or the local one (v2, or when we are master).
func (m *Machine) MasterAdvertInterval() time.Duration { return m.masterInterval }

// Step applies one event and returns the actions to carry out, in order.
// The returned slice is new on every call and owned by the caller.
func (m *Machine) Step(ev Event) []Action {
	m.out = nil
	switch e := ev.(type) {
	case Start:
		m.onStart()
	case AdvertReceived:
		m.onAdvert(e)
	case TimerFired:
		m.onTimer(e.Timer)
	case PriorityChanged:
		m.onPriority(e)
	case FaultChanged:
		m.onFault(e)
	case ForceState:
		m.onForce(e)
	case Shutdown:
		m.onShutdown()
	}
	out := m.out
	m.out = nil
	return out
}

func (m *Machine) emit(a Action) { m.out = append(m.out, a) }

func (m *Machine) setTimer(t Timer, d time.Duration) {
	m.armed[t] = true
	if t == MasterDownTimer {
		m.mdtArmedFor = d
	}
	m.emit(SetTimer{Timer: t, After: d})
}

func (m *Machine) stopTimer(t Timer) {
	if m.armed[t] {
		m.armed[t] = false
		m.emit(StopTimer{Timer: t})
	}
}

func (m *Machine) stopAllTimers() {
	for t := Timer(0); t < numTimers; t++ {
		m.stopTimer(t)
	}
}

// transition must be the last thing a rule does, so Transition is the last
// action and describes effects already emitted.
func (m *Machine) transition(to State, reason string) {
	from := m.state
	m.state = to
	m.emit(Transition{From: from, To: to, Reason: reason})
}

func (m *Machine) masterDown() time.Duration {
	return MasterDownInterval(m.priority, m.masterInterval, m.p.Version)
}

func (m *Machine) resetElectionMemory() {
	m.resignedBy = netip.Addr{}
	m.discarded = false
}

// becomeMaster is RFC 5798 6.4.2's "transition to Master" with the VIPs
// added before the announcement, since a GARP for an address we do not yet
// hold would pull traffic to a host that drops it.
func (m *Machine) becomeMaster(reason string) {
	m.stopTimer(MasterDownTimer)
	m.stopTimer(PreemptDelayTimer)
	m.preemptHold = false
	m.resetElectionMemory()
	m.masterAddr = m.p.Address
	m.masterInterval = m.p.AdvertInterval
	m.emit(SendAdvert{Priority: m.priority})
	m.emit(AddVIPs{})
	m.emit(Announce{})
	m.setTimer(AdvertTimer, m.p.AdvertInterval)
	m.transition(Master, reason)
}

// enterBackupFresh enters Backup knowing nothing about the current master
// (after Start or Fault): RFC 5798 6.4.1 with Master_Adver_Interval reset
// to our own interval, plus the preempt delay hold.
func (m *Machine) enterBackupFresh(reason string) {
	m.resetElectionMemory()
	m.masterAddr = netip.Addr{}
	m.masterInterval = m.p.AdvertInterval
	m.setTimer(MasterDownTimer, m.masterDown())
	if m.p.PreemptDelay > 0 {
		m.preemptHold = true
		m.setTimer(PreemptDelayTimer, m.p.PreemptDelay)
	}
	m.transition(Backup, reason)
}

// masterToBackup steps down; the caller has set masterInterval/masterAddr.
func (m *Machine) masterToBackup(reason string, handover bool) {
	m.emit(RemoveVIPs{Handover: handover})
	m.stopTimer(AdvertTimer)
	m.resetElectionMemory()
	m.setTimer(MasterDownTimer, m.masterDown())
	m.transition(Backup, reason)
}

// becomeFault releases everything. A master resigns with priority 0 so the
// best backup takes over after Skew_Time rather than a full
// Master_Down_Interval.
func (m *Machine) becomeFault(reason string) {
	if m.state == Master {
		m.emit(SendAdvert{Priority: 0})
		m.emit(RemoveVIPs{})
	}
	m.stopAllTimers()
	m.preemptHold = false
	m.resetElectionMemory()
	m.transition(Fault, reason)
}

func (m *Machine) onStart() {
	if m.state != Initialize {
		return
	}
	m.forcedFault = false
	switch {
	case m.ownFault:
		m.transition(Fault, reasonWith("start in fault", m.faultReason))
	case m.priority == 255:
		m.becomeMaster("start as address owner (priority 255)")
	default:
		m.enterBackupFresh("start")
	}
}

func (m *Machine) onAdvert(e AdvertReceived) {
	if m.p.Address.IsValid() && e.From == m.p.Address {
		// Our own advert looped back; treating it as a peer would make a
		// master answer itself forever.
		return
	}
	switch m.state {
	case Backup:
		m.backupAdvert(e)
	case Master:
		m.masterAdvert(e)
	}
}

// backupAdvert is RFC 5798 6.4.2. On equal priority a backup accepts the
// master regardless of addresses: the tie-break only settles two masters.
func (m *Machine) backupAdvert(e AdvertReceived) {
	if e.Priority == 0 {
		m.resignedBy = e.From
		m.setTimer(MasterDownTimer, SkewTime(m.priority, m.masterInterval, m.p.Version))
		return
	}
	if !m.p.Preempt || m.preemptHold || e.Priority >= m.priority {
		if m.p.Version == 3 && e.Interval > 0 {
			m.masterInterval = wireInterval(e.Interval, 3)
		}
		m.masterAddr = e.From
		m.resetElectionMemory()
		m.setTimer(MasterDownTimer, m.masterDown())
		return
	}
	// Discard: the Master_Down_Timer keeps running and fires, which is
	// how a preempting backup takes over from a lower-priority master.
	//
	// When the advert comes from the master we have been following, its
	// priority is now below ours: it dropped (tracking says it can no
	// longer serve) or our own rose or our preempt_delay ended. Waiting out
	// the rest of Master_Down_Interval (up to 3 intervals) only prolongs
	// an outage, so take over after Skew_Time, as for a priority-0
	// resignation; the skew still lets the best of several backups win.
	// A master we never followed (we just started) gets the RFC's full
	// interval. Once only: later lower adverts leave the timer running.
	if !m.discarded && e.From == m.masterAddr {
		m.setTimer(MasterDownTimer, SkewTime(m.priority, m.masterInterval, m.p.Version))
	}
	m.discarded = true
	m.discardedFrom = e.From
	m.discardedPrio = e.Priority
}

// masterAdvert is RFC 5798 6.4.3 plus keepalived's answer to a lower
// priority master: advertise and announce at once, so a healed split brain
// converges within one interval and clients' ARP caches follow the winner.
func (m *Machine) masterAdvert(e AdvertReceived) {
	if e.Priority == 0 {
		m.emit(SendAdvert{Priority: m.priority})
		m.setTimer(AdvertTimer, m.p.AdvertInterval)
		return
	}
	higher := e.Priority > m.priority ||
		(e.Priority == m.priority && e.From.Compare(m.p.Address) > 0)
	if !higher {
		m.emit(SendAdvert{Priority: m.priority})
		m.emit(Announce{Answer: true})
		m.setTimer(AdvertTimer, m.p.AdvertInterval)
		return
	}
	if m.p.Version == 3 && e.Interval > 0 {
		m.masterInterval = wireInterval(e.Interval, 3)
	} else {
		m.masterInterval = m.p.AdvertInterval
	}
	m.masterAddr = e.From
	// A parting advert at our own priority, before stepping down: two
	// masters mean a split brain is healing, and clients that followed our
	// announcements still send to us. The winner answers a lower-priority
	// master with an announcement (above), but it only hears one if our
	// periodic advert happens to reach it before its own reaches us; this
	// one makes sure it does, so clients move at once instead of when
	// their ARP entries expire. (After a preemption the winner has just
	// announced anyway; announcing again costs a burst of GARPs.)
	m.emit(SendAdvert{Priority: m.priority})
	var reason string
	if e.Priority == m.priority {
		reason = fmt.Sprintf("priority %d = peer %s priority %d, higher address wins", m.priority, e.From, e.Priority)
	} else {
		reason = fmt.Sprintf("priority %d < peer %s priority %d", m.priority, e.From, e.Priority)
	}
	m.masterToBackup(reason, true)
}

func (m *Machine) onTimer(t Timer) {
	if t < 0 || t >= numTimers || !m.armed[t] {
		return // stale or unknown: the timer was stopped after it fired
	}
	m.armed[t] = false
	switch t {
	case AdvertTimer:
		if m.state == Master {
			m.emit(SendAdvert{Priority: m.priority})
			m.setTimer(AdvertTimer, m.p.AdvertInterval)
		}
	case MasterDownTimer:
		if m.state == Backup {
			m.becomeMaster(m.takeoverReason())
		}
	case PreemptDelayTimer:
		m.preemptHold = false
	}
}

func (m *Machine) takeoverReason() string {
	switch {
	case m.resignedBy.IsValid():
		return fmt.Sprintf("peer %s resigned (priority 0)", m.resignedBy)
	case m.discarded:
		return fmt.Sprintf("preempting: priority %d > master %s priority %d", m.priority, m.discardedFrom, m.discardedPrio)
	}
	return "master down timer expired (no advert for " + reasonSeconds(m.mdtArmedFor) + ")"
}

func reasonSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
}

func reasonWith(what, reason string) string {
	if reason == "" {
		return what
	}
	return what + ": " + reason
}

// onPriority applies a tracking change. A master advertises the new
// priority at once so a better backup can preempt without waiting an
// interval. A backup needs nothing more: Master_Down_Interval is derived
// from the priority whenever the timer is next armed, and if it may now
// preempt, the RFC discard path lets the running timer fire.
func (m *Machine) onPriority(e PriorityChanged) {
	p := e.Priority
	if p == 0 {
		p = 1 // 0 on the wire would read as resigning
	}
	if p == m.priority {
		return
	}
	m.priority = p
	if m.state == Master {
		m.emit(SendAdvert{Priority: p})
		m.setTimer(AdvertTimer, m.p.AdvertInterval)
	}
}

func (m *Machine) onFault(e FaultChanged) {
	if e.Fault {
		m.faultReason = e.Reason
		if m.ownFault {
			return
		}
		m.ownFault = true
		if m.state == Master || m.state == Backup {
			m.becomeFault(reasonWith("fault", e.Reason))
		}
		return
	}
	if !m.ownFault {
		return
	}
	m.ownFault = false
	m.faultReason = ""
	if m.state == Fault && !m.forcedFault {
		m.leaveFault(reasonWith("fault cleared", e.Reason))
	}
}

// leaveFault re-enters the election as after Start: the owner takes its
// addresses back at once, anyone else waits as backup.
func (m *Machine) leaveFault(reason string) {
	m.forcedFault = false
	if m.priority == 255 {
		m.becomeMaster(reason)
		return
	}
	m.enterBackupFresh(reason)
}

func (m *Machine) onForce(e ForceState) {
	if m.state == Initialize || e.State == m.state {
		return
	}
	reason := "sync group"
	if e.Reason != "" {
		reason += ": " + e.Reason
	}
	switch e.State {
	case Master:
		if m.ownFault {
			return
		}
		m.forcedFault = false
		m.becomeMaster(reason)
	case Backup:
		m.forcedFault = false
		if m.ownFault {
			return
		}
		if m.state == Master {
			m.masterInterval = m.p.AdvertInterval
			m.masterAddr = netip.Addr{}
			m.masterToBackup(reason, false)
			return
		}
		m.enterBackupFresh(reason)
	case Fault:
		m.forcedFault = true
		m.becomeFault(reason)
	}
}

func (m *Machine) onShutdown() {
	if m.state == Initialize {
		return
	}
	if m.state == Master {
		m.emit(SendAdvert{Priority: 0})
		m.emit(RemoveVIPs{})
	}
	m.stopAllTimers()
	m.preemptHold = false
	m.forcedFault = false
	m.resetElectionMemory()
	m.transition(Initialize, "shutdown")
}

// Retune changes the advert interval and preemption of a running machine
// (a reload) without a state change. The new interval is used from the
// next timer on: a master's next advert, a v2 backup's next Master_Down
// computation (a v3 backup keeps following the master's interval). A
// preemption hold in progress ends when preemption is turned off, and
// keeps its timer otherwise. Like Step it returns the actions to carry out.
func (m *Machine) Retune(advertInterval time.Duration, preempt bool, preemptDelay time.Duration) []Action {
	m.out = nil
	m.p.AdvertInterval = wireInterval(advertInterval, m.p.Version)
	m.p.Preempt = preempt
	if preemptDelay < 0 || !preempt {
		preemptDelay = 0
	}
	m.p.PreemptDelay = preemptDelay
	if !preempt && m.preemptHold {
		m.preemptHold = false
		m.stopTimer(PreemptDelayTimer)
	}
	if m.state == Master {
		m.masterInterval = m.p.AdvertInterval
	} else if m.p.Version == 2 {
		m.masterInterval = m.p.AdvertInterval
	}
	return m.out
}
