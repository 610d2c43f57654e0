package vrrp

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// This file is a deterministic discrete-event simulation of VRRP instances
// on a shared multicast segment: a fake clock, a priority queue of timer
// expiries and packet deliveries, a fixed delivery latency, per-link
// partitions and seeded random loss. Machines are stepped exactly as a
// runner would step them, so the assertions below are on exact times.

const simLatency = time.Millisecond

type simItem struct {
	at  time.Duration
	seq uint64 // FIFO among equal times keeps runs deterministic
	fn  func()
}

type simQueue []simItem

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(simItem)) }
func (q *simQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

type simTransition struct {
	at time.Duration
	Transition
}

// simInst is one VRRP instance (one Machine) on a simulated host.
type simInst struct {
	name      string
	host      string
	vrid      int
	addr      netip.Addr
	m         *Machine
	group     *Group
	crashed   bool
	gen       [numTimers]uint64 // bumped by SetTimer/StopTimer; stale expiries are dropped
	vips      bool
	announces []time.Duration
	trans     []simTransition
	adverts   int
}

type sim struct {
	t       *testing.T
	now     time.Duration
	seq     uint64
	q       simQueue
	insts   []*simInst
	byName  map[string]*simInst
	blocked map[[2]string]bool // host -> host
	loss    float64
	rng     *rand.Rand
	steps   int

	dual      map[int]bool
	dualSince map[int]time.Duration
	episodes  map[int]int
	dualTime  map[int]time.Duration
	oneFrom   map[int]bool // vrid -> "exactly one master" is being enforced
}

func newSim(t *testing.T, seed uint64) *sim {
	return &sim{
		t: t, byName: map[string]*simInst{}, blocked: map[[2]string]bool{},
		rng:  rand.New(rand.NewPCG(seed, 1)),
		dual: map[int]bool{}, dualSince: map[int]time.Duration{}, episodes: map[int]int{},
		dualTime: map[int]time.Duration{}, oneFrom: map[int]bool{},
	}
}

func simAddr(n int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(n)}) }

func simParams(prio uint8, addr int) Params {
	return Params{Version: 3, Priority: prio, AdvertInterval: time.Second, Preempt: true, Address: simAddr(addr)}
}

// add creates an instance of VRID 1 on its own host named after it.
func (s *sim) add(name string, p Params) *simInst {
	return s.addOn(name, name, 1, p)
}

func (s *sim) addOn(name, host string, vrid int, p Params) *simInst {
	in := &simInst{name: name, host: host, vrid: vrid, addr: p.Address, m: NewMachine(p)}
	s.insts = append(s.insts, in)
	s.byName[name] = in
	return in
}

func (s *sim) at(t time.Duration, fn func()) {
	s.seq++
	heap.Push(&s.q, simItem{at: t, seq: s.seq, fn: fn})
}

// do schedules an external event for an instance (start, fault, ...).
func (s *sim) do(t time.Duration, in *simInst, ev Event) {
	s.at(t, func() {
		if in.crashed {
			return
		}
		s.step(in, ev)
		if fc, ok := ev.(FaultChanged); ok && in.group != nil {
			s.force(in.group.ObserveFault(in.name, fc.Fault))
		}
	})
}

// crash silences an instance: no more timers, nothing sent or received.
func (s *sim) crash(t time.Duration, in *simInst) {
	s.at(t, func() { in.crashed = true; s.account(in.vrid) })
}

func (s *sim) partition(t time.Duration, a, b string, cut bool) {
	s.at(t, func() {
		s.blocked[[2]string{a, b}] = cut
		s.blocked[[2]string{b, a}] = cut
	})
}

func (s *sim) run(until time.Duration) {
	for s.q.Len() > 0 && s.q[0].at <= until {
		it := heap.Pop(&s.q).(simItem)
		s.now = it.at
		it.fn()
	}
	s.now = until
}

