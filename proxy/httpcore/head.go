package httpcore

import (
	"bytes"
	"errors"
)

// HTTP/1.1 message heads, parsed in place: the raw bytes of a head are
// kept in one reused buffer and every part is a span into it, so parsing a
// request or a response allocates nothing once the buffers have grown.

// Limits on a head. A line longer than MaxLine or a head longer than
// MaxHead is refused with 431 (502 for a response); so is a head with more
// than MaxFields fields, HAProxy's default tune.http.maxhdr.
const (
	MaxLine   = 8 << 10
	MaxHead   = 32 << 10
	MaxFields = 101
)

// ErrIncomplete says that the bytes given hold no whole head yet.
var ErrIncomplete = errors.New("incomplete head")

// Error is a message vigil refuses, with the status a request gets for it
// (a refused response gets 502 whatever the status says). The values are
// fixed, so refusing allocates nothing.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return e.Reason }

// The ways a head is refused.
var (
	ErrHeadTooLarge    = &Error{431, "head too large"}
	ErrLineTooLong     = &Error{431, "line too long"}
	ErrTooManyFields   = &Error{431, "more header fields than allowed"}
	ErrStartLine       = &Error{400, "malformed start line"}
	ErrMethod          = &Error{400, "malformed method"}
	ErrTargetByte      = &Error{400, "request target has a byte outside visible ASCII"}
	ErrTargetFragment  = &Error{400, "request target has a fragment (#)"}
	ErrTargetForm      = &Error{400, "request target is not origin-form, absolute-form or *"}
	ErrTargetUserinfo  = &Error{400, "request target has userinfo (@)"}
	ErrTargetPercent   = &Error{400, "request path has a % not followed by two hex digits"}
	ErrConnect         = &Error{501, "CONNECT is not supported"}
	ErrVersion         = &Error{400, "not HTTP/1.0 or HTTP/1.1"}
	ErrField           = &Error{400, "malformed header field"}
	ErrFieldValue      = &Error{400, "control character in a field value"}
	ErrHostMissing     = &Error{400, "HTTP/1.1 request without Host"}
	ErrHostTwice       = &Error{400, "more than one Host"}
	ErrHost            = &Error{400, "malformed Host"}
	ErrAuthority       = &Error{400, "absolute-form authority differs from Host"}
	ErrContentLength   = &Error{400, "malformed Content-Length"}
	ErrLengths         = &Error{400, "Content-Length values differ"}
	ErrTEVersion       = &Error{400, "Transfer-Encoding in an HTTP/1.0 message"}
	ErrTE              = &Error{400, "malformed Transfer-Encoding"}
	ErrChunkedTwice    = &Error{400, "chunked applied twice"}
	ErrChunkedNotLast  = &Error{400, "a coding after chunked"}
	ErrTENotChunked    = &Error{400, "Transfer-Encoding without a final chunked"}
	ErrTEAndLength     = &Error{400, "both Transfer-Encoding and Content-Length"}
	ErrStatusLine      = &Error{400, "malformed status line"}
	ErrReason          = &Error{400, "control character in the reason phrase"}
	ErrChunk           = &Error{400, "malformed chunked body"}
	ErrTrailer         = &Error{400, "malformed trailer field"}
	ErrTrailersTooMuch = &Error{400, "trailer section too large"}
)

// StatusOf is the status a request refused with err gets: its Error's, or
// 400.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 400
}

// FieldKind is what the proxy needs to know about a header field.
type FieldKind uint8

// The field kinds. Hop-by-hop fields never leave the hop they came on.
const (
	KindOther FieldKind = iota
	KindContentLength
	KindTransferEncoding
	KindConnection
	KindHop // Keep-Alive, Proxy-Connection, TE, HTTP2-Settings
	KindUpgrade
	KindHost
	KindExpect
	KindXFF
	KindXFProto
	KindXFHost
	KindCookie
	KindReferer
	KindUserAgent
)

// Span is a part of Head.Raw, from A to B.
type Span struct{ A, B int32 }

// Field is one header field. Drop marks a field that is not forwarded:
// named by a Connection option, a duplicate Content-Length, or an Upgrade
// offering h2c.
type Field struct {
	Name, Value Span
	Kind        FieldKind
	Drop        bool
}

// TargetForm is the form of a request target (RFC 9112 3.2).
type TargetForm uint8

