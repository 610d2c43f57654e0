package reference

import (
	"fmt"
	"go/token"
	"slices"
	"sort"
	"strings"
)

// ruleKind is what a rule of validate.go requires of a value.
type ruleKind int

const (
	rOneOf    ruleKind = iota // one of values, or matching one of patterns
	rNotIn                    // none of values
	rMin                      // at least k
	rMax                      // at most k
	rMinLen                   // at least k bytes or items
	rMaxLen                   // at most k bytes or items
	rRequired                 // the key must be written (and not zero, when nonZero)
	rNonEmpty                 // a written value must not be zero
	rZero                     // must be zero: empty, 0, false or unset
)

// pattern is a regular expression a value must match, and its meaning in words.
type pattern struct {
	re, human string
}

// rule is one requirement validate.go makes of a node's value.
type rule struct {
	kind     ruleKind
	values   []string
	patterns []pattern
	k        int64
	key      bool    // about the keys of a map
	nonZero  bool    // rRequired: the value must not be zero either
	zeroOK   bool    // the zero value is exempt: the rule runs only on a set value
	when     []*atom // conditions on other nodes
}

// signature identifies a rule for removing duplicates.
func (r *rule) signature() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d|%q|%v|%d|%v|%v|%v|", r.kind, r.values, r.patterns, r.k, r.key, r.nonZero, r.zeroOK)
	for _, a := range r.when {
		b.WriteString(a.String())
		b.WriteString("&")
	}
	return b.String()
}

// defaultValue is one default of a node.
type defaultValue struct {
	json     any    // the value as JSON, when it is a constant
	text     string // the value as YAML, when it is a constant
	computed []span // what it is computed from, when it is not
	when     []*atom
	fn       string // the function of defaults.go that sets it
}

// unconditional returns the node's default when it is one constant that
// holds whatever else the file says.
func (n *node) unconditional() *defaultValue {
	if len(n.defaults) != 1 || len(n.defaults[0].when) > 0 || n.defaults[0].computed != nil {
		return nil
	}
	return n.defaults[0]
}

// zeroDefault reports whether a node left out of the file stays zero.
func (n *node) zeroDefault() bool { return len(n.defaults) == 0 }

// learn turns the interpreter's records into the nodes' defaults and rules.
func (in *interp) learn() {
	for _, a := range in.assigns {
		in.learnDefault(a)
	}
	for _, r := range in.reports {
		in.learnRule(r)
	}
	for _, n := range in.paths {
		finishRules(n)
	}
}

func (in *interp) learnDefault(a assignment) {
	seen := map[string]bool{}
	for _, term := range dnf(and(a.stack...)) {
		term, ok := simplify(term)
		if !ok {
			continue
		}
		var when []*atom
		skip := false
		for _, at := range term {
			switch {
			case at.kind == aBad:
				skip = skip || !at.neg
			case at.node == a.node && at.kind == aZero && !at.neg && !at.key:
				a.node.zeroReplaced = true
			case at.node == a.node && at.kind == aSet && at.neg:
				// a default applies where the file does not write the key
			case at.node != nil && at.node.isAncestorOf(a.node) && present(at):
				// the parent is present: always so where the default applies
			case at.kind == aOpaque:
				// a condition of the computation itself (os.Hostname succeeding)
			case expressible(at):
				when = append(when, at)
			default:
				skip = true
			}
		}
		if skip {
			continue
		}
		sortAtoms(when)
		d := &defaultValue{json: a.json, text: a.text, computed: a.computed, when: when, fn: a.fn}
		sig := fmt.Sprintf("%v|%s|%v|%v", d.json, d.text, d.computed, when)
		if seen[sig] {
			continue
		}
		seen[sig] = true
		a.node.defaults = append(a.node.defaults, d)
	}
}

// expressible reports whether the reference can say a condition in words
// and in the schema: a value, zero or written, of a node.
func expressible(a *atom) bool {
	return a.node != nil && !a.key && (a.kind == aEq || a.kind == aZero || a.kind == aSet)
}

func (in *interp) learnRule(rep errorReport) {
	n := rep.node
	for _, term := range dnf(and(rep.stack...)) {
		if r := ruleOf(n, term); r != nil {
			target := n
			if r.key {
				target = n.parent
			}
			target.rules = append(target.rules, r)
		}
	}
}

