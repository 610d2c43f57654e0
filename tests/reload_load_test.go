package tests

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"vigil/tests/lab"
)

// TestReloadUnderLoadAndMetrics: keep-alive HTTP load through the VIP
// while the master reloads ten times (its http service changes each time,
// so every reload swaps it): no request fails and neither node makes a
// transition. Then the master is killed and the new master's /metrics,
// parsed with the Prometheus text parser, shows the failover.
func TestReloadUnderLoadAndMetrics(t *testing.T) {
	l := lab.New(t)
	lan := l.AddNet("lan", lanPrefix)
	lb1h, lb2h, cli := l.AddHost("lb1", lan), l.AddHost("lb2", lan), l.AddHost("client", lan)
	be1, be2 := l.AddHost("be1", lan), l.AddHost("be2", lan)
	nodes := []*lab.Host{lb1h, lb2h}
	httpBackend(t, be1, 8080)
	httpBackend(t, be2, 8080)
	service := func(timeout string) string {
		return fmt.Sprintf(`services:
  - name: web
    listen: 10.0.0.100:80
    mode: proxy
    protocol: http
    check: { type: http, path: /healthz, interval: 100ms, timeout: 100ms, rise: 1, fall: 2 }
    timeouts: { server: %s }
    backends: ["%s:8080", "%s:8080"]
`, timeout, be1.Addr(lan), be2.Addr(lan))
	}
	withAPI := func(cfg, listen string) string {
		return strings.Replace(cfg, `api: { listen: "", socket: "" }`, `api: { listen: "`+listen+`", socket: "" }`, 1)
	}
	lb1cfg := func(timeout string) string {
		return nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", "")) + service(timeout)
	}
	lb1 := startVigil(t, lb1h, lb1cfg("30s"))
	lb2api := lb2h.Addr(lan).String() + ":9653"
	lb2 := startBackup(t, lb1, lb2h, withAPI(nodeConfig("lb2", instanceYAML("VI_1", 51, 100, "100ms", "10.0.0.100/24", "")), lb2api)+service("30s"))
	waitOwner(t, vip4, lb1h, nodes, 10*time.Second)
	client := httpClient(t, cli)
	lab.WaitFor(t, 5*time.Second, "the service through lb1", func() (bool, string) {
		body, code, err := get(client, "http://10.0.0.100/")
		return err == nil && code == 200, fmt.Sprintf("%d %q %v", code, body, err)
	})

	// Load: 8 keep-alive clients requesting back to back.
	var requests, failures atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				body, code, err := get(client, "http://10.0.0.100/")
				requests.Add(1)
				if err != nil || code != 200 {
					failures.Add(1)
					lastErr.Store(fmt.Sprintf("%d %q %v", code, body, err))
				}
			}
		})
	}
	before1, before2 := lb1.transitions(), lb2.transitions()
	for i := range 10 {
		timeout := fmt.Sprintf("%ds", 31+i) // a changed service: swapped on every reload
		lb1.reload(lb1cfg(timeout), "config reloaded")
		n := requests.Load()
		lab.WaitFor(t, 5*time.Second, "requests after the reload", func() (bool, string) { return requests.Load() > n+50, "" })
	}
	close(stop)
	wg.Wait()
	if f := failures.Load(); f != 0 {
		t.Errorf("%d of %d requests failed across 10 reloads; last: %v", f, requests.Load(), lastErr.Load())
	}
	t.Logf("%d requests across 10 reloads", requests.Load())
	if a1, a2 := lb1.transitions(), lb2.transitions(); !slices.Equal(before1, a1) || !slices.Equal(before2, a2) {
		t.Errorf("transitions during the reloads: lb1 %v -> %v, lb2 %v -> %v", before1, a1, before2, a2)
	}

	// Failover (a crash: the dead master's VIP stays on its interface, but
	// lb2's GARP moves the clients), then the new master's metrics tell it.
	lb1.proc.Kill()
	lab.WaitFor(t, 5*time.Second, "lb2 to hold the VIP", func() (bool, string) { return hasAddr(lb2h, vip4), "" })
	lab.WaitFor(t, 5*time.Second, "requests through lb2", func() (bool, string) {
		_, code, err := get(client, "http://10.0.0.100/")
		return err == nil && code == 200, fmt.Sprint(code, err)
	})
	families := scrape(t, cli, lb2api)
	value := func(name string, labels map[string]string) float64 {
		for _, m := range families[name].GetMetric() {
			match := true
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == k && lp.GetValue() == v)
				}
				match = match && found
			}
			if match {
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
		t.Errorf("no %s%v in lb2's metrics", name, labels)
		return -1
	}
	if v := value("vigil_vrrp_state", map[string]string{"vrrp_instance": "VI_1", "state": "master"}); v != 1 {
		t.Errorf("vigil_vrrp_state master = %v, want 1", v)
	}
	if v := value("vigil_vrrp_transitions_total", map[string]string{"vrrp_instance": "VI_1", "from": "backup", "to": "master"}); v != 1 {
		t.Errorf("backup->master transitions = %v, want 1", v)
	}
	if v := value("vigil_vrrp_adverts_sent_total", map[string]string{"vrrp_instance": "VI_1"}); v < 1 {
		t.Errorf("adverts sent = %v", v)
	}
	if v := value("vigil_proxy_http_requests_total", map[string]string{"service": "web", "code": "2xx"}); v < 1 {
		t.Errorf("2xx requests through lb2 = %v", v)
	}
	if v := value("vigil_vrrp_effective_priority", map[string]string{"vrrp_instance": "VI_1"}); v != 100 {
		t.Errorf("effective priority = %v, want 100", v)
	}
}

// scrape fetches /metrics from inside cli and parses it.
func scrape(t *testing.T, cli *lab.Host, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: transportFrom(t, cli)}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return families
}
