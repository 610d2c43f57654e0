package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Host answers questions about the machine the config is meant for. Validation
// asks it for facts a config file cannot prove by itself.
type Host interface {
	// InterfaceExists reports whether a network interface of that name exists.
	InterfaceExists(name string) bool
	// FileExists reports whether path names an existing file.
	FileExists(path string) bool
	// ProgramExists reports whether a program can be found (absolute or in PATH).
	ProgramExists(name string) bool
	// DirExists reports whether path names an existing directory.
	DirExists(path string) bool
	// SocketExists reports whether path names an existing unix socket.
	SocketExists(path string) bool
	// GroupExists reports whether a group of that name or number exists.
	GroupExists(name string) bool
	// KeyPairLoads reports why a PEM certificate chain and its key do not
	// load as a TLS key pair (nil when they do).
	KeyPairLoads(cert, key string) error
}

type validator struct {
	d          *decoder
	host       Host
	strictHost bool
	problems   []Problem
}

func (v *validator) posOf(path string) Pos {
	for p := path; p != ""; p = parentPath(p) {
		if pos, ok := v.d.pos[p]; ok {
			return pos
		}
	}
	return Pos{}
}

// parentPath strips the last segment: "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a".
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

func (v *validator) add(warning bool, path, format string, args ...any) {
	if v.d.bad[path] {
		return // the decoder already said what is wrong here
	}
	v.problems = append(v.problems, Problem{
		File: v.d.file, Pos: v.posOf(path), Path: path,
		Message: fmt.Sprintf(format, args...), Warning: warning,
	})
}

func (v *validator) errorf(path, format string, args ...any) { v.add(false, path, format, args...) }
func (v *validator) warnf(path, format string, args ...any)  { v.add(true, path, format, args...) }

// hostf reports a fact about this machine: an error where the config must run
// here (vigil run), a warning where it may be meant for another machine (vigil check).
func (v *validator) hostf(path, format string, args ...any) {
	v.add(!v.strictHost, path, format, args...)
}

func (v *validator) isSet(path string) bool {
	_, ok := v.d.pos[path]
	return ok
}

func instancePath(i int) string { return fmt.Sprintf("vrrp[%d]", i) }
func servicePath(i int) string  { return fmt.Sprintf("services[%d]", i) }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

func (v *validator) name(path, name, what string) {
	switch {
	case name == "":
		v.errorf(path, "required: a name for this %s", what)
	case !nameRE.MatchString(name):
		v.errorf(path, "%q is not a valid name: use letters, digits, '_', '.', '-' (at most 64, starting with a letter or digit)", name)
	}
}

func (v *validator) intRange(path string, val, lo, hi int) bool {
	if val < lo || val > hi {
		v.errorf(path, "%d is out of range %d..%d", val, lo, hi)
		return false
	}
	return true
}

func (v *validator) positive(path string, d Duration) {
	if d <= 0 {
		v.errorf(path, "must be more than 0s")
	}
}

func (v *validator) oneOf(path, val string, allowed ...string) bool {
	if slices.Contains(allowed, val) {
		return true
	}
	v.errorf(path, "%q is not one of %s", val, strings.Join(allowed, ", "))
	return false
}

func (v *validator) iface(path, name string) {
	if len(name) > 15 {
		v.errorf(path, "%q is longer than 15 bytes, the Linux limit for interface names", name)
		return
	}
	if v.host != nil && !v.host.InterfaceExists(name) {
		v.hostf(path, "interface %q does not exist on this host", name)
	}
}

func (v *validator) program(path, prog string) {
	if !filepath.IsAbs(prog) {
		v.errorf(path, "%q must be an absolute path", prog)
		return
	}
	if v.host != nil && !v.host.ProgramExists(prog) {
		v.hostf(path, "%q does not exist or is not executable on this host", prog)
	}
}

func (v *validator) file(path, file string) {
	if v.host != nil && !v.host.FileExists(file) {
		v.hostf(path, "file %q does not exist on this host", file)
	}
}

func (v *validator) hostPort(path, s string) (host string, port int, ok bool) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		v.errorf(path, "%q is not host:port (IPv6 in brackets: [2001:db8::1]:80)", s)
		return "", 0, false
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		v.errorf(path, "%q: port must be 1..65535", s)
		return "", 0, false
	}
	if h == "" {
		v.errorf(path, "%q: host is missing", s)
		return "", 0, false
	}
	return h, n, true
}

