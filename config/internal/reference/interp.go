package reference

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/printer"
	"go/token"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
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

func (in *interp) eval(f *frame, e ast.Expr) val {
	switch e := e.(type) {
	case *ast.BasicLit:
		switch e.Kind {
		case token.STRING:
			s, err := strconv.Unquote(e.Value)
			if err == nil {
				return val{kind: vStr, str: s, exact: true}
			}
		case token.INT:
			n, err := strconv.ParseInt(strings.ReplaceAll(e.Value, "_", ""), 0, 64)
			if err == nil {
				return val{kind: vNum, num: n}
			}
		}
	case *ast.Ident:
		return in.ident(f, e.Name)
	case *ast.ParenExpr:
		return in.eval(f, e.X)
	case *ast.StarExpr:
		return in.eval(f, e.X)
	case *ast.UnaryExpr:
		x := in.eval(f, e.X)
		switch e.Op {
		case token.AND:
			return x
		case token.NOT:
			return in.notVal(x, e)
		case token.SUB:
			if x.kind == vNum {
				x.num = -x.num
				return x
			}
		}
	case *ast.BinaryExpr:
		return in.binary(f, e)
	case *ast.SelectorExpr:
		return in.selector(f, e)
	case *ast.IndexExpr:
		if sel, ok := e.X.(*ast.SelectorExpr); ok && sel.Sel.Name == "bad" {
			in.eval(f, e.Index)
			return condVal(atomCond(&atom{kind: aBad}))
		}
		x := in.eval(f, e.X)
		in.eval(f, e.Index)
		if x.kind == vNode && x.node.elem != nil {
			return nodeVal(x.node.elem)
		}
	case *ast.CallExpr:
		return in.call(f, e)
	case *ast.CompositeLit:
		return in.composite(f, e)
	case *ast.FuncLit:
		return val{kind: vFunc, fn: e, env: f}
	}
	return unknown(in.source(e))
}

func (in *interp) ident(f *frame, name string) val {
	if b, _ := f.lookup(name); b != nil {
		return b.v
	}
	switch name {
	case "true":
		return val{kind: vBool, b: true}
	case "false":
		return val{kind: vBool}
	case "nil":
		return val{kind: vNil}
	}
	if v, ok := in.values[name]; ok {
		return v
	}
	if e, ok := in.src.values[name]; ok && !in.evaluating[name] {
		in.evaluating[name] = true
		v := in.eval(newFrame(nil, name, nil), e)
		delete(in.evaluating, name)
		in.values[name] = v
		return v
	}
	return unknown(name)
}

var timeUnits = map[string]time.Duration{
	"Nanosecond": time.Nanosecond, "Microsecond": time.Microsecond, "Millisecond": time.Millisecond,
	"Second": time.Second, "Minute": time.Minute, "Hour": time.Hour,
}

func (in *interp) selector(f *frame, e *ast.SelectorExpr) val {
	if id, ok := e.X.(*ast.Ident); ok && id.Name == "time" {
		if b, _ := f.lookup("time"); b == nil {
			if d, ok := timeUnits[e.Sel.Name]; ok {
				return val{kind: vNum, num: int64(d)}
			}
		}
	}
	x := in.eval(f, e.X)
	if x.kind == vNode && x.node.kind == kStruct {
		if c := x.node.field(e.Sel.Name); c != nil {
			return nodeVal(c)
		}
	}
	return unknown(in.source(e))
}

func (in *interp) notVal(x val, e ast.Expr) val {
	switch {
	case x.kind == vBool:
		return val{kind: vBool, b: !x.b}
	case x.kind == vCond:
		return condVal(not(x.cond))
	case x.kind == vNode && x.node.kind == kBool:
		return condVal(atomCond(&atom{kind: aZero, node: x.node}))
	case x.badIfFalse:
		return condVal(atomCond(&atom{kind: aBad}))
	}
	return condVal(opaque(in.source(e)))
}

// cond reads an expression as a condition.
func (in *interp) cond(f *frame, e ast.Expr) *cond {
	return in.toCond(in.eval(f, e), e)
}

