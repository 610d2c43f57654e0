package importer

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The fuzz targets check that no input makes the importer panic, loop or
// vary, and that whatever it converts is a config vigil accepts: the
// importer must note what it cannot map, never emit it.

func addSeeds(f *testing.F, pattern string) {
	files, err := filepath.Glob(filepath.Join("testdata", "import", pattern))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func fuzzConvert(t *testing.T, in Input, files MapFiles) {
	res, err := Convert(in, files)
	if err != nil {
		return // a parse error is an answer too
	}
	again, err := Convert(in, files)
	if err != nil || !bytes.Equal(res.YAML, again.YAML) {
		t.Fatalf("two conversions of the same input differ (err %v)", err)
	}
	for _, n := range res.Notes {
		if n.File == "imported.yaml" {
			t.Fatalf("the importer produced an invalid config: %s\n%s", n, res.YAML)
		}
	}
}

func FuzzKeepalived(f *testing.F) {
	addSeeds(f, "keepalived/*.conf")
	addSeeds(f, "keepalived/*/*.conf")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzConvert(t, Input{Keepalived: "k/keepalived.conf"}, MapFiles{
			"k/keepalived.conf": data,
			// an include target, and one that includes the main file again
			"k/a.conf":    []byte("vrrp_script s { script \"pidof haproxy\" }\n"),
			"k/loop.conf": []byte("include keepalived.conf\n"),
		})
	})
}

func FuzzHAProxy(f *testing.F) {
	addSeeds(f, "haproxy/*.cfg")
	addSeeds(f, "pairs/*/haproxy.cfg")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzConvert(t, Input{HAProxy: "haproxy.cfg"}, MapFiles{"haproxy.cfg": data})
	})
}