func (s *sim) step(in *simInst, ev Event) {
	s.steps++
	var forced []Forced
	for _, a := range in.m.Step(ev) {
		switch a := a.(type) {
		case SendAdvert:
			s.send(in, a.Priority)
		case SetTimer:
			in.gen[a.Timer]++
			gen, tm := in.gen[a.Timer], a.Timer
			s.at(s.now+a.After, func() {
				if !in.crashed && in.gen[tm] == gen {
					s.step(in, TimerFired{tm})
				}
			})
		case StopTimer:
			in.gen[a.Timer]++
		case AddVIPs:
			if in.vips {
				s.t.Fatalf("%v %s: AddVIPs while holding them", s.now, in.name)
			}
			in.vips = true
		case RemoveVIPs:
			in.vips = false
		case Announce:
			if !in.vips {
				s.t.Fatalf("%v %s: Announce without VIPs", s.now, in.name)
			}
			in.announces = append(in.announces, s.now)
		case Transition:
			in.trans = append(in.trans, simTransition{s.now, a})
			if in.group != nil {
				forced = append(forced, in.group.Observe(in.name, a)...)
			}
		}
	}
	if in.vips != (in.m.State() == Master) {
		s.t.Fatalf("%v %s: vips %v in %v", s.now, in.name, in.vips, in.m.State())
	}
	s.account(in.vrid)
	s.force(forced)
}

func (s *sim) force(fs []Forced) {
	for _, f := range fs {
		s.step(s.byName[f.Member], ForceState{f.State, f.Reason})
	}
}

func (s *sim) send(from *simInst, prio uint8) {
	from.adverts++
	adv := AdvertReceived{From: from.addr, Priority: prio, Interval: from.m.p.AdvertInterval}
	for _, to := range s.insts {
		if to == from || to.vrid != from.vrid || s.blocked[[2]string{from.host, to.host}] {
			continue
		}
		if s.loss > 0 && s.rng.Float64() < s.loss {
			continue
		}
		s.at(s.now+simLatency, func() {
			if !to.crashed {
				s.step(to, adv)
			}
		})
	}
}

func (s *sim) masters(vrid int) []string {
	var out []string
	for _, in := range s.insts {
		if in.vrid == vrid && !in.crashed && in.m.State() == Master {
			out = append(out, in.name)
		}
	}
	return out
}

// account tracks split-brain episodes and enforces "exactly one master"
// once a test has declared the steady state.
func (s *sim) account(vrid int) {
	n := len(s.masters(vrid))
	switch {
	case n >= 2 && !s.dual[vrid]:
		s.dual[vrid], s.dualSince[vrid] = true, s.now
		s.episodes[vrid]++
	case n < 2 && s.dual[vrid]:
		s.dual[vrid] = false
		s.dualTime[vrid] += s.now - s.dualSince[vrid]
	}
	if s.oneFrom[vrid] && n != 1 {
		s.t.Fatalf("%v: VRID %d has masters %v, want exactly one", s.now, vrid, s.masters(vrid))
	}
}

// oneMasterFrom enforces exactly one master of the VRID from t on.
func (s *sim) oneMasterFrom(t time.Duration, vrid int) {
	s.at(t, func() { s.oneFrom[vrid] = true; s.account(vrid) })
}

// times returns when the instance entered state to.
func (in *simInst) times(to State) []time.Duration {
	var out []time.Duration
	for _, tr := range in.trans {
		if tr.To == to {
			out = append(out, tr.at)
		}
	}
	return out
}

func (in *simInst) lastTransition() simTransition {
	if len(in.trans) == 0 {
		return simTransition{}
	}
	return in.trans[len(in.trans)-1]
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// wantTimes checks exact entry times into a state.
func wantTimes(t *testing.T, in *simInst, to State, want ...time.Duration) {
	t.Helper()
	got := in.times(to)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		var b strings.Builder
		for _, tr := range in.trans {
			fmt.Fprintf(&b, "\n  %v %v->%v %s", tr.at, tr.From, tr.To, tr.Reason)
		}
		t.Fatalf("%s entered %v at %v, want %v; transitions:%s", in.name, to, got, want, b.String())
	}
}

func wantMasters(t *testing.T, s *sim, vrid int, want ...string) {
	t.Helper()
	if got := s.masters(vrid); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%v: VRID %d masters %v, want %v", s.now, vrid, got, want)
	}
}

func startAll(s *sim, t time.Duration) {
	for _, in := range s.insts {
		s.do(t, in, Start{})
	}
}

