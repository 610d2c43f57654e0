package importer

import (
	"net/netip"
	"strings"
	"time"
)

// kaConverter maps a parsed keepalived.conf onto vigil's schema.
type kaConverter struct {
	notes *notes
	out   *outConfig

	instanceNames, checkNames *names
	services                  *serviceSpace

	// Settings of global_defs that instances inherit.
	version    int
	garp       outGARP
	scriptUser string

	scripts map[string]*kaScript // by keepalived name
	// instances maps keepalived instance names to the vigil ones emitted.
	instances map[string]string
	// routers and vipOwner keep instances from sharing a vrid or a VIP;
	// grouped keeps an instance in one sync group.
	routers    map[string]string
	vipOwner   map[netip.Addr]string
	grouped    map[string]string
	groupNames *names

	// syncDaemon is lvs_sync_daemon (global) or lvs_sync_daemon_interface
	// (in an instance), resolved once the instances are known.
	syncDaemon *kaSyncDaemon

	// haproxy holds the services imported from haproxy.cfg alongside, whose
	// liveness scripts become service tracking; nil when there is none.
	haproxy []*outService
}

// kaSyncDaemon is keepalived's IPVS sync daemon setting.
type kaSyncDaemon struct {
	pos      pos
	key      string
	iface    string
	instance string // keepalived's instance name
	id       int
}

// kaScript is one vrrp_script, kept until a track_script uses it.
type kaScript struct {
	name   string // vigil check name
	check  *outCheck
	weight int
	pos    pos
	// alive is the process or port an "is HAProxy running" script checks,
	// when it is one; service tracking replaces those.
	alive string
	used  bool
}

func newKAConverter(ns *notes, out *outConfig, services *serviceSpace) *kaConverter {
	return &kaConverter{
		notes: ns, out: out,
		instanceNames: &names{}, checkNames: &names{}, services: services,
		version: 2, // keepalived's default; vigil's is 3
		scripts: map[string]*kaScript{}, instances: map[string]string{},
		routers: map[string]string{}, vipOwner: map[netip.Addr]string{}, grouped: map[string]string{},
		groupNames: &names{},
	}
}

// convert maps the top-level statements. Scripts and global settings are
// read first: keepalived lets an instance use a vrrp_script defined after it.
func (c *kaConverter) convert(top []*kaNode) {
	for _, n := range top {
		switch n.key {
		case "global_defs":
			c.globalDefs(n)
		case "vrrp_script":
			c.vrrpScript(n)
		}
	}
	for _, n := range top {
		switch n.key {
		case "global_defs", "vrrp_script":
		case "vrrp_instance":
			c.instance(n)
		case "vrrp_sync_group":
		case "virtual_server":
			c.virtualServer(n)
		case "virtual_server_group":
			c.notes.unsupported(n.pos, n.key, "vigil has no service groups; write one service per address and import again")
		case "static_ipaddress", "static_routes", "static_rules":
			c.notes.unsupported(n.pos, n.key, "vigil manages only VIPs; configure static addresses and routes with the system's network configuration")
		case "linkbeat_interfaces", "vrrp_track_process", "track_file", "vrrp_track_file", "bfd_instance", "net_namespace":
			c.notes.unsupported(n.pos, n.key, "vigil has no equivalent; track a check (type exec) instead")
		default:
			c.notes.unsupported(n.pos, n.key, "unknown keepalived keyword; not converted")
		}
	}
	// Sync groups last: they name instances, which must be known.
	for _, n := range top {
		if n.key == "vrrp_sync_group" {
			c.syncGroup(n)
		}
	}
	c.lvsSync()
	for _, name := range sortedKeys(c.scripts) {
		if s := c.scripts[name]; !s.used {
			c.notes.ignored(s.pos, "vrrp_script", "%s is not tracked by any instance, so it is not converted", name)
		}
	}
}

