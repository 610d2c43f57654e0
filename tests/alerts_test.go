package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"vigil/alerts/smtptest"
	"vigil/tests/lab"
)

// hookSink is a webhook receiver run by the test: it keeps every body
// and the headers that came with it.
type hookSink struct {
	mu     sync.Mutex
	bodies []map[string]any
	tokens []string // X-Token header per request
}

func (h *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		body = map[string]any{"unparsable": string(b)}
	}
	h.mu.Lock()
	h.bodies = append(h.bodies, body)
	h.tokens = append(h.tokens, r.Header.Get("X-Token"))
	h.mu.Unlock()
}

// find is the first body from node about subject going from -> to.
func (h *hookSink) find(node, subject, from, to string) (map[string]any, string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, b := range h.bodies {
		if b["node"] == node && b["kind"] == "vrrp" && b["subject"] == subject && b["from"] == from && b["to"] == to {
			return b, h.tokens[i], true
		}
	}
	return nil, "", false
}

func (h *hookSink) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, b := range h.bodies {
		out = append(out, fmt.Sprintf("%v %v %v->%v", b["node"], b["subject"], b["from"], b["to"]))
	}
	return fmt.Sprintf("%d webhook events: %s", len(out), strings.Join(out, "; "))
}

// mailWithSubject is the first mail the sink accepted with this subject.
func mailWithSubject(s *smtptest.Server, subject string) (smtptest.Mail, *mail.Message, bool) {
	for _, m := range s.Mails() {
		msg, err := mail.ReadMessage(strings.NewReader(m.Data))
		if err == nil && msg.Header.Get("Subject") == subject {
			return m, msg, true
		}
	}
	return smtptest.Mail{}, nil, false
}

func mailSubjects(s *smtptest.Server) string {
	var out []string
	for _, m := range s.Mails() {
		if msg, err := mail.ReadMessage(strings.NewReader(m.Data)); err == nil {
			out = append(out, msg.Header.Get("Subject"))
		}
	}
	return fmt.Sprintf("%d mails: %q", len(out), out)
}