// suggest adds a "did you mean" for a name that refers to another part of the config.
func suggest(name string, known []string) string {
	if len(known) > 1000 {
		return "" // keeps validation linear on huge (alias-expanded) configs
	}
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(name, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

func (v *validator) config(c *Config) {
	if c.Node == "" {
		v.errorf("node", "required: this node's name (the hostname could not be read)")
	}
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")
	if c.Log.Access != nil {
		v.accessLog("log.access", c.Log.Access)
	}
	v.api(&c.API)
	if c.Nice < -20 || c.Nice > 19 {
		v.errorf("nice", "%d is not a nice value: want -20 (first) to 19 (last)", c.Nice)
	}

	for i := range c.VRRP {
		v.instance(i, &c.VRRP[i], c)
	}
	v.instancesTogether(c)
	v.syncGroups(c)

	names := make([]string, 0, len(c.Checks))
	for n := range c.Checks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		path := "checks." + n
		if !nameRE.MatchString(n) {
			v.errorf(path, "%q is not a valid name: use letters, digits, '_', '.', '-' (at most 64, starting with a letter or digit)", n)
		}
		if c.Checks[n] == nil {
			v.errorf(path, "empty check: set at least its type")
			continue
		}
		v.check(path, c.Checks[n], true)
		if !checkTracked(c, n) {
			v.warnf(path, "not tracked by any vrrp instance, so it changes nothing")
		}
	}

	for i := range c.Services {
		v.service(i, &c.Services[i], c)
	}
	v.servicesTogether(c)
	v.lvsGlobal(c)
	v.alerts(&c.Alerts)
}

func (v *validator) api(a *API) {
	if a.Listen != "" {
		h, p, err := net.SplitHostPort(a.Listen)
		n, perr := strconv.Atoi(p)
		if err != nil || perr != nil || n < 1 || n > 65535 {
			v.errorf("api.listen", "%q is not host:port like 127.0.0.1:9653 (\"\" turns the API off)", a.Listen)
		} else if h != "" && h != "localhost" {
			if _, err := netip.ParseAddr(h); err != nil {
				v.errorf("api.listen", "%q: host must be an IP address, localhost or empty (all addresses)", a.Listen)
			}
		}
	}
	if a.Socket != "" && !filepath.IsAbs(a.Socket) {
		v.errorf("api.socket", "%q must be an absolute path", a.Socket)
	}
	switch {
	case a.SocketGroup != "" && a.Socket == "":
		v.errorf("api.socket_group", "there is no socket (api.socket is \"\") for the group to own")
	case a.SocketGroup != "" && v.host != nil && !v.host.GroupExists(a.SocketGroup):
		v.hostf("api.socket_group", "group %q does not exist on this host", a.SocketGroup)
	}
	if a.Token != "" && a.TokenFile != "" {
		v.errorf("api.token_file", "set token or token_file, not both")
	}
	if a.TokenFile != "" {
		v.file("api.token_file", a.TokenFile)
	}
}

func (v *validator) instance(i int, in *Instance, c *Config) {
	p := instancePath(i)
	v.name(p+".name", in.Name, "vrrp instance")
	if in.Interface == "" {
		v.errorf(p+".interface", "required: the interface that carries the adverts")
	} else {
		v.iface(p+".interface", in.Interface)
	}
	if !v.isSet(p + ".vrid") {
		v.errorf(p+".vrid", "required: the virtual router id 1..255, the same on every node of this router (keepalived virtual_router_id)")
	} else {
		v.intRange(p+".vrid", in.VRID, 1, 255)
	}
	v.intRange(p+".priority", in.Priority, 1, 255)
	versionOK := in.Version == 2 || in.Version == 3
	if !versionOK {
		v.errorf(p+".version", "%d is not a VRRP version: use 3 (RFC 5798) or 2 (keepalived v2 peers)", in.Version)
	}
	ival := in.AdvertInterval.D()
	switch in.Version {
	case 2:
		if ival%time.Second != 0 || ival < time.Second || ival > 255*time.Second {
			v.errorf(p+".advert_interval", "%s: VRRP v2 carries whole seconds, 1s..255s", ival)
		}
	case 3:
		if ival%(10*time.Millisecond) != 0 || ival < 10*time.Millisecond || ival > 40950*time.Millisecond {
			v.errorf(p+".advert_interval", "%s: VRRP v3 carries 10ms steps, 10ms..40.95s", ival)
		}
	}

	fam := in.Family()
	if len(in.VIPs) == 0 {
		v.errorf(p+".vips", "required: at least one virtual address")
	}
	seenVIPs := map[netip.Addr]bool{}
	for j, vip := range in.VIPs {
		vp := fmt.Sprintf("%s.vips[%d]", p, j)
		if !vip.Address.IsValid() {
			if !v.d.bad[vp] && !v.d.bad[vp+".address"] {
				v.errorf(vp+".address", "required: the virtual address, like 10.0.0.100/24")
			}
			continue
		}
		if f := familyOf(vip.Address.Addr()); f != fam {
			v.errorf(vp, "%s is %s but the instance's first VIP is %s: use one instance per family (an advert carries one family)", vip.Address, f, fam)
		} else if f == IPv6 && in.Version == 2 {
			v.errorf(vp, "%s: VRRP v2 carries IPv4 only; use version: 3 for IPv6", vip.Address)
		}
		if seenVIPs[vip.Address.Addr()] {
			v.errorf(vp, "%s is listed twice", vip.Address.Addr())
		}
		seenVIPs[vip.Address.Addr()] = true
		v.oneOf(vp+".scope", vip.Scope, "global", "site", "link", "host")
		dev := in.Interface
		if vip.Dev != "" {
			dev = vip.Dev
			v.iface(vp+".dev", vip.Dev)
		}
		if vip.Label != "" && dev != "" {
			if !strings.HasPrefix(vip.Label, dev) || len(vip.Label) > 15 {
				v.errorf(vp+".label", "%q must start with the interface name %q and be at most 15 bytes (Linux rule), like %s:vip", vip.Label, dev, dev)
			}
		}
	}

	if in.UnicastSource.IsValid() && len(in.UnicastPeers) == 0 {
		v.errorf(p+".unicast_source", "needs unicast_peers: the source is only used for unicast adverts")
	}
	if in.UnicastSource.IsValid() && len(in.VIPs) > 0 && familyOf(in.UnicastSource) != fam {
		v.errorf(p+".unicast_source", "%s is %s but the instance is %s", in.UnicastSource, familyOf(in.UnicastSource), fam)
	}
	seenPeers := map[netip.Addr]bool{}
	for j, peer := range in.UnicastPeers {
		pp := fmt.Sprintf("%s.unicast_peers[%d]", p, j)
		if !peer.IsValid() {
			continue
		}
		if len(in.VIPs) > 0 && familyOf(peer) != fam {
			v.errorf(pp, "%s is %s but the instance is %s", peer, familyOf(peer), fam)
		}
		if peer == in.UnicastSource {
			v.errorf(pp, "%s is this node's unicast_source; list only the other nodes", peer)
		}
		if seenPeers[peer] {
			v.errorf(pp, "%s is listed twice", peer)
		}
		seenPeers[peer] = true
	}

	if in.AuthPass != "" {
		if in.Version != 2 {
			v.errorf(p+".auth_pass", "authentication exists only in VRRP v2 (RFC 5798 removed it): set version: 2 or remove auth_pass")
		} else if len(in.AuthPass) > 8 {
			v.warnf(p+".auth_pass", "only the first 8 bytes are sent and compared, as keepalived does")
		}
	}

	for j, t := range in.Track {
		v.track(fmt.Sprintf("%s.track[%d]", p, j), t, c)
	}
	if in.Priority == 255 && len(in.Track) > 0 {
		v.warnf(p+".track", "priority 255 (address owner) is never changed by tracking; only weight-0 tracks (fault) have an effect")
	}
	v.intRange(p+".auto_track.weight", in.AutoTrack.Weight, -254, 254)

	if in.Notify != "" {
		v.program(p+".notify", in.Notify)
	}
	v.positive(p+".notify_timeout", in.NotifyTimeout)
	if in.GARP.Repeat < 1 {
		v.errorf(p+".garp.repeat", "must be at least 1")
	}
	if in.GARP.RefreshRepeat < 1 {
		v.errorf(p+".garp.refresh_repeat", "must be at least 1")
	}
}

func (v *validator) track(path string, t Track, c *Config) {
	n := 0
	for _, s := range []string{t.Check, t.Service, t.Interface} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		v.errorf(path, "set exactly one of check, service or interface")
		return
	}
	switch {
	case t.Check != "":
		if _, ok := c.Checks[t.Check]; !ok {
			known := make([]string, 0, len(c.Checks))
			for k := range c.Checks {
				known = append(known, k)
			}
			v.errorf(path+".check", "no check named %q in checks%s", t.Check, suggest(t.Check, known))
		}
	case t.Service != "":
		var known []string
		found := false
		for _, s := range c.Services {
			known = append(known, s.Name)
			found = found || s.Name == t.Service
		}
		if !found {
			v.errorf(path+".service", "no service named %q in services%s", t.Service, suggest(t.Service, known))
		}
	default:
		v.iface(path+".interface", t.Interface)
	}
	v.intRange(path+".weight", t.Weight, -254, 254)
}

