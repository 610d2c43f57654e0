package importer

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vigil/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/import/golden")

// goldenCase is one conversion of the corpus in testdata/import.
type goldenCase struct {
	name string
	in   Input
}

// corpus lists the cases: keepalived/*.conf and keepalived/*/keepalived.conf
// alone, haproxy/*.cfg alone, and pairs/*/ together.
func corpus(t *testing.T) []goldenCase {
	t.Helper()
	var cases []goldenCase
	glob := func(p string) []string {
		m, err := filepath.Glob(filepath.Join("testdata", "import", p))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, f := range glob("keepalived/*.conf") {
		cases = append(cases, goldenCase{"keepalived-" + strings.TrimSuffix(filepath.Base(f), ".conf"), Input{Keepalived: f}})
	}
	for _, f := range glob("keepalived/*/keepalived.conf") {
		cases = append(cases, goldenCase{"keepalived-" + filepath.Base(filepath.Dir(f)), Input{Keepalived: f}})
	}
	for _, f := range glob("haproxy/*.cfg") {
		cases = append(cases, goldenCase{"haproxy-" + strings.TrimSuffix(filepath.Base(f), ".cfg"), Input{HAProxy: f}})
	}
	for _, d := range glob("pairs/*") {
		cases = append(cases, goldenCase{"pair-" + filepath.Base(d), Input{
			Keepalived: filepath.Join(d, "keepalived.conf"), HAProxy: filepath.Join(d, "haproxy.cfg"),
		}})
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases in testdata/import; is the corpus missing?", len(cases))
	}
	return cases
}

// TestGolden converts every corpus case, compares with the committed output,
// and checks that the output is a valid vigil config and does not vary.
func TestGolden(t *testing.T) {
	for _, tc := range corpus(t) {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Convert(tc.in, OSFiles{})
			if err != nil {
				t.Fatal(err)
			}
			again, err := Convert(tc.in, OSFiles{})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(res.YAML, again.YAML) {
				t.Fatal("two conversions of the same input differ")
			}
			if _, _, err := config.Parse(tc.name+".yaml", res.YAML, config.Options{}); err != nil {
				t.Fatalf("the output is not a valid vigil config:\n%v\n%s", err, res.YAML)
			}
			for _, n := range res.Notes {
				if n.File == "imported.yaml" {
					t.Errorf("the importer produced an invalid config: %s", n)
				}
			}
			golden := filepath.Join("testdata", "import", "golden", tc.name+".yaml")
			if *update {
				if err := os.WriteFile(golden, res.YAML, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./importer -update to create it)", err)
			}
			if !bytes.Equal(res.YAML, want) {
				t.Errorf("output differs from %s (run go test ./importer -update and review the diff):\n%s", golden, res.YAML)
			}
		})
	}
}
