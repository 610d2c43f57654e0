package reference

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"vigil/config"
)

// compileSchema compiles the schema as it is generated now, so a change to
// the generator is tested before it is committed.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	ref := load(t)
	data, err := ref.Schema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("vigil.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("vigil.schema.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return s
}

// yamlToJSON converts a YAML document to the JSON value an editor's YAML
// language server checks: map keys are the keys as written, which is what
// vigil's decoder reads too, and scalars are typed as YAML 1.2 types them.
func yamlToJSON(data []byte) (any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	budget := 100000
	v, err := convertNode(&doc, &budget)
	if err != nil {
		return nil, err
	}
	// Through JSON text, so only what JSON can hold reaches the validator.
	text, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(text))
}

func convertNode(n *yaml.Node, budget *int) (any, error) {
	if *budget--; *budget < 0 {
		return nil, errors.New("too many nodes (alias expansion)")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return convertNode(n.Content[0], budget)
	case yaml.AliasNode:
		return convertNode(n.Alias, budget)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			for k.Kind == yaml.AliasNode {
				k = k.Alias
			}
			v, err := convertNode(n.Content[i+1], budget)
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		list := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := convertNode(c, budget)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, nil
	}
	return convertScalar(n)
}

func convertScalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		err := n.Decode(&b)
		return b, err
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return json.Number(strconv.FormatInt(i, 10)), nil
		}
		var u uint64
		if err := n.Decode(&u); err == nil {
			return json.Number(strconv.FormatUint(u, 10)), nil
		}
		fallthrough
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, err
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return n.Value, nil // JSON has no such number
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
	}
	return n.Value, nil
}

// corpusFile is one YAML text that may be a vigil config.
type corpusFile struct {
	name string
	data []byte
}

// corpus gathers every YAML text in the repository meant as a vigil
// config: examples, the packaged config, the importer's outputs, the
// config tests' texts and fuzz seeds, and the yaml blocks of the docs.
func corpus(t *testing.T) []corpusFile {
	t.Helper()
	var out []corpusFile
	add := func(name string, data []byte) { out = append(out, corpusFile{name, data}) }
	readFile := func(rel string) {
		data, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if err != nil {
			t.Fatal(err)
		}
		add(rel, data)
	}
	err := filepath.WalkDir(filepath.Join(repoRoot, "examples"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			rel, _ := filepath.Rel(repoRoot, p)
			readFile(rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "packaging/vigil.yaml")); err == nil {
		readFile("packaging/vigil.yaml")
	}
	golden, err := filepath.Glob(filepath.Join(repoRoot, "importer/testdata/import/golden/*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range golden {
		rel, _ := filepath.Rel(repoRoot, g)
		readFile(rel)
	}
	for _, f := range testStrings(t, filepath.Join(repoRoot, "config")) {
		add(f.name, f.data)
	}
	seeds, err := filepath.Glob(filepath.Join(repoRoot, "config/testdata/fuzz/FuzzParse/*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range seeds {
		rel, _ := filepath.Rel(repoRoot, s)
		data, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range fuzzValues(data) {
			add(fmt.Sprintf("%s#%d", rel, i), v)
		}
	}
	docs, err := filepath.Glob(filepath.Join(repoRoot, "docs/*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, md := range append([]string{filepath.Join(repoRoot, "README.md")}, docs...) {
		rel, _ := filepath.Rel(repoRoot, md)
		data, err := os.ReadFile(md)
		if err != nil {
			t.Fatal(err)
		}
		for i, block := range yamlBlocks(data) {
			add(fmt.Sprintf("%s yaml block %d", rel, i+1), block)
		}
	}
	return out
}

var fenceRE = regexp.MustCompile("(?ms)^```ya?ml\n(.*?)^```")

func yamlBlocks(md []byte) [][]byte {
	var out [][]byte
	for _, m := range fenceRE.FindAllSubmatch(md, -1) {
		out = append(out, m[1])
	}
	return out
}

// fuzzValues reads the []byte values of a "go test fuzz v1" file.
func fuzzValues(data []byte) [][]byte {
	var out [][]byte
	for _, line := range strings.Split(string(data), "\n") {
		inner, ok := strings.CutPrefix(line, "[]byte(")
		if !ok {
			continue
		}
		s, err := strconv.Unquote(strings.TrimSuffix(inner, ")"))
		if err == nil {
			out = append(out, []byte(s))
		}
	}
	return out
}

// testStrings evaluates the constant string expressions of a package's
// test files ("vrrpHead + `...`"); the config tests write their configs so.
func testStrings(t *testing.T, dir string) []corpusFile {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]ast.Expr{}
	var parsed []*ast.File
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, af)
		for _, d := range af.Decls {
			if gd, ok := d.(*ast.GenDecl); ok {
				for _, spec := range gd.Specs {
					if vs, ok := spec.(*ast.ValueSpec); ok && len(vs.Names) == len(vs.Values) {
						for i, n := range vs.Names {
							consts[n.Name] = vs.Values[i]
						}
					}
				}
			}
		}
	}
	var eval func(e ast.Expr, depth int) (string, bool)
	eval = func(e ast.Expr, depth int) (string, bool) {
		if depth > 10 {
			return "", false
		}
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind == token.STRING {
				s, err := strconv.Unquote(e.Value)
				return s, err == nil
			}
		case *ast.Ident:
			if c, ok := consts[e.Name]; ok {
				return eval(c, depth+1)
			}
		case *ast.ParenExpr:
			return eval(e.X, depth+1)
		case *ast.BinaryExpr:
			if e.Op == token.ADD {
				a, ok1 := eval(e.X, depth+1)
				b, ok2 := eval(e.Y, depth+1)
				return a + b, ok1 && ok2
			}
		}
		return "", false
	}
	var out []corpusFile
	seen := map[string]bool{}
	for _, af := range parsed {
		ast.Inspect(af, func(n ast.Node) bool {
			e, ok := n.(ast.Expr)
			if !ok {
				return true
			}
			s, ok := eval(e, 0)
			if !ok || seen[s] {
				return true
			}
			seen[s] = true
			out = append(out, corpusFile{name: fset.Position(e.Pos()).String(), data: []byte(s)})
			return false
		})
	}
	return out
}

