package importer

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The out* types mirror config's schema with omitempty on every field whose
// zero value is vigil's default, so the output carries only what the input
// said. Marshalling config.Config itself would print every default.

type outConfig struct {
	Node       string               `yaml:"node,omitempty"`
	Log        *outLog              `yaml:"log,omitempty"`
	Nice       *int                 `yaml:"nice,omitempty"`
	ScriptUser string               `yaml:"script_user,omitempty"`
	VRRP       []*outInstance       `yaml:"vrrp,omitempty"`
	SyncGroups []*outSyncGroup      `yaml:"sync_groups,omitempty"`
	Checks     map[string]*outCheck `yaml:"checks,omitempty"`
	Services   []*outService        `yaml:"services,omitempty"`
	LVS        *outLVSGlobal        `yaml:"lvs,omitempty"`
	Alerts     *outAlerts           `yaml:"alerts,omitempty"`
}

type outLog struct {
	Access *outAccessLog `yaml:"access,omitempty"`
}

type outAccessLog struct {
	To       string `yaml:"to"`
	Format   string `yaml:"format,omitempty"`   // "": haproxy
	Facility string `yaml:"facility,omitempty"` // "": local0
}

// MarshalYAML prints the shorthand "syslog:///dev/log" when only the target
// is set, and a one-line mapping otherwise.
func (a outAccessLog) MarshalYAML() (any, error) {
	if a.Format == "" && a.Facility == "" {
		return a.To, nil
	}
	type plain outAccessLog
	return flowNode(plain(a))
}

type outLVSGlobal struct {
	Sync *outLVSSync `yaml:"sync,omitempty"`
}

type outLVSSync struct {
	Interface string `yaml:"interface"`
	ID        int    `yaml:"id"`
	Instance  string `yaml:"instance"`
}

type outAlerts struct {
	Email *outEmail `yaml:"email,omitempty"`
}

type outEmail struct {
	SMTPServer string   `yaml:"smtp_server"`
	From       string   `yaml:"from"`
	To         []string `yaml:"to,flow"`
}

type outInstance struct {
	Name           string        `yaml:"name"`
	Interface      string        `yaml:"interface"`
	VRID           int           `yaml:"vrid"`
	Priority       int           `yaml:"priority,omitempty"`
	Version        int           `yaml:"version,omitempty"`
	AdvertInterval string        `yaml:"advert_interval,omitempty"`
	Preempt        *bool         `yaml:"preempt,omitempty"`
	PreemptDelay   string        `yaml:"preempt_delay,omitempty"`
	UnicastSource  string        `yaml:"unicast_source,omitempty"`
	UnicastPeers   []string      `yaml:"unicast_peers,omitempty,flow"`
	AuthPass       string        `yaml:"auth_pass,omitempty"`
	VIPs           []string      `yaml:"vips"`
	Track          []outTrack    `yaml:"track,omitempty"`
	AutoTrack      *outAutoTrack `yaml:"auto_track,omitempty,flow"`
	Notify         string        `yaml:"notify,omitempty"`
	GARP           *outGARP      `yaml:"garp,omitempty,flow"`
}

type outTrack struct {
	Check     string `yaml:"check,omitempty"`
	Service   string `yaml:"service,omitempty"`
	Interface string `yaml:"interface,omitempty"`
	Weight    int    `yaml:"weight"` // 0 is meaningful: FAULT while failing
}

// MarshalYAML prints a track on one line: { check: chk, weight: -20 }.
func (t outTrack) MarshalYAML() (any, error) {
	type plain outTrack
	return flowNode(plain(t))
}

type outAutoTrack struct {
	Services bool `yaml:"services"`
	Weight   int  `yaml:"weight,omitempty"`
}

type outGARP struct {
	Delay         string `yaml:"delay,omitempty"`
	Repeat        int    `yaml:"repeat,omitempty"`
	Interval      string `yaml:"interval,omitempty"`
	Refresh       string `yaml:"refresh,omitempty"`
	RefreshRepeat int    `yaml:"refresh_repeat,omitempty"`
}

