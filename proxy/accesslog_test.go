package proxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/accesslog"
	"vigil/config"
)

// logTo gives a service an access log in JSON to a file of its own, and
// returns a function that waits for n lines and returns them decoded.
func logTo(t *testing.T) (func(*Service), func(n int) []map[string]any) {
	path := filepath.Join(t.TempDir(), "access.log")
	sink, err := accesslog.Open(path, "", testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	logger := accesslog.NewLogger(sink, accesslog.JSON)
	read := func(n int) []map[string]any {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			b, _ := os.ReadFile(path)
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			if len(b) > 0 && len(lines) >= n {
				var out []map[string]any
				for _, l := range lines {
					var m map[string]any
					if err := json.Unmarshal([]byte(l), &m); err != nil {
						t.Fatalf("line %q: %v", l, err)
					}
					out = append(out, m)
				}
				if len(out) > n {
					t.Fatalf("%d lines, want %d:\n%s", len(out), n, b)
				}
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), n, b)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return func(s *Service) { s.AccessLog = logger }, read
}

// TestAccessLogEveryPath: each path writes one line per request, the same
// line but for what truly differs (the protocol, the bytes HTTP/2 frames
// differently, the times).
func TestAccessLogEveryPath(t *testing.T) {
	checkGoroutines(t)
	be := scriptedBackend(t)
	cfg := httpCfg(be.addr)
	cfg.Timeouts.Server = config.Duration(300 * time.Millisecond)
	ua := [][2]string{{"User-Agent", "t/2"}} // HTTP/2's client would add its own
	requests := []pathRequest{
		{method: "GET", target: "/cl?q=1", header: [][2]string{{"User-Agent", "t/1"}, {"Referer", "http://r/"}}},
		{method: "POST", target: "/echo", body: "hello", header: ua},
		{method: "GET", target: "/chunked", header: ua},
		{method: "GET", target: "/bad", header: ua},
		{method: "GET", target: "/hang", header: ua},
	}
	type line struct{ method, path, query, status, term, server, ua, ref string }
	var want []line
	for i, kind := range []string{"loop", "goroutine", "h2"} {
		withLog, read := logTo(t)
		var ask func(pathRequest) pathAnswer
		c := cfg
		switch kind {
		case "loop", "goroutine":
			r := startService(t, c, withLog, func(s *Service) { s.noLoopHTTP = kind == "goroutine" })
			ask = func(q pathRequest) pathAnswer { return h1Ask(t, r.addr, q) }
		case "h2":
			c.H2C = true
			r := startService(t, c, withLog)
			client := h2Client(t)
			ask = func(q pathRequest) pathAnswer { return h2Ask(t, client, r.addr, q) }
		}
		for _, q := range requests {
			ask(q)
		}
		var got []line
		for _, m := range read(len(requests)) {
			s := func(k string) string {
				if m[k] == nil {
					return "<nil>"
				}
				return fmt.Sprint(m[k])
			}
			got = append(got, line{s("method"), s("path"), s("query"), s("status"), s("termination"), s("server"), s("user_agent"), s("referer")})
			if s("service") != "t" || s("backend") != "t" || s("client") != "127.0.0.1" {
				t.Errorf("%s: names %v", kind, m)
			}
			if m["t_active"].(float64) < 0 || m["bytes_out"].(float64) <= 0 || m["bytes_in"].(float64) <= 0 {
				t.Errorf("%s: timers or bytes %v", kind, m)
			}
			wantProto := "HTTP/1.1"
			if kind == "h2" {
				wantProto = "HTTP/2.0"
			}
			if s("proto") != wantProto {
				t.Errorf("%s: proto %s", kind, s("proto"))
			}
		}
		// Lines come in the order requests end, which a busy machine may
		// swap for requests on separate connections.
		slices.SortFunc(got, func(a, b line) int { return strings.Compare(a.path, b.path) })
		if i == 0 {
			want = got
			exp := []line{
				{"GET", "/bad", "", "502", "PH--", be.addr, "t/2", ""},
				{"GET", "/chunked", "", "200", "----", be.addr, "t/2", ""},
				{"GET", "/cl", "q=1", "200", "----", be.addr, "t/1", "http://r/"},
				{"POST", "/echo", "", "200", "----", be.addr, "t/2", ""},
				{"GET", "/hang", "", "504", "sH--", be.addr, "t/2", ""},
			}
			if fmt.Sprint(got) != fmt.Sprint(exp) {
				t.Errorf("loop logged\n%v\nwant\n%v", got, exp)
			}
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s logged\n%v\nthe loop\n%v", kind, got, want)
		}
	}
}

// TestAccessLogRefusals: requests the proxy answers itself are logged
// with the proxy's status and termination, on the paths they reach.
func TestAccessLogRefusals(t *testing.T) {
	checkGoroutines(t)
	be := scriptedBackend(t)
	withLog, read := logTo(t)
	cfg := httpCfg(be.addr)
	cfg.Timeouts.HTTPRequest = config.Duration(200 * time.Millisecond)
	r := startService(t, cfg, withLog)
	h1Raw(t, r.addr, "GET /\x80 HTTP/1.1\r\nHost: x\r\n\r\n")
	h1Raw(t, r.addr, "GET / HTTP/1.1\r\nHost: x\r\n") // never finished: 408
	lines := read(2)
	if lines[0]["status"].(float64) != 400 || lines[0]["termination"] != "PR--" || lines[0]["method"] != "" || lines[0]["server"] != nil {
		t.Errorf("bad request: %v", lines[0])
	}
	if lines[1]["status"].(float64) != 408 || lines[1]["termination"] != "cR--" {
		t.Errorf("request timeout: %v", lines[1])
	}
	r.SetBackendUp(be.addr, false, "test")
	withLog2, read2 := logTo(t)
	cfg2 := httpCfg(be.addr)
	cfg2.Check = &config.Check{Type: "tcp"} // backends start down
	r2 := startService(t, cfg2, withLog2)
	h1Raw(t, r2.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if l := read2(1)[0]; l["status"].(float64) != 503 || l["termination"] != "SC--" || l["server"] != nil {
		t.Errorf("no backend: %v", l)
	}
}

// TestAccessLogTCP: a tcp service logs each connection once, with its
// bytes and how it ended.
func TestAccessLogTCP(t *testing.T) {
	checkGoroutines(t)
	be := startBackend(t, echo)
	withLog, read := logTo(t)
	r := startService(t, baseCfg(be.addr), withLog)
	c := r.dial(t)
	if got := roundTrip(t, c, "hello"); got != "hello" {
		t.Fatalf("echo %q", got)
	}
	c.CloseWrite()
	readAll(c)
	c.Close()
	l := read(1)[0]
	if l["protocol"] != "tcp" || l["bytes_in"].(float64) != 5 || l["bytes_out"].(float64) != 5 || l["termination"] != "--" || l["server"] != be.addr {
		t.Errorf("tcp line %v", l)
	}

	dead := startService(t, baseCfg(deadAddr(t)), withLog)
	dc, err := net.Dial("tcp", dead.addr)
	if err != nil {
		t.Fatal(err)
	}
	bufio.NewReader(dc).ReadByte() // closed by the proxy
	dc.Close()
	if l := read(2)[1]; l["termination"] != "SC" || l["status"].(float64) != 502 {
		t.Errorf("refused connect: %v", l)
	}
}
