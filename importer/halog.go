package importer

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// HAProxy logs a frontend's traffic (one line per request, per connection
// in mode tcp, at level info) to the frontend's log targets: its own
// "log ADDR ... FACILITY" lines and, through "log global", the global
// section's; "no log" drops the targets before it. The line is the last of
// option httplog, tcplog, httpslog and log-format, or a short connection
// line without any. A backend's targets only get its server state changes.
//
// vigil writes one access log per service, so the first target that gets
// the traffic lines becomes the service's access_log; every other target
// and option is noted with what vigil does instead.

// maxGlobalLogUses bounds the global log targets that "log global" lines
// bring in, over one conversion: a few targets times thousands of
// frontends is far below it.
const maxGlobalLogUses = 100_000

// haLogTarget is one "log TARGET [len N] [format F] [sample R:S] [profile P]
// FACILITY [LEVEL [MINLEVEL]]" line.
type haLogTarget struct {
	line                            haLine
	addr                            string
	length, format, sample, profile string
	facility, level, minlevel       string
}

// haLogUse is a target in effect for a frontend, with the frontend's line
// that brought it in: the target's own line, or "log global".
type haLogUse struct {
	t   *haLogTarget
	via pos
}

// haLogLevels are syslog's levels, most severe first: the index is the
// severity. HAProxy logs traffic at info and, with option
// log-separate-errors, failed requests at err.
var haLogLevels = []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

const (
	levelErr  = 3
	levelInfo = 6
)

// haFacilities maps HAProxy's 24 facility names onto vigil's; "" is a
// facility vigil has no name for.
var haFacilities = map[string]string{
	"kern": "kern", "user": "user", "mail": "mail", "daemon": "daemon", "auth": "auth", "syslog": "syslog",
	"lpr": "lpr", "news": "news", "uucp": "uucp", "cron": "cron", "auth2": "authpriv", "ftp": "ftp",
	"ntp": "", "audit": "", "alert": "", "cron2": "",
	"local0": "local0", "local1": "local1", "local2": "local2", "local3": "local3",
	"local4": "local4", "local5": "local5", "local6": "local6", "local7": "local7",
}

// haLogFormats are the syslog formats a log target may name.
var haLogFormats = []string{"local", "rfc3164", "rfc5424", "priority", "short", "timed", "iso", "raw"}

// haLogFilters are the options that choose which traffic HAProxy logs and
// when; vigil logs every request when it ends.
var haLogFilters = map[string]bool{"dontlognull": true, "dontlog-normal": true, "log-separate-errors": true, "logasap": true}

// parseLogTarget reads a log line as HAProxy does; the string says why
// HAProxy would refuse it.
func parseLogTarget(l haLine) (*haLogTarget, string) {
	w := l.words[1:]
	if len(w) < 2 {
		return nil, "needs a target and a facility, or global"
	}
	t := &haLogTarget{line: l, addr: w[0]}
	i := 1
options:
	for i+1 < len(w) {
		switch w[i] {
		case "len":
			t.length = w[i+1]
		case "format":
			t.format = w[i+1]
		case "sample":
			t.sample = w[i+1]
		case "profile":
			t.profile = w[i+1]
		default:
			break options
		}
		i += 2
	}
	if n, err := strconv.Atoi(t.length); t.length != "" && (err != nil || n < 80 || n > 65535) {
		return nil, fmt.Sprintf("len %q is not 80..65535", t.length)
	}
	if t.format != "" && !slices.Contains(haLogFormats, t.format) {
		return nil, fmt.Sprintf("unknown format %q", t.format)
	}
	if i >= len(w) {
		return nil, "needs a facility"
	}
	if _, ok := haFacilities[w[i]]; !ok {
		return nil, fmt.Sprintf("%q is not a syslog facility", w[i])
	}
	t.facility = w[i]
	for _, dst := range []*string{&t.level, &t.minlevel} {
		if i++; i < len(w) {
			if !slices.Contains(haLogLevels, w[i]) {
				return nil, fmt.Sprintf("%q is not a syslog level", w[i])
			}
			*dst = w[i]
		}
	}
	if i+1 < len(w) {
		return nil, fmt.Sprintf("unexpected %q", w[i+1])
	}
	return t, ""
}

