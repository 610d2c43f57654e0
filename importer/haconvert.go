package importer

import (
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"time"
)

// haConverter maps a parsed haproxy.cfg onto vigil services: each bind
// address of a frontend or listen section becomes a service whose backends
// are its default_backend's servers and whose routes are its use_backend
// rules.
type haConverter struct {
	notes     *notes
	services  *serviceSpace
	crtBase   string
	h2Streams int // tune.h2.max-concurrent-streams; 0: HAProxy's default, vigil's too
	linesRead int

	// Logging (halog.go): the global section's log targets, which a
	// converted frontend used and how many were taken, its log-tag and log-send-hostname lines,
	// whether an access log goes to syslog, and the logging options of
	// frontends that log nothing (quiet) or something (loud).
	globalLogs   []*haLogTarget
	globalUsed   map[*haLogTarget]bool
	globalUses   int
	globalTag    *haLine
	sendHostname *haLine
	syslogUsed   bool
	logQuiet     map[pos]haLine
	logLoud      map[pos]bool

	// access is the access log every converted service shares, written
	// once as log.access; nil when they differ.
	access *outAccessLog
}

func newHAConverter(ns *notes, services *serviceSpace) *haConverter {
	return &haConverter{notes: ns, services: services,
		globalUsed: map[*haLogTarget]bool{}, logQuiet: map[pos]haLine{}, logLoud: map[pos]bool{}}
}

// vigil's proxy defaults, left out of the output when HAProxy says the same.
var vigilTimeouts = map[string]time.Duration{
	"connect": 5 * time.Second, "client": time.Minute, "server": time.Minute,
	"http_request": 10 * time.Second, "http_keep_alive": time.Minute, "queue": 5 * time.Second,
}

func (c *haConverter) convert(cfg *haConfig) []*outService {
	for _, l := range cfg.stray {
		c.notes.unsupported(l.pos, l.words[0], "outside any section; not converted")
	}
	backends := map[string]*haSection{}
	for _, s := range cfg.sections {
		switch s.kind {
		case "global":
			c.global(s)
		case "backend", "listen":
			backends[s.name] = s
		}
	}
	used := map[string]bool{}
	var out []*outService
	for _, s := range cfg.sections {
		switch s.kind {
		case "global", "defaults", "backend":
		case "frontend", "listen":
			out = append(out, c.proxy(s, backends, used)...)
		default:
			c.notes.unsupported(s.pos, s.kind, "vigil has no %s section; not converted", s.kind)
		}
	}
	for _, s := range cfg.sections {
		if s.kind == "backend" && !used[s.name] {
			c.notes.ignored(s.pos, "backend", "%s is used by no converted frontend, so it is not converted", s.name)
		}
	}
	c.access = c.finishLogs(out)
	return out
}

// ignoredGlobals are process settings that vigil's systemd unit and
// defaults take care of.
var ignoredGlobals = map[string]string{
	"daemon": "vigil runs under systemd", "master-worker": "vigil runs under systemd", "user": "vigil runs as the user its unit says",
	"group": "vigil runs as the group its unit says", "uid": "vigil runs as the user its unit says", "gid": "vigil runs as the group its unit says",
	"chroot": "use the unit's sandboxing options", "pidfile": "vigil runs under systemd", "stats": "vigil's status API is api.listen and api.socket",
	"nbthread": "vigil uses every CPU", "nbproc": "vigil uses every CPU", "cpu-map": "vigil uses every CPU",
	"hard-stop-after": "vigil drains connections on reload and stop", "zero-warning": "vigil check reports every problem",
	"ca-base": "vigil does not check backend certificates", "default-path": "vigil's paths are as written",
	"tune.ssl.default-dh-param": "vigil uses Go's TLS defaults", "ssl-default-bind-ciphers": "vigil uses Go's TLS cipher suites",
	"ssl-default-bind-ciphersuites": "vigil uses Go's TLS cipher suites", "ssl-default-bind-options": "vigil refuses TLS below 1.2",
	"ssl-default-server-ciphers": "vigil uses Go's TLS defaults", "ssl-default-server-options": "vigil uses Go's TLS defaults",
	"ssl-default-server-ciphersuites": "vigil uses Go's TLS defaults", "ssl-server-verify": "vigil does not use TLS to backends",
	"spread-checks": "vigil spreads checks by itself (check jitter)", "maxconn": "vigil limits connections per service (max_conn)",
	"ulimit-n": "vigil raises its file limit by itself", "description": "vigil names the node with node:", "node": "vigil names the node with node:",
}

