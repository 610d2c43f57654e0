package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vigil/config"
)

// TestImportCLI checks vigil import's exit codes, where the output goes and
// that what it writes passes vigil check.
func TestImportCLI(t *testing.T) {
	td := filepath.Join("importer", "testdata", "import")
	dir := t.TempDir()
	out := filepath.Join(dir, "vigil.yaml")
	unbalanced := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(unbalanced, []byte("vrrp_instance V {\n}\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		err  string // in stderr
	}{
		{"complete", []string{"import", "keepalived", filepath.Join(td, "keepalived/include/keepalived.conf")}, 0, ""},
		{"incomplete", []string{"import", "haproxy", filepath.Join(td, "haproxy/full.cfg"), "-o", out}, 1, "tune.bufsize"},
		{"pair, flags first", []string{"import", "--haproxy", filepath.Join(td, "pairs/haproxy-track/haproxy.cfg"), "keepalived", filepath.Join(td, "pairs/haproxy-track/keepalived.conf")}, 0, ""},
		{"no file", []string{"import", "keepalived"}, 2, "want a format and a file"},
		{"bad format", []string{"import", "nginx", "x.conf"}, 2, "unknown format"},
		{"missing file", []string{"import", "haproxy", filepath.Join(td, "nope.cfg")}, 2, "no such file"},
		{"parse error", []string{"import", "keepalived", unbalanced}, 2, "closes no block"},
		{"haproxy with --haproxy", []string{"import", "haproxy", "a", "--haproxy", "b"}, 2, "--haproxy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runCLI(tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.err) {
				t.Errorf("stderr lacks %q:\n%s", tc.err, stderr.String())
			}
			if code == 2 {
				return
			}
			yaml := stdout.Bytes()
			if len(yaml) == 0 {
				var err error
				if yaml, err = os.ReadFile(out); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := config.Parse("imported.yaml", yaml, config.Options{}); err != nil {
				t.Errorf("vigil check would refuse the output: %v", err)
			}
		})
	}
}