// instancesTogether checks what no single instance can: unique names, unique
// (interface, family, vrid), and a VIP held by one instance only.
func (v *validator) instancesTogether(c *Config) {
	type routerKey struct {
		iface string
		fam   Family
		vrid  int
	}
	names := map[string]int{}
	routers := map[routerKey]int{}
	vips := map[netip.Addr]int{}
	for i, in := range c.VRRP {
		p := instancePath(i)
		if j, ok := names[in.Name]; ok && in.Name != "" {
			v.errorf(p+".name", "%q is also the name of %s", in.Name, instancePath(j))
		} else {
			names[in.Name] = i
		}
		k := routerKey{in.Interface, in.Family(), in.VRID}
		if j, ok := routers[k]; ok && in.VRID != 0 {
			v.errorf(p+".vrid", "vrid %d is also used by %s (%s) on %s for %s: each virtual router on a link needs its own vrid", in.VRID, instancePath(j), c.VRRP[j].Name, in.Interface, k.fam)
		} else {
			routers[k] = i
		}
		for j, vip := range in.VIPs {
			a := vip.Address.Addr()
			if !a.IsValid() {
				continue
			}
			if other, ok := vips[a]; ok && other != i {
				v.errorf(fmt.Sprintf("%s.vips[%d]", p, j), "%s is also a VIP of %s (%s): two routers cannot own one address", a, instancePath(other), c.VRRP[other].Name)
			} else {
				vips[a] = i
			}
		}
	}
}

