package config

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func mustParse(t *testing.T, text string) *Config {
	t.Helper()
	c, _, err := Parse("t.yaml", []byte(text), Options{Host: fakeHost{}})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, vrrpHead+`checks:
  c: { type: http, target: "127.0.0.1:80", interval: 5s }
services:
  - { name: web, listen: "10.0.0.100:80", backends: [10.0.0.1:80], check: { type: tcp } }
  - { name: ipvs, mode: lvs, listen: "10.0.0.100:81", backends: [10.0.0.1:81] }
`)
	host, _ := os.Hostname()
	in := c.VRRP[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"node", c.Node, host},
		{"log", c.Log, Log{Level: "info", Format: "text"}},
		{"api.listen", c.API.Listen, "127.0.0.1:9653"},
		{"api.socket", c.API.Socket, "/run/vigil/vigil.sock"},
		{"priority", in.Priority, 100},
		{"version", in.Version, 3},
		{"advert_interval", in.AdvertInterval.D(), time.Second},
		{"preempt", in.Preempt, true},
		{"preempt_delay", in.PreemptDelay.D(), time.Duration(0)},
		{"garp", in.GARP, GARP{Delay: Duration(5 * time.Second), Repeat: 5, RefreshRepeat: 1}},
		{"auto_track", in.AutoTrack, AutoTrack{Services: true, Weight: -50}},
		{"notify_timeout", in.NotifyTimeout.D(), 10 * time.Second},
		{"vip scope", in.VIPs[0].Scope, "global"},
		{"vip address", in.VIPs[0].Address, netip.MustParsePrefix("10.0.0.100/24")},
		{"check interval kept", c.Checks["c"].Interval.D(), 5 * time.Second},
		{"check jitter = interval/10", c.Checks["c"].Jitter.D(), 500 * time.Millisecond},
		{"check timeout", c.Checks["c"].Timeout.D(), time.Second},
		{"check rise/fall", [2]int{c.Checks["c"].Rise, c.Checks["c"].Fall}, [2]int{2, 3}},
		{"check method/path", c.Checks["c"].Method + " " + c.Checks["c"].Path, "GET /"},
		{"check expect", c.Checks["c"].ExpectStatus, []StatusRange{{200, 399}}},
		{"check initial", c.Checks["c"].Initial, "down"},
		{"proxy mode", c.Services[0].Mode, "proxy"},
		{"proxy protocol", c.Services[0].Protocol, "tcp"},
		{"proxy balance", c.Services[0].Balance, "roundrobin"},
		{"lvs balance", c.Services[1].Balance, "wlc"},
		{"lvs forward", c.Services[1].LVS.Forward, "nat"},
		{"backend weight", c.Services[0].Backends[0].Weight, 1},
		{"quorum", c.Services[0].Quorum, 1},
		{"retries", c.Services[0].Retries, 3},
		{"timeouts.connect", c.Services[0].Timeouts.Connect.D(), 5 * time.Second},
		{"service check jitter", c.Services[0].Check.Jitter.D(), 200 * time.Millisecond},
		{"forwarded headers", c.Services[0].ForwardedHeaders, true},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestExplicitZeroOverridesDefault(t *testing.T) {
	c := mustParse(t, vrrpHead+`    preempt: false
    garp: { delay: 0s }
    auto_track: { services: false }
    track: [{check: c}]
checks:
  c: { type: exec, command: [pidof, x], jitter: 0s }
`)
	in := c.VRRP[0]
	if in.Preempt || in.GARP.Delay != 0 || in.GARP.Repeat != 5 || in.AutoTrack.Services || in.AutoTrack.Weight != -50 {
		t.Errorf("explicit values lost or defaults dropped: preempt=%v garp=%+v auto_track=%+v", in.Preempt, in.GARP, in.AutoTrack)
	}
	if j := c.Checks["c"].Jitter; j != 0 {
		t.Errorf("jitter = %v, want the explicit 0s", j)
	}
}

