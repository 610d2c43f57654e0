package alerts

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"net/textproto"
	"regexp"
	"sync/atomic"
	"time"
)

// Email sends events as mail through one SMTP server, as keepalived's
// smtp_server and notification_email do: plain SMTP on the server's
// host:port, upgraded with STARTTLS when the server offers it, no
// authentication. A batch is one mail (subjectLine, mailBody).
type Email struct {
	server string
	host   string // server without the port, for TLS
	from   string
	to     []string
	node   string
	helo   string
	log    *slog.Logger
	seq    atomic.Uint64 // for Message-IDs
}

// NewEmail makes a mail sink sending from from to every address in to,
// through server (host:port). node names the sender in subjects and in
// the EHLO greeting; log gets the recipients the server refuses.
func NewEmail(server, from string, to []string, node string, log *slog.Logger) (*Email, error) {
	host, _, err := net.SplitHostPort(server)
	if err != nil {
		return nil, fmt.Errorf("smtp server %q: %w", server, err)
	}
	helo := "localhost"
	if hostnameRE.MatchString(node) {
		helo = node
	}
	return &Email{server: server, host: host, from: from, to: to, node: node, helo: helo, log: log}, nil
}

var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$`)

// Name is "email" and the server's host:port.
func (m *Email) Name() string { return "email " + m.server }

// Deliver sends one mail carrying batch. A 5xx reply (the server refuses
// the sender, every recipient or the message) is permanent; anything else
// that fails is worth another attempt. A recipient the server refuses for
// good is left out and logged: one address gone stale must not silence
// the alerts to the others.
func (m *Email) Deliver(ctx context.Context, batch []Event) error {
	err := m.send(ctx, batch)
	var reply *textproto.Error
	if errors.As(err, &reply) && reply.Code >= 500 {
		return permanent(err)
	}
	return err
}

func (m *Email) send(ctx context.Context, batch []Event) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.server)
	if err != nil {
		return err
	}
	defer conn.Close()
	// net/smtp has no context: bound the conversation by ctx's deadline,
	// and end it when ctx is cancelled.
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	defer context.AfterFunc(ctx, func() { conn.Close() })()

	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(m.helo); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		// Opportunistic, as mail relays do by default (RFC 7435, postfix's
		// "may"): it keeps the alerts from passive eavesdroppers without
		// failing on the self-signed certificate of an internal relay that
		// keepalived, which never used TLS, could send through. No
		// credentials are sent, so there is nothing for a man in the
		// middle to take that plain SMTP would not give him.
		if err := c.StartTLS(&tls.Config{ServerName: m.host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if err := c.Mail(m.from); err != nil {
		return fmt.Errorf("MAIL FROM:<%s>: %w", m.from, err)
	}
	var refused error
	accepted := 0
	for _, to := range m.to {
		err := c.Rcpt(to)
		var reply *textproto.Error
		switch {
		case err == nil:
			accepted++
		case errors.As(err, &reply) && reply.Code >= 500:
			refused = fmt.Errorf("RCPT TO:<%s>: %w", to, err)
			m.log.Error("SMTP server refuses an alert recipient", "sink", m.Name(), "err", refused)
		default:
			return fmt.Errorf("RCPT TO:<%s>: %w", to, err)
		}
	}
	if accepted == 0 {
		return refused
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	now := time.Now()
	msg := envelope{from: m.from, to: m.to, date: now, msgID: fmt.Sprintf("%d.%d.vigil@%s", now.UnixNano(), m.seq.Add(1), m.helo)}
	if _, err := w.Write(msg.message(m.node, batch)); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	// The mail is accepted once DATA ends well; a failed QUIT changes
	// nothing, and retrying would send it twice.
	c.Quit()
	return nil
}