func (v *validator) syncGroups(c *Config) {
	instances := map[string]bool{}
	var known []string
	for _, in := range c.VRRP {
		instances[in.Name] = true
		known = append(known, in.Name)
	}
	groupOf := map[string]string{}
	groupNames := map[string]int{}
	for i, g := range c.SyncGroups {
		p := fmt.Sprintf("sync_groups[%d]", i)
		v.name(p+".name", g.Name, "sync group")
		if j, ok := groupNames[g.Name]; ok && g.Name != "" {
			v.errorf(p+".name", "%q is also the name of sync_groups[%d]", g.Name, j)
		}
		groupNames[g.Name] = i
		if len(g.Members) == 0 {
			v.errorf(p+".members", "required: the instances that move together")
		} else if len(g.Members) == 1 {
			v.warnf(p+".members", "a group of one instance changes nothing")
		}
		for j, m := range g.Members {
			mp := fmt.Sprintf("%s.members[%d]", p, j)
			switch {
			case !instances[m]:
				v.errorf(mp, "no vrrp instance named %q%s", m, suggest(m, known))
			case groupOf[m] != "":
				v.errorf(mp, "%q is already a member of sync group %q; an instance belongs to one group", m, groupOf[m])
			default:
				groupOf[m] = g.Name
			}
		}
		if g.Notify != "" {
			v.program(p+".notify", g.Notify)
		}
	}
}

func checkTracked(c *Config, name string) bool {
	for _, in := range c.VRRP {
		for _, t := range in.Track {
			if t.Check == name {
				return true
			}
		}
	}
	return false
}

var checkTypes = []string{"tcp", "http", "https", "exec", "dns", "udp"}

var dnsTypes = []string{"A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT"}

var httpMethodRE = regexp.MustCompile(`^[A-Z]+$`)

// check validates one health check; named checks probe their target, service
// checks probe each backend.
func (v *validator) check(p string, ch *Check, named bool) {
	if ch.Type == "" {
		v.errorf(p+".type", "required: one of %s", strings.Join(checkTypes, ", "))
		return
	}
	if !v.oneOf(p+".type", ch.Type, checkTypes...) {
		return
	}
	v.positive(p+".interval", ch.Interval)
	v.positive(p+".timeout", ch.Timeout)
	if ch.Rise < 1 {
		v.errorf(p+".rise", "must be at least 1")
	}
	if ch.Fall < 1 {
		v.errorf(p+".fall", "must be at least 1")
	}
	v.oneOf(p+".initial", ch.Initial, "down", "up")
	if ch.Interval > 0 && ch.Timeout > ch.Interval {
		v.warnf(p+".timeout", "%s is longer than the interval %s, so a hanging target is probed less often than configured", ch.Timeout, ch.Interval)
	}
	if ch.Interval > 0 && ch.Jitter >= ch.Interval {
		v.errorf(p+".jitter", "%s must be less than the interval %s", ch.Jitter, ch.Interval)
	}

	// Fields that belong to other check types are mistakes, not harmless extras.
	only := func(field string, types ...string) {
		if v.isSet(p+"."+field) && !isDefaultField(ch, field) && !slices.Contains(types, ch.Type) {
			v.errorf(p+"."+field, "applies to %s checks only, not %s", strings.Join(types, " and "), ch.Type)
		}
	}
	for _, f := range []string{"method", "path", "host", "expect_status", "expect_body", "expect_body_regex", "digest"} {
		only(f, "http", "https")
	}
	only("tls_verify", "https")
	only("sni", "https")
	only("query", "dns")
	only("query_type", "dns")
	only("payload", "udp")
	only("expect_reply", "udp")
	only("command", "exec")
	only("target", "tcp", "http", "https", "dns", "udp")
	only("port", "tcp", "http", "https", "dns", "udp")

	switch ch.Type {
	case "exec":
		if len(ch.Command) == 0 {
			v.errorf(p+".command", "required for exec checks: the program and its arguments, like [pidof, nginx]")
		} else if v.host != nil && !v.host.ProgramExists(ch.Command[0]) {
			v.hostf(p+".command", "program %q not found on this host", ch.Command[0])
		}
		return
	case "http", "https":
		if !httpMethodRE.MatchString(ch.Method) {
			v.errorf(p+".method", "%q is not an HTTP method like GET or HEAD", ch.Method)
		}
		if !strings.HasPrefix(ch.Path, "/") {
			v.errorf(p+".path", "%q must start with /", ch.Path)
		}
		if len(ch.ExpectStatus) == 0 {
			v.errorf(p+".expect_status", "must list at least one status code")
		}
		if ch.Method == "HEAD" && (ch.ExpectBody != "" || ch.ExpectBodyRegex != "" || ch.Digest != "") {
			v.errorf(p+".method", "a HEAD response has no body, so expect_body, expect_body_regex and digest can never match; use GET")
		}
		if ch.ExpectBodyRegex != "" {
			if _, err := regexp.Compile(ch.ExpectBodyRegex); err != nil {
				v.errorf(p+".expect_body_regex", "not a valid regular expression: %v", err)
			}
		}
		if ch.Digest != "" && !regexp.MustCompile(`^[0-9a-fA-F]{32}$`).MatchString(ch.Digest) {
			v.errorf(p+".digest", "%q must be 32 hex digits (an MD5 sum, as keepalived's genhash prints)", ch.Digest)
		}
	case "dns":
		if ch.Query == "" {
			v.errorf(p+".query", "required for dns checks: the name to ask for")
		}
		v.oneOf(p+".query_type", ch.QueryType, dnsTypes...)
	}
	if named {
		if ch.Target == "" {
			v.errorf(p+".target", "required for %s checks: the host:port to probe", ch.Type)
		} else {
			v.hostPort(p+".target", ch.Target)
		}
		if ch.Port != 0 {
			v.errorf(p+".port", "applies to a service's check only; put the port in target")
		}
	} else {
		if ch.Target != "" {
			v.errorf(p+".target", "a service's check probes each backend; use port to probe another port")
		}
		if ch.Port != 0 {
			v.intRange(p+".port", ch.Port, 1, 65535)
		}
	}
}