func TestSimSteadyStateOneMaster(t *testing.T) {
	t.Run("3 nodes", func(t *testing.T) {
		s := newSim(t, 1)
		a := s.add("a", simParams(100, 1))
		b := s.add("b", simParams(150, 2))
		c := s.add("c", simParams(200, 3))
		startAll(s, 0)
		s.oneMasterFrom(millis(3210)+1, 1)
		s.run(2 * time.Minute)
		wantTimes(t, c, Master, millis(3210)) // MDI(200) = 3.00 + 0.21
		wantTimes(t, a, Master)
		wantTimes(t, b, Master)
		for _, in := range []*simInst{a, b} {
			if in.m.MasterAddr() != c.addr {
				t.Errorf("%s: master addr %v", in.name, in.m.MasterAddr())
			}
		}
		if s.episodes[1] != 0 {
			t.Errorf("split-brain episodes %d", s.episodes[1])
		}
	})
	t.Run("5 nodes, priority beats address", func(t *testing.T) {
		s := newSim(t, 1)
		prios := []uint8{150, 250, 50, 200, 100}
		var ins []*simInst
		for i, p := range prios {
			ins = append(ins, s.add(fmt.Sprintf("n%d", i+1), simParams(p, i+1)))
		}
		startAll(s, 0)
		s.oneMasterFrom(millis(3020)+1, 1)
		s.run(2 * time.Minute)
		wantTimes(t, ins[1], Master, millis(3020)) // 3*100 + 6*100/256 = 302 cs
		wantMasters(t, s, 1, "n2")
	})
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d nodes equal priority, highest address wins", n), func(t *testing.T) {
			s := newSim(t, 1)
			for i := range n {
				s.add(fmt.Sprintf("n%d", i+1), simParams(100, i+1))
			}
			startAll(s, 0)
			// All fire at 3.60 and become master together; one latency
			// later everyone has heard the highest address.
			s.oneMasterFrom(millis(3600)+simLatency+1, 1)
			s.run(2 * time.Minute)
			top := s.byName[fmt.Sprintf("n%d", n)]
			wantMasters(t, s, 1, top.name)
			wantTimes(t, top, Master, millis(3600))
			for _, in := range s.insts[:n-1] {
				wantTimes(t, in, Backup, 0, millis(3601))
				if in.m.MasterAddr() != top.addr {
					t.Errorf("%s: master addr %v", in.name, in.m.MasterAddr())
				}
			}
			if s.episodes[1] != 1 {
				t.Errorf("split-brain episodes %d, want the single start-up one", s.episodes[1])
			}
		})
	}
}

func TestSimPartitionHeals(t *testing.T) {
	setup := func(t *testing.T) (*sim, *simInst, *simInst) {
		s := newSim(t, 1)
		a := s.add("a", simParams(200, 1))
		b := s.add("b", simParams(100, 2))
		startAll(s, 0)
		s.partition(10*time.Second, "a", "b", true)
		return s, a, b
	}
	t.Run("heal answered by the winner's periodic advert, then the loser's parting one", func(t *testing.T) {
		s, a, b := setup(t)
		heal := 20 * time.Second
		s.partition(heal, "a", "b", false)
		s.run(heal)
		// a's last advert before the cut left at 9.21 and arrived 9.211.
		wantTimes(t, b, Master, millis(9211)+millis(3600))
		wantMasters(t, s, 1, "a", "b")
		s.oneMasterFrom(heal+time.Second+simLatency, 1)
		s.run(time.Minute)
		// a's next advert leaves at 20.21, one latency later b steps down.
		wantTimes(t, b, Backup, 0, millis(20211))
		wantTimes(t, a, Master, millis(3210))
		if s.episodes[1] != 1 {
			t.Errorf("episodes %d", s.episodes[1])
		}
		// b steps down with a parting advert, which a hears at 20.212 and
		// answers with a GARP burst: b's clients move back at once.
		if !slices.Contains(a.announces, millis(20212)) {
			t.Fatalf("a did not re-announce at 20.212: %v", a.announces)
		}
	})
	t.Run("heal answered at once when the loser speaks first", func(t *testing.T) {
		s, a, b := setup(t)
		heal := secs(20.5)
		s.partition(heal, "a", "b", false)
		s.oneMasterFrom(heal+time.Second+simLatency, 1)
		s.run(time.Minute)
		// b (master since 12.811) advertises at 20.811; a hears it at
		// 20.812, answers with an advert and a GARP burst at once; b
		// steps down at 20.813, before a's own next periodic advert.
		wantTimes(t, b, Backup, 0, millis(20813))
		found := false
		for _, at := range a.announces {
			found = found || at == millis(20812)
		}
		if !found {
			t.Fatalf("a did not re-announce at 20.812: %v", a.announces)
		}
		if b.lastTransition().Reason != "priority 100 < peer 10.0.0.1 priority 200" {
			t.Fatalf("reason %q", b.lastTransition().Reason)
		}
	})
}

