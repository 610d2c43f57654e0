package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
)

// Read reads exactly one header from r and returns it. It never consumes a
// byte past the header, so whatever the client sent after it stays readable
// from r. When the stream does not start with a signature it returns
// ErrNoHeader having consumed nothing; a malformed or truncated header gives
// an error matching ErrInvalid (truncation also matches
// io.ErrUnexpectedEOF); an error from r before the first byte (io.EOF, a
// deadline) is returned as is. Callers should set a read deadline: a sender
// that stops halfway blocks Read like any other read.
func Read(r *bufio.Reader) (Header, error) {
	first, err := r.Peek(1)
	if err != nil {
		return Header{}, err
	}
	switch first[0] {
	case v1Sig[0]:
		if err := peekPrefix(r, v1Sig); err != nil {
			return Header{}, err
		}
		return readV1(r)
	case v2Sig[0]:
		if err := peekPrefix(r, v2Sig); err != nil {
			return Header{}, err
		}
		return readV2(r)
	}
	return Header{}, ErrNoHeader
}

// peekPrefix checks that the stream starts with sig, looking one byte
// further each time, so a client that sent something else is turned away as
// soon as its bytes differ instead of waiting for len(sig) bytes.
func peekPrefix(r *bufio.Reader, sig []byte) error {
	for n := 1; n <= len(sig); n++ {
		b, err := r.Peek(n)
		if len(b) >= n && b[n-1] != sig[n-1] {
			return ErrNoHeader
		}
		if err != nil {
			return truncated("signature", err)
		}
	}
	return nil
}

// truncated classifies a read error in the middle of a header: the end of
// the stream means a truncated (invalid) header; anything else (a timeout,
// a reset) is an I/O error, reported with context.
func truncated(where string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &invalidError{detail: "truncated " + where, cause: io.ErrUnexpectedEOF}
	}
	return fmt.Errorf("proxyproto: reading %s: %w", where, err)
}

// readV1 reads the text line after "PROXY" has been seen. It reads byte by
// byte from the buffer, stopping at the LF, so it cannot consume past the
// line; a line without CRLF in the first 107 bytes is invalid (section 2.1).
func readV1(r *bufio.Reader) (Header, error) {
	var buf [v1MaxLen]byte
	n := 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			return Header{}, truncated("v1 line", err)
		}
		buf[n] = c
		n++
		if c == '\n' {
			break
		}
		if n == len(buf) {
			return Header{}, invalid("v1 line longer than %d bytes", v1MaxLen)
		}
	}
	if n < 2 || buf[n-2] != '\r' {
		return Header{}, invalid("v1 line ends in LF without CR")
	}
	return parseV1(buf[len(v1Sig) : n-2])
}

// parseV1 parses what follows "PROXY" up to (not including) the CRLF.
func parseV1(line []byte) (Header, error) {
	if len(line) == 0 || line[0] != ' ' {
		return Header{}, invalid("v1: want a space after PROXY")
	}
	line = line[1:]
	proto, rest, _ := bytes.Cut(line, []byte(" "))
	h := Header{Version: 1}
	var want4 bool
	switch string(proto) {
	case "UNKNOWN":
		// The receiver must ignore anything after UNKNOWN (section 2.1).
		h.Command = Local
		return h, nil
	case "TCP4":
		want4 = true
	case "TCP6":
	default:
		return Header{}, invalid("v1: unknown protocol %q", string(proto))
	}
	// Exactly four fields, split by hand: bytes.Split would allocate.
	var f [4][]byte
	ok := true
	for i := range f {
		var found bool
		f[i], rest, found = bytes.Cut(rest, []byte(" "))
		ok = ok && found == (i < 3) // a space after each but the last
	}
	if !ok {
		return Header{}, invalid("v1: want 4 fields separated by single spaces after %s", string(proto))
	}
	src, err := parseV1Addr(f[0], want4)
	if err != nil {
		return Header{}, err
	}
	dst, err := parseV1Addr(f[1], want4)
	if err != nil {
		return Header{}, err
	}
	sport, err := parseV1Port(f[2])
	if err != nil {
		return Header{}, err
	}
	dport, err := parseV1Port(f[3])
	if err != nil {
		return Header{}, err
	}
	h.Command = Proxy
	h.Protocol = TCP
	h.Source = netip.AddrPortFrom(src, sport)
	h.Destination = netip.AddrPortFrom(dst, dport)
	return h, nil
}

