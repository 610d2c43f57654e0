package vrrp

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func checkForced(t *testing.T, got []Forced, want ...Forced) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	// Reasons are for humans; compare them only where a test sets one.
	g := append([]Forced(nil), got...)
	for i := range g {
		if i < len(want) && want[i].Reason == "" {
			g[i].Reason = ""
		}
	}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("forced:\n got  %+v\n want %+v", got, want)
	}
}

// startedGroup has members a, b, c observed as started in Backup.
func startedGroup(t *testing.T) *Group {
	t.Helper()
	g := NewGroup([]string{"a", "b", "c"})
	for _, m := range []string{"a", "b", "c"} {
		checkForced(t, g.Observe(m, Transition{Initialize, Backup, "start"}))
	}
	return g
}

func TestGroupMasterPropagates(t *testing.T) {
	g := startedGroup(t)
	checkForced(t, g.Observe("a", Transition{Backup, Master, "master down timer expired (no advert for 3.60s)"}),
		Forced{"b", Master, "a went MASTER (master down timer expired (no advert for 3.60s))"},
		Forced{"c", Master, ""})
	// The forced members' transitions come back; they must not cascade.
	checkForced(t, g.Observe("b", Transition{Backup, Master, "sync group: a went MASTER"}))
	checkForced(t, g.Observe("c", Transition{Backup, Master, "sync group: a went MASTER"}))
	// Even a duplicate report is harmless: everyone already is Master.
	checkForced(t, g.Observe("c", Transition{Backup, Master, "again"}))
}

func TestGroupBackupPropagates(t *testing.T) {
	g := startedGroup(t)
	g.Observe("a", Transition{Backup, Master, ""})
	g.Observe("b", Transition{Backup, Master, ""})
	g.Observe("c", Transition{Backup, Master, ""})
	checkForced(t, g.Observe("b", Transition{Master, Backup, "priority 100 < peer 10.0.0.3 priority 150"}),
		Forced{"a", Backup, ""}, Forced{"c", Backup, ""})
	checkForced(t, g.Observe("a", Transition{Master, Backup, "sync group"}))
	checkForced(t, g.Observe("c", Transition{Master, Backup, "sync group"}))
}

func TestGroupFaultPropagatesAndReleases(t *testing.T) {
	g := startedGroup(t)
	g.Observe("a", Transition{Backup, Master, ""})
	g.Observe("b", Transition{Backup, Master, ""})
	g.Observe("c", Transition{Backup, Master, ""})
	checkForced(t, g.Observe("c", Transition{Master, Fault, "fault: eth1 down"}),
		Forced{"a", Fault, "c went FAULT (fault: eth1 down)"}, Forced{"b", Fault, ""})
	checkForced(t, g.Observe("a", Transition{Master, Fault, "sync group"}))
	checkForced(t, g.Observe("b", Transition{Master, Fault, "sync group"}))
	checkForced(t, g.Observe("c", Transition{Fault, Backup, "fault cleared: eth1 up"}),
		Forced{"a", Backup, ""}, Forced{"b", Backup, ""})
	checkForced(t, g.Observe("a", Transition{Fault, Backup, "sync group"}))
	checkForced(t, g.Observe("b", Transition{Fault, Backup, "sync group"}))
}

func TestGroupStaysFaultWhileAnyMemberFaulty(t *testing.T) {
	g := startedGroup(t)
	checkForced(t, g.Observe("a", Transition{Backup, Fault, "fault: eth0 down"}),
		Forced{"b", Fault, ""}, Forced{"c", Fault, ""})
	checkForced(t, g.Observe("b", Transition{Backup, Fault, "sync group"}))
	// c faults on its own just as the group's order reaches it: the
	// transition looks like the echo of the order, and only ObserveFault
	// (which the runner calls with every FaultChanged) tells the truth.
	checkForced(t, g.Observe("c", Transition{Backup, Fault, "fault: eth1 down"}))
	checkForced(t, g.ObserveFault("c", true))
	// a recovers first: c still faulty, so a goes back to Fault.
	checkForced(t, g.Observe("a", Transition{Fault, Backup, "fault cleared"}),
		Forced{"a", Fault, "c is still faulty"})
	checkForced(t, g.Observe("a", Transition{Backup, Fault, "sync group"}))
	// c recovers: nobody is faulty, a and b are released.
	checkForced(t, g.Observe("c", Transition{Fault, Backup, "fault cleared"}),
		Forced{"a", Backup, ""}, Forced{"b", Backup, ""})
}

