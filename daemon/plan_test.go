package daemon

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"vigil/config"
	"vigil/vrrp"
)

// TestActionForReplacedInstance: an instance the reload replaces says why,
// from the reason the plan found (its identity on the wire changed).
func TestActionForReplacedInstance(t *testing.T) {
	conf := func(vrid int) *config.Config {
		t.Helper()
		c, _, err := config.Parse("t.yaml", []byte(fmt.Sprintf("vrrp:\n  - { name: VI_1, interface: eth0, vrid: %d, priority: 100, vips: [10.0.0.100/24] }\n", vrid)), config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	old, cfg := conf(51), conf(52)
	in, err := vrrp.NewInstance(instanceConfig(old.VRRP[0]), vrrp.Hooks{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p := &reloadPlan{reconfigure: map[*vrrp.Instance]vrrp.InstanceConfig{}, replaced: map[string]error{}}
	p.replaced["VI_1"] = in.CanReconfigure(instanceConfig(cfg.VRRP[0]))
	got := actionFor("vrrp VI_1", old, cfg, p, map[string]*vrrp.Instance{"VI_1": in})
	if want := "replaced (virtual router id changed): "; !strings.HasPrefix(got, want) {
		t.Errorf("action %q, want it to start with %q", got, want)
	}
	delete(p.replaced, "VI_1")
	p.reconfigure[in] = instanceConfig(cfg.VRRP[0])
	if got := actionFor("vrrp VI_1", old, cfg, p, map[string]*vrrp.Instance{"VI_1": in}); !strings.HasPrefix(got, "reconfigured in place") {
		t.Errorf("action %q, want reconfigured in place", got)
	}
}
