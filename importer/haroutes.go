package importer

import (
	"strings"
)

// haACL is one "acl" line vigil's routes can express: a Host match or a
// path prefix.
type haACL struct {
	hosts []string // exact hosts or "*.example.com"
	paths []string // path prefixes
}

// haUse is one use_backend rule.
type haUse struct {
	backend string
	cond    []string
	pos     pos
}

// acl reads "acl NAME CRITERION [flags] VALUES..." for the criteria routes
// can express; other ACLs are noted when a rule uses them.
func (c *haConverter) acl(px *haProxy, l haLine) {
	if len(l.words) < 3 {
		c.notes.unsupported(l.pos, "acl", "needs a name and a criterion")
		return
	}
	a, ok := c.aclMatch(l.words[2:], l)
	if ok {
		px.acls[l.words[1]] = append(px.acls[l.words[1]], a)
	}
}

// aclMatch reads "CRITERION [flags] VALUES...". The criterion and its
// match method (-m) together say what is matched: a whole Host, a domain
// and its subdomains, a Host suffix, or a path prefix.
func (c *haConverter) aclMatch(w []string, l haLine) (haACL, bool) {
	crit := strings.ToLower(w[0])
	method := ""
	var vals []string
	for i := 1; i < len(w); i++ {
		switch w[i] {
		case "-i", "--":
		case "-m":
			if i+1 < len(w) {
				method = w[i+1]
			}
			i++
		case "-f", "-M", "-u":
			c.notes.unsupported(l.pos, crit+" "+w[i], "ACL values from files or maps are not read; rules using this ACL are not converted")
			return haACL{}, false
		default:
			vals = append(vals, w[i])
		}
	}
	kind := ""
	switch {
	case (crit == "hdr(host)" || crit == "req.hdr(host)" || crit == "hdr(host,1)") && (method == "" || method == "str"):
		kind = "host"
	case crit == "hdr_dom(host)" && method == "", (crit == "hdr(host)" || crit == "req.hdr(host)") && method == "dom":
		kind = "domain"
	case crit == "hdr_end(host)" && method == "", (crit == "hdr(host)" || crit == "req.hdr(host)") && method == "end":
		kind = "suffix"
	case (crit == "path_beg" || crit == "url_beg") && method == "", (crit == "path" || crit == "url") && method == "beg":
		kind = "path"
	}
	var a haACL
	switch kind {
	case "host":
		for _, v := range vals {
			a.hosts = append(a.hosts, strings.ToLower(v))
		}
	case "domain":
		for _, v := range vals {
			v = strings.ToLower(strings.Trim(v, "."))
			a.hosts = append(a.hosts, v, "*."+v)
		}
	case "suffix":
		for _, v := range vals {
			v = strings.ToLower(v)
			if !strings.HasPrefix(v, ".") {
				c.notes.changed(l.pos, crit, "%q: vigil matches whole domain labels, so this matches %s and its subdomains only", v, v)
				a.hosts = append(a.hosts, v)
			}
			a.hosts = append(a.hosts, "*."+strings.TrimPrefix(v, "."))
		}
	case "path":
		for _, v := range vals {
			if strings.HasPrefix(v, "/") {
				a.paths = append(a.paths, v)
			} else {
				c.notes.unsupported(l.pos, crit, "%q does not start with /; left out", v)
			}
		}
	default:
		what := crit
		if method != "" {
			what += " -m " + method
		}
		c.notes.unsupported(l.pos, "acl "+what, "vigil routes by Host (hdr, hdr_dom, hdr_end) and path prefix (path_beg) only; rules using this ACL are not converted")
		return a, false
	}
	return a, len(a.hosts)+len(a.paths) > 0
}

// routeMatch is one way a use_backend condition can match: hosts and a path prefix.
type routeMatch struct {
	hosts []string
	path  string
}

// condition turns "if A B || C" into the matches it stands for; ok is false
// when any part of it cannot be expressed as vigil routes.
func (c *haConverter) condition(px *haProxy, u haUse) ([]routeMatch, bool) {
	if len(u.cond) == 0 {
		c.notes.unsupported(u.pos, "use_backend", "a rule without a condition is a default_backend; write it so")
		return nil, false
	}
	if u.cond[0] != "if" {
		c.notes.unsupported(u.pos, "use_backend "+u.cond[0], "vigil routes match positively only; rewrite the rule with if")
		return nil, false
	}
	var out []routeMatch
	term := []haACL{}
	flush := func() bool {
		var hosts, paths []string
		hostACLs := 0
		for _, a := range term {
			if len(a.hosts) > 0 {
				hostACLs++
				hosts = append(hosts, a.hosts...)
			}
			paths = append(paths, a.paths...)
			if len(a.hosts) > 0 && len(a.paths) > 0 {
				return false
			}
		}
		pathACLs := 0
		for _, a := range term {
			if len(a.paths) > 0 {
				pathACLs++
			}
		}
		if hostACLs > 1 || pathACLs > 1 || len(term) == 0 {
			return false
		}
		if len(paths) == 0 {
			out = append(out, routeMatch{hosts: hosts})
		}
		for _, p := range paths {
			out = append(out, routeMatch{hosts: hosts, path: p})
		}
		term = term[:0]
		return true
	}
	w := u.cond[1:]
	for i := 0; i < len(w); i++ {
		switch tok := w[i]; {
		case tok == "||" || tok == "or":
			if !flush() {
				return c.badCondition(u)
			}
		case tok == "{":
			end := i + 1
			for end < len(w) && w[end] != "}" {
				end++
			}
			if end >= len(w) || end == i+1 {
				return c.badCondition(u)
			}
			a, ok := c.aclMatch(w[i+1:end], haLine{words: w, pos: u.pos})
			if !ok {
				return c.badCondition(u)
			}
			term = append(term, a)
			i = end
		case strings.HasPrefix(tok, "!"):
			c.notes.unsupported(u.pos, "use_backend", "vigil routes cannot negate %s; rule not converted", tok)
			return nil, false
		default:
			as, ok := px.acls[tok]
			if !ok {
				c.notes.unsupported(u.pos, "use_backend", "ACL %q is not one vigil can route by; rule not converted", tok)
				return nil, false
			}
			merged := haACL{}
			for _, a := range as {
				merged.hosts = append(merged.hosts, a.hosts...)
				merged.paths = append(merged.paths, a.paths...)
			}
			term = append(term, merged)
		}
	}
	if !flush() {
		return c.badCondition(u)
	}
	return out, true
}

func (c *haConverter) badCondition(u haUse) ([]routeMatch, bool) {
	c.notes.unsupported(u.pos, "use_backend", "the condition %q is not a Host match and/or one path prefix per alternative; rule not converted", strings.Join(u.cond, " "))
	return nil, false
}
