package importer

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// lvsSchedulers are the IPVS schedulers vigil accepts as balance.
var lvsSchedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "sh", "mh", "dh", "sed", "nq", "fo", "ovf"}

// kaVS is one virtual_server being converted.
type kaVS struct {
	out      *outService
	addr     netip.Addr // invalid for fwmark services
	port     int
	interval time.Duration // delay_loop, the checkers' default interval
	alpha    bool
	quorum   int
	weights  []int
	// check is the first real server's checker, which becomes the
	// service's one check; checkFrom says where it was written.
	check     *outCheck
	checkFrom pos
}

// virtualServer converts "virtual_server IP PORT" and "virtual_server fwmark N".
func (c *kaConverter) virtualServer(b *kaNode) {
	vs := &kaVS{out: &outService{Mode: "lvs"}, interval: time.Minute, quorum: 1}
	switch {
	case b.arg(0) == "fwmark":
		mark, err := strconv.ParseUint(b.arg(1), 10, 32)
		if err != nil || mark == 0 {
			c.notes.unsupported(b.pos, b.key, "fwmark %q is not a number from 1; not converted", b.arg(1))
			return
		}
		vs.out.Fwmark = uint32(mark)
		vs.out.Name = c.services.names.make(fmt.Sprintf("fwmark-%d", mark))
	case b.arg(0) == "group":
		c.notes.unsupported(b.pos, b.key, "virtual_server group: vigil has no service groups; write one virtual_server per address and import again")
		return
	default:
		a, ok := parseAddr(b.arg(0))
		port, err := strconv.Atoi(b.arg(1))
		if !ok || err != nil || port < 1 || port > 65535 {
			c.notes.unsupported(b.pos, b.key, "%q is not \"IP PORT\" or \"fwmark N\"; not converted", strings.Join(b.args, " "))
			return
		}
		vs.addr, vs.port = a, port
		vs.out.Listen = addrPort(a, port)
		vs.out.Name = c.services.names.make(strings.NewReplacer(":", "-").Replace(fmt.Sprintf("vs-%s-%d", a, port)))
	}
	lvs := &outLVS{}
	for _, n := range b.kids {
		if n.key == "delay_loop" {
			if d, ok := seconds(c.notes, n, n.arg(0)); ok && d > 0 {
				vs.interval = d
			}
		}
	}
	var realServers []*kaNode
	var granularity string
	var granularityPos pos
	for _, n := range b.kids {
		switch n.key {
		case "delay_loop":
		case "lb_algo", "lvs_sched":
			switch s := strings.ToLower(n.arg(0)); {
			case slices.Contains(lvsSchedulers, s):
				if s != "wlc" {
					vs.out.Balance = s
				}
			default:
				c.notes.unsupported(n.pos, n.key, "%q is not an IPVS scheduler vigil knows (%s); wlc is used", n.arg(0), strings.Join(lvsSchedulers, " "))
			}
		case "lb_kind", "lvs_method":
			switch s := strings.ToLower(n.arg(0)); s {
			case "nat":
			case "dr", "tun":
				lvs.Forward = s
				if len(n.args) > 1 {
					c.notes.unsupported(n.pos, n.key, "tunnel options (%s) are not supported; plain IPIP is used", strings.Join(n.args[1:], " "))
				}
			default:
				c.notes.unsupported(n.pos, n.key, "%q is not NAT, DR or TUN; NAT is used", n.arg(0))
			}
		case "protocol":
			switch s := strings.ToLower(n.arg(0)); s {
			case "tcp":
			case "udp", "sctp":
				vs.out.Protocol = s
			default:
				c.notes.unsupported(n.pos, n.key, "%q is not TCP, UDP or SCTP; TCP is used", n.arg(0))
			}
		case "persistence_timeout":
			d := 6 * time.Minute // keepalived's value when none is given
			if len(n.args) > 0 {
				var ok bool
				if d, ok = seconds(c.notes, n, n.arg(0)); !ok {
					continue
				}
			}
			if d > 0 {
				lvs.Persistence = fmtDuration(d)
			}
		case "persistence_granularity":
			if needArg(c.notes, n) {
				granularity, granularityPos = n.arg(0), n.pos
			}
		case "sorry_server":
			c.sorryServer(vs, lvs, n)
		case "inhibit_on_failure":
			lvs.InhibitOnFailure = true
		case "quorum":
			if v, ok := integer(c.notes, n, n.arg(0), 1, 1<<20); ok {
				vs.quorum = v
			}
		case "hysteresis":
			if v, ok := integer(c.notes, n, n.arg(0), 0, 1<<20); ok {
				vs.out.Hysteresis = v
			}
		case "quorum_up", "quorum_down":
			if prog, ok := c.notifyProgram(n); ok {
				if n.key == "quorum_up" {
					vs.out.QuorumUp = prog
				} else {
					vs.out.QuorumDown = prog
				}
			}
		case "alpha":
			vs.alpha = true
		case "virtualhost":
			// read by the HTTP checkers below
		case "real_server":
			realServers = append(realServers, n)
		case "retry", "nb_get_retry", "delay_before_retry", "warmup", "connect_timeout":
			// defaults for the checkers below, read there
		case "ha_suspend", "omega", "ops", "one_packet_scheduling", "sorry_server_inhibit", "sorry_server_lvs_method",
			"lvs_flags", "lb_flags", "flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback", "ip_family":
			c.notes.unsupported(n.pos, n.key, "not supported for vigil lvs services; not converted")
		default:
			c.notes.unsupported(n.pos, n.key, "unknown virtual_server keyword; not converted")
		}
	}
	for _, rs := range realServers {
		c.realServer(vs, lvs, rs, b)
	}
	if len(vs.out.Backends) == 0 {
		c.notes.unsupported(b.pos, b.key, "%s has no usable real_server, so it is not converted", b.describe())
		return
	}
	if vs.check != nil {
		if vs.alpha {
			vs.check.Initial = ""
		} else {
			vs.check.Initial = "up" // keepalived counts a real server up until its first failure
		}
		vs.out.Check = vs.check
	}
	if granularity != "" {
		v6 := vs.addr.Is6()
		if !vs.addr.IsValid() {
			v6 = mustAddr(vs.out.Backends[0].Address).Is6()
		}
		if validNetmask(granularity, v6) {
			lvs.PersistenceNetmask = granularity
		} else {
			c.notes.unsupported(granularityPos, "persistence_granularity", "%q is not a netmask or prefix length of the service's family; left out", granularity)
		}
	}
	c.quorum(vs, b)
	if *lvs != (outLVS{}) {
		vs.out.LVS = lvs
	}
	if other, ok := c.services.claim(vs.out); !ok {
		c.notes.unsupported(b.pos, b.key, "%s serves the same address or fwmark as %s; not converted", b.describe(), other)
		return
	}
	c.out.Services = append(c.out.Services, vs.out)
}

