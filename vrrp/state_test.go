package vrrp

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	machAddrLow  = netip.MustParseAddr("10.0.0.1")
	machAddrSelf = netip.MustParseAddr("10.0.0.2")
	machAddrHigh = netip.MustParseAddr("10.0.0.3")
)

func millis(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// machineParams is a v3 instance at priority 100 with the RFC defaults.
func machineParams() Params {
	return Params{Version: 3, Priority: 100, AdvertInterval: time.Second, Preempt: true, Address: machAddrSelf}
}

func newTestMachine(t *testing.T, mod func(*Params)) *Machine {
	t.Helper()
	p := machineParams()
	if mod != nil {
		mod(&p)
	}
	return NewMachine(p)
}

// backupMachine is started and in Backup.
func backupMachine(t *testing.T, mod func(*Params)) *Machine {
	t.Helper()
	m := newTestMachine(t, mod)
	m.Step(Start{})
	if m.State() != Backup {
		t.Fatalf("after Start: state %v, want BACKUP", m.State())
	}
	return m
}

// masterMachine is started and became Master by its master-down timer.
func masterMachine(t *testing.T, mod func(*Params)) *Machine {
	t.Helper()
	m := backupMachine(t, mod)
	m.Step(TimerFired{Timer: MasterDownTimer})
	if m.State() != Master {
		t.Fatalf("after master-down: state %v, want MASTER", m.State())
	}
	return m
}

func checkActions(t *testing.T, got []Action, want ...Action) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("actions:\n got  %s\n want %s", fmtActions(got), fmtActions(want))
	}
}

func fmtActions(as []Action) string {
	var b strings.Builder
	b.WriteString("[")
	for i, a := range as {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%T%+v", a, a)
	}
	b.WriteString("]")
	return b.String()
}

func TestMachineStateString(t *testing.T) {
	for s, want := range map[State]string{Initialize: "INIT", Backup: "BACKUP", Master: "MASTER", Fault: "FAULT", State(9): "State(9)"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int(s), got, want)
		}
	}
	for tm, want := range map[Timer]string{AdvertTimer: "advert", MasterDownTimer: "master-down", PreemptDelayTimer: "preempt-delay", Timer(7): "Timer(7)"} {
		if got := tm.String(); got != want {
			t.Errorf("Timer(%d).String() = %q, want %q", int(tm), got, want)
		}
	}
}

func TestMachineSkewAndMasterDown(t *testing.T) {
	tests := []struct {
		version  int
		priority uint8
		interval time.Duration
		skew     time.Duration
		down     time.Duration
	}{
		// v3: integer centiseconds exactly as RFC 5798 computes them.
		{3, 100, time.Second, millis(600), millis(3600)}, // 156*100/256 = 60.9 -> 60
		{3, 200, time.Second, millis(210), millis(3210)}, // 56*100/256 = 21.9 -> 21
		{3, 150, time.Second, millis(410), millis(3410)}, // 106*100/256 = 41.4 -> 41
		{3, 1, time.Second, millis(990), millis(3990)},   // 255*100/256 = 99.6 -> 99
		{3, 254, time.Second, millis(0), millis(3000)},   // 2*100/256 = 0.78 -> 0
		{3, 255, time.Second, millis(0), millis(3000)},
		{3, 0, time.Second, millis(1000), millis(4000)}, // 256*100/256
		{3, 254, millis(100), millis(0), millis(300)},   // 2*10/256 -> 0
		{3, 100, millis(100), millis(60), millis(360)},  // 156*10/256 = 6.09 -> 6
		{3, 128, millis(50), millis(20), millis(170)},   // 128*5/256 = 2.5 -> 2
		{3, 1, millis(10), millis(0), millis(30)},       // 255*1/256 -> 0
		{3, 100, millis(40950), millis(24950), millis(147800)},
		{3, 100, millis(104), millis(60), millis(360)}, // rounds to 10 cs first
		// v2: microseconds, like keepalived (TIMER_HZ = 1e6).
		{2, 100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{2, 200, time.Second, 218750 * time.Microsecond, 3218750 * time.Microsecond},
		{2, 254, time.Second, 7812 * time.Microsecond, 3007812 * time.Microsecond}, // 7812.5 truncated
		{2, 1, time.Second, 996093 * time.Microsecond, 3996093 * time.Microsecond},
		{2, 255, time.Second, 3906 * time.Microsecond, 3003906 * time.Microsecond},
		{2, 100, 3 * time.Second, 1828125 * time.Microsecond, 10828125 * time.Microsecond},
	}
	for _, tc := range tests {
		name := fmt.Sprintf("v%d/prio%d/%v", tc.version, tc.priority, tc.interval)
		t.Run(name, func(t *testing.T) {
			if got := SkewTime(tc.priority, tc.interval, tc.version); got != tc.skew {
				t.Errorf("SkewTime = %v, want %v", got, tc.skew)
			}
			if got := MasterDownInterval(tc.priority, tc.interval, tc.version); got != tc.down {
				t.Errorf("MasterDownInterval = %v, want %v", got, tc.down)
			}
		})
	}
}

func TestMachineNewNormalizes(t *testing.T) {
	tests := []struct {
		name         string
		p            Params
		wantVersion  int
		wantPriority uint8
		wantInterval time.Duration
	}{
		{"defaults to v3 and 1s", Params{Priority: 100}, 3, 100, time.Second},
		{"priority 0 becomes 1", Params{Version: 3, Priority: 0, AdvertInterval: time.Second}, 3, 1, time.Second},
		{"v3 rounds to centiseconds", Params{Version: 3, Priority: 5, AdvertInterval: 1234 * time.Microsecond * 100}, 3, 5, millis(120)},
		{"v3 clamps to 10ms", Params{Version: 3, Priority: 5, AdvertInterval: time.Millisecond}, 3, 5, millis(10)},
		{"v3 clamps to 40.95s", Params{Version: 3, Priority: 5, AdvertInterval: time.Minute}, 3, 5, millis(40950)},
		{"v2 rounds to seconds", Params{Version: 2, Priority: 5, AdvertInterval: 1400 * time.Millisecond}, 2, 5, time.Second},
		{"v2 at least 1s", Params{Version: 2, Priority: 5, AdvertInterval: 100 * time.Millisecond}, 2, 5, time.Second},
		{"unknown version is v3", Params{Version: 7, Priority: 5, AdvertInterval: time.Second}, 3, 5, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMachine(tc.p)
			if m.p.Version != tc.wantVersion || m.Priority() != tc.wantPriority || m.p.AdvertInterval != tc.wantInterval {
				t.Fatalf("got v%d prio %d interval %v, want v%d prio %d interval %v",
					m.p.Version, m.Priority(), m.p.AdvertInterval, tc.wantVersion, tc.wantPriority, tc.wantInterval)
			}
			if m.State() != Initialize || m.MasterAdvertInterval() != tc.wantInterval {
				t.Fatalf("state %v interval %v", m.State(), m.MasterAdvertInterval())
			}
		})
	}
}