func (c *kaConverter) globalDefs(g *kaNode) {
	var mail []*kaNode
	defer func() { c.email(g, mail) }()
	for _, n := range g.kids {
		switch n.key {
		case "router_id":
			if needArg(c.notes, n) {
				c.out.Node = n.arg(0)
			}
		case "script_user":
			if needArg(c.notes, n) {
				c.scriptUser = n.arg(0)
				c.out.ScriptUser = n.arg(0)
				if len(n.args) > 1 {
					c.notes.changed(n.pos, n.key, "vigil runs scripts as the user's own group, not %s", n.arg(1))
				}
			}
		case "enable_script_security":
			c.notes.ignored(n.pos, n.key, "vigil runs scripts with an empty environment and as script_user when set; it does not refuse scripts writable by others, so check their permissions")
		case "vrrp_version":
			if v, ok := integer(c.notes, n, n.arg(0), 2, 3); ok {
				c.version = v
			}
		case "vrrp_garp_master_delay", "vrrp_garp_master_repeat", "vrrp_garp_interval",
			"vrrp_garp_master_refresh", "vrrp_garp_master_refresh_repeat":
			c.garpSetting(&c.garp, n, n.key[len("vrrp_"):])
		case "notification_email", "notification_email_from", "smtp_server":
			mail = append(mail, n)
		case "smtp_connect_timeout", "smtp_helo_name":
			c.notes.ignored(n.pos, n.key, "vigil's mail sender has its own timeout and greeting")
		case "smtp_alert", "smtp_alert_vrrp", "smtp_alert_checker":
			c.notes.ignored(n.pos, n.key, "with alerts.email set, vigil mails every VRRP transition and backend change")
		case "lvs_id":
			// keepalived's old name for router_id.
			if needArg(c.notes, n) && c.out.Node == "" {
				c.out.Node = n.arg(0)
			}
		case "lvs_sync_daemon":
			c.globalSyncDaemon(n)
		case "vrrp_priority", "process_priority":
			// keepalived renices its VRRP process; vigil is one process.
			if v, ok := integer(c.notes, n, n.arg(0), -20, 19); ok {
				c.out.Nice = &v
			}
		case "vrrp_skip_check_adv_addr", "vrrp_check_unicast_src", "vrrp_strict", "vrrp_iptables",
			"vrrp_mcast_group4", "vrrp_mcast_group6", "checker_priority", "enable_traps",
			"enable_snmp_vrrp", "enable_snmp_checker", "enable_snmp_rfc", "vrrp_no_swap", "checker_no_swap",
			"max_auto_priority", "dynamic_interfaces", "vrrp_startup_delay", "lvs_timeouts", "lvs_flush",
			"vrrp_lower_prio_no_advert", "vrrp_higher_prio_send_advert", "vrrp_garp_lower_prio_repeat",
			"vrrp_garp_lower_prio_delay", "vrrp_min_garp", "process_names", "umask":
			c.notes.unsupported(n.pos, n.key, "vigil has no such setting; check that its default behaviour (see docs/design.md, How VRRP behaves) suits you")
		default:
			c.notes.unsupported(n.pos, n.key, "unknown global_defs keyword; not converted")
		}
	}
}

// garpSetting reads one garp_* keyword into g.
func (c *kaConverter) garpSetting(g *outGARP, n *kaNode, key string) {
	if !needArg(c.notes, n) {
		return
	}
	switch key {
	case "garp_master_delay", "garp_interval", "garp_master_refresh":
		d, ok := seconds(c.notes, n, n.arg(0))
		if !ok {
			return
		}
		s := fmtDuration(d)
		switch key {
		case "garp_master_delay":
			g.Delay = s
		case "garp_interval":
			g.Interval = s
		default:
			g.Refresh = s
		}
	case "garp_master_repeat", "garp_master_refresh_repeat":
		v, ok := integer(c.notes, n, n.arg(0), 1, 255)
		if !ok {
			return
		}
		if key == "garp_master_repeat" {
			g.Repeat = v
		} else {
			g.RefreshRepeat = v
		}
	}
}

