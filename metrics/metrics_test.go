package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"vigil/lvs"
	"vigil/proxy"
	"vigil/vrrp"
)

// snapshot is a representative moment of a node: one VRRP instance as
// master and one in fault, a tcp, an http (with a route group sharing an
// address) and a udp service, one IPVS service and checks with two
// consumers of one target.
func snapshot() Sources {
	master := &vrrp.Stats{}
	master.AdvertsSent.Add(120)
	master.AdvertsReceived.Add(3)
	master.Announcements.Add(10)
	master.MasterConflicts.Add(2)
	master.Transitions.Add(2)
	return Sources{
		Instances: func() []VRRPInstance {
			return []VRRPInstance{
				{Status: vrrp.Status{Name: "VI_1", Interface: "eth0", VRID: 51, Version: 3, State: vrrp.Master, Priority: 90, Base: 100,
					Problems: []vrrp.Problem{{Kind: vrrp.ProblemMasterConflict, Peer: netip.MustParseAddr("10.0.0.2")}}}, Stats: master},
				{Status: vrrp.Status{Name: "VI_2", Interface: "eth1", VRID: 52, Version: 2, State: vrrp.Fault, Priority: 0, Base: 50}}, // no counters
			}
		},
		Checks: func() []CheckState {
			return []CheckState{
				{Check: "web-http", Target: "10.0.0.21:8080", Consumer: "web/10.0.0.21:8080", Up: true},
				{Check: "web-http", Target: "10.0.0.21:8080", Consumer: "vrrp VI_1", Up: true},
				{Check: "web-http", Target: "10.0.0.22:8080", Consumer: "web/10.0.0.22:8080", Up: false},
			}
		},
		Services: func() []proxy.ServiceStats {
			return []proxy.ServiceStats{
				{
					Name: "db", Protocol: "tcp", Listening: true, Up: true,
					Active: 4, Total: 100, BytesIn: 1000, BytesOut: 5000,
					Retries: 1, ConnectErrors: 2, NoBackend: 3, Queued: 1,
					QueueTimeouts: 4, QueueOverflows: 5, Timeouts: 6, ProxyErrors: 7,
					MaxConn: 200, MaxQueue: 10,
					QueueWait: proxy.DurationHistogram{
						Bounds:     []time.Duration{time.Millisecond, time.Second},
						Cumulative: []uint64{90, 99},
						Count:      100,
						Sum:        3 * time.Second,
					},
					Backends: []proxy.BackendStats{
						{Address: "10.0.1.1:5432", Up: true, Admin: "drain", Weight: 2, EffectiveWeight: 1, MaxConn: 50, Active: 4, Total: 99,
							BytesIn: 1000, BytesOut: 5000, Retries: 1, ConnectErrors: 2,
							Connect: proxy.DurationHistogram{
								Bounds:     []time.Duration{time.Millisecond, time.Second},
								Cumulative: []uint64{98, 99},
								Count:      99,
								Sum:        50 * time.Millisecond,
							}},
					},
				},
				{
					Name: "web", Protocol: "http", Up: false, Total: 7,
					HTTP: &proxy.HTTPStats{
						Requests: [proxy.NumCodeClasses]uint64{0, 5, 1, 0, 0, 1},
						Duration: proxy.DurationHistogram{
							Bounds:     []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second},
							Cumulative: []uint64{3, 5, 6},
							Count:      7,
							Sum:        2500 * time.Millisecond,
						},
					},
					Backends: []proxy.BackendStats{
						{Address: "10.0.0.21:8080", Up: true, Weight: 1, EffectiveWeight: 1, Total: 3,
							Responses: [proxy.NumCodeClasses]uint64{0, 5, 1, 0, 0, 0},
							Response: proxy.DurationHistogram{
								Bounds:     []time.Duration{10 * time.Millisecond, time.Second},
								Cumulative: []uint64{4, 6},
								Count:      6,
								Sum:        900 * time.Millisecond,
							}},
						{Address: "10.0.0.21:8080", Group: "web/route0", Up: false, Weight: 1, EffectiveWeight: 0},
					},
				},
				{Name: "dns", Protocol: "udp", Up: true, Total: 9, Dropped: 2},
			}
		},
		AccessLogs: func() []AccessLog {
			return []AccessLog{{Target: "/var/log/vigil/web.log", Lines: 1200, Dropped: 3}, {Target: "stdout", Lines: 7}}
		},
		LVS: func() ([]lvs.Stats, error) {
			return []lvs.Stats{{
				Name: "mail", Connections: 30, PacketsIn: 300, PacketsOut: 200, BytesIn: 30000, BytesOut: 20000,
				Destinations: []lvs.DestinationStats{
					{Addr: netip.MustParseAddrPort("10.0.2.1:25"), Weight: 1, ActiveConns: 2, InactiveConns: 1,
						Connections: 30, PacketsIn: 300, PacketsOut: 200, BytesIn: 30000, BytesOut: 20000},
				},
			}}, nil
		},
	}
}

