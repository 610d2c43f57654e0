package reference

import (
	"go/ast"
	"go/token"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// eval interprets an expression; what it cannot follow is unknown.
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
