package accesslog

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Paris below, whatever the host has
	"unicode/utf8"
)

// TestMain fixes time.Local before any test runs (and before any writer
// goroutine reads it): the golden lines are dated in Paris, +0100 in
// December, so the zone offset is printed and checked, and the clock
// cache meets a DST change.
func TestMain(m *testing.M) {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err)
	}
	time.Local = loc
	os.Exit(m.Run())
}

var t0 = time.Date(2026, 12, 7, 19, 43, 3, 82_700_000, time.UTC) // 20:43:03.082 in Paris

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// httpEntry is a plain successful request; the cases change what they test.
func httpEntry() Entry {
	return Entry{
		Client:      netip.MustParseAddrPort("127.0.0.1:41590"),
		Start:       t0,
		Service:     "web",
		Backend:     "be",
		Server:      "10.0.0.1:8080",
		TR:          ms(0),
		Tw:          ms(0),
		Tc:          ms(1),
		Tr:          ms(4) + 900*time.Microsecond, // truncated, not rounded
		Ta:          ms(5),
		Status:      200,
		BytesIn:     78,
		BytesOut:    126,
		BodyOut:     12,
		Termination: [4]byte{'-', '-', '-', '-'},
		ActConn:     1, FeConn: 1, BeConn: 1, SrvConn: 1,
		Method:    []byte("GET"),
		Target:    []byte("/p1?q=1"),
		Proto:     []byte("HTTP/1.1"),
		Host:      []byte("example.com"),
		UserAgent: []byte("curl/8.5.0"),
		Referer:   []byte("https://example.com/"),
	}
}

func tcpEntry() Entry {
	return Entry{
		TCP:         true,
		Client:      netip.MustParseAddrPort("10.0.1.2:33313"),
		Start:       t0,
		Service:     "db",
		Backend:     "db",
		Server:      "10.0.0.1:5432",
		Tw:          ms(0),
		Tc:          ms(5),
		Ta:          ms(5007),
		Status:      200,
		BytesIn:     99,
		BytesOut:    212,
		Termination: [4]byte{'-', '-'},
		ActConn:     3, FeConn: 2, BeConn: 2, SrvConn: 1,
	}
}

type formatCase struct {
	name string
	edit func(e *Entry)
	want string
}

func runFormatCases(t *testing.T, f Format, base func() Entry, cases []formatCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := base()
			if tc.edit != nil {
				tc.edit(&e)
			}
			got := string(Append(nil, f, &e))
			if got != tc.want+"\n" {
				t.Errorf("%s line:\n got %q\nwant %q", f, got, tc.want+"\n")
			}
		})
	}
}

// badReq is a request whose line never parsed: no server, no timers.
func badReq(e *Entry) {
	e.Method, e.Target, e.Proto, e.Host, e.UserAgent, e.Referer = nil, nil, nil, nil, nil, nil
	e.Backend, e.Server = "", ""
	e.TR, e.Tw, e.Tc, e.Tr, e.Ta = -1, -1, -1, -1, ms(2)
	e.Status, e.BytesOut, e.BodyOut = 400, 187, 90
	e.Termination = [4]byte{'P', 'R', '-', '-'}
	e.BeConn, e.SrvConn = 0, 0
}

// oddBytes has every kind of byte the escapers treat apart.
func oddBytes(e *Entry) {
	e.Target = []byte("/a b\"#\\\x01\x7f\xff?x=\xc3\xbc")
	e.UserAgent = []byte("Mozilla \"5\"\t\\\x1b[31m\xc3")
	e.Referer = []byte("http://x/\xe2\x80\xa8\n")
}

