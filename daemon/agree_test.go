package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"vigil/config"
	"vigil/lvs"
	"vigil/proxy"
	"vigil/vrrp"
)

// TestCheckAndConstructionAgree holds `vigil check` and `vigil run` to one
// verdict: every config that config accepts (and that has something to
// run), the daemon's parts must build too — the proxy services, the VRRP
// instances and the IPVS rules — or vigil check would pass a file the
// daemon then refuses. The corpus is every example, every config the
// importer's golden tests produce, the config fuzz corpus, and variants of
// the examples with each service's protocol, mode and optional features
// changed one at a time, where such disagreements hide.
func TestCheckAndConstructionAgree(t *testing.T) {
	corpus := agreeCorpus(t)
	accepted := 0
	for _, name := range sortedKeys(corpus) {
		cfg, _, err := config.Parse(name, corpus[name], config.Options{Host: agreeHost{}, StrictHost: true})
		if err != nil || config.Runnable(cfg) != nil {
			continue
		}
		accepted++
		if err := construct(cfg); err != nil {
			t.Errorf("%s: vigil check accepts it, the daemon refuses it: %v\n%s", name, err, corpus[name])
		}
	}
	// The variants must reach both verdicts, or they test nothing.
	if accepted < 50 || accepted == len(corpus) {
		t.Fatalf("%d of %d configs accepted: the corpus no longer covers both sides", accepted, len(corpus))
	}
	t.Logf("%d of %d configs accepted, and built", accepted, len(corpus))
}

// agreeHost answers about files as this machine does (a TLS key pair is
// loaded by vigil check as by the proxy), and says yes to the rest: the
// examples name interfaces, groups and programs of other machines.
type agreeHost struct{ config.SystemHost }

func (agreeHost) InterfaceExists(string) bool { return true }
func (agreeHost) ProgramExists(string) bool   { return true }
func (agreeHost) DirExists(string) bool       { return true }
func (agreeHost) SocketExists(string) bool    { return true }
func (agreeHost) GroupExists(string) bool     { return true }

// construct builds what daemon.New builds from cfg, leaving out what
// needs the machine (sockets, IPVS, files).
func construct(cfg *config.Config) error {
	for _, sc := range cfg.Services {
		if sc.Mode != "proxy" {
			continue
		}
		if _, err := proxy.NewService(sc, nil); err != nil {
			return err
		}
	}
	if _, err := lvs.Desired(cfg.Services, nil); err != nil {
		return err
	}
	for _, ic := range cfg.VRRP {
		if _, err := vrrp.NewInstance(instanceConfig(ic), vrrp.Hooks{}, slog.New(slog.DiscardHandler)); err != nil {
			return err
		}
	}
	return nil
}

// agreeVariants are the changes made to each service of each example, one
// at a time: key, YAML value.
var agreeVariants = [][2]string{
	{"protocol", "tcp"}, {"protocol", "udp"}, {"protocol", "http"},
	{"mode", "lvs"}, {"mode", "proxy"},
	{"balance", "uri"}, {"balance", "source"}, {"balance", "leastconn"}, {"balance", "wlc"}, {"balance", "sh"},
	{"proxy_protocol", "{send: v1}"}, {"proxy_protocol", "{send: v2}"}, {"proxy_protocol", "{accept: true}"},
	{"sticky", "{cookie: SRVID}"}, {"sticky", `{cookie: "SRV ID"}`}, {"sticky", `{cookie: "a=b"}`},
	{"h2c", "true"}, {"http2_max_streams", "10"},
	{"tls", "{certs: [{cert: /etc/hostname, key: /etc/hostname}]}"},
	{"routes", "[{path_prefix: /api/, backends: [\"10.9.9.9:80\"]}]"},
	{"lvs", "{forward: dr}"}, {"lvs", "{forward: tun, persistence: 60s}"},
	{"fwmark", "7"}, {"quorum", "2"}, {"max_conn", "10"}, {"retries", "0"},
	{"access_log", "stdout"}, {"on_down", "shutdown_sessions"},
}

func agreeCorpus(t *testing.T) map[string][]byte {
	t.Helper()
	corpus := map[string][]byte{}
	var examples []string
	for _, pattern := range []string{"../examples/*/*.yaml", "../importer/testdata/import/golden/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			corpus[f] = b
			if strings.HasPrefix(f, "../examples/") {
				examples = append(examples, f)
			}
		}
	}
	fuzz, _ := filepath.Glob("../config/testdata/fuzz/FuzzParse/*")
	for _, f := range fuzz {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if data, ok := fuzzInput(b); ok {
			corpus[f] = data
		}
	}
	if len(examples) < 8 {
		t.Fatalf("want the example pairs, found %v", examples)
	}
	for _, f := range examples {
		for _, v := range agreeVariants {
			for i, out := range withServiceKey(t, corpus[f], v[0], v[1]) {
				corpus[fmt.Sprintf("%s, services[%d].%s: %s", f, i, v[0], v[1])] = out
			}
		}
	}
	return corpus
}

// withServiceKey returns the config once per service, with key set to
// value in that service.
func withServiceKey(t *testing.T, data []byte, key, value string) [][]byte {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	services := mapValue(root.Content[0], "services")
	if services == nil {
		return nil
	}
	var out [][]byte
	for i := range services.Content {
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		svc := mapValue(doc.Content[0], "services").Content[i]
		var val yaml.Node
		if err := yaml.Unmarshal([]byte(value), &val); err != nil {
			t.Fatal(err)
		}
		if svc.Kind != yaml.MappingNode {
			continue
		}
		if old := mapValue(svc, key); old != nil {
			*old = *val.Content[0]
		} else {
			svc.Content = append(svc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, val.Content[0])
		}
		b, err := yaml.Marshal(&doc)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// fuzzInput decodes a go test fuzz v1 file of one []byte argument.
func fuzzInput(b []byte) ([]byte, bool) {
	lines := strings.SplitN(string(b), "\n", 3)
	if len(lines) < 2 || lines[0] != "go test fuzz v1" {
		return nil, false
	}
	arg := strings.TrimSpace(lines[1])
	if !strings.HasPrefix(arg, "[]byte(") || !strings.HasSuffix(arg, ")") {
		return nil, false
	}
	s, err := strconv.Unquote(arg[len("[]byte(") : len(arg)-1])
	if err != nil {
		return nil, false
	}
	return []byte(s), true
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
