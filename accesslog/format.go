package accesslog

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// Format is the shape of a log line.
type Format uint8

const (
	// HAProxy is the line of HAProxy's "option httplog" as "log stdout
	// format raw" writes it, with no header captures (the line of "option
	// tcplog" for TCP entries): halog and the parsers written for HAProxy
	// read it unchanged.
	HAProxy Format = iota
	// JSON is one JSON object per line, for log shippers that want named
	// fields rather than positions.
	JSON
	// Combined is nginx's "combined" line (nginx stream's "basic" line for
	// TCP entries), for the tools built around nginx's logs.
	Combined
)

var formatNames = [...]string{HAProxy: "haproxy", JSON: "json", Combined: "combined"}

// ParseFormat reads a format by the name the configuration uses:
// "haproxy", "json" or "combined".
func ParseFormat(s string) (Format, error) {
	for f, name := range formatNames {
		if s == name {
			return Format(f), nil
		}
	}
	return 0, fmt.Errorf("access log format %q: want haproxy, json or combined", s)
}

// String returns the name ParseFormat reads.
func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// Entry is one HTTP request (or, with TCP set, one TCP connection) as the
// proxy saw it end. The proxy fills one per request and hands it to
// Logger.Log; nothing in it is kept after Log returns.
type Entry struct {
	// TCP marks a TCP connection: the line is HAProxy's tcplog, nginx
	// stream's or the JSON object without the HTTP fields.
	TCP bool
	// Client is the client's address as the logs name it (after the PROXY
	// protocol, if any). IPv4-mapped IPv6 addresses are printed as IPv4;
	// an invalid one prints "-".
	Client netip.AddrPort
	// Start is, for HTTP, when the first byte of the request arrived
	// (HAProxy's %tr); for TCP, when the connection was accepted (%t).
	Start time.Time
	// Service is the service's name: HAProxy's frontend name.
	Service string
	// Backend is the backend group's name. Empty means none was chosen;
	// the HAProxy line then names the service, as HAProxy names the
	// frontend when no backend was assigned.
	Backend string
	// Server is the backend server: vigil names it by its address
	// ("10.0.0.1:8080"). Empty means the request reached none, printed
	// "<NOSRV>".
	Server string

	// The timers follow HAProxy's section 8.4 ("Timing events"). A
	// negative value means the event never happened and is printed -1.
	// HTTP uses all five; TCP uses Tw, Tc and Ta, the last printed as Tt
	// (the whole session).

	// TR is the time from the first byte of the request to the end of its head.
	TR time.Duration
	// Tw is the time spent waiting in queues for a server slot.
	Tw time.Duration
	// Tc is the time to connect to the server, retries included.
	Tc time.Duration
	// Tr is the time the server took to send its response head.
	Tr time.Duration
	// Ta is, for HTTP, the time from the first byte of the request to the
	// last byte of the response; for TCP, the whole session.
	Ta time.Duration

	// Status is the HTTP status sent to the client; 0 when none was sent
	// (HAProxy prints -1, nginx 499). For TCP entries it is the status of
	// nginx stream's line (200, 502, 503...).
	Status int
	// BytesIn counts the bytes received from the client (request head and body).
	BytesIn int64
	// BytesOut counts the bytes sent to the client, response head and body
	// (HAProxy's %B).
	BytesOut int64
	// BodyOut counts the response body bytes sent to the client (nginx's
	// $body_bytes_sent).
	BodyOut int64
	// Termination is HAProxy's termination state (section 8.5): the
	// cause and the stream's state when it ended, then the two
	// persistence-cookie characters. '-' means nothing special, and so
	// does a zero byte. TCP lines print the first two.
	Termination [4]byte

	// ActConn, FeConn, BeConn and SrvConn are the connections open on the
	// process, the service, the backend group and the server when the
	// entry was logged; Retries the connect attempts that failed.
	ActConn, FeConn, BeConn, SrvConn, Retries int
	// Redispatched tells that the request left its first server for
	// another after failed retries; the line prints '+' before Retries.
	Redispatched bool
	// SrvQueue and BackendQueue are the positions the request took in the
	// server's and the backend's queue (0 when it did not wait).
	SrvQueue, BackendQueue int

	// Method, Target and Proto are the request line ("GET", "/p?q=1",
	// "HTTP/1.1"; HTTP/2 as "HTTP/2.0"). An empty Method means no valid
	// request line was read: HAProxy prints "<BADREQ>", nginx "-". They,
	// Host, Referer and UserAgent point into the proxy's buffers and are
	// only read during Log.
	Method, Target, Proto []byte
	// Host is the request's authority (Host header or :authority).
	Host []byte
	// Referer and UserAgent are those request headers; empty when absent.
	Referer, UserAgent []byte
	// TLS tells the client spoke TLS to vigil; HAProxy's line marks the
	// frontend name with '~'.
	TLS bool
}

