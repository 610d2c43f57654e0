// Package config is vigil's configuration: the YAML schema, its defaults
// (all in defaults.go) and its validation. Load reports every problem at once
// with file, line, column and field path, so a config is fixed in one round.
package config

import (
	"net/netip"
)

// docs/config.md, docs/vigil.schema.json and vigil.yaml(5) are generated
// from this package's source; internal/reference tests that they are current.
//go:generate go run ./internal/reference/cmd/refgen -config . -root ..

// Config is one vigil node's whole configuration.
type Config struct {
	// Node names this node in logs, metrics and notify hooks; default: hostname.
	Node string `yaml:"node"`
	// Log sets log level and format.
	Log Log `yaml:"log"`
	// API serves metrics, the status API and the status page.
	API API `yaml:"api"`
	// Nice is the daemon's scheduling priority (nice value, -20..19; lower
	// runs first). The default, -10, keeps VRRP adverts on time when the
	// CPUs are saturated; 0 leaves the process as started (keepalived's
	// default). Needs root or CAP_SYS_NICE to go below the starting value.
	Nice int `yaml:"nice"`
	// ScriptUser runs exec checks and notify hooks as this unprivileged user
	// (keepalived's script_user); empty runs them as vigil's own user.
	ScriptUser string `yaml:"script_user"`
	// VRRP lists the virtual router instances that own VIPs.
	VRRP []Instance `yaml:"vrrp"`
	// SyncGroups make instances change state together (keepalived vrrp_sync_group).
	SyncGroups []SyncGroup `yaml:"sync_groups"`
	// Checks are named health checks that VRRP instances can track.
	Checks map[string]*Check `yaml:"checks"`
	// Services are the load-balanced VIP:port services.
	Services []Service `yaml:"services"`
	// LVS holds settings shared by all mode: lvs services.
	LVS LVSGlobal `yaml:"lvs"`
	// Alerts sends transitions and backend changes to webhooks and e-mail.
	Alerts Alerts `yaml:"alerts"`

	// File is the path the config was loaded from.
	File string `yaml:"-"`
	// Hash is the SHA-256 of the bytes it was parsed from, in hex (what
	// sha256sum prints for the file).
	Hash string `yaml:"-"`
	// positions maps field paths to their place in File, for errors found later
	// (for example by the daemon when an interface is missing at start).
	positions map[string]Pos
}

// PosOf returns where a field path (such as "vrrp[0].interface") was written in
// the file, or the zero Pos when it was not.
func (c *Config) PosOf(path string) Pos {
	return c.positions[path]
}

// Log configures log/slog output.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
	// Access is the access log of every tcp and http proxy service that
	// sets no access_log of its own; nil logs no requests.
	Access *AccessLog `yaml:"access"`
}

// AccessLog is where and how a proxy service logs each HTTP request (each
// connection for protocol tcp), like HAProxy's option httplog/tcplog with a
// log target, or nginx's access_log. In YAML it is a mapping or the target
// alone ("stdout", "off").
type AccessLog struct {
	// To is stdout, stderr, an absolute file path (reopened on SIGUSR1, for
	// logrotate), syslog://HOST[:PORT] (UDP, port 514 by default),
	// syslog:///PATH (a unix datagram socket such as /dev/log), or off.
	To string `yaml:"to"`
	// Format is haproxy (the line of HAProxy's option httplog, or tcplog
	// for tcp services), json (one object a line) or combined (nginx's
	// combined; for tcp services nginx stream's basic line).
	Format string `yaml:"format"`
	// Facility is the syslog facility of syslog targets: kern, user, mail,
	// daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp or
	// local0..local7.
	Facility string `yaml:"facility"`
}

// Off reports whether the access log is turned off (nil or to: off).
func (a *AccessLog) Off() bool { return a == nil || a.To == "off" }

// API configures the HTTP endpoint and the admin socket.
type API struct {
	// Listen is host:port for /metrics, /api/status and the page; "" disables it.
	Listen string `yaml:"listen"`
	// Socket is the unix socket the CLI uses for status and admin actions.
	Socket string `yaml:"socket"`
	// SocketGroup, a group name or number, owns the socket (mode 0660), so
	// its members may use the CLI without root; "" leaves vigil's own.
	SocketGroup string `yaml:"socket_group"`
	// Token, when set, allows admin actions over HTTP with "Authorization: Bearer TOKEN".
	Token string `yaml:"token"`
	// TokenFile reads the token from a file instead, to keep it out of the config.
	TokenFile string `yaml:"token_file"`
}