// vrrpScript reads a vrrp_script into a check, with keepalived's defaults
// written out where vigil's differ (interval 1s, rise 1, fall 1, starts up).
func (c *kaConverter) vrrpScript(b *kaNode) {
	if !needArg(c.notes, b) {
		return
	}
	name := b.arg(0)
	ch := &outCheck{Type: "exec"}
	interval, timeout := time.Second, time.Duration(0)
	rise, fall, weight := 1, 1, 0
	initFail := false
	for _, n := range b.kids {
		switch n.key {
		case "script":
			if needArg(c.notes, n) {
				ch.Command = splitCommand(strings.Join(n.args, " "))
			}
		case "interval":
			if d, ok := seconds(c.notes, n, n.arg(0)); ok && d > 0 {
				interval = d
			}
		case "timeout":
			if d, ok := seconds(c.notes, n, n.arg(0)); ok && d > 0 {
				timeout = d
			}
		case "weight":
			if v, ok := integer(c.notes, n, n.arg(0), -254, 254); ok {
				weight = v
			}
			if n.arg(1) == "reverse" {
				c.notes.unsupported(n.pos, n.key, "vigil has no reverse weight; the weight applies while the script fails, as without reverse")
			}
		case "rise":
			if v, ok := integer(c.notes, n, n.arg(0), 1, 1000); ok {
				rise = v
			}
		case "fall":
			if v, ok := integer(c.notes, n, n.arg(0), 1, 1000); ok {
				fall = v
			}
		case "user":
			if n.arg(0) != c.scriptUser {
				c.notes.unsupported(n.pos, n.key, "vigil runs every script as the one script_user; this script will run as %q", c.scriptUser)
			}
		case "init_fail":
			initFail = true
		default:
			c.notes.unsupported(n.pos, n.key, "unknown vrrp_script keyword; not converted")
		}
	}
	if len(ch.Command) == 0 {
		c.notes.unsupported(b.pos, b.key, "%s has no script, so it is not converted and tracks of it are left out", name)
		return
	}
	if timeout == 0 {
		timeout = interval
	}
	setTiming(ch, interval, timeout, rise, fall)
	if !initFail {
		ch.Initial = "up" // keepalived assumes a script succeeds until it fails
	}
	c.scripts[name] = &kaScript{name: c.checkNames.make(name), check: ch, weight: weight, pos: b.pos, alive: aliveTarget(ch.Command)}
}

// setTiming writes a check's timing, leaving out what equals vigil's defaults.
func setTiming(ch *outCheck, interval, timeout time.Duration, rise, fall int) {
	if interval != 2*time.Second {
		ch.Interval = fmtDuration(interval)
	}
	if timeout != time.Second {
		ch.Timeout = fmtDuration(timeout)
	}
	if rise != 2 {
		ch.Rise = rise
	}
	if fall != 3 {
		ch.Fall = fall
	}
}

func (c *kaConverter) syncGroup(b *kaNode) {
	if !needArg(c.notes, b) {
		return
	}
	g := &outSyncGroup{Name: c.groupNames.make(b.arg(0))}
	for _, n := range b.kids {
		switch n.key {
		case "group":
			for _, m := range n.kids {
				for _, member := range append([]string{m.key}, m.args...) {
					v, ok := c.instances[member]
					switch {
					case ok && c.grouped[v] != "":
						c.notes.unsupported(m.pos, member, "already a member of sync group %s; an instance belongs to one group", c.grouped[v])
					case ok:
						c.grouped[v] = g.Name
						g.Members = append(g.Members, v)
					default:
						c.notes.unsupported(m.pos, member, "no converted vrrp_instance of this name; left out of sync group %s", g.Name)
					}
				}
			}
		case "notify":
			if prog, ok := c.notifyProgram(n); ok {
				g.Notify = prog
			}
		case "notify_master", "notify_backup", "notify_fault", "notify_stop":
			c.notes.unsupported(n.pos, n.key, "vigil runs one notify program per group, called with GROUP %s STATE 0; "+
				"write one that dispatches on the state (case \"$3\" in MASTER) ...;; esac) and set it as notify", g.Name)
		case "smtp_alert":
			c.notes.ignored(n.pos, n.key, "with alerts.email set, vigil mails every transition")
		case "global_tracking", "sync_group_tracking_weight":
			c.notes.ignored(n.pos, n.key, "vigil keeps each member's own tracking; a group moves together when any member changes state")
		default:
			c.notes.unsupported(n.pos, n.key, "not supported in a vigil sync group; track it on each member instance instead")
		}
	}
	if len(g.Members) < 2 {
		c.notes.unsupported(b.pos, b.key, "%s has fewer than two converted members, so it is left out", g.Name)
		for _, m := range g.Members {
			delete(c.grouped, m)
		}
		return
	}
	c.out.SyncGroups = append(c.out.SyncGroups, g)
}

