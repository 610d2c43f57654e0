package api

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestWriteTableGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		st   Status
	}{
		{"status", sampleStatus()},
		{"empty", Status{Node: "lb2", Version: "dev", Config: "/etc/vigil/vigil.yaml", Started: t0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteTable(&b, c.st, t0); err != nil {
				t.Fatal(err)
			}
			file := "testdata/" + c.name + ".golden"
			if *update {
				if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test ./api -run Golden -update to create it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("table differs from %s (rerun with -update if the change is meant):\n got:\n%s\nwant:\n%s", file, b.Bytes(), want)
			}
		})
	}
}
