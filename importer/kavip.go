package importer

import (
	"net/netip"
	"strings"
)

// vip converts one virtual_ipaddress line: ADDR[/LEN] [dev D] [label L] [scope S] ...
func (c *kaConverter) vip(in *kaInstance, n *kaNode, excluded bool) {
	p, err := netip.ParsePrefix(n.key)
	if err != nil {
		a, ok := parseAddr(n.key)
		if !ok {
			c.notes.unsupported(n.pos, n.key, "not an IP address; left out of the VIPs")
			return
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	a := p.Addr()
	fam := "4"
	if a.Is6() {
		fam = "6"
	}
	switch {
	case in.family != "" && fam != in.family:
		c.notes.unsupported(n.pos, n.key, "a vigil instance holds one address family; make a second instance (its own vrid) for this address")
		return
	case in.vips[a]:
		c.notes.ignored(n.pos, n.key, "listed twice")
		return
	}
	if excluded {
		c.notes.changed(n.pos, n.key, "vigil has no excluded addresses: this VIP is also listed in the adverts (peers do not compare the lists)")
	}
	words := []string{p.String()}
	if !strings.Contains(n.key, "/") {
		words[0] = a.String() // as written: a bare address is a host address
	}
	var dev string
	seenOpt := map[string]bool{}
	for i := 0; i < len(n.args); i++ {
		opt := n.args[i]
		if i+1 >= len(n.args) {
			c.notes.unsupported(n.pos, opt, "VIP %s: option not supported by vigil or missing its value; left out", p)
			break
		}
		val := n.args[i+1]
		if seenOpt[opt] && (opt == "dev" || opt == "label" || opt == "scope") {
			c.notes.unsupported(n.pos, opt, "VIP %s: given twice; the first is kept", p)
			i++
			continue
		}
		seenOpt[opt] = true
		switch opt {
		case "dev":
			if !c.iface(n, val) {
				return
			}
			dev = val
			words = append(words, opt, val)
		case "scope":
			if val == "global" || val == "site" || val == "link" || val == "host" {
				words = append(words, opt, val)
			} else {
				c.notes.unsupported(n.pos, opt, "scope %q is not one of global, site, link, host; left out", val)
			}
		case "label":
			d := dev
			if d == "" {
				d = labelDev(n.args, in.out.Interface)
			}
			if strings.HasPrefix(val, d) && len(val) <= 15 {
				words = append(words, opt, val)
			} else {
				c.notes.unsupported(n.pos, opt, "label %q must start with the interface name %q (a Linux rule); left out", val, d)
			}
		case "brd", "broadcast":
			c.notes.ignored(n.pos, opt, "vigil adds the VIP with the kernel's default broadcast address")
		default:
			c.notes.unsupported(n.pos, opt, "VIP option not supported by vigil; left out")
			i-- // flags such as no_track take no value
		}
		i++
	}
	in.family = fam
	in.vips[a] = true
	in.out.VIPs = append(in.out.VIPs, strings.Join(words, " "))
}

// labelDev is the device a VIP goes on: its dev option if it has one after
// the label, or the instance's interface.
func labelDev(args []string, iface string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "dev" {
			return args[i+1]
		}
	}
	return iface
}
