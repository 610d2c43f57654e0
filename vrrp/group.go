package vrrp

import "fmt"

// Forced tells the runner to step one member with ForceState{State,
// Reason}.
type Forced struct {
	Member string
	State  State
	Reason string
}

// Group is a pure sync-group coordinator (keepalived vrrp_sync_group): the
// member instances of one node move together, so that e.g. the outside and
// inside VIPs of a NAT router are always on the same node. It only sees
// transitions and says which members to force; it holds no machines.
//
// Rules: a member that goes Master (or Backup) on its own takes every other
// member there; a member that goes Fault takes every other member to
// Fault, and the group stays in Fault while any member has its own fault:
// a member that recovers while a sibling is still faulty is sent back to
// Fault, and the others are released to Backup only when none is faulty.
//
// Feedback loops are cut by remembering what was forced: when the runner
// feeds a forced member's resulting transition back to Observe, it matches
// the expectation and forces nothing further. A member in Initialize (not
// started, or shut down) is never forced; the Machine would ignore it.
type Group struct {
	names  []string
	index  map[string]int
	state  []State
	faulty []bool  // member has its own fault (not one we forced)
	expect []State // state we forced and have not yet observed
	has    []bool  // expect[i] is meaningful
}

// NewGroup returns a coordinator for the named members, all considered in
// Initialize until their first transition is observed. Duplicate names
// are ignored.
func NewGroup(members []string) *Group {
	g := &Group{index: make(map[string]int, len(members))}
	for _, n := range members {
		if _, dup := g.index[n]; dup {
			continue
		}
		g.index[n] = len(g.names)
		g.names = append(g.names, n)
	}
	k := len(g.names)
	g.state = make([]State, k)
	g.faulty = make([]bool, k)
	g.expect = make([]State, k)
	g.has = make([]bool, k)
	return g
}

// Observe records a member's Transition (every one the member's Machine
// emits, forced or not) and returns the forcing orders for the members
// that must follow, in member order. Unknown members are ignored.
func (g *Group) Observe(member string, t Transition) []Forced {
	i, ok := g.index[member]
	if !ok {
		return nil
	}
	g.state[i] = t.To
	if g.has[i] {
		g.has[i] = false
		if g.expect[i] == t.To {
			return nil // the echo of our own order
		}
	}
	why := fmt.Sprintf("%s went %s", member, t.To)
	if t.Reason != "" {
		why += " (" + t.Reason + ")"
	}
	wasFaulty := g.faulty[i]
	switch t.To {
	case Fault:
		g.faulty[i] = true
		return g.forceOthers(i, Fault, why)
	case Initialize:
		g.faulty[i] = false // a stopped member no longer holds the group down
		if wasFaulty {
			return g.release(-1, member+" stopped")
		}
		return nil
	}
	if t.From == Fault {
		g.faulty[i] = false // a Machine leaves Fault on its own only when its fault clears
	}
	if f := g.faultyMember(i); f >= 0 {
		return g.force(nil, i, Fault, g.names[f]+" is still faulty")
	}
	switch {
	case t.From == Fault && t.To == Backup:
		return g.release(i, why)
	case t.From == Initialize && t.To == Backup:
		// A member starting up must not knock the group out of Master;
		// it joins whatever the group is doing instead.
		for j := range g.names {
			if j != i && g.expected(j) == Master {
				return g.force(nil, i, Master, g.names[j]+" is MASTER")
			}
		}
		return nil
	}
	return g.forceOthers(i, t.To, why)
}

// ObserveFault records a member's own fault condition; the runner calls
// it with every FaultChanged it gives the member's Machine. Observe alone
// cannot see a member that develops its own fault while the group already
// holds it in Fault (or just as the group's order arrives): the Machine
// makes no transition of its own, yet that member must keep the group in
// Fault when the first faulty member recovers.
func (g *Group) ObserveFault(member string, fault bool) []Forced {
	i, ok := g.index[member]
	if !ok || g.faulty[i] == fault || g.state[i] == Initialize {
		// A member that is not running holds nothing; if it starts in
		// Fault, Observe sees that transition.
		return nil
	}
	g.faulty[i] = fault
	if fault {
		return g.forceOthers(i, Fault, member+" faulty")
	}
	return g.release(-1, member+" fault cleared")
}

// release moves every member held in Fault to Backup once no member is
// faulty any more. except is skipped (it left Fault on its own).
func (g *Group) release(except int, why string) []Forced {
	if g.faultyMember(-1) >= 0 {
		return nil
	}
	var out []Forced
	for j := range g.names {
		if j != except && g.state[j] != Initialize && g.expected(j) == Fault {
			out = g.force(out, j, Backup, why)
		}
	}
	return out
}

func (g *Group) forceOthers(i int, to State, why string) []Forced {
	var out []Forced
	for j := range g.names {
		if j == i || g.state[j] == Initialize || g.expected(j) == to {
			continue
		}
		if to != Fault && g.faulty[j] {
			continue // its own fault wins; the Machine would refuse anyway
		}
		out = g.force(out, j, to, why)
	}
	return out
}

func (g *Group) force(out []Forced, j int, to State, why string) []Forced {
	g.expect[j], g.has[j] = to, true
	return append(out, Forced{Member: g.names[j], State: to, Reason: why})
}

// expected is the state member j is in, or will be once our pending order
// lands; using it avoids sending the same order twice.
func (g *Group) expected(j int) State {
	if g.has[j] {
		return g.expect[j]
	}
	return g.state[j]
}

// faultyMember returns a faulty member other than except, or -1.
func (g *Group) faultyMember(except int) int {
	for j, f := range g.faulty {
		if f && j != except {
			return j
		}
	}
	return -1
}