func (c *haConverter) global(s *haSection) {
	for _, l := range s.lines {
		key := l.words[0]
		switch {
		case key == "crt-base" && len(l.words) > 1:
			c.crtBase = l.words[1]
		case (key == "tune.h2.max-concurrent-streams" || key == "tune.h2.fe.max-concurrent-streams") && len(l.words) > 1:
			n, err := strconv.Atoi(l.words[1])
			if err != nil || n < 1 || n > 1<<20 {
				c.notes.unsupported(l.pos, key, "%q is not a stream count vigil takes (1 to 1048576); not converted", l.words[1])
			} else if n != 100 {
				c.h2Streams = n
			}
		case key == "log":
			c.globalLog(l)
		case key == "log-tag":
			c.globalTag = &l
		case key == "log-send-hostname":
			c.sendHostname = &l
		case ignoredGlobals[key] != "":
			c.notes.ignored(l.pos, key, "%s", ignoredGlobals[key])
		default:
			c.notes.unsupported(l.pos, key, "vigil has no such global setting; not converted")
		}
	}
}

// proxy converts one frontend or listen section into one service per bind address.
func (c *haConverter) proxy(s *haSection, backends map[string]*haSection, used map[string]bool) []*outService {
	fe := c.evalProxy(s)
	be := fe
	if s.kind == "frontend" {
		be = nil
		if fe.defaultBackend != "" {
			if sec, ok := backends[fe.defaultBackend]; ok {
				be = c.evalProxy(sec)
				used[sec.name] = true
			} else {
				c.notes.unsupported(fe.defaultPos, "default_backend", "no backend named %q", fe.defaultBackend)
			}
		}
	}
	if be != nil && be.mode != fe.mode {
		c.notes.unsupported(be.sec.pos, "mode", "backend %s is mode %s but frontend %s is mode %s; vigil serves the frontend's mode", be.sec.name, be.mode, s.name, fe.mode)
	}
	var binds []haBind
	for _, b := range fe.binds {
		if len(b.addrs) > 0 {
			binds = append(binds, b)
		}
	}
	if len(binds) == 0 {
		c.notes.unsupported(s.pos, s.kind, "%s has no bind address vigil can listen on, so it is not converted", s.name)
		return nil
	}
	n := 0
	for _, b := range binds {
		n += len(b.addrs)
	}
	var out []*outService
	for _, b := range binds {
		for _, addr := range b.addrs {
			name := s.name
			if n > 1 {
				name = fmt.Sprintf("%s-%d", s.name, addr.Port())
			}
			svc := c.service(fe, be, b, addr, backends, used)
			if svc == nil {
				continue
			}
			svc.Name = c.services.names.make(name)
			if other, ok := c.services.claim(svc); !ok {
				c.notes.unsupported(b.pos, "bind", "%s is also the address of service %s; not converted", addr, other)
				continue
			}
			out = append(out, svc)
		}
	}
	// HAProxy's frontend decides what is logged, for all its addresses.
	if len(out) > 0 {
		if al := c.accessLog(fe); al != nil {
			for _, svc := range out {
				a := *al
				svc.AccessLog = &a
			}
		}
	}
	return out
}

// service builds the service for one listen address.
func (c *haConverter) service(fe, be *haProxy, b haBind, addr netip.AddrPort, backends map[string]*haSection, used map[string]bool) *outService {
	http := fe.mode == "http"
	svc := &outService{Listen: addr.String()}
	if http {
		svc.Protocol = "http"
	}
	port := int(addr.Port())
	if be != nil {
		svc.Backends = c.backendsFor(be, port)
		svc.Check = c.serviceCheck(be)
		c.pool(svc, be, http)
	}
	if http {
		for _, u := range fe.uses {
			c.route(svc, fe, u, port, backends, used)
		}
	} else {
		for _, u := range fe.uses {
			c.notes.unsupported(u.pos, "use_backend", "vigil routes requests in mode http only; rule not converted")
		}
	}
	if len(svc.Backends) == 0 && len(svc.Routes) == 0 {
		c.notes.unsupported(fe.sec.pos, fe.sec.kind, "%s has no servers vigil can use, so it is not converted", fe.sec.name)
		return nil
	}
	// Client-side settings come from the frontend.
	t := timeoutsOf(fe, "client", "http_request", "http_keep_alive")
	if be != nil {
		for k, v := range timeoutsOf(be, "connect", "server", "queue") {
			t[k] = v
		}
	}
	svc.Timeouts = outTimeoutsOf(t, http)
	svc.MaxConn = fe.maxconn
	if b.accept {
		if svc.ProxyProtocol == nil {
			svc.ProxyProtocol = &outProxyProtocol{}
		}
		svc.ProxyProtocol.Accept = true
	}
	if b.tls != nil {
		tls := *b.tls
		if !http {
			tls.HTTP2 = nil
		}
		svc.TLS = &tls
		if http && (tls.HTTP2 == nil || *tls.HTTP2) {
			svc.HTTP2MaxStreams = c.h2Streams
		}
	}
	if http && !fe.forward && (be == nil || !be.forward) {
		svc.ForwardedHeaders = boolPtr(false) // vigil adds X-Forwarded-For by default, HAProxy only with option forwardfor
	}
	return svc
}

