package importer

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestKeepalivedParse(t *testing.T) {
	tests := []struct {
		name, text string
		want       string // the tree as key(args){kids}
		err        string
	}{
		{"block", "a 1 {\n b 2\n}\n", "a(1){b(2)}", ""},
		{"inline", "a { b 1 c } d", "a{b(1 c)} d", ""},
		{"brace next line", "a x\n{\n b\n}", "a(x){b}", ""},
		{"comments", "# c\na 1 ! c\nb \"x # y\" # z\n!a", "a(1) b(x # y)", ""},
		{"attached braces", "a{b{c 1}}", "a{b{c(1)}}", ""},
		{"quoted brace", "a \"{\"", "a({)", ""},
		{"unclosed", "a {\n b", "", "not closed"},
		{"stray close", "a\n}", "", "closes no block"},
		{"brace first", "{ a }", "", "without a keyword"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lx := &kaLexer{files: MapFiles{}, notes: &notes{}}
			if err := lx.lexFile("k.conf", []byte(tc.text), 0); err != nil {
				t.Fatal(err)
			}
			top, err := parseKeepalived(lx.lines)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := treeString(top); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func treeString(ns []*kaNode) string {
	var parts []string
	for _, n := range ns {
		s := n.key
		if len(n.args) > 0 {
			s += "(" + strings.Join(n.args, " ") + ")"
		}
		if n.block {
			s += "{" + treeString(n.kids) + "}"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func TestKeepalivedInclude(t *testing.T) {
	files := MapFiles{
		"/etc/k/keepalived.conf": []byte("include conf.d/*.conf\nz\n"),
		"/etc/k/conf.d/b.conf":   []byte("b\n"),
		"/etc/k/conf.d/a.conf":   []byte("a\ninclude /etc/k/deep.conf\n"),
		"/etc/k/deep.conf":       []byte("deep\n"),
		"/etc/k/self.conf":       []byte("include self.conf\n"),
	}
	lx := &kaLexer{files: files, notes: &notes{}}
	if err := lx.lexFile("/etc/k/keepalived.conf", files["/etc/k/keepalived.conf"], 0); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range lx.lines {
		got = append(got, l[0].text+"@"+l[0].pos.File)
	}
	want := []string{"a@/etc/k/conf.d/a.conf", "deep@/etc/k/deep.conf", "b@/etc/k/conf.d/b.conf", "z@/etc/k/keepalived.conf"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	lx = &kaLexer{files: files, notes: &notes{}}
	if err := lx.lexFile("/etc/k/self.conf", files["/etc/k/self.conf"], 0); err == nil || !strings.Contains(err.Error(), "include") {
		t.Errorf("a file including itself: err = %v", err)
	}
}

func TestHAWords(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"  server s1 10.0.0.1:80 check # comment", []string{"server", "s1", "10.0.0.1:80", "check"}},
		{`option httpchk GET / HTTP/1.1\r\nHost:\ www`, []string{"option", "httpchk", "GET", "/", "HTTP/1.1\r\nHost: www"}},
		{`http-check send hdr "X Y" 'a\b'`, []string{"http-check", "send", "hdr", "X Y", `a\b`}},
		{`acl a path_beg /a\#b`, []string{"acl", "a", "path_beg", "/a#b"}},
		{"", nil},
	}
	for _, tc := range tests {
		got, err := haWords(tc.line)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("haWords(%q) = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
	if _, err := haWords(`bind "x`); err == nil {
		t.Error("an unterminated quote is not an error")
	}
}

func TestHADefaultsInheritance(t *testing.T) {
	cfg, err := parseHAProxy("h.cfg", []byte("defaults\n mode http\ndefaults tcp\n mode tcp\nfrontend a\n bind :1\nbackend b from tcp\nfrontend c\n bind :2\ndefaults\n timeout client 5s\nbackend d\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "tcp", "b": "tcp", "c": "tcp", "d": ""}
	for _, s := range cfg.sections {
		w, ok := want[s.name]
		if !ok {
			continue
		}
		mode := ""
		for _, l := range s.effectiveLines() {
			if l.words[0] == "mode" {
				mode = l.words[1]
			}
		}
		if mode != w {
			t.Errorf("%s %s: mode %q, want %q", s.kind, s.name, mode, w)
		}
	}
	if _, err := parseHAProxy("h.cfg", []byte("backend b from nope\n")); err == nil {
		t.Error("from an unknown defaults section is not an error")
	}
}

func TestHAAddresses(t *testing.T) {
	binds := map[string]string{
		":80": "0.0.0.0:80", "*:443": "0.0.0.0:443", "10.0.0.1:80": "10.0.0.1:80", ":::80": "[::]:80",
		"[2001:db8::1]:80": "[2001:db8::1]:80", "ipv6@:80": "[::]:80", "/run/h.sock": "", "10.0.0.1:80-81": "", "name:80": "",
	}
	for in, want := range binds {
		ap, ok := parseBindAddr(in)
		got := ""
		if ok {
			got = ap.String()
		}
		if got != want {
			t.Errorf("parseBindAddr(%q) = %q, want %q", in, got, want)
		}
	}
	servers := map[string]string{
		"10.0.0.1:80": "10.0.0.1 80", "web.internal:8080": "web.internal 8080", "[2001:db8::1]:80": "2001:db8::1 80",
		"ipv6@2001:db8::1:80": "2001:db8::1 80", "10.0.0.1": "10.0.0.1 0", "unix@/s": "", "10.0.0.1:+1": "",
	}
	for in, want := range servers {
		h, p, ok := splitServerAddr(in)
		got := ""
		if ok {
			got = h + " " + strconv.Itoa(p)
		}
		if got != want {
			t.Errorf("splitServerAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHATime(t *testing.T) {
	tests := map[string]time.Duration{"500": 500 * time.Millisecond, "5s": 5 * time.Second, "2m": 2 * time.Minute, "1h": time.Hour, "1d": 24 * time.Hour, "100us": 100 * time.Microsecond}
	for in, want := range tests {
		if got, ok := haTime(in); !ok || got != want {
			t.Errorf("haTime(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "x", "-1s", "99999999999d"} {
		if _, ok := haTime(bad); ok {
			t.Errorf("haTime(%q) accepted", bad)
		}
	}
}

func TestFmtDuration(t *testing.T) {
	tests := map[time.Duration]string{0: "0s", 90 * time.Second: "90s", 5 * time.Minute: "5m", 2 * time.Hour: "2h", 1500 * time.Millisecond: "1500ms", 1500 * time.Microsecond: "1.5ms"}
	for in, want := range tests {
		if got := fmtDuration(in); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestNamesUnique(t *testing.T) {
	var ns names
	got := []string{ns.make("VI 1"), ns.make("VI_1"), ns.make("VI_1"), ns.make("VI_1-2"), ns.make(""), ns.make("-x")}
	want := []string{"VI_1", "VI_1-2", "VI_1-3", "VI_1-2-2", "x", "x-x"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestLargeInputsStayFast converts inputs built to make a careless
// converter quadratic: many instances of one name, many frontends over a
// large defaults section and backend.
func TestLargeInputsStayFast(t *testing.T) {
	var ka, ha strings.Builder
	for i := range 1500 {
		fmt.Fprintf(&ka, "vrrp_instance VI {\n interface eth0\n virtual_router_id %d\n virtual_ipaddress { 10.%d.%d.1 }\n}\n", i%255+1, i/255, i%255)
	}
	ha.WriteString("defaults\n")
	for range 2000 {
		ha.WriteString(" option httplog\n")
	}
	ha.WriteString("backend b\n")
	for i := range 10 {
		fmt.Fprintf(&ha, " server s%d 10.0.0.%d:80\n", i, i+1)
	}
	for i := range 600 {
		fmt.Fprintf(&ha, "frontend f%d\n bind 10.1.%d.%d:80\n default_backend b\n", i, i/250, i%250+1)
	}
	start := time.Now()
	res, err := Convert(Input{Keepalived: "k.conf", HAProxy: "h.cfg"}, MapFiles{"k.conf": []byte(ka.String()), "h.cfg": []byte(ha.String())})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("took %s", d)
	}
	if !strings.Contains(string(res.YAML), "lines (defaults and backends are read once per use)") {
		t.Error("the read bound did not stop the conversion")
	}
}

// TestHAH2Streams: tune.h2.max-concurrent-streams becomes each HTTP/2
// service's http2_max_streams; HAProxy's default (100, vigil's too) and
// services without h2 write nothing, a bad count is reported.
func TestHAH2Streams(t *testing.T) {
	const rest = "defaults\n mode http\nfrontend a\n bind :443 ssl crt /c.pem alpn h2,http/1.1\n default_backend b\n" +
		"frontend plain\n bind :444 ssl crt /c.pem alpn http/1.1\n default_backend b\nbackend b\n server s 10.0.0.1:80\n"
	for _, tc := range []struct{ global, want, notWant string }{
		{"global\n tune.h2.max-concurrent-streams 250\n", "http2_max_streams: 250", ""},
		{"global\n tune.h2.max-concurrent-streams 100\n", "", "http2_max_streams"},
		{"global\n tune.h2.max-concurrent-streams x\n", "not a stream count", "http2_max_streams:"},
	} {
		res, err := Convert(Input{HAProxy: "h.cfg"}, MapFiles{"h.cfg": []byte(tc.global + rest)})
		if err != nil {
			t.Fatal(err)
		}
		out := string(res.YAML) // its comment lists the notes
		if tc.want != "" && !strings.Contains(out, tc.want) {
			t.Errorf("%q: output lacks %q:\n%s", tc.global, tc.want, out)
		}
		if tc.notWant != "" && strings.Contains(yamlBody(res.YAML), tc.notWant) {
			t.Errorf("%q: output has %q:\n%s", tc.global, tc.notWant, res.YAML)
		}
		if strings.Count(string(res.YAML), "http2_max_streams") > 1 {
			t.Errorf("%q: the service without h2 got the limit too:\n%s", tc.global, res.YAML)
		}
	}
}

// yamlBody is a converted config without its leading comment.
func yamlBody(y []byte) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(string(y), "\n") {
		if !strings.HasPrefix(line, "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}