func (in *interp) toCond(v val, e ast.Expr) *cond {
	switch {
	case v.kind == vCond:
		return v.cond
	case v.kind == vBool:
		if v.b {
			return condTrue
		}
		return condFalse
	case v.kind == vNode && v.node.kind == kBool:
		return atomCond(&atom{kind: aZero, node: v.node, neg: true})
	case v.badIfFalse:
		return atomCond(&atom{kind: aBad, neg: true})
	}
	return opaque(in.source(e))
}

func (in *interp) binary(f *frame, e *ast.BinaryExpr) val {
	switch e.Op {
	case token.LAND:
		return condVal(and(in.cond(f, e.X), in.cond(f, e.Y)))
	case token.LOR:
		return condVal(or(in.cond(f, e.X), in.cond(f, e.Y)))
	case token.EQL, token.NEQ, token.LSS, token.LEQ, token.GTR, token.GEQ:
		return condVal(in.compare(in.eval(f, e.X), in.eval(f, e.Y), e.Op, e))
	}
	l, r := in.eval(f, e.X), in.eval(f, e.Y)
	if e.Op == token.ADD {
		ls, lok := strPart(l)
		rs, rok := strPart(r)
		if lok && rok {
			return val{kind: vStr, str: ls + rs, exact: l.exact && r.exact}
		}
	}
	if l.kind == vNum && r.kind == vNum {
		n, ok := arith(e.Op, l.num, r.num)
		if ok {
			return val{kind: vNum, num: n}
		}
	}
	return unknown(in.source(e))
}

// strPart is a value's part of a path string: a map key stands for <name>.
func strPart(v val) (string, bool) {
	switch v.kind {
	case vStr:
		return v.str, true
	case vKey:
		return "<name>", true
	}
	return "", false
}

func arith(op token.Token, a, b int64) (int64, bool) {
	switch op {
	case token.ADD:
		return a + b, true
	case token.SUB:
		return a - b, true
	case token.MUL:
		return a * b, true
	case token.QUO:
		if b != 0 {
			return a / b, true
		}
	case token.REM:
		if b != 0 {
			return a % b, true
		}
	case token.SHL:
		if b >= 0 && b < 63 {
			return a << b, true
		}
	}
	return 0, false
}

var mirror = map[token.Token]token.Token{
	token.EQL: token.EQL, token.NEQ: token.NEQ,
	token.LSS: token.GTR, token.GTR: token.LSS, token.LEQ: token.GEQ, token.GEQ: token.LEQ,
}

func isConst(v val) bool {
	return (v.kind == vStr && v.exact) || v.kind == vNum || v.kind == vBool || v.kind == vNil
}

// compare reads l op r as a condition on the config.
func (in *interp) compare(l, r val, op token.Token, e ast.Expr) *cond {
	if isConst(l) && isConst(r) {
		if res, ok := constCompare(l, r, op); ok {
			if res {
				return condTrue
			}
			return condFalse
		}
	}
	if isConst(l) && !isConst(r) {
		l, r, op = r, l, mirror[op]
	}
	if !isConst(r) {
		return opaque(in.source(e))
	}
	switch l.kind {
	case vNode:
		n := l.node
		if r.kind == vNil {
			return zeroCond(n, op == token.NEQ)
		}
		isZero := (r.kind == vStr && r.str == "") || (r.kind == vNum && r.num == 0) || (r.kind == vBool && !r.b)
		switch op {
		case token.EQL, token.NEQ:
			if isZero {
				return zeroCond(n, op == token.NEQ)
			}
			return atomCond(&atom{kind: aEq, node: n, values: []string{constString(r)}, neg: op == token.NEQ})
		default:
			if r.kind == vNum {
				return atomCond(&atom{kind: aCmp, node: n, op: op, k: r.num})
			}
		}
	case vLen:
		if r.kind != vNum {
			break
		}
		n, k := l.node, r.num
		switch {
		case op == token.EQL && k == 0, op == token.LSS && k == 1, op == token.LEQ && k == 0:
			return zeroCond(n, false)
		case op == token.NEQ && k == 0, op == token.GTR && k == 0, op == token.GEQ && k == 1:
			return zeroCond(n, true)
		case op != token.EQL && op != token.NEQ:
			return atomCond(&atom{kind: aCmp, node: n, op: op, k: k, length: true})
		}
	}
	return opaque(in.source(e))
}

func zeroCond(n *node, neg bool) *cond {
	return atomCond(&atom{kind: aZero, node: n, neg: neg})
}