// Instance is one VRRP virtual router (keepalived vrrp_instance).
type Instance struct {
	// Name identifies the instance in logs, metrics, tracking and notify hooks.
	Name string `yaml:"name"`
	// Interface carries the adverts and, unless a VIP says otherwise, the VIPs.
	Interface string `yaml:"interface"`
	// VRID is the virtual router id, 1..255, shared by all nodes of the router.
	VRID int `yaml:"vrid"`
	// Priority is 1..255; the highest becomes master; 255 is the address owner.
	Priority int `yaml:"priority"`
	// Version is 3 (RFC 5798) or 2 (RFC 3768, for keepalived v2 peers).
	Version int `yaml:"version"`
	// AdvertInterval is how often the master advertises.
	AdvertInterval Duration `yaml:"advert_interval"`
	// Preempt lets a higher-priority backup take over from a live master.
	Preempt bool `yaml:"preempt"`
	// PreemptDelay holds off preemption for this long after start.
	PreemptDelay Duration `yaml:"preempt_delay"`
	// UnicastSource is the source address for unicast adverts.
	UnicastSource netip.Addr `yaml:"unicast_source"`
	// UnicastPeers, when set, replaces multicast with adverts to each peer.
	UnicastPeers []netip.Addr `yaml:"unicast_peers"`
	// AuthPass is the VRRPv2 simple password (keepalived auth_type PASS).
	AuthPass string `yaml:"auth_pass"`
	// VIPs are the virtual addresses the master holds.
	VIPs []VIP `yaml:"vips"`
	// Track lists what lowers (or raises) the priority, or faults the instance.
	Track []Track `yaml:"track"`
	// AutoTrack tracks the services listening on this instance's VIPs.
	AutoTrack AutoTrack `yaml:"auto_track"`
	// Notify is a program run on every transition with instance, state, priority.
	Notify string `yaml:"notify"`
	// NotifyTimeout kills a notify program that runs longer than this.
	NotifyTimeout Duration `yaml:"notify_timeout"`
	// GARP controls gratuitous ARP / unsolicited NA on becoming master.
	GARP GARP `yaml:"garp"`
}

// Family reports the address family of the instance, taken from its first VIP.
func (i *Instance) Family() Family {
	if len(i.VIPs) == 0 {
		return IPv4
	}
	return familyOf(i.VIPs[0].Address.Addr())
}

// Family is an IP address family.
type Family int

const (
	// IPv4 is the IPv4 family.
	IPv4 Family = 4
	// IPv6 is the IPv6 family.
	IPv6 Family = 6
)

// String names the family as users write it.
func (f Family) String() string {
	if f == IPv6 {
		return "IPv6"
	}
	return "IPv4"
}

func familyOf(a netip.Addr) Family {
	if a.Is4() || a.Is4In6() {
		return IPv4
	}
	return IPv6
}

// VIP is one virtual address with keepalived's per-address options. In YAML it
// is either a mapping or keepalived's string form "10.0.0.100/24 dev eth1 label eth1:vip".
type VIP struct {
	// Address with prefix length; a bare address means /32 or /128.
	Address netip.Prefix `yaml:"address"`
	// Dev puts the VIP on another interface than the instance's.
	Dev string `yaml:"dev"`
	// Label is the address label (must start with the device name, at most 15 bytes).
	Label string `yaml:"label"`
	// Scope is global, site, link or host.
	Scope string `yaml:"scope"`
}

// Track is one thing a VRRP instance watches. Exactly one of Check, Service and
// Interface is set. Weight follows keepalived: negative subtracts |weight| while
// failing, positive adds weight while healthy, 0 puts the instance in FAULT
// while failing.
type Track struct {
	// Check names an entry of checks.
	Check string `yaml:"check"`
	// Service names a service; it fails while this node cannot serve it.
	Service string `yaml:"service"`
	// Interface names a network interface; it fails while the link is down.
	Interface string `yaml:"interface"`
	// Weight is -254..254.
	Weight int `yaml:"weight"`
}

// Target says what the track watches, for messages: "check nginx-alive".
func (t Track) Target() string {
	switch {
	case t.Check != "":
		return "check " + t.Check
	case t.Service != "":
		return "service " + t.Service
	case t.Interface != "":
		return "interface " + t.Interface
	}
	return "nothing"
}

