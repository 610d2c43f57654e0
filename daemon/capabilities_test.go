package daemon

import (
	"net/netip"
	"reflect"
	"testing"

	"vigil/config"
)

func TestMissingCapabilities(t *testing.T) {
	const all = 1<<capNetBindService | 1<<capNetAdmin | 1<<capNetRaw
	vrrpOnly := &config.Config{VRRP: []config.Instance{{Name: "VI_1"}}}
	proxyHigh := &config.Config{Services: []config.Service{{Mode: "proxy", Listen: netip.MustParseAddrPort("10.0.0.1:8080")}}}
	proxyLow := &config.Config{Services: []config.Service{
		{Mode: "proxy", Listen: netip.MustParseAddrPort("10.0.0.1:443")},
		{Mode: "proxy", Listen: netip.MustParseAddrPort("10.0.0.1:80")},
	}}
	lvsOnly := &config.Config{Services: []config.Service{{Mode: "lvs", Listen: netip.MustParseAddrPort("10.0.0.1:80")}}}
	for _, tc := range []struct {
		name      string
		cfg       *config.Config
		effective uint64
		portStart int
		want      []string
	}{
		{"root has everything", vrrpOnly, all, 1024, nil},
		{"vrrp without caps", vrrpOnly, 0, 1024, []string{"CAP_NET_RAW", "CAP_NET_ADMIN"}},
		{"vrrp with the two", vrrpOnly, 1<<capNetAdmin | 1<<capNetRaw, 1024, nil},
		{"vrrp without raw", vrrpOnly, 1 << capNetAdmin, 1024, []string{"CAP_NET_RAW"}},
		{"proxy on a high port needs nothing", proxyHigh, 0, 1024, nil},
		{"proxy on port 80 names the lowest port", proxyLow, 0, 1024, []string{"CAP_NET_BIND_SERVICE"}},
		{"low ports allowed by sysctl", proxyLow, 0, 0, nil},
		{"lvs needs net_admin, not a bind", lvsOnly, 0, 1024, []string{"CAP_NET_ADMIN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, m := range missingCapabilities(tc.cfg, tc.effective, tc.portStart) {
				got = append(got, m.name)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("missing = %v, want %v", got, tc.want)
			}
		})
	}
	if m := missingCapabilities(proxyLow, 0, 1024); m[0].why != "a service listens on port 80, below 1024" {
		t.Errorf("why = %q", m[0].why)
	}
}
