package httpcore

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestRequestRefused: each request head vigil must refuse, with the error
// (and so the status) it is refused with. The first group are the
// smuggling vectors HAProxy rejects and vigil used to forward.
func TestRequestRefused(t *testing.T) {
	for _, tc := range []struct {
		name, head string
		want       *Error
	}{
		{"chunked twice on one line", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", ErrChunkedTwice},
		{"chunked twice on two lines", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", ErrChunkedTwice},
		{"a coding after chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", ErrChunkedNotLast},
		{"a coding after chunked, next line", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", ErrChunkedNotLast},
		{"chunked with a parameter", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", ErrTE},
		{"TE without chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", ErrTENotChunked},
		{"TE junk", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", ErrTE},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", ErrTEVersion},
		{"TE in HTTP/1.0 with CL", "POST / HTTP/1.0\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", ErrTEVersion},
		{"TE and CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", ErrTEAndLength},
		{"different CLs", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", ErrLengths},
		{"different CLs in a list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\n", ErrContentLength},
		{"CL sign", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n", ErrContentLength},
		{"CL empty", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n", ErrContentLength},
		{"CL too long", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1234567890123456789\r\n\r\n", ErrContentLength},
		{"target byte 0x80", "GET /\x80 HTTP/1.1\r\nHost: x\r\n\r\n", ErrTargetByte},
		{"target byte 0xff", "GET /a\xffb HTTP/1.1\r\nHost: x\r\n\r\n", ErrTargetByte},
		{"target fragment", "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", ErrTargetFragment},
		{"bare percent in the path", "GET /a% HTTP/1.1\r\nHost: x\r\n\r\n", ErrTargetPercent},
		{"bad percent-encoding in the path", "GET /a%zz/b HTTP/1.1\r\nHost: x\r\n\r\n", ErrTargetPercent},
		{"short percent-encoding in an absolute path", "GET http://x/a%4 HTTP/1.1\r\nHost: x\r\n\r\n", ErrTargetPercent},
		{"target control byte", "GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n", ErrTargetByte},
		{"absolute-form authority differs from Host", "GET http://other.example/x HTTP/1.1\r\nHost: x\r\n\r\n", ErrAuthority},
		{"absolute-form port differs", "GET http://x:8080/ HTTP/1.1\r\nHost: x\r\n\r\n", ErrAuthority},
		{"absolute-form https default port", "GET https://x/ HTTP/1.1\r\nHost: x:80\r\n\r\n", ErrAuthority},
		{"absolute-form userinfo", "GET http://u@x/ HTTP/1.1\r\nHost: x\r\n\r\n", ErrTargetUserinfo},
		{"absolute-form empty authority", "GET http:///x HTTP/1.1\r\nHost: x\r\n\r\n", ErrTargetForm},
		{"absolute-form other scheme", "GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n", ErrTargetForm},
		{"authority-form", "GET x:80 HTTP/1.1\r\nHost: x\r\n\r\n", ErrTargetForm},
		{"asterisk without OPTIONS", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", ErrTargetForm},
		{"CONNECT", "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", ErrConnect},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", ErrHostTwice},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", ErrHostMissing},
		{"Host with a slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", ErrHost},
		{"Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", ErrHost},
		{"Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", ErrHost},
		{"space before colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n", ErrField},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n", ErrField},
		{"bare CR in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r2\r\n\r\n", ErrFieldValue},
		{"NUL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\x002\r\n\r\n", ErrFieldValue},
		{"no colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A\r\n\r\n", ErrField},
		{"HTTP/2.0 on h1", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", ErrVersion},
		{"lower-case version", "GET / http/1.1\r\nHost: x\r\n\r\n", ErrVersion},
		{"method with a slash", "GE/T / HTTP/1.1\r\nHost: x\r\n\r\n", ErrMethod},
		{"two spaces", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", ErrStartLine},
		{"too many fields", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: 1\r\n", MaxFields) + "\r\n", ErrTooManyFields},
		{"long line", "GET /" + strings.Repeat("a", MaxLine) + " HTTP/1.1\r\nHost: x\r\n\r\n", ErrLineTooLong},
		{"big head", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: "+strings.Repeat("a", 4000)+"\r\n", 9) + "\r\n", ErrHeadTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Head
			_, err := h.Parse([]byte(tc.head), true)
			if err != tc.want {
				t.Fatalf("Parse: %v, want %v", err, tc.want)
			}
			if StatusOf(err) != tc.want.Status {
				t.Fatalf("status %d", StatusOf(err))
			}
		})
	}
}

// TestRequestAccepted: heads vigil takes, and what it makes of them.
func TestRequestAccepted(t *testing.T) {
	for _, tc := range []struct {
		name, head  string
		length      int64
		chunked     bool
		path, query string
		check       func(t *testing.T, h *Head)
	}{
		{name: "plain", head: "GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n", length: -1, path: "/a", query: "b=1"},
		{name: "percent-encoding", head: "GET /a%2Fb%e9?q=100% HTTP/1.1\r\nHost: x\r\n\r\n", length: -1, path: "/a%2Fb%e9", query: "q=100%"},
		{name: "equal CLs merged", head: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", length: 3, path: "/",
			check: func(t *testing.T, h *Head) {
				if !h.Fields[2].Drop || h.Fields[1].Drop {
					t.Errorf("the second Content-Length must be dropped, the first kept: %+v", h.Fields)
				}
			}},
		{name: "equal CLs in a list", head: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\n", length: 3, path: "/"},
		{name: "gzip then chunked", head: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", length: -1, chunked: true, path: "/"},
		{name: "TE on two lines", head: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", length: -1, chunked: true, path: "/"},
		{name: "absolute-form, same authority", head: "GET http://X:80/p?q HTTP/1.1\r\nHost: x\r\n\r\n", length: -1, path: "/p", query: "q",
			check: func(t *testing.T, h *Head) {
				if h.Form != AbsoluteForm || string(h.Bytes(h.Authority)) != "X:80" {
					t.Errorf("form %d authority %q", h.Form, h.Bytes(h.Authority))
				}
			}},
		{name: "absolute-form without path", head: "GET https://x:443 HTTP/1.1\r\nHost: x\r\n\r\n", length: -1, path: "/"},
		{name: "absolute-form IPv6", head: "GET http://[::1]:81/p HTTP/1.1\r\nHost: [::1]:81\r\n\r\n", length: -1, path: "/p",
			check: func(t *testing.T, h *Head) {
				if string(h.HostName()) != "::1" {
					t.Errorf("host name %q", h.HostName())
				}
			}},
		{name: "OPTIONS *", head: "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", length: -1, path: ""},
		{name: "HTTP/1.0 without Host", head: "GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", length: -1, path: "/",
			check: func(t *testing.T, h *Head) {
				if h.ExpectContinue {
					t.Error("Expect honoured from HTTP/1.0")
				}
			}},
		{name: "leading empty lines", head: "\r\n\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", length: -1, path: "/"},
		{name: "LF line ends", head: "GET / HTTP/1.1\nHost: x\n\n", length: -1, path: "/"},
		{name: "obs-text in a value", head: "GET / HTTP/1.1\r\nHost: x\r\nX-A: caf\xe9\r\n\r\n", length: -1, path: "/"},
		{name: "h2c upgrade stripped", head: "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", length: -1, path: "/",
			check: func(t *testing.T, h *Head) {
				if h.UpgradeRequested() || !h.Fields[2].Drop {
					t.Errorf("h2c upgrade kept: %+v", h.Fields)
				}
			}},
		{name: "websocket upgrade", head: "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", length: -1, path: "/",
			check: func(t *testing.T, h *Head) {
				if !h.UpgradeRequested() {
					t.Error("upgrade lost")
				}
			}},
		{name: "exactly MaxFields", head: "GET / HTTP/1.1\r\n" + strings.Repeat("X-A: 1\r\n", MaxFields-1) + "Host: x\r\n\r\n", length: -1, path: "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Head
			n, err := h.Parse([]byte(tc.head+"NEXT"), true)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if n != len(tc.head) {
				t.Errorf("took %d bytes, want %d", n, len(tc.head))
			}
			if h.ContentLength != tc.length || h.Chunked != tc.chunked {
				t.Errorf("length %d chunked %v", h.ContentLength, h.Chunked)
			}
			if string(h.Path()) != tc.path || string(h.Query()) != tc.query {
				t.Errorf("path %q query %q", h.Path(), h.Query())
			}
			if tc.check != nil {
				tc.check(t, &h)
			}
		})
	}
}

// TestResponseFraming: responses and how their bodies end.
func TestResponseFraming(t *testing.T) {
	get, head := mustRequest(t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), mustRequest(t, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, tc := range []struct {
		name, resp string
		req        *Head
		want       Framing
		err        *Error
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", get, Length, nil},
		{"equal lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", get, Length, nil},
		{"chunked wins over length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", get, ChunkedBody, nil},
		{"gzip alone: until close", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n", get, UntilClose, nil},
		{"nothing: until close", "HTTP/1.1 200 OK\r\n\r\n", get, UntilClose, nil},
		{"HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", head, NoBody, nil},
		{"204", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", get, NoBody, nil},
		{"304", "HTTP/1.1 304 Not Modified\r\n\r\n", get, NoBody, nil},
		{"different lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", get, 0, ErrLengths},
		{"chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", get, 0, ErrChunkedTwice},
		{"TE in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", get, 0, ErrTEVersion},
		{"control byte in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", get, 0, ErrReason},
		{"two-digit status", "HTTP/1.1 20 OK\r\n\r\n", get, 0, ErrStatusLine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Head
			_, err := h.Parse([]byte(tc.resp), false)
			if tc.err != nil {
				if err != tc.err {
					t.Fatalf("Parse: %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if f := ResponseFraming(tc.req, &h); f != tc.want {
				t.Errorf("framing %d, want %d", f, tc.want)
			}
		})
	}
}

func mustRequest(t *testing.T, s string) *Head {
	t.Helper()
	h := new(Head)
	if _, err := h.Parse([]byte(s), true); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestParseIncomplete: a head is only taken whole, however it is cut.
func TestParseIncomplete(t *testing.T) {
	const full = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n"
	var h Head
	for i := range len(full) {
		if _, err := h.Parse([]byte(full[:i]), true); err != ErrIncomplete {
			t.Fatalf("%q: %v, want ErrIncomplete", full[:i], err)
		}
	}
	if n, err := h.Parse([]byte(full), true); err != nil || n != len(full) {
		t.Fatalf("whole: %d %v", n, err)
	}
	if HeadEnd([]byte(full), 0) != len(full) || HeadEnd([]byte(full[:len(full)-1]), 0) != -1 {
		t.Error("HeadEnd")
	}
}

// TestConnectionOptionsLinear: Connection options are matched against the
// fields in time linear in their numbers. The worst head for a quadratic
// walk has as many options as a line holds, each naming a field that is
// there: 1,200 options and 100 fields would be 120,000
// comparisons. The test counts the names compared (timing it would be
// flaky): each option must meet about one field per field of its name.
func TestConnectionOptionsLinear(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("GET / HTTP/1.1\r\nHost: x\r\nConnection: ")
	for i := range 1200 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, "x-%d", i%97)
	}
	sb.WriteString("\r\n")
	for i := range 97 {
		fmt.Fprintf(&sb, "X-%d: 1\r\n", i)
	}
	sb.WriteString("X-B: 2\r\n\r\n")
	var h Head
	if _, err := h.Parse([]byte(sb.String()), true); err != nil {
		t.Fatal(err)
	}
	for i, f := range h.Fields {
		name := string(h.Bytes(f.Name))
		if want := name != "X-B" && name != "Host" && name != "Connection"; f.Drop != want {
			t.Errorf("field %d %s: drop %v", i, name, f.Drop)
		}
	}
	// Each of the 1,200 options probes its slot and any neighbours a
	// collision put there: a few comparisons each, not 100.
	if n := h.dropConnectionOptions(); n > 4*1200 {
		t.Errorf("%d names compared for 1200 options and %d fields", n, len(h.Fields))
	}
}

// TestErrorsAreFixed: refusing a head allocates nothing and returns one
// of the package's errors.
func TestErrorsAreFixed(t *testing.T) {
	b := []byte("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n")
	var h Head
	h.Parse(b, true) // grow the buffers
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := h.Parse(b, true); !errors.Is(err, ErrChunkedTwice) {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per refused head", allocs)
	}
}
