package vrrp

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

// Checksum handling of a fuzz input. A mutated packet almost never has a
// valid checksum, so without repair the fuzzer would only ever exercise
// the checksum drop; repair lets it reach every check behind it.
const (
	pktFuzzAsIs     uint8 = iota // verify the checksum as given
	pktFuzzFixRFC                // rewrite with pseudo-header (RFC 5798, and v2's plain sum)
	pktFuzzFixPlain              // rewrite without pseudo-header (RFC 9568)
)

// FuzzParse checks that Parse never panics and that whatever it accepts
// survives Marshal with the same addresses and checksum variant, parsing
// back to an equal Advert. That is the property the runner relies on when
// it echoes or logs what peers sent.
func FuzzParse(f *testing.F) {
	for _, c := range pktCaptures(f) {
		f.Add(c.b, c.src.AsSlice(), c.dst.AsSlice(), pktFuzzAsIs)
	}
	gen := []struct {
		a        Advert
		src, dst netip.Addr
	}{
		{Advert{Version: 2, VRID: 1, Priority: 255, Interval: 255 * time.Second, AuthType: AuthSimple,
			AuthData: PassData("p"), Addresses: []netip.Addr{pktVIP4a, pktVIP4b}}, pktSrc4, pktPeer4},
		{Advert{Version: 3, VRID: 255, Priority: 0, Interval: 10 * time.Millisecond,
			Addresses: []netip.Addr{pktVIP4a}, ChecksumNoPseudoHeader: true}, pktSrc4, MulticastIPv4},
		{Advert{Version: 3, VRID: 9, Priority: 100, Interval: 40950 * time.Millisecond,
			Addresses: []netip.Addr{pktVIP6ll, pktVIP6}}, pktSrc6, pktPeer6},
	}
	for _, g := range gen {
		b, err := g.a.Marshal(g.src, g.dst)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, g.src.AsSlice(), g.dst.AsSlice(), pktFuzzAsIs)
		// Truncated and padded variants with repaired checksums steer the
		// fuzzer at the length checks.
		f.Add(b[:len(b)-1], g.src.AsSlice(), g.dst.AsSlice(), pktFuzzFixRFC)
		f.Add(append(b, 0, 0, 0, 0), g.src.AsSlice(), g.dst.AsSlice(), pktFuzzFixPlain)
	}

	f.Fuzz(func(t *testing.T, b, srcb, dstb []byte, fix uint8) {
		// Invalid src/dst (wrong length) stay the zero Addr, which Parse
		// must reject without panicking.
		src, _ := netip.AddrFromSlice(srcb)
		dst, _ := netip.AddrFromSlice(dstb)
		b = bytes.Clone(b) // never write into the fuzzer's input
		switch fix % 3 {
		case pktFuzzFixRFC:
			pktFixChecksum(b, src, dst, len(b) > 0 && b[0]>>4 == 3 && src.IsValid() && dst.IsValid() && src.Unmap().Is4() == dst.Unmap().Is4())
		case pktFuzzFixPlain:
			pktFixChecksum(b, src, dst, false)
		}

		a, err := Parse(b, src, dst)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("Parse error without drop reason: %v", err)
			}
			return
		}
		out, err := a.Marshal(src, dst)
		if err != nil {
			t.Fatalf("Parse accepted %v but Marshal fails: %v\nin: % x", a, err, b)
		}
		a2, err := Parse(out, src, dst)
		if err != nil {
			t.Fatalf("re-marshalled packet dropped: %v\n in: % x\nout: % x", err, b, out)
		}
		if !pktEqual(a, a2) {
			t.Fatalf("round trip changed the advert:\n got %v\nwant %v", a2, a)
		}
		// Parse accepts only exact lengths, so the encoding cannot grow
		// or shrink; only reserved bits and the checksum may change.
		if len(out) != len(b) {
			t.Fatalf("length %d -> %d", len(b), len(out))
		}
	})
}