// TestCollectorExposition pins the whole exposition of the snapshot: every
// name, label and value the daemon's parts map to.
func TestCollectorExposition(t *testing.T) {
	want, err := os.Open("testdata/snapshot.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	if err := testutil.CollectAndCompare(newCollector(snapshot()), want); err != nil {
		t.Error(err)
	}
}

// TestLint runs promlint over everything vigil exposes, event-fed metrics
// included, so a badly named metric fails here rather than on a dashboard.
func TestLint(t *testing.T) {
	src := snapshot()
	src.Build = func() BuildInfo { return BuildInfo{Version: "v1.2.3", Revision: "abc123"} }
	src.EventStreams = func() (int, uint64) { return 2, 1 }
	m := New(src)
	m.ObserveReload(false, time.Now())
	m.ObserveTransition("VI_1", vrrp.Backup, vrrp.Master)
	m.ObserveProbe("web-http", "10.0.0.21:8080", 3*time.Millisecond, false, "connect refused")
	m.ObserveAlert("email smtp.example.com:25", "sent", 1)
	problems, err := testutil.GatherAndLint(m.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		// The Go and process collectors are Prometheus's own; only ours
		// are ours to fix.
		if strings.HasPrefix(p.Metric, "vigil_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
	// The lint must have seen every one of ours: the snapshot makes the
	// collector emit each metric it describes, plus the six event-fed.
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	ours := 0
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "vigil_") {
			ours++
		}
	}
	if want := len(newCollector(Sources{}).all) + 6; ours != want {
		t.Errorf("linted %d vigil_ metrics, want %d", ours, want)
	}
}

// TestHandler scrapes through Handler as Prometheus would.
func TestHandler(t *testing.T) {
	m := New(snapshot())
	m.ObserveTransition("VI_1", vrrp.Backup, vrrp.Master)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	body, ctype := scrape(t, srv.URL)
	if !strings.HasPrefix(ctype, "text/plain") {
		t.Errorf("content type %q", ctype)
	}
	for _, want := range []string{
		"\ngo_goroutines ",
		"\nprocess_cpu_seconds_total ",
		`vigil_vrrp_state{state="master",vrrp_instance="VI_1"} 1`,
		`vigil_vrrp_transitions_total{from="backup",to="master",vrrp_instance="VI_1"} 1`,
		`vigil_proxy_http_requests_total{code="2xx",service="web"} 5`,
		`vigil_lvs_real_server_active_connections{real_server="10.0.2.1:25",service="mail"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

func scrape(t *testing.T, url string) (body, contentType string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s: %s", resp.Status, b)
	}
	return string(b), resp.Header.Get("Content-Type")
}

// TestHandlerSurvivesDuplicates: two services the daemon named alike make
// duplicate series; the scrape still serves everything else and counts
// the error.
func TestHandlerSurvivesDuplicates(t *testing.T) {
	src := snapshot()
	src.Services = func() []proxy.ServiceStats {
		return []proxy.ServiceStats{{Name: "twin", Protocol: "tcp"}, {Name: "twin", Protocol: "tcp"}}
	}
	srv := httptest.NewServer(New(src).Handler())
	defer srv.Close()
	first, _ := scrape(t, srv.URL)
	if want := `vigil_vrrp_state{state="master",vrrp_instance="VI_1"} 1`; !strings.Contains(first, want) {
		t.Errorf("scrape lacks %q", want)
	}
	// The error is counted after the scrape that met it, so the next one
	// shows it.
	second, _ := scrape(t, srv.URL)
	if want := `promhttp_metric_handler_errors_total{cause="gathering"} 1`; !strings.Contains(second, want) {
		t.Errorf("second scrape lacks %q", want)
	}
}

// TestLVSError: a failed read of the kernel's counters leaves the IPVS
// metrics out and is counted, scrape after scrape.
func TestLVSError(t *testing.T) {
	c := newCollector(Sources{LVS: func() ([]lvs.Stats, error) { return nil, errors.New("netlink: no such file") }})
	for range 2 {
		testutil.CollectAndCount(c)
	}
	want := `
# HELP vigil_lvs_stats_errors_total Scrapes that could not read the IPVS counters from the kernel.
# TYPE vigil_lvs_stats_errors_total counter
vigil_lvs_stats_errors_total 3
`
	// CollectAndCompare collects once more: the third failed read.
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// TestNoSources: nil funcs leave their parts out instead of panicking.
func TestNoSources(t *testing.T) {
	if n := testutil.CollectAndCount(newCollector(Sources{})); n != 1 {
		t.Errorf("%d series without sources, want only vigil_lvs_stats_errors_total", n)
	}
}

func TestObserveTransition(t *testing.T) {
	m := New(Sources{})
	m.ObserveTransition("VI_1", vrrp.Initialize, vrrp.Backup)
	m.ObserveTransition("VI_1", vrrp.Backup, vrrp.Master)
	m.ObserveTransition("VI_1", vrrp.Master, vrrp.Backup)
	m.ObserveTransition("VI_1", vrrp.Backup, vrrp.Master)
	m.ObserveTransition("VI_2", vrrp.Backup, vrrp.Fault)
	want := `
# HELP vigil_vrrp_transitions_total VRRP state changes, by instance and the states left and entered.
# TYPE vigil_vrrp_transitions_total counter
vigil_vrrp_transitions_total{from="backup",to="master",vrrp_instance="VI_1"} 2
vigil_vrrp_transitions_total{from="init",to="backup",vrrp_instance="VI_1"} 1
vigil_vrrp_transitions_total{from="master",to="backup",vrrp_instance="VI_1"} 1
vigil_vrrp_transitions_total{from="backup",to="fault",vrrp_instance="VI_2"} 1
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "vigil_vrrp_transitions_total"); err != nil {
		t.Error(err)
	}
}