var (
	proxyProtocols = []string{"tcp", "udp", "http"}
	lvsProtocols   = []string{"tcp", "udp", "sctp"}
	proxyBalances  = []string{"roundrobin", "leastconn", "source", "uri", "random"}
	lvsBalances    = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "sh", "mh", "dh", "sed", "nq", "fo", "ovf"}
	schedFlags     = map[string]string{"sh-fallback": "sh", "sh-port": "sh", "mh-fallback": "mh", "mh-port": "mh"}
)

func (v *validator) service(i int, s *Service, c *Config) {
	p := servicePath(i)
	v.name(p+".name", s.Name, "service")
	if !v.oneOf(p+".mode", s.Mode, "proxy", "lvs") {
		return
	}
	lvs := s.Mode == "lvs"
	if lvs {
		v.oneOf(p+".protocol", s.Protocol, lvsProtocols...)
		v.oneOf(p+".balance", s.Balance, lvsBalances...)
	} else {
		v.oneOf(p+".protocol", s.Protocol, proxyProtocols...)
		v.oneOf(p+".balance", s.Balance, proxyBalances...)
		if s.Balance == "uri" && s.Protocol != "http" {
			v.errorf(p+".balance", "uri hashing needs protocol: http")
		}
	}

	switch {
	case s.Fwmark != 0 && !lvs:
		v.errorf(p+".fwmark", "works with mode: lvs only (the proxy needs a listen address)")
	case s.Fwmark != 0 && s.Listen.IsValid():
		v.errorf(p+".fwmark", "set listen or fwmark, not both")
	case s.Fwmark == 0 && !s.Listen.IsValid():
		if !v.d.bad[p+".listen"] {
			v.errorf(p+".listen", "required: the VIP:port to serve, like 10.0.0.100:80")
		}
	case s.Listen.IsValid() && s.Listen.Port() == 0:
		v.errorf(p+".listen", "%s: port 0 is not a service port", s.Listen)
	}

	v.backends(p+".backends", s.Backends, s)
	if len(s.Backends) == 0 && len(s.Routes) == 0 {
		v.errorf(p+".backends", "required: at least one backend")
	}
	if s.Quorum < 1 {
		v.errorf(p+".quorum", "must be at least 1")
	} else if len(s.Backends) > 0 && s.Quorum > len(s.Backends) {
		v.errorf(p+".quorum", "%d is more than the %d backends, so the service could never be up", s.Quorum, len(s.Backends))
	}
	if s.Hysteresis < 0 || (s.Quorum >= 1 && s.Hysteresis >= s.Quorum) {
		v.errorf(p+".hysteresis", "%d must be from 0 to quorum-1 (%d)", s.Hysteresis, s.Quorum-1)
	}
	if s.QuorumUp != "" {
		v.program(p+".quorum_up", s.QuorumUp)
	}
	if s.QuorumDown != "" {
		v.program(p+".quorum_down", s.QuorumDown)
	}
	if s.Check != nil {
		v.check(p+".check", s.Check, false)
	}

	if lvs {
		v.lvsService(p, s)
	} else {
		v.proxyService(p, s)
	}
}

// backends validates one backend group.
func (v *validator) backends(p string, bs []Backend, s *Service) {
	primaries := 0
	lvs := s.Mode == "lvs"
	maxWeight := 256 // HAProxy's range
	if lvs {
		maxWeight = 65535 // IPVS's range
	}
	seen := map[string]int{}
	for j, b := range bs {
		bp := fmt.Sprintf("%s[%d]", p, j)
		if !b.Backup {
			primaries++
		}
		if b.Address == "" {
			v.errorf(bp+".address", "required: host:port of the backend")
			continue
		}
		h, port, ok := v.hostPort(bp+".address", b.Address)
		if !ok {
			v.d.bad[bp+".address"] = true
		}
		if ok && lvs {
			a, err := netip.ParseAddr(h)
			switch {
			case err != nil:
				v.errorf(bp+".address", "%q: IPVS needs an IP address, not a name", b.Address)
			case s.Listen.IsValid() && familyOf(a) != familyOf(s.Listen.Addr()):
				v.errorf(bp+".address", "%s is %s but the service listens on %s", a, familyOf(a), familyOf(s.Listen.Addr()))
			case (s.LVS.Forward == "dr" || s.LVS.Forward == "tun") && s.Listen.IsValid() && port != int(s.Listen.Port()):
				v.errorf(bp+".address", "port %d: %s forwarding cannot change the port; use %d like the service", port, strings.ToUpper(s.LVS.Forward), s.Listen.Port())
			}
		}
		if k, dup := seen[b.Address]; dup {
			v.errorf(bp+".address", "%s is also %s[%d]", b.Address, p, k)
		}
		seen[b.Address] = j
		v.intRange(bp+".weight", b.Weight, 0, maxWeight)
		if b.MaxConn < 0 {
			v.errorf(bp+".max_conn", "must not be negative (0 is unlimited)")
		}
	}
	if len(bs) > 0 && primaries == 0 {
		v.warnf(p, "every backend is a backup; backups serve only while no primary is up")
	}
}

