package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// ProtocolNumber is the IP protocol number of VRRP; it also goes into the
// v3 pseudo-header checksum.
const ProtocolNumber = 112

// Multicast destinations of adverts (RFC 5798 section 5.1).
var (
	// MulticastIPv4 is 224.0.0.18.
	MulticastIPv4 = netip.AddrFrom4([4]byte{224, 0, 0, 18})
	// MulticastIPv6 is ff02::12.
	MulticastIPv6 = netip.MustParseAddr("ff02::12")
)

// Wire constants. Sizes are fixed by the RFCs; naming them keeps the
// length arithmetic in Parse and Marshal readable.
const (
	headerLen   = 8
	authLen     = 8 // v2 trailing authentication data
	typeAdvert  = 1
	maxAddrs    = 255
	v3MaxCentis = 0x0fff // 12-bit field
	v3Tick      = 10 * time.Millisecond
)

// Auth types of VRRP v2 (RFC 2338; RFC 3768 keeps only the field).
const (
	// AuthNone is v2 auth type 0.
	AuthNone uint8 = 0
	// AuthSimple is v2 auth type 1, keepalived's "auth_type PASS": a
	// cleartext password of at most 8 bytes, still common in keepalived
	// v2 deployments we must interoperate with.
	AuthSimple uint8 = 1
	// AuthAH is v2 auth type 2 (IP AH). keepalived can send it, but the
	// advert then sits behind an AH header we do not implement, so it is
	// always dropped.
	AuthAH uint8 = 2
)

// Advert is one VRRP advertisement, decoded (v2 RFC 3768 or v3 RFC 5798).
// The same value is what the state machine builds and Marshal sends, so it
// holds only what travels on the wire.
type Advert struct {
	// Version is 2 or 3; the two are not compatible on the wire and a
	// router only accepts its configured version.
	Version int
	// VRID identifies the virtual router (1..255); 0 is reserved.
	VRID uint8
	// Priority 255 means address owner, 0 means the master is resigning;
	// every value is legal on the wire.
	Priority uint8
	// Interval is the advert interval: v2 carries whole seconds (1..255),
	// v3 centiseconds (10ms..40.95s in 10ms steps).
	Interval time.Duration
	// AuthType is v2 only: AuthNone or AuthSimple.
	AuthType uint8
	// AuthData is v2 only: the 8 bytes after the addresses, the password
	// for AuthSimple (zero padded), expected to be zero otherwise.
	AuthData [8]byte
	// Addresses are the virtual addresses, all IPv4 or all IPv6, matching
	// the IP family the advert travels over.
	Addresses []netip.Addr
	// ChecksumNoPseudoHeader reports (Parse) or selects (Marshal) the
	// checksum variant of v3 over IPv4 that leaves out the IP
	// pseudo-header: RFC 9568, Cisco, newer FRR, and keepalived >= 2.2.8
	// with v3_checksum_as_v2. keepalived's default (and 2.2.7's only
	// form) includes it and drops the other, so send with false unless
	// configured otherwise. Parse accepts both so we interoperate
	// whatever the peer uses; the flag lets the runner count peers in
	// that mode. It is always false for v2 and IPv6, whose checksums
	// have only one form.
	ChecksumNoPseudoHeader bool
}

// DropReason says why a received advert was dropped. The values are short
// stable words so they can be used as Prometheus label values directly.
type DropReason string