func TestSimPreemptByLaterHigherNode(t *testing.T) {
	s := newSim(t, 1)
	a := s.add("a", simParams(100, 1))
	b := s.add("b", simParams(200, 2))
	s.do(0, a, Start{})
	s.do(10*time.Second, b, Start{})
	s.run(time.Minute)
	wantTimes(t, a, Master, millis(3600))
	// b discards a's lower-priority adverts and its start-up
	// Master_Down_Interval (3.21s) runs out.
	wantTimes(t, b, Master, 10*time.Second+millis(3210))
	wantTimes(t, a, Backup, 0, millis(13211))
	wantMasters(t, s, 1, "b")
	if r := b.times(Master); len(r) != 1 || !strings.HasPrefix(b.trans[1].Reason, "preempting: priority 200 > master 10.0.0.1 priority 100") {
		t.Fatalf("reason %q", b.trans[1].Reason)
	}
}

func TestSimNopreempt(t *testing.T) {
	s := newSim(t, 1)
	a := s.add("a", simParams(100, 1))
	p := simParams(200, 2)
	p.Preempt = false
	b := s.add("b", p)
	s.do(0, a, Start{})
	s.do(10*time.Second, b, Start{})
	s.oneMasterFrom(millis(3600)+1, 1)
	s.run(70 * time.Second)
	wantTimes(t, b, Master)
	wantMasters(t, s, 1, "a")
	// nopreempt never blocks a failover: a's last advert left at 69.60.
	s.oneFrom[1] = false
	s.crash(70*time.Second, a)
	s.run(2 * time.Minute)
	wantTimes(t, b, Master, millis(69601)+millis(3210))
}

func TestSimPreemptDelay(t *testing.T) {
	s := newSim(t, 1)
	a := s.add("a", simParams(100, 1))
	p := simParams(200, 2)
	p.PreemptDelay = 5 * time.Second
	b := s.add("b", p)
	s.do(0, a, Start{})
	s.do(10*time.Second, b, Start{})
	s.run(time.Minute)
	// During the delay (10s..15s) b accepts a's adverts. The first one
	// after it (15.601) comes from the master b follows with a lower
	// priority, so b takes over after its Skew_Time (0.21s) rather than
	// the rest of Master_Down_Interval.
	wantTimes(t, b, Master, millis(15601)+millis(210))
	wantMasters(t, s, 1, "b")
}

func TestSimPriorityZeroHandover(t *testing.T) {
	s := newSim(t, 1)
	a := s.add("a", simParams(200, 1))
	b := s.add("b", simParams(150, 2))
	c := s.add("c", simParams(100, 3))
	startAll(s, 0)
	s.do(10*time.Second, a, Shutdown{})
	s.run(time.Minute)
	// The resignation arrives at 10.001; b waits only its Skew_Time (0.41s).
	wantTimes(t, b, Master, 10*time.Second+simLatency+SkewTime(150, time.Second, 3))
	wantTimes(t, b, Master, millis(10411))
	wantTimes(t, c, Master)
	wantTimes(t, a, Initialize, 10*time.Second)
	if b.trans[1].Reason != "peer 10.0.0.1 resigned (priority 0)" {
		t.Fatalf("reason %q", b.trans[1].Reason)
	}
	if c.m.MasterAddr() != b.addr {
		t.Fatalf("c follows %v", c.m.MasterAddr())
	}
	if s.episodes[1] != 0 {
		t.Fatalf("episodes %d", s.episodes[1])
	}
}