func TestMachineStart(t *testing.T) {
	t.Run("backup", func(t *testing.T) {
		m := newTestMachine(t, nil)
		checkActions(t, m.Step(Start{}),
			SetTimer{MasterDownTimer, millis(3600)},
			Transition{Initialize, Backup, "start"})
		if m.MasterAddr().IsValid() {
			t.Fatalf("master addr %v before any advert", m.MasterAddr())
		}
	})
	t.Run("owner goes master at once", func(t *testing.T) {
		m := newTestMachine(t, func(p *Params) { p.Priority = 255 })
		checkActions(t, m.Step(Start{}),
			SendAdvert{255}, AddVIPs{}, Announce{},
			SetTimer{AdvertTimer, time.Second},
			Transition{Initialize, Master, "start as address owner (priority 255)"})
		if m.MasterAddr() != machAddrSelf {
			t.Fatalf("master addr %v, want self", m.MasterAddr())
		}
	})
	t.Run("preempt delay armed", func(t *testing.T) {
		m := newTestMachine(t, func(p *Params) { p.PreemptDelay = 30 * time.Second })
		checkActions(t, m.Step(Start{}),
			SetTimer{MasterDownTimer, millis(3600)},
			SetTimer{PreemptDelayTimer, 30 * time.Second},
			Transition{Initialize, Backup, "start"})
	})
	t.Run("preempt delay ignored with nopreempt", func(t *testing.T) {
		m := newTestMachine(t, func(p *Params) { p.PreemptDelay = 30 * time.Second; p.Preempt = false })
		checkActions(t, m.Step(Start{}),
			SetTimer{MasterDownTimer, millis(3600)},
			Transition{Initialize, Backup, "start"})
	})
	t.Run("start while faulty", func(t *testing.T) {
		m := newTestMachine(t, nil)
		checkActions(t, m.Step(FaultChanged{true, "eth1 down"}))
		checkActions(t, m.Step(Start{}), Transition{Initialize, Fault, "start in fault: eth1 down"})
	})
	t.Run("second start ignored", func(t *testing.T) {
		m := backupMachine(t, nil)
		checkActions(t, m.Step(Start{}))
	})
	t.Run("events before start ignored", func(t *testing.T) {
		m := newTestMachine(t, nil)
		checkActions(t, m.Step(AdvertReceived{From: machAddrHigh, Priority: 200, Interval: time.Second}))
		checkActions(t, m.Step(TimerFired{MasterDownTimer}))
		checkActions(t, m.Step(ForceState{Master, "x"}))
		checkActions(t, m.Step(Shutdown{}))
		if m.State() != Initialize {
			t.Fatalf("state %v", m.State())
		}
	})
}