func TestGroupHiddenFaultNeedsObserveFault(t *testing.T) {
	g := startedGroup(t)
	g.Observe("a", Transition{Backup, Fault, "fault: eth0 down"})
	g.Observe("b", Transition{Backup, Fault, "sync group"})
	g.Observe("c", Transition{Backup, Fault, "sync group"})
	// b's own interface fails while the group already holds it in Fault:
	// its Machine makes no transition, only ObserveFault can tell.
	checkForced(t, g.ObserveFault("b", true))
	checkForced(t, g.ObserveFault("b", true)) // repeated: nothing
	checkForced(t, g.Observe("a", Transition{Fault, Backup, "fault cleared"}),
		Forced{"a", Fault, "b is still faulty"})
	g.Observe("a", Transition{Backup, Fault, "sync group"})
	checkForced(t, g.ObserveFault("b", false),
		Forced{"a", Backup, "b fault cleared"}, Forced{"b", Backup, ""}, Forced{"c", Backup, ""})
}

func TestGroupStartupJoins(t *testing.T) {
	g := NewGroup([]string{"a", "b", "c", "a"}) // duplicate ignored
	// The owner starts as Master; the others have not started yet.
	checkForced(t, g.Observe("a", Transition{Initialize, Master, "start as address owner (priority 255)"}))
	// A member starting as Backup joins the Master group instead of
	// dragging it down to Backup.
	checkForced(t, g.Observe("b", Transition{Initialize, Backup, "start"}), Forced{"b", Master, "a is MASTER"})
	checkForced(t, g.Observe("b", Transition{Backup, Master, "sync group: a is MASTER"}))
	// A member starting in Fault takes the whole group to Fault.
	checkForced(t, g.Observe("c", Transition{Initialize, Fault, "start in fault: eth1 down"}),
		Forced{"a", Fault, ""}, Forced{"b", Fault, ""})
}

func TestGroupStoppedMemberReleases(t *testing.T) {
	g := startedGroup(t)
	g.Observe("a", Transition{Backup, Fault, "fault"})
	g.Observe("b", Transition{Backup, Fault, "sync group"})
	g.Observe("c", Transition{Backup, Fault, "sync group"})
	checkForced(t, g.Observe("a", Transition{Fault, Initialize, "shutdown"}),
		Forced{"b", Backup, "a stopped"}, Forced{"c", Backup, ""})
	// A stopped member is never forced and its faults do not count.
	checkForced(t, g.ObserveFault("a", true))
	checkForced(t, g.Observe("b", Transition{Fault, Backup, "sync group"}))
	checkForced(t, g.Observe("c", Transition{Fault, Backup, "sync group"}))
	checkForced(t, g.Observe("b", Transition{Backup, Master, ""}), Forced{"c", Master, ""})
}

func TestGroupUnknownMember(t *testing.T) {
	g := startedGroup(t)
	checkForced(t, g.Observe("zz", Transition{Backup, Master, ""}))
	checkForced(t, g.ObserveFault("zz", true))
}

// groupHarness wires real Machines to a Group the way a runner would: every
// Transition goes to Observe, every Forced becomes a ForceState step, and
// every FaultChanged is also reported with ObserveFault.
type groupHarness struct {
	t     *testing.T
	g     *Group
	names []string
	ms    map[string]*Machine
	steps int // Machine steps caused by the last external event
}

func newGroupHarness(t *testing.T, prios ...uint8) *groupHarness {
	h := &groupHarness{t: t, ms: map[string]*Machine{}}
	for i, p := range prios {
		name := fmt.Sprintf("vi_%d", i+1)
		h.names = append(h.names, name)
		h.ms[name] = NewMachine(Params{Version: 3, Priority: p, AdvertInterval: time.Second, Preempt: true,
			Address: netip.AddrFrom4([4]byte{10, 0, byte(i), 2})})
	}
	h.g = NewGroup(h.names)
	return h
}

func (h *groupHarness) step(member string, ev Event) {
	h.t.Helper()
	type item struct {
		member string
		ev     Event
	}
	queue := []item{{member, ev}}
	h.steps = 0
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		h.steps++
		if h.steps > 10*len(h.names) {
			h.t.Fatalf("feedback loop: %d steps after %s %T%+v", h.steps, member, ev, ev)
		}
		for _, a := range h.ms[it.member].Step(it.ev) {
			if tr, ok := a.(Transition); ok {
				for _, f := range h.g.Observe(it.member, tr) {
					queue = append(queue, item{f.Member, ForceState{f.State, f.Reason}})
				}
			}
		}
		if fc, ok := it.ev.(FaultChanged); ok {
			for _, f := range h.g.ObserveFault(it.member, fc.Fault) {
				queue = append(queue, item{f.Member, ForceState{f.State, f.Reason}})
			}
		}
	}
}