func TestHAProxyHTTP(t *testing.T) {
	runFormatCases(t, HAProxy, httpEntry, []formatCase{
		{"normal", nil,
			`127.0.0.1:41590 [07/Dec/2026:20:43:03.082] web be/10.0.0.1:8080 0/0/1/4/5 200 126 - - ---- 1/1/1/1/0 0/0 "GET /p1?q=1 HTTP/1.1"`},
		{"badreq", badReq,
			`127.0.0.1:41590 [07/Dec/2026:20:43:03.082] web web/<NOSRV> -1/-1/-1/-1/2 400 187 - - PR-- 1/1/0/0/0 0/0 "<BADREQ>"`},
		{"request timeout", func(e *Entry) {
			badReq(e)
			e.Status, e.Ta, e.Termination = 408, ms(5000), [4]byte{'c', 'R', '-', '-'}
		}, `127.0.0.1:41590 [07/Dec/2026:20:43:03.082] web web/<NOSRV> -1/-1/-1/-1/5000 408 187 - - cR-- 1/1/0/0/0 0/0 "<BADREQ>"`},
		{"no server up 503", func(e *Entry) {
			e.Server = ""
			e.Tw, e.Tc, e.Tr, e.Ta = -1, -1, -1, ms(0)
			e.Status, e.Termination = 503, [4]byte{'S', 'C', '-', '-'}
			e.SrvConn = 0
		}, `127.0.0.1:41590 [07/Dec/2026:20:43:03.082] web be/<NOSRV> 0/-1/-1/-1/0 503 126 - - SC-- 1/1/1/0/0 0/0 "GET /p1?q=1 HTTP/1.1"`},
		{"connect refused 502", func(e *Entry) {
			e.Tc, e.Tr, e.Ta, e.Retries = -1, -1, ms(3), 3
			e.Status, e.Termination = 502, [4]byte{'S', 'C', '-', '-'}
		}, `127.0.0.1:41590 [07/Dec/2026:20:43:03.082] web be/10.0.0.1:8080 0/0/-1/-1/3 502 126 - - SC-- 1/1/1/1/3 0/0 "GET /p1?q=1 HTTP/1.1"`},
		{"queue timeout 503", func(e *Entry) {
			e.Server = ""
			e.Tw, e.Tc, e.Tr, e.Ta = ms(10000), -1, -1, ms(10001)
			e.Status, e.Termination = 503, [4]byte{'s', 'Q', '-', '-'}
			e.SrvQueue, e.BackendQueue = 0, 17
		}, `127.0.0.1:41590 [07/Dec/2026:20:43:03.082] web be/<NOSRV> 0/10000/-1/-1/10001 503 126 - - sQ-- 1/1/1/1/0 0/17 "GET /p1?q=1 HTTP/1.1"`},
		{"server timeout 504", func(e *Entry) {
			e.Tr, e.Ta = -1, ms(30001)
			e.Status, e.Termination = 504, [4]byte{'s', 'H', '-', '-'}
		}, `127.0.0.1:41590 [07/Dec/2026:20:43:03.082] web be/10.0.0.1:8080 0/0/1/-1/30001 504 126 - - sH-- 1/1/1/1/0 0/0 "GET /p1?q=1 HTTP/1.1"`},
		{"client gone before the response", func(e *Entry) {
			e.Tr, e.Ta, e.Status, e.BytesOut = -1, ms(700), 0, 0
			e.Termination = [4]byte{'C', 'H', '-', '-'}
		}, `127.0.0.1:41590 [07/Dec/2026:20:43:03.082] web be/10.0.0.1:8080 0/0/1/-1/700 -1 0 - - CH-- 1/1/1/1/0 0/0 "GET /p1?q=1 HTTP/1.1"`},
		{"client aborted during data", func(e *Entry) {
			e.Ta, e.BytesOut, e.Termination = ms(1200), 65536, [4]byte{'C', 'D', '-', '-'}
		}, `127.0.0.1:41590 [07/Dec/2026:20:43:03.082] web be/10.0.0.1:8080 0/0/1/4/1200 200 65536 - - CD-- 1/1/1/1/0 0/0 "GET /p1?q=1 HTTP/1.1"`},
		{"redispatch", func(e *Entry) {
			e.Server, e.Retries, e.Redispatched = "10.0.0.2:8080", 3, true
			e.Termination = [4]byte{'-', '-', 'V', 'I'}
		}, `127.0.0.1:41590 [07/Dec/2026:20:43:03.082] web be/10.0.0.2:8080 0/0/1/4/5 200 126 - - --VI 1/1/1/1/+3 0/0 "GET /p1?q=1 HTTP/1.1"`},
		{"odd bytes", oddBytes,
			`127.0.0.1:41590 [07/Dec/2026:20:43:03.082] web be/10.0.0.1:8080 0/0/1/4/5 200 126 - - ---- 1/1/1/1/0 0/0 "GET /a b#22#23\#01#7F#FF?x=#C3#BC HTTP/1.1"`},
		{"tls ipv6 http2", func(e *Entry) {
			e.Client, e.TLS, e.Proto = netip.MustParseAddrPort("[2001:db8::7%eth\"0]:50000"), true, []byte("HTTP/2.0")
		}, `2001:db8::7:50000 [07/Dec/2026:20:43:03.082] web~ be/10.0.0.1:8080 0/0/1/4/5 200 126 - - ---- 1/1/1/1/0 0/0 "GET /p1?q=1 HTTP/2.0"`},
		{"mapped ipv4, odd names, zero termination", func(e *Entry) {
			e.Client = netip.MustParseAddrPort("[::ffff:10.1.2.3]:1024")
			e.Service, e.Backend, e.Termination = "my web", "", [4]byte{}
		}, `10.1.2.3:1024 [07/Dec/2026:20:43:03.082] my#20web my#20web/10.0.0.1:8080 0/0/1/4/5 200 126 - - ---- 1/1/1/1/0 0/0 "GET /p1?q=1 HTTP/1.1"`},
		{"unknown client, no proto", func(e *Entry) {
			e.Client, e.Proto = netip.AddrPort{}, nil
		}, `-:- [07/Dec/2026:20:43:03.082] web be/10.0.0.1:8080 0/0/1/4/5 200 126 - - ---- 1/1/1/1/0 0/0 "GET /p1?q=1"`},
	})
}