// AutoTrack makes an instance track the services that listen on its VIPs, so a
// node whose proxy cannot serve gives the VIP to a peer without extra config.
type AutoTrack struct {
	// Services turns automatic service tracking on or off.
	Services bool `yaml:"services"`
	// Weight is applied per failing service (keepalived semantics, see Track).
	Weight int `yaml:"weight"`
}

// GARP controls the gratuitous ARP / unsolicited NA a new master sends.
type GARP struct {
	// Delay before the second burst (keepalived garp_master_delay); 0 sends one burst.
	Delay Duration `yaml:"delay"`
	// Repeat is the number of packets per VIP in each burst (garp_master_repeat).
	Repeat int `yaml:"repeat"`
	// Interval between packets of a burst (garp_interval).
	Interval Duration `yaml:"interval"`
	// Refresh re-announces periodically while master (garp_master_refresh); 0 is off.
	Refresh Duration `yaml:"refresh"`
	// RefreshRepeat is the number of packets per VIP in each refresh.
	RefreshRepeat int `yaml:"refresh_repeat"`
}

// SyncGroup makes its member instances move between states together.
type SyncGroup struct {
	// Name identifies the group in logs and notify hooks.
	Name string `yaml:"name"`
	// Members are instance names; an instance belongs to at most one group.
	Members []string `yaml:"members"`
	// Notify runs on group transitions like an instance's notify.
	Notify string `yaml:"notify"`
}

// Check is one health check. Named checks (under checks:) probe their Target;
// a service's check probes each of its backends.
type Check struct {
	// Type is tcp, http, https, exec, dns or udp.
	Type string `yaml:"type"`
	// Target is host:port to probe (named checks of network types only).
	Target string `yaml:"target"`
	// Port overrides the backend's port for service checks (keepalived connect_port).
	Port int `yaml:"port"`
	// Interval is the time between the starts of two probes.
	Interval Duration `yaml:"interval"`
	// Timeout is the longest one probe may take before it counts as a failure.
	Timeout Duration `yaml:"timeout"`
	// Rise is how many successes in a row bring a target up.
	Rise int `yaml:"rise"`
	// Fall is how many failures in a row bring a target down.
	Fall int `yaml:"fall"`
	// Initial is the state before the first result: down (default) or up.
	Initial string `yaml:"initial"`
	// Jitter spreads probes randomly by up to this much, so many targets do not fire together.
	Jitter Duration `yaml:"jitter"`

	// Command is the program and arguments of an exec check (exit 0 = up).
	Command Command `yaml:"command"`

	// Method is the request method of an http(s) check.
	Method string `yaml:"method"`
	// Path is the request path of an http(s) check.
	Path string `yaml:"path"`
	// Host is the Host header of an http(s) check; empty sends the probed address.
	Host string `yaml:"host"`
	// ExpectStatus lists accepted status codes or ranges ("200-299", "2xx").
	ExpectStatus []StatusRange `yaml:"expect_status"`
	// ExpectBody must appear in the response body.
	ExpectBody string `yaml:"expect_body"`
	// ExpectBodyRegex must match the response body.
	ExpectBodyRegex string `yaml:"expect_body_regex"`
	// Digest is the MD5 of the body in hex (keepalived HTTP_GET digest).
	Digest string `yaml:"digest"`
	// TLSVerify verifies the certificate of an https check.
	TLSVerify bool `yaml:"tls_verify"`
	// SNI is the TLS server name of an https check.
	SNI string `yaml:"sni"`

	// Query is the name a dns check asks for.
	Query string `yaml:"query"`
	// QueryType is the record type a dns check asks for.
	QueryType string `yaml:"query_type"`

	// Payload is what a udp check sends.
	Payload string `yaml:"payload"`
	// ExpectReply, when set, must appear in the udp reply.
	ExpectReply string `yaml:"expect_reply"`
}

