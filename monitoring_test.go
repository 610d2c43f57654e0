package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The monitoring kit the package ships beside the binary.
const (
	rulesFile     = "packaging/prometheus/vigil-rules.yml"
	rulesTestFile = "packaging/prometheus/vigil-rules_test.yml"
	dashboardFile = "packaging/grafana/vigil.json"
)

// needPromtool finds promtool (Debian's prometheus package). Where
// VIGIL_REQUIRE_PROMTOOL is set (scripts/test.sh sets it) its absence
// fails the test, so CI cannot pass by skipping.
func needPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("VIGIL_REQUIRE_PROMTOOL") != "" {
			t.Fatal("promtool not installed (apt-get install prometheus) and VIGIL_REQUIRE_PROMTOOL is set")
		}
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	return p
}

// promtool runs promtool with args in dir and fails the test, with its
// output, unless it succeeds.
func promtool(t *testing.T, bin, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestAlertRules checks the alerting rules as Prometheus would load them
// and runs their unit tests, where each alert fires on the series that
// should fire it and no other.
func TestAlertRules(t *testing.T) {
	bin := needPromtool(t)
	promtool(t, bin, ".", "check", "rules", rulesFile)
	// The test file names the rules relative to itself.
	promtool(t, bin, filepath.Dir(rulesTestFile), "test", "rules", filepath.Base(rulesTestFile))
}

// rulesDoc is the part of a Prometheus rules file the tests read.
type rulesDoc struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T, path string) rulesDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc rulesDoc
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

// TestAlertRulesShape holds every alert to what an operator needs from
// it, and to having a unit test that fires it: an alert added without a
// test would pass promtool test rules unnoticed.
func TestAlertRulesShape(t *testing.T) {
	doc := readRules(t, rulesFile)
	b, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(b, &tests); err != nil {
		t.Fatalf("%s: %v", rulesTestFile, err)
	}
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			fires[a.Alertname] = fires[a.Alertname] || len(a.ExpAlerts) > 0
		}
	}
	alerts := 0
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				if !strings.HasPrefix(r.Record, "vigil:") {
					t.Errorf("recording rule %s: not in the vigil: namespace", r.Record)
				}
				continue
			}
			alerts++
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
			}
			for _, a := range []string{"summary", "description"} {
				if !strings.Contains(r.Annotations[a], "{{ $labels.") {
					t.Errorf("%s: the %s names nothing from the labels: %q", r.Alert, a, r.Annotations[a])
				}
			}
			if !fires[r.Alert] {
				t.Errorf("%s: no test in %s fires it", r.Alert, rulesTestFile)
			}
		}
	}
	if alerts < 20 {
		t.Errorf("%d alerts in %s; the file was not read as meant", alerts, rulesFile)
	}
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID           string `json:"uid"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource json.RawMessage `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name       string          `json:"name"`
			Expr       string          `json:"expr"`
			Datasource json.RawMessage `json:"datasource"`
		} `json:"list"`
	} `json:"annotations"`
	Panels []dashboardPanel `json:"panels"`
}

type dashboardPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	Panels     []dashboardPanel
	Targets    []struct {
		RefID      string          `json:"refId"`
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels flattens rows, collapsed ones keeping their panels inside.
func allPanels(ps []dashboardPanel) []dashboardPanel {
	var out []dashboardPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// TestDashboard checks what Grafana needs to import the dashboard into any
// installation: every panel with an id of its own (Grafana keys panel
// links and library state by it) and a query, the data source chosen by
// the datasource variable rather than one installation's UID.
func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d, want 36 or later", d.SchemaVersion)
	}
	if d.UID == "" {
		t.Error("no uid: a provisioned dashboard would get a new one on every load")
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" {
		t.Errorf("no datasource variable of type datasource: %v", vars)
	}
	for _, v := range []string{"job", "instance", "service"} {
		if vars[v] != "query" {
			t.Errorf("no %s query variable: %v", v, vars)
		}
	}
	// Every data source reference is the variable: a UID would tie the
	// dashboard to the installation it was exported from.
	checkDS := func(where string, raw json.RawMessage) {
		if len(raw) == 0 {
			return
		}
		var ds struct{ Type, UID string }
		if err := json.Unmarshal(raw, &ds); err != nil {
			t.Errorf("%s: datasource %s: %v", where, raw, err)
			return
		}
		if ds.Type == "prometheus" && ds.UID != "${datasource}" {
			t.Errorf("%s: datasource uid %q, want ${datasource}", where, ds.UID)
		}
	}
	ids := map[int]string{}
	panels := allPanels(d.Panels)
	for _, p := range panels {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 {
			t.Errorf("%s: no id", where)
		} else if other, dup := ids[p.ID]; dup {
			t.Errorf("%s: id taken by %q", where, other)
		}
		ids[p.ID] = p.Title
		checkDS(where, p.Datasource)
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no target", where)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s target %s: no expr", where, tg.RefID)
			}
			checkDS(where+" target "+tg.RefID, tg.Datasource)
		}
	}
	for _, v := range d.Templating.List {
		checkDS("variable "+v.Name, v.Datasource)
	}
	for _, a := range d.Annotations.List {
		checkDS("annotation "+a.Name, a.Datasource)
	}
	if len(panels) < 30 {
		t.Errorf("%d panels; the dashboard was not read as meant", len(panels))
	}
}

