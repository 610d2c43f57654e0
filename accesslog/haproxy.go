package accesslog

import "strconv"

// HAProxy's lines, field for field (configuration manual, sections 8.2.2
// and 8.2.3):
//
//	httplog: %ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r
//	tcplog:  %ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq
//
// vigil captures no headers, so %hr and %hs print nothing and take no
// place, and no cookies, so %CC and %CS print "-".

const hexDigits = "0123456789ABCDEF"

// haRequest marks the bytes HAProxy encodes as '#' and two hex digits in
// the request line (section 8.6): the unprintable ones, '"' (which
// delimits the field) and '#' itself.
var haRequest = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x20 || c >= 0x7f || c == '"' || c == '#'
	}
	return t
}()

// haName marks the same bytes plus the space for names, which are
// unquoted fields: a name HAProxy would accept needs none of them, and a
// name with a space would shift every field after it for halog.
var haName = func() (t [256]bool) {
	t = haRequest
	t[' '] = true
	return t
}()

func appendHAEscaped[T ~string | ~[]byte](b []byte, s T, enc *[256]bool) []byte {
	run := 0 // start of the bytes not yet appended, copied in one go
	for i := range len(s) {
		if c := s[i]; enc[c] {
			b = append(b, s[run:i]...)
			b = append(b, '#', hexDigits[c>>4], hexDigits[c&0xf])
			run = i + 1
		}
	}
	return append(b, s[run:]...)
}

// appendHAName appends a name field; an empty one prints "-", as HAProxy
// prints every empty field.
func appendHAName(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return appendHAEscaped(b, s, &haName)
}

// appendHAHead appends what both lines start with, through "%b/%s ".
func appendHAHead(b []byte, e *Entry, c *clock) []byte {
	if a, ok := clientAddr(e.Client); ok {
		b = a.AppendTo(b)
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(e.Client.Port()), 10)
	} else {
		b = append(b, "-:-"...)
	}
	b = append(b, ' ', '[')
	b = c.at(e.Start).appendCLF(b)
	b = append(b, '.')
	b = append3(b, millis(e.Start))
	b = append(b, ']', ' ')
	b = appendHAName(b, e.Service)
	if e.TLS {
		b = append(b, '~')
	}
	b = append(b, ' ')
	if e.Backend != "" {
		b = appendHAName(b, e.Backend)
	} else {
		b = appendHAName(b, e.Service)
	}
	b = append(b, '/')
	if e.Server == "" {
		b = append(b, "<NOSRV>"...)
	} else {
		b = appendHAName(b, e.Server)
	}
	return append(b, ' ')
}

// appendHATail appends "%ac/%fc/%bc/%sc/%rc %sq/%bq".
func appendHATail(b []byte, e *Entry) []byte {
	b = appendInt(b, e.ActConn)
	b = append(b, '/')
	b = appendInt(b, e.FeConn)
	b = append(b, '/')
	b = appendInt(b, e.BeConn)
	b = append(b, '/')
	b = appendInt(b, e.SrvConn)
	b = append(b, '/')
	if e.Redispatched {
		b = append(b, '+')
	}
	b = appendInt(b, e.Retries)
	b = append(b, ' ')
	b = appendInt(b, e.SrvQueue)
	b = append(b, '/')
	return appendInt(b, e.BackendQueue)
}

func appendHAProxyHTTP(b []byte, e *Entry, c *clock) []byte {
	b = appendHAHead(b, e, c)
	b = appendMillis(b, e.TR)
	b = append(b, '/')
	b = appendMillis(b, e.Tw)
	b = append(b, '/')
	b = appendMillis(b, e.Tc)
	b = append(b, '/')
	b = appendMillis(b, e.Tr)
	b = append(b, '/')
	b = appendMillis(b, e.Ta)
	b = append(b, ' ')
	if e.Status == 0 {
		b = append(b, '-', '1')
	} else {
		b = appendInt(b, e.Status)
	}
	b = append(b, ' ')
	b = appendInt64(b, e.BytesOut)
	b = append(b, " - - "...)
	b = append(b, termChar(e, 0), termChar(e, 1), termChar(e, 2), termChar(e, 3), ' ')
	b = appendHATail(b, e)
	b = append(b, ' ', '"')
	if len(e.Method) == 0 {
		b = append(b, "<BADREQ>"...)
	} else {
		b = appendHAEscaped(b, e.Method, &haRequest)
		b = append(b, ' ')
		b = appendHAEscaped(b, e.Target, &haRequest)
		if len(e.Proto) > 0 {
			b = append(b, ' ')
			b = appendHAEscaped(b, e.Proto, &haRequest)
		}
	}
	return append(b, '"', '\n')
}

func appendHAProxyTCP(b []byte, e *Entry, c *clock) []byte {
	b = appendHAHead(b, e, c)
	b = appendMillis(b, e.Tw)
	b = append(b, '/')
	b = appendMillis(b, e.Tc)
	b = append(b, '/')
	b = appendMillis(b, e.Ta)
	b = append(b, ' ')
	b = appendInt64(b, e.BytesOut)
	b = append(b, ' ', termChar(e, 0), termChar(e, 1), ' ')
	b = appendHATail(b, e)
	return append(b, '\n')
}
