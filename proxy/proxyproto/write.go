package proxyproto

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
)

// AppendTo appends the header's wire encoding to b and returns the extended
// slice; on error b is returned unchanged. The sender must write it in one
// write before any client data (section 2).
//
// Encoding rules, chosen so that what vigil sends is what backends expect:
//   - Local, or Proxy with neither address set, is sent as v1
//     "PROXY UNKNOWN" or v2 with family UNSPEC (Protocol is then ignored).
//     Exactly one address set is an error.
//   - Addresses are sent as IPv4 when both are IPv4 or IPv4-mapped IPv6 (a
//     dual-stack listener reports v4 clients as ::ffff:a.b.c.d, which
//     backends would otherwise log); otherwise both as IPv6. Zones are dropped.
//   - Protocol Unspec with addresses means TCP. Version 1 carries only TCP
//     and no TLVs.
//   - A TLVTypeCRC32C TLV (4 bytes) gets its checksum computed, as the spec
//     requires of senders; all other TLVs are copied verbatim.
func (h Header) AppendTo(b []byte) ([]byte, error) {
	if h.Command != Local && h.Command != Proxy {
		return b, errors.New("proxyproto: encode: unknown command " + h.Command.String())
	}
	if h.Protocol > UDP {
		return b, errors.New("proxyproto: encode: unknown protocol " + h.Protocol.String())
	}
	hasAddr := h.Command == Proxy && (h.Source.IsValid() || h.Destination.IsValid())
	if hasAddr && !(h.Source.IsValid() && h.Destination.IsValid()) {
		return b, errors.New("proxyproto: encode: Source and Destination must both be set or both be zero")
	}
	src, dst := h.Source.Addr().WithZone(""), h.Destination.Addr().WithZone("")
	v4 := false
	if hasAddr {
		if src.Unmap().Is4() && dst.Unmap().Is4() {
			src, dst, v4 = src.Unmap(), dst.Unmap(), true
		} else {
			src, dst = as6(src), as6(dst)
		}
	}
	switch h.Version {
	case 1:
		return appendV1(b, h, hasAddr, v4, src, dst)
	case 2:
		return appendV2(b, h, hasAddr, v4, src, dst)
	}
	return b, errors.New("proxyproto: encode: version must be 1 or 2, not " + strconv.Itoa(h.Version))
}

// as6 returns a in its 16-byte form (an IPv4 address becomes IPv4-mapped).
func as6(a netip.Addr) netip.Addr { return netip.AddrFrom16(a.As16()) }

func appendV1(b []byte, h Header, hasAddr, v4 bool, src, dst netip.Addr) ([]byte, error) {
	if len(h.TLVs) > 0 {
		return b, errors.New("proxyproto: encode: version 1 cannot carry TLVs")
	}
	if !hasAddr {
		return append(b, "PROXY UNKNOWN\r\n"...), nil
	}
	if h.Protocol == UDP {
		return b, errors.New("proxyproto: encode: version 1 cannot carry UDP")
	}
	b = append(b, "PROXY TCP6 "...)
	if v4 {
		b[len(b)-2] = '4'
	}
	b = src.AppendTo(b)
	b = append(b, ' ')
	b = dst.AppendTo(b)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(h.Source.Port()), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(h.Destination.Port()), 10)
	return append(b, '\r', '\n'), nil
}

func appendV2(b []byte, h Header, hasAddr, v4 bool, src, dst netip.Addr) ([]byte, error) {
	n := 0
	if hasAddr {
		n = addrLenInet6
		if v4 {
			n = addrLenInet
		}
	}
	crcs := 0
	for _, t := range h.TLVs {
		if len(t.Value) > 0xffff {
			return b, errors.New("proxyproto: encode: TLV value longer than 65535 bytes")
		}
		if t.Type == TLVTypeCRC32C {
			if len(t.Value) != 4 {
				return b, errors.New("proxyproto: encode: CRC32C TLV must be 4 bytes")
			}
			crcs++
		}
		n += 3 + len(t.Value)
	}
	if n > 0xffff {
		return b, errors.New("proxyproto: encode: header longer than 65535 bytes")
	}
	if crcs > 1 {
		// Each checksum would cover the other's value: no header can satisfy both.
		return b, errors.New("proxyproto: encode: more than one CRC32C TLV")
	}
	start := len(b)
	b = append(b, v2Sig...)
	b = append(b, 0x20|byte(h.Command))
	switch {
	case !hasAddr:
		b = append(b, 0x00)
	case v4:
		b = append(b, 0x10|byte(transport(h.Protocol)))
	default:
		b = append(b, 0x20|byte(transport(h.Protocol)))
	}
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	if hasAddr {
		if v4 {
			s, d := src.As4(), dst.As4()
			b = append(append(b, s[:]...), d[:]...)
		} else {
			s, d := src.As16(), dst.As16()
			b = append(append(b, s[:]...), d[:]...)
		}
		b = binary.BigEndian.AppendUint16(b, h.Source.Port())
		b = binary.BigEndian.AppendUint16(b, h.Destination.Port())
	}
	crcAt := -1
	for _, t := range h.TLVs {
		b = append(b, t.Type)
		b = binary.BigEndian.AppendUint16(b, uint16(len(t.Value)))
		if t.Type == TLVTypeCRC32C {
			crcAt = len(b) - start
		}
		b = append(b, t.Value...)
	}
	// The checksum goes last, over the finished header with its field zero.
	if crcAt >= 0 {
		hdr := b[start:]
		binary.BigEndian.PutUint32(hdr[crcAt:], crc32c(hdr, crcAt))
	}
	return b, nil
}

// transport maps the zero Protocol to TCP, the common case.
func transport(p Protocol) Protocol {
	if p == Unspec {
		return TCP
	}
	return p
}