var (
	// grafanaVar is a dashboard variable in a query; checked as PromQL, an
	// interval stands in for the range ones and a regex for the others.
	grafanaRange = regexp.MustCompile(`\$__(rate_)?interval|\$__range`)
	grafanaVar   = regexp.MustCompile(`\$\{?\w+\}?`)
	// labelValues is Grafana's label_values(SELECTOR, LABEL) variable query.
	labelValues = regexp.MustCompile(`^label_values\((.*),\s*\w+\)$`)
)

// dashboardQueries returns every PromQL query of the dashboard (panel
// targets, annotations, the selectors of its variables) by where it is.
func dashboardQueries(t *testing.T, d dashboard) map[string]string {
	t.Helper()
	qs := map[string]string{}
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			qs[fmt.Sprintf("panel_%d_%s", p.ID, tg.RefID)] = tg.Expr
		}
	}
	for i, a := range d.Annotations.List {
		if a.Expr != "" {
			qs[fmt.Sprintf("annotation_%d", i)] = a.Expr
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(SELECTOR, LABEL)", v.Name, v.Definition)
			continue
		}
		qs["variable_"+v.Name] = m[1]
	}
	return qs
}

// TestDashboardQueriesParse has promtool parse every query of the
// dashboard, with its variables filled in as Grafana would, by checking
// them as recording rules: a typo in a panel would otherwise show only as
// an empty panel.
func TestDashboardQueriesParse(t *testing.T) {
	bin := needPromtool(t)
	qs := dashboardQueries(t, readDashboard(t))
	names := make([]string, 0, len(qs))
	for n := range qs {
		names = append(names, n)
	}
	sort.Strings(names)
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for _, n := range names {
		expr := grafanaRange.ReplaceAllString(qs[n], "5m")
		expr = grafanaVar.ReplaceAllString(expr, ".*")
		rules = append(rules, rule{Record: "dashboard:" + n, Expr: expr})
	}
	doc := map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}}
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	promtool(t, bin, ".", "check", "rules", file)
}

// metricName finds metric names in PromQL; with the names the metrics
// package declares, it catches a misspelt metric without a running vigil
// (tests/monitoring_test.go checks them against a real scrape).
var metricName = regexp.MustCompile(`vigil_[a-z0-9_]+`)

// TestMonitoringMetricsDeclared checks that every vigil metric the rules
// and the dashboard query is one the metrics package declares.
func TestMonitoringMetricsDeclared(t *testing.T) {
	sources, err := filepath.Glob("metrics/*.go")
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, f := range sources {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`"(vigil_[a-z0-9_]+)"`).FindAllStringSubmatch(string(b), -1) {
			declared[m[1]] = true
		}
	}
	if !declared["vigil_vrrp_state"] {
		t.Fatalf("vigil_vrrp_state not found in metrics/*.go; this test reads the wrong files")
	}
	used := map[string][]string{}
	for _, g := range readRules(t, rulesFile).Groups {
		for _, r := range g.Rules {
			for _, n := range metricName.FindAllString(r.Expr, -1) {
				used[n] = append(used[n], rulesFile+" "+r.Alert+r.Record)
			}
		}
	}
	for where, q := range dashboardQueries(t, readDashboard(t)) {
		for _, n := range metricName.FindAllString(q, -1) {
			used[n] = append(used[n], dashboardFile+" "+where)
		}
	}
	for n, where := range used {
		family := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		if !declared[n] && !declared[family] {
			slices.Sort(where)
			t.Errorf("%s is not a metric vigil declares (used in %s)", n, strings.Join(slices.Compact(where), ", "))
		}
	}
}