type outSyncGroup struct {
	Name    string   `yaml:"name"`
	Members []string `yaml:"members,flow"`
	Notify  string   `yaml:"notify,omitempty"`
}

type outCheck struct {
	Type            string   `yaml:"type"`
	Target          string   `yaml:"target,omitempty"`
	Port            int      `yaml:"port,omitempty"`
	Interval        string   `yaml:"interval,omitempty"`
	Timeout         string   `yaml:"timeout,omitempty"`
	Rise            int      `yaml:"rise,omitempty"`
	Fall            int      `yaml:"fall,omitempty"`
	Initial         string   `yaml:"initial,omitempty"`
	Command         []string `yaml:"command,omitempty,flow"`
	Method          string   `yaml:"method,omitempty"`
	Path            string   `yaml:"path,omitempty"`
	Host            string   `yaml:"host,omitempty"`
	ExpectStatus    []string `yaml:"expect_status,omitempty,flow"`
	ExpectBody      string   `yaml:"expect_body,omitempty"`
	ExpectBodyRegex string   `yaml:"expect_body_regex,omitempty"`
	Digest          string   `yaml:"digest,omitempty"`
	SNI             string   `yaml:"sni,omitempty"`
	Query           string   `yaml:"query,omitempty"`
	QueryType       string   `yaml:"query_type,omitempty"`
	Payload         string   `yaml:"payload,omitempty"`
	ExpectReply     string   `yaml:"expect_reply,omitempty"`
}

type outService struct {
	Name             string            `yaml:"name"`
	Listen           string            `yaml:"listen,omitempty"`
	Fwmark           uint32            `yaml:"fwmark,omitempty"`
	Mode             string            `yaml:"mode,omitempty"`
	Protocol         string            `yaml:"protocol,omitempty"`
	Balance          string            `yaml:"balance,omitempty"`
	Check            *outCheck         `yaml:"check,omitempty"`
	Backends         []outBackend      `yaml:"backends,omitempty"`
	Quorum           int               `yaml:"quorum,omitempty"`
	Hysteresis       int               `yaml:"hysteresis,omitempty"`
	QuorumUp         string            `yaml:"quorum_up,omitempty"`
	QuorumDown       string            `yaml:"quorum_down,omitempty"`
	LVS              *outLVS           `yaml:"lvs,omitempty"`
	Timeouts         *outTimeouts      `yaml:"timeouts,omitempty,flow"`
	MaxConn          int               `yaml:"max_conn,omitempty"`
	Retries          *int              `yaml:"retries,omitempty"`
	Slowstart        string            `yaml:"slowstart,omitempty"`
	OnDown           string            `yaml:"on_down,omitempty"`
	ProxyProtocol    *outProxyProtocol `yaml:"proxy_protocol,omitempty,flow"`
	TLS              *outTLS           `yaml:"tls,omitempty"`
	HTTP2MaxStreams  int               `yaml:"http2_max_streams,omitempty"`
	ForwardedHeaders *bool             `yaml:"forwarded_headers,omitempty"`
	Sticky           *outSticky        `yaml:"sticky,omitempty,flow"`
	Routes           []*outRoute       `yaml:"routes,omitempty"`
	AccessLog        *outAccessLog     `yaml:"access_log,omitempty"`
}

type outBackend struct {
	Address string `yaml:"address"`
	Weight  *int   `yaml:"weight,omitempty"` // nil is vigil's 1; 0 takes no new traffic
	Backup  bool   `yaml:"backup,omitempty"`
	MaxConn int    `yaml:"max_conn,omitempty"`
}

// MarshalYAML prints the shorthand "10.0.0.21:8080" when only the address is
// set, and a one-line mapping otherwise.
func (b outBackend) MarshalYAML() (any, error) {
	if b.Weight == nil && !b.Backup && b.MaxConn == 0 {
		return b.Address, nil
	}
	type plain outBackend
	return flowNode(plain(b))
}