// Drop reasons. All live here, also those checked by the runner (TTL,
// NotPeer), so that metrics can be pre-registered from one list.
const (
	// ReasonShort: fewer bytes than the header or the announced addresses need.
	ReasonShort DropReason = "short"
	// ReasonVersion: version is not 2 or 3, or not the local version.
	ReasonVersion DropReason = "version"
	// ReasonType: not an advertisement (type 1), the only VRRP type.
	ReasonType DropReason = "type"
	// ReasonChecksum: the checksum matches no accepted variant.
	ReasonChecksum DropReason = "checksum"
	// ReasonAddrCount: address count 0, or not matching the payload length.
	ReasonAddrCount DropReason = "addr_count"
	// ReasonAuth: v2 auth type unsupported or different from ours, or wrong password.
	ReasonAuth DropReason = "auth"
	// ReasonInterval: interval 0, or a v2 interval different from ours.
	ReasonInterval DropReason = "interval"
	// ReasonVRID: VRID 0, or not the local VRID.
	ReasonVRID DropReason = "vrid"
	// ReasonTTL: TTL / hop limit not 255 (checked by the runner).
	ReasonTTL DropReason = "ttl"
	// ReasonNotPeer: unicast source is not a configured peer (checked by the runner).
	ReasonNotPeer DropReason = "not_peer"
	// ReasonFamily: v2 over IPv6, or source/destination families disagree.
	ReasonFamily DropReason = "family"
)

// Reasons returns every DropReason, so a metrics vector can be initialised
// with all label values and show zeros instead of missing series.
func Reasons() []DropReason {
	return []DropReason{
		ReasonShort, ReasonVersion, ReasonType, ReasonChecksum,
		ReasonAddrCount, ReasonAuth, ReasonInterval, ReasonVRID,
		ReasonTTL, ReasonNotPeer, ReasonFamily,
	}
}

// DropError is returned for every advert that must be dropped, so callers
// can count drops by Reason and still log the human Detail.
type DropError struct {
	Reason DropReason
	Detail string
}

// Error formats as "vrrp: dropped (reason): detail".
func (e *DropError) Error() string {
	if e.Detail == "" {
		return "vrrp: dropped (" + string(e.Reason) + ")"
	}
	return "vrrp: dropped (" + string(e.Reason) + "): " + e.Detail
}

// ReasonOf returns the DropReason carried by err (also when wrapped), or ""
// when err is not a drop, so a runner can label its counter in one call.
func ReasonOf(err error) DropReason {
	var de *DropError
	if errors.As(err, &de) {
		return de.Reason
	}
	return ""
}

