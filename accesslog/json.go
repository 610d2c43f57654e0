package accesslog

import (
	"bytes"
	"strconv"
	"time"
)

// The JSON line is written by hand: encoding/json allocates per call, and
// the field set is fixed. Its choices:
//
//   - "time" is Start, as on HAProxy's line.
//   - "server" and "backend" are null when none was chosen (HAProxy's
//     <NOSRV>), so that no server name can be mistaken for "none";
//     "client" and "client_port" are null when the address is unknown.
//   - Absent strings (no Host, no User-Agent, a TCP entry's request) are "".
//   - "status" is -1 when no response was sent, and the timers are -1
//     when their event never happened, as on HAProxy's line.
//   - Bytes that are not valid UTF-8 become U+FFFD, one per byte, as
//     encoding/json does: the output is always valid JSON, and a decoder
//     never sees a Latin-1 character that was not sent.

// hexLower writes \u escapes in lower case, as encoding/json does.
const hexLower = "0123456789abcdef"

// jsonPlain marks the ASCII bytes a JSON string holds as they are.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s as a JSON string, quotes included. Control
// characters and DEL are escaped, and so are U+2028 and U+2029, which
// JavaScript would read as line ends.
func appendJSONString[T ~string | ~[]byte](b []byte, s T) []byte {
	b = append(b, '"')
	run := 0 // start of the bytes not yet appended, copied in one go
	for i := 0; i < len(s); {
		c := s[i]
		if jsonPlain[c] {
			i++
			continue
		}
		n := 1
		if c >= 0x80 {
			if n = utf8Len(s, i); n > 0 && !(n == 3 && c == 0xe2 && s[i+1] == 0x80 && s[i+2]&0xfe == 0xa8) {
				i += n // valid UTF-8 is kept as it is
				continue
			}
		}
		b = append(b, s[run:i]...)
		switch {
		case n == 0:
			b = append(b, `\ufffd`...)
			n = 1
		case n == 3: // U+2028 or U+2029
			b = append(b, '\\', 'u', '2', '0', '2', hexLower[s[i+2]&0xf])
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		default: // the other controls and DEL
			b = append(b, '\\', 'u', '0', '0', hexLower[c>>4], hexLower[c&0xf])
		}
		i += n
		run = i
	}
	b = append(b, s[run:]...)
	return append(b, '"')
}

// utf8Len returns the length of the well-formed UTF-8 sequence that
// starts at s[i] (a byte >= 0x80), or 0 when there is none (Unicode's
// table 3-7: no overlong forms, no surrogates, nothing past U+10FFFF).
func utf8Len[T ~string | ~[]byte](s T, i int) int {
	c := s[i]
	var n int
	lo, hi := byte(0x80), byte(0xbf) // bounds of the second byte
	switch {
	case c >= 0xc2 && c <= 0xdf:
		n = 2
	case c == 0xe0:
		n, lo = 3, 0xa0
	case c == 0xed:
		n, hi = 3, 0x9f
	case c >= 0xe1 && c <= 0xef:
		n = 3
	case c == 0xf0:
		n, lo = 4, 0x90
	case c == 0xf4:
		n, hi = 4, 0x8f
	case c >= 0xf1 && c <= 0xf3:
		n = 4
	default:
		return 0
	}
	if i+n > len(s) {
		return 0
	}
	if c1 := s[i+1]; c1 < lo || c1 > hi {
		return 0
	}
	for j := 2; j < n; j++ {
		if c := s[i+j]; c < 0x80 || c > 0xbf {
			return 0
		}
	}
	return n
}

// appendJSONTime appends t as RFC 3339 with milliseconds, in time.Local.
func appendJSONTime(b []byte, t time.Time, c *clock) []byte {
	c.at(t)
	b = append(b, '"')
	b = append4(b, c.year)
	b = append(b, '-')
	b = append2(b, int(c.month))
	b = append(b, '-')
	b = append2(b, c.day)
	b = append(b, 'T')
	b = c.appendHMS(b)
	b = append(b, '.')
	b = append3(b, millis(t))
	b = c.appendZone(b, true)
	return append(b, '"')
}

func appendJSONMillis(b []byte, key string, d time.Duration) []byte {
	b = append(b, key...)
	return appendMillis(b, d)
}

