package reference

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"vigil/config"
)

// repoRoot is the repository, seen from this package's directory.
const repoRoot = "../../.."

func load(t *testing.T) *Reference {
	t.Helper()
	ref, err := Load(filepath.Join(repoRoot, "config"))
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestCommittedOutputsAreCurrent regenerates the reference, the schema and
// the man page and compares them with the committed files.
func TestCommittedOutputsAreCurrent(t *testing.T) {
	outs, err := load(t).Outputs()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		got, err := os.ReadFile(filepath.Join(repoRoot, o.Path))
		if err != nil {
			t.Errorf("%s: %v; run go generate ./config", o.Path, err)
			continue
		}
		if !bytes.Equal(got, o.Data) {
			t.Errorf("%s is out of date with the config package; run go generate ./config (first difference at line %d)", o.Path, firstDiffLine(got, o.Data))
		}
	}
}

func firstDiffLine(a, b []byte) int {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := range min(len(la), len(lb)) {
		if !bytes.Equal(la[i], lb[i]) {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}

// yamlFields lists the YAML paths of every field reachable from
// config.Config, found by reflection on the compiled types: a second
// opinion on the generator's walk of the source.
func yamlFields(t reflect.Type, prefix string, out map[string]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String && t.Name() != "" {
			return // Command: a list of strings with a name of its own
		}
		yamlFields(t.Elem(), prefix+"[]", out)
		return
	case reflect.Map:
		yamlFields(t.Elem(), prefix+".<name>", out)
		return
	case reflect.Struct:
	default:
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		key := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if key == "" || key == "-" || !f.IsExported() {
			continue
		}
		path := key
		if prefix != "" {
			path = prefix + "." + key
		}
		out[path] = t.Name() + "." + f.Name
		yamlFields(f.Type, path, out)
	}
}

// TestEveryFieldDocumented fails, naming the field, when a config field has
// no doc comment or is missing from docs/config.md.
func TestEveryFieldDocumented(t *testing.T) {
	ref := load(t)
	want := map[string]string{}
	yamlFields(reflect.TypeFor[config.Config](), "", want)
	if len(want) < 100 {
		t.Fatalf("only %d fields found by reflection; is the walk broken?", len(want))
	}
	got := map[string]Field{}
	for _, f := range ref.Fields() {
		got[f.Path] = f
	}
	md, err := os.ReadFile(filepath.Join(repoRoot, MarkdownPath))
	if err != nil {
		t.Fatalf("%v; run go generate ./config", err)
	}
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		f, ok := got[p]
		switch {
		case !ok:
			t.Errorf("config.%s (%s) is not in the generator's walk of the source", want[p], p)
		case strings.TrimSpace(f.Doc) == "":
			t.Errorf("config.%s (%s) has no doc comment", want[p], p)
		}
		if !bytes.Contains(md, []byte("# `"+p+"`\n")) {
			t.Errorf("config.%s (%s) is missing from %s; run go generate ./config", want[p], p, MarkdownPath)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("the generator lists %s, which config.Config does not have", p)
		}
	}
}

// fullConfig holds every struct of the config once, with as few fields
// as vigil needs to accept it, so the defaults of the rest are applied.
const fullConfig = `vrrp:
  - name: VI_1
    interface: eth0
    vrid: 51
    vips: [10.0.0.100/24]
    track: [{check: c}]
sync_groups:
  - { name: G, members: [VI_1] }
checks:
  c: { type: http, target: "127.0.0.1:80" }
services:
  - name: web
    listen: 10.0.0.100:443
    protocol: http
    backends: [10.0.0.1:80]
    check: { type: http }
    tls: { certs: [{ cert: /etc/ssl/a.pem, key: /etc/ssl/a.key }] }
    sticky: {}
    routes: [{ path_prefix: /api, backends: [10.0.0.2:80] }]
    access_log: stdout
log:
  access: stdout
lvs:
  sync: { interface: eth0, instance: VI_1 }
alerts:
  webhooks: [{ url: "https://hooks.example.com/x" }]
  email: { smtp_server: "127.0.0.1:25", from: a@example.com, to: [b@example.com] }
`

// TestDefaultsMatchTheLoader checks every default the reference states as
// a constant against the value config.Parse fills in, so the reference
// cannot claim a default defaults.go does not set.
func TestDefaultsMatchTheLoader(t *testing.T) {
	cfg, _, err := config.Parse("full.yaml", []byte(fullConfig), config.Options{})
	if err != nil {
		t.Fatalf("the test's config is refused: %v", err)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var effective any
	if err := yaml.Unmarshal(out, &effective); err != nil {
		t.Fatal(err)
	}
	var written any
	if err := yaml.Unmarshal([]byte(fullConfig), &written); err != nil {
		t.Fatal(err)
	}
	checked := 0
	load(t).root.walk(func(n *node) {
		d := n.unconditional()
		if d == nil || d.text == "" {
			return
		}
		if _, ok := lookup(written, n.path); ok {
			return // the file sets it
		}
		got, ok := lookup(effective, n.path)
		if !ok {
			t.Errorf("%s: the test's config does not reach it; extend fullConfig", n.path)
			return
		}
		checked++
		gotText, err := yaml.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		wantText, err := yaml.Marshal(d.json)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gotText, wantText) {
			t.Errorf("%s: the reference says the default is %s; config.Parse gives %s", n.path, strings.TrimSpace(string(wantText)), strings.TrimSpace(string(gotText)))
		}
	})
	t.Logf("%d defaults checked against config.Parse", checked)
	if checked < 30 {
		t.Errorf("only %d defaults checked", checked)
	}
}

// lookup finds a path such as services[].check.interval in a decoded
// document, taking the first element of lists and the one entry of maps.
func lookup(doc any, path string) (any, bool) {
	cur := doc
	for _, part := range strings.Split(path, ".") {
		if part == "<name>" {
			m, ok := cur.(map[string]any)
			if !ok || len(m) != 1 {
				return nil, false
			}
			for _, v := range m {
				cur = v
			}
			continue
		}
		key, list := strings.CutSuffix(part, "[]")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[key]; !ok {
			return nil, false
		}
		if list {
			l, ok := cur.([]any)
			if !ok || len(l) == 0 {
				return nil, false
			}
			cur = l[0]
		}
	}
	return cur, true
}

// TestManPageIsCleanForGroff runs groff over the man page as the package
// build does; it needs groff (apt install groff-base).
func TestManPageIsCleanForGroff(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("groff is not installed")
	}
	page := load(t).Man()
	// The package build's check, then the terminal rendering man(1) uses.
	for _, args := range [][]string{{"-man", "-ww", "-z"}, {"-man", "-ww", "-z", "-Tutf8"}} {
		cmd := exec.Command(groff, args...)
		cmd.Stdin = bytes.NewReader(page)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("groff %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		if stderr.Len() > 0 {
			t.Errorf("groff %s warns about the man page:\n%s", strings.Join(args, " "), stderr.String())
		}
	}
}