// Service is one load-balanced service, served by IPVS or by vigil's proxy.
type Service struct {
	// Name identifies the service in logs, metrics and tracking.
	Name string `yaml:"name"`
	// Listen is the VIP:port the service answers on.
	Listen netip.AddrPort `yaml:"listen"`
	// Fwmark selects packets by firewall mark instead of Listen (lvs only).
	Fwmark uint32 `yaml:"fwmark"`
	// Mode is proxy (vigil's own proxy) or lvs (kernel IPVS).
	Mode string `yaml:"mode"`
	// Protocol is tcp, udp or http for proxy; tcp, udp or sctp for lvs.
	Protocol string `yaml:"protocol"`
	// Balance is the scheduling algorithm (names depend on mode).
	Balance string `yaml:"balance"`
	// Check probes each backend; nil means backends are always considered up.
	Check *Check `yaml:"check"`
	// Backends serve the traffic (routes can add more groups for http).
	Backends []Backend `yaml:"backends"`
	// Quorum is the number of backends that must be up for the service to count as up.
	Quorum int `yaml:"quorum"`
	// Hysteresis keeps the service up until up backends drop below Quorum-Hysteresis,
	// and down until they reach Quorum+Hysteresis.
	Hysteresis int `yaml:"hysteresis"`
	// QuorumUp runs when the service gains quorum, with arguments NAME UP.
	QuorumUp string `yaml:"quorum_up"`
	// QuorumDown runs when the service loses quorum, with arguments NAME DOWN.
	QuorumDown string `yaml:"quorum_down"`

	// LVS holds the mode: lvs settings.
	LVS LVS `yaml:"lvs"`

	// Timeouts are the proxy's timeouts (mode: proxy).
	Timeouts Timeouts `yaml:"timeouts"`
	// MaxConn caps concurrent client connections; 0 is unlimited.
	MaxConn int `yaml:"max_conn"`
	// MaxQueue caps connections waiting for a backend slot.
	MaxQueue int `yaml:"max_queue"`
	// Retries is how many other backends a failed connect is retried on.
	Retries int `yaml:"retries"`
	// Slowstart ramps a recovered backend's weight up over this long.
	Slowstart Duration `yaml:"slowstart"`
	// OnDown: "" keeps existing connections of a down backend; shutdown_sessions closes them.
	OnDown string `yaml:"on_down"`
	// ProxyProtocol sends and/or accepts the PROXY protocol header.
	ProxyProtocol ProxyProtocol `yaml:"proxy_protocol"`
	// TLS terminates TLS (tcp and http protocols).
	TLS *TLS `yaml:"tls"`
	// H2C accepts cleartext HTTP/2 from clients.
	H2C bool `yaml:"h2c"`
	// HTTP2MaxStreams limits the concurrent streams of each HTTP/2
	// client connection (http; 0: 100, HAProxy's default).
	HTTP2MaxStreams int `yaml:"http2_max_streams"`
	// ForwardedHeaders adds X-Forwarded-For/-Proto/-Host (http).
	ForwardedHeaders bool `yaml:"forwarded_headers"`
	// Sticky pins clients to a backend with an inserted cookie (http).
	Sticky *Sticky `yaml:"sticky"`
	// Routes send requests by host and path prefix to other backend groups (http).
	Routes []Route `yaml:"routes"`
	// AccessLog logs each request (http) or connection (tcp); log.access
	// is the default.
	AccessLog *AccessLog `yaml:"access_log"`
}

// Backend is one real server. In YAML it is a mapping or the shorthand "10.0.0.21:8080".
type Backend struct {
	// Address is host:port (lvs needs an IP).
	Address string `yaml:"address"`
	// Weight is relative share; 0 takes no new traffic.
	Weight int `yaml:"weight"`
	// Backup servers get traffic only while no primary is up.
	Backup bool `yaml:"backup"`
	// MaxConn caps this backend's concurrent connections; 0 is unlimited.
	MaxConn int `yaml:"max_conn"`
}

// LVS holds the IPVS settings of a mode: lvs service.
type LVS struct {
	// Forward is nat, dr or tun.
	Forward string `yaml:"forward"`
	// Persistence keeps a client on the same real server for this long; 0 is off.
	Persistence Duration `yaml:"persistence"`
	// PersistenceNetmask groups clients for persistence (keepalived persistence_granularity).
	PersistenceNetmask string `yaml:"persistence_netmask"`
	// SchedFlags are scheduler flags: sh-fallback, sh-port, mh-fallback, mh-port.
	SchedFlags []string `yaml:"sched_flags"`
	// InhibitOnFailure sets a failed real server's weight to 0 instead of removing it.
	InhibitOnFailure bool `yaml:"inhibit_on_failure"`
	// SorryServer receives traffic while no real server is up.
	SorryServer netip.AddrPort `yaml:"sorry_server"`
}

