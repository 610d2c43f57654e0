package reference

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/printer"
	"go/token"
	"slices"
	"strings"
)

// The interpreter runs validate.go and defaults.go symbolically: values are
// places in the config (nodes), constants, or conditions on the config, and
// every branch is walked with the conditions that lead to it. It relies on
// a few conventions of the validator, named here so a change to them fails
// loudly rather than quietly:
//
//   - (*validator).config is where validation starts; v.errorf(path, ...)
//     reports an error at a path; warnf and hostf report warnings and facts
//     about the host, which the reference leaves out;
//   - v.isSet(path) and finishDefaults's isSet tell whether the file wrote a
//     path; v.d.bad[path] is true once an error was reported there;
//   - setDefaults methods and finishDefaults hold every default.
//
// A path through an error report belongs to a refused config; the
// interpreter treats it as "don't care", so conditions it can only know
// from refused configs never narrow a rule. A condition it cannot read
// becomes opaque, and a rule under an opaque condition is dropped.

// valKind is what an interpreted expression is known to be.
type valKind int

const (
	vUnknown valKind = iota
	vNode            // the value at a node of the config
	vKey             // a key of the map node
	vKeys            // the keys of the map node, as a list
	vStr             // a string; <name> stands for a map key
	vStrs            // constant strings
	vNum             // an integer constant; durations in nanoseconds
	vBool            // a boolean constant
	vNil             // nil
	vCond            // a condition on the config
	vLen             // len() of a node
	vRegexp          // a compiled regular expression
	vFunc            // a function literal and the frame it closes over
	vIsSet           // finishDefaults's isSet
	vAlts            // one of several values, each under a condition
	vSeq             // a literal slice or map, ranged over entry by entry
)

// val is an interpreted value.
type val struct {
	kind    valKind
	node    *node
	str     string
	exact   bool // vStr: a constant, with no map key in it
	strs    []string
	num     int64
	b       bool
	cond    *cond
	fn      *ast.FuncLit
	env     *frame
	alts    []alt
	entries []entry
	// badIfFalse marks the result of a check helper that reports an error
	// whenever it returns false (oneOf, intRange).
	badIfFalse bool
	text       string // vUnknown: the Go source it came from
}

type alt struct {
	when *cond
	v    val
}

type entry struct{ k, v val }

func unknown(text string) val { return val{kind: vUnknown, text: text} }

func nodeVal(n *node) val { return val{kind: vNode, node: n} }

func condVal(c *cond) val { return val{kind: vCond, cond: c} }

// binding is a local variable; depth is the length of the condition stack
// where it was declared, so an assignment under deeper conditions makes
// its value conditional.
type binding struct {
	v     val
	depth int
}

// frame is one call being interpreted.
type frame struct {
	vars         map[string]*binding
	parent       *frame // the frame a function literal closes over
	recv         string // the validator receiver's name, "" outside validator methods
	fn           string // the function, for attributing defaults
	stack        []*cond
	loops        int
	loopReturned bool
}

func newFrame(parent *frame, fn string, stack []*cond) *frame {
	f := &frame{vars: map[string]*binding{}, parent: parent, fn: fn, stack: slices.Clone(stack)}
	if parent != nil {
		f.recv = parent.recv
	}
	return f
}

func (f *frame) lookup(name string) (*binding, *frame) {
	for fr := f; fr != nil; fr = fr.parent {
		if b, ok := fr.vars[name]; ok {
			return b, fr
		}
	}
	return nil, nil
}

// errorReport is one v.errorf call: the node it names and the conditions
// under which it runs.
type errorReport struct {
	node  *node
	stack []*cond
}

// assignment is one default set in defaults.go.
type assignment struct {
	node     *node
	json     any
	text     string
	computed []span
	stack    []*cond
	fn       string
}

type interp struct {
	src          *source
	paths        map[string]*node
	reports      []errorReport
	assigns      []assignment
	defaultsMode bool
	depth        int
	values       map[string]val
	evaluating   map[string]bool
	falseBad     map[*ast.FuncDecl]bool
	unsupported  []string
}

const validatorType = "validator"