// vigilTo maps the target onto access_log.to; why says why it cannot be.
func (t *haLogTarget) vigilTo() (to, why string) {
	a := t.addr
	switch {
	case strings.Contains(a, "$"):
		return "", "vigil does not expand environment variables; write the address into access_log by hand"
	case a == "stdout" || a == "fd@1":
		return "stdout", ""
	case a == "stderr" || a == "fd@2":
		return "stderr", ""
	}
	prefix, rest, ok := strings.Cut(a, "@")
	if !ok {
		prefix, rest = "", a
	}
	unusable := fmt.Sprintf("%q is not an address vigil can send syslog to (IP or name with a UDP port, or a unix socket path); set access_log by hand", a)
	switch prefix {
	case "", "unix", "uxdg", "ip", "ipv4", "ipv6", "udp", "udp4", "udp6":
	case "ring":
		return "", "vigil has no ring buffers; send the access log to syslog or a file by hand"
	case "backend":
		return "", "vigil has no log backends; send the access log to one syslog server (syslog://HOST:PORT) by hand"
	case "tcp", "tcp4", "tcp6", "uxst", "mptcp", "mptcp4", "mptcp6":
		return "", "vigil sends syslog over UDP or a unix datagram socket, not over a stream; have the local syslog daemon (syslog:///dev/log) forward it"
	case "fd", "sockpair":
		return "", "vigil writes to stdout, stderr, a file or syslog, not to an inherited file descriptor; set access_log by hand"
	case "abns", "abnsz":
		return "", "vigil does not use abstract unix sockets; give a socket path (syslog:///PATH) by hand"
	default:
		return "", unusable
	}
	local := prefix == "" || prefix == "unix" || prefix == "uxdg"
	if strings.HasPrefix(rest, "/") && local {
		return "syslog://" + rest, "" // syslog:///dev/log
	}
	if prefix == "unix" || prefix == "uxdg" {
		return "", unusable
	}
	if strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]") {
		rest += ":" // [2001:db8::1] without a port
	}
	host, port, ok := splitServerAddr(rest)
	if !ok || !syslogHost(host) {
		return "", unusable
	}
	if port == 0 {
		port = 514 // HAProxy's default, and vigil's
	}
	return "syslog://" + net.JoinHostPort(host, strconv.Itoa(port)), ""
}

// syslogHost accepts an IP without a zone or a DNS name.
func syslogHost(h string) bool {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Zone() == ""
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return h != ""
}

func levelOf(name string) int {
	if name == "" {
		return len(haLogLevels) - 1 // every level
	}
	return slices.Index(haLogLevels, name)
}

// logKeyword names a logging line in notes: "log", "no log",
// "option httplog", "no option dontlognull", "log-format".
func logKeyword(l haLine) string {
	w := l.words
	n := 1
	switch {
	case w[0] == "option":
		n = 2
	case w[0] == "no" && len(w) > 1 && w[1] == "option":
		n = 3
	case w[0] == "no":
		n = 2
	}
	return strings.Join(w[:min(n, len(w))], " ")
}

// own reports whether l is written in the proxy's own section rather than
// in the defaults it inherits (defaults come first in the file).
func (px *haProxy) own(l haLine) bool { return l.pos.Line >= px.sec.pos.Line }

