package reference

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// span is a piece of reference text: prose, or code (a key, a path, a
// value) that each output sets in its own way.
type span struct {
	s    string
	code bool
}

func plain(s string) span { return span{s: s} }
func code(s string) span  { return span{s: s, code: true} }

// paragraph is a run of spans; a description is a list of paragraphs.
type paragraph []span

var wordRE = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)

// cleanDoc turns a Go doc comment into reference text: the Go names of
// fields become their YAML keys, set as code, the Go names of types become
// the path where they appear when there is one, and nil is "unset".
func cleanDoc(doc string, names map[string]string) []paragraph {
	var out []paragraph
	for _, para := range strings.Split(strings.TrimSpace(doc), "\n\n") {
		para = strings.Join(strings.Fields(para), " ")
		if para == "" {
			continue
		}
		var p paragraph
		last := 0
		for _, m := range wordRE.FindAllStringIndex(para, -1) {
			w := para[m[0]:m[1]]
			repl, ok := names[w]
			if w == "nil" {
				repl, ok = "unset", true
				p = append(p, plain(para[last:m[0]]), plain(repl))
				last = m[1]
				continue
			}
			// An acronym is a word of prose too ("the status API"): only
			// the comment's first word, its subject, is taken for the name.
			if !ok || (acronym(w) && m[0] > 0) {
				continue
			}
			p = append(p, plain(para[last:m[0]]), code(repl))
			last = m[1]
		}
		p = append(p, plain(para[last:]))
		out = append(out, compact(p))
	}
	return out
}