func constString(v val) string {
	switch v.kind {
	case vStr:
		return v.str
	case vNum:
		return strconv.FormatInt(v.num, 10)
	case vBool:
		return strconv.FormatBool(v.b)
	}
	return ""
}

func constCompare(l, r val, op token.Token) (bool, bool) {
	switch {
	case l.kind == vNum && r.kind == vNum:
		switch op {
		case token.EQL:
			return l.num == r.num, true
		case token.NEQ:
			return l.num != r.num, true
		case token.LSS:
			return l.num < r.num, true
		case token.LEQ:
			return l.num <= r.num, true
		case token.GTR:
			return l.num > r.num, true
		case token.GEQ:
			return l.num >= r.num, true
		}
	case l.kind == r.kind && (l.kind == vStr || l.kind == vBool):
		eq := constString(l) == constString(r)
		switch op {
		case token.EQL:
			return eq, true
		case token.NEQ:
			return !eq, true
		}
	}
	return false, false
}

func (in *interp) composite(f *frame, e *ast.CompositeLit) val {
	var entries []entry
	var strs []string
	allStrs := true
	for _, el := range e.Elts {
		if kv, ok := el.(*ast.KeyValueExpr); ok {
			entries = append(entries, entry{k: in.eval(f, kv.Key), v: in.eval(f, kv.Value)})
			allStrs = false
			continue
		}
		v := in.eval(f, el)
		entries = append(entries, entry{k: unknown("index"), v: v})
		if v.kind == vStr && v.exact {
			strs = append(strs, v.str)
		} else {
			allStrs = false
		}
	}
	switch e.Type.(type) {
	case *ast.ArrayType:
		if allStrs {
			return val{kind: vStrs, strs: strs}
		}
		return val{kind: vSeq, entries: entries}
	case *ast.MapType:
		return val{kind: vSeq, entries: entries}
	}
	return unknown(in.source(e))
}

// isReport tells whether call is v.NAME(...) on the validator receiver.
func (in *interp) isReport(f *frame, call *ast.CallExpr, name string) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name || f.recv == "" {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == f.recv
}

func (in *interp) report(f *frame, call *ast.CallExpr) {
	if len(call.Args) == 0 {
		return
	}
	p := in.eval(f, call.Args[0])
	if p.kind != vStr {
		return
	}
	n := in.paths[p.str]
	if n == nil {
		return
	}
	in.reports = append(in.reports, errorReport{node: n, stack: slices.Clone(f.stack)})
}

func (in *interp) call(f *frame, e *ast.CallExpr) val {
	switch fun := e.Fun.(type) {
	case *ast.Ident:
		switch fun.Name {
		case "len":
			if len(e.Args) == 1 {
				if x := in.eval(f, e.Args[0]); x.kind == vNode {
					return val{kind: vLen, node: x.node}
				}
			}
			return unknown(in.source(e))
		case "append":
			args := in.evalArgs(f, e)
			if len(args) == 2 && args[1].kind == vKey && (args[0].kind == vKeys || args[0].kind == vUnknown) {
				return val{kind: vKeys, node: args[1].node}
			}
			return unknown(in.source(e))
		}
		if b, _ := f.lookup(fun.Name); b != nil {
			switch b.v.kind {
			case vFunc:
				return in.callLit(f, b.v, e)
			case vIsSet:
				return in.isSet(f, e)
			}
			in.evalArgs(f, e)
			return unknown(in.source(e))
		}
		if decl := in.src.funcs[fun.Name]; decl != nil {
			return in.callDecl(f, decl, "", e)
		}
		if _, ok := in.src.named[fun.Name]; ok && len(e.Args) == 1 {
			return in.eval(f, e.Args[0]) // a conversion such as Duration(5 * time.Second)
		}
		if intBits[fun.Name] > 0 || uintBits[fun.Name] > 0 || fun.Name == "string" {
			if len(e.Args) == 1 {
				return in.eval(f, e.Args[0])
			}
		}
	case *ast.SelectorExpr:
		if id, ok := fun.X.(*ast.Ident); ok {
			if b, _ := f.lookup(id.Name); b == nil {
				if id.Name == f.recv && f.recv != "" {
					switch fun.Sel.Name {
					case "warnf", "hostf":
						return unknown("report")
					case "isSet":
						return in.isSet(f, e)
					}
					if decl := in.src.method(validatorType, fun.Sel.Name); decl != nil {
						return in.callDecl(f, decl, f.recv, e)
					}
				}
				if in.src.imports[id.Name] {
					return in.pkgCall(f, id.Name, fun.Sel.Name, e)
				}
			}
		}
		x := in.eval(f, fun.X)
		switch {
		case x.kind == vRegexp && fun.Sel.Name == "MatchString" && len(e.Args) == 1:
			return condVal(in.match(in.eval(f, e.Args[0]), x.str, "matches `"+x.str+"`", e))
		case x.kind == vNode && fun.Sel.Name == "IsValid":
			return condVal(zeroCond(x.node, true))
		case x.kind == vNode && fun.Sel.Name == "D":
			return x
		}
	}
	in.evalArgs(f, e)
	return unknown(in.source(e))
}

