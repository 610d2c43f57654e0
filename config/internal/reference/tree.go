package reference

import (
	"fmt"
	"go/ast"
	"reflect"
	"strconv"
	"strings"
)

// kind is what a config value is, as YAML sees it.
type kind int

const (
	kString kind = iota
	kInt
	kUint
	kBool
	kDuration
	kAddr
	kPrefix
	kAddrPort
	kStatus
	kCommand
	kStruct
	kList
	kMap
)

// node is one place in the config: a struct field, or the elements of a list
// or map. Paths use [] for list elements and <name> for map keys, as in
// vrrp[].garp.repeat and checks.<name>.type.
type node struct {
	path   string
	key    string // YAML key; "" for the root and for elements
	goName string
	owner  string // the Go struct that declares the field
	kind   kind
	typ    string // Go type name of structs and named types
	bits   int    // size of integers
	ptr    bool   // a pointer: nil until the file gives a value
	doc    string // the field's doc comment
	parent *node
	fields []*node // kStruct
	elem   *node   // kList, kMap
	isElem bool

	// defaulted says the decoder calls the type's setDefaults here: at the
	// root, on list elements and on pointers it allocates.
	defaulted bool

	defaults     []*defaultValue
	rules        []*rule
	zeroReplaced bool // finishDefaults replaces a written zero
}

// field finds a struct field by its Go name.
func (n *node) field(goName string) *node {
	for _, f := range n.fields {
		if f.goName == goName {
			return f
		}
	}
	return nil
}

// child finds a struct field by its YAML key.
func (n *node) child(key string) *node {
	for _, f := range n.fields {
		if f.key == key {
			return f
		}
	}
	return nil
}

// walk visits n and every node below it, parents first.
func (n *node) walk(fn func(*node)) {
	fn(n)
	for _, f := range n.fields {
		f.walk(fn)
	}
	if n.elem != nil {
		n.elem.walk(fn)
	}
}

// isAncestorOf reports whether n is m or above it.
func (n *node) isAncestorOf(m *node) bool {
	for ; m != nil; m = m.parent {
		if m == n {
			return true
		}
	}
	return false
}

// scalarForm describes a struct type whose YAML may also be a single string
// (it has a decodeScalar method): what the string means and which field it
// fills, when it fills one as is.
type scalarForm struct {
	text, plural string // how the reference names the type, one and many
	field        string // the YAML key the string is stored in; "" when parsed
	pattern      string // what the string must look like, for the schema
}

// scalarForms lists the struct types with a string shorthand. A new one
// must be described here: the generator refuses a type it does not know
// rather than guess its YAML.
var scalarForms = map[string]scalarForm{
	"VIP": {
		text:    `mapping, or string "ADDRESS[/LEN] [dev DEV] [label LABEL] [scope SCOPE]"`,
		plural:  `mappings, or strings "ADDRESS[/LEN] [dev DEV] [label LABEL] [scope SCOPE]"`,
		pattern: `^\s*[0-9A-Fa-f.:]+(/[0-9]+)?(\s+(dev|label|scope)\s+\S+)*\s*$`,
	},
	"Backend":   {text: `mapping, or string "HOST:PORT"`, plural: `mappings, or strings "HOST:PORT"`, field: "address"},
	"AccessLog": {text: `mapping, or string: the target alone`, plural: `mappings, or strings: the target alone`, field: "to"},
}

// customTypes are the named types that are not mappings of fields, by
// their Go name; the generator refuses a field of any other named type.
var customTypes = map[string]kind{
	"Duration":       kDuration,
	"Command":        kCommand,
	"StatusRange":    kStatus,
	"netip.Addr":     kAddr,
	"netip.Prefix":   kPrefix,
	"netip.AddrPort": kAddrPort,
}