func TestShorthands(t *testing.T) {
	c := mustParse(t, `vrrp:
  - name: VI_1
    interface: eth0
    vrid: 51
    vips:
      - "10.0.0.100/24 dev eth1 label eth1:web scope link"
      - 10.0.0.101
      - { address: 10.0.0.102, label: "eth0:x" }
    track: [{check: c}]
checks:
  c: { type: exec, command: pidof nginx }
services:
  - name: web
    listen: 10.0.0.100:80
    backends: ["10.0.0.1:80", { address: "10.0.0.2:80", weight: 5 }]
    check: { type: http, expect_status: [200, "300-302", 4xx] }
`)
	v := c.VRRP[0].VIPs
	want := []VIP{
		{Address: netip.MustParsePrefix("10.0.0.100/24"), Dev: "eth1", Label: "eth1:web", Scope: "link"},
		{Address: netip.MustParsePrefix("10.0.0.101/32"), Scope: "global"},
		{Address: netip.MustParsePrefix("10.0.0.102/32"), Label: "eth0:x", Scope: "global"},
	}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("vips = %+v\nwant %+v", v, want)
	}
	if cmd := c.Checks["c"].Command; !reflect.DeepEqual(cmd, Command{"pidof", "nginx"}) {
		t.Errorf("command = %q", cmd)
	}
	b := c.Services[0].Backends
	if b[0] != (Backend{Address: "10.0.0.1:80", Weight: 1}) || b[1] != (Backend{Address: "10.0.0.2:80", Weight: 5}) {
		t.Errorf("backends = %+v", b)
	}
	st := c.Services[0].Check.ExpectStatus
	if !reflect.DeepEqual(st, []StatusRange{{200, 200}, {300, 302}, {400, 499}}) {
		t.Errorf("expect_status = %v", st)
	}
}

func TestAllErrorsReportedAtOnceInOrder(t *testing.T) {
	text := `vrrp:
  - name: VI_1
    interface: eth0
    vrid: 300
    priority: 150
    vips: [10.0.0.100/24]
    advert_int: 1
services:
  - name: web
    listen: 10.0.0.100:80
    mode: proxi
    backends: [10.0.0.1:80]
`
	errs, _ := problems(t, text, false)
	want := []string{
		"t.yaml:4:11: vrrp[0].vrid: 300 is out of range 1..255",
		"t.yaml:7:5: vrrp[0].advert_int: unknown field; vigil calls it advert_interval",
		`t.yaml:11:11: services[0].mode: "proxi" is not one of proxy, lvs`,
	}
	if !reflect.DeepEqual(errs, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(want, "\n"))
	}
}

func TestHostProblemsAreWarningsUnlessStrict(t *testing.T) {
	text := "vrrp:\n  - { name: a, interface: eth9, vrid: 1, vips: [10.0.0.1] }\n"
	errs, warns := problems(t, text, false)
	want := `t.yaml:2:27: warning: vrrp[0].interface: interface "eth9" does not exist on this host`
	if len(errs) != 0 || len(warns) != 1 || warns[0] != want {
		t.Errorf("errors %q warnings %q, want only the warning %q", errs, warns, want)
	}
}

func TestWarnings(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"auth longer than 8", "vrrp:\n  - { name: a, interface: eth0, vrid: 1, version: 2, auth_pass: 123456789, vips: [10.0.0.1] }\n",
			"t.yaml:2:65: warning: vrrp[0].auth_pass: only the first 8 bytes are sent and compared, as keepalived does"},
		{"owner with tracks", vrrpHead + "    priority: 255\n    track: [{ interface: eth1, weight: -10 }]\n",
			"t.yaml:7:12: warning: vrrp[0].track: priority 255 (address owner) is never changed by tracking; only weight-0 tracks (fault) have an effect"},
		{"service not on a vip", vrrpHead + "services:\n  - { name: s, listen: \"10.0.0.7:80\", backends: [10.0.0.1:80] }\n",
			"t.yaml:7:24: warning: services[0].listen: 10.0.0.7 is not a VIP of any vrrp instance; the service answers only where this address exists"},
		{"all backups", "services:\n  - { name: s, listen: \"0.0.0.0:80\", backends: [{ address: \"10.0.0.1:80\", backup: true }] }\n",
			"t.yaml:2:48: warning: services[0].backends: every backend is a backup; backups serve only while no primary is up"},
		{"timeout longer than interval", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: exec, command: [pidof, x], interval: 1s, timeout: 2s }\n",
			"t.yaml:8:64: warning: checks.c.timeout: 2s is longer than the interval 1s, so a hanging target is probed less often than configured"},
		{"sync group of one", vrrpHead + "sync_groups: [{ name: G, members: [VI_1] }]\n",
			"t.yaml:6:35: warning: sync_groups[0].members: a group of one instance changes nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs, warns := problems(t, tc.text, true)
			if len(errs) != 0 || len(warns) != 1 || warns[0] != tc.want {
				t.Errorf("errors %q warnings %q, want only %q", errs, warns, tc.want)
			}
		})
	}
}

