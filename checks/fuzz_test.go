package checks

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// FuzzParseDNSReply feeds arbitrary datagrams to the only parser of
// untrusted bytes in the package. It must never panic, and its verdicts must
// be consistent: a datagram that is not ours decides nothing; one that is
// always says why. The seed corpus in testdata/fuzz/FuzzParseDNSReply holds
// real replies (one and two A answers, NXDOMAIN, empty NOERROR, truncated,
// compressed names) for the fuzzer to mutate.
func FuzzParseDNSReply(f *testing.F) {
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("ok.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	f.Add(dnsReplyForTest(f, 0x1234, q, dnsmessage.RCodeSuccess, 1))
	f.Add(dnsReplyForTest(f, 0x1234, q, dnsmessage.RCodeNameError, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		// Take the id from the datagram so mutations get past the id check
		// and into the sections.
		var id uint16
		if len(msg) >= 2 {
			id = binary.BigEndian.Uint16(msg)
		}
		r, ours := parseDNSReply(msg, id, q)
		if !ours && (r.ok || r.reason != "") {
			t.Fatalf("a datagram that is not ours decided: %+v", r)
		}
		if ours && r.reason == "" {
			t.Fatalf("a verdict without a reason: %+v", r)
		}
		if r.ok {
			// An accepted reply must really parse and carry an A answer.
			var p dnsmessage.Parser
			h, err := p.Start(msg)
			if err != nil || h.RCode != dnsmessage.RCodeSuccess || !h.Response {
				t.Fatalf("accepted a reply that is not a NOERROR response: %v %+v", err, h)
			}
		}
	})
}

// TestParseDNSReply covers the verdicts on hand-made replies, including the
// ones a fuzzer would take long to build.
func TestParseDNSReply(t *testing.T) {
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("ok.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	other := q
	other.Name = dnsmessage.MustNewName("other.test.")
	truncated := dnsReplyForTest(t, 7, q, 0, 0)
	truncated[2] |= 0x02 // TC bit
	query, _ := buildDNSQuery(7, q)
	tests := []struct {
		name   string
		msg    []byte
		ours   bool
		ok     bool
		reason string
	}{
		{"one answer", dnsReplyForTest(t, 7, q, 0, 1), true, true, "ok (1 A answer)"},
		{"three answers", dnsReplyForTest(t, 7, q, 0, 3), true, true, "ok (3 A answers)"},
		{"empty", dnsReplyForTest(t, 7, q, 0, 0), true, false, "no A answer"},
		{"truncated empty", truncated, true, false, "truncated reply without A answer"},
		{"servfail", dnsReplyForTest(t, 7, q, dnsmessage.RCodeServerFailure, 0), true, false, "rcode SERVFAIL"},
		{"refused", dnsReplyForTest(t, 7, q, dnsmessage.RCodeRefused, 0), true, false, "rcode REFUSED"},
		{"other id", dnsReplyForTest(t, 8, q, 0, 1), false, false, ""},
		{"other question", dnsReplyForTest(t, 7, other, 0, 1), false, false, ""},
		{"a query, not a reply", query, false, false, ""},
		{"garbage with our id", []byte{0, 7, 0xff}, true, false, "malformed reply: "},
		{"garbage", []byte{1}, false, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, ours := parseDNSReply(tc.msg, 7, q)
			if ours != tc.ours || r.ok != tc.ok || len(r.reason) < len(tc.reason) || r.reason[:len(tc.reason)] != tc.reason {
				t.Errorf("got ours=%v ok=%v %q, want ours=%v ok=%v %q", ours, r.ok, r.reason, tc.ours, tc.ok, tc.reason)
			}
		})
	}
}
