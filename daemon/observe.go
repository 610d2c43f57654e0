package daemon

import (
	"strings"
	"sync"
	"time"

	"vigil/lvs"
	"vigil/metrics"
	"vigil/proxy"
)

// newMetrics builds the daemon's Prometheus metrics over its live parts;
// every source is read at scrape time under d.mu, so a reload never shows
// half of two configs.
func (d *Daemon) newMetrics() *metrics.Metrics {
	return metrics.New(metrics.Sources{
		EventStreams: d.events.counts,
		Build: func() metrics.BuildInfo {
			return metrics.BuildInfo{Version: d.Version, Revision: d.Commit}
		},
		Instances: func() []metrics.VRRPInstance {
			var out []metrics.VRRPInstance
			for _, in := range d.Instances() {
				out = append(out, metrics.VRRPInstance{Status: in.Status(), Stats: in.Stats()})
			}
			return out
		},
		Services: func() []proxy.ServiceStats {
			d.mu.Lock()
			defer d.mu.Unlock()
			var out []proxy.ServiceStats
			for _, sc := range d.cfg.Services {
				if s := d.services[sc.Name]; s != nil {
					out = append(out, s.Stats())
				}
			}
			return out
		},
		LVS: func() ([]lvs.Stats, error) {
			d.mu.Lock()
			m := d.lvs
			d.mu.Unlock()
			if m == nil {
				return nil, nil
			}
			return m.Stats()
		},
		Checks:     d.checkStates.snapshot,
		AccessLogs: d.logs.stats,
	})
}

// observeProbe feeds the check engine's probe outcomes to the metrics.
// Probe names are "SERVICE/ADDRESS" for backend checks and the check's
// name for tracked checks; the metric's check label is the service or
// check name, so its values stay as few as the config's entries.
func (d *Daemon) observeProbe(name string, took time.Duration, ok bool, reason string) {
	check, target, _ := strings.Cut(name, "/")
	d.metrics.ObserveProbe(check, target, took, ok, reason)
}

// checkStates remembers the latest verdict each consumer of a check got,
// for the check-up metric and the status API.
type checkStates struct {
	mu sync.Mutex
	by map[metrics.CheckState]bool // key has Up false; value is the state
}

func (c *checkStates) set(check, target, consumer string, up bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.by == nil {
		c.by = map[metrics.CheckState]bool{}
	}
	c.by[metrics.CheckState{Check: check, Target: target, Consumer: consumer}] = up
}

// get is the latest verdict a consumer got, and whether it got one.
func (c *checkStates) get(check, target, consumer string) (up, known bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	up, known = c.by[metrics.CheckState{Check: check, Target: target, Consumer: consumer}]
	return up, known
}

// retain drops the entries of consumers a reload removed.
func (c *checkStates) retain(keep func(metrics.CheckState) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.by {
		if !keep(k) {
			delete(c.by, k)
		}
	}
}

func (c *checkStates) snapshot() []metrics.CheckState {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]metrics.CheckState, 0, len(c.by))
	for k, up := range c.by {
		k.Up = up
		out = append(out, k)
	}
	return out
}