func (h *groupHarness) states() []State {
	var out []State
	for _, n := range h.names {
		out = append(out, h.ms[n].State())
	}
	return out
}

func (h *groupHarness) want(states ...State) {
	h.t.Helper()
	if got := h.states(); !reflect.DeepEqual(got, states) {
		h.t.Fatalf("states %v, want %v", got, states)
	}
}

func TestGroupWithMachines(t *testing.T) {
	h := newGroupHarness(t, 100, 100, 100)
	for _, n := range h.names {
		h.step(n, Start{})
	}
	h.want(Backup, Backup, Backup)
	h.step("vi_2", TimerFired{MasterDownTimer})
	h.want(Master, Master, Master)
	// The others' master-down timers were stopped by the force; a late
	// fire is stale and changes nothing.
	h.step("vi_1", TimerFired{MasterDownTimer})
	h.want(Master, Master, Master)
	h.step("vi_3", AdvertReceived{From: netip.MustParseAddr("10.9.9.9"), Priority: 200, Interval: time.Second})
	h.want(Backup, Backup, Backup)
	h.step("vi_1", FaultChanged{true, "eth0 down"})
	h.want(Fault, Fault, Fault)
	h.step("vi_3", FaultChanged{true, "eth2 down"}) // hidden: already Fault
	h.want(Fault, Fault, Fault)
	h.step("vi_1", FaultChanged{false, "eth0 up"})
	h.want(Fault, Fault, Fault) // vi_3 still faulty
	h.step("vi_3", FaultChanged{false, "eth2 up"})
	h.want(Backup, Backup, Backup)
	h.step("vi_1", Shutdown{})
	h.want(Initialize, Backup, Backup)
	h.step("vi_3", TimerFired{MasterDownTimer})
	h.want(Initialize, Master, Master)
	h.step("vi_1", Start{})
	h.want(Master, Master, Master)
}

// TestGroupNoFeedbackLoopRandom drives three grouped machines with seeded
// random events. Every external event must settle within a few steps (no
// feedback loop), and afterwards the running members must agree: all in
// Fault while any of them has its own fault, otherwise all in one state.
func TestGroupNoFeedbackLoopRandom(t *testing.T) {
	peer := netip.MustParseAddr("10.9.9.9")
	for seed := uint64(1); seed <= 100; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		h := newGroupHarness(t, 100, 150, 200)
		for _, n := range h.names {
			h.step(n, Start{})
		}
		maxSteps := 0
		for i := range 400 {
			n := h.names[rng.IntN(len(h.names))]
			m := h.ms[n]
			var ev Event
			switch rng.IntN(9) {
			case 0, 1:
				var armed []Timer
				for tm := Timer(0); tm < numTimers; tm++ {
					if m.armed[tm] {
						armed = append(armed, tm)
					}
				}
				if len(armed) == 0 {
					continue
				}
				ev = TimerFired{armed[rng.IntN(len(armed))]}
			case 2, 3:
				ev = AdvertReceived{From: peer, Priority: uint8(rng.IntN(256)), Interval: time.Second}
			case 4, 5:
				ev = FaultChanged{Fault: rng.IntN(2) == 0, Reason: "link"}
			case 6:
				ev = PriorityChanged{Priority: uint8(1 + rng.IntN(255))}
			case 7:
				ev = Shutdown{}
			case 8:
				ev = Start{}
			}
			h.step(n, ev)
			maxSteps = max(maxSteps, h.steps)
			var running []State
			faulty := false
			for _, name := range h.names {
				mm := h.ms[name]
				if mm.State() == Initialize {
					continue
				}
				running = append(running, mm.State())
				faulty = faulty || mm.ownFault
			}
			for _, s := range running {
				if (faulty && s != Fault) || (!faulty && s != running[0]) {
					t.Fatalf("seed %d event %d (%s %T%+v): states %v, faulty %v", seed, i, n, ev, ev, h.states(), faulty)
				}
			}
		}
		if maxSteps > 2*len(h.names) {
			t.Fatalf("seed %d: an event took %d machine steps to settle", seed, maxSteps)
		}
	}
}
