package reference

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// source is the parsed config package: its types, functions, methods and
// package-level values, by name.
type source struct {
	fset    *token.FileSet
	structs map[string]*ast.StructType
	named   map[string]ast.Expr // non-struct type declarations: name -> underlying
	typeDoc map[string]string
	funcs   map[string]*ast.FuncDecl
	methods map[string]map[string]*ast.FuncDecl // receiver type -> method name -> decl
	values  map[string]ast.Expr                 // package-level const and var with one value
	imports map[string]bool                     // names the files import packages as
}

// parseSource reads every non-test Go file of the package in dir.
func parseSource(dir string) (*source, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the config package: %w", err)
	}
	src := &source{
		fset:    token.NewFileSet(),
		structs: map[string]*ast.StructType{},
		named:   map[string]ast.Expr{},
		typeDoc: map[string]string{},
		funcs:   map[string]*ast.FuncDecl{},
		methods: map[string]map[string]*ast.FuncDecl{},
		values:  map[string]ast.Expr{},
		imports: map[string]bool{},
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("no Go files in %s", dir)
	}
	for _, n := range names {
		f, err := parser.ParseFile(src.fset, filepath.Join(dir, n), nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parsing the config package: %w", err)
		}
		src.add(f)
	}
	if src.structs["Config"] == nil {
		return nil, fmt.Errorf("%s has no Config struct; is it the config package?", dir)
	}
	return src, nil
}

func (s *source) add(f *ast.File) {
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			continue
		}
		name := path.Base(p)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		s.imports[name] = true
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				s.funcs[d.Name.Name] = d
				continue
			}
			recv := receiverType(d.Recv.List[0].Type)
			if s.methods[recv] == nil {
				s.methods[recv] = map[string]*ast.FuncDecl{}
			}
			s.methods[recv][d.Name.Name] = d
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch spec := spec.(type) {
				case *ast.TypeSpec:
					doc := spec.Doc
					if doc == nil {
						doc = d.Doc
					}
					s.typeDoc[spec.Name.Name] = doc.Text()
					if st, ok := spec.Type.(*ast.StructType); ok {
						s.structs[spec.Name.Name] = st
					} else {
						s.named[spec.Name.Name] = spec.Type
					}
				case *ast.ValueSpec:
					if len(spec.Names) == len(spec.Values) {
						for i, n := range spec.Names {
							s.values[n.Name] = spec.Values[i]
						}
					}
				}
			}
		}
	}
}

func receiverType(e ast.Expr) string {
	if st, ok := e.(*ast.StarExpr); ok {
		e = st.X
	}
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

// method finds a method of a type, declared on the value or the pointer.
func (s *source) method(typ, name string) *ast.FuncDecl {
	return s.methods[typ][name]
}

// pos renders a position as file:line relative to the package directory.
func (s *source) pos(p token.Pos) string {
	position := s.fset.Position(p)
	return fmt.Sprintf("%s:%d", filepath.Base(position.Filename), position.Line)
}