func newInterp(src *source, root *node) *interp {
	return &interp{
		src:        src,
		paths:      index(root),
		values:     map[string]val{},
		evaluating: map[string]bool{},
		falseBad:   map[*ast.FuncDecl]bool{},
	}
}

// runValidator interprets (*validator).config on the root.
func (in *interp) runValidator(root *node) error {
	decl := in.src.method(validatorType, "config")
	if decl == nil {
		return fmt.Errorf("validate.go has no (*validator).config, where the generator starts reading the rules")
	}
	f := newFrame(nil, "config", nil)
	f.recv = receiverName(decl)
	in.bindParams(f, decl.Type, []val{nodeVal(root)}, false)
	in.block(f, decl.Body.List)
	return in.err()
}

// runDefaults interprets every setDefaults where the decoder calls it, then
// finishDefaults.
func (in *interp) runDefaults(root *node) error {
	in.defaultsMode = true
	root.walk(func(n *node) {
		if n.kind != kStruct || !n.defaulted {
			return
		}
		decl := in.src.method(n.typ, "setDefaults")
		if decl == nil {
			return
		}
		f := newFrame(nil, n.typ+".setDefaults", nil)
		if name := receiverName(decl); name != "" {
			f.vars[name] = &binding{v: nodeVal(n)}
		}
		in.block(f, decl.Body.List)
	})
	decl := in.src.funcs["finishDefaults"]
	if decl == nil {
		return fmt.Errorf("defaults.go has no finishDefaults, where the generator reads the defaults that depend on other fields")
	}
	f := newFrame(nil, "finishDefaults", nil)
	in.bindParams(f, decl.Type, []val{nodeVal(root), {kind: vIsSet}}, false)
	in.block(f, decl.Body.List)
	in.defaultsMode = false
	return in.err()
}

func (in *interp) err() error {
	if len(in.unsupported) > 0 {
		return fmt.Errorf("the generator cannot follow: %s", strings.Join(in.unsupported, "; "))
	}
	return nil
}

func receiverName(decl *ast.FuncDecl) string {
	if decl.Recv == nil || len(decl.Recv.List) == 0 || len(decl.Recv.List[0].Names) == 0 {
		return ""
	}
	return decl.Recv.List[0].Names[0].Name
}

// source renders an expression as Go source.
func (in *interp) source(e ast.Node) string {
	var b bytes.Buffer
	if err := printer.Fprint(&b, in.src.fset, e); err != nil {
		return fmt.Sprintf("%T", e)
	}
	return b.String()
}

// block walks statements and returns the condition under which a valid
// config reaches their end: condFalse when none does, condDC when only
// refused configs get there.
func (in *interp) block(f *frame, list []ast.Stmt) *cond {
	base := len(f.stack)
	defer func() { f.stack = f.stack[:base] }()
	cont := condTrue
	for _, s := range list {
		c := in.stmt(f, s)
		switch c.op {
		case cDC:
			return condDC
		case cFalse:
			return condFalse
		case cTrue:
		default:
			f.stack = append(f.stack, c)
			cont = and(cont, c)
		}
	}
	return cont
}

// branch walks statements under one more condition.
func (in *interp) branch(f *frame, c *cond, list []ast.Stmt) *cond {
	base := len(f.stack)
	if c.op != cTrue {
		f.stack = append(f.stack, c)
	}
	r := in.block(f, list)
	f.stack = f.stack[:base]
	return r
}