// ruleOf reads one way an error is reported at n: the atoms about n (or
// about the keys, when n is a map's element) say what is refused, the
// others when.
func ruleOf(n *node, term []*atom) *rule {
	term, ok := simplify(term)
	if !ok {
		return nil
	}
	var tests, guards []*atom
	zeroOK := false
	for _, a := range term {
		switch {
		case a.kind == aBad:
			if !a.neg {
				return nil // only refused configs get here
			}
		case a.key && n.isElem && a.node == n.parent:
			tests = append(tests, a)
		case a.node == n && !a.key:
			switch {
			case a.kind == aSet && !a.neg:
				// the rule is about a written value: implied
			default:
				tests = append(tests, a)
			}
		default:
			guards = append(guards, a)
		}
	}
	// A "not zero" test beside others only exempts the zero value.
	if len(tests) > 1 {
		var rest []*atom
		for _, t := range tests {
			if t.kind == aZero && t.neg && !t.key {
				zeroOK = true
				continue
			}
			rest = append(rest, t)
		}
		tests = rest
	}
	if len(tests) == 0 {
		return nil
	}
	var when []*atom
	for _, g := range guards {
		switch {
		case g.node != nil && !g.key && g.node.isAncestorOf(n) && present(g):
			// the parent is present: always so where the value is
		case expressible(g):
			when = append(when, g)
		default:
			return nil
		}
	}
	sortAtoms(when)
	r := &rule{zeroOK: zeroOK, when: when, key: tests[0].key}
	for _, t := range tests {
		if t.key != r.key {
			return nil
		}
	}
	if len(tests) > 1 {
		// Several refusals of membership: the value must be one of them.
		r.kind = rOneOf
		for _, t := range tests {
			switch {
			case t.kind == aEq && t.neg:
				r.values = union(r.values, t.values)
			case t.kind == aMatch && t.neg:
				r.patterns = append(r.patterns, pattern{t.pattern, t.human})
			default:
				return nil
			}
		}
		return r
	}
	t := tests[0]
	switch t.kind {
	case aEq:
		r.values = slices.Clone(t.values)
		r.kind = rOneOf
		if !t.neg {
			r.kind = rNotIn
		}
	case aMatch:
		if !t.neg {
			return nil
		}
		r.kind = rOneOf
		r.patterns = []pattern{{t.pattern, t.human}}
	case aCmp:
		op := t.op
		if t.neg {
			op = map[token.Token]token.Token{token.LSS: token.GEQ, token.GEQ: token.LSS, token.LEQ: token.GTR, token.GTR: token.LEQ}[op]
		}
		// The error fires when "value op k": the value must be on the other side.
		switch op {
		case token.LSS:
			r.kind, r.k = rMin, t.k
		case token.LEQ:
			r.kind, r.k = rMin, t.k+1
		case token.GTR:
			r.kind, r.k = rMax, t.k
		case token.GEQ:
			r.kind, r.k = rMax, t.k-1
		default:
			return nil
		}
		if t.length {
			r.kind += rMinLen - rMin
		}
	case aZero:
		if t.neg {
			r.kind = rZero
		} else {
			r.kind, r.nonZero = rRequired, true
		}
	case aSet:
		if !t.neg {
			return nil
		}
		r.kind = rRequired
	default:
		return nil
	}
	return r
}

// kindRank orders a node's rules for reading: whether it must be there
// first, then what it may be.
var kindRank = map[ruleKind]int{
	rRequired: 0, rNonEmpty: 1, rOneOf: 2, rNotIn: 3, rMin: 4, rMax: 5, rMinLen: 6, rMaxLen: 7, rZero: 8,
}

// finishRules settles what the defaults change about a node's rules and
// removes duplicates.
func finishRules(n *node) {
	var out []*rule
	seen := map[string]bool{}
	for _, r := range n.rules {
		if n.zeroReplaced && !r.key {
			// A written zero is replaced by the default before validation.
			r.zeroOK = true
			if r.kind == rRequired && r.nonZero || r.kind == rNonEmpty {
				continue
			}
		}
		if r.kind == rRequired && n.isElem && r.nonZero && !r.key {
			r.kind, r.nonZero = rNonEmpty, false // an element has no key to require
		}
		if r.kind == rRequired && !n.zeroDefault() && !r.key {
			if !r.nonZero {
				continue
			}
			r.kind, r.nonZero = rNonEmpty, false
		}
		if sig := r.signature(); !seen[sig] {
			seen[sig] = true
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := kindRank[out[i].kind], kindRank[out[j].kind]; a != b {
			return a < b
		}
		return len(out[i].when) < len(out[j].when)
	})
	n.rules = out
}

// enum returns the values of the node's rule that holds whatever else the
// file says, when it has one and only values.
func (n *node) enum() []string {
	for _, r := range n.rules {
		if r.kind == rOneOf && len(r.when) == 0 && len(r.patterns) == 0 && !r.key && (!r.zeroOK || n.zeroReplaced) {
			return r.values
		}
	}
	return nil
}

// present reports whether an atom says a node is there: set, or written.
func present(a *atom) bool {
	return (a.kind == aZero && a.neg) || (a.kind == aSet && !a.neg)
}

// simplify removes repeated atoms from a conjunction and joins the tests of
// one node against values; it reports false for a conjunction that cannot
// hold ("mode is proxy" and "mode is lvs").
func simplify(term []*atom) ([]*atom, bool) {
	var out []*atom
	seen := map[string]bool{}
	type key struct {
		n   *node
		key bool
	}
	eqs := map[key][]*atom{}
	var order []key
	for _, a := range term {
		if seen[a.String()] {
			continue
		}
		seen[a.String()] = true
		if a.kind == aEq && a.node != nil {
			k := key{a.node, a.key}
			if _, ok := eqs[k]; !ok {
				order = append(order, k)
			}
			eqs[k] = append(eqs[k], a)
			continue
		}
		out = append(out, a)
	}
	for _, a := range out {
		if a.kind == aZero && seen[a.negate().String()] {
			return nil, false
		}
	}
	for _, k := range order {
		as := eqs[k]
		if len(as) == 1 {
			out = append(out, as[0])
			continue
		}
		var allowed, refused []string
		anyPos := false
		for _, a := range as {
			switch {
			case a.neg:
				refused = union(refused, a.values)
			case !anyPos:
				allowed, anyPos = slices.Clone(a.values), true
			default:
				allowed = intersect(allowed, a.values)
			}
		}
		if !anyPos {
			c := *as[0]
			c.values = refused
			out = append(out, &c)
			continue
		}
		allowed = minus(allowed, refused)
		if len(allowed) == 0 {
			return nil, false
		}
		c := *as[0]
		c.neg, c.values = false, allowed
		out = append(out, &c)
	}
	return out, true
}