// logLine records one logging line of a proxy. Only a frontend's (or
// listen's) logging counts for its traffic; a backend's own logging lines
// are noted here, its inherited ones belong to the frontends that share them.
func (c *haConverter) logLine(px *haProxy, l haLine) {
	w := l.words
	key := logKeyword(l)
	if px.sec.kind == "backend" {
		if !px.own(l) {
			return
		}
		if w[0] == "log" || key == "no log" || w[0] == "log-tag" {
			c.notes.ignored(l.pos, key, "a backend's own logging covers its server state changes, which vigil logs with log/slog (log.level, log.format)")
		} else {
			c.notes.ignored(l.pos, key, "the frontend decides what HAProxy logs; no effect in a backend")
		}
		return
	}
	switch {
	case w[0] == "log":
		px.logs = append(px.logs, l)
	case key == "no log":
		if len(w) > 2 {
			c.notes.unsupported(l.pos, key, "takes no argument; HAProxy refuses this line, not converted")
			return
		}
		px.logs = nil
	case w[0] == "log-tag":
		px.logTag = &l
	case w[0] == "log-format", key == "option httplog", key == "option tcplog", key == "option httpslog":
		px.logFormat = &l
	default: // the filters, log-format-sd, error-log-format, and "no option FILTER"
		name := strings.TrimPrefix(key, "no ")
		px.logOpts = slices.DeleteFunc(px.logOpts, func(o haLine) bool { return logKeyword(o) == name })
		if w[0] != "no" {
			px.logOpts = append(px.logOpts, l)
		}
	}
}

// globalLog records a log line of the global section.
func (c *haConverter) globalLog(l haLine) {
	if len(l.words) == 2 && l.words[1] == "global" {
		c.notes.unsupported(l.pos, "log", "log global belongs in a proxy section; HAProxy refuses it here, not converted")
		return
	}
	t, bad := parseLogTarget(l)
	if bad != "" {
		c.notes.unsupported(l.pos, "log", "HAProxy refuses this line (%s); not converted", bad)
		return
	}
	c.globalLogs = append(c.globalLogs, t)
}

// logTargets lists the targets in effect for fe, in HAProxy's order, with
// the global ones that "log global" brings in (each once).
func (c *haConverter) logTargets(fe *haProxy) []haLogUse {
	var out []haLogUse
	global := false
	for _, l := range fe.logs {
		if len(l.words) == 2 && l.words[1] == "global" {
			switch {
			case global:
			case len(c.globalLogs) == 0:
				c.notes.ignored(l.pos, "log", "the global section has no log line, so this adds no log target")
			default:
				// Each log global takes every global target again, and
				// each target may cost a note: a bound keeps a hostile
				// file from making millions of them.
				if c.globalUses += len(c.globalLogs); c.globalUses > maxGlobalLogUses {
					c.notes.unsupported(l.pos, "log", "the file makes the importer take more than %d global log targets (all of them once per log global); not converted", maxGlobalLogUses)
					continue
				}
				for _, t := range c.globalLogs {
					out = append(out, haLogUse{t: t, via: l.pos})
					c.globalUsed[t] = true
				}
			}
			global = true
			continue
		}
		t, bad := parseLogTarget(l)
		if bad != "" {
			c.notes.unsupported(l.pos, "log", "HAProxy refuses this line (%s); not converted", bad)
			continue
		}
		out = append(out, haLogUse{t: t, via: l.pos})
	}
	return out
}

