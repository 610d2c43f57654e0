package reference

import (
	"go/ast"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"time"
)

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
