// Package smtptest is a small SMTP server for tests: enough of RFC 5321
// (EHLO/HELO, optional STARTTLS, MAIL, RCPT, DATA, RSET, NOOP, QUIT) to
// receive the mails alerts send, on a listener the test chooses (one
// opened inside a network namespace, say). It exists so the unit tests
// and the end-to-end tests share one fake rather than two.
package smtptest

import (
	"crypto/tls"
	"net"
	"net/textproto"
	"strings"
	"sync"
)

// Mail is one message the server accepted.
type Mail struct {
	// From is the MAIL FROM address, To the RCPT TO addresses, in order.
	From string
	To   []string
	// Data is the message text, dot-stuffing undone, lines ending in LF.
	Data string
	// TLS tells whether the mail came after STARTTLS.
	TLS bool
}

// Options shape the server's behaviour.
type Options struct {
	// TLS, when set, makes the server offer STARTTLS with this config.
	TLS *tls.Config
	// Reply, when set, may override the reply to a command: given the
	// command's verb ("MAIL", "RCPT", "DATA" for the end of the message)
	// and how many times that verb was seen so far (1-based, across
	// sessions), it returns a full reply line ("451 try later"), or "" for
	// the normal one.
	Reply func(verb string, n int) string
}

// Server is a running fake SMTP server.
type Server struct {
	ln   net.Listener
	opts Options
	wg   sync.WaitGroup

	mu    sync.Mutex
	mails []Mail
	seen  map[string]int
	conns map[net.Conn]struct{}
}

// Serve accepts SMTP sessions on ln until Close.
func Serve(ln net.Listener, opts Options) *Server {
	s := &Server{ln: ln, opts: opts, seen: map[string]int{}, conns: map[net.Conn]struct{}{}}
	s.wg.Go(s.accept)
	return s
}

// Addr is the listener's address, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Mails returns the mails accepted so far, in order.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Close stops the listener and every session, and waits for them.
func (s *Server) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.session(c)
		})
	}
}

// reply is the override for verb, if any, counting the verb.
func (s *Server) reply(verb, normal string) string {
	s.mu.Lock()
	s.seen[verb]++
	n := s.seen[verb]
	s.mu.Unlock()
	if s.opts.Reply != nil {
		if r := s.opts.Reply(verb, n); r != "" {
			return r
		}
	}
	return normal
}

func (s *Server) session(c net.Conn) {
	tp := textproto.NewConn(c)
	var m Mail
	secure := false
	say := func(line string) bool { return tp.PrintfLine("%s", line) == nil }
	if !say("220 smtptest ESMTP") {
		return
	}
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			ext := []string{"250-smtptest", "250-8BITMIME"}
			if s.opts.TLS != nil && !secure {
				ext = append(ext, "250-STARTTLS")
			}
			ext = append(ext, "250 SMTPUTF8")
			for _, l := range ext {
				if !say(l) {
					return
				}
			}
		case "HELO", "NOOP":
			say("250 ok")
		case "STARTTLS":
			if s.opts.TLS == nil || secure {
				say("502 not offered")
				continue
			}
			say("220 go ahead")
			tc := tls.Server(c, s.opts.TLS)
			if tc.Handshake() != nil {
				return
			}
			s.mu.Lock()
			s.conns[tc] = struct{}{}
			s.mu.Unlock()
			defer func() { s.mu.Lock(); delete(s.conns, tc); s.mu.Unlock() }()
			tp = textproto.NewConn(tc)
			secure, m = true, Mail{}
		case "MAIL":
			m = Mail{From: address(arg)}
			say(s.reply("MAIL", "250 ok"))
		case "RCPT":
			r := s.reply("RCPT", "250 ok")
			if strings.HasPrefix(r, "2") {
				m.To = append(m.To, address(arg))
			}
			say(r)
		case "DATA":
			if !say("354 end with <CRLF>.<CRLF>") {
				return
			}
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			r := s.reply("DATA", "250 queued")
			if strings.HasPrefix(r, "2") {
				m.Data, m.TLS = string(data), secure
				s.mu.Lock()
				s.mails = append(s.mails, m)
				s.mu.Unlock()
			}
			m = Mail{}
			say(r)
		case "RSET":
			m = Mail{}
			say("250 ok")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("500 unknown command")
		}
	}
}

// address takes the address out of "FROM:<a@b> SIZE=1" or "TO:<a@b>".
func address(arg string) string {
	_, rest, _ := strings.Cut(arg, ":")
	rest, _, _ = strings.Cut(strings.TrimSpace(rest), " ")
	return strings.Trim(rest, "<>")
}