func (in *interp) match(x val, pattern, human string, e ast.Expr) *cond {
	switch x.kind {
	case vNode:
		return atomCond(&atom{kind: aMatch, node: x.node, pattern: pattern, human: human})
	case vKey:
		return atomCond(&atom{kind: aMatch, node: x.node, key: true, pattern: pattern, human: human})
	}
	return opaque(in.source(e))
}

func (in *interp) isSet(f *frame, e *ast.CallExpr) val {
	if len(e.Args) == 1 {
		if p := in.eval(f, e.Args[0]); p.kind == vStr {
			if n := in.paths[p.str]; n != nil {
				return condVal(atomCond(&atom{kind: aSet, node: n}))
			}
		}
	}
	return condVal(opaque(in.source(e)))
}

func (in *interp) evalArgs(f *frame, e *ast.CallExpr) []val {
	args := make([]val, len(e.Args))
	for i, a := range e.Args {
		args[i] = in.eval(f, a)
	}
	return args
}

func (in *interp) pkgCall(f *frame, pkg, name string, e *ast.CallExpr) val {
	args := in.evalArgs(f, e)
	constArg := func(i int) (string, bool) {
		if i < len(args) && args[i].kind == vStr && args[i].exact {
			return args[i].str, true
		}
		return "", false
	}
	switch pkg + "." + name {
	case "fmt.Sprintf":
		if format, ok := constArg(0); ok {
			return sprintf(format, args[1:])
		}
	case "strings.HasPrefix":
		if lit, ok := constArg(1); ok && len(args) == 2 {
			return condVal(in.match(args[0], "^"+regexp.QuoteMeta(lit), "starts with `"+lit+"`", e))
		}
	case "strings.HasSuffix":
		if lit, ok := constArg(1); ok && len(args) == 2 {
			return condVal(in.match(args[0], regexp.QuoteMeta(lit)+"$", "ends with `"+lit+"`", e))
		}
	case "strings.Contains":
		if lit, ok := constArg(1); ok && len(args) == 2 {
			return condVal(in.match(args[0], regexp.QuoteMeta(lit), "contains `"+lit+"`", e))
		}
	case "filepath.IsAbs":
		if len(args) == 1 {
			return condVal(in.match(args[0], "^/", "an absolute path", e))
		}
	case "slices.Contains":
		if len(args) == 2 && args[0].kind == vStrs && args[1].kind == vNode {
			return condVal(atomCond(&atom{kind: aEq, node: args[1].node, values: slices.Clone(args[0].strs)}))
		}
	case "regexp.MustCompile":
		if lit, ok := constArg(0); ok {
			return val{kind: vRegexp, str: lit}
		}
	}
	return unknown(in.source(e))
}

// sprintf builds a path the way validate.go does: %s and %v take strings,
// %d an index, which a path leaves out ("vrrp[%d]" is vrrp[]).
func sprintf(format string, args []val) val {
	var b strings.Builder
	exact := true
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 == len(format) {
			b.WriteByte(c)
			continue
		}
		i++
		verb := format[i]
		if verb == '%' {
			b.WriteByte('%')
			continue
		}
		if len(args) == 0 {
			return unknown("sprintf")
		}
		a := args[0]
		args = args[1:]
		switch verb {
		case 'd':
			exact = false
		case 's', 'v':
			s, ok := strPart(a)
			if !ok {
				return unknown("sprintf")
			}
			exact = exact && a.exact
			b.WriteString(s)
		default:
			return unknown("sprintf")
		}
	}
	return val{kind: vStr, str: b.String(), exact: exact}
}

