package importer

import (
	"strconv"
	"strings"
	"time"
)

// haProxy is what the lines of one frontend, backend or listen section
// (with its defaults) amount to.
type haProxy struct {
	sec      *haSection
	mode     string // tcp or http
	binds    []haBind
	maxconn  int
	timeouts map[string]time.Duration // by HAProxy name: connect, client, server, ...
	forward  bool                     // option forwardfor
	balance  string
	balPos   pos

	defaultServer serverOpts
	servers       []haServer

	check     string // "", "http" or "tcp" (option httpchk / tcp-check / layer-4 default)
	httpCheck outCheck
	retries   int
	cookie    *outSticky
	cookiePos pos

	acls           map[string][]haACL
	uses           []haUse
	defaultBackend string
	defaultPos     pos

	// Logging, in line order (see halog.go): the log lines since the last
	// "no log", the last of option httplog/tcplog/httpslog and log-format,
	// the filter options and custom formats beside it, and log-tag.
	logs      []haLine
	logFormat *haLine
	logOpts   []haLine
	logTag    *haLine
}

// haTime reads an HAProxy time: a number with an optional unit (us, ms, s,
// m, h, d); a bare number is milliseconds.
func haTime(s string) (time.Duration, bool) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}}
	unit := time.Millisecond
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, unit = strings.TrimSuffix(s, u.suffix), u.unit
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > int64(365*24*time.Hour/unit) {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// haTimeouts maps HAProxy's timeout names (and the old *timeout keywords)
// onto vigil's; the others have no vigil equivalent.
var haTimeouts = map[string]string{
	"connect": "connect", "client": "client", "server": "server", "http-request": "http_request",
	"http-keep-alive": "http_keep_alive", "queue": "queue", "check": "check",
	"contimeout": "connect", "clitimeout": "client", "srvtimeout": "server",
}

// ignoredOptions are "option" lines that change connection handling in
// ways vigil does on its own or does not need. The logging options are
// converted with the log lines (halog.go).
var ignoredOptions = map[string]string{
	"log-health-checks": "vigil logs check transitions",
	"http-server-close": "vigil keeps client and server connections alive independently",
	"http-keep-alive":   "vigil keeps connections alive by default", "http-buffer-request": "vigil forwards requests as they come",
	"abortonclose": "vigil stops a request whose client went away", "prefer-last-server": "vigil's balancers choose per request",
	"socket-stats": "vigil has per-service metrics", "http-ignore-probes": "vigil closes idle connections without a request quietly",
	"splice-auto": "vigil picks its copy strategy itself", "splice-request": "vigil picks its copy strategy itself",
	"splice-response": "vigil picks its copy strategy itself", "tcpka": "vigil uses Go's TCP keep-alive",
	"clitcpka": "vigil uses Go's TCP keep-alive", "srvtcpka": "vigil uses Go's TCP keep-alive",
	"contstats": "vigil updates its metrics continuously", "redispatch": "vigil retries a failed connect on other backends (retries)",
	"http-use-htx": "vigil has one HTTP engine", "httpclose": "vigil manages connection reuse itself",
	"forceclose": "vigil manages connection reuse itself", "http-pretend-keepalive": "vigil manages connection reuse itself",
}

// evalProxy reads a section's lines into an haProxy.
func (c *haConverter) evalProxy(sec *haSection) *haProxy {
	px := &haProxy{sec: sec, mode: "tcp", timeouts: map[string]time.Duration{}, retries: 3, acls: map[string][]haACL{}}
	lines := sec.effectiveLines()
	// Each frontend and rule reads its backend's lines again: a bound on
	// the lines read keeps a hostile file from taking forever.
	if c.linesRead += len(lines); c.linesRead > maxLinesRead {
		c.notes.unsupported(sec.pos, sec.kind, "the file makes the importer read more than %d lines (defaults and backends are read once per use); %s and what follows are not converted", maxLinesRead, sec.name)
		return px
	}
	for _, l := range lines {
		c.line(px, l)
	}
	return px
}

// maxLinesRead bounds the lines evalProxy reads in one conversion.
const maxLinesRead = 1_000_000

// line applies one proxy line; every keyword it does not map is noted.
func (c *haConverter) line(px *haProxy, l haLine) {
	w := l.words
	key := w[0]
	arg := func(i int) string {
		if i < len(w) {
			return w[i]
		}
		return ""
	}
	switch key {
	case "mode":
		switch arg(1) {
		case "tcp", "http":
			px.mode = arg(1)
		default:
			c.notes.unsupported(l.pos, key, "mode %q has no vigil equivalent; tcp is used", arg(1))
		}
	case "bind":
		c.bind(px, l)
	case "maxconn":
		if n, err := strconv.Atoi(arg(1)); err == nil && n >= 0 {
			px.maxconn = n
		} else {
			c.notes.unsupported(l.pos, key, "%q is not a number; left out", arg(1))
		}
	case "timeout", "contimeout", "clitimeout", "srvtimeout":
		name, val := arg(1), arg(2)
		if key != "timeout" {
			name, val = key, arg(1)
		}
		d, ok := haTime(val)
		switch {
		case haTimeouts[name] == "":
			c.notes.unsupported(l.pos, "timeout "+name, "vigil has no such timeout; not converted")
		case !ok:
			c.notes.unsupported(l.pos, "timeout "+name, "%q is not a time; left out", val)
		default:
			px.timeouts[haTimeouts[name]] = d
		}
	case "balance":
		c.balance(px, l)
	case "server":
		c.server(px, l)
	case "default-server":
		px.defaultServer = c.serverOptions(l, w[1:], px.defaultServer)
	case "option":
		c.option(px, l)
	case "no":
		if arg(1) == "log" || arg(1) == "option" && haLogFilters[arg(2)] {
			c.logLine(px, l)
			return
		}
		c.notes.unsupported(l.pos, strings.Join(w[:min(len(w), 3)], " "), "vigil has no such option to turn off; not converted")
	case "http-check":
		c.httpCheckLine(px, l)
	case "tcp-check":
		if arg(1) != "connect" {
			c.notes.unsupported(l.pos, "tcp-check "+arg(1), "vigil's tcp check only connects; this step is left out")
		}
	case "retries":
		if n, err := strconv.Atoi(arg(1)); err == nil && n >= 0 && n <= 100 {
			px.retries = n
		} else {
			c.notes.unsupported(l.pos, key, "%q is not a number 0..100; left out", arg(1))
		}
	case "cookie":
		c.cookie(px, l)
	case "acl":
		c.acl(px, l)
	case "use_backend":
		px.uses = append(px.uses, haUse{backend: arg(1), cond: w[min(2, len(w)):], pos: l.pos})
	case "default_backend":
		px.defaultBackend, px.defaultPos = arg(1), l.pos
	case "log", "log-format", "log-tag", "error-log-format", "log-format-sd":
		c.logLine(px, l)
	case "description":
		c.notes.ignored(l.pos, key, "text for HAProxy's stats page; no effect in vigil")
	case "unique-id-format", "unique-id-header":
		c.notes.unsupported(l.pos, key, "vigil generates no request ID, for its logs or a header; not converted")
	case "fullconn", "id", "enabled", "hash-balance-factor":
		c.notes.ignored(l.pos, key, "no effect on how vigil balances")
	case "stats":
		c.notes.unsupported(l.pos, key, "vigil's status page and metrics are served on api.listen; see docs/monitoring.md")
	case "monitor-uri", "monitor":
		c.notes.unsupported(l.pos, key, "vigil answers health probes on api.listen (/api/status), not on the service")
	case "errorfile", "errorloc", "errorloc302", "errorloc303", "errorfiles":
		c.notes.unsupported(l.pos, key, "vigil sends its own error responses")
	default:
		c.notes.unsupported(l.pos, key, "vigil's proxy has no equivalent; not converted")
	}
}

func (c *haConverter) balance(px *haProxy, l haLine) {
	algo := ""
	if len(l.words) > 1 {
		algo = l.words[1]
	}
	px.balPos = l.pos
	switch {
	case algo == "roundrobin", algo == "leastconn", algo == "source":
		px.balance = algo
	case algo == "static-rr":
		px.balance = "roundrobin"
		c.notes.changed(l.pos, "balance", "static-rr becomes roundrobin, which also honours weights")
	case algo == "uri" || algo == "random" || strings.HasPrefix(algo, "random("):
		px.balance = strings.SplitN(algo, "(", 2)[0]
		if len(l.words) > 2 || algo != px.balance {
			c.notes.changed(l.pos, "balance", "the algorithm's parameters (%s) are not supported; plain %s is used", strings.Join(l.words[2:], " "), px.balance)
		}
	default:
		c.notes.unsupported(l.pos, "balance "+algo, "vigil balances by roundrobin, leastconn, source, uri or random; roundrobin is used")
	}
}

func (c *haConverter) option(px *haProxy, l haLine) {
	if len(l.words) < 2 {
		c.notes.unsupported(l.pos, "option", "needs a name")
		return
	}
	name := l.words[1]
	switch name {
	case "forwardfor":
		px.forward = true
		if len(l.words) > 2 {
			c.notes.unsupported(l.pos, "option forwardfor", "vigil adds X-Forwarded-For for every client; %s is not supported", strings.Join(l.words[2:], " "))
		}
	case "httpchk":
		c.httpchkOption(px, l)
	case "tcp-check":
		px.check = "tcp"
	case "httplog", "tcplog", "httpslog", "dontlognull", "dontlog-normal", "log-separate-errors", "logasap":
		c.logLine(px, l)
	case "ssl-hello-chk", "mysql-check", "pgsql-check", "redis-check", "smtpchk", "ldap-check", "spop-check":
		px.check = "tcp"
		c.notes.changed(l.pos, "option "+name, "vigil has no such protocol check; a tcp connect check is used")
	default:
		if why, ok := ignoredOptions[name]; ok {
			c.notes.ignored(l.pos, "option "+name, "%s", why)
			return
		}
		c.notes.unsupported(l.pos, "option "+name, "vigil's proxy has no such option; not converted")
	}
}

func (c *haConverter) cookie(px *haProxy, l haLine) {
	if len(l.words) < 2 {
		c.notes.unsupported(l.pos, "cookie", "needs a name")
		return
	}
	st := &outSticky{Cookie: l.words[1]}
	insert := false
	for i := 2; i < len(l.words); i++ {
		switch o := l.words[i]; o {
		case "insert":
			insert = true
		case "indirect", "nocache", "httponly", "secure", "preserve", "dynamic":
			c.notes.ignored(l.pos, "cookie "+o, "vigil's sticky cookie is set by vigil and kept from the backend")
		case "maxlife", "maxidle":
			i++
			if i < len(l.words) {
				if d, ok := haTime(l.words[i]); ok && o == "maxlife" && d > 0 {
					st.MaxAge = fmtDuration(d)
					c.notes.changed(l.pos, "cookie maxlife", "vigil sets the cookie's max age instead of checking the date in it")
					continue
				}
			}
			c.notes.unsupported(l.pos, "cookie "+o, "not supported; the cookie lives for the browser session")
		case "domain", "attr":
			i++
			c.notes.unsupported(l.pos, "cookie "+o, "vigil sets no cookie attributes; not converted")
		default:
			c.notes.unsupported(l.pos, "cookie "+o, "only cookie insertion is supported")
		}
	}
	if !insert {
		c.notes.unsupported(l.pos, "cookie", "vigil only inserts its own cookie (HAProxy's insert mode); rewrite and prefix are not converted")
		return
	}
	if st.Cookie == "SERVERID" && st.MaxAge == "" {
		st.Cookie = "" // vigil's default name
	}
	px.cookie, px.cookiePos = st, l.pos
}