// TestEffectiveConfigRoundTrips checks that what `vigil check --print` shows
// is itself a valid config that loads to the same values.
func TestEffectiveConfigRoundTrips(t *testing.T) {
	files, _ := filepath.Glob("../examples/*/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	for _, f := range files {
		c, _, err := Load(f, Options{})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("%s: marshal: %v", f, err)
		}
		c2, _, err := Parse("printed.yaml", out, Options{})
		if err != nil {
			t.Fatalf("%s: printed config does not load:\n%v\n%s", f, err, out)
		}
		c.File, c2.File = "", ""
		c.Hash, c2.Hash = "", "" // printed differs from the file in bytes, not in meaning
		c.positions, c2.positions = nil, nil
		if !reflect.DeepEqual(c, c2) {
			t.Errorf("%s: printed config loads differently:\n%s", f, out)
		}
	}
}

func TestPosOf(t *testing.T) {
	c := mustParse(t, vrrpHead)
	if p := c.PosOf("vrrp[0].interface"); p != (Pos{3, 16}) {
		t.Errorf("PosOf(vrrp[0].interface) = %+v, want 3:16", p)
	}
}

func TestAliases(t *testing.T) {
	c := mustParse(t, `services:
  - { name: a, listen: "0.0.0.0:80", backends: [10.0.0.1:80], check: &chk { type: tcp, interval: 3s } }
  - { name: b, listen: "0.0.0.0:81", backends: [10.0.0.1:81], check: *chk }
`)
	if c.Services[1].Check == nil || c.Services[1].Check.Interval.D() != 3*time.Second {
		t.Errorf("alias not expanded: %+v", c.Services[1].Check)
	}
	// Each level multiplies: 100 services x 100 routes x 100 backends.
	var b strings.Builder
	b.WriteString("x: &b [")
	for i := range 100 {
		fmt.Fprintf(&b, "\"10.0.0.1:%d\", ", i+1)
	}
	b.WriteString("]\ny: &r [")
	for range 100 {
		b.WriteString("{ hosts: [a], backends: *b }, ")
	}
	b.WriteString("]\nz: &s { name: s, listen: \"0.0.0.0:80\", protocol: http, backends: *b, routes: *r }\nservices: [")
	for range 100 {
		b.WriteString("*s, ")
	}
	b.WriteString("]\n")
	errs, _ := problems(t, b.String(), false)
	want := "aliases expand to more than 200000 values; refusing to expand further"
	if !slices.ContainsFunc(errs, func(e string) bool { return strings.HasSuffix(e, want) }) {
		t.Errorf("alias bomb: errors lack %q (got %d errors)", want, len(errs))
	}
}

// TestAccessLogDefault: log.access reaches every tcp and http proxy service
// without an access_log of its own, in the shorthand or the mapping, and
// to: off turns one service's off; udp and lvs services take none.
func TestAccessLogDefault(t *testing.T) {
	c := mustParse(t, `log:
  access: { to: /var/log/vigil/all.log, format: json }
services:
  - { name: web, listen: "10.0.0.100:80", protocol: http, backends: [10.0.0.1:80] }
  - { name: db, listen: "10.0.0.100:5432", backends: [10.0.0.1:5432] }
  - { name: own, listen: "10.0.0.100:81", protocol: http, access_log: stdout, backends: [10.0.0.1:80] }
  - { name: quiet, listen: "10.0.0.100:82", protocol: http, access_log: "off", backends: [10.0.0.1:80] }
  - { name: dns, listen: "10.0.0.100:53", protocol: udp, backends: [10.0.0.1:53] }
  - { name: ipvs, mode: lvs, listen: "10.0.0.100:83", backends: [10.0.0.1:83] }
`)
	all := &AccessLog{To: "/var/log/vigil/all.log", Format: "json", Facility: "local0"}
	for i, want := range []*AccessLog{all, all, {To: "stdout", Format: "haproxy", Facility: "local0"}, {To: "off", Format: "haproxy", Facility: "local0"}, nil, nil} {
		got := c.Services[i].AccessLog
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: access_log = %+v, want %+v", c.Services[i].Name, got, want)
		}
		if got != nil && got == c.Log.Access {
			t.Errorf("%s: shares log.access instead of a copy", c.Services[i].Name)
		}
	}
	if !c.Services[3].AccessLog.Off() || c.Services[0].AccessLog.Off() || !c.Services[4].AccessLog.Off() {
		t.Error("Off() wrong")
	}
}

func TestHashIsWhatSha256sumPrints(t *testing.T) {
	file := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(file, []byte(vrrpHead), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _, err := Load(file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sha256sum", file).Output()
	if err != nil {
		t.Skipf("sha256sum: %v", err)
	}
	if want, _, _ := strings.Cut(string(out), " "); c.Hash != want {
		t.Errorf("Hash = %q, sha256sum says %q", c.Hash, want)
	}
	c2, _, err := Parse(file, []byte(vrrpHead+"# a comment\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c2.Hash == c.Hash {
		t.Error("a changed file kept its hash")
	}
}