// parseV1Addr parses an address of the announced family. netip already
// refuses IPv4 octets with leading zeros, which the spec forbids to avoid
// octal confusion; zones are refused because the wire format has none.
func parseV1Addr(b []byte, want4 bool) (netip.Addr, error) {
	a, err := netip.ParseAddr(string(b))
	switch {
	case err != nil:
		return netip.Addr{}, invalid("v1: bad address %q", string(b))
	case a.Zone() != "":
		return netip.Addr{}, invalid("v1: address %q has a zone", string(b))
	case want4 && !a.Is4():
		return netip.Addr{}, invalid("v1: TCP4 with non-IPv4 address %q", string(b))
	case !want4 && !a.Is6():
		return netip.Addr{}, invalid("v1: TCP6 with non-IPv6 address %q", string(b))
	}
	return a, nil
}

// parseV1Port parses a decimal port 0..65535 without sign or leading zeros.
func parseV1Port(b []byte) (uint16, error) {
	if len(b) == 0 || len(b) > 5 || (len(b) > 1 && b[0] == '0') {
		return 0, invalid("v1: bad port %q", string(b))
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, invalid("v1: bad port %q", string(b))
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, invalid("v1: port %q out of range", string(b))
	}
	return uint16(n), nil
}

// readV2 reads a binary header after its signature has been seen.
func readV2(r *bufio.Reader) (Header, error) {
	// Peek, not read, the fixed part: bufio buffers are at least 16 bytes,
	// and it saves a heap copy on every connection.
	fixed, err := r.Peek(v2HeaderLen)
	if err != nil {
		return Header{}, truncated("v2 header", err)
	}
	verCmd, fam := fixed[12], fixed[13]
	if verCmd>>4 != 2 {
		return Header{}, invalid("v2: version %d", verCmd>>4)
	}
	cmd := Command(verCmd & 0xf)
	if cmd != Local && cmd != Proxy {
		return Header{}, invalid("v2: unknown command %#x", uint8(cmd))
	}
	n := int(binary.BigEndian.Uint16(fixed[14:]))
	if n > maxV2Payload {
		return Header{}, invalid("v2: %d bytes of addresses and TLVs, limit %d", n, maxV2Payload)
	}
	// One buffer holds the whole header: TLV values alias it, and the
	// CRC32c check needs the header as it came off the wire.
	buf := make([]byte, v2HeaderLen+n)
	copy(buf, fixed)
	r.Discard(v2HeaderLen) // cannot fail: the bytes are buffered
	if _, err := io.ReadFull(r, buf[v2HeaderLen:]); err != nil {
		return Header{}, truncated("v2 addresses", err)
	}
	h, tlvStart, err := parseV2(cmd, fam, buf[v2HeaderLen:])
	if err != nil {
		return Header{}, err
	}
	if err := checkCRC(buf, v2HeaderLen+tlvStart, h.TLVs); err != nil {
		return Header{}, err
	}
	return h, nil
}

