package alerts

import (
	"bytes"
	"fmt"
	"mime"
	"strings"
	"time"
)

// subjectLine is a mail's subject: the node, then the first event as
// "SUBJECT FROM -> TO", and how many more events the mail carries, e.g.
// "[vigil lb1] VI_1 BACKUP -> MASTER (+2 more)".
func subjectLine(node string, batch []Event) string {
	if len(batch) == 0 {
		return fmt.Sprintf("[vigil %s] no events", node)
	}
	s := fmt.Sprintf("[vigil %s] %s", node, change(batch[0]))
	if len(batch) > 1 {
		s += fmt.Sprintf(" (+%d more)", len(batch)-1)
	}
	return s
}

// change is an event in words: "VI_1 BACKUP -> MASTER".
func change(e Event) string {
	return fmt.Sprintf("%s %s -> %s", e.Subject, e.From, e.To)
}

// mailBody lists the events, oldest first, each with its time, kind and
// reason, as plain text lines.
func mailBody(node string, batch []Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "vigil on %s reports:\n", node)
	for _, e := range batch {
		fmt.Fprintf(&b, "\n%s  %s %s\n", e.Time.UTC().Format("2006-01-02 15:04:05.000 MST"), e.Kind, change(e))
		if e.Reason != "" {
			fmt.Fprintf(&b, "    reason: %s\n", e.Reason)
		}
	}
	return b.String()
}

// envelope is what one alert mail carries besides its events.
type envelope struct {
	from  string
	to    []string
	date  time.Time
	msgID string // without the angle brackets
}

// message renders the RFC 5322 text of a mail carrying batch, lines ending
// in CRLF. Header values that came from events are kept to one line, so a
// reason cannot inject headers, and non-ASCII is encoded (RFC 2047).
func (m envelope) message(node string, batch []Event) []byte {
	var b bytes.Buffer
	header := func(name, value string) {
		fmt.Fprintf(&b, "%s: %s\r\n", name, oneLine(value))
	}
	header("From", m.from)
	header("To", strings.Join(m.to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", oneLine(subjectLine(node, batch))))
	header("Date", m.date.Format(time.RFC1123Z))
	header("Message-ID", "<"+m.msgID+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "8bit")
	header("Auto-Submitted", "auto-generated") // RFC 3834: no vacation replies
	b.WriteString("\r\n")
	for line := range strings.Lines(mailBody(node, batch)) {
		b.WriteString(strings.TrimRight(line, "\r\n"))
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// oneLine replaces line breaks (and other control characters) by spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