// Append appends the line for e in format f to dst, ending in '\n', and
// returns the extended buffer. It allocates nothing when dst has room.
// Dates are printed in time.Local.
func Append(dst []byte, f Format, e *Entry) []byte {
	var c clock
	return appendLine(dst, f, e, &c)
}

func appendLine(b []byte, f Format, e *Entry, c *clock) []byte {
	switch f {
	case JSON:
		if e.TCP {
			return appendJSONTCP(b, e, c)
		}
		return appendJSONHTTP(b, e, c)
	case Combined:
		if e.TCP {
			return appendNginxStream(b, e, c)
		}
		return appendCombined(b, e, c)
	default:
		if e.TCP {
			return appendHAProxyTCP(b, e, c)
		}
		return appendHAProxyHTTP(b, e, c)
	}
}

// clock is a time broken down in time.Local, kept for the second it
// stands for: lines come in bursts within the same second, and breaking a
// time down (the zone lookup above all) costs more than formatting it.
// Each clock has one user at a time (a pooled line buffer, a Sink's
// writer), so it needs no lock.
type clock struct {
	unix                   int64
	ok                     bool
	year                   int
	month                  time.Month
	day, hour, minute, sec int
	offset                 int // seconds east of UTC
}

// at sets c to t's second; a zone change (DST) falls on a second
// boundary, so the second alone keys the cache.
func (c *clock) at(t time.Time) *clock {
	if u := t.Unix(); !c.ok || u != c.unix {
		lt := t.In(time.Local)
		c.year, c.month, c.day = lt.Date()
		c.hour, c.minute, c.sec = lt.Clock()
		_, c.offset = lt.Zone()
		c.unix, c.ok = u, true
	}
	return c
}

const monthNames = "JanFebMarAprMayJunJulAugSepOctNovDec"

func (c *clock) monthName() string {
	i := int(c.month-1) * 3
	return monthNames[i : i+3]
}

// appendCLF appends "07/Dec/2026:19:43:03", the date of HAProxy's and
// nginx's lines.
func (c *clock) appendCLF(b []byte) []byte {
	b = append2(b, c.day)
	b = append(b, '/')
	b = append(b, c.monthName()...)
	b = append(b, '/')
	b = append4(b, c.year)
	b = append(b, ':')
	return c.appendHMS(b)
}

func (c *clock) appendHMS(b []byte) []byte {
	b = append2(b, c.hour)
	b = append(b, ':')
	b = append2(b, c.minute)
	b = append(b, ':')
	return append2(b, c.sec)
}

// appendZone appends the offset as "+0100" (colon false) or "+01:00",
// with "Z" for UTC in the second form, as RFC 3339 writes it.
func (c *clock) appendZone(b []byte, colon bool) []byte {
	off := c.offset / 60
	if colon && off == 0 {
		return append(b, 'Z')
	}
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	b = append(b, sign)
	b = append2(b, off/60)
	if colon {
		b = append(b, ':')
	}
	return append2(b, off%60)
}

func append2(b []byte, n int) []byte {
	return append(b, byte('0'+n/10%10), byte('0'+n%10))
}

func append3(b []byte, n int) []byte {
	return append(b, byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
}

func append4(b []byte, n int) []byte {
	if n < 0 || n > 9999 {
		return strconv.AppendInt(b, int64(n), 10)
	}
	return append(b, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
}

func millis(t time.Time) int { return t.Nanosecond() / 1e6 }

// appendMillis appends d in whole milliseconds (truncated), or -1 for an
// event that never happened.
func appendMillis(b []byte, d time.Duration) []byte {
	if d < 0 {
		return append(b, '-', '1')
	}
	return strconv.AppendInt(b, d.Milliseconds(), 10)
}

func appendInt(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }

// clientAddr is the address as the logs print it: an IPv4 client on a
// dual-stack socket as IPv4, and without an IPv6 zone, as inet_ntop
// prints it for HAProxy and nginx (a zone is an interface name, which
// may hold any byte but '/').
func clientAddr(ap netip.AddrPort) (netip.Addr, bool) {
	a := ap.Addr()
	return a.Unmap().WithZone(""), a.IsValid()
}

// termChar returns the i-th termination character. HAProxy's codes are
// letters; anything else (a zero byte from a half-filled Entry above all)
// prints '-', so no byte of it can break a line's fields.
func termChar(e *Entry, i int) byte {
	if c := e.Termination[i]; 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
		return c
	}
	return '-'
}

// endTime is when the request (or connection) ended: nginx dates its line
// by then.
func endTime(e *Entry) time.Time {
	if e.Ta > 0 {
		return e.Start.Add(e.Ta)
	}
	return e.Start
}

func appendInt64(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }
