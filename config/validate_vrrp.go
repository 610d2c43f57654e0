package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// The rules of the vrrp: and sync_groups: sections.

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