func dropf(r DropReason, format string, args ...any) error {
	return &DropError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// Parse decodes a VRRP message: the IP payload, without the IP header. src
// and dst come from the IP header; they decide the address family and, for
// v3, enter the checksum. TTL and peer checks are the runner's job, and
// checks against local configuration are Check's.
//
// IPv4-mapped src/dst are treated as IPv4 because converting a net.IP with
// netip.AddrFromSlice yields them.
func Parse(b []byte, src, dst netip.Addr) (Advert, error) {
	var a Advert
	if len(b) < headerLen {
		return a, dropf(ReasonShort, "%d bytes, header needs %d", len(b), headerLen)
	}
	a.Version = int(b[0] >> 4)
	if a.Version != 2 && a.Version != 3 {
		return Advert{}, dropf(ReasonVersion, "version %d, want 2 or 3", a.Version)
	}
	if t := b[0] & 0x0f; t != typeAdvert {
		return Advert{}, dropf(ReasonType, "type %d, want 1 (advertisement)", t)
	}
	src, dst = src.Unmap(), dst.Unmap()
	v6, err := ipFamily(src, dst)
	if err != nil {
		return Advert{}, err
	}
	if v6 && a.Version == 2 {
		return Advert{}, dropf(ReasonFamily, "VRRPv2 over IPv6 (v2 is IPv4 only)")
	}

	count := int(b[3])
	if count == 0 {
		return Advert{}, dropf(ReasonAddrCount, "address count 0")
	}
	addrLen := 4
	if v6 {
		addrLen = 16
	}
	want := headerLen + count*addrLen
	if a.Version == 2 {
		want += authLen
	}
	if len(b) < want {
		return Advert{}, dropf(ReasonShort, "%d bytes, %d addresses need %d", len(b), count, want)
	}
	if len(b) > want {
		// keepalived never pads, so extra bytes mean the count is wrong
		// and we cannot trust which bytes are addresses.
		return Advert{}, dropf(ReasonAddrCount, "%d bytes, %d addresses need %d", len(b), count, want)
	}

	// Verify the RFC 1071 way, summing over the checksum field too, so
	// both one's complement zeros (0x0000, 0xffff) are accepted.
	msgSum := csumAdd(0, b)
	pseudo := uint32(0)
	if a.Version == 3 {
		pseudo = csumPseudo(src, dst, len(b))
	}
	switch {
	case csumFold(pseudo+msgSum) == 0:
	case a.Version == 3 && !v6 && csumFold(msgSum) == 0:
		// v3 over IPv4: RFC 5798 sums the pseudo-header, keepalived's
		// v3_checksum_as_v2 and RFC 9568 do not. The RFC 5798 form wins
		// when a packet happens to verify under both.
		a.ChecksumNoPseudoHeader = true
	default:
		got := binary.BigEndian.Uint16(b[6:8])
		msgSum -= uint32(got)
		if a.Version == 3 && !v6 {
			return Advert{}, dropf(ReasonChecksum, "got %#04x, want %#04x (or %#04x without pseudo-header)",
				got, csumFold(pseudo+msgSum), csumFold(msgSum))
		}
		return Advert{}, dropf(ReasonChecksum, "got %#04x, want %#04x", got, csumFold(pseudo+msgSum))
	}

	a.VRID = b[1]
	if a.VRID == 0 {
		return Advert{}, dropf(ReasonVRID, "VRID 0 is reserved")
	}
	a.Priority = b[2]
	if a.Version == 2 {
		a.AuthType = b[4]
		if a.AuthType != AuthNone && a.AuthType != AuthSimple {
			return Advert{}, dropf(ReasonAuth, "auth type %d unsupported (0 none, 1 simple text)", a.AuthType)
		}
		if b[5] == 0 {
			return Advert{}, dropf(ReasonInterval, "advert interval 0")
		}
		a.Interval = time.Duration(b[5]) * time.Second
		copy(a.AuthData[:], b[want-authLen:])
	} else {
		// The 4 reserved bits are ignored on reception (RFC 5798 5.2.5).
		cs := binary.BigEndian.Uint16(b[4:6]) & v3MaxCentis
		if cs == 0 {
			return Advert{}, dropf(ReasonInterval, "max advert interval 0")
		}
		a.Interval = time.Duration(cs) * v3Tick
	}

	a.Addresses = make([]netip.Addr, count)
	p := b[headerLen:]
	for i := range a.Addresses {
		if v6 {
			a.Addresses[i] = netip.AddrFrom16([16]byte(p[:16]))
		} else {
			a.Addresses[i] = netip.AddrFrom4([4]byte(p[:4]))
		}
		p = p[addrLen:]
	}
	return a, nil
}

// ipFamily reports whether the IP header addresses are IPv6, and drops
// packets whose addresses are unusable for the checksum and family rules.
func ipFamily(src, dst netip.Addr) (v6 bool, err error) {
	if !src.IsValid() || !dst.IsValid() {
		return false, dropf(ReasonFamily, "invalid IP source %v or destination %v", src, dst)
	}
	if src.Is4() != dst.Is4() {
		return false, dropf(ReasonFamily, "IP source %v and destination %v differ in family", src, dst)
	}
	return src.Is6(), nil
}

// Marshal encodes the advert. src and dst are the IP source and
// destination (224.0.0.18 / ff02::12 or the unicast peer); the v3 checksum
// covers them through the pseudo-header, so each unicast peer gets its own
// encoding. It rejects adverts Parse would drop, so we never send what a
// compliant peer discards.
func (a Advert) Marshal(src, dst netip.Addr) ([]byte, error) {
	// Size the buffer up front: one allocation instead of append's growth.
	n := headerLen + authLen + 4*len(a.Addresses)
	if src.Unmap().Is6() {
		n = headerLen + 16*len(a.Addresses)
	}
	b, err := a.AppendMarshal(make([]byte, 0, n), src, dst)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// AppendMarshal is Marshal appending to buf, so a sender can reuse one
// buffer and send without allocating.
func (a Advert) AppendMarshal(buf []byte, src, dst netip.Addr) ([]byte, error) {
	src, dst = src.Unmap(), dst.Unmap()
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return buf, fmt.Errorf("vrrp: marshal: IP source %v and destination %v must be valid and of one family", src, dst)
	}
	v6 := src.Is6()
	if err := a.validate(v6); err != nil {
		return buf, err
	}

	start := len(buf)
	var hdr [headerLen]byte
	hdr[0] = byte(a.Version)<<4 | typeAdvert
	hdr[1] = a.VRID
	hdr[2] = a.Priority
	hdr[3] = byte(len(a.Addresses))
	if a.Version == 2 {
		hdr[4] = a.AuthType
		hdr[5] = byte(a.Interval / time.Second)
	} else {
		binary.BigEndian.PutUint16(hdr[4:6], uint16(a.Interval/v3Tick))
	}
	buf = append(buf, hdr[:]...)
	for _, ip := range a.Addresses {
		if v6 {
			b := ip.As16()
			buf = append(buf, b[:]...)
		} else {
			b := ip.As4()
			buf = append(buf, b[:]...)
		}
	}
	if a.Version == 2 {
		buf = append(buf, a.AuthData[:]...)
	}

	msg := buf[start:]
	s := csumAdd(0, msg)
	if a.Version == 3 && !a.ChecksumNoPseudoHeader {
		s += csumPseudo(src, dst, len(msg))
	}
	binary.BigEndian.PutUint16(msg[6:8], csumFold(s))
	return buf, nil
}

// validate checks everything Marshal cannot represent or Parse would drop.
func (a Advert) validate(v6 bool) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("vrrp: marshal: "+format, args...)
	}
	switch a.Version {
	case 2:
		if v6 {
			return bad("VRRPv2 cannot be sent over IPv6")
		}
		if a.Interval%time.Second != 0 || a.Interval < time.Second || a.Interval > 255*time.Second {
			return bad("v2 interval %v is not whole seconds in 1s..255s", a.Interval)
		}
		if a.AuthType != AuthNone && a.AuthType != AuthSimple {
			return bad("v2 auth type %d unsupported", a.AuthType)
		}
	case 3:
		if a.Interval%v3Tick != 0 || a.Interval < v3Tick || a.Interval > v3MaxCentis*v3Tick {
			return bad("v3 interval %v is not 10ms steps in 10ms..40.95s", a.Interval)
		}
		if a.AuthType != 0 || a.AuthData != [8]byte{} {
			return bad("v3 has no authentication")
		}
	default:
		return bad("version %d, want 2 or 3", a.Version)
	}
	if a.ChecksumNoPseudoHeader && (a.Version != 3 || v6) {
		return bad("checksum without pseudo-header exists only for v3 over IPv4")
	}
	if a.VRID == 0 {
		return bad("VRID 0 is reserved")
	}
	if n := len(a.Addresses); n == 0 || n > maxAddrs {
		return bad("%d addresses, want 1..%d", n, maxAddrs)
	}
	for i, ip := range a.Addresses {
		// Is4 is false for IPv4-mapped IPv6, which is right: on the wire
		// such an address is 16 bytes and only fits an IPv6 advert.
		if !ip.IsValid() || ip.Is4() == v6 {
			fam := "IPv4"
			if v6 {
				fam = "IPv6"
			}
			return bad("address %d (%v) is not %s like the IP header", i, ip, fam)
		}
	}
	return nil
}