func (in *interp) stmt(f *frame, s ast.Stmt) *cond {
	switch s := s.(type) {
	case *ast.ExprStmt:
		if call, ok := s.X.(*ast.CallExpr); ok && in.isReport(f, call, "errorf") {
			in.report(f, call)
			return condDC
		}
		in.eval(f, s.X)
	case *ast.AssignStmt:
		in.assign(f, s)
	case *ast.DeclStmt:
		if gd, ok := s.Decl.(*ast.GenDecl); ok {
			for _, spec := range gd.Specs {
				vs, ok := spec.(*ast.ValueSpec)
				if !ok {
					continue
				}
				for i, name := range vs.Names {
					v := unknown("")
					if len(vs.Values) == len(vs.Names) {
						v = in.eval(f, vs.Values[i])
					}
					f.vars[name.Name] = &binding{v: v, depth: len(f.stack)}
				}
			}
		}
	case *ast.ReturnStmt:
		for _, r := range s.Results {
			in.eval(f, r)
		}
		if f.loops > 0 {
			f.loopReturned = true
		}
		return condFalse
	case *ast.BranchStmt:
		if s.Tok == token.CONTINUE && f.loops > 0 && s.Label == nil {
			return condFalse
		}
		in.unsupported = append(in.unsupported, fmt.Sprintf("%s at %s", s.Tok, in.src.pos(s.Pos())))
		return condFalse
	case *ast.BlockStmt:
		return in.block(f, s.List)
	case *ast.IfStmt:
		return in.ifStmt(f, s)
	case *ast.SwitchStmt:
		return in.switchStmt(f, s)
	case *ast.TypeSwitchStmt:
		c := opaque(in.source(s.Assign))
		all := true
		for _, cc := range s.Body.List {
			if r := in.branch(f, c, cc.(*ast.CaseClause).Body); r.op != cTrue && r.op != cDC {
				all = false
			}
		}
		if !all {
			return opaque("type switch")
		}
	case *ast.RangeStmt:
		return in.rangeStmt(f, s)
	case *ast.ForStmt:
		if s.Init != nil {
			in.stmt(f, s.Init)
		}
		f.loops++
		in.block(f, s.Body.List)
		f.loops--
		return in.afterLoop(f)
	case *ast.LabeledStmt:
		return in.stmt(f, s.Stmt)
	}
	return condTrue
}

func (in *interp) afterLoop(f *frame) *cond {
	if f.loops == 0 && f.loopReturned {
		f.loopReturned = false
		return opaque("a loop may have returned")
	}
	return condTrue
}

func (in *interp) ifStmt(f *frame, s *ast.IfStmt) *cond {
	if s.Init != nil {
		in.stmt(f, s.Init)
	}
	c := in.cond(f, s.Cond)
	tc, ec := condDC, condDC
	if !impliesBad(c) {
		tc = in.branch(f, c, s.Body.List)
	}
	if !impliesBad(not(c)) {
		switch {
		case s.Else == nil:
			ec = condTrue
		case tc.op == cDC:
			ec = in.branch(f, condTrue, []ast.Stmt{s.Else})
		default:
			ec = in.branch(f, not(c), []ast.Stmt{s.Else})
		}
	}
	return combine(c, tc, ec)
}

// combine is the condition after if c {then} else {else} given where each
// branch falls through.
func combine(c, tc, ec *cond) *cond {
	switch {
	case tc.op == cDC && ec.op == cDC:
		return condDC
	case tc.op == cDC:
		return ec
	case ec.op == cDC:
		return tc
	case tc.op == cTrue && ec.op == cTrue:
		return condTrue
	case tc.op == cFalse && ec.op == cFalse:
		return condFalse
	}
	return or(and(c, tc), and(not(c), ec))
}

func (in *interp) switchStmt(f *frame, s *ast.SwitchStmt) *cond {
	if s.Init != nil {
		in.stmt(f, s.Init)
	}
	var tag val
	tagged := s.Tag != nil
	if tagged {
		tag = in.eval(f, s.Tag)
	}
	var cases []*cond // every case's own condition, for the default
	var negPrev []*cond
	var parts []*cond
	allTrue := true
	var dflt *ast.CaseClause
	walk := func(c *cond, body []ast.Stmt) *cond {
		if impliesBad(c) {
			return condDC
		}
		r := in.branch(f, c, body)
		if r.op != cDC {
			if r.op != cTrue {
				allTrue = false
			}
			parts = append(parts, and(c, r))
		}
		return r
	}
	for _, st := range s.Body.List {
		cc := st.(*ast.CaseClause)
		if cc.List == nil {
			dflt = cc
			continue
		}
		var alts []*cond
		for _, e := range cc.List {
			if tagged {
				alts = append(alts, in.compare(tag, in.eval(f, e), token.EQL, e))
			} else {
				alts = append(alts, in.cond(f, e))
			}
		}
		own := or(alts...)
		cases = append(cases, own)
		c := own
		if !tagged {
			c = and(append(slices.Clone(negPrev), own)...)
		}
		if r := walk(c, cc.Body); r.op != cDC && !tagged {
			negPrev = append(negPrev, not(own))
		}
	}
	var dc *cond
	if tagged {
		dc = not(or(cases...))
	} else {
		dc = and(negPrev...)
	}
	if dflt != nil {
		walk(dc, dflt.Body)
	} else {
		walk(dc, nil)
	}
	switch {
	case len(parts) == 0:
		return condDC
	case allTrue:
		return condTrue
	}
	return or(parts...)
}