func TestSimMasterCrash(t *testing.T) {
	t.Run("v3", func(t *testing.T) {
		s := newSim(t, 1)
		s.add("a", simParams(200, 1))
		b := s.add("b", simParams(150, 2))
		c := s.add("c", simParams(100, 3))
		startAll(s, 0)
		s.crash(10*time.Second, s.byName["a"])
		s.run(time.Minute)
		// Last advert from a arrived 9.211; b's MDI is 3.41s.
		wantTimes(t, b, Master, millis(9211)+MasterDownInterval(150, time.Second, 3))
		wantTimes(t, b, Master, millis(12621))
		wantTimes(t, c, Master)
		if want := "master down timer expired (no advert for 3.41s)"; b.trans[1].Reason != want {
			t.Fatalf("reason %q, want %q", b.trans[1].Reason, want)
		}
	})
	t.Run("v2 microsecond timers", func(t *testing.T) {
		s := newSim(t, 1)
		pa, pb := simParams(200, 1), simParams(100, 2)
		pa.Version, pb.Version = 2, 2
		a := s.add("a", pa)
		b := s.add("b", pb)
		startAll(s, 0)
		s.crash(10*time.Second, a)
		s.run(time.Minute)
		wantTimes(t, a, Master, 3218750*time.Microsecond)
		// a's adverts leave at 3.21875 + k; the last at 9.21875.
		wantTimes(t, b, Master, 9218750*time.Microsecond+simLatency+3609375*time.Microsecond)
	})
}

func TestSimV3BackupLearnsInterval(t *testing.T) {
	s := newSim(t, 1)
	pa := simParams(200, 1)
	pa.AdvertInterval = millis(100)
	a := s.add("a", pa)
	b := s.add("b", simParams(100, 2)) // configured 1s
	startAll(s, 0)
	s.crash(5*time.Second, a)
	s.run(secs(4.99))
	if b.m.MasterAdvertInterval() != millis(100) {
		t.Fatalf("b did not learn the 100ms interval: %v", b.m.MasterAdvertInterval())
	}
	s.run(time.Minute)
	wantTimes(t, a, Master, millis(320))
	// a advertises at 0.32 + 0.1k; the last before the crash leaves at
	// 4.92. b's MDI with the learned interval is 300 + 60 ms.
	wantTimes(t, b, Master, millis(4921)+millis(360))
	if b.m.MasterAdvertInterval() != time.Second {
		t.Fatalf("as master b should advertise its own 1s, has %v", b.m.MasterAdvertInterval())
	}
	if b.adverts < 50 || b.adverts > 60 {
		t.Fatalf("b sent %d adverts in ~55s as master, want its own 1s pace", b.adverts)
	}
}

func TestSimTrackingDropsMaster(t *testing.T) {
	s := newSim(t, 1)
	a := s.add("a", simParams(200, 1))
	b := s.add("b", simParams(150, 2))
	startAll(s, 0)
	prio, _, reason := Effective(200, []TrackStatus{{"check nginx-alive", -100, true}})
	s.do(10*time.Second, a, PriorityChanged{prio, reason})
	s.run(time.Minute)
	// a advertises 100 at once (arrives 10.001); b, preempting, discards
	// it, and since it comes from the master it follows, takes over after
	// its Skew_Time (0.41s) instead of waiting out Master_Down_Interval.
	wantTimes(t, b, Master, millis(10001)+millis(410))
	wantTimes(t, a, Backup, 0, millis(10412))
	wantMasters(t, s, 1, "b")
	if want := "priority 100 < peer 10.0.0.2 priority 150"; a.lastTransition().Reason != want {
		t.Fatalf("reason %q, want %q", a.lastTransition().Reason, want)
	}
}

func TestSimFault(t *testing.T) {
	s := newSim(t, 1)
	a := s.add("a", simParams(200, 1))
	b := s.add("b", simParams(150, 2))
	startAll(s, 0)
	s.do(10*time.Second, a, FaultChanged{true, "eth1 down"})
	s.do(20*time.Second, a, FaultChanged{false, "eth1 up"})
	s.run(time.Minute)
	wantTimes(t, a, Fault, 10*time.Second)
	// a resigned on entering Fault, so b waits only Skew_Time.
	wantTimes(t, b, Master, millis(10411))
	// a returns as backup at 20s and preempts after its MDI (3.21s).
	wantTimes(t, a, Master, millis(3210), millis(23210))
	wantTimes(t, b, Backup, 0, millis(23211))
	if a.trans[2].Reason != "fault: eth1 down" || a.trans[3].Reason != "fault cleared: eth1 up" {
		t.Fatalf("reasons %q %q", a.trans[2].Reason, a.trans[3].Reason)
	}
}

