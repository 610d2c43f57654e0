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
	} else if strings.Contains(host, ":") {
		return "", 0, false
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

// serviceCheck builds the one check vigil runs on every backend from the
// servers' check options; nil when no server is checked.
func (c *haConverter) serviceCheck(px *haProxy) *outCheck {
	var first *haServer
	for i := range px.servers {
		s := &px.servers[i]
		if !s.opts.check {
			continue
		}
		if first == nil {
			first = s
			continue
		}
		if s.opts.inter != first.opts.inter || s.opts.rise != first.opts.rise || s.opts.fall != first.opts.fall || s.opts.port != first.opts.port {
			c.notes.changed(s.pos, "check", "vigil runs one check per service; %s is checked with the options of %s", s.name, first.name)
		}
	}
	if first == nil {
		return nil
	}
	for _, s := range px.servers {
		if !s.opts.check {
			c.notes.changed(s.pos, "check", "vigil checks every backend of a service; %s is now checked too", s.name)
		}
	}
	ch := &outCheck{Type: "tcp"}
	if px.check == "http" {
		h := px.httpCheck
		ch = &h
		ch.Type = "http"
	}
	inter := first.opts.inter
	if inter == 0 {
		inter = 2 * time.Second
	}
	rise, fall := first.opts.rise, first.opts.fall
	if rise == 0 {
		rise = 2
	}
	if fall == 0 {
		fall = 3
	}
	// Without "timeout check", HAProxy gives a whole check the interval.
	timeout := inter
	if t, ok := px.timeouts["check"]; ok && t > 0 {
		timeout = t
	}
	setTiming(ch, inter, timeout, rise, fall)
	ch.Port = first.opts.port
	ch.Initial = "up" // HAProxy counts a server up until its checks fail
	fitCheck(c.notes, ch, first.pos, "check")
	return ch
}

// httpchkOption reads "option httpchk [METHOD] [URI] [VERSION]"; a version
// may smuggle headers in, as in "HTTP/1.1\r\nHost:\ example.com".
func (c *haConverter) httpchkOption(px *haProxy, l haLine) {
	px.check = "http"
	h := outCheck{Method: "OPTIONS"} // HAProxy's default method
	args := l.words[2:]
	if len(args) == 1 {
		args = []string{"OPTIONS", args[0]}
	}
	if len(args) >= 1 {
		h.Method = strings.ToUpper(args[0])
	}
	if len(args) >= 2 {
		h.Path = args[1]
	}
	if len(args) >= 3 {
		for _, hdr := range strings.Split(args[2], "\r\n")[1:] {
			name, val, _ := strings.Cut(hdr, ":")
			if strings.EqualFold(strings.TrimSpace(name), "host") {
				h.Host = strings.TrimSpace(val)
			} else if strings.TrimSpace(hdr) != "" {
				c.notes.unsupported(l.pos, "option httpchk", "vigil's http check sends no header %q; left out", strings.TrimSpace(name))
			}
		}
	}
	px.httpCheck = c.cleanHTTPCheck(h, l)
}

// httpCheckLine reads http-check send / expect.
func (c *haConverter) httpCheckLine(px *haProxy, l haLine) {
	w := l.words
	if len(w) < 2 {
		c.notes.unsupported(l.pos, "http-check", "needs a directive")
		return
	}
	h := px.httpCheck
	switch w[1] {
	case "send":
		for i := 2; i+1 < len(w); i += 2 {
			switch w[i] {
			case "meth":
				h.Method = strings.ToUpper(w[i+1])
			case "uri":
				h.Path = w[i+1]
			case "ver":
			case "hdr":
				if i+2 < len(w) && strings.EqualFold(w[i+1], "host") {
					h.Host = w[i+2]
				} else {
					c.notes.unsupported(l.pos, "http-check send hdr", "vigil's http check sends no header %q; left out", w[i+1])
				}
				i++
			default:
				c.notes.unsupported(l.pos, "http-check send "+w[i], "not supported; left out")
			}
		}
	case "expect":
		c.httpExpect(&h, l)
	case "connect", "comment", "disable-on-404", "send-state":
		c.notes.ignored(l.pos, "http-check "+w[1], "no vigil equivalent needed")
	default:
		c.notes.unsupported(l.pos, "http-check "+w[1], "not supported; left out")
	}
	px.httpCheck = c.cleanHTTPCheck(h, l)
}

func (c *haConverter) httpExpect(h *outCheck, l haLine) {
	w := l.words[2:]
	if len(w) > 0 && w[0] == "!" {
		c.notes.unsupported(l.pos, "http-check expect !", "vigil cannot negate an expectation; left out")
		return
	}
	if len(w) < 2 {
		c.notes.unsupported(l.pos, "http-check expect", "needs a match and a pattern; left out")
		return
	}
	switch w[0] {
	case "status":
		var codes []string
		for _, s := range strings.Split(w[1], ",") {
			if validStatus(s) {
				codes = append(codes, s)
			} else {
				c.notes.unsupported(l.pos, "http-check expect status", "%q is not a status code or range; left out", s)
			}
		}
		if len(codes) > 0 {
			h.ExpectStatus = codes
		}
	case "string":
		h.ExpectBody = w[1]
	case "rstring":
		h.ExpectBodyRegex = w[1]
	default:
		c.notes.unsupported(l.pos, "http-check expect "+w[0], "vigil expects a status, a string or a regex in the body; left out")
	}
}

// cleanHTTPCheck keeps the check valid for vigil: a path starting with /,
// an upper-case method, no body expectation on HEAD.
func (c *haConverter) cleanHTTPCheck(h outCheck, l haLine) outCheck {
	if h.Path == "/" {
		h.Path = ""
	}
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		c.notes.unsupported(l.pos, l.words[0], "check path %q does not start with /; / is checked", h.Path)
		h.Path = ""
	}
	if h.Method != "" && strings.Trim(h.Method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		c.notes.unsupported(l.pos, l.words[0], "%q is not an HTTP method; GET is used", h.Method)
		h.Method = ""
	}
	if h.Method == "GET" {
		h.Method = ""
	}
	if h.Method == "HEAD" && (h.ExpectBody != "" || h.ExpectBodyRegex != "") {
		c.notes.changed(l.pos, l.words[0], "a HEAD response has no body; the check uses GET so the body can match")
		h.Method = ""
	}
	return h
}