// acronym reports whether a Go name is written in capitals (API, VIPs,
// HTTP2MaxStreams is not).
func acronym(w string) bool {
	w = strings.TrimSuffix(w, "s")
	for _, r := range w {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// compact joins neighbouring spans of the same kind and drops empty ones.
func compact(p paragraph) paragraph {
	var out paragraph
	for _, s := range p {
		if s.s == "" {
			continue
		}
		if len(out) > 0 && out[len(out)-1].code == s.code && !s.code {
			out[len(out)-1].s += s.s
			continue
		}
		out = append(out, s)
	}
	return out
}

// docNames maps the Go names a comment about n may use to what the
// reference calls them.
func (r *Reference) docNames(n *node, self string) map[string]string {
	names := map[string]string{}
	for typ, paths := range r.typePaths {
		if len(paths) == 1 {
			names[typ] = paths[0]
		}
	}
	if n.parent != nil {
		for _, f := range n.parent.fields {
			names[f.goName] = f.key
		}
	}
	if self != "" {
		names[self] = n.key
		for _, f := range structNode(n).fields {
			names[f.goName] = f.key
		}
	}
	return names
}

// structNode is the struct a node holds, itself or as the elements of a list or map.
func structNode(n *node) *node {
	for n.kind == kList || n.kind == kMap {
		n = n.elem
	}
	return n
}

// describeNode is the text of a node: its field comment, then the comment
// of its struct type when it is one.
func (r *Reference) describeNode(n *node) []paragraph {
	out := cleanDoc(n.doc, r.docNames(n, ""))
	s := structNode(n)
	if s.kind == kStruct && n.parent != nil {
		doc := r.src.typeDoc[s.typ]
		if s != n {
			// The type describes one item: "Instance is one VRRP virtual
			// router" is "Each item is one VRRP virtual router".
			if rest, ok := strings.CutPrefix(doc, s.typ+" "); ok {
				doc = "Each item " + rest
			}
		}
		out = append(out, cleanDoc(doc, r.docNames(n, s.typ))...)
	}
	return out
}

// typeText says what a node is in YAML.
func (r *Reference) typeText(n *node) paragraph { return kindText(n, false) }

// kindText names a node's kind, for one value or for the items of a list.
func kindText(n *node, many bool) paragraph {
	pick := func(one, more string) string {
		if many {
			return more
		}
		return one
	}
	switch n.kind {
	case kString, kInt, kUint:
		if e := n.enum(); e != nil {
			return append(paragraph{plain(pick("one of ", "values, each one of "))}, joinCode(e, "|")...)
		}
		if n.kind == kString {
			return paragraph{plain(pick("string", "strings"))}
		}
		return paragraph{plain(pick("integer", "integers"))}
	case kBool:
		return paragraph{plain(pick("boolean", "booleans"))}
	case kDuration:
		return paragraph{plain(pick("duration (", "durations (")), code("2s"), plain(", "), code("100ms"), plain(")")}
	case kAddr:
		return paragraph{plain(pick("IP address", "IP addresses"))}
	case kPrefix:
		return paragraph{plain(pick("IP prefix (", "IP prefixes (")), code("10.0.0.100/24"), plain("; a bare address is a /32 or /128)")}
	case kAddrPort:
		return paragraph{plain(pick("IP:port (", "IP:ports (")), code("10.0.0.100:80"), plain(", "), code("[2001:db8::1]:80"), plain(")")}
	case kStatus:
		return paragraph{plain(pick("status code (", "status codes (")), code("200"), plain(pick("), range (", "), ranges (")),
			code("200-299"), plain(pick(") or class (", ") or classes (")), code("2xx"), plain(")")}
	case kCommand:
		return paragraph{plain("command: a list of program and arguments, or one string split on spaces")}
	case kStruct:
		if f, ok := scalarForms[n.typ]; ok {
			return paragraph{plain(pick(f.text, f.plural))}
		}
		return paragraph{plain(pick("mapping", "mappings"))}
	case kList:
		return append(paragraph{plain(pick("list of ", "lists of "))}, kindText(n.elem, true)...)
	case kMap:
		return append(paragraph{plain(pick("mapping of names to ", "mappings of names to "))}, kindText(n.elem, true)...)
	}
	return paragraph{plain("?")}
}

func joinCode(values []string, sep string) paragraph {
	var p paragraph
	for i, v := range values {
		if i > 0 {
			p = append(p, plain(sep))
		}
		p = append(p, code(quoteEmpty(v)))
	}
	return p
}

func quoteEmpty(v string) string {
	if v == "" {
		return `""`
	}
	return v
}

// listWords joins items as "a, b or c".
func listWords(items []paragraph, last string) paragraph {
	var p paragraph
	for i, it := range items {
		switch {
		case i == 0:
		case i == len(items)-1:
			p = append(p, plain(" "+last+" "))
		default:
			p = append(p, plain(", "))
		}
		p = append(p, it...)
	}
	return p
}

// defaultText says a node's default and where defaults.go sets it.
func (r *Reference) defaultText(n *node) paragraph {
	if len(n.defaults) == 0 {
		switch {
		case n.ptr && n.kind == kStruct:
			return paragraph{plain("not set")}
		case n.kind == kStruct:
			return nil
		case n.kind == kInt || n.kind == kUint:
			return paragraph{code("0")}
		case n.kind == kBool:
			return paragraph{code("false")}
		case n.kind == kDuration:
			return paragraph{code("0s")}
		}
		return paragraph{plain("empty")}
	}
	var items []paragraph
	fns := map[string]bool{}
	var fnList []string
	for _, d := range n.defaults {
		var p paragraph
		if d.computed != nil {
			p = append(p, d.computed...)
		} else {
			p = append(p, code(quoteEmpty(d.text)))
		}
		if len(d.when) > 0 {
			p = append(p, plain(" when "))
			p = append(p, r.condsText(d.when)...)
		}
		items = append(items, p)
		if !fns[d.fn] {
			fns[d.fn] = true
			fnList = append(fnList, d.fn)
		}
	}
	out := listWords(items, "and")
	if n.zeroReplaced {
		out = append(out, plain(", also in place of an empty value"))
	}
	out = append(out, plain(" ("))
	for i, fn := range fnList {
		if i > 0 {
			out = append(out, plain(", "))
		}
		out = append(out, code(fn))
	}
	return append(out, plain(" in config/defaults.go)"))
}

// condsText says conditions in words: "`services[].mode` is `lvs`".
func (r *Reference) condsText(as []*atom) paragraph {
	var items []paragraph
	for _, a := range as {
		items = append(items, r.atomText(a))
	}
	return listWords(items, "and")
}

func (r *Reference) atomText(a *atom) paragraph {
	n := a.node
	p := paragraph{code(n.path)}
	switch a.kind {
	case aEq:
		values := a.values
		verb := " is "
		if a.neg {
			if e := n.enum(); e != nil && len(minus(e, values)) > 0 {
				values = minus(e, values)
			} else {
				verb = " is not "
			}
		}
		return append(append(p, plain(verb)), listWords(codes(values), "or")...)
	case aZero:
		word := map[kind]string{kInt: "0", kUint: "0", kBool: "false"}[n.kind]
		switch {
		case word != "" && !a.neg:
			return append(p, plain(" is "), code(word))
		case word != "":
			return append(p, plain(" is not "), code(word))
		case !a.neg:
			return append(p, plain(" is not set"))
		}
		return append(p, plain(" is set"))
	case aSet:
		if a.neg {
			return append(p, plain(" is not written"))
		}
		return append(p, plain(" is written"))
	}
	return append(p, plain(" holds"))
}

func codes(values []string) []paragraph {
	out := make([]paragraph, len(values))
	for i, v := range values {
		out[i] = paragraph{code(quoteEmpty(v))}
	}
	return out
}

// rulesText says what validate.go accepts at a node, one item per rule
// (a lower and upper bound under the same conditions read as a range).
func (r *Reference) rulesText(n *node) []paragraph {
	out := r.ownRulesText(n, true)
	if n.kind == kList || n.kind == kMap {
		for _, p := range r.ownRulesText(n.elem, false) {
			out = append(out, append(paragraph{plain("each item: ")}, p...))
		}
	}
	return out
}

// ownRulesText renders the rules of a node itself; an enum its type
// already names is left out when skipEnum.
func (r *Reference) ownRulesText(n *node, skipEnum bool) []paragraph {
	var out []paragraph
	used := map[*rule]bool{}
	enum := n.enum()
	for _, ru := range n.rules {
		if skipEnum && enum != nil && ru.kind == rOneOf && len(ru.when) == 0 && !ru.key && slices.Equal(ru.values, enum) && (!ru.zeroOK || n.zeroReplaced) {
			continue
		}
		if used[ru] {
			continue
		}
		used[ru] = true
		var p paragraph
		if ru.key {
			p = append(p, plain("names: "))
		}
		switch ru.kind {
		case rOneOf:
			var items []paragraph
			items = append(items, codes(ru.values)...)
			for _, pt := range ru.patterns {
				items = append(items, r.humanPattern(pt))
			}
			if len(ru.patterns) == 0 {
				p = append(p, plain("one of "))
			}
			p = append(p, listWords(items, "or")...)
		case rNotIn:
			p = append(p, plain("not "))
			p = append(p, listWords(codes(ru.values), "or")...)
		case rMin, rMax:
			var hi *rule
			if ru.kind == rMin {
				for _, o := range n.rules {
					if o.kind == rMax && !used[o] && o.zeroOK == ru.zeroOK && sameWhen(o.when, ru.when) {
						hi = o
						break
					}
				}
			}
			switch {
			case hi != nil:
				used[hi] = true
				p = append(p, code(numText(n, ru.k)+".."+numText(n, hi.k)))
			case ru.kind == rMin && n.kind == kDuration && ru.k == 1:
				p = append(p, plain("more than "), code("0s"))
			case ru.kind == rMin:
				p = append(p, plain("at least "), code(numText(n, ru.k)))
			default:
				p = append(p, plain("at most "), code(numText(n, ru.k)))
			}
		case rMinLen, rMaxLen:
			unit := " bytes"
			if n.kind == kList || n.kind == kMap {
				unit = " items"
			}
			word := "at least "
			if ru.kind == rMaxLen {
				word = "at most "
			}
			p = append(p, plain(word+strconv.FormatInt(ru.k, 10)+unit))
		case rRequired:
			p = append(p, plain("required"))
		case rNonEmpty:
			p = append(p, plain("must not be empty"))
		case rZero:
			word := map[kind]string{kInt: "must be 0", kUint: "must be 0", kBool: "must be false"}[n.kind]
			if word == "" {
				word = "must not be set"
			}
			p = append(p, plain(word))
		}
		if ru.zeroOK && ru.kind != rZero && !n.zeroReplaced {
			switch n.kind {
			case kInt, kUint:
				p = append(p, plain(", or "), code("0"))
			case kBool, kDuration:
			default:
				p = append(p, plain(", or empty"))
			}
			if len(ru.when) > 0 {
				p = append(p, plain(","))
			}
		}
		if len(ru.when) > 0 {
			p = append(p, plain(" when "))
			p = append(p, r.condsText(ru.when)...)
		}
		out = append(out, p)
	}
	return out
}

func (r *Reference) humanPattern(pt pattern) paragraph {
	if strings.HasPrefix(pt.human, "matches ") {
		return paragraph{plain("matches "), code(pt.re)}
	}
	// "starts with `x`": the literal in backquotes is code.
	var p paragraph
	parts := strings.Split(pt.human, "`")
	for i, s := range parts {
		if i%2 == 1 {
			p = append(p, code(s))
		} else if s != "" {
			p = append(p, plain(s))
		}
	}
	return p
}

func sameWhen(a, b []*atom) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].String() != b[i].String() {
			return false
		}
	}
	return true
}

// numText prints a bound in the node's units.
func numText(n *node, k int64) string {
	if n.kind == kDuration {
		return time.Duration(k).String()
	}
	return strconv.FormatInt(k, 10)
}

// plainText renders spans for a JSON description: code in backquotes.
func plainText(ps ...paragraph) string {
	var parts []string
	for _, p := range ps {
		var b strings.Builder
		for _, s := range p {
			if s.code {
				fmt.Fprintf(&b, "`%s`", s.s)
			} else {
				b.WriteString(s.s)
			}
		}
		parts = append(parts, b.String())
	}
	return strings.Join(parts, "\n\n")
}