func TestHAProxyTCP(t *testing.T) {
	runFormatCases(t, HAProxy, tcpEntry, []formatCase{
		{"normal", nil, `10.0.1.2:33313 [07/Dec/2026:20:43:03.082] db db/10.0.0.1:5432 0/5/5007 212 -- 3/2/2/1/0 0/0`},
		{"no server", func(e *Entry) {
			e.Server, e.Tw, e.Tc, e.Ta, e.BytesOut = "", -1, -1, ms(3), 0
			e.Termination = [4]byte{'S', 'C'}
		}, `10.0.1.2:33313 [07/Dec/2026:20:43:03.082] db db/<NOSRV> -1/-1/3 0 SC 3/2/2/1/0 0/0`},
		{"server timeout, redispatched, cookie chars ignored", func(e *Entry) {
			e.Retries, e.Redispatched, e.Termination = 1, true, [4]byte{'s', 'D', 'N', 'I'}
		}, `10.0.1.2:33313 [07/Dec/2026:20:43:03.082] db db/10.0.0.1:5432 0/5/5007 212 sD 3/2/2/1/+1 0/0`},
		{"queued, client gone", func(e *Entry) {
			e.Server, e.Tw, e.Tc, e.Ta, e.SrvQueue, e.BackendQueue = "", ms(250), -1, ms(250), 2, 5
			e.Termination = [4]byte{'C', 'Q'}
		}, `10.0.1.2:33313 [07/Dec/2026:20:43:03.082] db db/<NOSRV> 250/-1/250 212 CQ 3/2/2/1/0 2/5`},
	})
}

func TestCombined(t *testing.T) {
	// nginx dates its line by the end of the request: Start + Ta.
	runFormatCases(t, Combined, httpEntry, []formatCase{
		{"normal", nil,
			`127.0.0.1 - - [07/Dec/2026:20:43:03 +0100] "GET /p1?q=1 HTTP/1.1" 200 12 "https://example.com/" "curl/8.5.0"`},
		{"badreq", badReq, `127.0.0.1 - - [07/Dec/2026:20:43:03 +0100] "-" 400 90 "-" "-"`},
		{"no response", func(e *Entry) {
			e.Status, e.Ta, e.Referer = 0, ms(1000), nil
		}, `127.0.0.1 - - [07/Dec/2026:20:43:04 +0100] "GET /p1?q=1 HTTP/1.1" 499 12 "-" "curl/8.5.0"`},
		{"odd bytes", oddBytes,
			`127.0.0.1 - - [07/Dec/2026:20:43:03 +0100] "GET /a b\x22#\x5C\x01\x7F\xFF?x=\xC3\xBC HTTP/1.1" 200 12 "http://x/\xE2\x80\xA8\x0A" "Mozilla \x225\x22\x09\x5C\x1B[31m\xC3"`},
		{"ipv6, summer", func(e *Entry) {
			e.Client = netip.MustParseAddrPort("[2001:db8::7]:50000")
			e.Start = time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
		}, `2001:db8::7 - - [01/Jul/2026:11:00:00 +0200] "GET /p1?q=1 HTTP/1.1" 200 12 "https://example.com/" "curl/8.5.0"`},
	})
	runFormatCases(t, Combined, tcpEntry, []formatCase{
		{"stream", nil, `10.0.1.2 [07/Dec/2026:20:43:08 +0100] TCP 200 212 99 5.007`},
		{"stream 502", func(e *Entry) {
			e.Server, e.Tc, e.Ta, e.Status, e.BytesOut, e.BytesIn = "", -1, ms(42), 502, 0, 0
		}, `10.0.1.2 [07/Dec/2026:20:43:03 +0100] TCP 502 0 0 0.042`},
	})
}

