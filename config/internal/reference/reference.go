package reference

import (
	"fmt"
)

// The generated files, relative to the repository root.
const (
	MarkdownPath = "docs/config.md"
	SchemaPath   = "docs/vigil.schema.json"
	ManPath      = "packaging/man/vigil.yaml.5"
)

// Reference is the config schema read from the config package's source:
// every field with its doc comment, type, defaults and rules.
type Reference struct {
	src       *source
	root      *node
	paths     map[string]*node
	typePaths map[string][]string // struct type -> paths of the fields that hold it
}

// Load reads the config package in dir (config/): its structs, defaults.go
// and validate.go.
func Load(dir string) (*Reference, error) {
	src, err := parseSource(dir)
	if err != nil {
		return nil, err
	}
	root, err := src.buildTree()
	if err != nil {
		return nil, fmt.Errorf("config structs: %w", err)
	}
	in := newInterp(src, root)
	if err := in.runDefaults(root); err != nil {
		return nil, fmt.Errorf("defaults.go: %w", err)
	}
	if err := in.runValidator(root); err != nil {
		return nil, fmt.Errorf("validate.go: %w", err)
	}
	in.learn()
	r := &Reference{src: src, root: root, paths: in.paths, typePaths: map[string][]string{}}
	root.walk(func(n *node) {
		if s := structNode(n); n.key != "" && s.kind == kStruct {
			r.typePaths[s.typ] = append(r.typePaths[s.typ], n.path)
		}
	})
	return r, nil
}

// Output is one generated file.
type Output struct {
	Path string // relative to the repository root
	Data []byte
}

// Outputs renders the three files.
func (r *Reference) Outputs() ([]Output, error) {
	schema, err := r.Schema()
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", SchemaPath, err)
	}
	return []Output{
		{Path: MarkdownPath, Data: r.Markdown()},
		{Path: SchemaPath, Data: schema},
		{Path: ManPath, Data: r.Man()},
	}, nil
}

// Field is one field of the config as the reference lists it.
type Field struct {
	Path   string // vrrp[].garp.repeat
	Owner  string // the Go struct that declares it
	GoName string
	Doc    string // the doc comment, as written
}

// Fields lists every field of every struct reachable from Config, in the
// order of the structs.
func (r *Reference) Fields() []Field {
	var out []Field
	r.root.walk(func(n *node) {
		if n.key != "" {
			out = append(out, Field{Path: n.path, Owner: n.owner, GoName: n.goName, Doc: n.doc})
		}
	})
	return out
}

// sections are the top-level fields, each with the fields below it.
func (r *Reference) sections() [][]*node {
	var out [][]*node
	for _, top := range r.root.fields {
		var list []*node
		top.walk(func(n *node) {
			if n.key != "" {
				list = append(list, n)
			}
		})
		out = append(out, list)
	}
	return out
}