// appendJSONHead appends the fields both kinds of entry share, from the
// opening brace through "server".
func appendJSONHead(b []byte, e *Entry, c *clock) []byte {
	b = append(b, `{"time":`...)
	b = appendJSONTime(b, e.Start, c)
	if a, ok := clientAddr(e.Client); ok {
		b = append(b, `,"client":"`...)
		b = a.AppendTo(b)
		b = append(b, `","client_port":`...)
		b = strconv.AppendUint(b, uint64(e.Client.Port()), 10)
	} else {
		b = append(b, `,"client":null,"client_port":null`...)
	}
	b = append(b, `,"service":`...)
	b = appendJSONString(b, e.Service)
	b = append(b, `,"backend":`...)
	b = appendJSONOrNull(b, e.Backend)
	b = append(b, `,"server":`...)
	return appendJSONOrNull(b, e.Server)
}

func appendJSONOrNull(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, s)
}

func appendJSONStatus(b []byte, status int) []byte {
	b = append(b, `,"status":`...)
	if status == 0 {
		return append(b, '-', '1')
	}
	return appendInt(b, status)
}

func appendJSONBool(b []byte, key string, v bool) []byte {
	b = append(b, key...)
	return strconv.AppendBool(b, v)
}

func appendJSONHTTP(b []byte, e *Entry, c *clock) []byte {
	b = appendJSONHead(b, e, c)
	b = append(b, `,"protocol":"http","method":`...)
	b = appendJSONString(b, e.Method)
	path, query := e.Target, []byte(nil)
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i+1:]
	}
	b = append(b, `,"path":`...)
	b = appendJSONString(b, path)
	b = append(b, `,"query":`...)
	b = appendJSONString(b, query)
	b = append(b, `,"proto":`...)
	b = appendJSONString(b, e.Proto)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, e.Host)
	b = appendJSONStatus(b, e.Status)
	b = append(b, `,"bytes_in":`...)
	b = appendInt64(b, e.BytesIn)
	b = append(b, `,"bytes_out":`...)
	b = appendInt64(b, e.BytesOut)
	b = append(b, `,"body_bytes_out":`...)
	b = appendInt64(b, e.BodyOut)
	b = appendJSONMillis(b, `,"t_request":`, e.TR)
	b = appendJSONMillis(b, `,"t_queue":`, e.Tw)
	b = appendJSONMillis(b, `,"t_connect":`, e.Tc)
	b = appendJSONMillis(b, `,"t_response":`, e.Tr)
	b = appendJSONMillis(b, `,"t_active":`, e.Ta)
	b = append(b, `,"termination":"`...)
	b = appendTermJSON(b, e, 4)
	b = append(b, `","retries":`...)
	b = appendInt(b, e.Retries)
	b = appendJSONBool(b, `,"redispatched":`, e.Redispatched)
	b = appendJSONBool(b, `,"tls":`, e.TLS)
	b = append(b, `,"user_agent":`...)
	b = appendJSONString(b, e.UserAgent)
	b = append(b, `,"referer":`...)
	b = appendJSONString(b, e.Referer)
	return append(b, '}', '\n')
}

func appendJSONTCP(b []byte, e *Entry, c *clock) []byte {
	b = appendJSONHead(b, e, c)
	b = append(b, `,"protocol":"tcp"`...)
	b = appendJSONStatus(b, e.Status)
	b = append(b, `,"bytes_in":`...)
	b = appendInt64(b, e.BytesIn)
	b = append(b, `,"bytes_out":`...)
	b = appendInt64(b, e.BytesOut)
	b = appendJSONMillis(b, `,"t_queue":`, e.Tw)
	b = appendJSONMillis(b, `,"t_connect":`, e.Tc)
	b = appendJSONMillis(b, `,"t_total":`, e.Ta)
	b = append(b, `,"termination":"`...)
	b = appendTermJSON(b, e, 2)
	b = append(b, `","retries":`...)
	b = appendInt(b, e.Retries)
	b = appendJSONBool(b, `,"redispatched":`, e.Redispatched)
	b = appendJSONBool(b, `,"tls":`, e.TLS)
	return append(b, '}', '\n')
}

// appendTermJSON appends the first n termination characters, which
// termChar keeps to letters and '-': nothing to escape.
func appendTermJSON(b []byte, e *Entry, n int) []byte {
	for i := range n {
		b = append(b, termChar(e, i))
	}
	return b
}
