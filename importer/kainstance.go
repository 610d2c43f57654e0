package importer

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// kaInstance is one vrrp_instance being converted.
type kaInstance struct {
	out    *outInstance
	family string // "4" or "6", from the first VIP
	vips   map[netip.Addr]bool
	// notifyState holds notify_master/backup/fault/stop programs, to suggest
	// the one dispatching notify program vigil needs.
	notifyState map[string]string
	notifyPos   pos
}

func (c *kaConverter) instance(b *kaNode) {
	if !needArg(c.notes, b) {
		return
	}
	in := &kaInstance{
		out:         &outInstance{Name: c.instanceNames.make(b.arg(0))},
		vips:        map[netip.Addr]bool{},
		notifyState: map[string]string{},
	}
	version := c.version
	advert := time.Second
	garp := c.garp
	vridSet := false
	var trackScripts, vipBlocks []*kaNode
	for _, n := range b.kids {
		switch n.key {
		case "version":
			if v, ok := integer(c.notes, n, n.arg(0), 2, 3); ok {
				version = v
			}
		}
	}
	for _, n := range b.kids {
		switch n.key {
		case "version":
		case "interface":
			if needArg(c.notes, n) && c.iface(n, n.arg(0)) {
				in.out.Interface = n.arg(0)
			}
		case "virtual_router_id":
			if v, ok := integer(c.notes, n, n.arg(0), 1, 255); ok {
				in.out.VRID, vridSet = v, true
			}
		case "priority":
			if v, ok := integer(c.notes, n, n.arg(0), 1, 255); ok && v != 100 {
				in.out.Priority = v
			}
		case "advert_int":
			if d, ok := seconds(c.notes, n, n.arg(0)); ok && d > 0 {
				advert = d
			}
		case "state":
			c.notes.ignored(n.pos, n.key, "vigil starts every instance as backup and elects the master by priority, as keepalived does after start")
		case "nopreempt":
			in.out.Preempt = boolPtr(false)
		case "preempt":
			c.notes.ignored(n.pos, n.key, "vigil preempts by default")
		case "preempt_delay":
			if d, ok := seconds(c.notes, n, n.arg(0)); ok && d > 0 {
				in.out.PreemptDelay = fmtDuration(d)
			}
		case "unicast_src_ip":
			if a, ok := parseAddr(n.arg(0)); ok {
				in.out.UnicastSource = a.String()
			} else {
				c.notes.unsupported(n.pos, n.key, "%q is not an IP address; left out", n.arg(0))
			}
		case "unicast_peer":
			for _, p := range n.kids {
				a, ok := parseAddr(p.key)
				if !ok {
					c.notes.unsupported(p.pos, p.key, "not an IP address; left out of unicast_peer")
					continue
				}
				if len(p.args) > 0 {
					c.notes.unsupported(p.pos, p.key, "peer options (%s) are not supported; the peer is kept", strings.Join(p.args, " "))
				}
				in.out.UnicastPeers = append(in.out.UnicastPeers, a.String())
			}
		case "authentication":
			c.authentication(in, n, version)
		case "virtual_ipaddress", "virtual_ipaddress_excluded":
			vipBlocks = append(vipBlocks, n) // after the interface is known
		case "track_interface":
			for _, t := range n.kids {
				w, ok := trackWeight(c.notes, t, 0)
				if ok && c.iface(t, t.key) {
					in.out.Track = append(in.out.Track, outTrack{Interface: t.key, Weight: w})
				}
			}
		case "track_script":
			trackScripts = append(trackScripts, n.kids...) // after the VIPs are known
		case "notify":
			if prog, ok := c.notifyProgram(n); ok {
				in.out.Notify = prog
			}
		case "notify_master", "notify_backup", "notify_fault", "notify_stop":
			if needArg(c.notes, n) {
				if len(in.notifyState) == 0 {
					in.notifyPos = n.pos
				}
				in.notifyState[strings.ToUpper(strings.TrimPrefix(n.key, "notify_"))] = strings.Join(n.args, " ")
			}
		case "garp_master_delay", "garp_master_repeat", "garp_interval", "garp_master_refresh", "garp_master_refresh_repeat":
			c.garpSetting(&garp, n, n.key)
		case "accept", "no_accept":
			c.notes.ignored(n.pos, n.key, "vigil's VIPs are ordinary addresses, so the master always accepts traffic to them")
		case "smtp_alert":
			c.notes.ignored(n.pos, n.key, "with alerts.email set, vigil mails every transition")
		case "debug", "strict_mode", "skip_check_adv_addr", "check_unicast_src", "notify_priority_changes", "kernel_rx_buf_size":
			c.notes.ignored(n.pos, n.key, "no equivalent in vigil; it does not change which node owns the VIPs")
		case "dont_track_primary":
			c.notes.unsupported(n.pos, n.key, "vigil always faults an instance whose interface is down")
		case "lvs_sync_daemon_interface":
			// The old form: the sync daemon follows this instance, sync id 0.
			if needArg(c.notes, n) {
				c.setSyncDaemon(&kaSyncDaemon{pos: n.pos, key: n.key, iface: n.arg(0), instance: b.arg(0)})
			}
		case "virtual_routes", "virtual_rules":
			c.notes.unsupported(n.pos, n.key, "vigil moves only addresses; add the routes in a notify program")
		case "mcast_src_ip":
			c.notes.unsupported(n.pos, n.key, "vigil sends multicast adverts from the interface's primary address; use unicast_peer with unicast_src_ip to choose the source")
		case "use_vmac", "vmac_xmit_base", "native_ipv6":
			c.notes.unsupported(n.pos, n.key, "vigil has no VMAC interfaces; the VIPs live on the interface itself")
		default:
			c.notes.unsupported(n.pos, n.key, "vigil has no equivalent; not converted")
		}
	}
	for _, n := range vipBlocks {
		for _, v := range n.kids {
			c.vip(in, v, n.key == "virtual_ipaddress_excluded")
		}
	}
	for _, t := range trackScripts {
		c.trackScript(in, t)
	}
	c.notifyDispatch(in)

	switch {
	case in.out.Interface == "":
		c.notes.unsupported(b.pos, b.key, "%s has no interface, so it is not converted", b.arg(0))
		return
	case !vridSet:
		c.notes.unsupported(b.pos, b.key, "%s has no valid virtual_router_id, so it is not converted", b.arg(0))
		return
	case len(in.out.VIPs) == 0:
		c.notes.unsupported(b.pos, b.key, "%s has no usable virtual_ipaddress, so it is not converted", b.arg(0))
		return
	}
	if version == 2 && in.family == "6" {
		version = 3
		c.notes.ignored(b.pos, b.key, "%s is IPv6, which keepalived too runs on VRRP v3", b.arg(0))
	}
	if version == 2 {
		in.out.Version = 2 // keepalived's default; vigil's is 3
		if advert%time.Second != 0 {
			r := max(advert.Round(time.Second), time.Second)
			c.notes.changed(b.pos, "advert_int", "VRRP v2 carries whole seconds; %s becomes %s", advert, r)
			advert = r
		}
	} else if r := max(advert.Round(10*time.Millisecond), 10*time.Millisecond); r != advert {
		c.notes.changed(b.pos, "advert_int", "VRRP v3 carries centiseconds; %s becomes %s", advert, r)
		advert = r
	}
	if advert != time.Second {
		in.out.AdvertInterval = fmtDuration(advert)
	}
	c.unicast(in, b)
	if garp != (outGARP{}) {
		in.out.GARP = &garp
	}
	// keepalived lowers no priority because a virtual server lost its real
	// servers; vigil's automatic service tracking would, so it is off and
	// only explicit tracks move the VIP.
	in.out.AutoTrack = &outAutoTrack{Services: false}
	if !c.claimRouter(in, b) {
		return
	}
	c.instances[b.arg(0)] = in.out.Name
	c.out.VRRP = append(c.out.VRRP, in.out)
}