// The target forms vigil serves; authority-form (CONNECT) it refuses.
const (
	OriginForm   TargetForm = iota // /path?query
	AbsoluteForm                   // http://authority/path?query
	AsteriskForm                   // * (OPTIONS)
)

// Head is a parsed request or response head.
type Head struct {
	Raw    []byte
	Fields []Field
	tokens []Span // Connection options other than close, keep-alive, upgrade

	Method, Target Span // request
	Form           TargetForm
	Authority      Span // absolute-form: the authority
	PathStart      int32
	Status         int  // response
	StatusText     Span // response: "200 OK", from the code to the end of the line
	Minor          int  // HTTP/1.minor

	ContentLength int64 // -1: absent
	Chunked       bool  // the body is chunked (Transfer-Encoding ends with chunked)
	// CloseDelimited marks a response with a Transfer-Encoding that does
	// not end with chunked: its body ends when the connection does.
	CloseDelimited bool
	ConnClose      bool
	ConnKeepAlive  bool
	ConnUpgrade    bool
	// Upgrade is set when an Upgrade field offers a protocol (h2c does
	// not count: it is dropped).
	Upgrade        bool
	HasHost        bool
	Host           Span
	ExpectContinue bool

	hasTE, lengthList bool
	clField           int // index of the first Content-Length field; -1: none
}

func (h *Head) reset() {
	h.Raw = h.Raw[:0]
	h.Fields = h.Fields[:0]
	h.tokens = h.tokens[:0]
	h.Status, h.Minor = 0, 0
	h.Method, h.Target, h.Authority, h.StatusText, h.Host = Span{}, Span{}, Span{}, Span{}, Span{}
	h.Form, h.PathStart = OriginForm, 0
	h.ContentLength = -1
	h.Chunked, h.CloseDelimited, h.hasTE, h.lengthList = false, false, false, false
	h.ConnClose, h.ConnKeepAlive, h.ConnUpgrade, h.Upgrade = false, false, false, false
	h.HasHost, h.ExpectContinue = false, false
	h.clField = -1
}

// Bytes is the part of the head that s spans.
func (h *Head) Bytes(s Span) []byte { return h.Raw[s.A:s.B] }

// Parse parses one head from the start of b, all that has been read so
// far. It returns how many bytes of b the head took, ErrIncomplete while b
// does not hold a whole head yet, or an *Error for a head vigil refuses.
// Up to four empty lines before a request line are skipped (RFC 9112
// 2.2); a line may end with LF alone, as RFC 9112 allows a recipient to
// accept in a head (never in a chunked body).
func (h *Head) Parse(b []byte, request bool) (int, error) {
	h.reset()
	started, empty := false, 0
	pos := 0
	for {
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 {
			switch {
			case len(b)-pos >= MaxLine:
				return 0, ErrLineTooLong
			case len(h.Raw)+len(b)-pos > MaxHead:
				return 0, ErrHeadTooLarge
			}
			return 0, ErrIncomplete
		}
		if i+1 > MaxLine {
			return 0, ErrLineTooLong
		}
		line := b[pos : pos+i+1]
		pos += i + 1
		if len(h.Raw)+len(line) > MaxHead {
			return 0, ErrHeadTooLarge
		}
		off := len(h.Raw)
		h.Raw = append(h.Raw, line...)
		end := len(h.Raw) - 1
		if end > off && h.Raw[end-1] == '\r' {
			end--
		}
		if !started {
			if end == off && request && empty < 4 {
				empty++
				h.Raw = h.Raw[:0]
				continue
			}
			started = true
			var err error
			if request {
				err = h.parseRequestLine(off, end)
			} else {
				err = h.parseStatusLine(off, end)
			}
			if err != nil {
				return 0, err
			}
			continue
		}
		if end == off {
			if err := h.finish(request); err != nil {
				return 0, err
			}
			return pos, nil
		}
		if len(h.Fields) == MaxFields {
			return 0, ErrTooManyFields
		}
		if err := h.parseField(off, end, request); err != nil {
			return 0, err
		}
	}
}

// HeadEnd returns the length of the head at the start of b (up to and
// including its empty line), or -1 while b holds no empty line yet. from
// is where the previous search stopped, so bytes arriving one at a time
// are not searched again and again.
func HeadEnd(b []byte, from int) int {
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

// IsTchar reports whether c may appear in a token (RFC 9110 5.6.2).
func IsTchar(c byte) bool {
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

func (h *Head) parseVersion(a, b int) bool {
	v := h.Raw[a:b]
	if len(v) != 8 || string(v[:7]) != "HTTP/1." || (v[7] != '0' && v[7] != '1') {
		return false
	}
	h.Minor = int(v[7] - '0')
	return true
}

func (h *Head) parseRequestLine(a, b int) error {
	l := h.Raw[a:b]
	sp1 := bytes.IndexByte(l, ' ')
	if sp1 <= 0 {
		return ErrStartLine
	}
	for _, c := range l[:sp1] {
		if !IsTchar(c) {
			return ErrMethod
		}
	}
	rest := l[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return ErrStartLine
	}
	h.Method = Span{int32(a), int32(a + sp1)}
	h.Target = Span{int32(a + sp1 + 1), int32(a + sp1 + 1 + sp2)}
	if !h.parseVersion(a+sp1+1+sp2+1, b) {
		return ErrVersion
	}
	if string(h.Bytes(h.Method)) == "CONNECT" {
		return ErrConnect
	}
	return h.parseTarget()
}

// parseTarget checks the request target and finds its form, authority
// and path.
func (h *Head) parseTarget() error {
	t := h.Bytes(h.Target)
	for _, c := range t {
		switch {
		case c >= 0x80:
			return ErrTargetByte
		case c <= ' ' || c == 0x7f:
			return ErrTargetByte
		case c == '#':
			return ErrTargetFragment
		}
	}
	switch {
	case t[0] == '/':
		h.Form, h.PathStart = OriginForm, h.Target.A
		return h.checkPercent()
	case len(t) == 1 && t[0] == '*':
		if string(h.Bytes(h.Method)) != "OPTIONS" {
			return ErrTargetForm
		}
		h.Form, h.PathStart = AsteriskForm, h.Target.B
		return nil
	}
	var rest []byte
	switch {
	case hasPrefixFold(t, "http://"):
		rest = t[7:]
	case hasPrefixFold(t, "https://"):
		rest = t[8:]
	default:
		return ErrTargetForm
	}
	end := len(rest)
	if i := bytes.IndexAny(rest, "/?"); i >= 0 {
		end = i
	}
	auth := rest[:end]
	if len(auth) == 0 {
		return ErrTargetForm
	}
	if bytes.IndexByte(auth, '@') >= 0 {
		return ErrTargetUserinfo
	}
	if !validHost(auth) {
		return ErrTargetForm
	}
	a := h.Target.B - int32(len(rest))
	h.Form = AbsoluteForm
	h.Authority = Span{a, a + int32(end)}
	h.PathStart = a + int32(end)
	return h.checkPercent()
}

// checkPercent refuses a path whose percent-encoding is broken ("%",
// "%zz"): backends decode such a path each their own way, or refuse it
// (RFC 3986 2.1; net/http and nginx refuse it too). The query is left as
// it is: it is the application's, and many encode it loosely.
func (h *Head) checkPercent() error {
	p := h.Path()
	for i := 0; i < len(p); i++ {
		if p[i] == '%' {
			if i+2 >= len(p) || unhex(p[i+1]) < 0 || unhex(p[i+2]) < 0 {
				return ErrTargetPercent
			}
			i += 2
		}
	}
	return nil
}

func (h *Head) parseStatusLine(a, b int) error {
	l := h.Raw[a:b]
	sp1 := bytes.IndexByte(l, ' ')
	if sp1 <= 0 || !h.parseVersion(a, a+sp1) {
		return ErrStatusLine
	}
	rest := l[sp1+1:]
	if len(rest) < 3 || (len(rest) > 3 && rest[3] != ' ') {
		return ErrStatusLine
	}
	code := 0
	for _, c := range rest[:3] {
		if c < '0' || c > '9' {
			return ErrStatusLine
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return ErrStatusLine
	}
	for _, c := range rest[3:] {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return ErrReason
		}
	}
	h.Status = code
	h.StatusText = Span{int32(a + sp1 + 1), int32(b)}
	return nil
}

// EqualFold compares ASCII b with the lower-case name.
func EqualFold(b []byte, lower string) bool {
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

func hasPrefixFold(b []byte, lower string) bool {
	return len(b) >= len(lower) && EqualFold(b[:len(lower)], lower)
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

func kindOf(name []byte) FieldKind {
	switch len(name) {
	case 2:
		if EqualFold(name, "te") {
			return KindHop
		}
	case 4:
		if EqualFold(name, "host") {
			return KindHost
		}
	case 6:
		if EqualFold(name, "expect") {
			return KindExpect
		}
		if EqualFold(name, "cookie") {
			return KindCookie
		}
	case 7:
		if EqualFold(name, "upgrade") {
			return KindUpgrade
		}
		if EqualFold(name, "referer") {
			return KindReferer
		}
	case 10:
		if EqualFold(name, "connection") {
			return KindConnection
		}
		if EqualFold(name, "keep-alive") {
			return KindHop
		}
		if EqualFold(name, "user-agent") {
			return KindUserAgent
		}
	case 14:
		if EqualFold(name, "content-length") {
			return KindContentLength
		}
		if EqualFold(name, "http2-settings") {
			return KindHop
		}
	case 15:
		if EqualFold(name, "x-forwarded-for") {
			return KindXFF
		}
	case 16:
		if EqualFold(name, "x-forwarded-host") {
			return KindXFHost
		}
		if EqualFold(name, "proxy-connection") {
			return KindHop
		}
	case 17:
		if EqualFold(name, "transfer-encoding") {
			return KindTransferEncoding
		}
		if EqualFold(name, "x-forwarded-proto") {
			return KindXFProto
		}
	}
	return KindOther
}

// nextElement splits the first element off a comma-separated list value,
// with optional whitespace trimmed; empty elements come back empty.
func nextElement(v []byte) (elem, rest []byte) {
	i := bytes.IndexByte(v, ',')
	if i < 0 {
		return TrimOWS(v), nil
	}
	return TrimOWS(v[:i]), v[i+1:]
}

// ParseField parses "name: value" from the line raw[a:b] (without its line
// ending) into a Field. It is the rule for header and trailer fields alike.
func ParseField(raw []byte, a, b int) (Field, error) {
	l := raw[a:b]
	colon := bytes.IndexByte(l, ':')
	if colon <= 0 {
		return Field{}, ErrField // also obs-fold lines, which have no name
	}
	for _, c := range l[:colon] {
		if !IsTchar(c) {
			return Field{}, ErrField // whitespace before the colon included (RFC 9112 5.1)
		}
	}
	va, vb := a+colon+1, b
	for va < vb && (raw[va] == ' ' || raw[va] == '\t') {
		va++
	}
	for vb > va && (raw[vb-1] == ' ' || raw[vb-1] == '\t') {
		vb--
	}
	for _, c := range raw[va:vb] {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return Field{}, ErrFieldValue
		}
	}
	return Field{Name: Span{int32(a), int32(a + colon)}, Value: Span{int32(va), int32(vb)}, Kind: kindOf(l[:colon])}, nil
}

func (h *Head) parseField(a, b int, request bool) error {
	f, err := ParseField(h.Raw, a, b)
	if err != nil {
		return err
	}
	v := h.Raw[f.Value.A:f.Value.B]
	switch f.Kind {
	case KindContentLength:
		n, list, ok := parseLength(v)
		if !ok {
			return ErrContentLength
		}
		if h.ContentLength >= 0 {
			if h.ContentLength != n {
				return ErrLengths
			}
			f.Drop = true // the same value again: one line goes on
		} else {
			h.clField = len(h.Fields)
		}
		h.ContentLength = n
		h.lengthList = h.lengthList || list
	case KindTransferEncoding:
		h.hasTE = true
		for elem, rest := nextElement(v); ; elem, rest = nextElement(rest) {
			if len(elem) > 0 {
				name := elem
				if i := bytes.IndexByte(elem, ';'); i >= 0 {
					name = TrimOWS(elem[:i])
				}
				if len(name) == 0 {
					return ErrTE
				}
				for _, c := range name {
					if !IsTchar(c) {
						return ErrTE
					}
				}
				if h.Chunked {
					// chunked must be the last coding, applied once
					if EqualFold(elem, "chunked") {
						return ErrChunkedTwice
					}
					return ErrChunkedNotLast
				}
				if EqualFold(name, "chunked") {
					if len(name) != len(elem) {
						return ErrTE // chunked takes no parameters
					}
					h.Chunked = true
				}
			}
			if rest == nil {
				break
			}
		}
	case KindConnection:
		for tok, rest := nextElement(v); ; tok, rest = nextElement(rest) {
			switch {
			case len(tok) == 0:
			case EqualFold(tok, "close"):
				h.ConnClose = true
			case EqualFold(tok, "keep-alive"):
				h.ConnKeepAlive = true
			case EqualFold(tok, "upgrade"):
				h.ConnUpgrade = true
			default:
				off := int32(cap(h.Raw[:0]) - cap(tok)) // offset of tok in Raw
				h.tokens = append(h.tokens, Span{off, off + int32(len(tok))})
			}
			if rest == nil {
				break
			}
		}
	case KindUpgrade:
		if request {
			for tok, rest := nextElement(v); ; tok, rest = nextElement(rest) {
				if EqualFold(tok, "h2c") {
					// HTTP/2 over cleartext by upgrade is not offered
					// to backends (HAProxy strips it too): the whole
					// field goes, and the request is a plain one.
					f.Drop = true
				}
				if rest == nil {
					break
				}
			}
		}
		if !f.Drop {
			h.Upgrade = true
		}
	case KindHost:
		if h.HasHost {
			return ErrHostTwice // RFC 9112 3.2
		}
		if !validHost(v) {
			return ErrHost
		}
		h.HasHost, h.Host = true, f.Value
	case KindExpect:
		if EqualFold(v, "100-continue") {
			h.ExpectContinue = true
		}
	}
	h.Fields = append(h.Fields, f)
	return nil
}

// parseLength parses a Content-Length value: digits, or a list of the
// same digits ("5, 5"), which RFC 9110 8.6 lets a recipient take as one.
func parseLength(v []byte) (n int64, list, ok bool) {
	n = -1
	for elem, rest := nextElement(v); ; elem, rest = nextElement(rest) {
		if len(elem) == 0 || len(elem) > 18 {
			return 0, false, false
		}
		m := int64(0)
		for _, c := range elem {
			if c < '0' || c > '9' {
				return 0, false, false
			}
			m = m*10 + int64(c-'0')
		}
		if n >= 0 && m != n {
			return 0, false, false
		}
		if n >= 0 {
			list = true
		}
		n = m
		if rest == nil {
			return n, list, true
		}
	}
}

// validHost reports whether a Host value (or an absolute-form authority)
// is a host and optional port made of the characters RFC 3986 allows
// there: nothing that could end it early or hide another one.
func validHost(v []byte) bool {
	for _, c := range v {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			switch c {
			case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '[', ']', '%':
			default:
				return false
			}
		}
	}
	return true
}

// TrimOWS trims optional whitespace (spaces and tabs) from both ends.
func TrimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func (h *Head) finish(request bool) error {
	if h.hasTE {
		switch {
		case h.Minor == 0:
			// RFC 9112 6.1: the framing of such a message is faulty.
			return ErrTEVersion
		case request && h.ContentLength >= 0:
			// Both framings at once is how requests are smuggled.
			return ErrTEAndLength
		case request && !h.Chunked:
			// An unknown coding cannot be framed (RFC 9112 6.3).
			return ErrTENotChunked
		}
		// A response: Transfer-Encoding wins over Content-Length, which
		// is not passed on.
		h.CloseDelimited = !h.Chunked
		h.ContentLength = -1
		for i := range h.Fields {
			if h.Fields[i].Kind == KindContentLength {
				h.Fields[i].Drop = true
			}
		}
		h.clField = -1
	}
	if request {
		if h.Minor == 1 && !h.HasHost {
			return ErrHostMissing
		}
		if h.Form == AbsoluteForm && (!h.HasHost || !sameAuthority(h.Bytes(h.Authority), h.Bytes(h.Host), hasPrefixFold(h.Bytes(h.Target), "https:"))) {
			return ErrAuthority
		}
		if h.Minor == 0 {
			h.ExpectContinue = false // RFC 9110 10.1.1
		}
	}
	h.dropConnectionOptions()
	return nil
}

// dropConnectionOptions marks the fields that a Connection option names,
// hop-by-hop by RFC 9110 7.6.1. Fields that frame or route the message are
// never taken for options. It runs in time linear in the fields and
// options, however many there are: a hash table of the field names, built
// only when there is an option to look up. It returns how many names it
// compared, for the test that holds it to linear time.
func (h *Head) dropConnectionOptions() (compared int) {
	if len(h.tokens) == 0 {
		return 0
	}
	const slots = 256 // > 2 * MaxFields: probes stay short
	var table [slots]uint8
	for i := range h.Fields {
		f := &h.Fields[i]
		if f.Kind != KindOther {
			continue
		}
		j := foldHash(h.Bytes(f.Name)) % slots
		for table[j] != 0 {
			j = (j + 1) % slots
		}
		table[j] = uint8(i + 1)
	}
	for _, t := range h.tokens {
		name := h.Bytes(t)
		for j := foldHash(name) % slots; table[j] != 0; j = (j + 1) % slots {
			f := &h.Fields[table[j]-1]
			compared++
			if equalFoldBytes(h.Bytes(f.Name), name) {
				f.Drop = true
			}
		}
	}
	return compared
}

// foldHash is FNV-1a of the lower-cased bytes.
func foldHash(b []byte) uint32 {
	x := uint32(2166136261)
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		x = (x ^ uint32(c)) * 16777619
	}
	return x
}

// sameAuthority reports whether an absolute-form authority and a Host
// value name the same host and port; a port left out is the scheme's.
func sameAuthority(auth, host []byte, https bool) bool {
	ah, ap := splitHostPort(auth)
	hh, hp := splitHostPort(host)
	if !equalFoldBytes(ah, hh) {
		return false
	}
	def := "80"
	if https {
		def = "443"
	}
	if len(ap) == 0 {
		ap = []byte(def)
	}
	if len(hp) == 0 {
		hp = []byte(def)
	}
	return bytes.Equal(ap, hp)
}

// splitHostPort splits "host:port", "[v6]:port", "host" or "[v6]".
func splitHostPort(v []byte) (host, port []byte) {
	if len(v) > 0 && v[0] == '[' {
		i := bytes.IndexByte(v, ']')
		if i < 0 {
			return v, nil
		}
		host, v = v[:i+1], v[i+1:]
		if len(v) > 0 && v[0] == ':' {
			return host, v[1:]
		}
		return host, nil
	}
	if i := bytes.LastIndexByte(v, ':'); i >= 0 {
		return v[:i], v[i+1:]
	}
	return v, nil
}

// Path is the request target's path without the query: for an
// absolute-form target the part after its authority ("/" when empty),
// for * nothing.
func (h *Head) Path() []byte {
	t := h.Raw[h.PathStart:h.Target.B]
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		t = t[:i]
	}
	if len(t) == 0 && h.Form == AbsoluteForm {
		return slash
	}
	return t
}

var slash = []byte("/")

// Query is the request target's query, without its '?'; nil when none.
func (h *Head) Query() []byte {
	t := h.Raw[h.PathStart:h.Target.B]
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		return t[i+1:]
	}
	return nil
}

// HostName is the Host header without the port.
func (h *Head) HostName() []byte {
	if !h.HasHost {
		return nil
	}
	host, _ := splitHostPort(h.Bytes(h.Host))
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		return host[1 : len(host)-1]
	}
	return host
}

// Cookie returns the value of the named cookie from the Cookie fields.
func (h *Head) Cookie(name string) []byte {
	for i := range h.Fields {
		f := &h.Fields[i]
		if f.Kind != KindCookie {
			continue
		}
		v := h.Bytes(f.Value)
		for len(v) > 0 {
			j := bytes.IndexByte(v, ';')
			pair := v
			if j >= 0 {
				pair, v = v[:j], v[j+1:]
			} else {
				v = nil
			}
			pair = TrimOWS(pair)
			if len(pair) > len(name) && pair[len(name)] == '=' && string(pair[:len(name)]) == name {
				return pair[len(name)+1:]
			}
		}
	}
	return nil
}

// Field returns the value of the first field of kind k, or nil.
func (h *Head) Field(k FieldKind) []byte {
	for i := range h.Fields {
		if h.Fields[i].Kind == k {
			return h.Bytes(h.Fields[i].Value)
		}
	}
	return nil
}

// Idempotent reports whether the method may be replayed (RFC 9110 9.2.2).
func (h *Head) Idempotent() bool {
	switch string(h.Bytes(h.Method)) {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE":
		return true
	}
	return false
}

// IsHead reports whether the request's method is HEAD.
func (h *Head) IsHead() bool { return string(h.Bytes(h.Method)) == "HEAD" }

// HasBody reports whether a request carries a body.
func (h *Head) HasBody() bool { return h.Chunked || h.ContentLength > 0 }

// UpgradeRequested reports whether a request asks to switch protocols:
// Connection: upgrade with an Upgrade field that offers one.
func (h *Head) UpgradeRequested() bool { return h.ConnUpgrade && h.Upgrade }