// accessLog is what HAProxy logs of fe's traffic and where, as vigil's
// access log, or nil when it logs none; what does not carry over is noted.
func (c *haConverter) accessLog(fe *haProxy) *outAccessLog {
	http := fe.mode == "http"
	sepErrors := slices.ContainsFunc(fe.logOpts, func(l haLine) bool { return logKeyword(l) == "option log-separate-errors" })
	var chosen *haLogUse
	to := ""
	quiet := true // no target gets the traffic lines, so HAProxy logs none
	for _, u := range c.logTargets(fe) {
		t := u.t
		dest, why := t.vigilTo()
		switch lv := levelOf(t.level); {
		case why != "":
			c.notes.unsupported(t.line.pos, "log", "%s", why)
			quiet = false
		case lv < levelInfo && sepErrors && lv >= levelErr:
			c.notes.unsupported(t.line.pos, "log", "with option log-separate-errors this target got only the failed requests (level err); vigil cannot log only those, so it is not converted")
			quiet = false
		case lv < levelInfo:
			c.notes.ignored(t.line.pos, "log", "level %s keeps HAProxy's traffic lines (level info) from this target, so it carries no access log; HAProxy's own events that went here, vigil logs with log/slog (log.level, log.format)", t.level)
		case chosen == nil:
			chosen, to, quiet = &u, dest, false
		default:
			c.notes.unsupported(t.line.pos, "log", "vigil writes one access log per service, to the first target (here %s, line %d); this one is not converted: have the syslog daemon forward a copy",
				to, chosen.t.line.pos.Line)
		}
	}
	shaping := fe.logOpts
	if fe.logFormat != nil {
		shaping = append([]haLine{*fe.logFormat}, shaping...)
	}
	if fe.logTag != nil {
		shaping = append(shaping, *fe.logTag)
	}
	if chosen == nil {
		if quiet {
			for _, l := range shaping {
				if _, ok := c.logQuiet[l.pos]; !ok {
					c.logQuiet[l.pos] = l
				}
			}
		}
		return nil
	}
	for _, l := range shaping {
		c.logLoud[l.pos] = true
	}
	syslog := strings.HasPrefix(to, "syslog:")
	if syslog {
		c.syslogUsed = true
	}
	format := c.logFormat(fe, chosen, http)
	c.logFilters(fe)
	if l := fe.logTag; l != nil {
		if syslog {
			c.notes.unsupported(l.pos, "log-tag", "vigil has no setting for the syslog tag, so its lines are not tagged %q; adjust the syslog rules that select on it", strings.Join(l.words[1:], " "))
		} else {
			c.notes.ignored(l.pos, "log-tag", "no effect: this access log does not go to syslog")
		}
	}
	out := &outAccessLog{To: to}
	if format != "haproxy" {
		out.Format = format
	}
	t := chosen.t
	if syslog {
		switch f := haFacilities[t.facility]; f {
		case "":
			c.notes.changed(t.line.pos, "log", "vigil has no syslog facility %s; local0 is used", t.facility)
		case "local0":
		default:
			out.Facility = f
		}
	}
	c.targetOptions(t, to)
	return out
}

// logFormat chooses vigil's format for the line fe's options ask for.
func (c *haConverter) logFormat(fe *haProxy, chosen *haLogUse, http bool) string {
	l := fe.logFormat
	if l == nil {
		c.notes.changed(chosen.via, "log", "without option httplog or tcplog HAProxy logs only a short connection line; vigil writes HAProxy's httplog line (tcplog for tcp services)")
		return "haproxy"
	}
	if l.words[0] == "log-format" {
		c.notes.unsupported(l.pos, "log-format", "vigil writes fixed formats (haproxy, json, combined), not custom ones: HAProxy's httplog line (tcplog for tcp services) is written; change the format or what reads the log by hand")
		return "haproxy"
	}
	key := logKeyword(*l)
	clf := len(l.words) > 2 && l.words[2] == "clf"
	switch {
	case clf && http:
		c.notes.changed(l.pos, key, "vigil writes nginx's combined line (format: combined), not HAProxy's CLF line: the referer and user agent fill the two quoted fields HAProxy leaves empty, and HAProxy's fields after them are not written")
		return "combined"
	case clf:
		c.notes.changed(l.pos, key, "vigil has no CLF line for tcp services; HAProxy's tcplog line (format: haproxy) is written")
	case key == "option httpslog" && http:
		c.notes.changed(l.pos, key, "vigil writes HAProxy's httplog line (format: haproxy): the TLS fields httpslog adds (error codes, resumption, SNI, version, cipher) are not logged")
	case key == "option tcplog" && http:
		c.notes.changed(l.pos, key, "vigil logs http services with HAProxy's httplog line (format: haproxy), one per request, not the tcplog line")
	}
	// option httplog on a tcp service: HAProxy falls back to tcplog, as
	// vigil's haproxy format does.
	return "haproxy"
}