func TestMachineBackupAdvert(t *testing.T) {
	tests := []struct {
		name       string
		mod        func(*Params)
		before     []Event // stepped after Start, actions ignored
		advert     AdvertReceived
		want       []Action
		wantMaster netip.Addr
		wantIntvl  time.Duration
	}{
		{
			name:       "priority 0 cuts to skew time",
			advert:     AdvertReceived{From: machAddrHigh, Priority: 0, Interval: time.Second},
			want:       []Action{SetTimer{MasterDownTimer, millis(600)}},
			wantMaster: netip.Addr{}, wantIntvl: time.Second,
		},
		{
			name:       "priority 0 skew uses learned interval",
			before:     []Event{AdvertReceived{From: machAddrHigh, Priority: 200, Interval: millis(100)}},
			advert:     AdvertReceived{From: machAddrHigh, Priority: 0, Interval: millis(100)},
			want:       []Action{SetTimer{MasterDownTimer, millis(60)}},
			wantMaster: machAddrHigh, wantIntvl: millis(100),
		},
		{
			name:       "higher priority resets master down",
			advert:     AdvertReceived{From: machAddrLow, Priority: 150, Interval: time.Second},
			want:       []Action{SetTimer{MasterDownTimer, millis(3600)}},
			wantMaster: machAddrLow, wantIntvl: time.Second,
		},
		{
			name:       "equal priority lower address accepted (RFC 6.4.2 has no tie-break)",
			advert:     AdvertReceived{From: machAddrLow, Priority: 100, Interval: time.Second},
			want:       []Action{SetTimer{MasterDownTimer, millis(3600)}},
			wantMaster: machAddrLow, wantIntvl: time.Second,
		},
		{
			name:       "equal priority higher address accepted",
			advert:     AdvertReceived{From: machAddrHigh, Priority: 100, Interval: time.Second},
			want:       []Action{SetTimer{MasterDownTimer, millis(3600)}},
			wantMaster: machAddrHigh, wantIntvl: time.Second,
		},
		{
			name:      "lower priority discarded when preempting",
			advert:    AdvertReceived{From: machAddrHigh, Priority: 50, Interval: time.Second},
			want:      nil,
			wantIntvl: time.Second,
		},
		{
			name:       "lower priority accepted with nopreempt",
			mod:        func(p *Params) { p.Preempt = false },
			advert:     AdvertReceived{From: machAddrHigh, Priority: 50, Interval: time.Second},
			want:       []Action{SetTimer{MasterDownTimer, millis(3600)}},
			wantMaster: machAddrHigh, wantIntvl: time.Second,
		},
		{
			name:       "lower priority accepted during preempt delay",
			mod:        func(p *Params) { p.PreemptDelay = 10 * time.Second },
			advert:     AdvertReceived{From: machAddrHigh, Priority: 50, Interval: time.Second},
			want:       []Action{SetTimer{MasterDownTimer, millis(3600)}},
			wantMaster: machAddrHigh, wantIntvl: time.Second,
		},
		{
			name:      "lower priority discarded after preempt delay",
			mod:       func(p *Params) { p.PreemptDelay = 10 * time.Second },
			before:    []Event{TimerFired{PreemptDelayTimer}},
			advert:    AdvertReceived{From: machAddrHigh, Priority: 50, Interval: time.Second},
			want:      nil,
			wantIntvl: time.Second,
		},
		{
			name:       "v3 learns the master's interval",
			advert:     AdvertReceived{From: machAddrHigh, Priority: 200, Interval: millis(100)},
			want:       []Action{SetTimer{MasterDownTimer, millis(360)}},
			wantMaster: machAddrHigh, wantIntvl: millis(100),
		},
		{
			name:       "v2 keeps the local interval",
			mod:        func(p *Params) { p.Version = 2 },
			advert:     AdvertReceived{From: machAddrHigh, Priority: 200, Interval: 2 * time.Second},
			want:       []Action{SetTimer{MasterDownTimer, 3609375 * time.Microsecond}},
			wantMaster: machAddrHigh, wantIntvl: time.Second,
		},
		{
			name:      "own looped-back advert ignored",
			advert:    AdvertReceived{From: machAddrSelf, Priority: 200, Interval: time.Second},
			want:      nil,
			wantIntvl: time.Second,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := backupMachine(t, tc.mod)
			for _, ev := range tc.before {
				m.Step(ev)
			}
			checkActions(t, m.Step(tc.advert), tc.want...)
			if m.State() != Backup {
				t.Fatalf("state %v, want BACKUP", m.State())
			}
			if m.MasterAddr() != tc.wantMaster {
				t.Errorf("MasterAddr %v, want %v", m.MasterAddr(), tc.wantMaster)
			}
			if m.MasterAdvertInterval() != tc.wantIntvl {
				t.Errorf("MasterAdvertInterval %v, want %v", m.MasterAdvertInterval(), tc.wantIntvl)
			}
		})
	}
}

