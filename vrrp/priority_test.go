package vrrp

import "testing"

func TestPriorityEffective(t *testing.T) {
	tests := []struct {
		name       string
		base       uint8
		tracks     []TrackStatus
		want       uint8
		wantFault  bool
		wantReason string
	}{
		{"no tracks", 100, nil, 100, false, ""},
		{"healthy negative weight changes nothing", 100,
			[]TrackStatus{{"check nginx-alive", -60, false}}, 100, false, ""},
		{"failing negative weight subtracts", 100,
			[]TrackStatus{{"check nginx-alive", -60, true}}, 40, false, "check nginx-alive failing (-60)"},
		{"healthy positive weight adds", 100,
			[]TrackStatus{{"check api", 20, false}}, 120, false, "check api healthy (+20)"},
		{"failing positive weight adds nothing", 100,
			[]TrackStatus{{"check api", 20, true}}, 100, false, ""},
		{"several in track order", 100,
			[]TrackStatus{{"check a", -10, true}, {"check b", 5, false}, {"interface eth1", -30, true}},
			65, false, "check a failing (-10), check b healthy (+5), interface eth1 failing (-30)"},
		{"clamped to 1, never 0", 50,
			[]TrackStatus{{"check a", -100, true}}, 1, false, "check a failing (-100), clamped to 1"},
		{"clamped to 254, never 255", 200,
			[]TrackStatus{{"check a", 100, false}}, 254, false, "check a healthy (+100), clamped to 254"},
		{"exactly 254 from below", 250,
			[]TrackStatus{{"check a", 4, false}}, 254, false, "check a healthy (+4)"},
		{"weight 0 failing is fault", 100,
			[]TrackStatus{{"interface eth1", 0, true}}, 100, true, "interface eth1 failing (fault)"},
		{"weight 0 healthy is nothing", 100,
			[]TrackStatus{{"interface eth1", 0, false}}, 100, false, ""},
		{"fault and weights together", 100,
			[]TrackStatus{{"interface eth1", 0, true}, {"check a", -20, true}}, 80, true,
			"interface eth1 failing (fault), check a failing (-20)"},
		{"owner ignores weights", 255,
			[]TrackStatus{{"check a", -100, true}, {"check b", 10, false}}, 255, false, ""},
		{"owner still faults", 255,
			[]TrackStatus{{"interface eth1", 0, true}, {"check a", -100, true}}, 255, true, "interface eth1 failing (fault)"},
		{"base 0 treated as 1", 0, nil, 1, false, ""},
		{"big sums do not wrap", 10,
			[]TrackStatus{{"a", 250, false}, {"b", 250, false}}, 254, false, "a healthy (+250), b healthy (+250), clamped to 254"},
		{"big losses do not wrap", 254,
			[]TrackStatus{{"a", -250, true}, {"b", -250, true}}, 1, false, "a failing (-250), b failing (-250), clamped to 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, fault, reason := Effective(tc.base, tc.tracks)
			if p != tc.want || fault != tc.wantFault || reason != tc.wantReason {
				t.Fatalf("Effective = (%d, %v, %q), want (%d, %v, %q)", p, fault, reason, tc.want, tc.wantFault, tc.wantReason)
			}
		})
	}
}

// TestPriorityNeverReaches255 sweeps bases and weights: tracking may never
// create an address owner nor demote one.
func TestPriorityNeverReaches255(t *testing.T) {
	for base := 0; base <= 255; base++ {
		for w := -300; w <= 300; w += 7 {
			for _, failing := range []bool{false, true} {
				p, _, _ := Effective(uint8(base), []TrackStatus{{"x", w, failing}, {"y", w / 2, !failing}})
				if base == 255 && p != 255 {
					t.Fatalf("owner became %d (w %d failing %v)", p, w, failing)
				}
				if base != 255 && (p == 255 || p == 0) {
					t.Fatalf("base %d w %d failing %v gave %d", base, w, failing, p)
				}
			}
		}
	}
}

// TestPriorityFeedsMachine shows the intended wiring: the runner computes
// Effective and hands the result to the Machine, and a tracked master that
// falls below its peer is preempted.
func TestPriorityFeedsMachine(t *testing.T) {
	m := masterMachine(t, func(p *Params) { p.Priority = 150 })
	p, fault, reason := Effective(150, []TrackStatus{{"check nginx-alive", -60, true}})
	if fault {
		t.Fatal("unexpected fault")
	}
	checkActions(t, m.Step(PriorityChanged{p, reason}), SendAdvert{90}, SetTimer{AdvertTimer, 1e9})
	acts := m.Step(AdvertReceived{From: machAddrHigh, Priority: 120, Interval: 1e9})
	if m.State() != Backup || acts[len(acts)-1].(Transition).Reason != "priority 90 < peer 10.0.0.3 priority 120" {
		t.Fatalf("state %v actions %s", m.State(), fmtActions(acts))
	}
}
