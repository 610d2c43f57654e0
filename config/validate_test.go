package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// fakeHost is a machine with eth0, eth1 and lo, a few files and programs.
type fakeHost struct{}

func (fakeHost) InterfaceExists(name string) bool {
	return slices.Contains([]string{"eth0", "eth1", "lo"}, name)
}
func (fakeHost) FileExists(path string) bool { return strings.HasPrefix(path, "/etc/ssl/") }
func (fakeHost) DirExists(path string) bool  { return path == "/var/log/vigil" || path == "/tmp" }
func (fakeHost) SocketExists(path string) bool {
	return path == "/dev/log"
}
func (fakeHost) GroupExists(name string) bool { return name == "vigil" || name == "997" }
func (fakeHost) KeyPairLoads(cert, key string) error {
	if strings.Contains(cert, "notpem") {
		return errors.New("tls: failed to find any PEM data in certificate input")
	}
	return nil
}
func (fakeHost) ProgramExists(name string) bool {
	return slices.Contains([]string{"pidof", "/bin/true", "/etc/vigil/notify.sh"}, name)
}

// problems parses text as t.yaml and returns every problem, errors first.
func problems(t *testing.T, text string, strict bool) (errs, warns []string) {
	t.Helper()
	_, w, err := Parse("t.yaml", []byte(text), Options{Host: fakeHost{}, StrictHost: strict})
	for _, p := range w {
		warns = append(warns, p.String())
	}
	if err != nil {
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("Parse returned %T %v, want *config.Error", err, err)
		}
		for _, p := range ce.Problems {
			errs = append(errs, p.String())
		}
	}
	return errs, warns
}

const vrrpHead = `vrrp:
  - name: VI_1
    interface: eth0
    vrid: 51
    vips: [10.0.0.100/24]
`

func TestValidConfigsHaveNoProblems(t *testing.T) {
	for name, text := range map[string]string{
		"minimal vrrp": vrrpHead,
		"minimal proxy": `services:
  - name: web
    listen: 0.0.0.0:80
    backends: [10.0.0.1:80]
`,
		"ipv6 v3": `vrrp:
  - { name: VI_6, interface: eth0, vrid: 7, vips: ["2001:db8::100/64"], unicast_peers: ["fe80::2"] }
`,
		"v2 with auth": `vrrp:
  - { name: VI_1, interface: eth0, vrid: 51, version: 2, advert_interval: 2s, auth_pass: secret, vips: [10.0.0.100] }
`,
		"named checks tracked": vrrpHead + `    track: [{check: c1, weight: -10}, {interface: eth1}, {service: s}]
checks:
  c1: { type: exec, command: pidof nginx }
  c2: { type: http, target: "127.0.0.1:80", path: /x, expect_status: [2xx, 301] }
services:
  - { name: s, listen: "10.0.0.100:80", backends: [backend.example:80] }
`,
	} {
		t.Run(name, func(t *testing.T) {
			errs, warns := problems(t, text, true)
			if name == "named checks tracked" {
				want := []string{"t.yaml:9:3: warning: checks.c2: not tracked by any vrrp instance, so it changes nothing"}
				if !slices.Equal(warns, want) {
					t.Errorf("warnings = %q, want %q", warns, want)
				}
				warns = nil
			}
			if len(errs) > 0 || len(warns) > 0 {
				t.Errorf("errors %q, warnings %q; want none", errs, warns)
			}
		})
	}
}

