package checks

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsProbe asks a DNS server one question over UDP (keepalived DNS_CHECK):
// up when the reply is NOERROR with at least one answer of the asked type.
func dnsProbe(t Target, timeout time.Duration) (probeFunc, error) {
	qtype := t.Check.QueryType
	if qtype == "" {
		qtype = "A"
	}
	typ := dnsType(strings.ToUpper(qtype))
	if typ == 0 {
		return nil, fmt.Errorf("unsupported dns query type %q", qtype)
	}
	fqdn := t.Check.Query
	if !strings.HasSuffix(fqdn, ".") {
		fqdn += "."
	}
	name, err := dnsmessage.NewName(fqdn)
	if err != nil {
		return nil, fmt.Errorf("dns query %q: %w", t.Check.Query, err)
	}
	q := dnsmessage.Question{Name: name, Type: typ, Class: dnsmessage.ClassINET}
	// Validate the question once; a query that cannot be built would fail
	// identically on every probe.
	if _, err := buildDNSQuery(0, q); err != nil {
		return nil, fmt.Errorf("dns query %q: %w", t.Check.Query, err)
	}
	var d net.Dialer
	return func(ctx context.Context) result {
		// A fresh id and socket (so a fresh source port) per probe: a late
		// reply to an earlier probe is never taken for this one.
		id := uint16(rand.Uint32())
		msg, err := buildDNSQuery(id, q)
		if err != nil {
			return fail(err.Error())
		}
		c, err := d.DialContext(ctx, "udp", t.Address)
		if err != nil {
			return fail(explain(err, timeout))
		}
		defer c.Close()
		defer unblockOnCancel(ctx, c)()
		c.SetDeadline(deadlineOf(ctx, timeout))
		if _, err := c.Write(msg); err != nil {
			return fail(explain(err, timeout))
		}
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if err != nil {
				if errors.Is(err, syscall.ECONNREFUSED) {
					return fail("port unreachable")
				}
				return fail(explain(err, timeout))
			}
			if r, ours := parseDNSReply(buf[:n], id, q); ours {
				return r
			}
		}
	}, nil
}

func buildDNSQuery(id uint16, q dnsmessage.Question) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	return b.Finish()
}

// parseDNSReply judges a datagram received for the query (id, q). ours is
// false when the datagram is not a reply to that query (another id, not a
// response, another question): the caller keeps waiting for the real one
// instead of letting a stray packet decide. This is the only code in the
// package that reads bytes from the network, hence FuzzParseDNSReply.
func parseDNSReply(msg []byte, id uint16, q dnsmessage.Question) (r result, ours bool) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		// Only a datagram carrying our id may fail the probe; anything else
		// is noise to wait past.
		if len(msg) >= 2 && uint16(msg[0])<<8|uint16(msg[1]) == id {
			return fail("malformed reply: " + err.Error()), true
		}
		return result{}, false
	}
	if h.ID != id || !h.Response {
		return result{}, false
	}
	got, err := p.Question()
	if err != nil {
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			// RFC 1035 replies echo the question; some servers omit it on
			// errors, which is still an answer to us.
			got = q
		} else {
			return fail("malformed reply: " + err.Error()), true
		}
	}
	if got.Type != q.Type || got.Class != q.Class || !strings.EqualFold(got.Name.String(), q.Name.String()) {
		return result{}, false
	}
	if err := p.SkipAllQuestions(); err != nil {
		return fail("malformed reply: " + err.Error()), true
	}
	if h.RCode != dnsmessage.RCodeSuccess {
		return fail("rcode " + rcodeName(h.RCode)), true
	}
	n := 0
	for {
		ah, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return fail("malformed reply: " + err.Error()), true
		}
		if ah.Type == q.Type && ah.Class == q.Class {
			n++
		}
		if err := p.SkipAnswer(); err != nil {
			return fail("malformed reply: " + err.Error()), true
		}
	}
	tname := typeName(q.Type)
	switch {
	case n == 0 && h.Truncated:
		return fail("truncated reply without " + tname + " answer"), true
	case n == 0:
		return fail("no " + tname + " answer"), true
	case n == 1:
		return pass("ok (1 " + tname + " answer)"), true
	}
	return pass(fmt.Sprintf("ok (%d %s answers)", n, tname)), true
}

// rcodeName uses the names dig prints, which is what operators search for.
func rcodeName(c dnsmessage.RCode) string {
	switch c {
	case dnsmessage.RCodeSuccess:
		return "NOERROR"
	case dnsmessage.RCodeFormatError:
		return "FORMERR"
	case dnsmessage.RCodeServerFailure:
		return "SERVFAIL"
	case dnsmessage.RCodeNameError:
		return "NXDOMAIN"
	case dnsmessage.RCodeNotImplemented:
		return "NOTIMP"
	case dnsmessage.RCodeRefused:
		return "REFUSED"
	}
	return fmt.Sprintf("%d", c)
}

// dnsType maps the query types config accepts to their wire values; 0 for
// any other.
func dnsType(name string) dnsmessage.Type {
	switch name {
	case "A":
		return dnsmessage.TypeA
	case "AAAA":
		return dnsmessage.TypeAAAA
	case "CNAME":
		return dnsmessage.TypeCNAME
	case "MX":
		return dnsmessage.TypeMX
	case "NS":
		return dnsmessage.TypeNS
	case "PTR":
		return dnsmessage.TypePTR
	case "SOA":
		return dnsmessage.TypeSOA
	case "SRV":
		return dnsmessage.TypeSRV
	case "TXT":
		return dnsmessage.TypeTXT
	}
	return 0
}

// typeName prints a type the way it is written in config and by dig.
func typeName(t dnsmessage.Type) string {
	s := t.String() // "TypeA"; unknown types print as a number
	if n, ok := strings.CutPrefix(s, "Type"); ok {
		return n
	}
	return "TYPE" + s
}