// logFilters notes the options that choose which traffic is logged.
func (c *haConverter) logFilters(fe *haProxy) {
	for _, l := range fe.logOpts {
		key := logKeyword(l)
		switch key {
		case "option dontlognull":
			c.notes.changed(l.pos, key, "vigil has no filter for connections that send nothing: it logs every request (every connection of a tcp service)")
		case "option dontlog-normal":
			c.notes.changed(l.pos, key, "vigil logs every request (every connection of a tcp service), not only the failed ones: expect many more lines")
		case "option log-separate-errors":
			c.notes.changed(l.pos, key, "vigil logs failed requests like every other request, at the same level; select them by status and termination state")
		case "option logasap":
			c.notes.changed(l.pos, key, "vigil logs every request when it ends, with its full duration and size, not as soon as the response starts")
		case "log-format-sd":
			c.notes.unsupported(l.pos, key, "vigil writes no RFC 5424 structured data; not converted")
		case "error-log-format":
			c.notes.unsupported(l.pos, key, "vigil logs failed requests in the access log's own format; the custom error format is not converted")
		}
	}
}

// targetOptions notes what of the chosen target's options vigil does not
// carry over.
func (c *haConverter) targetOptions(t *haLogTarget, to string) {
	p := t.line.pos
	local := to == "stdout" || to == "stderr"
	switch {
	case local && t.format == "raw":
		c.notes.ignored(p, "log", "format raw: vigil writes the bare line to %s as well", to)
	case local && t.format == "":
		c.notes.changed(p, "log", "HAProxy writes a syslog header before each line unless format raw is set; vigil writes the bare line to %s", to)
	case local:
		c.notes.changed(p, "log", "format %s: vigil writes the bare line to %s, without the header this format adds", t.format, to)
	case t.format != "":
		c.notes.changed(p, "log", "format %s is not converted: vigil writes its own syslog header", t.format)
	}
	if t.length != "" {
		c.notes.changed(p, "log", "len %s is not converted: vigil has no line length setting", t.length)
	}
	if t.sample != "" {
		c.notes.changed(p, "log", "sample %s is not converted: vigil writes every line to its one target", t.sample)
	}
	if t.profile != "" {
		c.notes.changed(p, "log", "profile %s is not converted: vigil has no log profiles", t.profile)
	}
	if t.level != "" {
		c.notes.ignored(p, "log", "level %s passes HAProxy's traffic lines (level info); vigil's access log has no level filter", t.level)
	}
	if t.minlevel == "debug" {
		c.notes.changed(p, "log", "minimum level debug: HAProxy sent its traffic lines at level debug; vigil does not lower their level")
	}
}

// finishLogs notes the logging lines that no converted frontend used and
// writes a log shared by every service once, as log.access.
func (c *haConverter) finishLogs(services []*outService) *outAccessLog {
	for _, t := range c.globalLogs {
		if !c.globalUsed[t] {
			c.notes.ignored(t.line.pos, "log", "no converted frontend or listen section logs here (log global), so this target carries no access log; HAProxy's own events that went here, vigil logs with log/slog (log.level, log.format)")
		}
	}
	quiet := slices.SortedFunc(maps.Keys(c.logQuiet), func(a, b pos) int { return a.Line - b.Line })
	for _, p := range quiet {
		if !c.logLoud[p] {
			c.notes.ignored(p, logKeyword(c.logQuiet[p]), "no effect: no log target gets the traffic lines (no log line or log global, or only levels more severe than info), so HAProxy logs none and vigil writes no access log")
		}
	}
	for _, l := range []*haLine{c.globalTag, c.sendHostname} {
		switch {
		case l == nil:
		case !c.syslogUsed:
			c.notes.ignored(l.pos, l.words[0], "no effect: no access log goes to syslog")
		case l.words[0] == "log-tag":
			c.notes.unsupported(l.pos, "log-tag", "vigil has no setting for the syslog tag, so its lines are not tagged %q; adjust the syslog rules that select on it", strings.Join(l.words[1:], " "))
		default:
			c.notes.changed(l.pos, l.words[0], "vigil writes its own syslog header; the host name is not converted")
		}
	}
	if len(services) == 0 || services[0].AccessLog == nil {
		return nil
	}
	shared := *services[0].AccessLog
	for _, s := range services {
		if s.AccessLog == nil || *s.AccessLog != shared {
			return nil
		}
	}
	for _, s := range services {
		s.AccessLog = nil
	}
	return &shared
}
