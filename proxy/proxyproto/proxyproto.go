// Package proxyproto encodes and decodes the PROXY protocol header, versions
// 1 (text) and 2 (binary), as specified in HAProxy's doc/proxy-protocol.txt.
// vigil sends it to backends (HAProxy's send-proxy / send-proxy-v2) so they
// see the real client address, and accepts it from a load balancer in front
// (accept-proxy).
//
// The codec is pure: Read takes a *bufio.Reader and consumes exactly the
// header, so the client's first bytes stay in the reader for the proxy to
// forward. Everything it rejects is reported as ErrInvalid with the reason;
// a stream that is not PROXY protocol at all is ErrNoHeader. The spec forbids
// guessing whether a header is present, so callers enable Read per listener
// by configuration and drop the connection on any error.
package proxyproto

import (
	"errors"
	"fmt"
	"net/netip"
)

// Command says whether a header carries a relayed connection's addresses.
type Command uint8

const (
	// Local is a connection the sender opened on its own behalf (a health
	// check); the receiver uses the real connection endpoints. Version 1
	// "UNKNOWN" reads as Local.
	Local Command = 0x0
	// Proxy is a connection relayed for a client; Source and Destination are
	// the client's original endpoints.
	Proxy Command = 0x1
)

// String names the command as the spec does.
func (c Command) String() string {
	switch c {
	case Local:
		return "LOCAL"
	case Proxy:
		return "PROXY"
	}
	return fmt.Sprintf("Command(%d)", uint8(c))
}

// Protocol is the transport of the relayed connection. The values are the
// version 2 wire nibbles.
type Protocol uint8

const (
	// Unspec means no addresses are carried (Local, v1 UNKNOWN, or a
	// family this package does not represent, such as AF_UNIX).
	Unspec Protocol = 0x0
	// TCP is a stream connection over IPv4 or IPv6 (v1 TCP4/TCP6).
	TCP Protocol = 0x1
	// UDP is a datagram flow over IPv4 or IPv6 (version 2 only).
	UDP Protocol = 0x2
)

// String names the protocol.
func (p Protocol) String() string {
	switch p {
	case Unspec:
		return "UNSPEC"
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	}
	return fmt.Sprintf("Protocol(%d)", uint8(p))
}

// TLV is one version 2 type-length-value extension, kept verbatim.
type TLV struct {
	// Type is the TLV type, one of the TLVType constants or any other.
	Type byte
	// Value is the raw value. After Read it aliases the header's buffer.
	Value []byte
}

// TLV types registered by the spec (section 2.2).
const (
	TLVTypeALPN      = 0x01 // application protocol (TLS ALPN)
	TLVTypeAuthority = 0x02 // host name the client asked for (TLS SNI)
	TLVTypeCRC32C    = 0x03 // CRC32c of the whole header, checked by Read, filled in by AppendTo
	TLVTypeNoop      = 0x04 // padding, ignored
	TLVTypeUniqueID  = 0x05 // opaque connection id, up to 128 bytes
	TLVTypeSSL       = 0x20 // TLS details, with sub-TLVs (kept verbatim)
	TLVTypeNetNS     = 0x30 // network namespace name
)

// Header is one PROXY protocol header.
type Header struct {
	// Version is 1 (text) or 2 (binary).
	Version int
	// Command is Local or Proxy; v1 "UNKNOWN" maps to Local.
	Command Command
	// Source and Destination are the client's original endpoints. They are
	// zero (not IsValid) for Local, UNKNOWN and families without IP
	// addresses; the receiver then uses the connection's own endpoints.
	Source, Destination netip.AddrPort
	// Protocol is TCP or UDP when addresses are present, Unspec otherwise.
	Protocol Protocol
	// TLVs are the version 2 extensions in wire order, kept verbatim.
	TLVs []TLV
}

// ErrNoHeader is returned by Read when the stream does not start with a
// PROXY protocol signature. Nothing is consumed from the reader.
var ErrNoHeader = errors.New("proxyproto: no PROXY protocol header")

// ErrInvalid is matched (errors.Is) by every error about a header that
// starts with a signature but is malformed, too long or truncated.
var ErrInvalid = errors.New("proxyproto: invalid PROXY protocol header")

// invalidError carries the reason and, for truncation, the I/O error, so
// that errors.Is finds both ErrInvalid and io.ErrUnexpectedEOF.
type invalidError struct {
	detail string
	cause  error
}

func (e *invalidError) Error() string {
	if e.cause != nil {
		return ErrInvalid.Error() + ": " + e.detail + ": " + e.cause.Error()
	}
	return ErrInvalid.Error() + ": " + e.detail
}

func (e *invalidError) Unwrap() []error {
	if e.cause != nil {
		return []error{ErrInvalid, e.cause}
	}
	return []error{ErrInvalid}
}

func invalid(format string, args ...any) error {
	return &invalidError{detail: fmt.Sprintf(format, args...)}
}

// Wire constants of the spec.
const (
	// v1MaxLen is the longest v1 line including CRLF ("PROXY UNKNOWN" with
	// two full IPv6 addresses and ports), section 2.1.
	v1MaxLen = 107
	// v2HeaderLen is the fixed part: signature, ver_cmd, fam, len.
	v2HeaderLen = 16
	// maxV2Payload bounds the address and TLV block Read accepts. Real
	// senders use well under 1 KiB (addresses plus a few TLVs); the bound
	// keeps a hostile peer from making every connection allocate 64 KiB.
	maxV2Payload = 2048

	addrLenInet  = 12  // 2*4 + 2*2
	addrLenInet6 = 36  // 2*16 + 2*2
	addrLenUnix  = 216 // 2*108
)

// v1Sig starts every version 1 header; v2Sig every version 2 header.
var (
	v1Sig = []byte("PROXY")
	v2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")
)
