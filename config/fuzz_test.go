package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the loader: it must never panic, and
// whatever it rejects must come with at least one positioned problem.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../examples/*/*.yaml")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(vrrpHead))
	f.Add([]byte("vrrp: [{vips: [\"10.0.0.1 dev\"]}]\nservices: [{check: {expect_status: [2xx, \"1-2\"]}}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := Parse("fuzz.yaml", data, Options{Host: fakeHost{}})
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
		if err != nil {
			e, ok := err.(*Error)
			if !ok || len(e.Problems) == 0 {
				t.Fatalf("error without problems: %T %v", err, err)
			}
		}
	})
}