// Timeouts are the proxy's timeouts (HAProxy's timeout connect/client/server/...).
type Timeouts struct {
	// Connect is the longest a connection to a backend may take to open.
	Connect Duration `yaml:"connect"`
	// Client is the inactivity timeout of a client connection.
	Client Duration `yaml:"client"`
	// Server is the inactivity timeout of a backend connection.
	Server Duration `yaml:"server"`
	// HTTPRequest is the time a client has to send a complete request head.
	HTTPRequest Duration `yaml:"http_request"`
	// HTTPKeepAlive is how long an idle keep-alive client connection is kept.
	HTTPKeepAlive Duration `yaml:"http_keep_alive"`
	// Queue is the longest a connection waits for a backend slot.
	Queue Duration `yaml:"queue"`
	// UDPSession expires an idle UDP client session.
	UDPSession Duration `yaml:"udp_session"`
}

// ProxyProtocol configures the PROXY protocol (HAProxy's send-proxy / accept-proxy).
type ProxyProtocol struct {
	// Accept requires a PROXY header (v1 or v2) from clients.
	Accept bool `yaml:"accept"`
	// Send is "", v1 or v2.
	Send string `yaml:"send"`
}

// TLS terminates TLS with certificates chosen by SNI.
type TLS struct {
	// Certs are certificate/key file pairs; the first is the default.
	Certs []Cert `yaml:"certs"`
	// MinVersion is 1.2 or 1.3.
	MinVersion string `yaml:"min_version"`
	// HTTP2 offers h2 by ALPN (http protocol).
	HTTP2 bool `yaml:"http2"`
}

// Cert is a PEM certificate chain and its key.
type Cert struct {
	// Cert is the certificate chain file.
	Cert string `yaml:"cert"`
	// Key is the private key file.
	Key string `yaml:"key"`
}

// Sticky configures cookie persistence (HAProxy cookie ... insert).
type Sticky struct {
	// Cookie is the cookie name.
	Cookie string `yaml:"cookie"`
	// MaxAge of the cookie; 0 makes a session cookie.
	MaxAge Duration `yaml:"max_age"`
}

// Route sends matching HTTP requests to its own backend group.
type Route struct {
	// Hosts match the Host header (exact, or "*.example.com").
	Hosts []string `yaml:"hosts"`
	// PathPrefix matches the start of the path.
	PathPrefix string `yaml:"path_prefix"`
	// Backends serve matching requests.
	Backends []Backend `yaml:"backends"`
	// Balance overrides the service's algorithm for this group.
	Balance string `yaml:"balance"`
}

// LVSGlobal holds IPVS settings shared by all lvs services.
type LVSGlobal struct {
	// FlushOnStop removes vigil's IPVS services on stop (default: keep them so a
	// restart adopts them without dropping connections).
	FlushOnStop bool `yaml:"flush_on_stop"`
	// Sync runs the kernel's IPVS connection sync daemon (keepalived lvs_sync_daemon).
	Sync *LVSSync `yaml:"sync"`
}

// LVSSync configures the IPVS connection synchronisation daemon.
type LVSSync struct {
	// Interface carries the sync traffic.
	Interface string `yaml:"interface"`
	// ID is the sync id 0..255, the same on all nodes of the cluster.
	ID int `yaml:"id"`
	// Instance is the VRRP instance whose state selects master or backup role.
	Instance string `yaml:"instance"`
}

// Alerts sends events to people and systems.
type Alerts struct {
	// Webhooks receive a JSON POST per event.
	Webhooks []Webhook `yaml:"webhooks"`
	// Email sends events through an SMTP server (keepalived notification_email).
	Email *Email `yaml:"email"`
}

// Webhook is one HTTP endpoint for alerts.
type Webhook struct {
	// URL is http or https.
	URL string `yaml:"url"`
	// Headers are added to each request (for example an auth token).
	Headers map[string]string `yaml:"headers"`
	// Timeout is the longest one delivery attempt may take.
	Timeout Duration `yaml:"timeout"`
}

// Email configures alert mails.
type Email struct {
	// SMTPServer is host:port.
	SMTPServer string `yaml:"smtp_server"`
	// From is the sender address.
	From string `yaml:"from"`
	// To are the recipients.
	To []string `yaml:"to"`
}