// parseV2 decodes the address block and TLVs of a version 2 header. It
// also returns where in payload the TLVs start.
func parseV2(cmd Command, fam byte, payload []byte) (Header, int, error) {
	h := Header{Version: 2, Command: cmd}
	family, proto := fam>>4, Protocol(fam&0xf)
	if cmd == Proxy {
		// For LOCAL the family is to be ignored entirely (section 2.2);
		// for PROXY an undefined nibble is an error.
		if family > 3 {
			return Header{}, 0, invalid("v2: unknown address family %#x", family)
		}
		if proto > UDP {
			return Header{}, 0, invalid("v2: unknown transport protocol %#x", uint8(proto))
		}
	}
	var addrLen int
	switch {
	case fam == 0x00:
		// UNSPEC: HAProxy itself sends LOCAL this way, TLVs right after.
	case (family == 1 || family == 2 || family == 3) && (proto == TCP || proto == UDP):
		addrLen = [4]int{0, addrLenInet, addrLenInet6, addrLenUnix}[family]
		if len(payload) < addrLen {
			if cmd == Local {
				return h, len(payload), nil // family to be ignored for LOCAL
			}
			return Header{}, 0, invalid("v2: %d address bytes for family %#x, want %d", len(payload), family, addrLen)
		}
	default:
		// A mix such as AF_INET with UNSPEC transport: the spec leaves the
		// layout undefined, so the whole block is skipped as it allows.
		return h, len(payload), nil
	}
	if cmd == Proxy && (family == 1 || family == 2) {
		a := payload[:addrLen]
		var src, dst netip.Addr
		if family == 1 {
			src = netip.AddrFrom4([4]byte(a[0:4]))
			dst = netip.AddrFrom4([4]byte(a[4:8]))
		} else {
			src = netip.AddrFrom16([16]byte(a[0:16]))
			dst = netip.AddrFrom16([16]byte(a[16:32]))
		}
		ports := a[addrLen-4:]
		h.Source = netip.AddrPortFrom(src, binary.BigEndian.Uint16(ports[0:2]))
		h.Destination = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(ports[2:4]))
		h.Protocol = proto
	}
	// AF_UNIX addresses are skipped: the receiver falls back to UNSPEC for
	// families it does not implement, as the spec allows.
	tlvs, err := parseTLVs(payload[addrLen:])
	if err != nil {
		return Header{}, 0, err
	}
	h.TLVs = tlvs
	return h, addrLen, nil
}

// parseTLVs splits b into TLVs; any leftover or overrunning length is an
// error, as in HAProxy, since it means the header is not what it claims.
func parseTLVs(b []byte) ([]TLV, error) {
	var tlvs []TLV
	for len(b) > 0 {
		if len(b) < 3 {
			return nil, invalid("v2: %d stray bytes after the last TLV", len(b))
		}
		n := int(binary.BigEndian.Uint16(b[1:3]))
		if len(b) < 3+n {
			return nil, invalid("v2: TLV type %#x claims %d bytes, %d left", b[0], n, len(b)-3)
		}
		tlvs = append(tlvs, TLV{Type: b[0], Value: b[3 : 3+n : 3+n]})
		b = b[3+n:]
	}
	return tlvs, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checkCRC verifies a CRC32C TLV if the sender included one: the checksum
// is over the whole header with the checksum field zeroed (section 2.2.3),
// and a receiver that supports it must reject a mismatch. tlvStart is the
// offset of the first TLV in header; the TLVs were already validated.
func checkCRC(header []byte, tlvStart int, tlvs []TLV) error {
	off, seen := tlvStart, false
	for _, t := range tlvs {
		valueAt := off + 3
		off = valueAt + len(t.Value)
		if t.Type != TLVTypeCRC32C {
			continue
		}
		if seen {
			return invalid("v2: more than one CRC32C TLV")
		}
		seen = true
		if len(t.Value) != 4 {
			return invalid("v2: CRC32C TLV of %d bytes, want 4", len(t.Value))
		}
		if crc32c(header, valueAt) != binary.BigEndian.Uint32(t.Value) {
			return invalid("v2: CRC32C mismatch")
		}
	}
	return nil
}

// crc32c is the CRC32c of header computed as if the 4 bytes at off were zero.
func crc32c(header []byte, off int) uint32 {
	var zero [4]byte
	crc := crc32.Update(0, castagnoli, header[:off])
	crc = crc32.Update(crc, castagnoli, zero[:])
	return crc32.Update(crc, castagnoli, header[off+4:])
}
