package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The rules of the services: section (proxy and lvs) and lvs:.

// ProxyBalances are the balance algorithms of mode: proxy services, the
// names package balance builds; the only list of them.
var ProxyBalances = []string{"roundrobin", "leastconn", "source", "uri", "random"}

var (
	proxyProtocols = []string{"tcp", "udp", "http"}
	lvsProtocols   = []string{"tcp", "udp", "sctp"}
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
		v.oneOf(p+".balance", s.Balance, ProxyBalances...)
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
			v.oneOf(rp+".balance", r.Balance, ProxyBalances...)
		}
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
				v.hostf(cp, "cert %s and key %s do not load as a TLS key pair: %v", c.Cert, c.Key, err)
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