func TestObserveAlert(t *testing.T) {
	m := New(Sources{})
	m.ObserveAlert("webhook https://hooks.example.com/vigil", "sent", 1)
	m.ObserveAlert("webhook https://hooks.example.com/vigil", "sent", 1)
	m.ObserveAlert("webhook https://hooks.example.com/vigil", "dropped", 30)
	m.ObserveAlert("email smtp.example.com:25", "failed", 3)
	want := `
# HELP vigil_alerts_total Alert events by sink (webhook URL without query, or SMTP server) and outcome: sent, failed (refused or out of retries), dropped (queue full or stopping).
# TYPE vigil_alerts_total counter
vigil_alerts_total{outcome="failed",sink="email smtp.example.com:25"} 3
vigil_alerts_total{outcome="dropped",sink="webhook https://hooks.example.com/vigil"} 30
vigil_alerts_total{outcome="sent",sink="webhook https://hooks.example.com/vigil"} 2
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "vigil_alerts_total"); err != nil {
		t.Error(err)
	}
}

func TestObserveProbe(t *testing.T) {
	m := New(Sources{})
	m.ObserveProbe("web-http", "10.0.0.21:8080", 2*time.Millisecond, true, "ok (status 200)")
	m.ObserveProbe("web-http", "10.0.0.22:8080", 40*time.Millisecond, false, "status 503")
	m.ObserveProbe("web-http", "10.0.0.22:8080", time.Second, false, "timeout after 1s")
	m.ObserveProbe("web-http", "10.0.0.23:8080", 20*time.Second, false, "timeout after 1s")
	m.ObserveProbe("nginx-alive", "", 5*time.Millisecond, false, "exit status 1: nginx: not running")
	want := `
# HELP vigil_check_duration_seconds How long health check probes took, passing or failing.
# TYPE vigil_check_duration_seconds histogram
vigil_check_duration_seconds_bucket{check="nginx-alive",le="0.001"} 0
vigil_check_duration_seconds_bucket{check="nginx-alive",le="0.0025"} 0
vigil_check_duration_seconds_bucket{check="nginx-alive",le="0.005"} 1
vigil_check_duration_seconds_bucket{check="nginx-alive",le="0.01"} 1
vigil_check_duration_seconds_bucket{check="nginx-alive",le="0.025"} 1
vigil_check_duration_seconds_bucket{check="nginx-alive",le="0.05"} 1
vigil_check_duration_seconds_bucket{check="nginx-alive",le="0.1"} 1
vigil_check_duration_seconds_bucket{check="nginx-alive",le="0.25"} 1
vigil_check_duration_seconds_bucket{check="nginx-alive",le="0.5"} 1
vigil_check_duration_seconds_bucket{check="nginx-alive",le="1"} 1
vigil_check_duration_seconds_bucket{check="nginx-alive",le="2.5"} 1
vigil_check_duration_seconds_bucket{check="nginx-alive",le="5"} 1
vigil_check_duration_seconds_bucket{check="nginx-alive",le="10"} 1
vigil_check_duration_seconds_bucket{check="nginx-alive",le="+Inf"} 1
vigil_check_duration_seconds_sum{check="nginx-alive"} 0.005
vigil_check_duration_seconds_count{check="nginx-alive"} 1
vigil_check_duration_seconds_bucket{check="web-http",le="0.001"} 0
vigil_check_duration_seconds_bucket{check="web-http",le="0.0025"} 1
vigil_check_duration_seconds_bucket{check="web-http",le="0.005"} 1
vigil_check_duration_seconds_bucket{check="web-http",le="0.01"} 1
vigil_check_duration_seconds_bucket{check="web-http",le="0.025"} 1
vigil_check_duration_seconds_bucket{check="web-http",le="0.05"} 2
vigil_check_duration_seconds_bucket{check="web-http",le="0.1"} 2
vigil_check_duration_seconds_bucket{check="web-http",le="0.25"} 2
vigil_check_duration_seconds_bucket{check="web-http",le="0.5"} 2
vigil_check_duration_seconds_bucket{check="web-http",le="1"} 3
vigil_check_duration_seconds_bucket{check="web-http",le="2.5"} 3
vigil_check_duration_seconds_bucket{check="web-http",le="5"} 3
vigil_check_duration_seconds_bucket{check="web-http",le="10"} 3
vigil_check_duration_seconds_bucket{check="web-http",le="+Inf"} 4
vigil_check_duration_seconds_sum{check="web-http"} 21.042
vigil_check_duration_seconds_count{check="web-http"} 4
# HELP vigil_check_failures_total Failed health check probes, by check and class of reason (refused, timeout, status, body, exec, dns, other).
# TYPE vigil_check_failures_total counter
vigil_check_failures_total{check="nginx-alive",reason_class="exec"} 1
vigil_check_failures_total{check="web-http",reason_class="status"} 1
vigil_check_failures_total{check="web-http",reason_class="timeout"} 2
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "vigil_check_duration_seconds", "vigil_check_failures_total"); err != nil {
		t.Error(err)
	}
}

