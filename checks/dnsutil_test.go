package checks

import (
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func parseQueryForTest(b []byte) (uint16, dnsmessage.Question, error) {
	var p dnsmessage.Parser
	h, err := p.Start(b)
	if err != nil {
		return 0, dnsmessage.Question{}, err
	}
	q, err := p.Question()
	return h.ID, q, err
}

// dnsReplyForTest builds a reply to q with rcode and n answers of q's type
// when it is A (other types get none: an empty NOERROR).
func dnsReplyForTest(t testing.TB, id uint16, q dnsmessage.Question, rcode dnsmessage.RCode, n int) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, Response: true, RCode: rcode})
	b.EnableCompression()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.StartQuestions())
	must(b.Question(q))
	must(b.StartAnswers())
	if q.Type == dnsmessage.TypeA {
		for i := range n {
			a := netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}).As4()
			must(b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: a}))
		}
	}
	msg, err := b.Finish()
	must(err)
	return msg
}
