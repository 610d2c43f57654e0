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
		files := MapFiles{
			"k/keepalived.conf": data,
			// an include target, and one that includes the main file again
			"k/a.conf":    []byte("vrrp_script s { script \"pidof haproxy\" }\n"),
			"k/loop.conf": []byte("include keepalived.conf\n"),
			// services for liveness scripts to become tracks of
			"k/haproxy.cfg": []byte("listen a\n bind :80\n server s 10.0.0.1:80 check\nlisten b\n bind 10.0.0.100:81\n server s 10.0.0.1:80\n"),
		}
		fuzzConvert(t, Input{Keepalived: "k/keepalived.conf"}, files)
		fuzzConvert(t, Input{Keepalived: "k/keepalived.conf", HAProxy: "k/haproxy.cfg"}, files)
	})
}

func FuzzHAProxy(f *testing.F) {
	addSeeds(f, "haproxy/*.cfg")
	addSeeds(f, "pairs/*/haproxy.cfg")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzConvert(t, Input{HAProxy: "haproxy.cfg"}, MapFiles{"haproxy.cfg": data})
	})
}
