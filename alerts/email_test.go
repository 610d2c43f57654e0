package alerts

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/alerts/smtptest"
)

func smtpServer(t *testing.T, opts smtptest.Options) *smtptest.Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := smtptest.Serve(ln, opts)
	t.Cleanup(s.Close)
	return s
}

func emailSender(t *testing.T, server string, gather time.Duration) *Sender {
	m, err := NewEmail(server, "vigil@lb1.example.com", []string{"ops@example.com", "oncall@example.com"}, "lb1", testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	s := NewSender(m, SenderOptions{QueueSize: QueueSize, Timeout: 5 * time.Second, MaxBatch: emailMaxBatch, Gather: gather, Log: testLog(t)})
	s.backoff = backoff{first: 10 * time.Millisecond, most: 50 * time.Millisecond, attempts: 4}
	return s
}

var failover = Event{Node: "lb1", Kind: "vrrp", Subject: "VI_1", From: "BACKUP", To: "MASTER", Reason: "master down timer expired", Time: t0}

func TestEmailDelivers(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts smtptest.Options
		tls  bool
	}{
		{"plain, no STARTTLS offered", smtptest.Options{}, false},
		{"STARTTLS offered, self-signed", smtptest.Options{TLS: selfSigned(t)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtpServer(t, tc.opts)
			s := emailSender(t, srv.Addr(), 0)
			runSender(t, s)
			s.Enqueue(failover)
			// The server keeps the mail before it answers: wait for both.
			waitFor(t, "the mail", func() bool { return len(srv.Mails()) == 1 && s.Stats().Sent == 1 })
			got := srv.Mails()[0]
			if got.From != "vigil@lb1.example.com" || !slices.Equal(got.To, []string{"ops@example.com", "oncall@example.com"}) || got.TLS != tc.tls {
				t.Errorf("envelope from %q to %v (TLS %v)", got.From, got.To, got.TLS)
			}
			msg, err := mail.ReadMessage(strings.NewReader(got.Data))
			if err != nil {
				t.Fatalf("%v\n%s", err, got.Data)
			}
			if subject := msg.Header.Get("Subject"); subject != "[vigil lb1] VI_1 BACKUP -> MASTER" {
				t.Errorf("subject %q", subject)
			}
			if !strings.Contains(got.Data, "vrrp VI_1 BACKUP -> MASTER\n    reason: master down timer expired") {
				t.Errorf("body lacks the event and its reason:\n%s", got.Data)
			}
		})
	}
}

// Events within the gather window share one mail.
func TestEmailBatches(t *testing.T) {
	srv := smtpServer(t, smtptest.Options{})
	s := emailSender(t, srv.Addr(), 300*time.Millisecond)
	runSender(t, s)
	s.Enqueue(failover)
	s.Enqueue(Event{Kind: "service", Subject: "web", From: "down", To: "up", Reason: "1 of 2 backends up", Time: t0})
	s.Enqueue(Event{Kind: "backend", Subject: "web/10.0.0.21:80", From: "down", To: "up", Reason: "status 200", Time: t0})
	waitFor(t, "the mail", func() bool { return s.Stats().Sent == 3 })
	mails := srv.Mails()
	if len(mails) != 1 {
		t.Fatalf("%d mails, want the 3 events in 1", len(mails))
	}
	msg, _ := mail.ReadMessage(strings.NewReader(mails[0].Data))
	if subject := msg.Header.Get("Subject"); subject != "[vigil lb1] VI_1 BACKUP -> MASTER (+2 more)" {
		t.Errorf("subject %q", subject)
	}
	for _, want := range []string{"vrrp VI_1 BACKUP -> MASTER", "service web down -> up", "backend web/10.0.0.21:80 down -> up"} {
		if !strings.Contains(mails[0].Data, want) {
			t.Errorf("mail lacks %q", want)
		}
	}
}

func TestEmailRetries(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply func(verb string, n int) string
		mails int
		tries int // MAIL commands seen
	}{
		{"451 then accepted", func(verb string, n int) string {
			if verb == "MAIL" && n == 1 {
				return "451 4.3.0 try again later"
			}
			return ""
		}, 1, 2},
		{"550 for every recipient is not retried", func(verb string, n int) string {
			if verb == "RCPT" {
				return "550 5.1.1 no such user"
			}
			return ""
		}, 0, 1},
		{"550 for one recipient: the others get it", func(verb string, n int) string {
			if verb == "RCPT" && n == 1 {
				return "550 5.1.1 no such user"
			}
			return ""
		}, 1, 1},
		{"554 for the message is not retried", func(verb string, n int) string {
			if verb == "DATA" {
				return "554 5.7.1 rejected"
			}
			return ""
		}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tries := 0
			srv := smtpServer(t, smtptest.Options{Reply: func(verb string, n int) string {
				if verb == "MAIL" {
					tries = n
				}
				return tc.reply(verb, n)
			}})
			s := emailSender(t, srv.Addr(), 0)
			runSender(t, s)
			s.Enqueue(failover)
			waitFor(t, "the outcome", func() bool { st := s.Stats(); return st.Sent+st.Failed == 1 })
			time.Sleep(100 * time.Millisecond)
			srv.Close()
			if len(srv.Mails()) != tc.mails || tries != tc.tries {
				t.Errorf("%d mails after %d tries, want %d after %d", len(srv.Mails()), tries, tc.mails, tc.tries)
			}
		})
	}
}

// A server that never greets is bounded by the attempt's timeout.
func TestEmailSilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	m, _ := NewEmail(ln.Addr().String(), "a@example.com", []string{"b@example.com"}, "lb1", testLog(t))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := m.Deliver(ctx, []Event{failover}); err == nil {
		t.Fatal("delivered to a server that said nothing")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("gave up after %v, timeout 200ms", took)
	}
}

// selfSigned is a TLS config with a throwaway certificate, as an internal
// relay might have.
func selfSigned(t *testing.T) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"relay.internal"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}
