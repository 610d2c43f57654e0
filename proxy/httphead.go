package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// HTTP/1.1 message heads, parsed in place: the raw bytes of a head are kept
// in one reused buffer and every part is a span into it, so parsing a
// request or a response allocates nothing once the buffers have grown.

var (
	errHeadTooLarge = errors.New("head too large")
	errMalformed    = errors.New("malformed head")
	errIncomplete   = errors.New("incomplete head")
)

// fieldKind is what the proxy needs to know about a header field.
type fieldKind uint8

const (
	fOther fieldKind = iota
	fContentLength
	fTransferEncoding
	fConnection
	fHop // Keep-Alive, Proxy-Connection, TE: hop-by-hop, always dropped
	fUpgrade
	fHost
	fExpect
	fXFF
	fXFProto
	fXFHost
	fCookie
)

type span struct{ a, b int32 }

type hfield struct {
	name, value span
	kind        fieldKind
	drop        bool // named by a Connection option: hop-by-hop
}

// httpHead is a parsed request or response head.
type httpHead struct {
	raw    []byte
	fields []hfield
	tokens []span // Connection options other than close, keep-alive, upgrade

	method, target span // request
	status         int  // response
	statusText     span // response: "200 OK", from the code to the end of the line
	minor          int  // HTTP/1.minor

	contentLength  int64 // -1: absent
	chunked        bool  // Transfer-Encoding ends with chunked
	badTE          bool  // Transfer-Encoding present but not ending with chunked
	connClose      bool
	connKeepAlive  bool
	connUpgrade    bool
	hasUpgrade     bool
	hasHost        bool
	host           span
	expectContinue bool
}

func (h *httpHead) reset() {
	h.raw = h.raw[:0]
	h.fields = h.fields[:0]
	h.tokens = h.tokens[:0]
	h.status, h.minor = 0, 0
	h.contentLength = -1
	h.chunked, h.badTE = false, false
	h.connClose, h.connKeepAlive, h.connUpgrade, h.hasUpgrade = false, false, false, false
	h.hasHost, h.expectContinue = false, false
}

func (h *httpHead) bytes(s span) []byte { return h.raw[s.a:s.b] }

// read reads and parses one head from br. It returns the reader's error
// untouched when nothing at all was read (a clean close or an idle timeout),
// errHeadTooLarge past maxHeadBytes or for a line longer than br's buffer,
// and errMalformed for anything RFC 9112 does not allow.
func (h *httpHead) read(br *bufio.Reader, request bool) error {
	h.reset()
	var st headState
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if err == bufio.ErrBufferFull {
				return errHeadTooLarge
			}
			if len(h.raw) == 0 && len(line) == 0 {
				return err
			}
			h.raw = append(h.raw, line...) // shows that something was read
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if done, err := h.addLine(line, request, &st); done || err != nil {
			return err
		}
	}
}

// headState is where a head being parsed line by line is.
type headState struct {
	started bool // the start line has been parsed
	empty   int  // empty lines skipped before a request line
}

// addLine parses the next line of a head (with its LF); done reports the
// empty line that ends the head.
func (h *httpHead) addLine(line []byte, request bool, st *headState) (done bool, err error) {
	if len(h.raw)+len(line) > maxHeadBytes {
		return false, errHeadTooLarge
	}
	off := len(h.raw)
	h.raw = append(h.raw, line...)
	end := len(h.raw) - 1
	if end > off && h.raw[end-1] == '\r' {
		end--
	}
	if !st.started {
		if end == off && request && st.empty < 4 {
			// RFC 9112 2.2: ignore empty lines before a request line.
			st.empty++
			h.raw = h.raw[:0]
			return false, nil
		}
		st.started = true
		return false, h.parseStart(off, end, request)
	}
	if end == off {
		return true, h.finish(request)
	}
	return false, h.parseField(off, end)
}

// parse parses one head from the start of b, all that has been read so
// far, with the rules of read. It returns how many bytes of b the head
// took, or errIncomplete while b does not hold a whole head yet.
func (h *httpHead) parse(b []byte, request bool) (int, error) {
	h.reset()
	var st headState
	pos := 0
	for {
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 || i+1 > httpReaderSize {
			switch {
			case i+1 > httpReaderSize || len(b)-pos >= httpReaderSize:
				return 0, errHeadTooLarge // the line does not fit read's buffer
			case len(h.raw)+len(b)-pos > maxHeadBytes:
				return 0, errHeadTooLarge
			}
			return 0, errIncomplete
		}
		line := b[pos : pos+i+1]
		pos += i + 1
		done, err := h.addLine(line, request, &st)
		if err != nil {
			return 0, err
		}
		if done {
			return pos, nil
		}
	}
}

// headEnd returns the length of the head at the start of b (up to and
// including its empty line), or -1 while b holds no empty line yet.
// from is where the previous search stopped, so bytes arriving one at a
// time are not searched again and again.
func headEnd(b []byte, from int) int {
	for i := max(from, 1); i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j
		// an empty line: "\n" right after the previous line's "\n", or "\r\n"
		if b[i-1] == '\n' || (i >= 2 && b[i-1] == '\r' && b[i-2] == '\n') {
			return i + 1
		}
		i++
	}
	return -1
}

func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func (h *httpHead) parseVersion(a, b int) bool {
	v := h.raw[a:b]
	if len(v) != 8 || string(v[:7]) != "HTTP/1." || (v[7] != '0' && v[7] != '1') {
		return false
	}
	h.minor = int(v[7] - '0')
	return true
}

func (h *httpHead) parseStart(a, b int, request bool) error {
	l := h.raw[a:b]
	sp1 := indexByte(l, ' ')
	if sp1 <= 0 {
		return errMalformed
	}
	if request {
		for _, c := range l[:sp1] {
			if !isTchar(c) {
				return errMalformed
			}
		}
		rest := l[sp1+1:]
		sp2 := indexByte(rest, ' ')
		if sp2 <= 0 {
			return errMalformed
		}
		for _, c := range rest[:sp2] {
			if c <= ' ' || c == 0x7f {
				return errMalformed
			}
		}
		h.method = span{int32(a), int32(a + sp1)}
		h.target = span{int32(a + sp1 + 1), int32(a + sp1 + 1 + sp2)}
		if !h.parseVersion(a+sp1+1+sp2+1, b) {
			return errMalformed
		}
		return nil
	}
	if !h.parseVersion(a, a+sp1) {
		return errMalformed
	}
	rest := l[sp1+1:]
	if len(rest) < 3 || (len(rest) > 3 && rest[3] != ' ') {
		return errMalformed
	}
	code := 0
	for _, c := range rest[:3] {
		if c < '0' || c > '9' {
			return errMalformed
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return errMalformed
	}
	h.status = code
	h.statusText = span{int32(a + sp1 + 1), int32(b)}
	return nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// equalFold compares ASCII b with the lower-case name.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func kindOf(name []byte) fieldKind {
	switch len(name) {
	case 2:
		if equalFold(name, "te") {
			return fHop
		}
	case 4:
		if equalFold(name, "host") {
			return fHost
		}
	case 6:
		if equalFold(name, "expect") {
			return fExpect
		}
		if equalFold(name, "cookie") {
			return fCookie
		}
	case 7:
		if equalFold(name, "upgrade") {
			return fUpgrade
		}
	case 10:
		if equalFold(name, "connection") {
			return fConnection
		}
		if equalFold(name, "keep-alive") {
			return fHop
		}
	case 14:
		if equalFold(name, "content-length") {
			return fContentLength
		}
	case 15:
		if equalFold(name, "x-forwarded-for") {
			return fXFF
		}
	case 16:
		if equalFold(name, "x-forwarded-host") {
			return fXFHost
		}
		if equalFold(name, "proxy-connection") {
			return fHop
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			return fTransferEncoding
		}
		if equalFold(name, "x-forwarded-proto") {
			return fXFProto
		}
	}
	return fOther
}

func (h *httpHead) parseField(a, b int) error {
	l := h.raw[a:b]
	colon := indexByte(l, ':')
	if colon <= 0 {
		return errMalformed // also obs-fold lines, which have no name
	}
	for _, c := range l[:colon] {
		if !isTchar(c) {
			return errMalformed // whitespace before the colon included (RFC 9112 5.1)
		}
	}
	va, vb := a+colon+1, b
	for va < vb && (h.raw[va] == ' ' || h.raw[va] == '\t') {
		va++
	}
	for vb > va && (h.raw[vb-1] == ' ' || h.raw[vb-1] == '\t') {
		vb--
	}
	for _, c := range h.raw[va:vb] {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return errMalformed
		}
	}
	f := hfield{name: span{int32(a), int32(a + colon)}, value: span{int32(va), int32(vb)}, kind: kindOf(l[:colon])}
	v := h.raw[va:vb]
	switch f.kind {
	case fContentLength:
		if len(v) == 0 || len(v) > 18 {
			return errMalformed
		}
		n := int64(0)
		for _, c := range v {
			if c < '0' || c > '9' {
				return errMalformed
			}
			n = n*10 + int64(c-'0')
		}
		if h.contentLength >= 0 && h.contentLength != n {
			return errMalformed
		}
		h.contentLength = n
	case fTransferEncoding:
		// Only the last coding decides the framing (RFC 9112 6.1).
		last := v
		for i := len(v) - 1; i >= 0; i-- {
			if v[i] == ',' {
				last = v[i+1:]
				break
			}
		}
		last = trimOWS(last)
		if equalFold(last, "chunked") {
			if h.chunked {
				return errMalformed
			}
			h.chunked, h.badTE = true, false
		} else {
			h.chunked, h.badTE = false, true
		}
	case fConnection:
		for len(v) > 0 {
			i := indexByte(v, ',')
			tok := v
			if i >= 0 {
				tok, v = v[:i], v[i+1:]
			} else {
				v = nil
			}
			tok = trimOWS(tok)
			switch {
			case len(tok) == 0:
			case equalFold(tok, "close"):
				h.connClose = true
			case equalFold(tok, "keep-alive"):
				h.connKeepAlive = true
			case equalFold(tok, "upgrade"):
				h.connUpgrade = true
			default:
				off := int32(cap(h.raw[:0]) - cap(tok)) // offset of tok in raw
				h.tokens = append(h.tokens, span{off, off + int32(len(tok))})
			}
		}
	case fUpgrade:
		h.hasUpgrade = true
	case fHost:
		if h.hasHost {
			return errMalformed // RFC 9112 3.2: more than one Host is a 400
		}
		h.hasHost, h.host = true, f.value
	case fExpect:
		if equalFold(v, "100-continue") {
			h.expectContinue = true
		}
	}
	h.fields = append(h.fields, f)
	return nil
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func (h *httpHead) finish(request bool) error {
	if h.chunked || h.badTE {
		if request && (h.contentLength >= 0 || h.badTE) {
			// Both framings at once is how requests are smuggled; an
			// unknown coding cannot be framed (RFC 9112 6.1, 6.3).
			return errMalformed
		}
		h.contentLength = -1 // the response's Transfer-Encoding wins
		for i := range h.fields {
			if h.fields[i].kind == fContentLength {
				h.fields[i].drop = true
			}
		}
	}
	if request && h.minor == 1 && !h.hasHost {
		return errMalformed
	}
	for _, t := range h.tokens {
		name := h.bytes(t)
		for i := range h.fields {
			f := &h.fields[i]
			if f.kind == fOther && len(h.bytes(f.name)) == len(name) && equalFoldBytes(h.bytes(f.name), name) {
				f.drop = true
			}
		}
	}
	return nil
}

func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// path is the request target's path without the query.
func (h *httpHead) path() []byte {
	t := h.bytes(h.target)
	if i := indexByte(t, '?'); i >= 0 {
		t = t[:i]
	}
	return t
}

// hostName is the Host header without the port.
func (h *httpHead) hostName() []byte {
	if !h.hasHost {
		return nil
	}
	v := h.bytes(h.host)
	if len(v) > 0 && v[0] == '[' {
		if i := indexByte(v, ']'); i > 0 {
			return v[1:i]
		}
		return v
	}
	if i := indexByte(v, ':'); i >= 0 {
		return v[:i]
	}
	return v
}

// cookie returns the value of the named cookie from the Cookie fields.
func (h *httpHead) cookie(name string) []byte {
	for i := range h.fields {
		f := &h.fields[i]
		if f.kind != fCookie {
			continue
		}
		v := h.bytes(f.value)
		for len(v) > 0 {
			j := indexByte(v, ';')
			pair := v
			if j >= 0 {
				pair, v = v[:j], v[j+1:]
			} else {
				v = nil
			}
			pair = trimOWS(pair)
			if len(pair) > len(name) && pair[len(name)] == '=' && string(pair[:len(name)]) == name {
				return pair[len(name)+1:]
			}
		}
	}
	return nil
}

// idempotent reports whether the method may be replayed (RFC 9110 9.2.2).
func (h *httpHead) idempotent() bool {
	m := h.bytes(h.method)
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE":
		return true
	}
	return false
}

func (h *httpHead) isHead() bool { return string(h.bytes(h.method)) == "HEAD" }

// hasBody reports whether a request carries a body.
func (h *httpHead) hasBody() bool { return h.chunked || h.contentLength > 0 }
