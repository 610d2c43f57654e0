package tests

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"vigil/tests/lab"
)

// End-to-end tests of the access logs: real vigil processes write
// HAProxy's httplog and tcplog lines, JSON and nginx's combined line to a
// file, stdout, UDP syslog and a unix datagram socket, for requests
// over HTTP/1.1, TLS and HTTP/2; halog, HAProxy's own analyser, reads
// them; the real HAProxy writes its lines beside vigil's for the same
// requests; and the logs survive logrotate (SIGUSR1) and reloads.
//
// The lab: vigil on lb (10.0.0.1), a client (10.0.0.2) and a backend host
// be (10.0.0.3) serving HTTP on :8000 (a 404 for /missing) and a TCP echo
// on :7000. Nothing listens on be's ports 8998 and 8999. The services
// listen on lb's own address (no VRRP), each on its own port.

// accessLab is the lab of the access log tests.
type accessLab struct {
	t           *testing.T
	lan         *lab.Net
	lb, cli, be *lab.Host
	dir         string       // log files, sockets, certificates
	h1          *http.Client // a new connection per request, so each has its own client port
	start       time.Time    // lines must be dated after this
}

func newAccessLab(t *testing.T) *accessLab {
	l := lab.New(t) // skips unless root
	// Short, for the unix socket's path. Its cleanup runs after those of
	// the processes started later (vigil, HAProxy), which hold files in it.
	dir, err := os.MkdirTemp("", "vigil-al-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	lan := l.AddNet("lan", lanPrefix)
	al := &accessLab{t: t, lan: lan, lb: l.AddHost("lb", lan), cli: l.AddHost("client", lan), be: l.AddHost("be", lan),
		dir: dir, start: time.Now().Add(-time.Second)}
	serveHTTPIn(t, al.be, 8000, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" || strings.HasSuffix(r.URL.Path, "/missing") {
			http.Error(w, "no such page", http.StatusNotFound)
			return
		}
		fmt.Fprintf(w, "ok %s %s", r.Method, r.URL.RequestURI())
	}))
	echo := listenIn(t, al.be, 7000)
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.Copy(c, c)
			}()
		}
	}()
	tr := transportFrom(t, al.cli)
	tr.DisableKeepAlives = true
	al.h1 = &http.Client{Transport: tr, Timeout: 5 * time.Second}
	return al
}

// beAddr is the backend host's address with a port, as vigil names servers.
func (al *accessLab) beAddr(port int) string {
	return netip.AddrPortFrom(al.be.Addr(al.lan), uint16(port)).String()
}

// run starts vigil with cfg and waits until its services listen.
func (al *accessLab) run(cfg string, services int) *node {
	al.t.Helper()
	n := startVigil(al.t, al.lb, cfg)
	lab.WaitFor(al.t, 10*time.Second, "every service to listen", func() (bool, string) {
		got := strings.Count(n.proc.Output(), "msg=listening")
		return got >= services, fmt.Sprintf("%d of %d services listening; vigil %s", got, services, n.proc.State())
	})
	return n
}

// service is one http service on lb's port with one backend and extra
// lines (indented by the caller).
func (al *accessLab) service(name string, port int, backend, extra string) string {
	return fmt.Sprintf("  - name: %s\n    listen: %s:%d\n    protocol: http\n    backends: [%q]\n%s",
		name, al.lb.Addr(al.lan), port, backend, extra)
}

// alReply is what the client saw of one request.
type alReply struct {
	status int
	proto  string
	body   string
	client netip.AddrPort // the client's end of the connection that carried it
}