// TestAlertsOnFailover runs a pair with alerts to a webhook receiver and an
// SMTP server, both run by the test in the client's namespace. Killing the
// master makes the backup report BACKUP -> MASTER with its reason by
// webhook (the documented JSON, the header a reload configured) and by
// mail; a graceful stop then still delivers the new master's last
// transition.
func TestAlertsOnFailover(t *testing.T) {
	p := newPair(t)
	hooks := &hookSink{}
	var hookLn, smtpLn net.Listener
	if err := p.cli.Do(func() (err error) {
		if hookLn, err = net.Listen("tcp", p.cli.Addr(p.lan).String()+":0"); err != nil {
			return err
		}
		smtpLn, err = net.Listen("tcp", p.cli.Addr(p.lan).String()+":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	hookSrv := &http.Server{Handler: hooks}
	go hookSrv.Serve(hookLn)
	t.Cleanup(func() { hookSrv.Close() })
	smtp := smtptest.Serve(smtpLn, smtptest.Options{})
	t.Cleanup(smtp.Close)

	alertsYAML := func(token string) string {
		return fmt.Sprintf(`alerts:
  webhooks:
    - url: http://%s/vigil?token=in-the-query
      headers: { X-Token: %s }
      timeout: 2s
  email:
    smtp_server: %s
    from: vigil@lb.example.com
    to: [ops@example.com, oncall@example.com]
`, hookLn.Addr(), token, smtpLn.Addr())
	}
	cfg := func(node string, prio int, token string) string {
		return nodeConfig(node, instanceYAML("VI_1", 51, prio, "100ms", "10.0.0.100/24", "")) + alertsYAML(token)
	}
	lb1 := startVigil(t, p.lb1, cfg("lb1", 150, "s3cret"))
	lb2 := startBackup(t, lb1, p.lb2, cfg("lb2", 100, "s3cret"))
	lb2.waitLog(`msg="alerts on" sinks="webhook http://`+hookLn.Addr().String()+`/vigil, email `+smtpLn.Addr().String()+`"`, time.Second)

	// The backup's start is alerted too; waiting for its mail keeps the
	// failover's mail from sharing it (events within 1 s make one mail).
	lab.WaitFor(t, 10*time.Second, "lb2's INIT -> BACKUP mail", func() (bool, string) {
		_, _, ok := mailWithSubject(smtp, "[vigil lb2] VI_1 INIT -> BACKUP")
		return ok, mailSubjects(smtp)
	})

	// A reload replaces the alert senders: the failover below goes out
	// with the rotated header.
	lb2.reload(cfg("lb2", 100, "r0tated"), "config reloaded")

	lb1.proc.Kill()
	var body map[string]any
	var token string
	lab.WaitFor(t, 10*time.Second, "lb2's webhook to report BACKUP -> MASTER", func() (bool, string) {
		var ok bool
		body, token, ok = hooks.find("lb2", "VI_1", "BACKUP", "MASTER")
		return ok, hooks.String()
	})
	// The reason is the one lb2 logged for its transition.
	re := regexp.MustCompile(`msg=transition instance=VI_1 from=BACKUP to=MASTER reason="([^"]*)"`)
	var m []string
	lab.WaitFor(t, 5*time.Second, "lb2 to log its BACKUP -> MASTER transition", func() (bool, string) {
		m = re.FindStringSubmatch(lb2.proc.Output())
		return m != nil, lb2.proc.State()
	})
	reason := m[1]
	if body["reason"] != reason || reason == "" {
		t.Errorf("webhook reason %q, want lb2's %q", body["reason"], reason)
	}
	var keys []string
	for k := range body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"from", "kind", "node", "reason", "subject", "time", "to"}; !slices.Equal(keys, want) {
		t.Errorf("webhook body has %v, want exactly %v", keys, want)
	}
	if at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(body["time"])); err != nil || time.Since(at) > time.Minute || !strings.HasSuffix(fmt.Sprint(body["time"]), "Z") {
		t.Errorf("webhook time %v: %v", body["time"], err)
	}
	if token != "r0tated" {
		t.Errorf("webhook X-Token header %q, want r0tated, configured by the reload", token)
	}

	var got smtptest.Mail
	lab.WaitFor(t, 10*time.Second, "lb2's BACKUP -> MASTER mail", func() (bool, string) {
		var ok bool
		got, _, ok = mailWithSubject(smtp, "[vigil lb2] VI_1 BACKUP -> MASTER")
		return ok, mailSubjects(smtp)
	})
	if got.From != "vigil@lb.example.com" || !slices.Equal(got.To, []string{"ops@example.com", "oncall@example.com"}) {
		t.Errorf("mail from %q to %v", got.From, got.To)
	}
	if want := "vrrp VI_1 BACKUP -> MASTER\n    reason: " + reason; !strings.Contains(got.Data, want) {
		t.Errorf("mail body lacks %q:\n%s", want, got.Data)
	}

	// A graceful stop: lb2 resigns, and its last transition goes out
	// before the process exits.
	if err := lb2.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, ok := lb2.proc.Wait(15 * time.Second); !ok {
		t.Fatalf("lb2 did not exit after SIGTERM: %s", lb2.proc.State())
	}
	if _, _, ok := hooks.find("lb2", "VI_1", "MASTER", "INIT"); !ok {
		t.Errorf("lb2 exited without alerting MASTER -> INIT: %s\n%s", hooks, lb2.proc.Output())
	}
	if _, _, ok := mailWithSubject(smtp, "[vigil lb2] VI_1 MASTER -> INIT"); !ok {
		t.Errorf("lb2 exited without mailing MASTER -> INIT: %s", mailSubjects(smtp))
	}
}