var intBits = map[string]int{"int": 64, "int8": 8, "int16": 16, "int32": 32, "int64": 64}
var uintBits = map[string]int{"uint": 64, "uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64}

// buildTree walks the config structs from Config.
func (s *source) buildTree() (*node, error) {
	root := &node{kind: kStruct, typ: "Config", defaulted: true}
	if err := s.fillStruct(root, "Config", 0); err != nil {
		return nil, err
	}
	return root, nil
}

func (s *source) fillStruct(n *node, typ string, depth int) error {
	if depth > 20 {
		return fmt.Errorf("config type %s nests too deep; is it recursive?", typ)
	}
	st := s.structs[typ]
	for _, f := range st.Fields.List {
		if len(f.Names) == 0 {
			return fmt.Errorf("%s: embedded field in %s: the reference generator does not know how vigil decodes it", s.pos(f.Pos()), typ)
		}
		key := ""
		if f.Tag != nil {
			tag, err := strconv.Unquote(f.Tag.Value)
			if err != nil {
				return fmt.Errorf("%s: tag of %s: %w", s.pos(f.Pos()), typ, err)
			}
			key = strings.Split(reflect.StructTag(tag).Get("yaml"), ",")[0]
		}
		for _, name := range f.Names {
			if key == "" || key == "-" || !name.IsExported() {
				continue
			}
			doc := f.Doc.Text()
			if doc == "" {
				doc = f.Comment.Text()
			}
			c := &node{
				path:   joinPath(n.path, key),
				key:    key,
				goName: name.Name,
				owner:  typ,
				doc:    doc,
				parent: n,
			}
			if err := s.fillType(c, f.Type, depth+1); err != nil {
				return fmt.Errorf("%s: %s.%s: %w", s.pos(f.Pos()), typ, name.Name, err)
			}
			n.fields = append(n.fields, c)
		}
	}
	return nil
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// fillType sets n's kind from a Go type expression, building the nodes below it.
func (s *source) fillType(n *node, e ast.Expr, depth int) error {
	switch t := e.(type) {
	case *ast.StarExpr:
		n.ptr = true
		n.defaulted = true // the decoder allocates it and sets its defaults
		return s.fillType(n, t.X, depth)
	case *ast.ArrayType:
		if t.Len != nil {
			return fmt.Errorf("arrays are not decoded; use a slice")
		}
		n.kind = kList
		n.elem = &node{path: n.path + "[]", parent: n, isElem: true, defaulted: true}
		return s.fillType(n.elem, t.Elt, depth)
	case *ast.MapType:
		if k, ok := t.Key.(*ast.Ident); !ok || k.Name != "string" {
			return fmt.Errorf("only maps with string keys are decoded")
		}
		n.kind = kMap
		n.elem = &node{path: n.path + ".<name>", parent: n, isElem: true}
		return s.fillType(n.elem, t.Value, depth)
	case *ast.SelectorExpr:
		name := exprString(t)
		k, ok := customTypes[name]
		if !ok {
			return fmt.Errorf("type %s is not known to the reference generator (config/internal/reference/tree.go)", name)
		}
		n.kind, n.typ = k, name
		return nil
	case *ast.Ident:
		name := t.Name
		switch {
		case name == "string":
			n.kind = kString
		case name == "bool":
			n.kind = kBool
		case intBits[name] > 0:
			n.kind, n.bits = kInt, intBits[name]
		case uintBits[name] > 0:
			n.kind, n.bits = kUint, uintBits[name]
		default:
			if k, ok := customTypes[name]; ok {
				n.kind, n.typ = k, name
				return nil
			}
			if s.structs[name] == nil {
				return fmt.Errorf("type %s is not known to the reference generator (config/internal/reference/tree.go)", name)
			}
			if s.method(name, "decodeScalar") != nil {
				if _, ok := scalarForms[name]; !ok {
					return fmt.Errorf("%s has a string shorthand (decodeScalar) not described in scalarForms (config/internal/reference/tree.go)", name)
				}
			}
			n.kind, n.typ = kStruct, name
			return s.fillStruct(n, name, depth)
		}
		return nil
	}
	return fmt.Errorf("type %s is not decoded by vigil", exprString(e))
}

// exprString prints a type or selector expression such as netip.Addr.
func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	case *ast.StarExpr:
		return "*" + exprString(e.X)
	}
	return fmt.Sprintf("%T", e)
}

// index maps every path to its node.
func index(root *node) map[string]*node {
	m := map[string]*node{}
	root.walk(func(n *node) { m[n.path] = n })
	return m
}