func TestJSON(t *testing.T) {
	runFormatCases(t, JSON, httpEntry, []formatCase{
		{"normal", nil, `{"time":"2026-12-07T20:43:03.082+01:00","client":"127.0.0.1","client_port":41590,` +
			`"service":"web","backend":"be","server":"10.0.0.1:8080","protocol":"http","method":"GET","path":"/p1","query":"q=1",` +
			`"proto":"HTTP/1.1","host":"example.com","status":200,"bytes_in":78,"bytes_out":126,"body_bytes_out":12,` +
			`"t_request":0,"t_queue":0,"t_connect":1,"t_response":4,"t_active":5,"termination":"----","retries":0,` +
			`"redispatched":false,"tls":false,"user_agent":"curl/8.5.0","referer":"https://example.com/"}`},
		{"badreq", badReq, `{"time":"2026-12-07T20:43:03.082+01:00","client":"127.0.0.1","client_port":41590,` +
			`"service":"web","backend":null,"server":null,"protocol":"http","method":"","path":"","query":"",` +
			`"proto":"","host":"","status":400,"bytes_in":78,"bytes_out":187,"body_bytes_out":90,` +
			`"t_request":-1,"t_queue":-1,"t_connect":-1,"t_response":-1,"t_active":2,"termination":"PR--","retries":0,` +
			`"redispatched":false,"tls":false,"user_agent":"","referer":""}`},
		{"odd bytes", func(e *Entry) {
			oddBytes(e)
			e.Status, e.Client, e.Termination = 0, netip.AddrPort{}, [4]byte{'"', '\\', 0, 'x'}
			e.Redispatched, e.Retries, e.TLS = true, 2, true
		}, `{"time":"2026-12-07T20:43:03.082+01:00","client":null,"client_port":null,` +
			`"service":"web","backend":"be","server":"10.0.0.1:8080","protocol":"http","method":"GET","path":"/a b\"#\\\u0001\u007f\ufffd","query":"x=ü",` +
			`"proto":"HTTP/1.1","host":"example.com","status":-1,"bytes_in":78,"bytes_out":126,"body_bytes_out":12,` +
			`"t_request":0,"t_queue":0,"t_connect":1,"t_response":4,"t_active":5,"termination":"---x","retries":2,` +
			`"redispatched":true,"tls":true,"user_agent":"Mozilla \"5\"\t\\\u001b[31m\ufffd","referer":"http://x/\u2028\n"}`},
	})
	runFormatCases(t, JSON, tcpEntry, []formatCase{
		{"tcp", nil, `{"time":"2026-12-07T20:43:03.082+01:00","client":"10.0.1.2","client_port":33313,` +
			`"service":"db","backend":"db","server":"10.0.0.1:5432","protocol":"tcp","status":200,"bytes_in":99,"bytes_out":212,` +
			`"t_queue":0,"t_connect":5,"t_total":5007,"termination":"--","retries":0,"redispatched":false,"tls":false}`},
		{"tcp no server", func(e *Entry) {
			e.Server, e.Tc, e.Status, e.Termination = "", -1, 503, [4]byte{'S', 'C'}
		}, `{"time":"2026-12-07T20:43:03.082+01:00","client":"10.0.1.2","client_port":33313,` +
			`"service":"db","backend":"db","server":null,"protocol":"tcp","status":503,"bytes_in":99,"bytes_out":212,` +
			`"t_queue":0,"t_connect":-1,"t_total":5007,"termination":"SC","retries":0,"redispatched":false,"tls":false}`},
	})
}