// maxDepth bounds nested calls; validate.go does not recurse.
const maxDepth = 30

func (in *interp) callDecl(f *frame, decl *ast.FuncDecl, recv string, e *ast.CallExpr) val {
	args := in.evalArgs(f, e)
	if in.depth > maxDepth || decl.Body == nil {
		return unknown(in.source(e))
	}
	// A variable that holds different values under different conditions
	// makes one call per value.
	for i, a := range args {
		if a.kind != vAlts {
			continue
		}
		for _, al := range a.alts {
			forked := slices.Clone(args)
			forked[i] = al.v
			nf := newFrame(nil, decl.Name.Name, append(slices.Clone(f.stack), al.when))
			in.enter(nf, decl, recv, forked, e)
		}
		return unknown(in.source(e))
	}
	nf := newFrame(nil, decl.Name.Name, f.stack)
	return in.enter(nf, decl, recv, args, e)
}

func (in *interp) enter(nf *frame, decl *ast.FuncDecl, recv string, args []val, e *ast.CallExpr) val {
	if recv != "" {
		nf.recv = receiverName(decl)
	}
	in.bindParams(nf, decl.Type, args, e.Ellipsis.IsValid())
	in.depth++
	defer func() { in.depth-- }()
	if len(decl.Body.List) == 1 {
		if r, ok := decl.Body.List[0].(*ast.ReturnStmt); ok && len(r.Results) == 1 {
			return in.eval(nf, r.Results[0])
		}
	}
	in.block(nf, decl.Body.List)
	return val{kind: vUnknown, text: in.source(e), badIfFalse: in.falseMeansBad(decl)}
}

func (in *interp) callLit(f *frame, fn val, e *ast.CallExpr) val {
	args := in.evalArgs(f, e)
	if in.depth > maxDepth {
		return unknown(in.source(e))
	}
	nf := newFrame(fn.env, f.fn, f.stack)
	nf.recv = fn.env.recv
	in.bindParams(nf, fn.fn.Type, args, e.Ellipsis.IsValid())
	in.depth++
	in.block(nf, fn.fn.Body.List)
	in.depth--
	return unknown(in.source(e))
}

// bindParams binds call arguments to parameters; extra arguments of a
// variadic parameter are gathered as constant strings when they are.
func (in *interp) bindParams(f *frame, ft *ast.FuncType, args []val, spread bool) {
	var names []string
	variadic := false
	for _, p := range ft.Params.List {
		if _, ok := p.Type.(*ast.Ellipsis); ok {
			variadic = true
		}
		if len(p.Names) == 0 {
			names = append(names, "_")
		}
		for _, n := range p.Names {
			names = append(names, n.Name)
		}
	}
	for i, name := range names {
		var v val
		switch {
		case variadic && i == len(names)-1 && !spread:
			v = val{kind: vStrs}
			for _, a := range args[min(i, len(args)):] {
				if a.kind != vStr || !a.exact {
					v = unknown("variadic")
					break
				}
				v.strs = append(v.strs, a.str)
			}
		case i < len(args):
			v = args[i]
		default:
			v = unknown(name)
		}
		f.vars[name] = &binding{v: v}
	}
}

// falseMeansBad reports whether a function returns false only right after
// reporting an error, as oneOf and intRange do.
func (in *interp) falseMeansBad(decl *ast.FuncDecl) bool {
	if v, ok := in.falseBad[decl]; ok {
		return v
	}
	res := decl.Type.Results
	ok := res != nil && len(res.List) == 1 && len(res.List[0].Names) <= 1 && exprString(res.List[0].Type) == "bool"
	found := false
	if ok {
		ast.Inspect(decl.Body, func(n ast.Node) bool {
			var list []ast.Stmt
			switch n := n.(type) {
			case *ast.BlockStmt:
				list = n.List
			case *ast.CaseClause:
				list = n.Body
			default:
				return true
			}
			for i, s := range list {
				r, isRet := s.(*ast.ReturnStmt)
				if !isRet || len(r.Results) != 1 || exprString(r.Results[0]) != "false" {
					continue
				}
				found = true
				prev := false
				if i > 0 {
					if es, isExpr := list[i-1].(*ast.ExprStmt); isExpr {
						if call, isCall := es.X.(*ast.CallExpr); isCall {
							if sel, isSel := call.Fun.(*ast.SelectorExpr); isSel && sel.Sel.Name == "errorf" {
								prev = true
							}
						}
					}
				}
				if !prev {
					ok = false
				}
			}
			return true
		})
	}
	in.falseBad[decl] = ok && found
	return ok && found
}