// notifyProgram accepts a notify script vigil can run: one absolute program
// without arguments, since vigil passes keepalived's own arguments.
func (c *kaConverter) notifyProgram(n *kaNode) (string, bool) {
	if !needArg(c.notes, n) {
		return "", false
	}
	words := splitCommand(strings.Join(n.args, " "))
	switch {
	case len(words) == 0:
		return "", false
	case len(words) > 1:
		adds := "TYPE NAME STATE PRIORITY, as keepalived does"
		if strings.HasPrefix(n.key, "quorum") {
			adds = "the service name and UP or DOWN"
		}
		c.notes.unsupported(n.pos, n.key, "vigil runs this program without arguments of its own (it passes %s); wrap %q in a script and set %s to it", adds, strings.Join(n.args, " "), n.key)
		return "", false
	case words[0] == "" || words[0][0] != '/':
		c.notes.unsupported(n.pos, n.key, "%q must be an absolute path for vigil", words[0])
		return "", false
	}
	return words[0], true
}

// describe names a statement for messages: "virtual_server 10.0.0.1 80".
func (n *kaNode) describe() string {
	return strings.TrimSpace(n.key + " " + strings.Join(n.args, " "))
}

// globalSyncDaemon reads "lvs_sync_daemon IFACE INSTANCE [id N] [maxlen N]
// [port N] [ttl N] [group ADDR]".
func (c *kaConverter) globalSyncDaemon(n *kaNode) {
	if len(n.args) < 2 {
		c.notes.unsupported(n.pos, n.key, "want an interface and a vrrp_instance name")
		return
	}
	sd := &kaSyncDaemon{pos: n.pos, key: n.key, iface: n.arg(0), instance: n.arg(1)}
	for i := 2; i < len(n.args); i += 2 {
		opt := n.args[i]
		if i+1 >= len(n.args) {
			c.notes.unsupported(n.pos, opt, "%s without a value; not converted", opt)
			break
		}
		switch opt {
		case "id":
			if v, ok := integer(c.notes, n, n.args[i+1], 0, 255); ok {
				sd.id = v
			}
		case "maxlen", "port", "ttl", "group":
			c.notes.unsupported(n.pos, opt, "vigil starts the kernel's sync daemon with its defaults (port 8848, multicast 224.0.0.81, ttl 1); %s %s is not converted", opt, n.args[i+1])
		default:
			c.notes.unsupported(n.pos, opt, "unknown lvs_sync_daemon option; not converted")
		}
	}
	c.setSyncDaemon(sd)
}

// setSyncDaemon keeps the first sync daemon setting: vigil runs one.
func (c *kaConverter) setSyncDaemon(sd *kaSyncDaemon) {
	if c.syncDaemon != nil {
		c.notes.unsupported(sd.pos, sd.key, "a second IPVS sync daemon setting; vigil runs one, the one at line %d", c.syncDaemon.pos.Line)
		return
	}
	c.syncDaemon = sd
}

// lvsSync emits lvs.sync once the instance it follows is known.
func (c *kaConverter) lvsSync() {
	sd := c.syncDaemon
	if sd == nil {
		return
	}
	name, ok := c.instances[sd.instance]
	if !ok {
		c.notes.unsupported(sd.pos, sd.key, "no converted vrrp_instance %s for the sync daemon to follow; set lvs.sync by hand", sd.instance)
		return
	}
	c.out.LVS = &outLVSGlobal{Sync: &outLVSSync{Interface: sd.iface, ID: sd.id, Instance: name}}
}