func (c *kaConverter) authentication(in *kaInstance, n *kaNode, version int) {
	// The block may be written on one line: { auth_type PASS auth_pass x }.
	var words []string
	for _, k := range n.kids {
		words = append(words, k.key)
		words = append(words, k.args...)
	}
	var typ, pass string
	for i := 0; i+1 < len(words); i++ {
		switch words[i] {
		case "auth_type":
			typ = words[i+1]
			i++
		case "auth_pass":
			pass = words[i+1]
			i++
		}
	}
	switch {
	case version != 2:
		c.notes.ignored(n.pos, n.key, "VRRP v3 has no authentication (keepalived ignores it too)")
	case strings.EqualFold(typ, "AH"):
		c.notes.unsupported(n.pos, n.key, "vigil has no IPsec AH authentication; peers must use auth_type PASS or none")
	case pass != "":
		in.out.AuthPass = pass
	default:
		c.notes.unsupported(n.pos, n.key, "no auth_type PASS with auth_pass found; left out")
	}
}

// trackWeight reads "NAME [weight N]" of track_interface and track_script.
func trackWeight(ns *notes, t *kaNode, def int) (int, bool) {
	switch {
	case len(t.args) == 0:
		return def, true
	case len(t.args) >= 2 && t.args[0] == "weight":
		w, ok := integer(ns, t, t.args[1], -254, 254)
		if len(t.args) > 2 {
			ns.unsupported(t.pos, t.key, "%s: vigil has no reverse tracking; left as a plain weight", strings.Join(t.args[2:], " "))
		}
		return w, ok
	}
	ns.unsupported(t.pos, t.key, "expected %q or %q followed by weight N; left out", t.key, t.key)
	return 0, false
}

