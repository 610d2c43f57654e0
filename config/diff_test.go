package config

import (
	"slices"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	base := `vrrp:
  - name: VI_1
    interface: eth0
    vrid: 51
    priority: 100
    auth_pass: secret1
    version: 2
    vips: [10.0.0.100/24, 10.0.0.101/24]
services:
  - name: web
    listen: 10.0.0.100:80
    mode: proxy
    protocol: http
    backends: ["10.0.1.1:8080", "10.0.1.2:8080"]
  - name: db
    listen: 10.0.0.100:5432
    mode: proxy
    protocol: tcp
    backends: ["10.0.2.1:5432"]
`
	tests := []struct {
		name string
		edit func(string) string
		want []string
	}{
		{"same", func(s string) string { return s }, nil},
		{"comment only", func(s string) string { return "# a comment\n" + s }, nil},
		{"priority", func(s string) string { return strings.Replace(s, "priority: 100", "priority: 150", 1) },
			[]string{"vrrp[VI_1].priority: 100 -> 150"}},
		{"password is not printed", func(s string) string { return strings.Replace(s, "secret1", "secret2", 1) },
			[]string{"vrrp[VI_1].auth_pass: changed"}},
		{"vip added, one removed", func(s string) string {
			return strings.Replace(s, "[10.0.0.100/24, 10.0.0.101/24]", "[10.0.0.100/24, 10.0.0.102/24]", 1)
		}, []string{
			"vrrp[VI_1].vips[10.0.0.102/24]: added {address: 10.0.0.102/24, scope: global}",
			"vrrp[VI_1].vips[10.0.0.101/24]: removed (was {address: 10.0.0.101/24, scope: global})",
		}},
		{"backends reordered is no change", func(s string) string {
			return strings.Replace(s, `["10.0.1.1:8080", "10.0.1.2:8080"]`, `["10.0.1.2:8080", "10.0.1.1:8080"]`, 1)
		}, nil},
		{"backend weight", func(s string) string {
			return strings.Replace(s, `["10.0.1.1:8080", "10.0.1.2:8080"]`, `["10.0.1.1:8080", {address: "10.0.1.2:8080", weight: 3}]`, 1)
		}, []string{"services[web].backends[10.0.1.2:8080].weight: 1 -> 3"}},
		{"a zero value still shows as a leaf", func(s string) string {
			return strings.Replace(s, `["10.0.1.1:8080", "10.0.1.2:8080"]`, `["10.0.1.1:8080", {address: "10.0.1.2:8080", max_conn: 5}]`, 1)
		}, []string{"services[web].backends[10.0.1.2:8080].max_conn: 0 -> 5"}},
		{"an added item leaves out its empty fields", func(s string) string {
			return strings.Replace(s, `["10.0.2.1:5432"]`, `["10.0.2.1:5432", "10.0.2.2:5432"]`, 1)
		}, []string{"services[db].backends[10.0.2.2:5432]: added {address: '10.0.2.2:5432', weight: 1}"}},
		{"service removed", func(s string) string { return s[:strings.Index(s, "  - name: db")] },
			[]string{"services[db]: removed (was {name: db, "}},
		{"log level", func(s string) string { return "log: { level: debug }\n" + s },
			[]string{"log.level: info -> debug"}},
	}
	old, _, err := Parse("old.yaml", []byte(base), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Parse("new.yaml", []byte(tc.edit(base)), Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ch := range Diff(old, c) {
				got = append(got, ch.String())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d changes, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("change %d:\n got %s\nwant %s...", i, got[i], tc.want[i])
				}
			}
			if slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "secret") }) {
				t.Errorf("a password shows in the plan: %v", got)
			}
		})
	}
}