// TestReasonClass uses the reasons the checks package writes, one or more
// per class, so a class that stops matching shows here.
func TestReasonClass(t *testing.T) {
	tests := []struct{ reason, want string }{
		{"connect refused", "refused"},
		{"port unreachable", "refused"},
		{"timeout after 1s", "timeout"},
		{"timeout after 250ms", "timeout"},
		{"no reply within 1s", "timeout"},
		{"status 503", "status"},
		{"body does not contain \"ok\"", "body"},
		{"body does not match \"^ok$\"", "body"},
		{"body larger than 1 MiB, digest not checked", "body"},
		{"read body: connection reset", "body"},
		{"digest mismatch: got 5d41402abc4b2a76b9719d911017c592", "body"},
		{"reply does not contain \"pong\"", "body"},
		{"exit status 1: nginx: not running", "exec"},
		{"exit status 2", "exec"},
		{"signal: killed", "exec"},
		{"start: fork/exec /no/such: no such file or directory", "exec"},
		{"wait: lost the process", "exec"},
		{"resolve db.example: no such host", "dns"},
		{"rcode NXDOMAIN", "dns"},
		{"no A answer", "dns"},
		{"truncated reply without AAAA answer", "dns"},
		{"malformed reply: short header", "dns"},
		{"connection reset", "other"},
		{"no route to host", "other"},
		{"certificate signed by unknown authority", "other"},
		{"", "other"},
	}
	for _, tc := range tests {
		if got := reasonClass(tc.reason); got != tc.want {
			t.Errorf("reasonClass(%q) = %q, want %q", tc.reason, got, tc.want)
		}
	}
}

// TestBuildAndReload: vigil_build_info names the binary, and the reload
// gauges follow ObserveReload (a refused reload keeps the time of the
// config that runs).
func TestBuildAndReload(t *testing.T) {
	m := New(Sources{Build: func() BuildInfo { return BuildInfo{Version: "v1.2.3", Revision: "abc123"} }})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	body, _ := scrape(t, srv.URL)
	for _, want := range []string{
		`vigil_build_info{goversion="` + runtime.Version() + `",revision="abc123",version="v1.2.3"} 1`,
		"\nvigil_config_last_reload_successful 1\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	at := time.Unix(1700000000, 0)
	m.ObserveReload(true, at)
	m.ObserveReload(false, at.Add(time.Hour))
	body, _ = scrape(t, srv.URL)
	for _, want := range []string{"\nvigil_config_last_reload_successful 0\n", "\nvigil_config_last_reload_success_timestamp_seconds 1.7e+09\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("after a good and a refused reload, scrape lacks %q", want)
		}
	}
}
