package accesslog

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// facilityNames are syslog(3)'s facilities by code; codes 12 to 15 have
// no name there, and local0 is 16.
var facilityNames = [...]string{
	0: "kern", 1: "user", 2: "mail", 3: "daemon", 4: "auth", 5: "syslog", 6: "lpr", 7: "news",
	8: "uucp", 9: "cron", 10: "authpriv", 11: "ftp",
	16: "local0", 17: "local1", 18: "local2", 19: "local3", 20: "local4", 21: "local5", 22: "local6", 23: "local7",
}

// parseFacility returns the facility's code; "" is local0, the facility
// HAProxy's documentation logs to.
func parseFacility(s string) (int, error) {
	if s == "" {
		return 16, nil
	}
	for code, name := range facilityNames {
		if name != "" && name == s {
			return code, nil
		}
	}
	return 0, fmt.Errorf("access log: syslog facility %q: want kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp or local0..local7", s)
}

const (
	// severityInfo is the severity of every access log line.
	severityInfo = 6
	// maxDatagram caps a syslog message, header included: rsyslog and
	// syslog-ng take 8 KiB by default, and a longer datagram would be cut
	// or refused by them anyway.
	maxDatagram = 8192
	// syslogTimeout bounds one batch's sends, so a syslog daemon that
	// stops reading its socket cannot hold the writer (and Close) forever.
	syslogTimeout = 5 * time.Second
)

// syslogOut sends one RFC 3164 datagram per line:
//
//	<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MESSAGE
//
// over UDP, and without HOSTNAME to a local socket, as glibc's syslog(3)
// does (the local daemon adds it).
type syslogOut struct {
	network, addr string
	pri           int
	host          string // "" for a local socket
	tag           string // "vigil[PID]: "

	conn   net.Conn // nil: dial before the next batch
	clock  clock
	header []byte // "<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: " for clock's second
	dgram  []byte
}

// newSyslogOut parses "syslog://HOST[:PORT]" or "syslog:///PATH" and dials it.
func newSyslogOut(target string, facility int) (*syslogOut, error) {
	rest := strings.TrimPrefix(target, "syslog://")
	o := &syslogOut{
		pri:   facility*8 + severityInfo,
		tag:   "vigil[" + strconv.Itoa(os.Getpid()) + "]: ",
		dgram: make([]byte, 0, maxDatagram),
	}
	if strings.HasPrefix(rest, "/") {
		o.network, o.addr = "unixgram", rest
	} else {
		if rest == "" || strings.ContainsAny(rest, "/?#@") {
			return nil, fmt.Errorf("access log %q: want syslog://HOST[:PORT] or syslog:///PATH", target)
		}
		host, port, err := net.SplitHostPort(rest)
		if err != nil {
			host, port = strings.Trim(rest, "[]"), "514"
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || host == "" {
			return nil, fmt.Errorf("access log %q: want syslog://HOST[:PORT] with a port in 1..65535", target)
		}
		o.network, o.addr = "udp", net.JoinHostPort(host, port)
		if o.host, err = os.Hostname(); err != nil || o.host == "" {
			o.host = "localhost"
		}
	}
	if err := o.dial(); err != nil {
		return nil, fmt.Errorf("access log %s: %w", target, err)
	}
	return o, nil
}

func (o *syslogOut) dial() error {
	c, err := net.DialTimeout(o.network, o.addr, syslogTimeout)
	if err != nil {
		return err
	}
	o.conn = c
	return nil
}

// stamp sets the header for now's second.
func (o *syslogOut) stamp(now time.Time) {
	if o.clock.ok && o.clock.unix == now.Unix() && len(o.header) > 0 {
		return
	}
	c := o.clock.at(now)
	h := append(o.header[:0], '<')
	h = strconv.AppendInt(h, int64(o.pri), 10)
	h = append(h, '>')
	h = append(h, c.monthName()...)
	h = append(h, ' ')
	if c.day < 10 {
		h = append(h, ' ', byte('0'+c.day)) // RFC 3164 pads the day with a space
	} else {
		h = append2(h, c.day)
	}
	h = append(h, ' ')
	h = c.appendHMS(h)
	h = append(h, ' ')
	if o.host != "" {
		h = append(h, o.host...)
		h = append(h, ' ')
	}
	o.header = append(h, o.tag...)
}

func (o *syslogOut) write(batch []byte) (int, error) {
	if o.conn == nil {
		if err := o.dial(); err != nil {
			return 0, err
		}
	}
	now := time.Now()
	o.stamp(now)
	if err := o.conn.SetWriteDeadline(now.Add(syslogTimeout)); err != nil {
		o.drop()
		return 0, err
	}
	done := 0
	for done < len(batch) {
		line, next := batch[done:], len(batch)-done
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line, next = line[:i], i+1
		}
		d := append(o.dgram[:0], o.header...)
		if room := maxDatagram - len(d); len(line) > room {
			line = line[:max(room, 0)]
		}
		d = append(d, line...)
		o.dgram = d
		if _, err := o.conn.Write(d); err != nil {
			// The daemon restarted, its socket moved, or ICMP said
			// nobody listens: dial again before the next batch.
			o.drop()
			return done, err
		}
		done += next
	}
	return done, nil
}

func (o *syslogOut) drop() {
	o.conn.Close()
	o.conn = nil
}

func (o *syslogOut) reopen() error {
	old := o.conn
	if err := o.dial(); err != nil {
		return err
	}
	if old != nil {
		old.Close()
	}
	return nil
}

func (o *syslogOut) close() error {
	if o.conn == nil {
		return nil
	}
	err := o.conn.Close()
	o.conn = nil
	return err
}