// TestValidationRules has one broken config per rule and the exact message
// the user sees. Each case must produce exactly that one error.
func TestValidationRules(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		// syntax and decoding
		{"yaml syntax", "vrrp:\n  - name: [\n", "t.yaml:2: YAML syntax: did not find expected node content"},
		{"empty file", "", "t.yaml: the file is empty; see examples/ for a starting point"},
		{"two documents", vrrpHead + "---\nnode: x\n", "t.yaml:6: a second YAML document (---) is not allowed; put everything in one"},
		{"unknown top-level key", "vrrrp: []\n", `t.yaml:1:1: vrrrp: unknown field; did you mean "vrrp"?`},
		{"keepalived keyword", vrrpHead + "    virtual_router_id: 51\n", "t.yaml:6:5: vrrp[0].virtual_router_id: unknown field; vigil calls it vrid"},
		{"unknown key with list of known", "api: { zzz: 1 }\n", "t.yaml:1:8: api.zzz: unknown field; known fields here: listen, socket, socket_group, token, token_file"},
		{"key set twice", vrrpHead + "    vrid: 52\n", "t.yaml:6:5: vrrp[0].vrid: set twice in the same block"},
		{"address as a mapping", vrrpHead + "    unicast_source: {}\n", "t.yaml:6:21: vrrp[0].unicast_source: want an IP address, not a mapping"},
		{"status range as a mapping", "checks:\n  h: { type: http, target: \"10.0.0.1:80\", expect_status: [{}] }\n", "t.yaml:2:59: checks.h.expect_status[0]: want a single value, not a mapping"},
		{"not a number", vrrpHead + "    priority: high\n", `t.yaml:6:15: vrrp[0].priority: expected a whole number, got "high"`},
		{"not a bool", vrrpHead + "    preempt: sometimes\n", `t.yaml:6:14: vrrp[0].preempt: expected true or false, got "sometimes"`},
		{"mapping where list", "vrrp: { name: x }\n", "t.yaml:1:7: vrrp: expected a list, got a mapping"},
		{"list where mapping", "api: [1]\n", "t.yaml:1:6: api: expected a mapping (key: value), got a list"},
		{"duration without unit", vrrpHead + "    advert_interval: 1\n", `t.yaml:6:22: vrrp[0].advert_interval: "1" needs a unit, like 1s or 1ms`},
		{"bad duration", vrrpHead + "    advert_interval: soon\n", `t.yaml:6:22: vrrp[0].advert_interval: "soon" is not a duration (examples: 1s, 100ms, 1m30s)`},
		{"bad address", vrrpHead + "    unicast_peers: [10.0.0.300]\n", `t.yaml:6:21: vrrp[0].unicast_peers[0]: "10.0.0.300" is not an IP address`},

		// top level
		{"log level", "log: { level: loud }\n", `t.yaml:1:15: log.level: "loud" is not one of debug, info, warn, error`},
		{"nice out of range", vrrpHead + "nice: -21\n", "t.yaml:6:7: nice: -21 is not a nice value: want -20 (first) to 19 (last)"},
		{"api listen", "api: { listen: nine }\n", `t.yaml:1:16: api.listen: "nine" is not host:port like 127.0.0.1:9653 ("" turns the API off)`},
		{"api listen host", "api: { listen: \"example.com:9653\" }\n", `t.yaml:1:16: api.listen: "example.com:9653": host must be an IP address, localhost or empty (all addresses)`},
		{"api socket relative", "api: { socket: vigil.sock }\n", `t.yaml:1:16: api.socket: "vigil.sock" must be an absolute path`},
		{"api socket_group absent (strict)", "api: { socket_group: wheel }\n", `t.yaml:1:22: api.socket_group: group "wheel" does not exist on this host`},
		{"api socket_group without socket", "api: { socket: \"\", socket_group: vigil }\n", "t.yaml:1:34: api.socket_group: there is no socket (api.socket is \"\") for the group to own"},
		{"api token twice", "api: { token: a, token_file: /etc/ssl/t }\n", "t.yaml:1:30: api.token_file: set token or token_file, not both"},

		// vrrp instances
		{"instance name missing", "vrrp:\n  - { interface: eth0, vrid: 1, vips: [10.0.0.1] }\n", "t.yaml:2:5: vrrp[0].name: required: a name for this vrrp instance"},
		{"instance name invalid", "vrrp:\n  - { name: \"my vi\", interface: eth0, vrid: 1, vips: [10.0.0.1] }\n", `t.yaml:2:13: vrrp[0].name: "my vi" is not a valid name: use letters, digits, '_', '.', '-' (at most 64, starting with a letter or digit)`},
		{"interface missing", "vrrp:\n  - { name: a, vrid: 1, vips: [10.0.0.1] }\n", "t.yaml:2:5: vrrp[0].interface: required: the interface that carries the adverts"},
		{"interface too long", "vrrp:\n  - { name: a, interface: abcdefghijklmnopq, vrid: 1, vips: [10.0.0.1] }\n", `t.yaml:2:27: vrrp[0].interface: "abcdefghijklmnopq" is longer than 15 bytes, the Linux limit for interface names`},
		{"interface absent (strict)", "vrrp:\n  - { name: a, interface: eth9, vrid: 1, vips: [10.0.0.1] }\n", `t.yaml:2:27: vrrp[0].interface: interface "eth9" does not exist on this host`},
		{"vrid missing", "vrrp:\n  - { name: a, interface: eth0, vips: [10.0.0.1] }\n", "t.yaml:2:5: vrrp[0].vrid: required: the virtual router id 1..255, the same on every node of this router (keepalived virtual_router_id)"},
		{"vrid range", "vrrp:\n  - { name: a, interface: eth0, vrid: 256, vips: [10.0.0.1] }\n", "t.yaml:2:39: vrrp[0].vrid: 256 is out of range 1..255"},
		{"priority range", vrrpHead + "    priority: 300\n", "t.yaml:6:15: vrrp[0].priority: 300 is out of range 1..255"},
		{"priority zero", vrrpHead + "    priority: 0\n", "t.yaml:6:15: vrrp[0].priority: 0 is out of range 1..255"},
		{"version", vrrpHead + "    version: 4\n", "t.yaml:6:14: vrrp[0].version: 4 is not a VRRP version: use 3 (RFC 5798) or 2 (keepalived v2 peers)"},
		{"v2 interval whole seconds", vrrpHead + "    version: 2\n    advert_interval: 1500ms\n", "t.yaml:7:22: vrrp[0].advert_interval: 1.5s: VRRP v2 carries whole seconds, 1s..255s"},
		{"v3 interval steps", vrrpHead + "    advert_interval: 105ms\n", "t.yaml:6:22: vrrp[0].advert_interval: 105ms: VRRP v3 carries 10ms steps, 10ms..40.95s"},
		{"v3 interval max", vrrpHead + "    advert_interval: 41s\n", "t.yaml:6:22: vrrp[0].advert_interval: 41s: VRRP v3 carries 10ms steps, 10ms..40.95s"},
		{"vips missing", "vrrp:\n  - { name: a, interface: eth0, vrid: 1 }\n", "t.yaml:2:5: vrrp[0].vips: required: at least one virtual address"},
		{"vips mixed family", "vrrp:\n  - { name: a, interface: eth0, vrid: 1, vips: [10.0.0.1, \"2001:db8::1\"] }\n", "t.yaml:2:59: vrrp[0].vips[1]: 2001:db8::1/128 is IPv6 but the instance's first VIP is IPv4: use one instance per family (an advert carries one family)"},
		{"v2 ipv6", "vrrp:\n  - { name: a, interface: eth0, vrid: 1, version: 2, vips: [\"2001:db8::1\"] }\n", "t.yaml:2:61: vrrp[0].vips[0]: 2001:db8::1/128: VRRP v2 carries IPv4 only; use version: 3 for IPv6"},
		{"vip twice", "vrrp:\n  - { name: a, interface: eth0, vrid: 1, vips: [10.0.0.1/24, 10.0.0.1] }\n", "t.yaml:2:62: vrrp[0].vips[1]: 10.0.0.1 is listed twice"},
		{"vip string option", "vrrp:\n  - { name: a, interface: eth0, vrid: 1, vips: [\"10.0.0.1 brd x\"] }\n", `t.yaml:2:49: vrrp[0].vips[0]: "10.0.0.1 brd x": unknown option "brd" (want dev, label or scope)`},
		{"vip address missing", "vrrp:\n  - { name: a, interface: eth0, vrid: 1, vips: [{ label: eth0:1 }] }\n", "t.yaml:2:49: vrrp[0].vips[0].address: required: the virtual address, like 10.0.0.100/24"},
		{"vip scope", "vrrp:\n  - { name: a, interface: eth0, vrid: 1, vips: [{ address: 10.0.0.1, scope: galaxy }] }\n", `t.yaml:2:77: vrrp[0].vips[0].scope: "galaxy" is not one of global, site, link, host`},
		{"vip label prefix", "vrrp:\n  - { name: a, interface: eth0, vrid: 1, vips: [\"10.0.0.1 label vip1\"] }\n", `t.yaml:2:49: vrrp[0].vips[0].label: "vip1" must start with the interface name "eth0" and be at most 15 bytes (Linux rule), like eth0:vip`},
		{"vip dev absent", "vrrp:\n  - { name: a, interface: eth0, vrid: 1, vips: [\"10.0.0.1 dev eth7\"] }\n", `t.yaml:2:49: vrrp[0].vips[0].dev: interface "eth7" does not exist on this host`},
		{"unicast source without peers", vrrpHead + "    unicast_source: 10.0.0.2\n", "t.yaml:6:21: vrrp[0].unicast_source: needs unicast_peers: the source is only used for unicast adverts"},
		{"unicast source family", vrrpHead + "    unicast_source: \"2001:db8::2\"\n    unicast_peers: [10.0.0.3]\n", "t.yaml:6:21: vrrp[0].unicast_source: 2001:db8::2 is IPv6 but the instance is IPv4"},
		{"unicast peer family", vrrpHead + "    unicast_peers: [\"2001:db8::3\"]\n", "t.yaml:6:21: vrrp[0].unicast_peers[0]: 2001:db8::3 is IPv6 but the instance is IPv4"},
		{"unicast peer is self", vrrpHead + "    unicast_source: 10.0.0.2\n    unicast_peers: [10.0.0.2]\n", "t.yaml:7:21: vrrp[0].unicast_peers[0]: 10.0.0.2 is this node's unicast_source; list only the other nodes"},
		{"unicast peer twice", vrrpHead + "    unicast_peers: [10.0.0.3, 10.0.0.3]\n", "t.yaml:6:31: vrrp[0].unicast_peers[1]: 10.0.0.3 is listed twice"},
		{"auth with v3", vrrpHead + "    auth_pass: secret\n", "t.yaml:6:16: vrrp[0].auth_pass: authentication exists only in VRRP v2 (RFC 5798 removed it): set version: 2 or remove auth_pass"},
		{"track none set", vrrpHead + "    track: [{ weight: -10 }]\n", "t.yaml:6:13: vrrp[0].track[0]: set exactly one of check, service or interface"},
		{"track two set", vrrpHead + "    track: [{ interface: eth1, check: c }]\n", "t.yaml:6:13: vrrp[0].track[0]: set exactly one of check, service or interface"},
		{"track unknown check", vrrpHead + "    track: [{ check: nginx_alive }]\nchecks:\n  nginx-alive: { type: exec, command: [pidof, nginx] }\n", `t.yaml:6:22: vrrp[0].track[0].check: no check named "nginx_alive" in checks; did you mean "nginx-alive"?`},
		{"track unknown service", vrrpHead + "    track: [{ service: www }]\n", `t.yaml:6:24: vrrp[0].track[0].service: no service named "www" in services`},
		{"track interface absent", vrrpHead + "    track: [{ interface: bond0 }]\n", `t.yaml:6:26: vrrp[0].track[0].interface: interface "bond0" does not exist on this host`},
		{"track weight range", vrrpHead + "    track: [{ interface: eth1, weight: -300 }]\n", "t.yaml:6:40: vrrp[0].track[0].weight: -300 is out of range -254..254"},
		{"auto track weight", vrrpHead + "    auto_track: { weight: 999 }\n", "t.yaml:6:27: vrrp[0].auto_track.weight: 999 is out of range -254..254"},
		{"notify relative", vrrpHead + "    notify: notify.sh\n", `t.yaml:6:13: vrrp[0].notify: "notify.sh" must be an absolute path`},
		{"notify absent", vrrpHead + "    notify: /usr/local/bin/nope.sh\n", `t.yaml:6:13: vrrp[0].notify: "/usr/local/bin/nope.sh" does not exist or is not executable on this host`},
		{"notify timeout", vrrpHead + "    notify_timeout: 0s\n", "t.yaml:6:21: vrrp[0].notify_timeout: must be more than 0s"},
		{"garp repeat", vrrpHead + "    garp: { repeat: 0 }\n", "t.yaml:6:21: vrrp[0].garp.repeat: must be at least 1"},
		{"garp refresh repeat", vrrpHead + "    garp: { refresh: 60s, refresh_repeat: 0 }\n", "t.yaml:6:43: vrrp[0].garp.refresh_repeat: must be at least 1"},
		{"instance name twice", vrrpHead + "  - { name: VI_1, interface: eth0, vrid: 52, vips: [10.0.0.101] }\n", `t.yaml:6:13: vrrp[1].name: "VI_1" is also the name of vrrp[0]`},
		{"vrid twice on interface", vrrpHead + "  - { name: VI_2, interface: eth0, vrid: 51, vips: [10.0.0.101] }\n", "t.yaml:6:42: vrrp[1].vrid: vrid 51 is also used by vrrp[0] (VI_1) on eth0 for IPv4: each virtual router on a link needs its own vrid"},
		{"vip in two instances", vrrpHead + "  - { name: VI_2, interface: eth0, vrid: 52, vips: [10.0.0.100/32] }\n", "t.yaml:6:53: vrrp[1].vips[0]: 10.0.0.100 is also a VIP of vrrp[0] (VI_1): two routers cannot own one address"},

		// sync groups
		{"sync group member unknown", vrrpHead + "sync_groups: [{ name: G1, members: [VI_1, VI_3] }]\n", `t.yaml:6:43: sync_groups[0].members[1]: no vrrp instance named "VI_3"; did you mean "VI_1"?`},
		{"sync group no members", vrrpHead + "sync_groups: [{ name: G1 }]\n", "t.yaml:6:15: sync_groups[0].members: required: the instances that move together"},
		{"sync group member twice", vrrpHead + "  - { name: VI_2, interface: eth0, vrid: 52, vips: [10.0.0.101] }\nsync_groups:\n  - { name: G1, members: [VI_1, VI_2] }\n  - { name: G2, members: [VI_2] }\n", `t.yaml:9:27: sync_groups[1].members[0]: "VI_2" is already a member of sync group "G1"; an instance belongs to one group`},
		{"sync group name twice", vrrpHead + "  - { name: VI_2, interface: eth0, vrid: 52, vips: [10.0.0.101] }\nsync_groups:\n  - { name: G1, members: [VI_1] }\n  - { name: G1, members: [VI_2] }\n", `t.yaml:9:13: sync_groups[1].name: "G1" is also the name of sync_groups[0]`},

		// checks
		{"check type missing", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { interval: 1s }\n", "t.yaml:8:3: checks.c.type: required: one of tcp, http, https, exec, dns, udp"},
		{"check type unknown", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: ping }\n", `t.yaml:8:14: checks.c.type: "ping" is not one of tcp, http, https, exec, dns, udp`},
		{"check interval zero", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: exec, command: [pidof, x], interval: 0s }\n", "t.yaml:8:51: checks.c.interval: must be more than 0s"},
		{"check rise", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: exec, command: [pidof, x], rise: 0 }\n", "t.yaml:8:47: checks.c.rise: must be at least 1"},
		{"check fall", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: exec, command: [pidof, x], fall: 0 }\n", "t.yaml:8:47: checks.c.fall: must be at least 1"},
		{"check initial", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: exec, command: [pidof, x], initial: maybe }\n", `t.yaml:8:50: checks.c.initial: "maybe" is not one of down, up`},
		{"check jitter", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: exec, command: [pidof, x], interval: 1s, jitter: 1s }\n", "t.yaml:8:63: checks.c.jitter: 1s must be less than the interval 1s"},
		{"exec command missing", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: exec }\n", "t.yaml:8:3: checks.c.command: required for exec checks: the program and its arguments, like [pidof, nginx]"},
		{"exec command shell", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: exec, command: \"pidof nginx || exit 1\" }\n", `t.yaml:8:29: checks.c.command: "pidof nginx || exit 1" has shell syntax; write a list, for example [sh, -c, "pidof nginx || exit 1"]`},
		{"exec program absent", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: exec, command: [nosuchprog] }\n", `t.yaml:8:29: checks.c.command: program "nosuchprog" not found on this host`},
		{"field of other type", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: tcp, target: \"10.0.0.1:22\", path: /x }\n", "t.yaml:8:48: checks.c.path: applies to http and https checks only, not tcp"},
		{"sni on http", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: http, target: \"10.0.0.1:80\", sni: a.example }\n", "t.yaml:8:48: checks.c.sni: applies to https checks only, not http"},
		{"target missing", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: tcp }\n", "t.yaml:8:3: checks.c.target: required for tcp checks: the host:port to probe"},
		{"target bad", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: tcp, target: \"10.0.0.1\" }\n", `t.yaml:8:27: checks.c.target: "10.0.0.1" is not host:port (IPv6 in brackets: [2001:db8::1]:80)`},
		{"target port", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: tcp, target: \"10.0.0.1:0\" }\n", `t.yaml:8:27: checks.c.target: "10.0.0.1:0": port must be 1..65535`},
		{"port on named check", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: tcp, target: \"10.0.0.1:80\", port: 81 }\n", "t.yaml:8:48: checks.c.port: applies to a service's check only; put the port in target"},
		{"http method", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: http, target: \"10.0.0.1:80\", method: get }\n", `t.yaml:8:51: checks.c.method: "get" is not an HTTP method like GET or HEAD`},
		{"http path", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: http, target: \"10.0.0.1:80\", path: healthz }\n", `t.yaml:8:49: checks.c.path: "healthz" must start with /`},
		{"http status", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: http, target: \"10.0.0.1:80\", expect_status: [700] }\n", `t.yaml:8:59: checks.c.expect_status[0]: "700" is outside the HTTP status codes 100..599`},
		{"http status empty", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: http, target: \"10.0.0.1:80\", expect_status: [] }\n", "t.yaml:8:58: checks.c.expect_status: must list at least one status code"},
		{"http regex", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: http, target: \"10.0.0.1:80\", expect_body_regex: \"a(\" }\n", "t.yaml:8:62: checks.c.expect_body_regex: not a valid regular expression: error parsing regexp: missing closing ): `a(`"},
		{"head with body check", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: http, target: \"10.0.0.1:80\", method: HEAD, expect_body: ok }\n", "t.yaml:8:51: checks.c.method: a HEAD response has no body, so expect_body, expect_body_regex and digest can never match; use GET"},
		{"http digest", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: http, target: \"10.0.0.1:80\", digest: abc }\n", `t.yaml:8:51: checks.c.digest: "abc" must be 32 hex digits (an MD5 sum, as keepalived's genhash prints)`},
		{"dns query missing", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: dns, target: \"10.0.0.1:53\" }\n", "t.yaml:8:3: checks.c.query: required for dns checks: the name to ask for"},
		{"dns query type", vrrpHead + "    track: [{check: c}]\nchecks:\n  c: { type: dns, target: \"10.0.0.1:53\", query: a.example, query_type: ANY }\n", `t.yaml:8:72: checks.c.query_type: "ANY" is not one of A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT`},

		// services
		{"service name missing", "services:\n  - { listen: \"0.0.0.0:80\", backends: [10.0.0.1:80] }\n", "t.yaml:2:5: services[0].name: required: a name for this service"},
		{"service mode", "services:\n  - { name: s, mode: nginx, listen: \"0.0.0.0:80\", backends: [10.0.0.1:80] }\n", `t.yaml:2:22: services[0].mode: "nginx" is not one of proxy, lvs`},
		{"proxy protocol", "services:\n  - { name: s, protocol: sctp, listen: \"0.0.0.0:80\", backends: [10.0.0.1:80] }\n", `t.yaml:2:26: services[0].protocol: "sctp" is not one of tcp, udp, http`},
		{"lvs protocol", "services:\n  - { name: s, mode: lvs, protocol: http, listen: \"10.0.0.1:80\", backends: [10.0.0.2:80] }\n", `t.yaml:2:37: services[0].protocol: "http" is not one of tcp, udp, sctp`},
		{"proxy balance", "services:\n  - { name: s, balance: wlc, listen: \"0.0.0.0:80\", backends: [10.0.0.1:80] }\n", `t.yaml:2:25: services[0].balance: "wlc" is not one of roundrobin, leastconn, source, uri, random`},
		{"lvs balance", "services:\n  - { name: s, mode: lvs, balance: roundrobin, listen: \"10.0.0.1:80\", backends: [10.0.0.2:80] }\n", `t.yaml:2:36: services[0].balance: "roundrobin" is not one of rr, wrr, lc, wlc, lblc, lblcr, sh, mh, dh, sed, nq, fo, ovf`},
		{"uri needs http", "services:\n  - { name: s, balance: uri, listen: \"0.0.0.0:80\", backends: [10.0.0.1:80] }\n", "t.yaml:2:25: services[0].balance: uri hashing needs protocol: http"},
		{"listen missing", "services:\n  - { name: s, backends: [10.0.0.1:80] }\n", "t.yaml:2:5: services[0].listen: required: the VIP:port to serve, like 10.0.0.100:80"},
		{"listen port 0", "services:\n  - { name: s, listen: \"0.0.0.0:0\", backends: [10.0.0.1:80] }\n", "t.yaml:2:24: services[0].listen: 0.0.0.0:0: port 0 is not a service port"},
		{"listen bad", "services:\n  - { name: s, listen: \"10.0.0.1\", backends: [10.0.0.1:80] }\n", `t.yaml:2:24: services[0].listen: "10.0.0.1" is not an IP:port like 10.0.0.100:80 or [2001:db8::1]:80`},
		{"fwmark on proxy", "services:\n  - { name: s, fwmark: 5, backends: [10.0.0.1:80] }\n", "t.yaml:2:24: services[0].fwmark: works with mode: lvs only (the proxy needs a listen address)"},
		{"fwmark and listen", "services:\n  - { name: s, mode: lvs, fwmark: 5, listen: \"10.0.0.1:80\", backends: [10.0.0.1:80] }\n", "t.yaml:2:35: services[0].fwmark: set listen or fwmark, not both"},
		{"backends missing", "services:\n  - { name: s, listen: \"0.0.0.0:80\" }\n", "t.yaml:2:5: services[0].backends: required: at least one backend"},
		{"backend address missing", "services:\n  - { name: s, listen: \"0.0.0.0:80\", backends: [{ weight: 2 }] }\n", "t.yaml:2:49: services[0].backends[0].address: required: host:port of the backend"},
		{"backend address bad", "services:\n  - { name: s, listen: \"0.0.0.0:80\", backends: [10.0.0.1] }\n", `t.yaml:2:49: services[0].backends[0].address: "10.0.0.1" is not host:port (IPv6 in brackets: [2001:db8::1]:80)`},
		{"backend twice", "services:\n  - { name: s, listen: \"0.0.0.0:80\", backends: [10.0.0.1:80, 10.0.0.1:80] }\n", "t.yaml:2:62: services[0].backends[1].address: 10.0.0.1:80 is also services[0].backends[0]"},
		{"backend weight proxy", "services:\n  - { name: s, listen: \"0.0.0.0:80\", backends: [{ address: \"10.0.0.1:80\", weight: 300 }] }\n", "t.yaml:2:83: services[0].backends[0].weight: 300 is out of range 0..256"},
		{"backend max_conn", "services:\n  - { name: s, listen: \"0.0.0.0:80\", backends: [{ address: \"10.0.0.1:80\", max_conn: -1 }] }\n", "t.yaml:2:85: services[0].backends[0].max_conn: must not be negative (0 is unlimited)"},
		{"lvs backend name", "services:\n  - { name: s, mode: lvs, listen: \"10.0.0.1:80\", backends: [\"web1:80\"] }\n", `t.yaml:2:61: services[0].backends[0].address: "web1:80": IPVS needs an IP address, not a name`},
		{"lvs backend family", "services:\n  - { name: s, mode: lvs, listen: \"10.0.0.1:80\", backends: [\"[2001:db8::2]:80\"] }\n", "t.yaml:2:61: services[0].backends[0].address: 2001:db8::2 is IPv6 but the service listens on IPv4"},
		{"lvs dr port", "services:\n  - { name: s, mode: lvs, listen: \"10.0.0.1:80\", lvs: { forward: dr }, backends: [\"10.0.0.2:8080\"] }\n", "t.yaml:2:83: services[0].backends[0].address: port 8080: DR forwarding cannot change the port; use 80 like the service"},
		{"lvs forward", "services:\n  - { name: s, mode: lvs, listen: \"10.0.0.1:80\", lvs: { forward: masq }, backends: [\"10.0.0.2:80\"] }\n", `t.yaml:2:66: services[0].lvs.forward: "masq" is not one of nat, dr, tun`},
		{"lvs netmask", "services:\n  - { name: s, mode: lvs, listen: \"10.0.0.1:80\", lvs: { persistence_netmask: 255.0.255.0 }, backends: [\"10.0.0.2:80\"] }\n", `t.yaml:2:78: services[0].lvs.persistence_netmask: "255.0.255.0" is not a netmask like 255.255.255.0 or a prefix length like 24`},
		{"lvs sched flag", "services:\n  - { name: s, mode: lvs, balance: rr, listen: \"10.0.0.1:80\", lvs: { sched_flags: [sh-port] }, backends: [\"10.0.0.2:80\"] }\n", "t.yaml:2:84: services[0].lvs.sched_flags[0]: sh-port applies to balance: sh, not rr"},
		{"lvs sorry family", "services:\n  - { name: s, mode: lvs, listen: \"10.0.0.1:80\", lvs: { sorry_server: \"[2001:db8::9]:80\" }, backends: [\"10.0.0.2:80\"] }\n", "t.yaml:2:71: services[0].lvs.sorry_server: [2001:db8::9]:80 is IPv6 but the service listens on IPv4"},
		{"lvs backup", "services:\n  - { name: s, mode: lvs, listen: \"10.0.0.1:80\", backends: [{ address: \"10.0.0.2:80\", backup: true }] }\n", "t.yaml:2:95: services[0].backends[0].backup: applies to mode: proxy only; for lvs use lvs.sorry_server, which takes traffic while no real server is up"},
		{"lvs v6 dotted netmask", "services:\n  - { name: s, mode: lvs, listen: \"[2001:db8::1]:80\", lvs: { persistence_netmask: 255.255.255.0 }, backends: [\"[2001:db8::2]:80\"] }\n", `t.yaml:2:83: services[0].lvs.persistence_netmask: "255.255.255.0": an IPv6 service takes a prefix length like 64`},
		{"lvs v4 prefix range", "services:\n  - { name: s, mode: lvs, listen: \"10.0.0.1:80\", lvs: { persistence_netmask: \"33\" }, backends: [\"10.0.0.2:80\"] }\n", "t.yaml:2:78: services[0].lvs.persistence_netmask: 33 is out of range 0..32 for IPv4"},
		{"lvs v6 prefix range", "services:\n  - { name: s, mode: lvs, listen: \"[2001:db8::1]:80\", lvs: { persistence_netmask: \"0\" }, backends: [\"[2001:db8::2]:80\"] }\n", "t.yaml:2:83: services[0].lvs.persistence_netmask: 0 is out of range 1..128 for IPv6"},
		{"lvs fwmark mixed families", "services:\n  - { name: s, mode: lvs, fwmark: 3, backends: [\"10.0.0.2:80\", \"[2001:db8::2]:80\"] }\n", "t.yaml:2:64: services[0].backends[1].address: 2001:db8::2 is IPv6 but the other real servers of this fwmark service are IPv4"},
		{"lvs fwmark sorry family", "services:\n  - { name: s, mode: lvs, fwmark: 3, lvs: { sorry_server: \"[2001:db8::9]:80\" }, backends: [\"10.0.0.2:80\"] }\n", "t.yaml:2:59: services[0].lvs.sorry_server: [2001:db8::9]:80 is IPv6 but the real servers of this fwmark service are IPv4"},
		{"lvs with tls", "services:\n  - { name: s, mode: lvs, listen: \"10.0.0.1:80\", tls: { certs: [] }, backends: [\"10.0.0.2:80\"] }\n", "t.yaml:2:55: services[0].tls: applies to mode: proxy only; IPVS forwards packets without reading them"},
		{"quorum too high", "services:\n  - { name: s, listen: \"0.0.0.0:80\", quorum: 3, backends: [10.0.0.1:80, 10.0.0.2:80] }\n", "t.yaml:2:46: services[0].quorum: 3 is more than the 2 backends, so the service could never be up"},
		{"hysteresis", "services:\n  - { name: s, listen: \"0.0.0.0:80\", quorum: 2, hysteresis: 2, backends: [10.0.0.1:80, 10.0.0.2:80] }\n", "t.yaml:2:61: services[0].hysteresis: 2 must be from 0 to quorum-1 (1)"},
		{"timeout zero", "services:\n  - { name: s, listen: \"0.0.0.0:80\", timeouts: { connect: 0s }, backends: [10.0.0.1:80] }\n", "t.yaml:2:59: services[0].timeouts.connect: must be more than 0s"},
		{"retries", "services:\n  - { name: s, listen: \"0.0.0.0:80\", retries: -1, backends: [10.0.0.1:80] }\n", "t.yaml:2:47: services[0].retries: -1 is out of range 0..100"},
		{"on_down", "services:\n  - { name: s, listen: \"0.0.0.0:80\", on_down: kill, backends: [10.0.0.1:80] }\n", `t.yaml:2:47: services[0].on_down: "kill" is not one of , shutdown_sessions`},
		{"proxy_protocol send", "services:\n  - { name: s, listen: \"0.0.0.0:80\", proxy_protocol: { send: v3 }, backends: [10.0.0.1:80] }\n", `t.yaml:2:62: services[0].proxy_protocol.send: "v3" is not one of , v1, v2`},
		{"proxy_protocol udp", "services:\n  - { name: s, protocol: udp, listen: \"0.0.0.0:53\", proxy_protocol: { accept: true }, backends: [10.0.0.1:53] }\n", "t.yaml:2:69: services[0].proxy_protocol: applies to tcp and http, not udp"},
		{"access log target", "services:\n  - { name: s, listen: \"0.0.0.0:80\", protocol: http, access_log: { to: web.log }, backends: [10.0.0.1:80] }\n", `t.yaml:2:72: services[0].access_log.to: "web.log" is not stdout, stderr, an absolute file path, syslog://HOST:PORT, syslog:///PATH or off`},
		{"access log format", "services:\n  - { name: s, listen: \"0.0.0.0:80\", access_log: { to: stdout, format: clf }, backends: [10.0.0.1:80] }\n", `t.yaml:2:72: services[0].access_log.format: "clf" is not one of haproxy, json, combined`},
		{"access log facility", "log: { access: { to: \"syslog://10.0.0.9\", facility: local9 } }\n", `t.yaml:1:53: log.access.facility: "local9" is not one of kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0, local1, local2, local3, local4, local5, local6, local7`},
		{"access log syslog port", "log: { access: { to: \"syslog://10.0.0.9:70000\" } }\n", `t.yaml:1:22: log.access.to: "10.0.0.9:70000": port must be 1..65535`},
		{"access log syslog path", "log: { access: { to: \"syslog://10.0.0.9:514/x\" } }\n", `t.yaml:1:22: log.access.to: "syslog://10.0.0.9:514/x": want syslog://HOST:PORT, nothing after the port`},
		{"access log syslog socket absent", "log: { access: { to: \"syslog:///run/log\" } }\n", `t.yaml:1:22: log.access.to: "syslog:///run/log": no unix socket at /run/log on this host (is a syslog daemon running?)`},
		{"access log dir absent", "log: { access: /srv/logs/vigil.log }\n", `t.yaml:1:16: log.access.to: directory "/srv/logs" does not exist on this host`},
		{"access log unclean path", "log: { access: /var/log/vigil//a.log }\n", `t.yaml:1:16: log.access.to: "/var/log/vigil//a.log" is not a clean file path (want /var/log/vigil/a.log)`},
		{"access log on udp", "services:\n  - { name: s, listen: \"0.0.0.0:53\", protocol: udp, access_log: stdout, backends: [10.0.0.1:53] }\n", "t.yaml:2:65: services[0].access_log: applies to tcp and http, not udp: a udp session has no end to log"},
		{"access log on lvs", "services:\n  - { name: s, mode: lvs, listen: \"10.0.0.1:80\", access_log: stdout, backends: [\"10.0.0.2:80\"] }\n", "t.yaml:2:62: services[0].access_log: applies to mode: proxy only; IPVS forwards packets without reading them"},
		{"tls no certs", "services:\n  - { name: s, listen: \"0.0.0.0:443\", protocol: http, tls: { certs: [] }, backends: [10.0.0.1:80] }\n", "t.yaml:2:69: services[0].tls.certs: required: at least one cert/key pair"},
		{"tls key missing", "services:\n  - { name: s, listen: \"0.0.0.0:443\", protocol: http, tls: { certs: [{ cert: /etc/ssl/a.pem }] }, backends: [10.0.0.1:80] }\n", "t.yaml:2:70: services[0].tls.certs[0].key: required: the PEM private key file"},
		{"tls cert file absent", "services:\n  - { name: s, listen: \"0.0.0.0:443\", protocol: http, tls: { certs: [{ cert: /srv/a.pem, key: /etc/ssl/a.key }] }, backends: [10.0.0.1:80] }\n", `t.yaml:2:78: services[0].tls.certs[0].cert: file "/srv/a.pem" does not exist on this host`},
		{"tls key pair does not load", "services:\n  - { name: s, listen: \"0.0.0.0:443\", protocol: http, tls: { certs: [{ cert: /etc/ssl/notpem, key: /etc/ssl/b }] }, backends: [10.0.0.1:80] }\n", "t.yaml:2:70: services[0].tls.certs[0]: cert /etc/ssl/notpem and key /etc/ssl/b do not load as a TLS key pair: tls: failed to find any PEM data in certificate input"},
		{"tls on tcp", "services:\n  - { name: s, listen: \"0.0.0.0:443\", tls: { certs: [{ cert: /etc/ssl/a, key: /etc/ssl/b }] }, backends: [10.0.0.1:80] }\n", "t.yaml:2:44: services[0].tls: applies to protocol: http only (TLS for protocol tcp is not supported yet)"},
		{"proxy protocol send on http", "services:\n  - { name: s, listen: \"0.0.0.0:80\", protocol: http, proxy_protocol: { send: v2 }, backends: [10.0.0.1:80] }\n", "t.yaml:2:78: services[0].proxy_protocol.send: not supported with protocol http: backend connections are shared between clients, and a PROXY header names one"},
		{"sticky cookie name", "services:\n  - { name: s, listen: \"0.0.0.0:80\", protocol: http, sticky: { cookie: \"SRV ID\" }, backends: [10.0.0.1:80] }\n", "t.yaml:2:72: services[0].sticky.cookie: \"SRV ID\" is not a cookie name: use letters, digits and !#$%&'*+-.^_`|~ (RFC 6265)"},
		{"tls min version", "services:\n  - { name: s, listen: \"0.0.0.0:443\", protocol: http, tls: { certs: [{ cert: /etc/ssl/a, key: /etc/ssl/b }], min_version: \"1.0\" }, backends: [10.0.0.1:80] }\n", `t.yaml:2:123: services[0].tls.min_version: "1.0" is not one of 1.2, 1.3`},
		{"h2c on tcp", "services:\n  - { name: s, listen: \"0.0.0.0:80\", h2c: true, backends: [10.0.0.1:80] }\n", "t.yaml:2:43: services[0].h2c: applies to protocol: http only"},
		{"http2_max_streams on tcp", "services:\n  - { name: s, listen: \"0.0.0.0:80\", http2_max_streams: 10, backends: [10.0.0.1:80] }\n", "t.yaml:2:57: services[0].http2_max_streams: applies to protocol: http only"},
		{"http2_max_streams negative", "services:\n  - { name: s, listen: \"0.0.0.0:80\", protocol: http, http2_max_streams: -1, backends: [10.0.0.1:80] }\n", "t.yaml:2:73: services[0].http2_max_streams: must be between 1 and 1048576 (0: the default, 100)"},
		{"route empty match", "services:\n  - { name: s, protocol: http, listen: \"0.0.0.0:80\", routes: [{ backends: [10.0.0.2:80] }], backends: [10.0.0.1:80] }\n", "t.yaml:2:63: services[0].routes[0]: set hosts, path_prefix or both: a route that matches everything hides the service's backends"},
		{"route path prefix", "services:\n  - { name: s, protocol: http, listen: \"0.0.0.0:80\", routes: [{ path_prefix: api, backends: [10.0.0.2:80] }], backends: [10.0.0.1:80] }\n", `t.yaml:2:78: services[0].routes[0].path_prefix: "api" must start with /`},
		{"route no backends", "services:\n  - { name: s, protocol: http, listen: \"0.0.0.0:80\", routes: [{ hosts: [a.example] }], backends: [10.0.0.1:80] }\n", "t.yaml:2:63: services[0].routes[0].backends: required: at least one backend"},
		{"service check target", "services:\n  - { name: s, listen: \"0.0.0.0:80\", check: { type: tcp, target: \"10.0.0.1:80\" }, backends: [10.0.0.1:80] }\n", "t.yaml:2:66: services[0].check.target: a service's check probes each backend; use port to probe another port"},
		{"service check port", "services:\n  - { name: s, listen: \"0.0.0.0:80\", check: { type: tcp, port: 70000 }, backends: [10.0.0.1:80] }\n", "t.yaml:2:64: services[0].check.port: 70000 is out of range 1..65535"},
		{"service name twice", "services:\n  - { name: s, listen: \"0.0.0.0:80\", backends: [10.0.0.1:80] }\n  - { name: s, listen: \"0.0.0.0:81\", backends: [10.0.0.1:80] }\n", `t.yaml:3:13: services[1].name: "s" is also the name of services[0]`},
		{"listen twice", "services:\n  - { name: a, listen: \"0.0.0.0:80\", backends: [10.0.0.1:80] }\n  - { name: b, protocol: http, listen: \"0.0.0.0:80\", backends: [10.0.0.1:80] }\n", "t.yaml:3:40: services[1].listen: 0.0.0.0:80 is also the listen address of services[0] (a)"},
		{"fwmark twice", "services:\n  - { name: a, mode: lvs, fwmark: 1, backends: [10.0.0.1:80] }\n  - { name: b, mode: lvs, fwmark: 1, backends: [10.0.0.1:80] }\n", "t.yaml:3:35: services[1].fwmark: fwmark 1 is also used by services[0] (a)"},

		// lvs global and alerts
		{"lvs sync interface", "lvs: { sync: { id: 1, instance: VI_1 } }\n" + vrrpHead, "t.yaml:1:14: lvs.sync.interface: required: the interface that carries connection sync"},
		{"lvs sync instance", "lvs: { sync: { interface: eth0, id: 1, instance: VI_9 } }\n" + vrrpHead, `t.yaml:1:50: lvs.sync.instance: no vrrp instance named "VI_9"`},
		{"lvs sync id", "lvs: { sync: { interface: eth0, id: 300, instance: VI_1 } }\n" + vrrpHead, "t.yaml:1:37: lvs.sync.id: 300 is out of range 0..255"},
		{"webhook url", "alerts: { webhooks: [{ url: \"ftp://x\" }] }\n", `t.yaml:1:29: alerts.webhooks[0].url: "ftp://x" is not an http:// or https:// URL`},
		{"email from", "alerts: { email: { smtp_server: \"127.0.0.1:25\", from: root, to: [ops@example.com] } }\n", `t.yaml:1:55: alerts.email.from: "root" is not an e-mail address`},
		{"email to", "alerts: { email: { smtp_server: \"127.0.0.1:25\", from: a@example.com } }\n", "t.yaml:1:18: alerts.email.to: required: at least one recipient"},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			errs, _ := problems(t, tc.text, true)
			if len(errs) != 1 || errs[0] != tc.want {
				t.Errorf("errors:\n  %s\nwant exactly:\n  %s", strings.Join(errs, "\n  "), tc.want)
			}
		})
	}
}

func TestValidCookieName(t *testing.T) {
	for name, want := range map[string]bool{
		"SRVID": true, "srv_id-1.x": true, "a!#$%&'*+-.^_`|~": true,
		"": false, "SRV ID": false, "a=b": false, "a;b": false, "a,b": false, "a\tb": false,
		"a\r\nSet-Cookie: x": false, `a"b`: false, "a/b": false, "é": false, "a\x7f": false,
	} {
		if got := ValidCookieName(name); got != want {
			t.Errorf("ValidCookieName(%q) = %v, want %v", name, got, want)
		}
	}
}