// TestSchemaAcceptsEveryValidConfig checks the promise the schema makes to
// editors: it never refuses a config vigil accepts.
func TestSchemaAcceptsEveryValidConfig(t *testing.T) {
	schema := compileSchema(t)
	accepted := 0
	for _, f := range corpus(t) {
		if _, _, err := config.Parse(f.name, f.data, config.Options{}); err != nil {
			continue // not a config vigil accepts: nothing to promise
		}
		accepted++
		v, err := yamlToJSON(f.data)
		if err != nil {
			t.Errorf("%s: vigil accepts it but it does not convert to JSON: %v", f.name, err)
			continue
		}
		if err := schema.Validate(v); err != nil {
			t.Errorf("%s: vigil accepts this config but docs/vigil.schema.json refuses it (fix the generator, then go generate ./config):\n%v\n%s", f.name, err, f.data)
		}
	}
	t.Logf("%d configs vigil accepts, all accepted by the schema", accepted)
	if accepted < 40 {
		t.Errorf("only %d accepted configs in the corpus; are examples/, importer/testdata or the config tests missing?", accepted)
	}
}

// TestSchemaRefuses checks that the schema says no where it should, so the
// test above cannot pass by accepting everything.
func TestSchemaRefuses(t *testing.T) {
	schema := compileSchema(t)
	const svc = "services:\n  - name: web\n    listen: 10.0.0.100:80\n    backends: [10.0.0.1:80]\n"
	cases := []struct{ name, yaml string }{
		{"unknown top-level key", "vrrrp: []\n"},
		{"unknown nested key", svc + "    bakends: []\n"},
		{"a list given a mapping", "vrrp: { name: x }\n"},
		{"a number given a word", "vrrp:\n  - { name: a, interface: eth0, vrid: 1, priority: high, vips: [10.0.0.1] }\n"},
		{"bad enum", "log: { level: loud }\n"},
		{"duration without unit", "vrrp:\n  - { name: a, interface: eth0, vrid: 1, advert_interval: 1, vips: [10.0.0.1] }\n"},
		{"out of range", "vrrp:\n  - { name: a, interface: eth0, vrid: 300, vips: [10.0.0.1] }\n"},
		{"missing required key", "services:\n  - { listen: 10.0.0.100:80, backends: [10.0.0.1:80] }\n"},
		{"bad name", "services:\n  - { name: \"my web\", listen: 10.0.0.100:80, backends: [10.0.0.1:80] }\n"},
		{"bad access log target", "log: { access: stdotu }\n"},
		{"a proxy protocol under lvs", "services:\n  - { name: s, mode: lvs, protocol: http, listen: 10.0.0.100:80, backends: [10.0.0.1:80] }\n"},
		{"an lvs scheduler under proxy", svc + "    balance: wlc\n"},
		{"shell syntax in a command", "checks:\n  c: { type: exec, command: \"pidof x || exit 1\" }\n"},
		{"a second key of the wrong type", svc + "    check: { type: http, expect_status: [700] }\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := config.Parse("t.yaml", []byte(c.yaml), config.Options{}); err == nil {
				t.Fatalf("vigil accepts this config; the case must be one it refuses:\n%s", c.yaml)
			}
			v, err := yamlToJSON([]byte(c.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(v); err == nil {
				t.Errorf("the schema accepts a config vigil refuses:\n%s", c.yaml)
			}
		})
	}
}

