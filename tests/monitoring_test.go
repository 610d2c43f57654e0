package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"vigil/tests/lab"
)

// The monitoring kit, relative to this package's directory.
const (
	monitoringRules     = "../packaging/prometheus/vigil-rules.yml"
	monitoringDashboard = "../packaging/grafana/vigil.json"
)

// unscrapable are the metrics the rules or the dashboard use that this lab
// cannot make appear, each with the reason. Everything else they use must
// be on a real vigil's /metrics page.
var unscrapable = map[string]string{
	"vigil_lvs_connections_total":                "IPVS counters: this kernel has no IPVS (tests/vm runs the LVS tests)",
	"vigil_lvs_packets_in_total":                 "IPVS counters: this kernel has no IPVS",
	"vigil_lvs_packets_out_total":                "IPVS counters: this kernel has no IPVS",
	"vigil_lvs_bytes_in_total":                   "IPVS counters: this kernel has no IPVS",
	"vigil_lvs_bytes_out_total":                  "IPVS counters: this kernel has no IPVS",
	"vigil_lvs_real_server_active_connections":   "IPVS counters: this kernel has no IPVS",
	"vigil_lvs_real_server_inactive_connections": "IPVS counters: this kernel has no IPVS",
	"vigil_lvs_real_server_connections_total":    "IPVS counters: this kernel has no IPVS",
	"vigil_lvs_real_server_weight":               "IPVS counters: this kernel has no IPVS",
	"vigil_lvs_real_server_packets_in_total":     "IPVS counters: this kernel has no IPVS",
	"vigil_lvs_real_server_packets_out_total":    "IPVS counters: this kernel has no IPVS",
	"vigil_lvs_real_server_bytes_in_total":       "IPVS counters: this kernel has no IPVS",
	"vigil_lvs_real_server_bytes_out_total":      "IPVS counters: this kernel has no IPVS",
}

// vigilMetricRef finds vigil metric names in PromQL. Recording rules
// (vigil:...) and Prometheus's own up do not match: they are not vigil's.
var vigilMetricRef = regexp.MustCompile(`vigil_[a-z0-9_]+`)

// histogramFamily maps a histogram's series name to its family, the name
// the exposition declares.
func histogramFamily(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if s, ok := strings.CutSuffix(name, suffix); ok {
			return s
		}
	}
	return name
}

// monitoringMetrics returns the vigil metrics the shipped rules and
// dashboard query, each with where.
func monitoringMetrics(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	add := func(expr, where string) {
		for _, n := range vigilMetricRef.FindAllString(expr, -1) {
			f := histogramFamily(n)
			if !slices.Contains(used[f], where) {
				used[f] = append(used[f], where)
			}
		}
	}

	b, err := os.ReadFile(monitoringRules)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Record, Expr string } `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatalf("%s: %v", monitoringRules, err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			add(r.Expr, "rule "+r.Alert+r.Record)
		}
	}

	b, err = os.ReadFile(monitoringDashboard)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var dash struct {
		Panels      []json.RawMessage `json:"panels"`
		Annotations struct {
			List []struct{ Name, Expr string } `json:"list"`
		} `json:"annotations"`
		Templating struct {
			List []struct{ Name, Definition string } `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", monitoringDashboard, err)
	}
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("%s: panel: %v", monitoringDashboard, err)
			}
			for _, tg := range p.Targets {
				add(tg.Expr, fmt.Sprintf("panel %d %q", p.ID, p.Title))
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for _, a := range dash.Annotations.List {
		add(a.Expr, "annotation "+a.Name)
	}
	for _, v := range dash.Templating.List {
		add(v.Definition, "variable "+v.Name)
	}
	if len(used) < 40 {
		t.Fatalf("only %d vigil metrics found in the rules and the dashboard; they were not read as meant", len(used))
	}
	return used
}

// scrapeFamilies fetches and parses /metrics from inside h, without
// failing the test, so it can be polled while vigil starts.
func scrapeFamilies(c *http.Client, addr string) (map[string]*dto.MetricFamily, error) {
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET /metrics: %s: %s", resp.Status, b)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	return parser.TextToMetricFamilies(resp.Body)
}

// sampleValue is the value of the counter or gauge of family f whose
// labels include want; -1 when there is none.
func sampleValue(f *dto.MetricFamily, want map[string]string) float64 {
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	return -1
}

// TestMonitoringMetricsExist runs a vigil with one of everything the
// shipped alert rules and dashboard look at (a VRRP instance tracking a
// check; an http service with max_conn, max_queue and a backend with
// max_conn, another backend down; a tcp and a udp service; an access log;
// an alert webhook), sends HTTP requests (some answered 503 by the
// backend) and TCP connections through it, and fails naming each metric
// the rules or the dashboard query that its /metrics page lacks: a renamed
// metric would otherwise leave an alert silent for good.
func TestMonitoringMetricsExist(t *testing.T) {
	used := monitoringMetrics(t)
	for n := range unscrapable {
		if _, ok := used[n]; !ok {
			t.Errorf("%s is allowed to be missing but neither the rules nor the dashboard use it: drop it from unscrapable", n)
		}
	}

	l := lab.New(t)
	lan := l.AddNet("lan", lanPrefix)
	lbh, cli := l.AddHost("lb", lan), l.AddHost("client", lan)
	be1, be2 := l.AddHost("be1", lan), l.AddHost("be2", lan)
	serveHTTPIn(t, be1, 8000, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "failing on purpose", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "be1")
	}))
	nameServer(t, be2, 9000)

	// The alert webhook, so vigil_alerts_total has a sink to count.
	var hookLn net.Listener
	if err := cli.Do(func() (err error) {
		hookLn, err = net.Listen("tcp", cli.Addr(lan).String()+":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	hookSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})}
	go hookSrv.Serve(hookLn)
	t.Cleanup(func() { hookSrv.Close() })

	apiAddr := netip.AddrPortFrom(lbh.Addr(lan), 9653)
	accessLog := filepath.Join(t.TempDir(), "web.log")
	be1Addr, be2Addr := be1.Addr(lan), be2.Addr(lan)
	cfg := fmt.Sprintf(`node: lb
api: { listen: "%[1]s", socket: "" }
vrrp:
%[2]schecks:
  be1-alive: { type: tcp, target: "%[3]s:8000", interval: 100ms, timeout: 500ms, rise: 1, fall: 2 }
alerts:
  webhooks: [{ url: "http://%[4]s/vigil", timeout: 2s }]
services:
  - name: web
    listen: 10.0.0.100:8080
    mode: proxy
    protocol: http
    max_conn: 100
    max_queue: 50
    check: { type: http, path: /, interval: 100ms, timeout: 500ms, rise: 1, fall: 2 }
    backends:
      - { address: "%[3]s:8000", max_conn: 10 }
      - "%[3]s:8001"
    access_log: { to: "%[5]s", format: json }
  - name: db
    listen: 10.0.0.100:5432
    mode: proxy
    protocol: tcp
    check: { type: tcp, interval: 100ms, timeout: 500ms, rise: 1, fall: 2 }
    backends: ["%[6]s:9000"]
  - name: dns
    listen: 10.0.0.100:5353
    mode: proxy
    protocol: udp
    backends: ["%[6]s:5353"]
`, apiAddr, instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", "    track: [{ check: be1-alive, weight: -10 }]\n"), be1Addr, hookLn.Addr(), accessLog, be2Addr)
	lb := startVigil(t, lbh, cfg)
	waitOwner(t, vip4, lbh, []*lab.Host{lbh}, 10*time.Second)

	tr := transportFrom(t, cli)
	tr.DisableKeepAlives = true
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	get := func(path string) (int, error) {
		resp, err := client.Get("http://" + netip.AddrPortFrom(vip4, 8080).String() + path)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	// Traffic once the checks have judged web's backends, so no request
	// meets the dead one.
	scraper := &http.Client{Timeout: 5 * time.Second, Transport: transportFrom(t, cli)}
	be1Up := func(port int) map[string]string {
		return map[string]string{"service": "web", "backend": fmt.Sprintf("%s:%d", be1Addr, port)}
	}
	lab.WaitFor(t, 10*time.Second, "web's backends judged: :8000 up, :8001 down", func() (bool, string) {
		fams, err := scrapeFamilies(scraper, apiAddr.String())
		if err != nil {
			return false, fmt.Sprintf("%v; vigil %s", err, lb.proc.State())
		}
		up, down := sampleValue(fams["vigil_proxy_backend_up"], be1Up(8000)), sampleValue(fams["vigil_proxy_backend_up"], be1Up(8001))
		return up == 1 && down == 0, fmt.Sprintf(":8000 %v, :8001 %v", up, down)
	})
	for _, c := range []struct {
		path string
		want int
	}{{"/", 200}, {"/fail", 503}, {"/a", 200}, {"/fail", 503}} {
		if code, err := get(c.path); err != nil || code != c.want {
			t.Fatalf("GET %s: %d %v, want %d", c.path, code, err, c.want)
		}
	}
	for range 2 {
		if got, err := ask(cli, netip.AddrPortFrom(vip4, 5432)); err != nil || got != "be2" {
			t.Fatalf("tcp service db: %q %v", got, err)
		}
	}

	// Poll until every metric is on the page and the traffic above is
	// counted, or the deadline passes; then name what is missing.
	var page map[string]*dto.MetricFamily
	missing := func() []string {
		var out []string
		for n := range used {
			if _, ok := page[n]; !ok && unscrapable[n] == "" {
				out = append(out, n)
			}
		}
		sort.Strings(out)
		return out
	}
	err := lab.Poll(t.Context(), 15*time.Second, func() (bool, string) {
		fams, err := scrapeFamilies(scraper, apiAddr.String())
		if err != nil {
			return false, err.Error()
		}
		page = fams
		served := sampleValue(page["vigil_proxy_http_requests_total"], map[string]string{"service": "web", "code": "5xx"})
		conns := sampleValue(page["vigil_proxy_connections_total"], map[string]string{"service": "db"})
		m := missing()
		return len(m) == 0 && served >= 2 && conns >= 2,
			fmt.Sprintf("web 5xx answers %v, db connections %v, missing %v", served, conns, m)
	})
	if err != nil {
		t.Logf("scraping %s: %v", apiAddr, err)
	}
	if page == nil {
		t.Fatalf("no /metrics page from %s", apiAddr)
	}
	for _, n := range missing() {
		t.Errorf("%s is not on vigil's /metrics page; used by %s", n, strings.Join(used[n], ", "))
	}
	// The page is the one the traffic went through, not an idle vigil's.
	if v := sampleValue(page["vigil_proxy_http_requests_total"], map[string]string{"service": "web", "code": "5xx"}); v < 2 {
		t.Errorf("vigil_proxy_http_requests_total{service=web,code=5xx} = %v, want 2 or more", v)
	}
	if v := sampleValue(page["vigil_proxy_connections_total"], map[string]string{"service": "db"}); v < 2 {
		t.Errorf("vigil_proxy_connections_total{service=db} = %v, want 2 or more", v)
	}
	if v := sampleValue(page["vigil_vrrp_state"], map[string]string{"vrrp_instance": "VI_1", "state": "master"}); v != 1 {
		t.Errorf("vigil_vrrp_state{vrrp_instance=VI_1,state=master} = %v, want 1", v)
	}
}
