package api

import (
	"strings"
	"testing"
)

func TestAssess(t *testing.T) {
	healthy := func() Status {
		return Status{
			Node:      "lb1",
			Instances: []Instance{{Name: "VI_1", State: "master"}, {Name: "VI_2", State: "backup"}},
			Services: []Service{{Name: "web", Up: true, Backends: []Backend{
				{Address: "10.0.0.1:80", Up: true}, {Address: "10.0.0.2:80", Up: false, Admin: AdminMaint},
			}}},
			LastReload: &Reload{OK: true},
		}
	}
	for _, tc := range []struct {
		name  string
		edit  func(*Status)
		level Level
		first string
	}{
		{"healthy, a backend in maintenance", func(*Status) {}, OK, ""},
		{"a backend down", func(s *Status) { s.Services[0].Backends[0].Up, s.Services[0].Backends[0].Reason = false, "refused" }, Warning, "service web: backend 10.0.0.1:80 down (refused)"},
		{"a silent peer", func(s *Status) {
			s.Instances[1].Problems = []Problem{{Kind: "peer_silent", Peer: "10.0.0.3", Cause: "gone"}}
		}, Warning, "VRRP VI_2: peer_silent with 10.0.0.3: gone"},
		{"reload refused", func(s *Status) { s.LastReload = &Reload{Error: "bad vrid"} }, Warning, "last reload refused: bad vrid"},
		{"starting", func(s *Status) { s.Instances[0].State = "init" }, Warning, "VRRP VI_1 is starting"},
		{"fault", func(s *Status) { s.Instances[0].State, s.Instances[0].Reason = "fault", "eth0 down" }, Critical, "VRRP VI_1 in fault (eth0 down)"},
		{"two masters", func(s *Status) {
			s.Instances[0].Problems = []Problem{{Kind: "master_conflict", Peer: "10.0.0.3", Cause: "split brain"}}
		}, Critical, "VRRP VI_1: master_conflict with 10.0.0.3: split brain"},
		{"service down, with a warning too", func(s *Status) {
			s.Services[0].Up, s.Services[0].Reason = false, "no backend up"
			s.LastReload = &Reload{Error: "x"}
		}, Critical, "service web down (no backend up)"},
	} {
		st := healthy()
		tc.edit(&st)
		level, findings := Assess(st)
		if level != tc.level {
			t.Errorf("%s: level %v, want %v (%q)", tc.name, level, tc.level, findings)
		}
		if tc.first == "" && len(findings) > 0 || tc.first != "" && (len(findings) == 0 || findings[0] != tc.first) {
			t.Errorf("%s: findings %q, want %q first", tc.name, findings, tc.first)
		}
		sum := Summary(st, level, findings)
		if !strings.HasPrefix(sum, "VIGIL "+level.String()+" - lb1: 2 VRRP instance(s)") {
			t.Errorf("%s: summary %q", tc.name, sum)
		}
	}
}