// recordDefault notes that defaults.go sets n to the value of rhs.
func (in *interp) recordDefault(f *frame, n *node, rhs ast.Expr) {
	if u, ok := rhs.(*ast.UnaryExpr); ok && u.Op == token.AND {
		if cl, ok := u.X.(*ast.CompositeLit); ok {
			rhs = cl
		}
	}
	if cl, ok := rhs.(*ast.CompositeLit); ok && n.kind == kStruct {
		for _, el := range cl.Elts {
			kv, ok := el.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			if id, ok := kv.Key.(*ast.Ident); ok {
				if c := n.field(id.Name); c != nil {
					in.recordDefault(f, c, kv.Value)
				}
			}
		}
		return
	}
	a := assignment{node: n, stack: slices.Clone(f.stack), fn: f.fn}
	if j, text, ok := in.constOf(f, n, rhs); ok {
		a.json, a.text = j, text
	} else {
		a.computed = in.describe(f, rhs)
	}
	in.assigns = append(in.assigns, a)
}

// constOf evaluates a default that is a constant, as JSON and as YAML text.
func (in *interp) constOf(f *frame, n *node, rhs ast.Expr) (any, string, bool) {
	if n.kind == kList && n.elem.kind == kStatus {
		cl, ok := rhs.(*ast.CompositeLit)
		if !ok {
			return nil, "", false
		}
		var list []any
		var texts []string
		for _, el := range cl.Elts {
			r, ok := el.(*ast.CompositeLit)
			if !ok || len(r.Elts) != 2 {
				return nil, "", false
			}
			lo, hi := in.eval(f, r.Elts[0]), in.eval(f, r.Elts[1])
			if lo.kind != vNum || hi.kind != vNum {
				return nil, "", false
			}
			s := strconv.FormatInt(lo.num, 10)
			if hi.num != lo.num {
				s += "-" + strconv.FormatInt(hi.num, 10)
			}
			list = append(list, s)
			texts = append(texts, s)
		}
		return list, "[" + strings.Join(texts, ", ") + "]", true
	}
	v := in.eval(f, rhs)
	switch {
	case n.kind == kString && v.kind == vStr && v.exact:
		return v.str, v.str, true
	case (n.kind == kInt || n.kind == kUint) && v.kind == vNum:
		return v.num, strconv.FormatInt(v.num, 10), true
	case n.kind == kBool && v.kind == vBool:
		return v.b, strconv.FormatBool(v.b), true
	case n.kind == kDuration && v.kind == vNum:
		s := time.Duration(v.num).String()
		return s, s, true
	case n.kind == kList && v.kind == vStrs:
		list := make([]any, len(v.strs))
		for i, s := range v.strs {
			list[i] = s
		}
		return list, "[" + strings.Join(v.strs, ", ") + "]", true
	}
	return nil, "", false
}

// describe renders a computed default: the nodes it reads by path, the
// rest as Go.
func (in *interp) describe(f *frame, e ast.Expr) []span {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return in.describe(f, e.X)
	case *ast.StarExpr:
		return in.describe(f, e.X)
	case *ast.UnaryExpr:
		if e.Op == token.AND {
			return in.describe(f, e.X)
		}
	case *ast.BinaryExpr:
		out := in.describe(f, e.X)
		out = append(out, span{s: " " + e.Op.String() + " "})
		return append(out, in.describe(f, e.Y)...)
	case *ast.BasicLit:
		return []span{{s: e.Value}}
	}
	v := in.eval(f, e)
	switch {
	case v.kind == vNode:
		return []span{{s: v.node.path, code: true}}
	case v.kind == vUnknown && v.text != "":
		return []span{{s: v.text, code: true}}
	}
	return []span{{s: in.source(e), code: true}}
}