func (v *validator) lvsService(p string, s *Service) {
	v.oneOf(p+".lvs.forward", s.LVS.Forward, "nat", "dr", "tun")
	fam, famKnown := lvsFamily(s)
	if m := s.LVS.PersistenceNetmask; m != "" {
		if n, err := strconv.Atoi(m); err != nil {
			if a, err := netip.ParseAddr(m); err != nil || !isNetmask(a) {
				v.errorf(p+".lvs.persistence_netmask", "%q is not a netmask like 255.255.255.0 or a prefix length like 24", m)
			} else if famKnown && fam == IPv6 {
				v.errorf(p+".lvs.persistence_netmask", "%q: an IPv6 service takes a prefix length like 64", m)
			}
		} else if famKnown && fam == IPv6 && (n < 1 || n > 128) {
			v.errorf(p+".lvs.persistence_netmask", "%d is out of range 1..128 for IPv6", n)
		} else if famKnown && fam == IPv4 && (n < 0 || n > 32) {
			v.errorf(p+".lvs.persistence_netmask", "%d is out of range 0..32 for IPv4", n)
		}
	}
	for j, b := range s.Backends {
		bp := fmt.Sprintf("%s.backends[%d]", p, j)
		if b.Backup {
			v.errorf(bp+".backup", "applies to mode: proxy only; for lvs use lvs.sorry_server, which takes traffic while no real server is up")
		}
		// A fwmark service has no address of its own: its real servers
		// must agree on the family the service is created with.
		if a, err := netip.ParseAddrPort(b.Address); err == nil && s.Fwmark != 0 && famKnown && familyOf(a.Addr()) != fam {
			v.errorf(bp+".address", "%s is %s but the other real servers of this fwmark service are %s", a.Addr(), familyOf(a.Addr()), fam)
		}
	}
	if ss := s.LVS.SorryServer; ss.IsValid() && s.Fwmark != 0 && famKnown && familyOf(ss.Addr()) != fam {
		v.errorf(p+".lvs.sorry_server", "%s is %s but the real servers of this fwmark service are %s", ss, familyOf(ss.Addr()), fam)
	}
	for j, f := range s.LVS.SchedFlags {
		fp := fmt.Sprintf("%s.lvs.sched_flags[%d]", p, j)
		sched, ok := schedFlags[f]
		switch {
		case !ok:
			v.errorf(fp, "%q is not one of sh-fallback, sh-port, mh-fallback, mh-port", f)
		case sched != s.Balance:
			v.errorf(fp, "%s applies to balance: %s, not %s", f, sched, s.Balance)
		}
	}
	if ss := s.LVS.SorryServer; ss.IsValid() && s.Listen.IsValid() && familyOf(ss.Addr()) != familyOf(s.Listen.Addr()) {
		v.errorf(p+".lvs.sorry_server", "%s is %s but the service listens on %s", ss, familyOf(ss.Addr()), familyOf(s.Listen.Addr()))
	}
	for f, used := range proxyOnly(s) {
		if used {
			v.errorf(p+"."+f, "applies to mode: proxy only; IPVS forwards packets without reading them")
		}
	}
}

// lvsFamily is the address family an lvs service is created with: its
// listen address's, or for a fwmark service its first real server's.
func lvsFamily(s *Service) (Family, bool) {
	if s.Listen.IsValid() {
		return familyOf(s.Listen.Addr()), true
	}
	for _, b := range s.Backends {
		if a, err := netip.ParseAddrPort(b.Address); err == nil {
			return familyOf(a.Addr()), true
		}
	}
	return IPv4, false
}

// proxyOnly tells which proxy-only settings a service uses.
func proxyOnly(s *Service) map[string]bool {
	return map[string]bool{
		"routes":            len(s.Routes) > 0,
		"tls":               s.TLS != nil,
		"sticky":            s.Sticky != nil,
		"h2c":               s.H2C,
		"http2_max_streams": s.HTTP2MaxStreams != 0,
		"proxy_protocol":    s.ProxyProtocol != (ProxyProtocol{}),
		"access_log":        s.AccessLog != nil,
	}
}

