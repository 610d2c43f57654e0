package reference

import (
	"fmt"
	"go/token"
	"slices"
	"sort"
	"strings"
)

// atomKind is what a condition on the config says.
type atomKind int

const (
	aEq     atomKind = iota // node's value is one of values
	aZero                   // node is zero: "", 0, false, empty, unset
	aSet                    // node's key is written in the file
	aMatch                  // node's string matches pattern
	aCmp                    // node (or its length) op k
	aBad                    // an error has already been reported
	aOpaque                 // anything the generator cannot read
)

// atom is one condition; neg negates it.
type atom struct {
	kind    atomKind
	neg     bool
	node    *node
	key     bool // about the keys of a map node rather than its values
	length  bool // aCmp compares len(node)
	values  []string
	op      token.Token
	k       int64
	pattern string
	human   string // aMatch in words: "starts with `/`"
	text    string // aOpaque: the Go source
}

func (a *atom) negate() *atom {
	b := *a
	b.neg = !a.neg
	return &b
}

// String renders the atom for debugging and for sorting guards stably.
func (a *atom) String() string {
	var b strings.Builder
	if a.neg {
		b.WriteString("!")
	}
	path := ""
	if a.node != nil {
		path = a.node.path
	}
	switch a.kind {
	case aEq:
		fmt.Fprintf(&b, "%s in %v", path, a.values)
	case aZero:
		fmt.Fprintf(&b, "zero(%s)", path)
	case aSet:
		fmt.Fprintf(&b, "set(%s)", path)
	case aMatch:
		fmt.Fprintf(&b, "%s ~ %s", path, a.pattern)
	case aCmp:
		fmt.Fprintf(&b, "%s %s %d (len %v)", path, a.op, a.k, a.length)
	case aBad:
		b.WriteString("bad")
	case aOpaque:
		fmt.Fprintf(&b, "(%s)", a.text)
	}
	if a.key {
		b.WriteString(" [keys]")
	}
	return b.String()
}

// condOp combines conditions.
type condOp int

const (
	cTrue condOp = iota
	cFalse
	cAtom
	cAnd
	cOr
	cDC // only refused configs get here: any condition will do
)

// cond is a condition on the config, a tree of atoms.
type cond struct {
	op   condOp
	atom *atom
	kids []*cond
}

var (
	condTrue  = &cond{op: cTrue}
	condFalse = &cond{op: cFalse}
	condDC    = &cond{op: cDC}
)

func atomCond(a *atom) *cond { return &cond{op: cAtom, atom: a} }

func opaque(text string) *cond { return atomCond(&atom{kind: aOpaque, text: text}) }

func and(cs ...*cond) *cond {
	var kids []*cond
	for _, c := range cs {
		switch c.op {
		case cTrue:
		case cFalse:
			return condFalse
		case cAnd:
			kids = append(kids, c.kids...)
		default:
			kids = append(kids, c)
		}
	}
	switch len(kids) {
	case 0:
		return condTrue
	case 1:
		return kids[0]
	}
	return &cond{op: cAnd, kids: kids}
}

func or(cs ...*cond) *cond {
	var kids []*cond
	for _, c := range cs {
		switch c.op {
		case cFalse:
		case cTrue:
			return condTrue
		case cOr:
			kids = append(kids, c.kids...)
		default:
			kids = append(kids, c)
		}
	}
	kids = mergeEq(kids)
	switch len(kids) {
	case 0:
		return condFalse
	case 1:
		return kids[0]
	}
	return &cond{op: cOr, kids: kids}
}

// mergeEq joins alternatives that test one node against values: "type is
// http" or "type is dns" is "type is http or dns", and "type is not exec"
// with "type is http" stays "type is not exec".
func mergeEq(kids []*cond) []*cond {
	var out []*cond
	for _, k := range kids {
		merged := false
		if k.op == cAtom && k.atom.kind == aEq {
			for i, o := range out {
				if o.op != cAtom || o.atom.kind != aEq || o.atom.node != k.atom.node || o.atom.key != k.atom.key {
					continue
				}
				out[i] = orEq(o.atom, k.atom)
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, k)
		}
	}
	return out
}

func orEq(a, b *atom) *cond {
	switch {
	case !a.neg && !b.neg:
		c := *a
		c.values = union(a.values, b.values)
		return atomCond(&c)
	case a.neg && b.neg:
		c := *a
		c.values = intersect(a.values, b.values)
		if len(c.values) == 0 {
			return condTrue
		}
		return atomCond(&c)
	case a.neg:
		c := *a
		c.values = minus(a.values, b.values)
		if len(c.values) == 0 {
			return condTrue
		}
		return atomCond(&c)
	default:
		return orEq(b, a)
	}
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func intersect(a, b []string) []string {
	var out []string
	for _, v := range a {
		if slices.Contains(b, v) {
			out = append(out, v)
		}
	}
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, v := range a {
		if !slices.Contains(b, v) {
			out = append(out, v)
		}
	}
	return out
}

func not(c *cond) *cond {
	switch c.op {
	case cTrue:
		return condFalse
	case cFalse:
		return condTrue
	case cDC:
		return condDC
	case cAtom:
		return atomCond(c.atom.negate())
	case cAnd:
		kids := make([]*cond, len(c.kids))
		for i, k := range c.kids {
			kids[i] = not(k)
		}
		return or(kids...)
	case cOr:
		kids := make([]*cond, len(c.kids))
		for i, k := range c.kids {
			kids[i] = not(k)
		}
		return and(kids...)
	}
	return c
}

// maxTerms bounds the disjunctive normal form; a condition that needs more
// terms is not one the generator can turn into a simple rule anyway.
const maxTerms = 32

// dnf rewrites c as alternatives, each a conjunction of atoms. It returns
// nil for a condition that never holds.
func dnf(c *cond) [][]*atom {
	switch c.op {
	case cTrue, cDC:
		return [][]*atom{{}}
	case cFalse:
		return nil
	case cAtom:
		return [][]*atom{{c.atom}}
	case cOr:
		var out [][]*atom
		for _, k := range c.kids {
			out = append(out, dnf(k)...)
			if len(out) > maxTerms {
				return [][]*atom{{{kind: aOpaque, text: "too complex"}}}
			}
		}
		return out
	case cAnd:
		out := [][]*atom{{}}
		for _, k := range c.kids {
			var next [][]*atom
			for _, t := range out {
				for _, u := range dnf(k) {
					next = append(next, append(slices.Clone(t), u...))
				}
			}
			if len(next) > maxTerms {
				return [][]*atom{{{kind: aOpaque, text: "too complex"}}}
			}
			out = next
		}
		return out
	}
	return [][]*atom{{{kind: aOpaque, text: "unknown"}}}
}

// impliesBad reports whether c only holds once an error has been reported,
// so the code under it runs for refused configs only.
func impliesBad(c *cond) bool {
	terms := dnf(c)
	for _, t := range terms {
		bad := false
		for _, a := range t {
			if a.kind == aBad && !a.neg {
				bad = true
			}
		}
		if !bad {
			return false
		}
	}
	return true
}

// sortAtoms orders atoms by their rendering so output does not depend on
// the walk's order.
func sortAtoms(as []*atom) {
	sort.SliceStable(as, func(i, j int) bool { return as[i].String() < as[j].String() })
}