func (c *kaConverter) trackScript(in *kaInstance, t *kaNode) {
	s, ok := c.scripts[t.key]
	if !ok {
		c.notes.unsupported(t.pos, t.key, "no converted vrrp_script of this name; the track is left out")
		return
	}
	w, ok := trackWeight(c.notes, t, s.weight)
	if !ok {
		return
	}
	if c.replaceWithServices(in, s, t, w) {
		return
	}
	s.used = true
	if c.out.Checks == nil {
		c.out.Checks = map[string]*outCheck{}
	}
	c.out.Checks[s.name] = s.check
	in.out.Track = append(in.out.Track, outTrack{Check: s.name, Weight: w})
}

// notifyDispatch reports notify_master/backup/fault/stop with the single
// program vigil would need in their place.
func (c *kaConverter) notifyDispatch(in *kaInstance) {
	if len(in.notifyState) == 0 {
		return
	}
	var cases []string
	for _, st := range []string{"MASTER", "BACKUP", "FAULT", "STOP"} {
		if prog, ok := in.notifyState[st]; ok {
			cases = append(cases, fmt.Sprintf("%s) exec %s ;;", st, prog))
		}
	}
	msg := "vigil runs one notify program, called as PROGRAM INSTANCE " + in.out.Name + " STATE PRIORITY; " +
		"save this as a script and set notify to it: #!/bin/sh; case \"$3\" in " + strings.Join(cases, " ") + " esac"
	if in.out.Notify != "" {
		msg += " (and call " + in.out.Notify + " \"$@\" from it, since notify takes one program)"
	}
	c.notes.unsupported(in.notifyPos, "notify_master/backup/fault/stop", "%s", msg)
}

// unicast drops a unicast source without peers and peers of the other family.
func (c *kaConverter) unicast(in *kaInstance, b *kaNode) {
	fam := func(s string) string {
		if a, _ := netip.ParseAddr(s); a.Is6() {
			return "6"
		}
		return "4"
	}
	var peers []string
	seen := map[string]bool{}
	for _, p := range in.out.UnicastPeers {
		switch {
		case fam(p) != in.family:
			c.notes.unsupported(b.pos, "unicast_peer", "%s is not of the instance's address family; left out", p)
		case p == in.out.UnicastSource:
			c.notes.ignored(b.pos, "unicast_peer", "%s is this node's unicast_src_ip; vigil lists only the other nodes", p)
		case seen[p]:
		default:
			seen[p] = true
			peers = append(peers, p)
		}
	}
	in.out.UnicastPeers = peers
	if in.out.UnicastSource != "" && (len(peers) == 0 || fam(in.out.UnicastSource) != in.family) {
		c.notes.ignored(b.pos, "unicast_src_ip", "used only with unicast peers of the same family; left out")
		in.out.UnicastSource = ""
	}
}

// iface accepts a Linux interface name (at most 15 bytes) and notes any other.
func (c *kaConverter) iface(n *kaNode, name string) bool {
	if name == "" || len(name) > 15 || strings.ContainsAny(name, "/ ") {
		c.notes.unsupported(n.pos, n.key, "%q is not a Linux interface name (at most 15 bytes); left out", name)
		return false
	}
	return true
}

// claimRouter refuses an instance that repeats another's interface, family
// and vrid, or holds a VIP another already holds: keepalived refuses such
// configs too, and two routers cannot own one address.
func (c *kaConverter) claimRouter(in *kaInstance, b *kaNode) bool {
	key := fmt.Sprintf("%s/%s/%d", in.out.Interface, in.family, in.out.VRID)
	if other, ok := c.routers[key]; ok {
		c.notes.unsupported(b.pos, b.key, "%s uses vrid %d on %s like %s; each virtual router on a link needs its own vrid, so it is not converted", b.arg(0), in.out.VRID, in.out.Interface, other)
		return false
	}
	for a := range in.vips {
		if other, ok := c.vipOwner[a]; ok {
			c.notes.unsupported(b.pos, b.key, "%s holds %s like %s; two routers cannot own one address, so it is not converted", b.arg(0), a, other)
			return false
		}
	}
	c.routers[key] = b.arg(0)
	for a := range in.vips {
		c.vipOwner[a] = b.arg(0)
	}
	return true
}