// Expect is the local configuration a received advert is checked against.
type Expect struct {
	// Version is the local VRRP version; keepalived also drops the other one.
	Version int
	// VRID is the local virtual router ID.
	VRID uint8
	// AuthPass is the v2 simple-text password ("" means auth type 0).
	// Like keepalived only the first 8 bytes count, zero padded. Ignored
	// for v3, which has no authentication.
	AuthPass string
	// Interval is the local advert interval. v2 peers must match it
	// exactly (RFC 3768); v3 backups adopt the master's, so it is ignored
	// for v3.
	Interval time.Duration
}

// Check validates a decoded advert against the local instance: the checks
// that depend on configuration and so cannot live in Parse.
func (a Advert) Check(e Expect) error {
	if a.Version != e.Version {
		return dropf(ReasonVersion, "version %d, local instance is %d", a.Version, e.Version)
	}
	if a.VRID != e.VRID {
		return dropf(ReasonVRID, "VRID %d, local instance is %d", a.VRID, e.VRID)
	}
	if a.Version != 2 {
		return nil
	}
	wantType := AuthNone
	if e.AuthPass != "" {
		wantType = AuthSimple
	}
	if a.AuthType != wantType {
		return dropf(ReasonAuth, "auth type %d, local instance uses %d", a.AuthType, wantType)
	}
	if wantType == AuthSimple && a.AuthData != PassData(e.AuthPass) {
		// Never log the password itself, not even the wrong one.
		return dropf(ReasonAuth, "password mismatch")
	}
	if a.Interval != e.Interval {
		return dropf(ReasonInterval, "interval %v, local instance uses %v", a.Interval, e.Interval)
	}
	return nil
}

