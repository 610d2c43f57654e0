package reference

import (
	"bytes"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Patterns of the scalars vigil parses itself. They are written in the
// part of regular expression syntax that Go and ECMA-262 (editors) share,
// and they are looser than vigil where being exact would be long: the
// schema may accept what vigil refuses, never the reverse.
const (
	// intPattern is what strconv.ParseInt(s, 0, n) reads: decimal, 0x, 0o,
	// 0b or a leading 0 for octal, with underscores between digits.
	intPattern  = `^[-+]?(0[xX][_0-9a-fA-F]+|0[bB][_01]+|0[oO]?[_0-7]+|[1-9][_0-9]*|0)$`
	uintPattern = `^(0[xX][_0-9a-fA-F]+|0[bB][_01]+|0[oO]?[_0-7]+|[1-9][_0-9]*|0)$`
	// boolPattern is what the decoder takes for a boolean, in any case.
	boolPattern = `^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Yy][Ee][Ss]|[Nn][Oo]|[Oo][Nn]|[Oo][Ff][Ff])$`
	// durationPattern is time.ParseDuration without a bare number and
	// without a negative value other than zero, which Duration refuses.
	durationPattern = `^\+?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$|^-((0+(\.0*)?|\.0+)(ns|us|µs|μs|ms|s|m|h))+$`
	// zeroDurationPattern is a duration that is zero.
	zeroDurationPattern = `^[-+]?((0+(\.0*)?|\.0+)(ns|us|µs|μs|ms|s|m|h))+$`
	addrPattern         = `^$|^[0-9.]+$|^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%.+)?$`
	prefixPattern       = `^([0-9.]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%[^/]+)?)(/[0-9]+)?$`
	addrPortPattern     = `^$|^[0-9.]+:[0-9]+$|^\[[0-9A-Fa-f:.]+(%[^\]]+)?\]:[0-9]+$`
	statusPattern       = `^[1-5][xX][xX]$|^\s*[-+]?[0-9]+\s*-\s*[-+]?[0-9]+\s*$|^[-+]?[0-9]+$`
	// noShellPattern is a command string without the shell syntax
	// Command refuses.
	noShellPattern = "^[^\"'`$|&;<>(){}*?\\\\]*$"
)

// SchemaURI names the JSON Schema dialect of the schema.
const SchemaURI = "https://json-schema.org/draft/2020-12/schema"

// schemaGen builds the JSON Schema; conds holds the rules that depend on
// other fields, by the struct node whose schema carries their if/then.
type schemaGen struct {
	r     *Reference
	conds map[*node][]*jobj
}

// Schema renders docs/vigil.schema.json.
func (r *Reference) Schema() ([]byte, error) {
	g := &schemaGen{r: r, conds: map[*node][]*jobj{}}
	r.root.walk(func(n *node) {
		for _, ru := range n.rules {
			if len(ru.when) > 0 {
				g.conditional(n, ru)
			}
		}
	})
	s := g.node(r.root)
	top := obj(
		"$schema", SchemaURI,
		"title", "vigil.yaml",
		"description", "The configuration file of vigil, the load balancer and VRRP daemon ("+
			"see docs/config.md or vigil.yaml(5)). Generated from vigil's config package by "+
			"`go generate ./config`; `vigil check` validates more than this schema can.",
	)
	for _, k := range s.keys {
		if k == "description" {
			continue
		}
		top.set(k, s.m[k])
	}
	top.set("type", "object")
	var b bytes.Buffer
	if err := writeJSON(&b, top, ""); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// node is the schema of a node's value.
func (g *schemaGen) node(n *node) *jobj {
	s := obj()
	if desc := g.description(n); desc != "" {
		s.set("description", desc)
	}
	if d := n.unconditional(); d != nil && d.json != nil {
		s.set("default", d.json)
	}
	switch n.kind {
	case kString:
		s.set("type", []any{"string", "number", "boolean", "null"})
	case kInt, kUint:
		s.set("type", []any{"integer", "string", "null"})
		if n.kind == kInt {
			s.set("pattern", intPattern)
			if n.bits < 64 {
				s.set("minimum", -int64(1)<<(n.bits-1))
				s.set("maximum", int64(1)<<(n.bits-1)-1)
			}
		} else {
			s.set("pattern", uintPattern)
			s.set("minimum", 0)
			if n.bits < 64 {
				s.set("maximum", uint64(1)<<n.bits-1)
			} else {
				s.set("maximum", uint64(math.MaxUint64))
			}
		}
	case kBool:
		s.set("type", []any{"boolean", "string", "null"})
		s.set("pattern", boolPattern)
	case kDuration:
		s.set("type", []any{"string", "null"})
		s.set("pattern", durationPattern)
	case kAddr:
		s.set("type", []any{"string", "null"})
		s.set("pattern", addrPattern)
	case kPrefix:
		s.set("type", []any{"string", "null"})
		s.set("pattern", prefixPattern)
	case kAddrPort:
		s.set("type", []any{"string", "null"})
		s.set("pattern", addrPortPattern)
	case kStatus:
		s.set("anyOf", []any{
			obj("type", "integer", "minimum", 100, "maximum", 599),
			obj("type", "string", "pattern", statusPattern),
			obj("type", "null"),
		})
	case kCommand:
		s.set("anyOf", []any{
			obj("type", "array", "items", obj("type", []any{"string", "number", "boolean", "null"})),
			obj("type", "string", "pattern", noShellPattern),
			obj("type", []any{"number", "boolean", "null"}),
		})
	case kList:
		s.set("type", []any{"array", "null"})
		s.set("items", g.node(n.elem))
	case kMap:
		s.set("type", []any{"object", "null"})
		s.set("additionalProperties", g.node(n.elem))
	case kStruct:
		g.structSchema(n, s)
	}
	for _, ru := range n.rules {
		if len(ru.when) > 0 {
			continue
		}
		if ru.key {
			s.merge(obj("propertyNames", g.value(n, ru, true)))
			continue
		}
		s.merge(g.value(n, ru, false))
	}
	for _, c := range g.conds[n] {
		s.addAllOf(c)
	}
	return s
}

func (g *schemaGen) structSchema(n *node, s *jobj) {
	props := obj()
	var required []any
	for _, f := range n.fields {
		props.set(f.key, g.node(f))
		for _, ru := range f.rules {
			if ru.kind == rRequired && len(ru.when) == 0 && !ru.key {
				required = append(required, f.key)
				break
			}
		}
	}
	o := obj("type", "object", "additionalProperties", false, "properties", props)
	if len(required) > 0 {
		o.set("required", required)
	}
	form, short := scalarForms[n.typ]
	if !short {
		if n.parent != nil {
			o.set("type", []any{"object", "null"})
		}
		for _, k := range o.keys {
			s.set(k, o.m[k])
		}
		return
	}
	scalar := obj("type", []any{"string", "null"})
	if form.pattern != "" {
		scalar.set("pattern", form.pattern)
	}
	if f := n.child(form.field); f != nil {
		// The string is the field's value: its rules hold for it too.
		for _, ru := range f.rules {
			if len(ru.when) == 0 && !ru.key && ru.kind != rRequired {
				scalar.merge(g.value(f, ru, false))
			}
		}
	}
	s.set("anyOf", []any{o, scalar})
}

// description is a node's text for editors: what it means, its default
// and what vigil accepts.
func (g *schemaGen) description(n *node) string {
	if n.isElem || n.parent == nil {
		return ""
	}
	paras := g.r.describeNode(n)
	if d := g.r.defaultText(n); d != nil {
		paras = append(paras, append(paragraph{plain("Default: ")}, d...))
	}
	if rules := g.r.rulesText(n); len(rules) > 0 {
		p := paragraph{plain("Accepted: ")}
		for i, ru := range rules {
			if i > 0 {
				p = append(p, plain("; "))
			}
			p = append(p, ru...)
		}
		paras = append(paras, p)
	}
	return plainText(paras...)
}

// value is the schema a rule sets on a node's own value (or its keys).
func (g *schemaGen) value(n *node, ru *rule, keys bool) *jobj {
	k := n.kind
	if keys {
		k = kString
	}
	switch ru.kind {
	case rOneOf:
		if len(ru.patterns) == 0 && k != kString && k != kInt && k != kUint {
			return nil
		}
		if len(ru.patterns) == 0 && !keys {
			return enumSchema(k, ru.values, ru.zeroOK)
		}
		var alts []string
		if ru.zeroOK {
			alts = append(alts, "^$")
		}
		for _, v := range ru.values {
			alts = append(alts, "^"+regexp.QuoteMeta(v)+"$")
		}
		for _, p := range ru.patterns {
			alts = append(alts, p.re)
		}
		return obj("pattern", strings.Join(alts, "|"))
	case rNotIn:
		switch k {
		case kString:
			return obj("not", obj("enum", strsAny(ru.values)))
		case kInt, kUint:
			if ints, ok := intsAny(ru.values); ok {
				return obj("not", obj("enum", ints))
			}
		}
	case rMin, rMax:
		switch k {
		case kInt, kUint:
			word := "minimum"
			if ru.kind == rMax {
				word = "maximum"
			}
			bound := obj(word, ru.k)
			switch {
			case !ru.zeroOK:
				return bound
			case ru.kind == rMin && ru.k <= 1:
				return obj("minimum", min(ru.k, 0))
			case ru.kind == rMax && ru.k >= -1:
				return obj("maximum", max(ru.k, 0))
			}
			return obj("anyOf", []any{obj("const", 0), bound})
		case kDuration:
			if ru.kind == rMin && ru.k == 1 && !ru.zeroOK {
				return obj("not", obj("type", "string", "pattern", zeroDurationPattern))
			}
		}
	case rMaxLen:
		switch k {
		case kString:
			return obj("maxLength", ru.k)
		case kList:
			return obj("maxItems", ru.k)
		}
	case rMinLen:
		switch {
		case k == kList:
			return obj("minItems", ru.k)
		case k == kString && ru.k <= 1:
			return obj("minLength", ru.k)
		}
	case rRequired, rNonEmpty:
		if ru.kind == rRequired && !ru.nonZero {
			return nil
		}
		return nonZeroValue(n)
	case rZero:
		return zeroValue(n)
	}
	return nil
}

// nonZeroValue refuses the written zero values of a node that must not be zero.
func nonZeroValue(n *node) *jobj {
	switch n.kind {
	case kString, kAddr, kAddrPort:
		return obj("minLength", 1)
	case kList:
		return obj("minItems", 1)
	case kMap:
		return obj("minProperties", 1)
	case kInt, kUint:
		return obj("not", obj("const", 0))
	case kStruct:
		if n.ptr {
			return obj("not", obj("type", "null"))
		}
	}
	return nil
}

// zeroValue accepts only the zero values of a node.
func zeroValue(n *node) *jobj {
	switch n.kind {
	case kString, kAddr, kAddrPort:
		return obj("enum", []any{"", nil})
	case kInt, kUint:
		return obj("anyOf", []any{obj("enum", []any{0, nil}), obj("type", "string")})
	case kBool:
		return obj("anyOf", []any{obj("enum", []any{false, nil}),
			obj("type", "string", "pattern", `^([Ff][Aa][Ll][Ss][Ee]|[Nn][Oo]|[Oo][Ff][Ff])$`)})
	case kList:
		return obj("anyOf", []any{obj("type", "null"), obj("type", "array", "maxItems", 0)})
	case kMap:
		return obj("anyOf", []any{obj("type", "null"), obj("type", "object", "maxProperties", 0)})
	case kStruct:
		if n.ptr {
			return obj("type", "null")
		}
	}
	return nil
}

// enumSchema accepts the values, as YAML may type them (1.2 is a number
// to an editor, and the string "1.2" to vigil), and null, which keeps the
// default.
func enumSchema(k kind, values []string, zeroOK bool) *jobj {
	if k == kInt || k == kUint {
		ints, ok := intsAny(values)
		if !ok {
			return nil
		}
		if zeroOK {
			ints = append(ints, int64(0))
		}
		// A number must be one of them; a string is read by vigil (0x10).
		return obj("anyOf", []any{obj("type", "integer", "enum", ints), obj("type", []any{"string", "null"})})
	}
	var list []any
	for _, v := range values {
		list = append(list, v)
	}
	for _, v := range values {
		if t, ok := typed(v); ok && !slices.ContainsFunc(list, func(e any) bool { return e == t }) {
			list = append(list, t)
		}
	}
	if zeroOK && !slices.Contains(values, "") {
		list = append(list, "")
	}
	return obj("enum", append(list, nil))
}

// typed is a string as YAML types it when it is not a string: "1.2" is
// the number 1.2.
func typed(v string) (any, bool) {
	if v == "" {
		return nil, false
	}
	var x any
	if err := yaml.Unmarshal([]byte(v), &x); err != nil {
		return nil, false
	}
	switch x := x.(type) {
	case int:
		return int64(x), true
	case float64:
		return x, true
	case bool:
		return x, true
	}
	return nil, false
}

func strsAny(values []string) []any {
	out := make([]any, len(values))
	for i, v := range values {
		out[i] = v
	}
	return out
}

func intsAny(values []string) ([]any, bool) {
	out := make([]any, len(values))
	for i, v := range values {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// conditional places a rule that holds under conditions on other fields
// as an if/then on the nearest struct that holds both; a rule whose
// conditions the schema cannot say is left to `vigil check`.
func (g *schemaGen) conditional(n *node, ru *rule) {
	target, frag := n, g.value(n, ru, ru.key)
	switch {
	case ru.key:
		if frag == nil {
			return
		}
		frag = obj("propertyNames", frag)
	case ru.kind == rRequired:
		target = n.parent
		frag = obj("required", []any{n.key})
		if v := g.value(n, ru, false); v != nil {
			frag.set("properties", obj(n.key, v))
		}
	}
	if frag == nil {
		return
	}
	s := anchor(target, ru.when)
	if s == nil {
		return
	}
	var ifs []any
	for _, a := range ru.when {
		c, ok := g.atom(s, a)
		if !ok {
			return
		}
		ifs = append(ifs, c)
	}
	var cond *jobj
	if len(ifs) == 1 {
		cond = ifs[0].(*jobj)
	} else {
		cond = obj("allOf", ifs)
	}
	g.conds[s] = append(g.conds[s], obj("if", cond, "then", wrapDown(s, target, frag)))
}

// anchor is the deepest struct above target from which every condition's
// node is reached through fields alone, so "the" value of each is known.
func anchor(target *node, when []*atom) *node {
	start := target
	if target.kind != kStruct || target.isElem {
		start = target.parent
	}
	for s := start; s != nil; s = s.parent {
		if s.kind != kStruct {
			continue
		}
		ok := true
		for _, a := range when {
			if !fieldsOnly(s, a.node) {
				ok = false
				break
			}
		}
		if ok {
			return s
		}
	}
	return nil
}

// fieldsOnly reports whether m is below s through struct fields only, with
// no list, map or string shorthand on the way.
func fieldsOnly(s, m *node) bool {
	if m == s {
		return false
	}
	for n := m; n != s; n = n.parent {
		if n == nil || n.isElem {
			return false
		}
		if p := n.parent; p != s && p != nil {
			if _, short := scalarForms[p.typ]; short && p.kind == kStruct {
				return false
			}
		}
	}
	return true
}

// wrapDown places frag, a schema of target, inside the schema of s.
func wrapDown(s, target *node, frag *jobj) *jobj {
	for n := target; n != s; n = n.parent {
		p := n.parent
		switch {
		case n.isElem && p.kind == kList:
			frag = obj("items", frag)
		case n.isElem:
			frag = obj("additionalProperties", frag)
		default:
			inner := obj("properties", obj(n.key, frag))
			if form, ok := scalarForms[p.typ]; ok && form.field == n.key && p.kind == kStruct {
				// The string shorthand is this field's value.
				inner = obj("if", obj("type", "object"), "then", inner, "else", frag)
			}
			frag = inner
		}
	}
	return frag
}

// atom is the schema, applied to s, that only a config meeting the
// condition passes; it may refuse some that meet it (then the rule is not
// applied, which is safe), never the reverse.
func (g *schemaGen) atom(s *node, a *atom) (*jobj, bool) {
	n := a.node
	var frag *jobj
	required, absent := false, false
	switch a.kind {
	case aEq:
		def, known := defaultString(n)
		switch n.kind {
		case kString:
			if !a.neg {
				matchAbsent := known && slices.Contains(a.values, def)
				list := strsAny(a.values)
				if matchAbsent {
					list = append(list, nil)
				}
				frag, required = obj("enum", list), !matchAbsent
				break
			}
			matchAbsent := known && !slices.Contains(a.values, def)
			list := strsAny(a.values)
			for _, v := range a.values {
				if t, ok := typed(v); ok {
					list = append(list, t)
				}
			}
			if !matchAbsent {
				list = append(list, nil)
				if n.zeroReplaced {
					list = append(list, "")
				}
			}
			frag, required = obj("not", obj("enum", list)), !matchAbsent
		case kInt, kUint:
			ints, ok := intsAny(a.values)
			if !ok {
				return nil, false
			}
			if !a.neg {
				matchAbsent := known && slices.Contains(a.values, def)
				if matchAbsent {
					ints = append(ints, nil)
				}
				frag, required = obj("enum", ints), !matchAbsent
				break
			}
			matchAbsent := known && !slices.Contains(a.values, def)
			frag = obj("type", "integer", "not", obj("enum", ints))
			if matchAbsent {
				frag = obj("anyOf", []any{obj("type", "null"), frag})
			}
			required = !matchAbsent
		default:
			return nil, false
		}
	case aZero:
		if !a.neg {
			if !n.zeroDefault() || n.zeroReplaced {
				return nil, false
			}
			frag = zeroValue(n)
			if n.kind == kDuration {
				frag = obj("type", "null")
			}
			if frag == nil {
				return nil, false
			}
			break
		}
		required = true
		switch n.kind {
		case kString, kAddr, kAddrPort:
			frag = obj("type", "string", "minLength", 1)
		case kInt, kUint:
			frag = obj("type", "integer", "not", obj("const", 0))
		case kBool:
			frag = obj("const", true)
		case kList:
			frag = obj("type", "array", "minItems", 1)
		case kMap:
			frag = obj("type", "object", "minProperties", 1)
		case kDuration:
			frag = obj("type", "string", "not", obj("pattern", zeroDurationPattern))
		case kStruct:
			if !n.ptr {
				return nil, false
			}
			frag = obj("not", obj("type", "null"))
		default:
			return nil, false
		}
	case aSet:
		required, absent = !a.neg, a.neg
	default:
		return nil, false
	}
	var o *jobj
	switch {
	case absent:
		o = obj("not", obj("required", []any{n.key}))
	default:
		o = obj()
		if frag != nil {
			o.set("properties", obj(n.key, frag))
		}
		if required {
			o.set("required", []any{n.key})
		}
	}
	for m := n.parent; m != s; m = m.parent {
		// required holds of objects only: a null on the way must not pass.
		if required {
			o.set("type", "object")
		}
		inner := obj("properties", obj(m.key, o))
		if required {
			inner.set("required", []any{m.key})
		}
		o = inner
	}
	return o, true
}

// defaultString is a node's value when the file leaves it out, as the
// string validate.go compares, when it is known.
func defaultString(n *node) (string, bool) {
	if n.zeroDefault() {
		switch n.kind {
		case kInt, kUint:
			return "0", true
		case kBool:
			return "false", true
		}
		return "", true
	}
	if d := n.unconditional(); d != nil {
		return d.text, true
	}
	return "", false
}