func (in *interp) rangeStmt(f *frame, s *ast.RangeStmt) *cond {
	x := in.eval(f, s.X)
	bind := func(k, v val) {
		if id, ok := s.Key.(*ast.Ident); ok && id.Name != "_" {
			in.setVar(f, id.Name, k, s.Tok == token.DEFINE)
		}
		if id, ok := s.Value.(*ast.Ident); ok && id.Name != "_" {
			in.setVar(f, id.Name, v, s.Tok == token.DEFINE)
		}
	}
	f.loops++
	switch {
	case x.kind == vSeq:
		for _, e := range x.entries {
			bind(e.k, e.v)
			in.block(f, s.Body.List)
		}
	case x.kind == vStrs:
		for _, str := range x.strs {
			bind(unknown("index"), val{kind: vStr, str: str, exact: true})
			in.block(f, s.Body.List)
		}
	case x.kind == vNode && x.node.kind == kList:
		bind(unknown("index"), nodeVal(x.node.elem))
		in.block(f, s.Body.List)
	case x.kind == vNode && x.node.kind == kMap:
		bind(val{kind: vKey, node: x.node}, nodeVal(x.node.elem))
		in.block(f, s.Body.List)
	case x.kind == vKeys:
		bind(unknown("index"), val{kind: vKey, node: x.node})
		in.block(f, s.Body.List)
	default:
		bind(unknown("key"), unknown("value"))
		in.block(f, s.Body.List)
	}
	f.loops--
	return in.afterLoop(f)
}

func (in *interp) assign(f *frame, s *ast.AssignStmt) {
	if len(s.Lhs) != len(s.Rhs) {
		text := ""
		for _, r := range s.Rhs {
			in.eval(f, r)
			text = in.source(r)
		}
		for _, l := range s.Lhs {
			if id, ok := l.(*ast.Ident); ok && id.Name != "_" {
				in.setVar(f, id.Name, unknown(text), s.Tok == token.DEFINE)
			}
		}
		return
	}
	for i, l := range s.Lhs {
		r := s.Rhs[i]
		if s.Tok != token.ASSIGN && s.Tok != token.DEFINE {
			in.eval(f, r)
			if id, ok := l.(*ast.Ident); ok {
				in.setVar(f, id.Name, unknown(in.source(s)), false)
			}
			continue
		}
		if id, ok := l.(*ast.Ident); ok {
			if id.Name != "_" {
				in.setVar(f, id.Name, in.eval(f, r), s.Tok == token.DEFINE)
			} else {
				in.eval(f, r)
			}
			continue
		}
		target := in.eval(f, l)
		if target.kind == vNode && in.defaultsMode {
			in.recordDefault(f, target.node, r)
			continue
		}
		in.eval(f, r)
	}
}

// maxAlts bounds the values a variable may hold under different conditions.
const maxAlts = 4

func (in *interp) setVar(f *frame, name string, v val, define bool) {
	if define {
		f.vars[name] = &binding{v: v, depth: len(f.stack)}
		return
	}
	b, owner := f.lookup(name)
	switch {
	case b == nil:
		f.vars[name] = &binding{v: v, depth: len(f.stack)}
	case owner != f:
		b.v = unknown(name) // assigned in a closure: the generator does not follow it
	case len(f.stack) <= b.depth:
		b.v = v
	default:
		when := and(f.stack[b.depth:]...)
		old := b.v.alts
		if b.v.kind != vAlts {
			old = []alt{{when: condTrue, v: b.v}}
		}
		var alts []alt
		for _, o := range old {
			alts = append(alts, alt{when: and(o.when, not(when)), v: o.v})
		}
		alts = append(alts, alt{when: when, v: v})
		if len(alts) > maxAlts {
			b.v = unknown(name)
			return
		}
		b.v = val{kind: vAlts, alts: alts}
	}
}
