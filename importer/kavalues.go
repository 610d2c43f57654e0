package importer

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Value parsing shared by the keepalived mapping: each helper notes what it
// cannot read, so the caller only decides what to do without the value.

// seconds reads keepalived's TIMER: seconds, possibly fractional ("0.5").
func seconds(ns *notes, n *kaNode, s string) (time.Duration, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e6 || math.IsNaN(f) {
		ns.unsupported(n.pos, n.key, "%q is not a number of seconds; left out", s)
		return 0, false
	}
	return time.Duration(f * float64(time.Second)).Round(time.Millisecond), true
}

// integer reads a whole number in lo..hi.
func integer(ns *notes, n *kaNode, s string, lo, hi int) (int, bool) {
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		ns.unsupported(n.pos, n.key, "%q is not a whole number in %d..%d; left out", s, lo, hi)
		return 0, false
	}
	return v, true
}

// needArg notes a statement that lacks its value.
func needArg(ns *notes, n *kaNode) bool {
	if len(n.args) == 0 {
		ns.unsupported(n.pos, n.key, "needs a value; left out")
		return false
	}
	return true
}

// parseAddr reads an IP address, tolerating an IPv6 zone-less bracket form.
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// addrPort joins an address and a port as config writes them: [v6]:port.
func addrPort(a netip.Addr, port int) string {
	return netip.AddrPortFrom(a, uint16(port)).String()
}

// splitCommand splits a script line into words the way keepalived does:
// on blanks, with single or double quotes grouping and backslash escaping.
func splitCommand(s string) []string {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(c)
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == '\'' || c == '"':
			quote = c
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}
