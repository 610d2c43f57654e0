package checks

// riseFall decides a target's state from its stream of probe results, the
// way HAProxy's check inter/rise/fall and keepalived's vrrp_script rise/fall
// do. It is a pure value: no clock, no I/O, so every rule is a table test.
//
// The first-result rule: before any result the state is the configured
// initial one. The very first result decides at once, in either direction;
// only from the second result on do Rise and Fall apply. This is what both
// tools users come from do by default:
//   - HAProxy (init-state up, its default, and init-state down): a server
//     starts up but the first failed check takes it down at once; with
//     init-state down the first passing check brings it up at once.
//   - keepalived vrrp_script without init_fail starts in INIT with its
//     counter set so that "one success is enough" and one failure is enough.
//
// So a node that starts with healthy backends serves at once (it need not
// wait Rise intervals before taking traffic or claiming a VIP), and a node
// that starts with dead ones never sends them a single request. After the
// first result, a flapping target needs Rise successes in a row to come up
// and Fall failures in a row to go down, as usual.
type riseFall struct {
	rise, fall int
	up         bool
	decided    bool // a result has been seen; the first-result rule is spent
	succ, fail int  // consecutive successes and failures so far
}

// newRiseFall starts in the initial state; rise and fall below 1 are read as
// 1, since "zero successes to come up" has no meaning.
func newRiseFall(initialUp bool, rise, fall int) riseFall {
	return riseFall{rise: max(rise, 1), fall: max(fall, 1), up: initialUp}
}

// observe takes one probe result and reports whether the state changed.
func (r *riseFall) observe(ok bool) (changed bool) {
	if ok {
		r.succ++
		r.fail = 0
	} else {
		r.fail++
		r.succ = 0
	}
	was := r.up
	switch {
	case !r.decided:
		r.decided = true
		r.up = ok
	case ok && !r.up && r.succ >= r.rise:
		r.up = true
	case !ok && r.up && r.fail >= r.fall:
		r.up = false
	}
	return r.up != was
}
