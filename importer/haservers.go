package importer

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// serverOpts are the options of a server or default-server line.
type serverOpts struct {
	weight     *int
	check      bool
	inter      time.Duration
	rise, fall int
	port       int
	backup     bool
	maxconn    int
	sendProxy  string
	disabled   bool
	slowstart  time.Duration
	onDownKill bool
}

// haServer is one server line.
type haServer struct {
	name string
	host string
	port int // 0: the port the client connected to
	opts serverOpts
	pos  pos
}

// serverFlags are the server options without a value.
var serverFlags = map[string]bool{
	"check": true, "backup": true, "send-proxy": true, "send-proxy-v2": true, "disabled": true,
	"enabled": true, "no-check": true, "no-backup": true, "no-send-proxy": true, "no-send-proxy-v2": true,
	"ssl": true, "check-ssl": true, "no-ssl": true, "check-send-proxy": true, "agent-check": true,
	"non-stick": true, "stick": true, "tfo": true, "allow-0rtt": true, "no-tls-tickets": true,
	"send-proxy-v2-ssl": true, "send-proxy-v2-ssl-cn": true, "no-verifyhost": true,
}

// serverOptions applies the options words to base.
func (c *haConverter) serverOptions(l haLine, words []string, base serverOpts) serverOpts {
	o := base
	for i := 0; i < len(words); i++ {
		opt := words[i]
		val := ""
		if !serverFlags[opt] && i+1 < len(words) {
			i++
			val = words[i]
		}
		bad := func() { c.notes.unsupported(l.pos, opt, "%q is not a valid value; left out", val) }
		switch opt {
		case "weight":
			if n, err := strconv.Atoi(val); err == nil && n >= 0 && n <= 256 {
				o.weight = intPtr(n)
			} else {
				bad()
			}
		case "check":
			o.check = true
		case "no-check":
			o.check = false
		case "inter":
			if d, ok := haTime(val); ok && d > 0 {
				o.inter = d
			} else {
				bad()
			}
		case "rise", "fall":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > 1000 {
				bad()
			} else if opt == "rise" {
				o.rise = n
			} else {
				o.fall = n
			}
		case "port":
			if n, err := strconv.Atoi(val); err == nil && n >= 1 && n <= 65535 {
				o.port = n
			} else {
				bad()
			}
		case "backup":
			o.backup = true
		case "no-backup":
			o.backup = false
		case "maxconn":
			if n, err := strconv.Atoi(val); err == nil && n >= 0 {
				o.maxconn = n
			} else {
				bad()
			}
		case "send-proxy":
			o.sendProxy = "v1"
		case "send-proxy-v2":
			o.sendProxy = "v2"
		case "no-send-proxy", "no-send-proxy-v2":
			o.sendProxy = ""
		case "disabled":
			o.disabled = true
		case "enabled":
			o.disabled = false
		case "slowstart":
			if d, ok := haTime(val); ok {
				o.slowstart = d
			} else {
				bad()
			}
		case "on-marked-down":
			if val == "shutdown-sessions" {
				o.onDownKill = true
			} else {
				c.notes.unsupported(l.pos, opt, "only shutdown-sessions is supported")
			}
		case "cookie":
			c.notes.ignored(l.pos, "cookie", "vigil chooses the sticky cookie's value for each backend itself")
		case "id", "resolvers", "init-addr", "resolve-prefer", "resolve-opts", "resolve-net", "fastinter", "downinter":
			c.notes.ignored(l.pos, opt, "no vigil equivalent needed; vigil resolves names and probes every interval")
		case "minconn", "maxqueue", "ssl", "check-ssl", "verify", "ca-file", "crt", "sni", "alpn", "check-sni",
			"addr", "agent-check", "agent-port", "agent-inter", "observe", "error-limit", "on-error", "track", "redir",
			"source", "usesrc", "proto", "check-proto", "check-send-proxy", "pool-max-conn", "pool-purge-delay":
			c.notes.unsupported(l.pos, opt, "vigil's backends have no such option; not converted")
		default:
			c.notes.unsupported(l.pos, opt, "unknown server option; not converted")
		}
	}
	return o
}

// server reads "server NAME ADDRESS[:PORT] [options]".
func (c *haConverter) server(px *haProxy, l haLine) {
	if len(l.words) < 3 {
		c.notes.unsupported(l.pos, "server", "needs a name and an address; left out")
		return
	}
	host, port, ok := splitServerAddr(l.words[2])
	if !ok {
		c.notes.unsupported(l.pos, "server", "%q: vigil needs host:port, an IP or a name with one fixed port; left out", l.words[2])
		return
	}
	s := haServer{name: l.words[1], host: host, port: port, pos: l.pos}
	s.opts = c.serverOptions(l, l.words[3:], px.defaultServer)
	px.servers = append(px.servers, s)
}

// splitServerAddr splits HAProxy's address forms: 10.0.0.1:80, name:80,
// [2001:db8::1]:80, ipv6@2001:db8::1:80, 10.0.0.1 (no port).
func splitServerAddr(s string) (string, int, bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "ipv4@"), "ipv6@")
	if strings.Contains(s, "@") || strings.HasPrefix(s, "/") || s == "" {
		return "", 0, false
	}
	host, portStr := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return "", 0, false
		}
		host, portStr = h, p
	case strings.Count(s, ":") == 1:
		host, portStr, _ = strings.Cut(s, ":")
	case strings.Count(s, ":") > 1:
		// HAProxy reads the port after the last colon, IPv6 or not.
		i := strings.LastIndex(s, ":")
		host, portStr = s[:i], s[i+1:]
	}
	if host == "" || strings.ContainsAny(host, " /") {
		return "", 0, false
	}
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.String()
	} else if strings.Trim(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != "" {
		return "", 0, false // a name is letters, digits, dots and dashes: "]" is none
	}
	if portStr == "" {
		return host, 0, true
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 || strings.Trim(portStr, "0123456789") != "" {
		return "", 0, false // "+1" and "-1" are HAProxy's port offsets
	}
	return host, port, true
}

// backendsFor turns servers into vigil backends for a service listening on
// listenPort, noting what does not carry over.
func (c *haConverter) backendsFor(px *haProxy, listenPort int) []outBackend {
	var out []outBackend
	seen := map[string]bool{}
	for _, s := range px.servers {
		port := s.port
		if port == 0 {
			port = listenPort
			c.notes.changed(s.pos, "server", "%s has no port; vigil connects to port %d, the port the service listens on", s.name, port)
		}
		b := outBackend{Address: net.JoinHostPort(s.host, strconv.Itoa(port)), Backup: s.opts.backup, MaxConn: s.opts.maxconn}
		if s.opts.weight != nil && *s.opts.weight != 1 {
			b.Weight = s.opts.weight
		}
		if s.opts.disabled {
			b.Weight = intPtr(0)
			c.notes.changed(s.pos, "disabled", "%s gets weight 0 (no new traffic); put it in maintenance with \"vigil backend maint\" instead", s.name)
		}
		if seen[b.Address] {
			c.notes.unsupported(s.pos, "server", "%s is listed twice; left out", b.Address)
			continue
		}
		seen[b.Address] = true
		out = append(out, b)
	}
	return out
}
