package proxyproto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"
)

// FuzzRead feeds arbitrary streams to Read. Whatever it accepts must be
// consumed exactly, must encode, and must read back the same; whatever it
// rejects must be a typed error, and ErrNoHeader must consume nothing.
// Seeds live in testdata/fuzz/FuzzRead.
func FuzzRead(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xac\x13\x00\x01\xac\x13\x00\x03\xa6\x52\x00\x50GET "))
	f.Fuzz(func(t *testing.T, data []byte) {
		// A tiny buffer over a one-byte-at-a-time reader is the hardest
		// case for "never read past the header".
		r := bufio.NewReaderSize(&oneByte{data}, 16)
		h, err := Read(r)
		left, _ := io.ReadAll(r)
		if err != nil {
			switch {
			case errors.Is(err, ErrNoHeader):
				if !bytes.Equal(left, data) {
					t.Fatalf("ErrNoHeader consumed %d bytes", len(data)-len(left))
				}
			case errors.Is(err, ErrInvalid):
			case err == io.EOF && len(data) == 0:
			default:
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		consumed := data[:len(data)-len(left)]
		if h.Version == 1 && (len(consumed) > v1MaxLen || !bytes.HasSuffix(consumed, []byte("\r\n"))) {
			t.Fatalf("v1 header %q", consumed)
		}
		if h.Version == 2 && len(consumed) > v2HeaderLen+maxV2Payload {
			t.Fatalf("v2 header of %d bytes", len(consumed))
		}
		if (h.Protocol == Unspec) != !h.Source.IsValid() || h.Source.IsValid() != h.Destination.IsValid() {
			t.Fatalf("inconsistent header %+v", h)
		}
		enc, err := h.AppendTo(nil)
		if err != nil {
			t.Fatalf("cannot encode %+v read from %q: %v", h, consumed, err)
		}
		r2 := bufio.NewReader(bytes.NewReader(append(enc, 'x')))
		h2, err := Read(r2)
		if err != nil {
			t.Fatalf("cannot read back %q (from %+v): %v", enc, h, err)
		}
		if rest, _ := io.ReadAll(r2); string(rest) != "x" {
			t.Fatalf("re-read of %q left %q", enc, rest)
		}
		if !equalHeaders(normalize(h), normalize(h2)) {
			t.Fatalf("round trip changed the header\n got %+v\nwant %+v", h2, h)
		}
	})
}

// normalize erases the differences AppendTo makes on purpose: IPv4-mapped
// pairs become IPv4, and CRC32C values are recomputed for the new bytes.
func normalize(h Header) Header {
	if s, d := h.Source.Addr(), h.Destination.Addr(); s.Unmap().Is4() && d.Unmap().Is4() {
		h.Source = netip.AddrPortFrom(s.Unmap(), h.Source.Port())
		h.Destination = netip.AddrPortFrom(d.Unmap(), h.Destination.Port())
	}
	tlvs := make([]TLV, len(h.TLVs))
	for i, t := range h.TLVs {
		if t.Type == TLVTypeCRC32C {
			t.Value = nil
		}
		tlvs[i] = t
	}
	h.TLVs = tlvs
	return h
}

// oneByte returns its data one byte per Read, like a slow sender.
type oneByte struct{ b []byte }

func (o *oneByte) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = o.b[0]
	o.b = o.b[1:]
	return 1, nil
}
