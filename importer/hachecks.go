package importer

import (
	"strings"
	"time"
)

// HAProxy's health checks (server check options, option httpchk,
// http-check) as the one check of a vigil service.

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