// TestSimSyncGroup runs two hosts with two VRIDs each, grouped per host:
// a fault on one VRID moves both VIPs, recovery moves both back.
func TestSimSyncGroup(t *testing.T) {
	s := newSim(t, 1)
	p1, p2 := simParams(200, 1), simParams(100, 2)
	n1a := s.addOn("n1/vi1", "n1", 1, p1)
	n1b := s.addOn("n1/vi2", "n1", 2, p1)
	n2a := s.addOn("n2/vi1", "n2", 1, p2)
	n2b := s.addOn("n2/vi2", "n2", 2, p2)
	g1 := NewGroup([]string{"n1/vi1", "n1/vi2"})
	g2 := NewGroup([]string{"n2/vi1", "n2/vi2"})
	n1a.group, n1b.group, n2a.group, n2b.group = g1, g1, g2, g2
	startAll(s, 0)
	s.do(10*time.Second, n1b, FaultChanged{true, "eth1 down"})
	s.do(20*time.Second, n1b, FaultChanged{false, "eth1 up"})

	s.run(5 * time.Second)
	wantMasters(t, s, 1, "n1/vi1")
	wantMasters(t, s, 2, "n1/vi2")
	s.run(15 * time.Second)
	wantTimes(t, n1b, Fault, 10*time.Second)
	wantTimes(t, n1a, Fault, 10*time.Second)
	if !strings.HasPrefix(n1a.trans[2].Reason, "sync group: n1/vi2 went FAULT") {
		t.Fatalf("reason %q", n1a.trans[2].Reason)
	}
	// Both resigned at 10s; n2's instances wait Skew_Time(100) = 0.60s.
	wantTimes(t, n2a, Master, millis(10601))
	wantTimes(t, n2b, Master, millis(10601))
	wantMasters(t, s, 1, "n2/vi1")
	wantMasters(t, s, 2, "n2/vi2")
	s.run(time.Minute)
	wantTimes(t, n1a, Master, millis(3210), millis(23210))
	wantTimes(t, n1b, Master, millis(3210), millis(23210))
	wantTimes(t, n2a, Backup, 0, millis(23211))
	wantTimes(t, n2b, Backup, 0, millis(23211))
	wantMasters(t, s, 1, "n1/vi1")
	wantMasters(t, s, 2, "n1/vi2")
}

// TestSimLossSoak runs three nodes for ten simulated minutes with seeded
// random packet loss, then stops the loss and requires exactly one master,
// the highest priority. Loss can cause short split brains (a backup
// misses three adverts in a row and takes over until the master's next
// advert reaches it); their number is reported and bounded.
func TestSimLossSoak(t *testing.T) {
	for _, tc := range []struct {
		loss float64
		// A backup falsely takes over when it misses the three adverts
		// in its Master_Down_Interval: p^3 per advert, two backups, 600
		// adverts. The bound is several times that expectation.
		maxEpisodes int
	}{
		{0.05, 5},   // expected ~0.15 per run
		{0.20, 40},  // expected ~10 per run
		{0.40, 200}, // expected ~77 per run
	} {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("loss %.0f%% seed %d", tc.loss*100, seed), func(t *testing.T) {
				s := newSim(t, seed)
				a := s.add("a", simParams(200, 1))
				s.add("b", simParams(150, 2))
				s.add("c", simParams(100, 3))
				s.loss = tc.loss
				startAll(s, 0)
				end := 10 * time.Minute
				s.at(end, func() { s.loss = 0 })
				s.oneMasterFrom(end+5*time.Second, 1)
				s.run(end + 6*time.Second)
				wantMasters(t, s, 1, "a")
				if a.m.State() != Master {
					t.Fatal("a is not master")
				}
				t.Logf("%d split-brain episodes, %v with two masters in total, %d machine steps",
					s.episodes[1], s.dualTime[1], s.steps)
				if s.episodes[1] > tc.maxEpisodes {
					t.Fatalf("%d split-brain episodes, bound %d", s.episodes[1], tc.maxEpisodes)
				}
			})
		}
	}
}
