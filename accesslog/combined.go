package accesslog

// nginx's lines:
//
//	combined: $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//	stream "basic" (the example of nginx's stream log module):
//	          $remote_addr [$time_local] $protocol $status $bytes_sent $bytes_received $session_time
//
// nginx writes its line when the request ends and $time_local is that
// moment, so these lines are dated Start+Ta, not Start. There is no
// authentication in vigil, so $remote_user is always "-".

// nginxEscape marks the bytes nginx's default log escaping writes as
// \xXX: '"', '\' and anything outside printable ASCII.
var nginxEscape = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x20 || c >= 0x7f || c == '"' || c == '\\'
	}
	return t
}()

// appendNginxQuoted appends s between quotes, or "-" when it is empty, as
// nginx prints a header the request did not have.
func appendNginxQuoted(b []byte, s []byte) []byte {
	b = append(b, '"')
	if len(s) == 0 {
		b = append(b, '-')
	} else {
		b = appendNginxEscaped(b, s)
	}
	return append(b, '"')
}

func appendNginxEscaped(b []byte, s []byte) []byte {
	run := 0
	for i, c := range s {
		if nginxEscape[c] {
			b = append(b, s[run:i]...)
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			run = i + 1
		}
	}
	return append(b, s[run:]...)
}

func appendNginxAddr(b []byte, e *Entry) []byte {
	if a, ok := clientAddr(e.Client); ok {
		return a.AppendTo(b)
	}
	return append(b, '-')
}

// appendTimeLocal appends "[07/Dec/2026:19:43:03 +0100]".
func appendTimeLocal(b []byte, e *Entry, c *clock) []byte {
	b = append(b, '[')
	b = c.at(endTime(e)).appendCLF(b)
	b = append(b, ' ')
	b = c.appendZone(b, false)
	return append(b, ']')
}

func appendCombined(b []byte, e *Entry, c *clock) []byte {
	b = appendNginxAddr(b, e)
	b = append(b, " - - "...)
	b = appendTimeLocal(b, e, c)
	b = append(b, ' ', '"')
	if len(e.Method) == 0 {
		b = append(b, '-')
	} else {
		b = appendNginxEscaped(b, e.Method)
		b = append(b, ' ')
		b = appendNginxEscaped(b, e.Target)
		if len(e.Proto) > 0 {
			b = append(b, ' ')
			b = appendNginxEscaped(b, e.Proto)
		}
	}
	b = append(b, '"', ' ')
	if e.Status == 0 {
		b = append(b, "499"...) // nginx's "client closed request"
	} else {
		b = appendInt(b, e.Status)
	}
	b = append(b, ' ')
	b = appendInt64(b, e.BodyOut)
	b = append(b, ' ')
	b = appendNginxQuoted(b, e.Referer)
	b = append(b, ' ')
	b = appendNginxQuoted(b, e.UserAgent)
	return append(b, '\n')
}

func appendNginxStream(b []byte, e *Entry, c *clock) []byte {
	b = appendNginxAddr(b, e)
	b = append(b, ' ')
	b = appendTimeLocal(b, e, c)
	b = append(b, " TCP "...)
	b = appendInt(b, e.Status)
	b = append(b, ' ')
	b = appendInt64(b, e.BytesOut)
	b = append(b, ' ')
	b = appendInt64(b, e.BytesIn)
	b = append(b, ' ')
	// $session_time: seconds with millisecond resolution.
	ms := max(e.Ta.Milliseconds(), 0)
	b = appendInt64(b, ms/1000)
	b = append(b, '.')
	b = append3(b, int(ms%1000))
	return append(b, '\n')
}