func (c *kaConverter) sorryServer(vs *kaVS, lvs *outLVS, n *kaNode) {
	a, ok := parseAddr(n.arg(0))
	port := vs.port
	if len(n.args) > 1 {
		p, err := strconv.Atoi(n.arg(1))
		if err != nil || p < 1 || p > 65535 {
			ok = false
		}
		port = p
	}
	if !ok || port == 0 || (vs.addr.IsValid() && a.Is4() != vs.addr.Is4()) {
		c.notes.unsupported(n.pos, n.key, "%q is not an address and port of the service's family; left out", strings.Join(n.args, " "))
		return
	}
	lvs.SorryServer = addrPort(a, port)
}

// realServer converts one real_server and its checkers.
func (c *kaConverter) realServer(vs *kaVS, lvs *outLVS, rs *kaNode, b *kaNode) {
	a, ok := parseAddr(rs.arg(0))
	port := vs.port
	if len(rs.args) > 1 {
		p, err := strconv.Atoi(rs.arg(1))
		if err != nil || p < 1 || p > 65535 {
			ok = false
		}
		port = p
	}
	switch {
	case !ok:
		c.notes.unsupported(rs.pos, rs.key, "%q is not \"IP [PORT]\"; left out", strings.Join(rs.args, " "))
		return
	case port == 0:
		c.notes.unsupported(rs.pos, rs.key, "vigil needs each real server's port: its config has no port-less real server, which keepalived's fwmark services use to keep the client's port; add one and import again")
		return
	case vs.addr.IsValid() && a.Is4() != vs.addr.Is4():
		c.notes.unsupported(rs.pos, rs.key, "%s is not of the service's address family; left out", a)
		return
	case lvs.Forward != "" && vs.port != 0 && port != vs.port:
		c.notes.unsupported(rs.pos, rs.key, "%s forwarding cannot change the port (%d to %d); left out", strings.ToUpper(lvs.Forward), vs.port, port)
		return
	}
	be := outBackend{Address: addrPort(a, port)}
	for _, prev := range vs.out.Backends {
		if prev.Address == be.Address {
			c.notes.unsupported(rs.pos, rs.key, "%s is listed twice; left out", be.Address)
			return
		}
	}
	if len(vs.out.Backends) > 0 && vs.out.Fwmark != 0 && a.Is4() != mustAddr(vs.out.Backends[0].Address).Is4() {
		c.notes.unsupported(rs.pos, rs.key, "%s is not of the family of the other real servers; left out", a)
		return
	}
	weight := 1
	first := true
	for _, n := range rs.kids {
		switch n.key {
		case "weight":
			if v, ok := integer(c.notes, n, n.arg(0), 0, 65535); ok {
				weight = v
				if v != 1 {
					be.Weight = intPtr(v)
				}
			}
		case "inhibit_on_failure":
			if !lvs.InhibitOnFailure {
				lvs.InhibitOnFailure = true
				c.notes.changed(n.pos, n.key, "vigil sets inhibit_on_failure per service; it now applies to every real server of %s", b.describe())
			}
		case "TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "DNS_CHECK", "UDP_CHECK":
			ch := c.checker(vs, n, b, rs, port)
			switch {
			case ch == nil:
			case !first:
				c.notes.unsupported(n.pos, n.key, "vigil runs one check per service; this second checker of the real server is left out")
			case vs.check == nil:
				vs.check, vs.checkFrom = ch, n.pos
			case !reflect.DeepEqual(ch, vs.check):
				c.notes.changed(n.pos, n.key, "vigil runs one check per service; this real server is checked like the first one (%s:%d)", vs.checkFrom.File, vs.checkFrom.Line)
			}
			first = false
		case "SMTP_CHECK", "PING_CHECK", "FILE_CHECK", "BFD_CHECK":
			c.notes.unsupported(n.pos, n.key, "vigil has no such check; use a MISC_CHECK-style exec check (type exec) instead")
		case "retry", "nb_get_retry", "delay_before_retry", "warmup", "connect_timeout":
			// defaults for this real server's checkers, read there
		case "uthreshold", "lthreshold":
			c.notes.unsupported(n.pos, n.key, "vigil does not set IPVS connection thresholds")
		case "notify_up", "notify_down":
			c.notes.unsupported(n.pos, n.key, "vigil has no per-real-server hooks; use the service's quorum_up/quorum_down or alerts")
		default:
			c.notes.unsupported(n.pos, n.key, "unknown real_server keyword; not converted")
		}
	}
	vs.weights = append(vs.weights, weight)
	vs.out.Backends = append(vs.out.Backends, be)
}