func TestMachineBackupTakeover(t *testing.T) {
	becomeMaster := func(reason string) []Action {
		return []Action{SendAdvert{100}, AddVIPs{}, Announce{}, SetTimer{AdvertTimer, time.Second}, Transition{Backup, Master, reason}}
	}
	t.Run("master down after start", func(t *testing.T) {
		m := backupMachine(t, nil)
		checkActions(t, m.Step(TimerFired{MasterDownTimer}), becomeMaster("master down timer expired (no advert for 3.60s)")...)
		if m.MasterAddr() != machAddrSelf || m.MasterAdvertInterval() != time.Second {
			t.Fatalf("master addr %v interval %v", m.MasterAddr(), m.MasterAdvertInterval())
		}
	})
	t.Run("master down v2 reason rounds", func(t *testing.T) {
		m := backupMachine(t, func(p *Params) { p.Version = 2 })
		acts := m.Step(TimerFired{MasterDownTimer})
		tr := acts[len(acts)-1].(Transition)
		if tr.Reason != "master down timer expired (no advert for 3.61s)" {
			t.Fatalf("reason %q", tr.Reason)
		}
	})
	t.Run("master down after learned interval", func(t *testing.T) {
		m := backupMachine(t, nil)
		m.Step(AdvertReceived{From: machAddrHigh, Priority: 200, Interval: millis(100)})
		checkActions(t, m.Step(TimerFired{MasterDownTimer}), becomeMaster("master down timer expired (no advert for 0.36s)")...)
		if m.MasterAdvertInterval() != time.Second {
			t.Fatalf("as master, interval %v, want own 1s", m.MasterAdvertInterval())
		}
	})
	t.Run("peer resigned", func(t *testing.T) {
		m := backupMachine(t, nil)
		m.Step(AdvertReceived{From: machAddrHigh, Priority: 200, Interval: time.Second})
		m.Step(AdvertReceived{From: machAddrHigh, Priority: 0, Interval: time.Second})
		checkActions(t, m.Step(TimerFired{MasterDownTimer}), becomeMaster("peer 10.0.0.3 resigned (priority 0)")...)
	})
	t.Run("resign forgotten after a new master", func(t *testing.T) {
		m := backupMachine(t, nil)
		m.Step(AdvertReceived{From: machAddrHigh, Priority: 0, Interval: time.Second})
		m.Step(AdvertReceived{From: machAddrLow, Priority: 150, Interval: time.Second})
		checkActions(t, m.Step(TimerFired{MasterDownTimer}), becomeMaster("master down timer expired (no advert for 3.60s)")...)
	})
	t.Run("preempting a lower master", func(t *testing.T) {
		m := backupMachine(t, nil)
		m.Step(AdvertReceived{From: machAddrHigh, Priority: 50, Interval: time.Second})
		checkActions(t, m.Step(TimerFired{MasterDownTimer}), becomeMaster("preempting: priority 100 > master 10.0.0.3 priority 50")...)
	})
	t.Run("takeover stops preempt delay", func(t *testing.T) {
		m := backupMachine(t, func(p *Params) { p.PreemptDelay = time.Minute })
		checkActions(t, m.Step(TimerFired{MasterDownTimer}),
			StopTimer{PreemptDelayTimer},
			SendAdvert{100}, AddVIPs{}, Announce{}, SetTimer{AdvertTimer, time.Second},
			Transition{Backup, Master, "master down timer expired (no advert for 3.60s)"})
		checkActions(t, m.Step(TimerFired{PreemptDelayTimer})) // stale
	})
}

