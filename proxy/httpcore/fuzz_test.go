package httpcore

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
)

// The differential fuzz targets: what vigil forwards is parsed again by a
// strict reference parser, net/http's ReadRequest and ReadResponse, which
// must take it whole and understand it as vigil did: the same method,
// target, fields, body and trailers, and not a byte more (a second
// message hidden in the first is how requests are smuggled).

// smugglingSeeds are request vectors HAProxy refuses or rewrites, and
// some that must pass.
var smugglingSeeds = []string{
	"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST /a?b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a\rb\r\nhello\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\"\r\nhello\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-T: 1\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
	"GET http://y/ HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET http://x/p HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /\x80 HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /#f HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nConnection: X-A, close\r\nX-A: 1\r\nX-B: 2\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\n\r\n",
}

func FuzzForwardRequest(f *testing.F) {
	for _, s := range smugglingSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h Head
		n, err := h.Parse(data, true)
		if err != nil {
			return // refused, or incomplete: nothing is forwarded
		}
		if te := h.Field(KindTransferEncoding); te != nil && !h.onlyChunked() {
			return // net/http refuses codings other than chunked; vigil forwards them
		}
		out := AppendRequestHead(nil, &h, Forwarding{Add: true, ClientIP: "192.0.2.1", Proto: "http"})
		body, trailers, ok := forwardBody(t, &out, RequestFraming(&h), h.ContentLength, data[n:])
		if !ok {
			return
		}
		rd := bytes.NewReader(out)
		br := bufio.NewReader(rd)
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("net/http refuses what vigil forwards: %v\n%q\nfrom\n%q", err, out, data)
		}
		got, err := io.ReadAll(req.Body)
		if err != nil {
			t.Fatalf("net/http cannot read the body vigil forwards: %v\n%q", err, out)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("body: net/http read %q, vigil %q\n%q", got, body, out)
		}
		if br.Buffered() > 0 || rd.Len() > 0 {
			t.Fatalf("net/http found more after the message: %q\nin %q", out[len(out)-br.Buffered()-rd.Len():], out)
		}
		if req.Method != string(h.Bytes(h.Method)) || req.RequestURI != string(h.Bytes(h.Target)) || req.ProtoMinor != h.Minor {
			t.Fatalf("request line: net/http %s %s %s, vigil %q", req.Method, req.RequestURI, req.Proto, h.Bytes(h.Target))
		}
		if h.HasHost && req.Host != string(h.Bytes(h.Host)) && !(h.Form == AbsoluteForm) {
			t.Fatalf("host: net/http %q, vigil %q", req.Host, h.Bytes(h.Host))
		}
		compareFields(t, &h, req.Header, false)
		compareTrailers(t, trailers, req.Trailer)
	})
}

func FuzzForwardResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nConnection: X-A\r\nX-A: 1\r\n\r\n",
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		var req Head
		method := "GET"
		if head {
			method = "HEAD"
		}
		if _, err := req.Parse([]byte(method+" / HTTP/1.1\r\nHost: x\r\n\r\n"), true); err != nil {
			t.Fatal(err)
		}
		var h Head
		n, err := h.Parse(data, false)
		if err != nil || h.Status < 200 || h.Status == 101 {
			return
		}
		if te := h.Field(KindTransferEncoding); te != nil && !h.onlyChunked() {
			return
		}
		out := AppendResponseHead(nil, &h, nil, false)
		framing := ResponseFraming(&req, &h)
		body, trailers, ok := forwardBody(t, &out, framing, h.ContentLength, data[n:])
		if !ok {
			return
		}
		rd := bytes.NewReader(out)
		br := bufio.NewReader(rd)
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("net/http refuses what vigil forwards: %v\n%q\nfrom\n%q", err, out, data)
		}
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("net/http cannot read the body vigil forwards: %v\n%q", err, out)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("body: net/http read %q, vigil %q\n%q", got, body, out)
		}
		if br.Buffered() > 0 || rd.Len() > 0 {
			t.Fatalf("net/http found more after the message: %q", out)
		}
		if resp.StatusCode != h.Status {
			t.Fatalf("status: net/http %d, vigil %d", resp.StatusCode, h.Status)
		}
		compareFields(t, &h, resp.Header, true)
		compareTrailers(t, trailers, resp.Trailer)
	})
}

// onlyChunked reports whether the Transfer-Encoding fields say chunked
// and nothing else.
func (h *Head) onlyChunked() bool {
	for i := range h.Fields {
		if f := &h.Fields[i]; f.Kind == KindTransferEncoding && !EqualFold(TrimOWS(h.Bytes(f.Value)), "chunked") {
			return false
		}
	}
	return true
}

// forwardBody appends the body vigil forwards after a head to out and
// returns the data it carries and its trailers; ok is false when data
// holds no whole body or a body vigil refuses.
func forwardBody(t *testing.T, out *[]byte, framing Framing, length int64, data []byte) (body []byte, trailers http.Header, ok bool) {
	switch framing {
	case NoBody:
		return nil, nil, true
	case Length:
		if int64(len(data)) < length {
			return nil, nil, false
		}
		*out = append(*out, data[:length]...)
		return data[:length], nil, true
	case UntilClose:
		*out = append(*out, data...)
		return data, nil, true
	}
	var c Chunked
	n, o, done, err := c.Feed(data, *out)
	if err != nil || !done {
		return nil, nil, false
	}
	*out = o
	var d Chunked
	d.Reset(Decode)
	dn, body, ddone, derr := d.Feed(data, nil)
	if derr != nil || !ddone || dn != n {
		t.Fatalf("decoding and re-framing disagree: %d %v %v, reframe took %d", dn, ddone, derr, n)
	}
	if tr := d.Trailers(); len(tr) > 0 {
		m, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(tr, '\r', '\n')))).ReadMIMEHeader()
		if err != nil {
			t.Fatalf("trailers vigil keeps do not parse: %q: %v", tr, err)
		}
		trailers = http.Header(m)
	}
	return body, trailers, true
}

// compareFields checks that every end-to-end field vigil forwards reached
// net/http with its value, and that net/http saw the framing vigil did.
func compareFields(t *testing.T, h *Head, got http.Header, response bool) {
	t.Helper()
	want := http.Header{}
	for i := range h.Fields {
		f := &h.Fields[i]
		if f.Drop {
			continue
		}
		switch f.Kind {
		case KindOther, KindCookie, KindReferer, KindUserAgent:
			name := textproto.CanonicalMIMEHeaderKey(string(h.Bytes(f.Name)))
			if name == "Trailer" {
				continue // net/http takes it for itself
			}
			want[name] = append(want[name], string(h.Bytes(f.Value)))
		}
	}
	for name, vs := range want {
		if strings.Join(got[name], "\x00") != strings.Join(vs, "\x00") {
			t.Fatalf("field %s: net/http %q, vigil %q", name, got[name], vs)
		}
	}
	if h.ContentLength >= 0 {
		if v := got.Get("Content-Length"); v != "" && v != strconv.FormatInt(h.ContentLength, 10) {
			t.Fatalf("Content-Length: net/http %q, vigil %d", v, h.ContentLength)
		}
	}
}

func compareTrailers(t *testing.T, want, got http.Header) {
	t.Helper()
	for name, vs := range want {
		if strings.Join(got[name], "\x00") != strings.Join(vs, "\x00") {
			t.Fatalf("trailer %s: net/http %q, vigil %q", name, got[name], vs)
		}
	}
	for name, vs := range got {
		if len(vs) > 0 && want[name] == nil {
			t.Fatalf("trailer %s: net/http read %q that vigil dropped", name, vs)
		}
	}
}