// TestSchemaReadsYAMLAsVigilDoes checks the shapes vigil's decoder accepts
// beyond the plain ones: they must pass the schema.
func TestSchemaReadsYAMLAsVigilDoes(t *testing.T) {
	schema := compileSchema(t)
	const head = "vrrp:\n  - name: VI_1\n    interface: eth0\n    vrid: 51\n    vips: [10.0.0.100/24]\n"
	cases := []struct{ name, yaml string }{
		{"yes and off as booleans", head + "    preempt: yes\n    auto_track: { services: off }\n"},
		{"a quoted number", head + "    priority: \"150\"\n"},
		{"a hex number", head + "    priority: 0x96\n"},
		{"an empty value keeps the default", head + "    priority:\n    garp:\n"},
		{"a VIP as keepalived writes it", "vrrp:\n  - { name: a, interface: eth0, vrid: 1, vips: [\"10.0.0.1/24 dev eth0 label eth0:1\"] }\n"},
		{"a number as a string field", "node: 1234\n"},
		{"a TLS version YAML reads as a number", head + "services:\n  - name: s\n    listen: 10.0.0.100:443\n    protocol: http\n    backends: [10.0.0.1:80]\n    tls: { min_version: 1.3, certs: [{ cert: /etc/ssl/a.pem, key: /etc/ssl/a.key }] }\n"},
		{"an access log as a string", "log: { access: stdout }\n" + head},
		{"a command as a string", head + "    track: [{check: c}]\nchecks:\n  c: { type: exec, command: pidof nginx }\n"},
		{"status codes three ways", head + "services:\n  - name: s\n    listen: 10.0.0.100:80\n    protocol: http\n    backends: [10.0.0.1:80]\n    check: { type: http, expect_status: [200, \"300-302\", 4xx] }\n"},
		{"a backend list by alias", head + "services:\n  - &web { name: web, listen: 10.0.0.100:80, backends: [10.0.0.1:80] }\n  - { name: api, listen: 10.0.0.100:81, backends: [10.0.0.1:81] }\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := yamlToJSON([]byte(c.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := config.Parse("t.yaml", []byte(c.yaml), config.Options{}); err != nil {
				t.Fatalf("vigil refuses it, so the case tests nothing: %v", err)
			}
			if err := schema.Validate(v); err != nil {
				t.Errorf("vigil accepts it, the schema refuses it: %v", err)
			}
		})
	}
}