func mustAddr(s string) netip.Addr {
	ap, _ := netip.ParseAddrPort(s)
	return ap.Addr()
}

// quorum converts keepalived's weight-based quorum into vigil's count of
// backends that must be up.
func (c *kaConverter) quorum(vs *kaVS, b *kaNode) {
	q, h := vs.quorum, vs.out.Hysteresis
	allOne := true
	for _, w := range vs.weights {
		allOne = allOne && w == 1
	}
	if (q != 1 || h != 0) && !allOne {
		c.notes.changed(b.pos, "quorum", "keepalived's quorum counts the weight of live real servers, vigil's counts live backends; %d is kept as a count", q)
	}
	if n := len(vs.out.Backends); q > n {
		c.notes.changed(b.pos, "quorum", "%d is more than the %d real servers; lowered to %d", q, n, n)
		q = n
	}
	if h >= q {
		c.notes.changed(b.pos, "hysteresis", "%d must be below the quorum %d; lowered to %d", h, q, q-1)
		h = q - 1
	}
	if q != 1 {
		vs.out.Quorum = q
	}
	vs.out.Hysteresis = h
}

// validNetmask accepts what IPVS takes as persistence granularity: an IPv4
// netmask or prefix length, or an IPv6 prefix length.
func validNetmask(s string, v6 bool) bool {
	if n, err := strconv.Atoi(s); err == nil {
		if v6 {
			return n >= 1 && n <= 128
		}
		return n >= 0 && n <= 32
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() || v6 {
		return false
	}
	b := a.As4()
	host := ^(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
	return host&(host+1) == 0
}
