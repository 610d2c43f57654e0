package importer

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// The real server checkers of keepalived's virtual_server, as vigil checks.

// checker converts one real server checker block into a vigil check.
func (c *kaConverter) checker(vs *kaVS, b *kaNode, vsNode, rsNode *kaNode, rsPort int) *outCheck {
	ch := &outCheck{}
	interval, timeout := vs.interval, 5*time.Second
	retry := 1
	switch b.key {
	case "TCP_CHECK":
		ch.Type = "tcp"
	case "HTTP_GET":
		ch.Type = "http"
		ch.ExpectStatus = []string{"200-299"} // keepalived's default; vigil's is 200-399
	case "SSL_GET":
		ch.Type = "https"
		ch.ExpectStatus = []string{"200-299"}
	case "MISC_CHECK":
		ch.Type = "exec"
		retry = 0
	case "DNS_CHECK":
		ch.Type = "dns"
		retry = 3
		ch.QueryType = "SOA"
		ch.Query = "."
		if rsPort != 53 {
			ch.Port = 53
		}
	case "UDP_CHECK":
		ch.Type = "udp"
	}
	for _, n := range vsNode.kids {
		if n.key == "virtualhost" && (ch.Type == "http" || ch.Type == "https") {
			ch.Host = n.arg(0)
		}
	}
	// keepalived lets the virtual_server and the real_server set the
	// checkers' timing; the checker's own lines come last and win.
	var lines []*kaNode
	for _, outer := range []*kaNode{vsNode, rsNode} {
		for _, n := range outer.kids {
			switch n.key {
			case "retry", "nb_get_retry", "delay_before_retry", "warmup", "connect_timeout":
				lines = append(lines, n)
			}
		}
	}
	urls := 0
	for _, n := range append(lines, b.kids...) {
		switch n.key {
		case "connect_timeout", "misc_timeout", "delay_loop":
			if d, ok := seconds(c.notes, n, n.arg(0)); ok && d > 0 {
				if n.key == "delay_loop" {
					interval = d
				} else {
					timeout = d
				}
			}
		case "retry", "nb_get_retry":
			if v, ok := integer(c.notes, n, n.arg(0), 0, 100); ok {
				retry = v
			}
		case "delay_before_retry":
			c.notes.changed(n.pos, n.key, "vigil probes every interval and needs fall failures in a row, so a real server is marked down after (retry+1) x delay_loop rather than after the retries' delay")
		case "connect_port":
			if v, ok := integer(c.notes, n, n.arg(0), 1, 65535); ok && v != rsPort {
				ch.Port = v
			}
		case "url":
			urls++
			if urls > 1 {
				c.notes.unsupported(n.pos, n.key, "vigil checks one URL per service; this one is left out")
				continue
			}
			c.url(ch, n)
		case "virtualhost":
			ch.Host = n.arg(0)
		case "sni_server_name":
			if ch.Type == "https" {
				ch.SNI = n.arg(0)
			}
		case "enable_sni":
			c.notes.ignored(n.pos, n.key, "vigil sends the SNI it is given (sni_server_name); none by default")
		case "misc_path":
			if needArg(c.notes, n) {
				ch.Command = splitCommand(strings.Join(n.args, " "))
			}
		case "misc_dynamic":
			c.notes.unsupported(n.pos, n.key, "vigil does not set weights from a check's exit code; the exit code says only up (0) or down")
		case "type":
			ch.QueryType = strings.ToUpper(n.arg(0))
		case "name":
			if n.arg(0) != "" {
				ch.Query = n.arg(0)
			}
		case "payload":
			ch.Payload = n.arg(0)
		case "require_reply":
			ch.ExpectReply = n.arg(0)
		case "warmup":
			c.notes.ignored(n.pos, n.key, "vigil spreads probes by itself (check jitter)")
		default:
			c.notes.unsupported(n.pos, n.key, "not supported in vigil checks; not converted")
		}
	}
	if ch.Type == "exec" && len(ch.Command) == 0 {
		c.notes.unsupported(b.pos, b.key, "MISC_CHECK without misc_path; not converted")
		return nil
	}
	if ch.Type == "dns" && ch.QueryType != "" && !slices.Contains([]string{"A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT"}, ch.QueryType) {
		c.notes.unsupported(b.pos, b.key, "DNS query type %q is not supported; SOA is used", ch.QueryType)
		ch.QueryType = "SOA"
	}
	if ch.QueryType == "A" {
		ch.QueryType = ""
	}
	setTiming(ch, interval, timeout, 1, retry+1)
	fitCheck(c.notes, ch, b.pos, b.key)
	return ch
}

// url reads HTTP_GET's url { path digest status_code }.
func (c *kaConverter) url(ch *outCheck, u *kaNode) {
	var status []string
	for _, n := range u.kids {
		switch n.key {
		case "path":
			if strings.HasPrefix(n.arg(0), "/") {
				if n.arg(0) != "/" {
					ch.Path = n.arg(0)
				}
			} else {
				c.notes.unsupported(n.pos, n.key, "%q does not start with /; / is checked", n.arg(0))
			}
		case "digest":
			if len(n.arg(0)) == 32 && strings.Trim(strings.ToLower(n.arg(0)), "0123456789abcdef") == "" {
				ch.Digest = strings.ToLower(n.arg(0))
			} else {
				c.notes.unsupported(n.pos, n.key, "%q is not an MD5 sum (32 hex digits); left out", n.arg(0))
			}
		case "status_code":
			for _, s := range n.args {
				if validStatus(s) {
					status = append(status, s)
				} else {
					c.notes.unsupported(n.pos, n.key, "%q is not a status code or range 100..599; left out", s)
				}
			}
		case "regex":
			ch.ExpectBodyRegex = n.arg(0)
		default:
			c.notes.unsupported(n.pos, n.key, "not supported in vigil http checks; not converted")
		}
	}
	if len(status) > 0 {
		ch.ExpectStatus = status
	}
}

// validStatus accepts a status code or range as config does.
func validStatus(s string) bool {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err1 := strconv.Atoi(lo)
	b := a
	var err2 error
	if isRange {
		b, err2 = strconv.Atoi(hi)
	}
	return err1 == nil && err2 == nil && a >= 100 && b <= 599 && a <= b
}
