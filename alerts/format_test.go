package alerts

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 24, 0, 1, 2, 345e6, time.UTC)

func TestSubjectLine(t *testing.T) {
	vrrp := Event{Kind: "vrrp", Subject: "VI_1", From: "BACKUP", To: "MASTER"}
	backend := Event{Kind: "backend", Subject: "web/10.0.0.21:80", From: "up", To: "down"}
	for _, tc := range []struct {
		batch []Event
		want  string
	}{
		{[]Event{vrrp}, "[vigil lb1] VI_1 BACKUP -> MASTER"},
		{[]Event{backend}, "[vigil lb1] web/10.0.0.21:80 up -> down"},
		{[]Event{vrrp, backend, backend}, "[vigil lb1] VI_1 BACKUP -> MASTER (+2 more)"},
		{nil, "[vigil lb1] no events"},
	} {
		if got := subjectLine("lb1", tc.batch); got != tc.want {
			t.Errorf("subjectLine = %q, want %q", got, tc.want)
		}
	}
}

func TestMailMessage(t *testing.T) {
	batch := []Event{
		{Kind: "vrrp", Subject: "VI_1", From: "BACKUP", To: "MASTER", Reason: "master down timer expired", Time: t0},
		{Kind: "service", Subject: "web", From: "down", To: "up", Reason: "2 of 2 backends up", Time: t0.Add(time.Second)},
	}
	m := envelope{from: "vigil@example.com", to: []string{"ops@example.com", "oncall@example.com"}, date: t0, msgID: "1.1.vigil@lb1"}
	raw := m.message("lb1", batch)
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("a line ends in a bare LF:\n%q", raw)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not an RFC 5322 message: %v\n%s", err, raw)
	}
	for name, want := range map[string]string{
		"From":         "vigil@example.com",
		"To":           "ops@example.com, oncall@example.com",
		"Subject":      "[vigil lb1] VI_1 BACKUP -> MASTER (+1 more)",
		"Message-Id":   "<1.1.vigil@lb1>",
		"Content-Type": "text/plain; charset=utf-8",
	} {
		if got := msg.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if date, err := msg.Header.Date(); err != nil || !date.Equal(t0.Truncate(time.Second)) {
		t.Errorf("Date: %v, %v; want %v", date, err, t0)
	}
	body, _ := io.ReadAll(msg.Body)
	for _, want := range []string{
		"vigil on lb1 reports:",
		"2026-11-24 00:01:02.345 UTC  vrrp VI_1 BACKUP -> MASTER\r\n    reason: master down timer expired",
		"2026-11-24 00:01:03.345 UTC  service web down -> up\r\n    reason: 2 of 2 backends up",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

// A subject or reason from an event cannot add headers, and non-ASCII
// names survive in an encoded subject.
func TestMailMessageHostileEvent(t *testing.T) {
	e := Event{Kind: "backend", Subject: "wéb\r\nBcc: victim@example.com", From: "up", To: "down", Reason: "x\r\n.\r\nQUIT", Time: t0}
	raw := envelope{from: "a@example.com", to: []string{"b@example.com"}, date: t0, msgID: "x@y"}.message("lb1", []Event{e})
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if bcc := msg.Header.Get("Bcc"); bcc != "" {
		t.Errorf("an event injected a Bcc header: %q", bcc)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "[vigil lb1] wéb  Bcc: victim@example.com up -> down" {
		t.Errorf("subject %q, %v", subject, err)
	}
}

func TestEventJSON(t *testing.T) {
	e := Event{Node: "lb2", Kind: "vrrp", Subject: "VI_1", From: "BACKUP", To: "MASTER", Reason: "master down", Time: t0}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"node":"lb2","kind":"vrrp","subject":"VI_1","from":"BACKUP","to":"MASTER","reason":"master down","time":"2026-11-24T00:01:02.345Z"}`
	if string(b) != want {
		t.Errorf("JSON body\n got %s\nwant %s", b, want)
	}
	// Empty fields stay in the body: receivers can rely on its shape.
	b, _ = json.Marshal(Event{Time: t0})
	if want := `{"node":"","kind":"","subject":"","from":"","to":"","reason":"","time":"2026-11-24T00:01:02.345Z"}`; string(b) != want {
		t.Errorf("empty event\n got %s\nwant %s", b, want)
	}
}
