// Package metrics is the one place that turns every part's counters into
// Prometheus metrics. The parts (vrrp, checks, proxy, lvs) keep plain
// counters and snapshots of their own and never import Prometheus; this
// package reads them at scrape time, takes the few events that are not
// counters anywhere (state transitions, probe results), and names and
// labels all of it in one style.
//
// Nothing here is global: each Metrics has a private registry, so tests and
// a reloaded daemon can build as many as they like.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"vigil/lvs"
	"vigil/proxy"
	"vigil/vrrp"
)

// Sources are what the daemon lets metrics read. Each func is called on
// every scrape, from the scraping goroutine, so it must be safe to call
// concurrently with the daemon's own work and return promptly; a nil func
// leaves its part out. They return what the daemon runs now, so after a
// reload the metrics follow the new config without re-registering.
type Sources struct {
	// Instances returns the VRRP instances: their status and their live
	// counters (vrrp.Instance.Status and Stats).
	Instances func() []VRRPInstance
	// Services returns the proxy services' snapshots (proxy.Service.Stats).
	Services func() []proxy.ServiceStats
	// LVS returns the IPVS services' kernel counters; lvs.Manager.Stats
	// fits as it is. An error counts in vigil_lvs_stats_errors_total and
	// leaves the IPVS metrics out of that scrape.
	LVS func() ([]lvs.Stats, error)
	// Checks returns the state of every watched health check target, one
	// entry per consumer (checks.Watch.State).
	Checks func() []CheckState
	// AccessLogs returns the access log targets open now and their
	// counters.
	AccessLogs func() []AccessLog
	// Build returns what vigil_build_info says of the binary.
	Build func() BuildInfo
	// EventStreams returns the API's event streams open now and those
	// ended to make room for newer ones.
	EventStreams func() (open int, dropped uint64)
}

// BuildInfo is the running binary's version and the commit it was built
// from (vigil version).
type BuildInfo struct {
	Version, Revision string
}

// AccessLog is one access log target (accesslog.Sink) as metrics reads it.
type AccessLog struct {
	// Target is where the lines go, as the config names it.
	Target string
	// Lines counts the lines written; Dropped the lines lost because the
	// target did not keep up (or a write failed).
	Lines, Dropped uint64
}

// VRRPInstance is one VRRP instance as metrics reads it.
type VRRPInstance struct {
	// Status is the instance's snapshot (vrrp.Instance.Status).
	Status vrrp.Status
	// Stats are its live counters (vrrp.Instance.Stats); nil leaves the
	// counters out.
	Stats *vrrp.Stats
}

// CheckState is one consumer's view of a health check target.
type CheckState struct {
	// Check is the check's name in the config, the same one passed to
	// ObserveProbe.
	Check string
	// Target is what is probed: a backend address or the check's own target.
	Target string
	// Consumer is who follows the result, as the daemon named the watch
	// ("web/10.0.0.21:8080", "vrrp VI_1"); one target probed once may have
	// several.
	Consumer string
	// Up is the state after rise/fall.
	Up bool
}

// Metrics holds the registry and the event-fed metrics. Its methods are
// safe for concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	transitions   *prometheus.CounterVec
	probeDuration *prometheus.HistogramVec
	probeFailures *prometheus.CounterVec
	alerts        *prometheus.CounterVec
	reloadOK      prometheus.Gauge
	reloadTime    prometheus.Gauge
}

// New builds the metrics over src. The registry also holds the Go runtime
// and process collectors, which every Prometheus dashboard expects.
func New(src Sources) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_vrrp_transitions_total",
			Help: "VRRP state changes, by instance and the states left and entered.",
		}, []string{"vrrp_instance", "from", "to"}),
		probeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vigil_check_duration_seconds",
			Help:    "How long health check probes took, passing or failing.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"check"}),
		probeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_check_failures_total",
			Help: "Failed health check probes, by check and class of reason (refused, timeout, status, body, exec, dns, other).",
		}, []string{"check", "reason_class"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerts_total",
			Help: "Alert events by sink (webhook URL without query, or SMTP server) and outcome: sent, failed (refused or out of retries), dropped (queue full or stopping).",
		}, []string{"sink", "outcome"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_config_last_reload_successful",
			Help: "Whether the last reload of the config file succeeded (1; 0: it was refused, or applied with errors). 1 at start, which loaded the config.",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_config_last_reload_success_timestamp_seconds",
			Help: "When the config running now was loaded: the last successful reload, or the start.",
		}),
	}
	m.reloadOK.Set(1)
	m.reloadTime.SetToCurrentTime()
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newCollector(src),
		m.transitions, m.probeDuration, m.probeFailures, m.alerts,
		m.reloadOK, m.reloadTime,
	)
	// ContinueOnError: one bad series (say, two services the daemon named
	// alike) must not blank the whole page; the error is counted in
	// promhttp_metric_handler_errors_total instead.
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:      m.reg,
		ErrorHandling: promhttp.ContinueOnError,
	})
	return m
}

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler { return m.handler }

// ObserveReload records the outcome of a reload of the config file that
// ended at.
func (m *Metrics) ObserveReload(ok bool, at time.Time) {
	if !ok {
		m.reloadOK.Set(0)
		return
	}
	m.reloadOK.Set(1)
	m.reloadTime.Set(float64(at.UnixNano()) / 1e9)
}

// ObserveTransition counts one VRRP state change; the daemon calls it from
// vrrp.Hooks.OnTransition.
func (m *Metrics) ObserveTransition(instance string, from, to vrrp.State) {
	m.transitions.WithLabelValues(instance, stateLabel(from), stateLabel(to)).Inc()
}

// ObserveProbe records one health check probe; the daemon calls it from
// checks.Options.OnProbe. The duration goes into the check's histogram
// and a failure is counted by the class of its reason, never by the reason
// itself, which carries addresses and program output.
//
// target is accepted so the call carries the probe's whole identity, but
// it labels nothing: durations and failures are per check, so their series
// grow with the config's checks, not with checks times backends. Per-target
// state is vigil_check_up.
func (m *Metrics) ObserveProbe(check, target string, d time.Duration, ok bool, reason string) {
	m.probeDuration.WithLabelValues(check).Observe(d.Seconds())
	if !ok {
		m.probeFailures.WithLabelValues(check, reasonClass(reason)).Inc()
	}
}

// ObserveAlert counts n alert events that met outcome ("sent", "failed",
// "dropped") at sink; the daemon passes it to alerts as its Observe.
func (m *Metrics) ObserveAlert(sink, outcome string, n int) {
	m.alerts.WithLabelValues(sink, outcome).Add(float64(n))
}