func isNetmask(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	b := a.As4()
	hostBits := ^(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
	return hostBits&(hostBits+1) == 0 // ones from the top, then zeros
}

func (v *validator) proxyService(p string, s *Service) {
	t := s.Timeouts
	for name, d := range map[string]Duration{
		"connect": t.Connect, "client": t.Client, "server": t.Server, "http_request": t.HTTPRequest,
		"http_keep_alive": t.HTTPKeepAlive, "queue": t.Queue, "udp_session": t.UDPSession,
	} {
		v.positive(p+".timeouts."+name, d)
	}
	if s.MaxConn < 0 {
		v.errorf(p+".max_conn", "must not be negative (0 is unlimited)")
	}
	if s.MaxQueue < 0 {
		v.errorf(p+".max_queue", "must not be negative")
	}
	v.intRange(p+".retries", s.Retries, 0, 100)
	v.oneOf(p+".on_down", s.OnDown, "", "shutdown_sessions")
	v.oneOf(p+".proxy_protocol.send", s.ProxyProtocol.Send, "", "v1", "v2")
	http := s.Protocol == "http"
	if s.Protocol == "udp" && s.ProxyProtocol != (ProxyProtocol{}) {
		v.errorf(p+".proxy_protocol", "applies to tcp and http, not udp")
	}
	if s.TLS != nil {
		if s.Protocol != "http" {
			// The proxy refuses it: serving plaintext where TLS was asked
			// for would be worse than not starting.
			v.errorf(p+".tls", "applies to protocol: http only (TLS for protocol %s is not supported yet)", s.Protocol)
		} else {
			v.tls(p+".tls", s.TLS)
		}
	}
	if http && s.ProxyProtocol.Send != "" {
		v.errorf(p+".proxy_protocol.send", "not supported with protocol http: backend connections are shared between clients, and a PROXY header names one")
	}
	if s.AccessLog != nil {
		if s.Protocol == "udp" {
			v.errorf(p+".access_log", "applies to tcp and http, not udp: a udp session has no end to log")
		} else if v.isSet(p + ".access_log") {
			// Not set here: a copy of log.access, whose problems are reported there.
			v.accessLog(p+".access_log", s.AccessLog)
		}
	}
	for f, used := range map[string]bool{"h2c": s.H2C, "http2_max_streams": s.HTTP2MaxStreams != 0, "sticky": s.Sticky != nil, "routes": len(s.Routes) > 0} {
		if used && !http {
			v.errorf(p+"."+f, "applies to protocol: http only")
		}
	}
	if s.HTTP2MaxStreams < 0 || s.HTTP2MaxStreams > 1<<20 {
		v.errorf(p+".http2_max_streams", "must be between 1 and 1048576 (0: the default, 100)")
	}
	if s.Sticky != nil {
		if s.Sticky.Cookie == "" {
			v.errorf(p+".sticky.cookie", "required: the cookie name")
		} else if !ValidCookieName(s.Sticky.Cookie) {
			v.errorf(p+".sticky.cookie", "%q is not a cookie name: use letters, digits and !#$%%&'*+-.^_`|~ (RFC 6265)", s.Sticky.Cookie)
		}
	}
	for j, r := range s.Routes {
		rp := fmt.Sprintf("%s.routes[%d]", p, j)
		if len(r.Hosts) == 0 && r.PathPrefix == "" {
			v.errorf(rp, "set hosts, path_prefix or both: a route that matches everything hides the service's backends")
		}
		if r.PathPrefix != "" && !strings.HasPrefix(r.PathPrefix, "/") {
			v.errorf(rp+".path_prefix", "%q must start with /", r.PathPrefix)
		}
		if len(r.Backends) == 0 {
			v.errorf(rp+".backends", "required: at least one backend")
		}
		v.backends(rp+".backends", r.Backends, s)
		if r.Balance != "" {
			v.oneOf(rp+".balance", r.Balance, proxyBalances...)
		}
	}
}

// syslogFacilities are the facility names syslog(3) knows, in code order.
var syslogFacilities = []string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "local0", "local1", "local2", "local3", "local4", "local5",
	"local6", "local7"}

func (v *validator) accessLog(p string, a *AccessLog) {
	v.oneOf(p+".format", a.Format, "haproxy", "json", "combined")
	v.oneOf(p+".facility", a.Facility, syslogFacilities...)
	to := a.To
	switch {
	case to == "":
		v.errorf(p+".to", "required: stdout, stderr, a file path, syslog://HOST:PORT, syslog:///dev/log or off")
	case to == "stdout", to == "stderr", to == "off":
	case strings.HasPrefix(to, "syslog://"):
		rest := strings.TrimPrefix(to, "syslog://")
		if strings.HasPrefix(rest, "/") {
			if v.host != nil && !v.host.SocketExists(rest) {
				v.hostf(p+".to", "%q: no unix socket at %s on this host (is a syslog daemon running?)", to, rest)
			}
			return
		}
		if strings.ContainsAny(rest, "/?#@") {
			v.errorf(p+".to", "%q: want syslog://HOST:PORT, nothing after the port", to)
			return
		}
		if _, _, err := net.SplitHostPort(rest); err != nil {
			rest = net.JoinHostPort(strings.Trim(rest, "[]"), "514")
		}
		v.hostPort(p+".to", rest)
	case filepath.IsAbs(to):
		if to != filepath.Clean(to) || strings.HasSuffix(to, "/") {
			v.errorf(p+".to", "%q is not a clean file path (want %s)", to, filepath.Clean(to))
		} else if v.host != nil && !v.host.DirExists(filepath.Dir(to)) {
			v.hostf(p+".to", "directory %q does not exist on this host", filepath.Dir(to))
		}
	default:
		v.errorf(p+".to", "%q is not stdout, stderr, an absolute file path, syslog://HOST:PORT, syslog:///PATH or off", to)
	}
}

func (v *validator) tls(p string, t *TLS) {
	if len(t.Certs) == 0 {
		v.errorf(p+".certs", "required: at least one cert/key pair")
	}
	for j, c := range t.Certs {
		cp := fmt.Sprintf("%s.certs[%d]", p, j)
		if c.Cert == "" {
			v.errorf(cp+".cert", "required: the PEM certificate chain file")
		} else {
			v.file(cp+".cert", c.Cert)
		}
		if c.Key == "" {
			v.errorf(cp+".key", "required: the PEM private key file")
		} else {
			v.file(cp+".key", c.Key)
		}
		if v.host != nil && c.Cert != "" && c.Key != "" && v.host.FileExists(c.Cert) && v.host.FileExists(c.Key) {
			if err := v.host.KeyPairLoads(c.Cert, c.Key); err != nil {
				v.hostf(cp, "cert and key do not load as a TLS key pair: %v", err)
			}
		}
	}
	v.oneOf(p+".min_version", t.MinVersion, "1.2", "1.3")
}