// PassData returns the v2 auth data for a keepalived auth_pass: its first 8
// bytes, zero padded, which is what keepalived sends and compares.
func PassData(pass string) [8]byte {
	var d [8]byte
	copy(d[:], pass)
	return d
}

// csumAdd adds b as big-endian 16-bit words to s (RFC 1071), padding an odd
// tail with zero. The uint32 accumulator cannot overflow for any VRRP
// message (at most 8 + 255*16 + 8 bytes), so folding is left to csumFold.
func csumAdd(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// csumFold folds the carries into 16 bits and complements, giving the internet
// checksum.
func csumFold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// internetChecksum is the internet checksum of b (RFC 1071).
func internetChecksum(b []byte) uint16 { return csumFold(csumAdd(0, b)) }

// csumPseudo is the unfolded sum of the IPv4 (RFC 768 style) or IPv6
// (RFC 8200 section 8.1) pseudo-header for a VRRP message of length n.
func csumPseudo(src, dst netip.Addr, n int) uint32 {
	var s uint32
	if src.Is4() {
		a, b := src.As4(), dst.As4()
		s = csumAdd(csumAdd(0, a[:]), b[:])
	} else {
		a, b := src.As16(), dst.As16()
		s = csumAdd(csumAdd(0, a[:]), b[:])
	}
	// Both layouts reduce to the same word sum: the 16- or 32-bit length
	// and a zero-padded next-header byte.
	return s + uint32(n)>>16 + uint32(n)&0xffff + ProtocolNumber
}

// String renders an advert compactly for logs and test failures.
func (a Advert) String() string {
	b := make([]byte, 0, 96)
	b = append(b, "VRRPv"...)
	b = strconv.AppendInt(b, int64(a.Version), 10)
	b = append(b, " vrid="...)
	b = strconv.AppendUint(b, uint64(a.VRID), 10)
	b = append(b, " prio="...)
	b = strconv.AppendUint(b, uint64(a.Priority), 10)
	b = append(b, " int="...)
	b = append(b, a.Interval.String()...)
	if a.Version == 2 {
		b = append(b, " auth="...)
		b = strconv.AppendUint(b, uint64(a.AuthType), 10)
	}
	if a.ChecksumNoPseudoHeader {
		b = append(b, " csum=v2"...)
	}
	b = append(b, " addrs="...)
	for i, ip := range a.Addresses {
		if i > 0 {
			b = append(b, ',')
		}
		b = ip.AppendTo(b)
	}
	return string(b)
}