type outLVS struct {
	Forward            string `yaml:"forward,omitempty"`
	Persistence        string `yaml:"persistence,omitempty"`
	PersistenceNetmask string `yaml:"persistence_netmask,omitempty"`
	InhibitOnFailure   bool   `yaml:"inhibit_on_failure,omitempty"`
	SorryServer        string `yaml:"sorry_server,omitempty"`
}

type outTimeouts struct {
	Connect       string `yaml:"connect,omitempty"`
	Client        string `yaml:"client,omitempty"`
	Server        string `yaml:"server,omitempty"`
	HTTPRequest   string `yaml:"http_request,omitempty"`
	HTTPKeepAlive string `yaml:"http_keep_alive,omitempty"`
	Queue         string `yaml:"queue,omitempty"`
}

type outProxyProtocol struct {
	Accept bool   `yaml:"accept,omitempty"`
	Send   string `yaml:"send,omitempty"`
}

type outTLS struct {
	Certs      []outCert `yaml:"certs"`
	MinVersion string    `yaml:"min_version,omitempty"`
	HTTP2      *bool     `yaml:"http2,omitempty"`
}

type outCert struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// MarshalYAML prints a cert pair on one line.
func (c outCert) MarshalYAML() (any, error) {
	type plain outCert
	return flowNode(plain(c))
}

type outSticky struct {
	Cookie string `yaml:"cookie,omitempty"`
	MaxAge string `yaml:"max_age,omitempty"`
}

type outRoute struct {
	Hosts      []string     `yaml:"hosts,omitempty,flow"`
	PathPrefix string       `yaml:"path_prefix,omitempty"`
	Backends   []outBackend `yaml:"backends"`
	Balance    string       `yaml:"balance,omitempty"`
}

// flowNode encodes v as a one-line YAML mapping.
func flowNode(v any) (*yaml.Node, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	n.Style = yaml.FlowStyle
	return &n, nil
}

// fmtDuration writes a duration the shortest way config accepts: 90s, 5m, 100ms.
func fmtDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	case d%time.Millisecond == 0:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
	return d.String()
}

// sortedKeys returns a map's keys in order, for output that does not vary.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func boolPtr(b bool) *bool { return &b }
func intPtr(i int) *int    { return &i }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// names hands out vigil names (letters, digits, '_', '.', '-'; at most 64)
// for foreign ones, unique within one kind.
type names struct {
	used map[string]bool
	next map[string]int // the next suffix to try per base, so repeats stay linear
}

// make returns a valid, unused name close to want.
func (ns *names) make(want string) string {
	if ns.used == nil {
		ns.used, ns.next = map[string]bool{}, map[string]int{}
	}
	var b strings.Builder
	for _, r := range want {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || !nameRE.MatchString(s[:1]) {
		s = "x" + s
	}
	if len(s) > 60 {
		s = s[:60]
	}
	base := s
	for ns.used[s] {
		n := max(ns.next[base], 2)
		ns.next[base] = n + 1
		s = fmt.Sprintf("%s-%d", base, n)
	}
	ns.used[s] = true
	return s
}

// serviceSpace hands out service names and keeps two services from serving
// the same address and protocol or the same fwmark, across both inputs.
type serviceSpace struct {
	names   names
	listens map[string]string
	fwmarks map[uint32]string
}

// claim records svc's address or fwmark, or returns the service that has it.
func (s *serviceSpace) claim(svc *outService) (string, bool) {
	if s.listens == nil {
		s.listens, s.fwmarks = map[string]string{}, map[uint32]string{}
	}
	if svc.Fwmark != 0 {
		if other, ok := s.fwmarks[svc.Fwmark]; ok {
			return other, false
		}
		s.fwmarks[svc.Fwmark] = svc.Name
		return "", true
	}
	key := svc.Listen
	if svc.Protocol == "udp" {
		key += "/udp"
	}
	if other, ok := s.listens[key]; ok {
		return other, false
	}
	s.listens[key] = svc.Name
	return "", true
}