// alAddrPort is a connection's local address, IPv4 unmapped.
func alAddrPort(a net.Addr) netip.AddrPort {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// fetch sends a GET with the headers given (name, value, ...) and reads
// the whole answer.
func (al *accessLab) fetch(c *http.Client, url string, hdr ...string) alReply {
	al.t.Helper()
	var r alReply
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { r.client = alAddrPort(ci.Conn.LocalAddr()) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, url, nil)
	if err != nil {
		al.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		al.t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		al.t.Fatalf("GET %s: body: %v", url, err)
	}
	r.status, r.proto, r.body = resp.StatusCode, resp.Proto, string(b)
	if !r.client.IsValid() {
		al.t.Fatalf("GET %s: no connection seen", url)
	}
	return r
}

// mustFetch is fetch that fails the test unless the status is want.
func (al *accessLab) mustFetch(c *http.Client, want int, url string, hdr ...string) alReply {
	al.t.Helper()
	r := al.fetch(c, url, hdr...)
	if r.status != want {
		al.t.Fatalf("GET %s: %d %q, want %d", url, r.status, r.body, want)
	}
	return r
}

// dial connects from the client to addr.
func (al *accessLab) dial(addr string) net.Conn {
	al.t.Helper()
	var c net.Conn
	if err := al.cli.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	}); err != nil {
		al.t.Fatalf("dial %s: %v", addr, err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

// raw sends req as it is on a connection of its own and reads the response.
func (al *accessLab) raw(addr, req string) alReply {
	al.t.Helper()
	c := al.dial(addr)
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		al.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		al.t.Fatalf("%q to %s: %v", req, addr, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		al.t.Fatalf("%q to %s: body: %v", req, addr, err)
	}
	return alReply{status: resp.StatusCode, proto: resp.Proto, body: string(b), client: alAddrPort(c.LocalAddr())}
}

// echo sends msg through a TCP service to the echo server, half-closes
// and reads the echo until the end.
func (al *accessLab) echo(addr, msg string) alReply {
	al.t.Helper()
	c := al.dial(addr)
	defer c.Close()
	if _, err := io.WriteString(c, msg); err != nil {
		al.t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != msg {
		al.t.Fatalf("echo through %s: %q %v, want %q", addr, b, err, msg)
	}
	return alReply{body: string(b), client: alAddrPort(c.LocalAddr())}
}

// h2Client speaks HTTP/2 over TLS (ALPN h2 only), dialling in the client.
func (al *accessLab) h2Client(pki *testPKI, name string) *http.Client {
	tr := &http2.Transport{
		TLSClientConfig: &tls.Config{ServerName: name, RootCAs: pki.pool},
		DialTLSContext: func(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
			var c net.Conn
			err := al.cli.Do(func() (err error) {
				d := net.Dialer{Timeout: 2 * time.Second}
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			return tc, nil
		},
	}
	al.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// tlsH1Client speaks HTTP/1.1 over TLS, a connection per request.
func (al *accessLab) tlsH1Client(pki *testPKI, name string) *http.Client {
	tr := transportFrom(al.t, al.cli)
	tr.DisableKeepAlives = true
	tr.TLSClientConfig = &tls.Config{ServerName: name, RootCAs: pki.pool, NextProtos: []string{"http/1.1"}}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// Where the lines are read from.

// logFileLines reads the complete lines of a file (none if it does not exist).
func logFileLines(path string) func() []string {
	return func() []string {
		b, err := os.ReadFile(path)
		if err != nil || len(b) == 0 {
			return nil
		}
		s := string(b)
		if i := strings.LastIndexByte(s, '\n'); i >= 0 {
			s = s[:i] // a line still being written is not a line yet
		} else {
			return nil
		}
		return strings.Split(s, "\n")
	}
}

// stdoutJSONLines is vigil's JSON access log lines on stdout: its own log
// (slog's text, on stderr) shares the output, and its lines never start
// with '{'.
func stdoutJSONLines(n *node) func() []string {
	return func() []string {
		var out []string
		for _, l := range strings.Split(n.proc.Output(), "\n") {
			if strings.HasPrefix(l, "{") {
				out = append(out, l)
			}
		}
		return out
	}
}

// datagrams collects what a packet socket receives until the test ends.
type datagrams struct {
	mu   sync.Mutex
	msgs []string
}

func collectDatagrams(t *testing.T, pc net.PacketConn) *datagrams {
	d := &datagrams{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			d.mu.Lock()
			d.msgs = append(d.msgs, string(buf[:n]))
			d.mu.Unlock()
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return d
}

func (d *datagrams) lines() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.msgs)
}

// linesWith returns the lines that contain sub.
func linesWith(lines []string, sub string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}

// waitLogLines waits until src has exactly one line containing each of subs
// and returns those lines, in the order of subs. Lines come asynchronously
// (the writer batches them for about 10 ms), so it polls; a second line
// for the same request is a duplicate and fails the test.
func waitLogLines(t *testing.T, what string, src func() []string, subs ...string) []string {
	t.Helper()
	got := make([]string, len(subs))
	lab.WaitFor(t, 5*time.Second, what, func() (bool, string) {
		lines := src()
		var missing []string
		for i, s := range subs {
			m := linesWith(lines, s)
			if len(m) == 0 {
				missing = append(missing, s)
				continue
			}
			got[i] = m[0]
		}
		return len(missing) == 0, fmt.Sprintf("no line with %q among %d:\n%s", missing, len(lines), strings.Join(lines, "\n"))
	})
	lines := src()
	for _, s := range subs {
		if m := linesWith(lines, s); len(m) != 1 {
			t.Errorf("%s: %d lines with %q, want 1:\n%s", what, len(m), s, strings.Join(m, "\n"))
		}
	}
	return got
}

// HAProxy's lines (its configuration manual, 8.2.2 and 8.2.3):
//
//	httplog: %ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %{+Q}r
//	tcplog:  %ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq
const alDate = `\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d\.\d{3}`

var (
	haDateRe  = regexp.MustCompile(alDate)
	httplogRe = regexp.MustCompile(`^(\S+) \[(` + alDate + `)\] ([^\s~/]+)(~?) ([^\s/]+)/(\S+) (-?\d+)/(-?\d+)/(-?\d+)/(-?\d+)/\+?(-?\d+) (-?\d+) (\d+) - - ([-A-Za-z]{4}) (\d+)/(\d+)/(\d+)/(\d+)/(\+?\d+) (\d+)/(\d+) "([^"]*)"$`)
	tcplogRe  = regexp.MustCompile(`^(\S+) \[(` + alDate + `)\] ([^\s~/]+)(~?) ([^\s/]+)/(\S+) (-?\d+)/(-?\d+)/\+?(-?\d+) (\d+) ([-A-Za-z]{2}) (\d+)/(\d+)/(\d+)/(\d+)/(\+?\d+) (\d+)/(\d+)$`)

	// The fields one by one, to compare vigil's layout with HAProxy's.
	fieldClient   = regexp.MustCompile(`^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$`)
	fieldDate     = regexp.MustCompile(`^\[` + alDate + `\]$`)
	fieldFrontend = regexp.MustCompile(`^[^\s~/]+~?$`)
	fieldServer   = regexp.MustCompile(`^[^\s/]+/(<NOSRV>|[^\s/<>]+)$`)
	fieldTimers5  = regexp.MustCompile(`^-?\d+/-?\d+/-?\d+/-?\d+/\+?-?\d+$`)
	fieldTimers3  = regexp.MustCompile(`^-?\d+/-?\d+/\+?-?\d+$`)
	fieldStatus   = regexp.MustCompile(`^(-1|[1-5]\d\d)$`)
	fieldBytes    = regexp.MustCompile(`^\d+$`)
	fieldDash     = regexp.MustCompile(`^-$`)
	fieldTerm4    = regexp.MustCompile(`^[-A-Za-z]{4}$`)
	fieldTerm2    = regexp.MustCompile(`^[-A-Za-z]{2}$`)
	fieldCounters = regexp.MustCompile(`^\d+/\d+/\d+/\d+/\+?\d+$`)
	fieldQueues   = regexp.MustCompile(`^\d+/\d+$`)
	fieldRequest  = regexp.MustCompile(`^"[^"]*"$`)

	httplogFields = []*regexp.Regexp{fieldClient, fieldDate, fieldFrontend, fieldServer, fieldTimers5, fieldStatus,
		fieldBytes, fieldDash, fieldDash, fieldTerm4, fieldCounters, fieldQueues}
	tcplogFields = []*regexp.Regexp{fieldClient, fieldDate, fieldFrontend, fieldServer, fieldTimers3, fieldBytes,
		fieldTerm2, fieldCounters, fieldQueues}
)

// haLine is one of HAProxy's httplog or tcplog lines, read.
type haLine struct {
	raw             string
	tcp             bool
	client          string
	date            time.Time
	frontend        string
	tls             bool
	backend, server string
	timers          []int // TR/Tw/Tc/Tr/Ta, or Tw/Tc/Tt for TCP
	status          int   // 0 for TCP
	bytes           int64
	term            string
	counters        string // ac/fc/bc/sc/rc
	queues          string
	request         string
}

func haAtoi(s string) int { n, _ := strconv.Atoi(strings.TrimPrefix(s, "+")); return n }

func parseHALine(line string) (haLine, error) {
	l := haLine{raw: line}
	var timers []string
	if m := httplogRe.FindStringSubmatch(line); m != nil {
		l.client, l.frontend, l.tls, l.backend, l.server = m[1], m[3], m[4] == "~", m[5], m[6]
		timers = m[7:12]
		l.status = haAtoi(m[12])
		l.bytes, _ = strconv.ParseInt(m[13], 10, 64)
		l.term = m[14]
		l.counters = strings.Join(m[15:20], "/")
		l.queues = m[20] + "/" + m[21]
		l.request = m[22]
	} else if m := tcplogRe.FindStringSubmatch(line); m != nil {
		l.tcp = true
		l.client, l.frontend, l.tls, l.backend, l.server = m[1], m[3], m[4] == "~", m[5], m[6]
		timers = m[7:10]
		l.bytes, _ = strconv.ParseInt(m[10], 10, 64)
		l.term = m[11]
		l.counters = strings.Join(m[12:17], "/")
		l.queues = m[17] + "/" + m[18]
	} else {
		return l, fmt.Errorf("not HAProxy's httplog or tcplog line: %q", line)
	}
	for _, s := range timers {
		l.timers = append(l.timers, haAtoi(s))
	}
	var err error
	if l.date, err = time.ParseInLocation("02/Jan/2006:15:04:05.000", haDateRe.FindString(line), time.Local); err != nil {
		return l, err
	}
	return l, nil
}

// retries is the last counter, %rc.
func (l haLine) retries() string { return l.counters[strings.LastIndexByte(l.counters, '/')+1:] }

// happened is the timers' shape: '+' for a timer that ran, '-' for -1.
func (l haLine) happened() string {
	var b strings.Builder
	for _, v := range l.timers {
		if v >= 0 {
			b.WriteByte('+')
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// haWant is what a line of vigil's must say about a request.
type haWant struct {
	client   netip.AddrPort
	frontend string
	tls      bool
	backend  string
	server   string // "<NOSRV>" for none
	status   int    // 0 for TCP
	bytes    int64  // exact when > 0; otherwise only > 0 is asked
	term     string
	request  string // the request line, unquoted (HTTP)
	timers   string // happened(): which timers ran
	retries  string // %rc, '+' first when redispatched; "" is "0"
}

// checkHALine checks a line of vigil's, field by field, against w; the
// date must fall within the test and the timers must add up.
func (al *accessLab) checkHALine(line string, w haWant) {
	t := al.t
	t.Helper()
	l, err := parseHALine(line)
	if err != nil {
		t.Error(err)
		return
	}
	bad := func(field string, got, want any) {
		t.Helper()
		t.Errorf("%s: got %v, want %v, in\n%s", field, got, want, line)
	}
	if l.client != w.client.String() {
		bad("client", l.client, w.client)
	}
	if now := time.Now().Add(time.Second); l.date.Before(al.start) || l.date.After(now) {
		bad("date", l.date, fmt.Sprintf("between %v and %v", al.start, now))
	}
	tilde := func(tls bool) string {
		if tls {
			return "~"
		}
		return ""
	}
	if l.frontend != w.frontend || l.tls != w.tls {
		bad("frontend (and TLS ~)", l.frontend+tilde(l.tls), w.frontend+tilde(w.tls))
	}
	if l.backend != w.backend || l.server != w.server {
		bad("backend/server", l.backend+"/"+l.server, w.backend+"/"+w.server)
	}
	if l.tcp != (w.status == 0) {
		bad("tcplog line", l.tcp, w.status == 0)
		return
	}
	if l.status != w.status {
		bad("status", l.status, w.status)
	}
	if l.bytes <= 0 || w.bytes > 0 && l.bytes != w.bytes {
		bad("bytes", l.bytes, map[bool]any{true: w.bytes, false: "> 0"}[w.bytes > 0])
	}
	if l.term != w.term {
		bad("termination", l.term, w.term)
	}
	if l.request != w.request {
		bad("request line", l.request, w.request)
	}
	if want := cmp.Or(w.retries, "0"); l.retries() != want {
		bad("retries (%rc)", l.retries(), want)
	}
	if l.queues != "0/0" {
		bad("queues", l.queues, "0/0")
	}
	if got := l.happened(); got != w.timers {
		bad("timers that ran", fmt.Sprintf("%s (%v)", got, l.timers), w.timers)
	}
	// Sane: under the test's own timeouts, and the parts no longer than
	// the whole (each is cut to whole milliseconds, so the sum of the
	// parts can only come out shorter).
	sum, last := 0, l.timers[len(l.timers)-1]
	for i, v := range l.timers {
		if v > 5000 {
			bad(fmt.Sprintf("timer %d", i), v, "< 5000 ms")
		}
		if i < len(l.timers)-1 && v > 0 {
			sum += v
		}
	}
	if sum > last {
		bad("timers", l.timers, "parts adding up to no more than the total")
	}
}

// haproxyLines picks HAProxy's access log lines out of a process's output.
func haproxyLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if httplogRe.MatchString(l) || tcplogRe.MatchString(l) {
			lines = append(lines, l)
		}
	}
	return lines
}

// Combined and syslog.

// combinedRe is nginx's combined line.
var combinedRe = regexp.MustCompile(`^(\S+) - - \[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [-+]\d{4})\] "([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)"$`)

// syslogRe is an RFC 3164 message: <PRI>, the timestamp, a hostname (not
// on a local socket), the tag with vigil's pid, the line.
var syslogRe = regexp.MustCompile(`^<(\d+)>([A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d) (?:(\S+) )?vigil\[(\d+)\]: (.*)$`)

// checkSyslog checks a datagram's header and returns the line it carries.
func (al *accessLab) checkSyslog(msg string, pri int, host string, n *node) string {
	t := al.t
	t.Helper()
	m := syslogRe.FindStringSubmatch(msg)
	if m == nil {
		t.Errorf("not an RFC 3164 syslog message from vigil: %q", msg)
		return ""
	}
	if haAtoi(m[1]) != pri {
		t.Errorf("syslog PRI %s, want %d: %q", m[1], pri, msg)
	}
	if m[3] != host {
		t.Errorf("syslog hostname %q, want %q: %q", m[3], host, msg)
	}
	if m[4] != strconv.Itoa(n.proc.Pid()) {
		t.Errorf("syslog tag vigil[%s], want vigil's pid %d: %q", m[4], n.proc.Pid(), msg)
	}
	if ts, err := time.ParseInLocation("Jan _2 15:04:05", m[2], time.Local); err != nil {
		t.Errorf("syslog timestamp %q: %v", m[2], err)
	} else if now := time.Now(); !(ts.Month() == now.Month() && ts.Day() == now.Day()) &&
		!(ts.Month() == al.start.Month() && ts.Day() == al.start.Day()) {
		t.Errorf("syslog timestamp %q is not today's", m[2])
	}
	return m[5]
}

// JSON.

type accessJSON struct {
	Time         string  `json:"time"`
	Client       *string `json:"client"`
	ClientPort   *int    `json:"client_port"`
	Service      string  `json:"service"`
	Backend      *string `json:"backend"`
	Server       *string `json:"server"`
	Protocol     string  `json:"protocol"`
	Method       string  `json:"method"`
	Path         string  `json:"path"`
	Query        string  `json:"query"`
	Proto        string  `json:"proto"`
	Host         string  `json:"host"`
	Status       int     `json:"status"`
	BytesIn      int64   `json:"bytes_in"`
	BytesOut     int64   `json:"bytes_out"`
	BodyBytesOut int64   `json:"body_bytes_out"`
	TRequest     *int    `json:"t_request"`
	TQueue       *int    `json:"t_queue"`
	TConnect     *int    `json:"t_connect"`
	TResponse    *int    `json:"t_response"`
	TActive      *int    `json:"t_active"`
	Termination  string  `json:"termination"`
	Retries      int     `json:"retries"`
	Redispatched bool    `json:"redispatched"`
	TLS          bool    `json:"tls"`
	UserAgent    string  `json:"user_agent"`
	Referer      string  `json:"referer"`
}

// checkJSON checks a JSON line for a normal request r to service (one
// backend group of the same name) at host with the path and query given.
func (al *accessLab) checkJSON(line string, r alReply, service, server, host, path, query, ua, referer string) {
	t := al.t
	t.Helper()
	var j accessJSON
	if err := json.Unmarshal([]byte(line), &j); err != nil {
		t.Errorf("not JSON: %v: %s", err, line)
		return
	}
	str := func(p *string) string {
		if p == nil {
			return "<null>"
		}
		return *p
	}
	num := func(p *int) int {
		if p == nil {
			return -99
		}
		return *p
	}
	ts, err := time.Parse(time.RFC3339Nano, j.Time)
	got := fmt.Sprintf("%s:%d %s %s/%s %s %s %q %q %s %s %d %s tls=%v ua=%q ref=%q",
		str(j.Client), num(j.ClientPort), j.Service, str(j.Backend), str(j.Server), j.Protocol, j.Method, j.Path, j.Query,
		j.Proto, j.Host, j.Status, j.Termination, j.TLS, j.UserAgent, j.Referer)
	want := fmt.Sprintf("%s:%d %s %s/%s http GET %q %q HTTP/1.1 %s %d ---- tls=false ua=%q ref=%q",
		r.client.Addr(), r.client.Port(), service, service, server, path, query, host, r.status, ua, referer)
	if got != want {
		t.Errorf("JSON line says\n%s\nwant\n%s\nin %s", got, want, line)
	}
	if err != nil || ts.Before(al.start) || ts.After(time.Now().Add(time.Second)) {
		t.Errorf("JSON time %q (%v) not within the test: %s", j.Time, err, line)
	}
	if j.BytesIn <= 0 || j.BodyBytesOut != int64(len(r.body)) || j.BytesOut <= j.BodyBytesOut || j.Retries != 0 || j.Redispatched {
		t.Errorf("JSON bytes in %d, out %d, body out %d (want %d), retries %d, redispatched %v: %s",
			j.BytesIn, j.BytesOut, j.BodyBytesOut, len(r.body), j.Retries, j.Redispatched, line)
	}
	timers := []int{num(j.TRequest), num(j.TQueue), num(j.TConnect), num(j.TResponse)}
	sum := 0
	for _, v := range timers {
		if v < 0 || v > 5000 {
			t.Errorf("JSON timers %v, t_active %d: each must have run, under 5 s: %s", timers, num(j.TActive), line)
		}
		sum += v
	}
	if sum > num(j.TActive) {
		t.Errorf("JSON timers %v add up to more than t_active %d: %s", timers, num(j.TActive), line)
	}
}

// Tools from the haproxy package.

func needHAProxyTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Fatalf("%s not found (in PATH, /usr/sbin, /usr/bin): apt-get install -y haproxy", name)
	return ""
}

// runHalog runs halog with one output flag on lines and returns what it
// printed, line by line, and its summary ("N lines in, M lines out, P
// parsing errors").
func runHalog(t *testing.T, bin, flag string, lines []string) ([]string, string) {
	t.Helper()
	cmd := exec.Command(bin, flag)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("halog %s: %v: %s", flag, err, errOut.String())
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"), strings.TrimSpace(errOut.String())
}

// checkHalogOutput runs halog with flag and compares what it printed, with
// only the first cols columns of each line kept (0: all), to want.
func checkHalogOutput(t *testing.T, bin, flag string, in []string, cols int, want ...string) {
	t.Helper()
	got, summary := runHalog(t, bin, flag, in)
	if wantSum := fmt.Sprintf("%d lines in", len(in)); !strings.HasPrefix(summary, wantSum) || !strings.HasSuffix(summary, " 0 parsing errors") {
		t.Errorf("halog %s: summary %q, want %q... 0 parsing errors", flag, summary, wantSum)
	}
	if cols > 0 {
		for i, l := range got {
			if f := strings.Fields(l); len(f) > cols {
				got[i] = strings.Join(f[:cols], " ")
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("halog %s printed\n%s\nwant\n%s\nits input:\n%s", flag, strings.Join(got, "\n"), strings.Join(want, "\n"), strings.Join(in, "\n"))
	}
}

// TestAccessLogFormats: each format to each kind of target, for real
// requests over HTTP/1.1, TLS and HTTP/2 and a TCP connection, each line
// field by field; then halog counts the haproxy lines of the file (behind
// a syslog prefix) and of UDP syslog (behind their own header) as the
// requests went.
func TestAccessLogFormats(t *testing.T) {
	al := newAccessLab(t)
	halogBin := needHAProxyTool(t, "halog")
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}

	// The syslog receivers: UDP in vigil's namespace, and a unix datagram
	// socket (a path: every namespace sees it).
	var udpConn net.PacketConn
	if err := al.lb.Do(func() (err error) {
		udpConn, err = net.ListenPacket("udp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	udp := collectDatagrams(t, udpConn)
	sock := filepath.Join(al.dir, "log")
	unixConn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	unixSys := collectDatagrams(t, unixConn)

	pki := makePKI(t, al.dir, "a.example.test")
	accessFile, tcpFile, defaultFile := filepath.Join(al.dir, "access.log"), filepath.Join(al.dir, "tcp.log"), filepath.Join(al.dir, "default.log")
	toFile := fmt.Sprintf("    access_log: { to: %q, format: haproxy }\n", accessFile)
	be, dead, down := al.beAddr(8000), al.beAddr(8999), al.beAddr(8998)
	cfg := fmt.Sprintf("node: lb\napi: { listen: \"\", socket: \"\" }\nlog:\n  access: { to: %q, format: json }\nservices:\n", defaultFile) +
		al.service("web", 80, be, toFile) +
		al.service("dead", 81, dead, toFile) +
		al.service("down", 82, down, "    check: { type: tcp, interval: 100ms, timeout: 100ms }\n"+toFile) +
		al.service("tls", 443, be, fmt.Sprintf("    tls: { certs: %s, http2: true }\n", pki.certsYAML("a.example.test"))+toFile) +
		al.service("json", 8080, be, "    access_log: { to: stdout, format: json }\n") +
		al.service("udpsys", 8081, be, fmt.Sprintf("    access_log: { to: \"syslog://%s\", format: haproxy }\n", udpConn.LocalAddr())) +
		al.service("unixsys", 8082, be, fmt.Sprintf("    access_log: { to: \"syslog://%s\", format: combined, facility: local3 }\n", sock)) +
		al.service("inherit", 8083, be, "") +
		fmt.Sprintf("  - name: tcp\n    listen: %s:9000\n    protocol: tcp\n    backends: [%q]\n    access_log: { to: %q, format: haproxy }\n",
			al.lb.Addr(al.lan), al.beAddr(7000), tcpFile)
	lb := al.run(cfg, 9)
	ip := al.lb.Addr(al.lan).String()
	url := func(port int, path string) string { return fmt.Sprintf("http://%s:%d%s", ip, port, path) }
	const ua, referer = "vigil-e2e/1.0 (access logs)", "http://referer.example/page?x=1"

	// The requests, each on a connection of its own.
	ok := al.mustFetch(al.h1, 200, url(80, "/f/ok?q=1"))
	missing := al.mustFetch(al.h1, 404, url(80, "/f/missing"))
	badReq := al.raw(ip+":80", "GET /\x80 HTTP/1.1\r\nHost: x\r\n\r\n")
	if badReq.status != 400 {
		t.Fatalf("a request target with byte 0x80: %d %q, want 400", badReq.status, badReq.body)
	}
	deadR := al.mustFetch(al.h1, 502, url(81, "/f/dead"))
	downR := al.mustFetch(al.h1, 503, url(82, "/f/down"))
	h2R := al.mustFetch(al.h2Client(pki, "a.example.test"), 200, "https://"+ip+"/t/h2?x=2")
	if h2R.proto != "HTTP/2.0" {
		t.Fatalf("the h2 client spoke %s", h2R.proto)
	}
	h1tls := al.mustFetch(al.tlsH1Client(pki, "a.example.test"), 200, "https://"+ip+"/t/h1")
	if h1tls.proto != "HTTP/1.1" {
		t.Fatalf("the TLS HTTP/1.1 client spoke %s", h1tls.proto)
	}
	jsonR := al.mustFetch(al.h1, 200, url(8080, "/j/one?a=b&c=%22d%22"), "User-Agent", ua, "Referer", referer)
	udp1 := al.mustFetch(al.h1, 200, url(8081, "/u/1"))
	udp2 := al.mustFetch(al.h1, 200, url(8081, "/u/2?k=v"))
	udp3 := al.mustFetch(al.h1, 404, url(8081, "/u/missing"))
	comb := al.mustFetch(al.h1, 200, url(8082, "/c/one?x=1"), "User-Agent", ua, "Referer", referer)
	combMissing := al.mustFetch(al.h1, 404, url(8082, "/c/missing"))
	inh := al.mustFetch(al.h1, 200, url(8083, "/i/one"), "User-Agent", ua)
	tcpR := al.echo(ip+":9000", "hello through vigil\n")

	// (a) haproxy to a file, which web, dead, down and tls share.
	fileSubs := []string{`"GET /f/ok?q=1 HTTP/1.1"`, `"GET /f/missing HTTP/1.1"`, badReq.client.String() + " ",
		`"GET /f/dead HTTP/1.1"`, `"GET /f/down HTTP/1.1"`, `"GET /t/h2?x=2 HTTP/2.0"`, `"GET /t/h1 HTTP/1.1"`}
	file := waitLogLines(t, "the haproxy lines in "+accessFile, logFileLines(accessFile), fileSubs...)
	al.checkHALine(file[0], haWant{client: ok.client, frontend: "web", backend: "web", server: be, status: 200,
		term: "----", request: "GET /f/ok?q=1 HTTP/1.1", timers: "+++++"})
	al.checkHALine(file[1], haWant{client: missing.client, frontend: "web", backend: "web", server: be, status: 404,
		term: "----", request: "GET /f/missing HTTP/1.1", timers: "+++++"})
	// A request refused before any backend: HAProxy's PR, <BADREQ>, no timer but Ta.
	al.checkHALine(file[2], haWant{client: badReq.client, frontend: "web", backend: "web", server: "<NOSRV>", status: 400,
		term: "PR--", request: "<BADREQ>", timers: "----+"})
	// Connection refused by the only backend: a server-side failure
	// while connecting to that server, which the line names (HAProxy's
	// %s is the last server a connection was attempted to), after one
	// connect attempt and no retry (there is no other backend).
	al.checkHALine(file[3], haWant{client: deadR.client, frontend: "dead", backend: "dead", server: dead, status: 502,
		term: "SC--", request: "GET /f/dead HTTP/1.1", timers: "++--+"})
	// No backend up: no server assigned, as HAProxy's "0/-1/-1/-1/0 503 ... SC--".
	al.checkHALine(file[4], haWant{client: downR.client, frontend: "down", backend: "down", server: "<NOSRV>", status: 503,
		term: "SC--", request: "GET /f/down HTTP/1.1", timers: "+---+"})
	// HTTP/2 and TLS: HAProxy's '~' after the frontend, HTTP/2.0 in the request line.
	al.checkHALine(file[5], haWant{client: h2R.client, frontend: "tls", tls: true, backend: "tls", server: be, status: 200,
		term: "----", request: "GET /t/h2?x=2 HTTP/2.0", timers: "+++++"})
	al.checkHALine(file[6], haWant{client: h1tls.client, frontend: "tls", tls: true, backend: "tls", server: be, status: 200,
		term: "----", request: "GET /t/h1 HTTP/1.1", timers: "+++++"})
	fileAll := logFileLines(accessFile)()
	if len(fileAll) != len(fileSubs) {
		t.Errorf("%s has %d lines, want %d:\n%s", accessFile, len(fileAll), len(fileSubs), strings.Join(fileAll, "\n"))
	}

	// (b) json to stdout.
	js := waitLogLines(t, "the JSON line on stdout", stdoutJSONLines(lb), `"path":"/j/one"`)
	al.checkJSON(js[0], jsonR, "json", be, ip+":8080", "/j/one", `a=b&c=%22d%22`, ua, referer)
	if all := stdoutJSONLines(lb)(); len(all) != 1 {
		t.Errorf("stdout has %d JSON lines, want 1:\n%s", len(all), strings.Join(all, "\n"))
	}

	// (c) haproxy to UDP syslog: <PRI> (local0.info), timestamp, host, tag.
	udpMsgs := waitLogLines(t, "the UDP syslog messages", udp.lines, `"GET /u/1 HTTP/1.1"`, `"GET /u/2?k=v HTTP/1.1"`, `"GET /u/missing HTTP/1.1"`)
	for i, r := range []struct {
		rep     alReply
		request string
	}{{udp1, "GET /u/1 HTTP/1.1"}, {udp2, "GET /u/2?k=v HTTP/1.1"}, {udp3, "GET /u/missing HTTP/1.1"}} {
		line := al.checkSyslog(udpMsgs[i], 16*8+6, hostname, lb)
		al.checkHALine(line, haWant{client: r.rep.client, frontend: "udpsys", backend: "udpsys", server: be, status: r.rep.status,
			term: "----", request: r.request, timers: "+++++"})
	}

	// (d) combined to a unix datagram socket, facility local3: no hostname
	// in the header, as syslog(3) sends to /dev/log.
	uxMsgs := waitLogLines(t, "the unix syslog messages", unixSys.lines, `"GET /c/one?x=1 HTTP/1.1"`, `"GET /c/missing HTTP/1.1"`)
	for i, r := range []struct {
		rep          alReply
		request      string
		wantReferer  string // "-" when none was sent
		wantAgentSub string // the start of the User-Agent sent
	}{
		{comb, "GET /c/one?x=1 HTTP/1.1", referer, ua},
		{combMissing, "GET /c/missing HTTP/1.1", "-", "Go-http-client/"},
	} {
		line := al.checkSyslog(uxMsgs[i], 19*8+6, "", lb)
		m := combinedRe.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("not nginx's combined line: %q", line)
			continue
		}
		date, err := time.Parse("02/Jan/2006:15:04:05 -0700", m[2])
		if m[1] != r.rep.client.Addr().String() || m[3] != r.request || haAtoi(m[4]) != r.rep.status || haAtoi(m[5]) != len(r.rep.body) ||
			m[6] != r.wantReferer || !strings.HasPrefix(m[7], r.wantAgentSub) ||
			err != nil || date.Before(al.start.Truncate(time.Second)) || date.After(time.Now().Add(time.Second)) {
			t.Errorf("combined line %q\nwant client %s, request %q, status %d, body bytes %d, referer %q, user agent %q..., a date within the test (%v)",
				line, r.rep.client.Addr(), r.request, r.rep.status, len(r.rep.body), r.wantReferer, r.wantAgentSub, err)
		}
	}

	// (e) a tcp service's tcplog line: Tw/Tc/Tt, bytes to the client, "--"
	// for a connection both sides closed.
	tcpLines := waitLogLines(t, "the tcplog line", logFileLines(tcpFile), tcpR.client.String()+" ")
	al.checkHALine(tcpLines[0], haWant{client: tcpR.client, frontend: "tcp", backend: "tcp", server: al.beAddr(7000),
		bytes: int64(len(tcpR.body)), term: "--", timers: "+++"})

	// (f) log.access for the service without an access_log of its own.
	inhLines := waitLogLines(t, "the inherited default's line", logFileLines(defaultFile), `"path":"/i/one"`)
	al.checkJSON(inhLines[0], inh, "inherit", be, ip+":8083", "/i/one", "", ua, "")
	if all := logFileLines(defaultFile)(); len(all) != 1 {
		t.Errorf("%s has %d lines, want only the inheriting service's:\n%s", defaultFile, len(all), strings.Join(all, "\n"))
	}

	// halog reads the file's lines once a syslog daemon's prefix is in
	// front of them, as it reads HAProxy's.
	var prefixed []string
	for _, l := range fileAll {
		prefixed = append(prefixed, fmt.Sprintf("Dec  7 19:43:03 lb1 vigil[%d]: %s", lb.proc.Pid(), l))
	}
	checkHalogOutput(t, halogBin, "-st", prefixed, 0, "200 3", "400 1", "404 1", "502 1", "503 1")
	checkHalogOutput(t, halogBin, "-tc", prefixed, 0, "-- 4", "PR 1", "SC 2")
	// Per server: the five status classes, other, requests, those without
	// a -1 timer, their share (the average times that follow vary).
	checkHalogOutput(t, halogBin, "-srv", prefixed, 10,
		"#srv_name 1xx 2xx 3xx 4xx 5xx other tot_req req_ok pct_ok",
		"dead/"+dead+" 0 0 0 0 1 0 1 0 0.0",
		"down/<NOSRV> 0 0 0 0 1 0 1 0 0.0",
		"tls/"+be+" 0 2 0 0 0 0 2 2 100.0",
		"web/"+be+" 0 1 0 1 0 0 2 2 100.0",
		"web/<NOSRV> 0 0 0 1 0 0 1 0 0.0")
	// Per URL (halog cuts the query), last URL first: requests and errors
	// (a -1 timer).
	checkHalogOutput(t, halogBin, "-u", prefixed, 2,
		"#req err",
		"1 0", // /t/h2
		"1 0", // /t/h1
		"1 0", // /f/ok
		"1 0", // /f/missing
		"1 1", // /f/down
		"1 1", // /f/dead
		"1 1") // "<BADREQ>"
	urls, _ := runHalog(t, halogBin, "-u", prefixed)
	var urlCol []string
	for _, l := range urls[1:] {
		f := strings.Fields(l)
		urlCol = append(urlCol, f[len(f)-1])
	}
	if want := []string{"/t/h2", "/t/h1", "/f/ok", "/f/missing", "/f/down", "/f/dead", `"<BADREQ>"`}; !slices.Equal(urlCol, want) {
		t.Errorf("halog -u URLs %q, want %q", urlCol, want)
	}

	// UDP datagrams carry timestamp, host and tag already: only <PRI> goes.
	var udpIn []string
	for _, m := range udp.lines() {
		udpIn = append(udpIn, regexp.MustCompile(`^<\d+>`).ReplaceAllString(m, ""))
	}
	checkHalogOutput(t, halogBin, "-st", udpIn, 0, "200 2", "404 1")
	checkHalogOutput(t, halogBin, "-srv", udpIn, 10,
		"#srv_name 1xx 2xx 3xx 4xx 5xx other tot_req req_ok pct_ok",
		"udpsys/"+be+" 0 2 0 1 0 0 3 3 100.0")
}

// TestAccessLogLikeHAProxy: the real HAProxy, in the same host with the
// same backends, logs the same requests as vigil does (HAProxy's own
// "log stdout format raw" with option httplog and option tcplog), and
// each pair of lines has the same fields in the same places: a normal
// exchange, a 404 from the backend, a 503 with no server up, a connection
// refused by the server, a request refused as bad, HTTP/2 over TLS, and
// a TCP connection.
func TestAccessLogLikeHAProxy(t *testing.T) {
	al := newAccessLab(t)
	haproxyBin := needHAProxyTool(t, "haproxy")
	pki := makePKI(t, al.dir, "a.example.test")
	// HAProxy takes the chain and the key in one file.
	pem := filepath.Join(al.dir, "haproxy.pem")
	var both []byte
	for _, f := range pki.files["a.example.test"] {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		both = append(both, b...)
	}
	if err := os.WriteFile(pem, both, 0o600); err != nil {
		t.Fatal(err)
	}

	ip := al.lb.Addr(al.lan).String()
	be, down, dead, echo := al.beAddr(8000), al.beAddr(8998), al.beAddr(8999), al.beAddr(7000)
	accessFile := filepath.Join(al.dir, "access.log")
	toFile := fmt.Sprintf("    access_log: { to: %q, format: haproxy }\n", accessFile)
	cfg := "node: lb\napi: { listen: \"\", socket: \"\" }\nservices:\n" +
		al.service("web", 80, be, toFile) +
		al.service("dead", 81, dead, "    retries: 0\n"+toFile) +
		al.service("down", 82, down, "    check: { type: tcp, interval: 100ms, timeout: 100ms }\n"+toFile) +
		al.service("tls", 443, be, fmt.Sprintf("    tls: { certs: %s, http2: true }\n", pki.certsYAML("a.example.test"))+toFile) +
		fmt.Sprintf("  - name: tcp\n    listen: %s:9000\n    protocol: tcp\n    backends: [%q]\n", ip, echo) + toFile
	al.run(cfg, 5)

	// HAProxy's side: the same five services. A server disabled in the
	// configuration is HAProxy's "no server up" from the start, as a
	// backend failing its check is vigil's. Neither retries a refused
	// connection (HAProxy would wait a second before each retry).
	haCfg := fmt.Sprintf(`global
  log stdout format raw local0
defaults
  log global
  timeout connect 2s
  timeout client 5s
  timeout server 5s
frontend hweb
  mode http
  option httplog
  bind %[1]s:8090
  default_backend hweb
frontend hdown
  mode http
  option httplog
  bind %[1]s:8091
  default_backend hdown
frontend htls
  mode http
  option httplog
  bind %[1]s:8443 ssl crt %[2]s alpn h2,http/1.1
  default_backend hweb
frontend htcp
  mode tcp
  option tcplog
  bind %[1]s:8092
  default_backend htcp
frontend hdead
  mode http
  option httplog
  bind %[1]s:8093
  default_backend hdead
backend hweb
  mode http
  server s1 %[3]s
backend hdown
  mode http
  server s1 %[4]s disabled
backend htcp
  mode tcp
  server s1 %[5]s
backend hdead
  mode http
  retries 0
  server s1 %[6]s
`, ip, pem, be, down, echo, dead)
	haFile := filepath.Join(al.dir, "haproxy.cfg")
	if err := os.WriteFile(haFile, []byte(haCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := al.lb.Exec(haproxyBin, "-c", "-f", haFile); err != nil {
		t.Fatalf("haproxy refuses the configuration: %v\n%s", err, out)
	}
	ha := al.lb.Start(haproxyBin, "-f", haFile, "-db")
	t.Cleanup(func() {
		ha.Kill()
		ha.Wait(5 * time.Second)
	})
	lab.WaitFor(t, 10*time.Second, "haproxy to listen", func() (bool, string) {
		out, _ := al.lb.Exec("ss", "-Hltn")
		for _, port := range []string{"8090", "8091", "8092", "8093", "8443"} {
			if !strings.Contains(out, ip+":"+port+" ") {
				return false, fmt.Sprintf("haproxy %s; listening:\n%s\nhaproxy's output:\n%s", ha.State(), out, ha.Output())
			}
		}
		return true, ""
	})
	url := func(port int, path string) string { return fmt.Sprintf("http://%s:%d%s", ip, port, path) }
	h2c := al.h2Client(pki, "a.example.test")

	type pair struct {
		what           string
		vigil, haproxy alReply
		sub            string // finds the request's line in both logs; "" to find it by client
		tcp            bool
		otherStatus    bool // the statuses differ by design
	}
	var pairs []pair
	twice := func(what string, status, vigilPort, haPort int, path string) {
		pairs = append(pairs, pair{what: what, sub: `"GET ` + path + ` `,
			vigil: al.mustFetch(al.h1, status, url(vigilPort, path)), haproxy: al.mustFetch(al.h1, status, url(haPort, path))})
	}
	twice("a normal exchange", 200, 80, 8090, "/cmp/ok?q=1")
	twice("a 404 from the backend", 404, 80, 8090, "/cmp/missing")
	twice("no server up", 503, 82, 8091, "/cmp/down")
	// A refused connection: vigil answers 502 as nginx does, HAProxy 503;
	// the rest of the line must agree.
	pairs = append(pairs, pair{what: "a connection refused by the server", sub: `"GET /cmp/dead `, otherStatus: true,
		vigil: al.mustFetch(al.h1, 502, url(81, "/cmp/dead")), haproxy: al.mustFetch(al.h1, 503, url(8093, "/cmp/dead"))})
	bad := "GET /\x80 HTTP/1.1\r\nHost: x\r\n\r\n"
	pairs = append(pairs, pair{what: "a bad request", vigil: al.raw(ip+":80", bad), haproxy: al.raw(ip+":8090", bad)})
	pairs = append(pairs, pair{what: "HTTP/2 over TLS", sub: "/cmp/h2 HTTP/2.0",
		vigil: al.mustFetch(h2c, 200, "https://"+ip+"/cmp/h2"), haproxy: al.mustFetch(h2c, 200, "https://"+ip+":8443/cmp/h2")})
	msg := "the same bytes both ways\n"
	pairs = append(pairs, pair{what: "a TCP connection", tcp: true, vigil: al.echo(ip+":9000", msg), haproxy: al.echo(ip+":8092", msg)})

	for _, p := range pairs {
		if p.vigil.status != p.haproxy.status && !p.otherStatus {
			t.Errorf("%s: vigil answered %d, HAProxy %d", p.what, p.vigil.status, p.haproxy.status)
		}
		vsub, hsub := p.sub, p.sub
		if vsub == "" {
			vsub, hsub = p.vigil.client.String()+" ", p.haproxy.client.String()+" "
		}
		vl := waitLogLines(t, "vigil's line for "+p.what, logFileLines(accessFile), vsub)[0]
		hl := waitLogLines(t, "HAProxy's line for "+p.what, func() []string { return haproxyLines(ha.Output()) }, hsub)[0]
		t.Logf("%s:\n  vigil:   %s\n  HAProxy: %s", p.what, vl, hl)
		compareWithHAProxy(t, p.what, vl, hl, p.tcp, p.otherStatus)
	}
}

// compareWithHAProxy checks that a line of vigil's and one of HAProxy's
// for the same request have the same layout, field for field, and say
// the same: status (unless otherStatus), termination, retries, request
// line, which timers ran, TLS, whether a server was named. Names, times
// and the other counters differ.
func compareWithHAProxy(t *testing.T, what, vigil, haproxy string, tcp, otherStatus bool) {
	t.Helper()
	vf, hf := strings.Fields(vigil), strings.Fields(haproxy)
	if len(vf) != len(hf) {
		t.Errorf("%s: vigil's line has %d fields, HAProxy's %d:\n  vigil:   %s\n  HAProxy: %s", what, len(vf), len(hf), vigil, haproxy)
	}
	layout := httplogFields
	if tcp {
		layout = tcplogFields
	}
	for _, side := range []struct {
		who    string
		fields []string
		line   string
	}{{"vigil", vf, vigil}, {"HAProxy", hf, haproxy}} {
		if len(side.fields) < len(layout) {
			t.Errorf("%s: %s's line has %d fields, want at least %d: %s", what, side.who, len(side.fields), len(layout), side.line)
			continue
		}
		for i, re := range layout {
			if !re.MatchString(side.fields[i]) {
				t.Errorf("%s: %s's field %d %q does not match %s: %s", what, side.who, i+1, side.fields[i], re, side.line)
			}
		}
		rest := strings.Join(side.fields[len(layout):], " ")
		if tcp && rest != "" || !tcp && !fieldRequest.MatchString(rest) {
			t.Errorf("%s: %s's line ends in %q: %s", what, side.who, rest, side.line)
		}
	}
	v, err1 := parseHALine(vigil)
	h, err2 := parseHALine(haproxy)
	if err1 != nil || err2 != nil {
		t.Errorf("%s: %v %v", what, err1, err2)
		return
	}
	same := func(field string, a, b any) {
		t.Helper()
		if a != b {
			t.Errorf("%s: %s: vigil %v, HAProxy %v:\n  vigil:   %s\n  HAProxy: %s", what, field, a, b, vigil, haproxy)
		}
	}
	if !otherStatus {
		same("status", v.status, h.status)
	}
	same("termination", v.term, h.term)
	same("retries (%rc)", v.retries(), h.retries())
	same("timers that ran", v.happened(), h.happened())
	same("TLS mark", v.tls, h.tls)
	srv := func(l haLine) string {
		if l.server == "<NOSRV>" {
			return "<NOSRV>"
		}
		return "a server's name"
	}
	same("server field", srv(v), srv(h))
	same("client address", strings.Split(v.client, ":")[0], strings.Split(h.client, ":")[0])
	if tcp {
		same("bytes", v.bytes, h.bytes)
	}
	if strings.HasSuffix(h.request, " HTTP/2.0") {
		// HAProxy 2.6 logs an HTTP/2 request's target in absolute form
		// (https://authority/path), its internal form; vigil logs the
		// path as HTTP/1.1 clients send it, which halog's per-URL
		// statistics group with the other protocols' requests.
		hm, vm := strings.Fields(h.request), strings.Fields(v.request)
		if len(hm) != 3 || len(vm) != 3 || hm[0] != vm[0] || hm[2] != vm[2] || !strings.HasSuffix(hm[1], vm[1]) || !strings.HasPrefix(vm[1], "/") {
			t.Errorf("%s: request lines: vigil %q, HAProxy %q", what, v.request, h.request)
		}
	} else {
		same("request line", v.request, h.request)
	}
}

// TestAccessLogRotateAndReload: logrotate renames the file and sends
// SIGUSR1: the lines written before stay in the renamed file, the later
// ones go to a new file at the configured path, none lost or doubled. A
// reload that leaves a service's log alone keeps it writing where it
// did (the service kept, or rebuilt for another change); one that moves
// a service's log to another file writes there from then on.
func TestAccessLogRotateAndReload(t *testing.T) {
	al := newAccessLab(t)
	ip := al.lb.Addr(al.lan).String()
	be := al.beAddr(8000)
	accessFile, movedFile := filepath.Join(al.dir, "access.log"), filepath.Join(al.dir, "moved.log")
	config := func(otherLog, otherExtra, jsonExtra string) string {
		return "node: lb\napi: { listen: \"\", socket: \"\" }\nservices:\n" +
			al.service("web", 80, be, fmt.Sprintf("    access_log: { to: %q, format: haproxy }\n", accessFile)) +
			al.service("other", 81, be, fmt.Sprintf("    access_log: { to: %q, format: haproxy }\n", otherLog)+otherExtra) +
			al.service("json", 8080, be, "    access_log: { to: stdout, format: json }\n"+jsonExtra)
	}
	lb := al.run(config(accessFile, "", ""), 3)
	url := func(port int, path string) string { return fmt.Sprintf("http://%s:%d%s", ip, port, path) }
	send := func(port int, paths ...string) []string {
		var subs []string
		for _, p := range paths {
			al.mustFetch(al.h1, 200, url(port, p))
			subs = append(subs, `"GET `+p+` HTTP/1.1"`)
		}
		return subs
	}

	// Before: web and other share the file.
	before := append(send(80, "/r/before/1", "/r/before/2"), send(81, "/r/before/3")...)
	waitLogLines(t, "the lines before logrotate", logFileLines(accessFile), before...)

	// logrotate: rename, requests while the old file is still open, SIGUSR1.
	rotated := accessFile + ".1"
	if err := os.Rename(accessFile, rotated); err != nil {
		t.Fatal(err)
	}
	mid := append(send(80, "/r/mid/1", "/r/mid/2"), send(81, "/r/mid/3")...)
	reopened := strings.Count(lb.proc.Output(), `msg="access logs reopened"`)
	if err := lb.proc.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	lb.waitLog(`msg="access logs reopened"`, 5*time.Second)
	if n := strings.Count(lb.proc.Output(), `msg="access logs reopened"`); n != reopened+1 {
		t.Errorf("%d reopen messages after one SIGUSR1", n-reopened)
	}
	after := append(send(80, "/r/after/1", "/r/after/2"), send(81, "/r/after/3")...)
	waitLogLines(t, "the lines after logrotate in the new file", logFileLines(accessFile), after...)
	union := func() []string { return append(logFileLines(rotated)(), logFileLines(accessFile)()...) }
	// Every line exactly once across the two files: the ones written
	// while the file was being rotated may be in either.
	waitLogLines(t, "every line once in the two files", union, slices.Concat(before, mid, after)...)
	old, cur := logFileLines(rotated)(), logFileLines(accessFile)()
	for _, s := range before {
		if len(linesWith(old, s)) != 1 {
			t.Errorf("%s: the line with %s written before the rotation is not there:\n%s", rotated, s, strings.Join(old, "\n"))
		}
	}
	for _, s := range after {
		if len(linesWith(old, s)) != 0 {
			t.Errorf("%s: a line with %s written after SIGUSR1 went to the renamed file", rotated, s)
		}
	}
	if len(old)+len(cur) != len(before)+len(mid)+len(after) {
		t.Errorf("%d lines in %s and %d in %s, want %d in all:\n%s\n--\n%s", len(old), rotated, len(cur), accessFile,
			len(before)+len(mid)+len(after), strings.Join(old, "\n"), strings.Join(cur, "\n"))
	}
	for _, l := range cur {
		if _, err := parseHALine(l); err != nil {
			t.Error(err)
		}
	}

	// Reload 1: web is unchanged (kept); other and json change in what
	// has nothing to do with their logs, so they are rebuilt, and take
	// the same targets over.
	lb.reload(config(accessFile, "    timeouts: { server: 7s }\n", "    timeouts: { server: 7s }\n"), "config reloaded")
	reload1 := append(send(80, "/r/reload1/web"), send(81, "/r/reload1/other")...)
	waitLogLines(t, "the lines after a reload that keeps the log", logFileLines(accessFile), reload1...)
	send(8080, "/r/reload1/json")
	waitLogLines(t, "the JSON line after a reload that keeps the log", stdoutJSONLines(lb), `"path":"/r/reload1/json"`)

	// Reload 2: other's log moves to another file; web's stays.
	lb.reload(config(movedFile, "    timeouts: { server: 7s }\n", "    timeouts: { server: 7s }\n"), "config reloaded")
	webAfter := send(80, "/r/reload2/web")
	otherAfter := send(81, "/r/reload2/other")
	waitLogLines(t, "web's line after other's log moved", logFileLines(accessFile), webAfter...)
	moved := waitLogLines(t, "other's line in its new file", logFileLines(movedFile), otherAfter...)
	if l, err := parseHALine(moved[0]); err != nil || l.frontend != "other" || l.status != 200 || l.term != "----" {
		t.Errorf("other's line in %s: %q %v", movedFile, moved[0], err)
	}
	if got := linesWith(logFileLines(accessFile)(), "/r/reload2/other"); len(got) != 0 {
		t.Errorf("%s still gets other's lines after its log moved:\n%s", accessFile, strings.Join(got, "\n"))
	}
	if all := logFileLines(movedFile)(); len(all) != 1 {
		t.Errorf("%s has %d lines, want only the one after the move:\n%s", movedFile, len(all), strings.Join(all, "\n"))
	}
	send(8080, "/r/reload2/json")
	waitLogLines(t, "the JSON line after the second reload", stdoutJSONLines(lb), `"path":"/r/reload2/json"`)
	if strings.Contains(lb.proc.Output(), "access log lines dropped") {
		t.Errorf("vigil dropped access log lines:\n%s", lb.proc.Output())
	}
}
