package h2

import (
	"errors"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2/hpack"
)

// Errors for malformed header blocks (RFC 9113 §8.1.1). The core answers
// them with RST_STREAM PROTOCOL_ERROR; they are values so tests can name
// the rule that fired.
var (
	errPseudoAfterRegular = errors.New("pseudo-header field after a regular field")
	errPseudoUnknown      = errors.New("unknown or response pseudo-header field")
	errPseudoDuplicate    = errors.New("duplicated pseudo-header field")
	errPseudoMissing      = errors.New("missing or empty pseudo-header field")
	errPseudoInvalid      = errors.New("invalid pseudo-header field value")
	errPseudoInTrailers   = errors.New("pseudo-header field in trailers")
	errFieldName          = errors.New("invalid field name")
	errFieldValue         = errors.New("invalid field value")
	errConnectionField    = errors.New("connection-specific field")
	errTE                 = errors.New(`te other than "trailers"`)
	errContentLength      = errors.New("invalid content-length")
)

// parseRequest validates c.fields as a request header block and fills
// c.req, reusing its Fields slice.
func (c *Conn) parseRequest() error {
	r := &c.req
	*r = Request{Fields: r.Fields[:0], ContentLength: -1}
	var seen uint8 // bits of the pseudo-header fields present
	regular := false
	for _, f := range c.fields {
		if !validValue(f.Value) {
			return errFieldValue
		}
		if strings.HasPrefix(f.Name, ":") {
			if regular {
				return errPseudoAfterRegular
			}
			var bit uint8
			var dst *string
			switch f.Name {
			case ":method":
				bit, dst = 1, &r.Method
			case ":scheme":
				bit, dst = 2, &r.Scheme
			case ":authority":
				bit, dst = 4, &r.Authority
			case ":path":
				bit, dst = 8, &r.Path
			default:
				return errPseudoUnknown
			}
			if seen&bit != 0 {
				return errPseudoDuplicate
			}
			seen |= bit
			*dst = f.Value
			continue
		}
		regular = true
		if err := checkRegular(f); err != nil {
			return err
		}
		if f.Name == "content-length" {
			n, ok := parseContentLength(f.Value)
			if !ok || (r.ContentLength >= 0 && r.ContentLength != n) {
				return errContentLength
			}
			r.ContentLength = n
		}
		r.Fields = append(r.Fields, f)
	}
	if r.Method == "CONNECT" {
		// RFC 9113 §8.5: CONNECT names only :method and :authority.
		if seen != 1|4 || r.Authority == "" {
			return errPseudoMissing
		}
	} else if seen&(1|2|8) != 1|2|8 || r.Method == "" || r.Scheme == "" || r.Path == "" {
		return errPseudoMissing
	}
	// These end up in an HTTP/1.1 request line and Host field, so they
	// must not carry what would split or confuse one there.
	if !httpguts.ValidHeaderFieldName(r.Method) || !validScheme(r.Scheme) ||
		!validTarget(r.Authority) || !validTarget(r.Path) ||
		(r.Path != "" && r.Path[0] != '/' && r.Path != "*") {
		return errPseudoInvalid
	}
	return nil
}

// checkTrailers validates a trailer block: regular fields only.
func checkTrailers(fields []hpack.HeaderField) error {
	for _, f := range fields {
		if strings.HasPrefix(f.Name, ":") {
			return errPseudoInTrailers
		}
		if !validValue(f.Value) {
			return errFieldValue
		}
		if err := checkRegular(f); err != nil {
			return err
		}
	}
	return nil
}

// checkRegular applies RFC 9113 §8.2.1-8.2.2 to a regular field: a
// lower-case token name, and none of the fields HTTP/2 replaced.
func checkRegular(f hpack.HeaderField) error {
	if !httpguts.ValidHeaderFieldName(f.Name) {
		return errFieldName
	}
	for i := 0; i < len(f.Name); i++ {
		if b := f.Name[i]; 'A' <= b && b <= 'Z' {
			return errFieldName
		}
	}
	if connectionSpecific(f.Name) {
		return errConnectionField
	}
	if f.Name == "te" && f.Value != "trailers" {
		return errTE
	}
	return nil
}

// connectionSpecific reports the fields RFC 9113 §8.2.2 forbids; name is
// lower case.
func connectionSpecific(name string) bool {
	switch name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

// validValue applies RFC 9113 §8.2.1: no NUL, CR or LF (nor other
// controls but HTAB), and no leading or trailing whitespace.
func validValue(v string) bool {
	if v == "" {
		return true
	}
	if isSpace(v[0]) || isSpace(v[len(v)-1]) {
		return false
	}
	return httpguts.ValidHeaderFieldValue(v)
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' }

// validScheme allows the characters of RFC 3986 §3.1 (empty passes; the
// caller checks presence).
func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '+' || b == '-' || b == '.') {
			return false
		}
	}
	return true
}

// validTarget allows visible ASCII only: no space, control or byte
// above 0x7e, any of which could split a request line.
func validTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b >= 0x7f {
			return false
		}
	}
	return true
}

// parseContentLength parses a decimal content-length of at most 18
// digits, which cannot overflow an int64.
func parseContentLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < '0' || b > '9' {
			return 0, false
		}
		n = n*10 + int64(b-'0')
	}
	return n, true
}