func TestMachineMasterAdvert(t *testing.T) {
	tests := []struct {
		name      string
		mod       func(*Params)
		ev        Event
		want      []Action
		wantState State
		wantAddr  netip.Addr
		wantIntvl time.Duration
	}{
		{
			name:      "advert timer sends and re-arms",
			ev:        TimerFired{AdvertTimer},
			want:      []Action{SendAdvert{100}, SetTimer{AdvertTimer, time.Second}},
			wantState: Master, wantAddr: machAddrSelf, wantIntvl: time.Second,
		},
		{
			name:      "priority 0 answered at once",
			ev:        AdvertReceived{From: machAddrHigh, Priority: 0, Interval: time.Second},
			want:      []Action{SendAdvert{100}, SetTimer{AdvertTimer, time.Second}},
			wantState: Master, wantAddr: machAddrSelf, wantIntvl: time.Second,
		},
		{
			name: "higher priority: step down",
			ev:   AdvertReceived{From: machAddrLow, Priority: 150, Interval: time.Second},
			want: []Action{SendAdvert{100}, RemoveVIPs{Handover: true}, StopTimer{AdvertTimer}, SetTimer{MasterDownTimer, millis(3600)},
				Transition{Master, Backup, "priority 100 < peer 10.0.0.1 priority 150"}},
			wantState: Backup, wantAddr: machAddrLow, wantIntvl: time.Second,
		},
		{
			name: "higher priority v3 adopts its interval",
			ev:   AdvertReceived{From: machAddrLow, Priority: 150, Interval: millis(100)},
			want: []Action{SendAdvert{100}, RemoveVIPs{Handover: true}, StopTimer{AdvertTimer}, SetTimer{MasterDownTimer, millis(360)},
				Transition{Master, Backup, "priority 100 < peer 10.0.0.1 priority 150"}},
			wantState: Backup, wantAddr: machAddrLow, wantIntvl: millis(100),
		},
		{
			name: "higher priority v2 keeps local interval",
			mod:  func(p *Params) { p.Version = 2 },
			ev:   AdvertReceived{From: machAddrLow, Priority: 150, Interval: time.Second},
			want: []Action{SendAdvert{100}, RemoveVIPs{Handover: true}, StopTimer{AdvertTimer}, SetTimer{MasterDownTimer, 3609375 * time.Microsecond},
				Transition{Master, Backup, "priority 100 < peer 10.0.0.1 priority 150"}},
			wantState: Backup, wantAddr: machAddrLow, wantIntvl: time.Second,
		},
		{
			name: "equal priority higher address: step down",
			ev:   AdvertReceived{From: machAddrHigh, Priority: 100, Interval: time.Second},
			want: []Action{SendAdvert{100}, RemoveVIPs{Handover: true}, StopTimer{AdvertTimer}, SetTimer{MasterDownTimer, millis(3600)},
				Transition{Master, Backup, "priority 100 = peer 10.0.0.3 priority 100, higher address wins"}},
			wantState: Backup, wantAddr: machAddrHigh, wantIntvl: time.Second,
		},
		{
			name:      "equal priority lower address: assert ourselves",
			ev:        AdvertReceived{From: machAddrLow, Priority: 100, Interval: time.Second},
			want:      []Action{SendAdvert{100}, Announce{Answer: true}, SetTimer{AdvertTimer, time.Second}},
			wantState: Master, wantAddr: machAddrSelf, wantIntvl: time.Second,
		},
		{
			name:      "lower priority: assert ourselves",
			ev:        AdvertReceived{From: machAddrHigh, Priority: 99, Interval: time.Second},
			want:      []Action{SendAdvert{100}, Announce{Answer: true}, SetTimer{AdvertTimer, time.Second}},
			wantState: Master, wantAddr: machAddrSelf, wantIntvl: time.Second,
		},
		{
			name:      "own looped-back advert ignored",
			ev:        AdvertReceived{From: machAddrSelf, Priority: 100, Interval: time.Second},
			want:      nil,
			wantState: Master, wantAddr: machAddrSelf, wantIntvl: time.Second,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := masterMachine(t, tc.mod)
			checkActions(t, m.Step(tc.ev), tc.want...)
			if m.State() != tc.wantState || m.MasterAddr() != tc.wantAddr || m.MasterAdvertInterval() != tc.wantIntvl {
				t.Fatalf("state %v addr %v interval %v, want %v %v %v", m.State(), m.MasterAddr(), m.MasterAdvertInterval(),
					tc.wantState, tc.wantAddr, tc.wantIntvl)
			}
		})
	}
}

func TestMachineStaleTimersIgnored(t *testing.T) {
	m := masterMachine(t, nil)
	checkActions(t, m.Step(TimerFired{MasterDownTimer}))
	checkActions(t, m.Step(TimerFired{PreemptDelayTimer}))
	checkActions(t, m.Step(TimerFired{Timer(42)}))
	checkActions(t, m.Step(TimerFired{Timer(-1)}))
	b := backupMachine(t, nil)
	checkActions(t, b.Step(TimerFired{AdvertTimer}))
	// A master-down fire that raced a step-down/step-up must not re-run.
	m.Step(AdvertReceived{From: machAddrHigh, Priority: 200, Interval: time.Second})
	m.Step(TimerFired{MasterDownTimer})
	if m.State() != Master {
		t.Fatal("setup: not master again")
	}
	checkActions(t, m.Step(TimerFired{MasterDownTimer}))
}

