package reference

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"vigil/config"
)

// replacements are values a mutant puts in place of a scalar: the shapes
// where a schema and a decoder most easily disagree. ({} is left out: the
// decoder takes an empty mapping for an address, a quirk of decode.go the
// schema does not copy.)
var replacements = []string{
	"null", `""`, "0", `"0"`, "-1", "1", "yes", "off", "True", "1.2", "1.20", "0x10", "+5",
	"0s", "+0s", "-0s", "1s", "10ms", "stdout", "/x", "[]", "lvs", "udp", "http", "exec", "dns",
	"v1", "10.0.0.1", "10.0.0.1:80", "'[::1]:80'", "2xx", "200-204", "HEAD", "A", "nat", "dr", "sh",
	"sh-port", "shutdown_sessions", "1.3", "eth0", "abcdefghijklmnopq", "x@y",
}

// mutants calls fn with every stride-th config made from doc by replacing
// one value (a scalar by another, a list or mapping by null, [] or {}), or
// deleting one key, of it.
func mutants(doc *yaml.Node, stride int, fn func([]byte)) {
	count := 0
	var nodes []*yaml.Node
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		nodes = append(nodes, n)
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(doc)
	emit := func() {
		if count++; count%stride != 0 {
			return
		}
		out, err := yaml.Marshal(doc)
		if err == nil {
			fn(out)
		}
	}
	for _, n := range nodes {
		if n.Kind == yaml.ScalarNode {
			saved := *n
			for _, r := range replacements {
				var repl yaml.Node
				if err := yaml.Unmarshal([]byte(r), &repl); err != nil || len(repl.Content) == 0 {
					continue
				}
				*n = *repl.Content[0]
				emit()
			}
			*n = saved
		}
		if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
			saved := *n
			for _, r := range []string{"null", "[]", "{}"} {
				var repl yaml.Node
				if err := yaml.Unmarshal([]byte(r), &repl); err == nil && len(repl.Content) == 1 {
					*n = *repl.Content[0]
					emit()
				}
			}
			*n = saved
		}
		if n.Kind == yaml.MappingNode {
			saved := n.Content
			for i := 0; i+1 < len(saved); i += 2 {
				n.Content = append(append([]*yaml.Node(nil), saved[:i]...), saved[i+2:]...)
				emit()
			}
			n.Content = saved
		}
	}
}

// TestSchemaAcceptsMutants perturbs the accepted configs one value at a
// time: whatever vigil still accepts, the schema must accept. By default it
// tries every 17th mutant of the examples, to stay fast;
// VIGIL_SCHEMA_MUTANTS=all tries every mutant of the whole corpus (minutes).
func TestSchemaAcceptsMutants(t *testing.T) {
	schema := compileSchema(t)
	all := os.Getenv("VIGIL_SCHEMA_MUTANTS") == "all"
	stride := 17
	if all {
		stride = 1
	}
	tried, accepted := 0, 0
	for _, f := range corpus(t) {
		if !all && !strings.HasPrefix(f.name, "examples/") {
			continue
		}
		if _, _, err := config.Parse(f.name, f.data, config.Options{}); err != nil {
			continue
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(f.data, &doc); err != nil {
			t.Fatal(err)
		}
		mutants(&doc, stride, func(m []byte) {
			tried++
			if _, _, err := config.Parse(f.name, m, config.Options{}); err != nil {
				return
			}
			accepted++
			v, err := yamlToJSON(m)
			if err != nil {
				t.Errorf("%s: a mutant vigil accepts does not convert: %v", f.name, err)
				return
			}
			if err := schema.Validate(v); err != nil {
				t.Errorf("%s: vigil accepts this mutant, the schema refuses it:\n%v\n%s", f.name, err, m)
			}
		})
	}
	t.Logf("%d mutants, %d accepted by vigil and the schema", tried, accepted)
	if tried == 0 {
		t.Fatal("no mutants: is examples/ missing?")
	}
}