// servicesTogether checks listen clashes and that each service VIP is owned by
// some VRRP instance.
func (v *validator) servicesTogether(c *Config) {
	type listenKey struct {
		ap  netip.AddrPort
		udp bool
	}
	names := map[string]int{}
	listens := map[listenKey]int{}
	fwmarks := map[uint32]int{}
	vips := map[netip.Addr]bool{}
	for _, in := range c.VRRP {
		for _, vip := range in.VIPs {
			vips[vip.Address.Addr()] = true
		}
	}
	for i, s := range c.Services {
		p := servicePath(i)
		if j, ok := names[s.Name]; ok && s.Name != "" {
			v.errorf(p+".name", "%q is also the name of %s", s.Name, servicePath(j))
		} else {
			names[s.Name] = i
		}
		if s.Fwmark != 0 {
			if j, ok := fwmarks[s.Fwmark]; ok {
				v.errorf(p+".fwmark", "fwmark %d is also used by %s (%s)", s.Fwmark, servicePath(j), c.Services[j].Name)
			}
			fwmarks[s.Fwmark] = i
		}
		if !s.Listen.IsValid() {
			continue
		}
		k := listenKey{s.Listen, s.Protocol == "udp"}
		if j, ok := listens[k]; ok {
			v.errorf(p+".listen", "%s is also the listen address of %s (%s)", s.Listen, servicePath(j), c.Services[j].Name)
		} else {
			listens[k] = i
		}
		a := s.Listen.Addr()
		if len(c.VRRP) > 0 && !a.IsUnspecified() && !vips[a] {
			v.warnf(p+".listen", "%s is not a VIP of any vrrp instance; the service answers only where this address exists", a)
		}
	}
}

func (v *validator) lvsGlobal(c *Config) {
	s := c.LVS.Sync
	if s == nil {
		return
	}
	if s.Interface == "" {
		v.errorf("lvs.sync.interface", "required: the interface that carries connection sync")
	} else {
		v.iface("lvs.sync.interface", s.Interface)
	}
	v.intRange("lvs.sync.id", s.ID, 0, 255)
	if s.Instance == "" {
		v.errorf("lvs.sync.instance", "required: the vrrp instance whose state picks master or backup role")
		return
	}
	for _, in := range c.VRRP {
		if in.Name == s.Instance {
			return
		}
	}
	v.errorf("lvs.sync.instance", "no vrrp instance named %q", s.Instance)
}

func (v *validator) alerts(a *Alerts) {
	for i, w := range a.Webhooks {
		p := fmt.Sprintf("alerts.webhooks[%d]", i)
		u, err := url.Parse(w.URL)
		if w.URL == "" {
			v.errorf(p+".url", "required: the http(s) URL to POST to")
		} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errorf(p+".url", "%q is not an http:// or https:// URL", w.URL)
		}
		v.positive(p+".timeout", w.Timeout)
	}
	if e := a.Email; e != nil {
		if e.SMTPServer == "" {
			v.errorf("alerts.email.smtp_server", "required: host:port of the SMTP server")
		} else {
			v.hostPort("alerts.email.smtp_server", e.SMTPServer)
		}
		if !strings.Contains(e.From, "@") {
			v.errorf("alerts.email.from", "%q is not an e-mail address", e.From)
		}
		if len(e.To) == 0 {
			v.errorf("alerts.email.to", "required: at least one recipient")
		}
		for i, to := range e.To {
			if !strings.Contains(to, "@") {
				v.errorf(fmt.Sprintf("alerts.email.to[%d]", i), "%q is not an e-mail address", to)
			}
		}
	}
}

// isDefaultField reports whether a check's field (by YAML name) holds its
// default value, so a printed effective config does not trip the rule that
// fields of other check types are mistakes.
func isDefaultField(ch *Check, field string) bool {
	def := &Check{}
	def.setDefaults()
	idx, _ := fieldsOf(reflect.TypeFor[Check]())
	i, ok := idx[field]
	if !ok {
		return false
	}
	got := reflect.ValueOf(ch).Elem().Field(i)
	return got.IsZero() || (got.Kind() == reflect.Slice && got.Len() == 0) || reflect.DeepEqual(got.Interface(), reflect.ValueOf(def).Elem().Field(i).Interface())
}

// ValidCookieName reports whether name is an RFC 6265 cookie name (an
// RFC 7230 token): what the proxy may put in a Set-Cookie header as it is.
func ValidCookieName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Runnable reports whether c gives the daemon anything to run: vigil run
// refuses a config without a VRRP instance or a service, and vigil check
// says so too, although such a file is valid as far as it goes.
func Runnable(c *Config) error {
	if len(c.VRRP) == 0 && len(c.Services) == 0 {
		return fmt.Errorf("%s: nothing to run: no vrrp instances and no services", c.File)
	}
	return nil
}