func TestMachinePriorityChanged(t *testing.T) {
	t.Run("master advertises at once", func(t *testing.T) {
		m := masterMachine(t, nil)
		checkActions(t, m.Step(PriorityChanged{40, "check nginx failing (-60)"}),
			SendAdvert{40}, SetTimer{AdvertTimer, time.Second})
		checkActions(t, m.Step(TimerFired{AdvertTimer}), SendAdvert{40}, SetTimer{AdvertTimer, time.Second})
		if m.Priority() != 40 {
			t.Fatalf("priority %d", m.Priority())
		}
	})
	t.Run("unchanged priority is a no-op", func(t *testing.T) {
		m := masterMachine(t, nil)
		checkActions(t, m.Step(PriorityChanged{100, ""}))
	})
	t.Run("priority 0 means 1", func(t *testing.T) {
		m := masterMachine(t, nil)
		checkActions(t, m.Step(PriorityChanged{0, ""}), SendAdvert{1}, SetTimer{AdvertTimer, time.Second})
	})
	t.Run("backup recomputes master down", func(t *testing.T) {
		m := backupMachine(t, nil)
		checkActions(t, m.Step(PriorityChanged{200, ""}))
		checkActions(t, m.Step(AdvertReceived{From: machAddrHigh, Priority: 250, Interval: time.Second}),
			SetTimer{MasterDownTimer, millis(3210)})
	})
	t.Run("backup raised above master discards its adverts and preempts after skew", func(t *testing.T) {
		m := backupMachine(t, nil)
		m.Step(AdvertReceived{From: machAddrHigh, Priority: 120, Interval: time.Second})
		m.Step(PriorityChanged{150, ""})
		checkActions(t, m.Step(AdvertReceived{From: machAddrHigh, Priority: 120, Interval: time.Second}),
			SetTimer{MasterDownTimer, SkewTime(150, time.Second, 3)})
		// Later lower adverts leave the timer alone: it must fire.
		checkActions(t, m.Step(AdvertReceived{From: machAddrHigh, Priority: 120, Interval: time.Second}))
		acts := m.Step(TimerFired{MasterDownTimer})
		if m.State() != Master || acts[len(acts)-1].(Transition).Reason != "preempting: priority 150 > master 10.0.0.3 priority 120" {
			t.Fatalf("state %v actions %s", m.State(), fmtActions(acts))
		}
	})
	t.Run("backup lowered below master keeps accepting", func(t *testing.T) {
		m := backupMachine(t, nil)
		m.Step(PriorityChanged{40, ""})
		checkActions(t, m.Step(AdvertReceived{From: machAddrHigh, Priority: 60, Interval: time.Second}),
			SetTimer{MasterDownTimer, MasterDownInterval(40, time.Second, 3)})
	})
	t.Run("set before start decides ownership", func(t *testing.T) {
		m := newTestMachine(t, nil)
		checkActions(t, m.Step(PriorityChanged{255, ""}))
		m.Step(Start{})
		if m.State() != Master {
			t.Fatalf("state %v", m.State())
		}
	})
	t.Run("owner tracked down is an ordinary master", func(t *testing.T) {
		m := newTestMachine(t, func(p *Params) { p.Priority = 255 })
		m.Step(Start{})
		checkActions(t, m.Step(PriorityChanged{200, ""}), SendAdvert{200}, SetTimer{AdvertTimer, time.Second})
		checkActions(t, m.Step(AdvertReceived{From: machAddrLow, Priority: 210, Interval: time.Second}),
			SendAdvert{200}, RemoveVIPs{Handover: true}, StopTimer{AdvertTimer}, SetTimer{MasterDownTimer, millis(3210)},
			Transition{Master, Backup, "priority 200 < peer 10.0.0.1 priority 210"})
	})
}

func TestMachineFault(t *testing.T) {
	t.Run("master resigns", func(t *testing.T) {
		m := masterMachine(t, nil)
		checkActions(t, m.Step(FaultChanged{true, "eth1 down"}),
			SendAdvert{0}, RemoveVIPs{}, StopTimer{AdvertTimer},
			Transition{Master, Fault, "fault: eth1 down"})
	})
	t.Run("backup stops timers", func(t *testing.T) {
		m := backupMachine(t, func(p *Params) { p.PreemptDelay = time.Minute })
		checkActions(t, m.Step(FaultChanged{true, ""}),
			StopTimer{MasterDownTimer}, StopTimer{PreemptDelayTimer},
			Transition{Backup, Fault, "fault"})
	})
	t.Run("fault ignores elections", func(t *testing.T) {
		m := backupMachine(t, nil)
		m.Step(FaultChanged{true, "eth1 down"})
		checkActions(t, m.Step(AdvertReceived{From: machAddrHigh, Priority: 0, Interval: time.Second}))
		checkActions(t, m.Step(TimerFired{MasterDownTimer}))
		checkActions(t, m.Step(FaultChanged{true, "eth1 still down"}))
		checkActions(t, m.Step(PriorityChanged{50, ""}))
		if m.State() != Fault {
			t.Fatalf("state %v", m.State())
		}
	})
	t.Run("recovery to backup", func(t *testing.T) {
		m := masterMachine(t, func(p *Params) { p.PreemptDelay = 5 * time.Second })
		m.Step(FaultChanged{true, "eth1 down"})
		checkActions(t, m.Step(FaultChanged{false, "eth1 up"}),
			SetTimer{MasterDownTimer, millis(3600)}, SetTimer{PreemptDelayTimer, 5 * time.Second},
			Transition{Fault, Backup, "fault cleared: eth1 up"})
		if m.MasterAddr().IsValid() {
			t.Fatalf("stale master addr %v after fault", m.MasterAddr())
		}
	})
	t.Run("owner recovers to master", func(t *testing.T) {
		m := newTestMachine(t, func(p *Params) { p.Priority = 255 })
		m.Step(Start{})
		m.Step(FaultChanged{true, "eth1 down"})
		checkActions(t, m.Step(FaultChanged{false, ""}),
			SendAdvert{255}, AddVIPs{}, Announce{}, SetTimer{AdvertTimer, time.Second},
			Transition{Fault, Master, "fault cleared"})
	})
	t.Run("clear without fault is a no-op", func(t *testing.T) {
		m := backupMachine(t, nil)
		checkActions(t, m.Step(FaultChanged{false, ""}))
	})
	t.Run("fault cleared before start", func(t *testing.T) {
		m := newTestMachine(t, nil)
		m.Step(FaultChanged{true, "x"})
		m.Step(FaultChanged{false, "x"})
		m.Step(Start{})
		if m.State() != Backup {
			t.Fatalf("state %v", m.State())
		}
	})
}