// TestJSONDecodes: every line decodes, with the strings as they were
// sent wherever they were valid UTF-8.
func TestJSONDecodes(t *testing.T) {
	e := httpEntry()
	oddBytes(&e)
	e.Host = []byte("h\u00e9\u4e16\U0001F600\x00")
	var got map[string]any
	if err := json.Unmarshal(Append(nil, JSON, &e), &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"host":       "h\u00e9\u4e16\U0001F600\x00",
		"user_agent": "Mozilla \"5\"\t\\\x1b[31m\uFFFD",
		"referer":    "http://x/\u2028\n",
		"path":       "/a b\"#\\\x01\x7f\uFFFD",
		"query":      "x=ü",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for _, f := range []Format{HAProxy, JSON, Combined} {
		got, err := ParseFormat(f.String())
		if err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f.String(), got, err)
		}
	}
	for _, s := range []string{"", "HAProxy", "clf", "nginx"} {
		if _, err := ParseFormat(s); err == nil {
			t.Errorf("ParseFormat(%q) accepted", s)
		}
	}
}

// TestClockCache: a clock reused across seconds, days and a DST change
// prints what a fresh one prints.
func TestClockCache(t *testing.T) {
	var c clock
	e := httpEntry()
	start := time.Date(2026, 3, 29, 0, 59, 58, 999_000_000, time.UTC) // Paris springs forward at 01:00 UTC
	for i := range 400 {
		e.Start = start.Add(time.Duration(i) * 7 * time.Millisecond)
		if i%100 == 99 {
			e.Start = e.Start.Add(24 * time.Hour)
		}
		for _, f := range []Format{HAProxy, JSON, Combined} {
			got := appendLine(nil, f, &e, &c)
			want := Append(nil, f, &e)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s at %v: cached clock wrote\n%s\nfresh one\n%s", f, e.Start, got, want)
			}
		}
	}
	e.Start = time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	if got := string(Append(nil, JSON, &e)); !strings.Contains(got, `"2026-03-29T03:00:00.000+02:00"`) {
		t.Errorf("after the DST change: %s", got)
	}
}

func TestAppendAllocs(t *testing.T) {
	h, tc := httpEntry(), tcpEntry()
	oddBytes(&h)
	buf := make([]byte, 0, 4096)
	for _, f := range []Format{HAProxy, JSON, Combined} {
		for _, e := range []*Entry{&h, &tc} {
			if n := testing.AllocsPerRun(100, func() { buf = Append(buf[:0], f, e) }); n != 0 {
				t.Errorf("Append(%s, tcp=%v): %v allocations", f, e.TCP, n)
			}
		}
	}
}

// FuzzAppend: whatever bytes come in, the HAProxy and combined lines are
// one line of printable ASCII with the request in one quoted field, and
// the JSON line decodes to what came in (invalid UTF-8 aside).
func FuzzAppend(f *testing.F) {
	f.Add([]byte("GET"), []byte("/a b\"#?q"), []byte("curl\x00\xff\xe2\x80\xa8"))
	f.Add([]byte(""), []byte("\n\r"), []byte("\xf4\x90\x80\x80\xed\xa0\x80\xc0\xaf"))
	f.Fuzz(func(t *testing.T, method, target, ua []byte) {
		e := httpEntry()
		e.Method, e.Target, e.UserAgent, e.Host = method, target, ua, ua
		for _, fm := range []Format{HAProxy, Combined} {
			line := Append(nil, fm, &e)
			body := line[:len(line)-1]
			if line[len(line)-1] != '\n' {
				t.Fatalf("%s: no final newline: %q", fm, line)
			}
			for _, c := range body {
				if c < 0x20 || c >= 0x7f {
					t.Fatalf("%s: byte %#x in %q", fm, c, line)
				}
			}
			// The request is the only field with quotes, and quotes
			// inside it are encoded.
			if fm == HAProxy && bytes.Count(body, []byte{'"'}) != 2 {
				t.Fatalf("haproxy: quotes in %q", line)
			}
		}
		var got struct {
			Method    string `json:"method"`
			UserAgent string `json:"user_agent"`
		}
		line := Append(nil, JSON, &e)
		if bytes.Count(line, []byte{'\n'}) != 1 {
			t.Fatalf("json: not one line: %q", line)
		}
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("json: %v in %q", err, line)
		}
		if want := validUTF8(method); got.Method != want {
			t.Fatalf("json method = %q, want %q", got.Method, want)
		}
		if want := validUTF8(ua); got.UserAgent != want {
			t.Fatalf("json user_agent = %q, want %q", got.UserAgent, want)
		}
	})
}

// validUTF8 is what the JSON line promises: each byte of an invalid
// sequence becomes U+FFFD.
func validUTF8(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		sb.WriteRune(r)
		b = b[n:]
	}
	return sb.String()
}