// pool sets what a backend section says about balancing and servers.
func (c *haConverter) pool(svc *outService, be *haProxy, http bool) {
	if be.balance != "" && be.balance != "roundrobin" {
		if be.balance == "uri" && !http {
			c.notes.unsupported(be.balPos, "balance uri", "uri hashing needs mode http; roundrobin is used")
		} else {
			svc.Balance = be.balance
		}
	}
	if be.retries != 3 {
		svc.Retries = intPtr(be.retries)
	}
	if be.cookie != nil {
		if http {
			st := *be.cookie
			svc.Sticky = &st
		} else {
			c.notes.unsupported(be.cookiePos, "cookie", "cookies need mode http; not converted")
		}
	}
	sends := map[string]bool{}
	for _, s := range be.servers {
		sends[s.opts.sendProxy] = true
		if s.opts.slowstart > 0 && svc.Slowstart == "" {
			svc.Slowstart = fmtDuration(s.opts.slowstart)
		}
		if s.opts.onDownKill {
			svc.OnDown = "shutdown_sessions"
		}
	}
	for _, s := range be.servers {
		if s.opts.sendProxy != "" {
			svc.ProxyProtocol = &outProxyProtocol{Send: s.opts.sendProxy}
			if len(sends) > 1 {
				c.notes.changed(s.pos, "send-proxy", "vigil sends the PROXY header to every backend of a service or none; now to all")
			}
			break
		}
	}
}

// route converts one use_backend rule into routes of svc.
func (c *haConverter) route(svc *outService, fe *haProxy, u haUse, port int, backends map[string]*haSection, used map[string]bool) {
	sec, ok := backends[u.backend]
	if !ok {
		c.notes.unsupported(u.pos, "use_backend", "no backend named %q; rule not converted", u.backend)
		return
	}
	matches, ok := c.condition(fe, u)
	if !ok {
		return
	}
	used[sec.name] = true
	rb := c.evalProxy(sec)
	bs := c.backendsFor(rb, port)
	if len(bs) == 0 {
		c.notes.unsupported(u.pos, "use_backend", "backend %s has no servers vigil can use; rule not converted", u.backend)
		return
	}
	if ch := c.serviceCheck(rb); !reflect.DeepEqual(ch, svc.Check) {
		c.notes.changed(u.pos, "use_backend", "vigil runs one check per service; the servers of %s are checked like the service's default backend", u.backend)
	}
	balance := ""
	if rb.balance != "" && rb.balance != svc.Balance && !(rb.balance == "roundrobin" && svc.Balance == "") {
		balance = rb.balance
	}
	for _, m := range matches {
		svc.Routes = append(svc.Routes, &outRoute{Hosts: m.hosts, PathPrefix: m.path, Backends: bs, Balance: balance})
	}
}

func timeoutsOf(px *haProxy, keys ...string) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, k := range keys {
		if d, ok := px.timeouts[k]; ok && d > 0 {
			out[k] = d
		}
	}
	return out
}

// outTimeoutsOf writes the timeouts that differ from vigil's defaults.
func outTimeoutsOf(t map[string]time.Duration, http bool) *outTimeouts {
	get := func(k string) string {
		d, ok := t[k]
		if !ok || d == vigilTimeouts[k] {
			return ""
		}
		return fmtDuration(d)
	}
	o := &outTimeouts{Connect: get("connect"), Client: get("client"), Server: get("server"), Queue: get("queue")}
	if http {
		o.HTTPRequest, o.HTTPKeepAlive = get("http_request"), get("http_keep_alive")
	}
	if *o == (outTimeouts{}) {
		return nil
	}
	return o
}