func TestMachineShutdown(t *testing.T) {
	t.Run("master resigns with priority 0", func(t *testing.T) {
		m := masterMachine(t, nil)
		checkActions(t, m.Step(Shutdown{}),
			SendAdvert{0}, RemoveVIPs{}, StopTimer{AdvertTimer},
			Transition{Master, Initialize, "shutdown"})
	})
	t.Run("backup stops timers", func(t *testing.T) {
		m := backupMachine(t, func(p *Params) { p.PreemptDelay = time.Minute })
		checkActions(t, m.Step(Shutdown{}),
			StopTimer{MasterDownTimer}, StopTimer{PreemptDelayTimer},
			Transition{Backup, Initialize, "shutdown"})
	})
	t.Run("fault", func(t *testing.T) {
		m := backupMachine(t, nil)
		m.Step(FaultChanged{true, ""})
		checkActions(t, m.Step(Shutdown{}), Transition{Fault, Initialize, "shutdown"})
	})
	t.Run("restart", func(t *testing.T) {
		m := masterMachine(t, nil)
		m.Step(Shutdown{})
		checkActions(t, m.Step(Shutdown{}))
		checkActions(t, m.Step(Start{}), SetTimer{MasterDownTimer, millis(3600)}, Transition{Initialize, Backup, "start"})
	})
}

func TestMachineForceState(t *testing.T) {
	t.Run("backup to master", func(t *testing.T) {
		m := backupMachine(t, nil)
		checkActions(t, m.Step(ForceState{Master, "vi_2 went MASTER"}),
			StopTimer{MasterDownTimer},
			SendAdvert{100}, AddVIPs{}, Announce{}, SetTimer{AdvertTimer, time.Second},
			Transition{Backup, Master, "sync group: vi_2 went MASTER"})
	})
	t.Run("master to backup", func(t *testing.T) {
		m := masterMachine(t, nil)
		checkActions(t, m.Step(ForceState{Backup, ""}),
			RemoveVIPs{}, StopTimer{AdvertTimer}, SetTimer{MasterDownTimer, millis(3600)},
			Transition{Master, Backup, "sync group"})
		if m.MasterAddr().IsValid() {
			t.Fatalf("master addr %v", m.MasterAddr())
		}
	})
	t.Run("master to fault", func(t *testing.T) {
		m := masterMachine(t, nil)
		checkActions(t, m.Step(ForceState{Fault, "vi_2 went FAULT"}),
			SendAdvert{0}, RemoveVIPs{}, StopTimer{AdvertTimer},
			Transition{Master, Fault, "sync group: vi_2 went FAULT"})
	})
	t.Run("forced fault to backup and master", func(t *testing.T) {
		m := backupMachine(t, nil)
		checkActions(t, m.Step(ForceState{Fault, ""}), StopTimer{MasterDownTimer}, Transition{Backup, Fault, "sync group"})
		checkActions(t, m.Step(FaultChanged{false, ""})) // not our fault: stays
		checkActions(t, m.Step(ForceState{Backup, ""}), SetTimer{MasterDownTimer, millis(3600)}, Transition{Fault, Backup, "sync group"})
		m.Step(ForceState{Fault, ""})
		checkActions(t, m.Step(ForceState{Master, ""}),
			SendAdvert{100}, AddVIPs{}, Announce{}, SetTimer{AdvertTimer, time.Second},
			Transition{Fault, Master, "sync group"})
	})
	t.Run("same state ignored", func(t *testing.T) {
		m := masterMachine(t, nil)
		checkActions(t, m.Step(ForceState{Master, ""}))
		b := backupMachine(t, nil)
		checkActions(t, b.Step(ForceState{Backup, ""}))
		checkActions(t, b.Step(ForceState{Initialize, ""}))
	})
	t.Run("own fault is never forced out", func(t *testing.T) {
		m := backupMachine(t, nil)
		m.Step(FaultChanged{true, "eth1 down"})
		checkActions(t, m.Step(ForceState{Master, ""}))
		checkActions(t, m.Step(ForceState{Backup, ""}))
		if m.State() != Fault {
			t.Fatalf("state %v", m.State())
		}
	})
	t.Run("own fault while forced fault", func(t *testing.T) {
		m := backupMachine(t, nil)
		m.Step(ForceState{Fault, ""})
		checkActions(t, m.Step(FaultChanged{true, "eth1 down"}))
		checkActions(t, m.Step(ForceState{Backup, ""})) // refused: own fault
		checkActions(t, m.Step(FaultChanged{false, "eth1 up"}),
			SetTimer{MasterDownTimer, millis(3600)}, Transition{Fault, Backup, "fault cleared: eth1 up"})
	})
}

// TestMachineInvariantsRandom steps machines with seeded random events and
// checks the invariants every runner relies on: at most one Transition per
// Step and it comes last and matches State(); VIPs are held exactly while
// Master; in Master the advert timer runs, in Backup the master-down timer
// runs, and nothing runs in Initialize or Fault.
func TestMachineInvariantsRandom(t *testing.T) {
	peers := []netip.Addr{machAddrLow, machAddrHigh, netip.MustParseAddr("10.0.0.9")}
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		p := machineParams()
		p.Version = 2 + rng.IntN(2)
		p.Priority = uint8(1 + rng.IntN(255))
		p.Preempt = rng.IntN(3) > 0
		if rng.IntN(2) == 0 {
			p.PreemptDelay = 5 * time.Second
		}
		m := NewMachine(p)
		var armed [numTimers]bool
		vips := false
		for step := range 300 {
			var ev Event
			switch rng.IntN(10) {
			case 0:
				ev = Start{}
			case 1, 2, 3:
				ev = AdvertReceived{From: peers[rng.IntN(len(peers))], Priority: uint8(rng.IntN(256)), Interval: millis(10 * (1 + rng.IntN(200)))}
			case 4, 5:
				ev = TimerFired{Timer(rng.IntN(int(numTimers)))}
			case 6:
				ev = PriorityChanged{Priority: uint8(rng.IntN(256))}
			case 7:
				ev = FaultChanged{Fault: rng.IntN(2) == 0}
			case 8:
				ev = ForceState{State: State(rng.IntN(4))}
			case 9:
				if rng.IntN(4) == 0 {
					ev = Shutdown{}
				} else {
					ev = Start{}
				}
			}
			before := m.State()
			if tf, ok := ev.(TimerFired); ok && armed[tf.Timer] {
				armed[tf.Timer] = false
			}
			acts := m.Step(ev)
			where := fmt.Sprintf("seed %d step %d: %T%+v -> %s", seed, step, ev, ev, fmtActions(acts))
			transitions := 0
			for i, a := range acts {
				switch a := a.(type) {
				case Transition:
					transitions++
					if i != len(acts)-1 || a.From != before || a.To != m.State() || a.From == a.To || a.Reason == "" {
						t.Fatalf("%s: bad transition", where)
					}
				case SetTimer:
					armed[a.Timer] = true
				case StopTimer:
					if !armed[a.Timer] {
						t.Fatalf("%s: stop of an idle timer", where)
					}
					armed[a.Timer] = false
				case AddVIPs:
					vips = true
				case RemoveVIPs:
					vips = false
				case SendAdvert:
					// A master stepping down sends a parting advert.
					if a.Priority != 0 && m.State() != Master && before != Master {
						t.Fatalf("%s: advert outside master", where)
					}
				}
			}
			if transitions == 0 && m.State() != before {
				t.Fatalf("%s: state changed silently", where)
			}
			st := m.State()
			if vips != (st == Master) {
				t.Fatalf("%s: vips %v in %v", where, vips, st)
			}
			if armed[AdvertTimer] != (st == Master) || armed[MasterDownTimer] != (st == Backup) {
				t.Fatalf("%s: timers %v in %v", where, armed, st)
			}
			if armed[PreemptDelayTimer] && st != Backup {
				t.Fatalf("%s: preempt delay running in %v", where, st)
			}
			if armed != m.armed {
				t.Fatalf("%s: runner view %v, machine %v", where, armed, m.armed)
			}
		}
	}
}

func TestMachineRetune(t *testing.T) {
	t.Run("master uses the new interval from its next advert", func(t *testing.T) {
		m := masterMachine(t, nil)
		checkActions(t, m.Retune(200*time.Millisecond, true, 0))
		if m.State() != Master || m.MasterAdvertInterval() != millis(200) {
			t.Fatalf("state %v interval %v", m.State(), m.MasterAdvertInterval())
		}
		checkActions(t, m.Step(TimerFired{AdvertTimer}),
			SendAdvert{100}, SetTimer{AdvertTimer, millis(200)})
	})
	t.Run("v3 interval snapped to centiseconds", func(t *testing.T) {
		m := masterMachine(t, nil)
		m.Retune(1234567*time.Microsecond, true, 0)
		if m.MasterAdvertInterval() != millis(1230) {
			t.Fatalf("interval %v, want 1.23s", m.MasterAdvertInterval())
		}
	})
	t.Run("v2 backup computes master down from the new interval", func(t *testing.T) {
		m := backupMachine(t, func(p *Params) { p.Version = 2 })
		m.Retune(3*time.Second, true, 0)
		got := m.Step(AdvertReceived{From: machAddrHigh, Priority: 200, Interval: time.Second})
		// 3*3s + skew (256-100)/256*3s = 10.828125s
		checkActions(t, got, SetTimer{MasterDownTimer, 10828125 * time.Microsecond})
	})
	t.Run("nopreempt ends a preempt hold", func(t *testing.T) {
		m := backupMachine(t, func(p *Params) { p.PreemptDelay = 30 * time.Second })
		checkActions(t, m.Retune(time.Second, false, 30*time.Second), StopTimer{PreemptDelayTimer})
		// A lower-priority master is now followed, not preempted.
		got := m.Step(AdvertReceived{From: machAddrLow, Priority: 50, Interval: time.Second})
		for _, a := range got {
			if tr, ok := a.(Transition); ok {
				t.Fatalf("nopreempt backup changed state: %+v", tr)
			}
		}
	})
	t.Run("no state change", func(t *testing.T) {
		m := backupMachine(t, nil)
		checkActions(t, m.Retune(500*time.Millisecond, false, 0))
		if m.State() != Backup {
			t.Fatalf("state %v", m.State())
		}
	})
}
