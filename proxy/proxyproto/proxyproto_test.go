package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func readString(s string) (Header, *bufio.Reader, error) {
	r := bufio.NewReader(strings.NewReader(s))
	h, err := Read(r)
	return h, r, err
}

func rest(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestV2Signature(t *testing.T) {
	// Section 2.2, byte for byte.
	want := []byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}
	if !bytes.Equal(v2Sig, want) {
		t.Fatalf("v2Sig = % x", v2Sig)
	}
	b, err := Header{Version: 2, Command: Local}.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(want, 0x20, 0x00, 0x00, 0x00); !bytes.Equal(b, want) {
		t.Fatalf("v2 LOCAL = % x, want % x", b, want)
	}
}

// TestSpecV1Example is the example line of section 2.1 in front of an HTTP request.
func TestSpecV1Example(t *testing.T) {
	const line = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
	const req = "GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n"
	h, r, err := readString(line + req)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{Version: 1, Command: Proxy, Protocol: TCP, Source: ap("192.168.0.1:56324"), Destination: ap("192.168.0.11:443")}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got %+v\nwant %+v", h, want)
	}
	if got := rest(t, r); got != req {
		t.Fatalf("after the header: %q", got)
	}
	b, err := want.AppendTo([]byte("x"))
	if err != nil || string(b) != "x"+line {
		t.Fatalf("encode: %q, %v", b, err)
	}
}

// TestHAProxyV2Capture is a header HAProxy sent (send-proxy-v2) as captured
// in front of an HTTP request.
func TestHAProxyV2Capture(t *testing.T) {
	hdr, _ := hex.DecodeString("0d0a0d0a000d0a515549540a" + "2111000c" + "ac130001ac130003" + "a6520050")
	const req = "GET / HTTP/1.1\r\n"
	h, r, err := readString(string(hdr) + req)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{Version: 2, Command: Proxy, Protocol: TCP, Source: ap("172.19.0.1:42578"), Destination: ap("172.19.0.3:80")}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got %+v\nwant %+v", h, want)
	}
	if got := rest(t, r); got != req {
		t.Fatalf("after the header: %q", got)
	}
	b, err := want.AppendTo(nil)
	if err != nil || !bytes.Equal(b, hdr) {
		t.Fatalf("encode: % x, %v\nwant        % x", b, err, hdr)
	}
}

func TestV1Limits(t *testing.T) {
	f := "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
	tcp6 := "PROXY TCP6 " + f + " " + f + " 65535 65535\r\n"
	unknown := "PROXY UNKNOWN " + f + " " + f + " 65535 65535\r\n"
	if len(tcp6) != 104 || len(unknown) != 107 {
		t.Fatalf("lengths %d %d, spec says 104 and 107", len(tcp6), len(unknown))
	}
	if h, r, err := readString(tcp6 + "z"); err != nil || h.Source.Port() != 65535 || rest(t, r) != "z" {
		t.Fatalf("longest TCP6 line: %+v %v", h, err)
	}
	if h, r, err := readString(unknown + "z"); err != nil || h.Command != Local || rest(t, r) != "z" {
		t.Fatalf("longest UNKNOWN line: %+v %v", h, err)
	}
	if _, _, err := readString("PROXY UNKNOWN " + f + " " + f + " 65535 655350\r\n"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("108-byte line: %v", err)
	}
	// Nothing beyond 107 bytes is consumed even if the line goes on.
	r := bufio.NewReader(strings.NewReader("PROXY UNKNOWN " + strings.Repeat("a", 200) + "\r\n"))
	if _, err := Read(r); !errors.Is(err, ErrInvalid) {
		t.Fatalf("long line: %v", err)
	}
	if n := len(rest(t, r)); n != 216-107 {
		t.Fatalf("%d bytes left, want %d", n, 216-107)
	}
}

func TestRoundTrip(t *testing.T) {
	crc := TLV{Type: TLVTypeCRC32C, Value: []byte{0, 0, 0, 0}}
	cases := []struct {
		name string
		h    Header
		want Header // what reading the encoding gives, if not h
	}{
		{"v1 tcp4", Header{Version: 1, Command: Proxy, Protocol: TCP, Source: ap("10.0.0.1:1"), Destination: ap("10.0.0.2:65535")}, Header{}},
		{"v1 tcp6", Header{Version: 1, Command: Proxy, Protocol: TCP, Source: ap("[2001:db8::1]:40000"), Destination: ap("[::1]:0")}, Header{}},
		{"v1 unknown", Header{Version: 1, Command: Local}, Header{}},
		{"v1 proxy without addresses is UNKNOWN", Header{Version: 1, Command: Proxy}, Header{Version: 1, Command: Local}},
		{"v1 mapped v4 sent as TCP4", Header{Version: 1, Command: Proxy, Protocol: TCP, Source: ap("[::ffff:192.0.2.1]:5"), Destination: ap("[::ffff:192.0.2.2]:6")},
			Header{Version: 1, Command: Proxy, Protocol: TCP, Source: ap("192.0.2.1:5"), Destination: ap("192.0.2.2:6")}},
		{"v1 mixed families sent as TCP6", Header{Version: 1, Command: Proxy, Protocol: TCP, Source: ap("192.0.2.1:5"), Destination: ap("[2001:db8::2]:6")},
			Header{Version: 1, Command: Proxy, Protocol: TCP, Source: ap("[::ffff:192.0.2.1]:5"), Destination: ap("[2001:db8::2]:6")}},
		{"v1 zone dropped", Header{Version: 1, Command: Proxy, Protocol: TCP, Source: ap("[fe80::1%eth0]:5"), Destination: ap("[fe80::2]:6")},
			Header{Version: 1, Command: Proxy, Protocol: TCP, Source: ap("[fe80::1]:5"), Destination: ap("[fe80::2]:6")}},
		{"v1 zero protocol is TCP", Header{Version: 1, Command: Proxy, Source: ap("10.0.0.1:1"), Destination: ap("10.0.0.2:2")},
			Header{Version: 1, Command: Proxy, Protocol: TCP, Source: ap("10.0.0.1:1"), Destination: ap("10.0.0.2:2")}},
		{"v2 tcp4", Header{Version: 2, Command: Proxy, Protocol: TCP, Source: ap("10.0.0.1:1234"), Destination: ap("10.0.0.2:80")}, Header{}},
		{"v2 udp6", Header{Version: 2, Command: Proxy, Protocol: UDP, Source: ap("[2001:db8::1]:53"), Destination: ap("[2001:db8::2]:5353")}, Header{}},
		{"v2 local", Header{Version: 2, Command: Local}, Header{}},
		{"v2 local with TLVs", Header{Version: 2, Command: Local, TLVs: []TLV{{Type: TLVTypeNoop, Value: []byte{}}, {Type: 0xE0, Value: []byte("x")}}}, Header{}},
		{"v2 proxy unspec", Header{Version: 2, Command: Proxy}, Header{}},
		{"v2 TLVs", Header{Version: 2, Command: Proxy, Protocol: TCP, Source: ap("[2001:db8::1]:1"), Destination: ap("[2001:db8::2]:443"),
			TLVs: []TLV{{Type: TLVTypeALPN, Value: []byte("h2")}, {Type: TLVTypeAuthority, Value: []byte("example.com")}, {Type: TLVTypeUniqueID, Value: bytes.Repeat([]byte{7}, 128)}}}, Header{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := c.want
			if want.Version == 0 {
				want = c.h
			}
			b, err := c.h.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			// Read one byte at a time and through the smallest buffer bufio
			// allows: the header must still come out whole and exact.
			for _, r := range []*bufio.Reader{
				bufio.NewReader(bytes.NewReader(append(b, "tail"...))),
				bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(append(b, "tail"...))), 16),
			} {
				got, err := Read(r)
				if err != nil {
					t.Fatalf("read %q: %v", b, err)
				}
				if !equalHeaders(got, want) {
					t.Fatalf("read %q\n got %+v\nwant %+v", b, got, want)
				}
				if s := rest(t, r); s != "tail" {
					t.Fatalf("after the header: %q", s)
				}
			}
		})
	}
	t.Run("v2 CRC32C", func(t *testing.T) {
		h := Header{Version: 2, Command: Proxy, Protocol: TCP, Source: ap("10.0.0.1:1"), Destination: ap("10.0.0.2:2"),
			TLVs: []TLV{{Type: TLVTypeALPN, Value: []byte("http/1.1")}, crc}}
		b, err := h.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		if crc.Value[0]|crc.Value[1]|crc.Value[2]|crc.Value[3] != 0 {
			t.Fatal("AppendTo modified the caller's TLV")
		}
		got, _, err := readString(string(b))
		if err != nil {
			t.Fatal(err)
		}
		// Check the stored value independently: CRC32c over the header with the field zeroed.
		off := len(b) - 4
		z := append(append([]byte{}, b[:off]...), 0, 0, 0, 0)
		if want := crc32cRef(z); binary.BigEndian.Uint32(got.TLVs[1].Value) != want {
			t.Fatalf("crc %x, want %x", got.TLVs[1].Value, want)
		}
		b[20] ^= 1 // corrupt the source address
		if _, _, err := readString(string(b)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "CRC32C") {
			t.Fatalf("corrupted: %v", err)
		}
	})
}

// crc32cRef is a bitwise CRC32c (reflected polynomial 0x82F63B78), written
// out so the test does not check hash/crc32 against itself.
func crc32cRef(b []byte) uint32 {
	c := ^uint32(0)
	for _, x := range b {
		c ^= uint32(x)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0x82F63B78
			} else {
				c >>= 1
			}
		}
	}
	return ^c
}

// equalHeaders compares headers treating nil and empty TLV values alike.
func equalHeaders(a, b Header) bool {
	if len(a.TLVs) != len(b.TLVs) {
		return false
	}
	for i := range a.TLVs {
		if a.TLVs[i].Type != b.TLVs[i].Type || !bytes.Equal(a.TLVs[i].Value, b.TLVs[i].Value) {
			return false
		}
	}
	return a.Version == b.Version && a.Command == b.Command && a.Protocol == b.Protocol &&
		a.Source == b.Source && a.Destination == b.Destination
}

// TestTruncated cuts every valid encoding at every offset: always a clean
// error, never a panic or a header.
func TestTruncated(t *testing.T) {
	headers := []Header{
		{Version: 1, Command: Proxy, Source: ap("192.0.2.1:1"), Destination: ap("192.0.2.2:2")},
		{Version: 1, Command: Proxy, Source: ap("[2001:db8::1]:1"), Destination: ap("[2001:db8::2]:2")},
		{Version: 1, Command: Local},
		{Version: 2, Command: Proxy, Source: ap("192.0.2.1:1"), Destination: ap("192.0.2.2:2")},
		{Version: 2, Command: Proxy, Protocol: UDP, Source: ap("[2001:db8::1]:1"), Destination: ap("[2001:db8::2]:2"),
			TLVs: []TLV{{Type: TLVTypeAuthority, Value: []byte("a.example")}, {Type: TLVTypeCRC32C, Value: make([]byte, 4)}}},
		{Version: 2, Command: Local},
	}
	for _, h := range headers {
		b, err := h.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range len(b) {
			_, _, err := readString(string(b[:i]))
			switch {
			case i == 0 && err != io.EOF:
				t.Fatalf("empty stream: %v, want io.EOF", err)
			case i > 0 && !(errors.Is(err, ErrInvalid) && errors.Is(err, io.ErrUnexpectedEOF)):
				t.Fatalf("%q cut at %d: %v, want a truncation error", b, i, err)
			}
		}
	}
}

func TestNoHeader(t *testing.T) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01", // TLS ClientHello
		"SSH-2.0-OpenSSH_9.2\r\n",
		"PROXZ TCP4",
		"PROXy TCP4 1.2.3.4 1.2.3.4 1 2\r\n",
		"\r\n\r\nQUIT\r\n",
		"\r\n\r\n\x00\r\nQUIT\r",
		"\r\nX",
	} {
		h, r, err := readString(s)
		if !errors.Is(err, ErrNoHeader) || !reflect.DeepEqual(h, Header{}) {
			t.Errorf("%q: %+v %v, want ErrNoHeader", s, h, err)
			continue
		}
		if got := rest(t, r); got != s {
			t.Errorf("%q: consumed bytes, %q left", s, got)
		}
	}
}

// TestNoHeaderEarly: a client that sent a few non-PROXY bytes and waits is
// turned away at once instead of blocking until more bytes arrive.
func TestNoHeaderEarly(t *testing.T) {
	for _, s := range []string{"PRX", "\r\n\r\n\x00X", "hi"} {
		pr, pw := io.Pipe()
		go pw.Write([]byte(s)) // and never more, never closed
		done := make(chan error, 1)
		go func() { _, err := Read(bufio.NewReader(pr)); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNoHeader) {
				t.Errorf("%q: %v", s, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%q: Read blocked", s)
		}
		pw.Close()
	}
}

func TestInvalid(t *testing.T) {
	v2 := func(verCmd, fam byte, payload ...byte) string {
		b := append([]byte{}, v2Sig...)
		b = append(b, verCmd, fam)
		b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
		return string(append(b, payload...))
	}
	v4addr := []byte{10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2}
	cases := map[string]string{
		"v1 no space":            "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"v1 lowercase proto":     "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
		"v1 UDP4":                "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"v1 UNKNOWN suffix":      "PROXY UNKNOWNX\r\n",
		"v1 bare":                "PROXY\r\n",
		"v1 LF only":             "PROXY UNKNOWN\n",
		"v1 CR inside":           "PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n",
		"v1 too few fields":      "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
		"v1 too many fields":     "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
		"v1 double space":        "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
		"v1 trailing space":      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
		"v1 leading zero octet":  "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
		"v1 octet > 255":         "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
		"v1 short IPv4":          "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
		"v1 hostname":            "PROXY TCP4 localhost 5.6.7.8 1 2\r\n",
		"v1 TCP4 with IPv6":      "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
		"v1 TCP6 with IPv4":      "PROXY TCP6 ::1 5.6.7.8 1 2\r\n",
		"v1 TCP6 bad":            "PROXY TCP6 ::1::2 ::1 1 2\r\n",
		"v1 TCP6 zone":           "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
		"v1 TCP6 brackets":       "PROXY TCP6 [::1] ::1 1 2\r\n",
		"v1 port leading zero":   "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"v1 port 65536":          "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
		"v1 port 6 digits":       "PROXY TCP4 1.2.3.4 5.6.7.8 1 000001\r\n",
		"v1 port sign":           "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
		"v1 port empty":          "PROXY TCP4 1.2.3.4 5.6.7.8  2\r\n",
		"v1 port hex":            "PROXY TCP4 1.2.3.4 5.6.7.8 0x1 2\r\n",
		"v2 version 1":           v2(0x11, 0x11, v4addr...),
		"v2 version 3":           v2(0x31, 0x11, v4addr...),
		"v2 command 2":           v2(0x22, 0x11, v4addr...),
		"v2 command f":           v2(0x2f, 0x00),
		"v2 family 4":            v2(0x21, 0x41, v4addr...),
		"v2 protocol 3":          v2(0x21, 0x13, v4addr...),
		"v2 short inet":          v2(0x21, 0x11, v4addr[:11]...),
		"v2 short inet6":         v2(0x21, 0x21, make([]byte, 35)...),
		"v2 short unix":          v2(0x21, 0x31, make([]byte, 215)...),
		"v2 stray byte":          v2(0x21, 0x11, append(v4addr, 0x04)...),
		"v2 TLV overrun":         v2(0x21, 0x11, append(v4addr, 0x04, 0x00, 0x02, 0xff)...),
		"v2 local TLV overrun":   v2(0x20, 0x00, 0x01, 0x00, 0x09, 'h', '2'),
		"v2 bad CRC":             v2(0x21, 0x11, append(v4addr, 0x03, 0x00, 0x04, 1, 2, 3, 4)...),
		"v2 CRC wrong size":      v2(0x21, 0x11, append(v4addr, 0x03, 0x00, 0x02, 1, 2)...),
		"v2 length beyond limit": v2(0x21, 0x11, make([]byte, maxV2Payload+1)...),
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			h, _, err := readString(s + "tail")
			if !errors.Is(err, ErrInvalid) || !reflect.DeepEqual(h, Header{}) {
				t.Fatalf("%q: %+v, %v; want ErrInvalid", s, h, err)
			}
		})
	}
	// The length limit is checked before reading (or allocating) the body.
	r := bufio.NewReader(io.MultiReader(strings.NewReader(v2(0x21, 0x11)[:14]+"\xff\xff"), iotest.ErrReader(errors.New("read past the fixed header"))))
	if _, err := Read(r); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("65535-byte v2: %v", err)
	}
}

// TestLenient covers what the spec tells receivers to accept.
func TestLenient(t *testing.T) {
	v2 := func(verCmd, fam byte, payload ...byte) string {
		b := append([]byte{}, v2Sig...)
		b = append(b, verCmd, fam)
		b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
		return string(append(b, payload...))
	}
	alpn := []byte{0x01, 0x00, 0x02, 'h', '2'}
	cases := []struct {
		name, in string
		want     Header
	}{
		{"v1 UNKNOWN ignores the rest", "PROXY UNKNOWN whatever \xff\r goes\r\n", Header{Version: 1, Command: Local}},
		{"v1 TCP6 with embedded IPv4", "PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n",
			Header{Version: 1, Command: Proxy, Protocol: TCP, Source: ap("[::ffff:1.2.3.4]:1"), Destination: ap("[::1]:2")}},
		{"v1 upper-case hex", "PROXY TCP6 2001:DB8::1 ::1 1 2\r\n",
			Header{Version: 1, Command: Proxy, Protocol: TCP, Source: ap("[2001:db8::1]:1"), Destination: ap("[::1]:2")}},
		{"v1 port 0", "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n",
			Header{Version: 1, Command: Proxy, Protocol: TCP, Source: ap("0.0.0.0:0"), Destination: ap("255.255.255.255:65535")}},
		{"v2 LOCAL ignores addresses", v2(0x20, 0x11, append([]byte{1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2}, alpn...)...),
			Header{Version: 2, Command: Local, TLVs: []TLV{{Type: 1, Value: []byte("h2")}}}},
		{"v2 LOCAL ignores an unknown family", v2(0x20, 0xff, 1, 2, 3), Header{Version: 2, Command: Local}},
		{"v2 LOCAL with short addresses", v2(0x20, 0x21, 1, 2, 3), Header{Version: 2, Command: Local}},
		{"v2 AF_UNIX falls back to UNSPEC", v2(0x21, 0x31, append(make([]byte, 216), alpn...)...),
			Header{Version: 2, Command: Proxy, TLVs: []TLV{{Type: 1, Value: []byte("h2")}}}},
		{"v2 inet with UNSPEC transport skipped", v2(0x21, 0x10, 1, 2, 3), Header{Version: 2, Command: Proxy}},
		{"v2 PROXY UNSPEC with TLVs", v2(0x21, 0x00, alpn...), Header{Version: 2, Command: Proxy, TLVs: []TLV{{Type: 1, Value: []byte("h2")}}}},
		{"v2 payload at the limit", v2(0x21, 0x11, append(append([]byte{}, make([]byte, 12)...), append([]byte{0x04, 0x07, 0xf1}, make([]byte, maxV2Payload-15)...)...)...),
			Header{Version: 2, Command: Proxy, Protocol: TCP, Source: ap("0.0.0.0:0"), Destination: ap("0.0.0.0:0"), TLVs: []TLV{{Type: TLVTypeNoop, Value: make([]byte, maxV2Payload-15)}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, r, err := readString(c.in + "tail")
			if err != nil {
				t.Fatalf("%q: %v", c.in, err)
			}
			if !equalHeaders(h, c.want) {
				t.Fatalf("got %+v\nwant %+v", h, c.want)
			}
			if s := rest(t, r); s != "tail" {
				t.Fatalf("after the header: %q", s)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	if _, _, err := readString(""); err != io.EOF {
		t.Fatalf("empty: %v", err)
	}
	// An I/O error mid-header is reported as such, not as an invalid header.
	boom := errors.New("deadline")
	r := bufio.NewReader(io.MultiReader(strings.NewReader("PROXY TCP4 1.2"), iotest.ErrReader(boom)))
	if _, err := Read(r); !errors.Is(err, boom) || errors.Is(err, ErrInvalid) {
		t.Fatalf("mid-header error: %v", err)
	}
	r = bufio.NewReader(iotest.ErrReader(boom))
	if _, err := Read(r); err != boom {
		t.Fatalf("first-byte error: %v", err)
	}
}

func TestAppendToErrors(t *testing.T) {
	a, b := ap("10.0.0.1:1"), ap("10.0.0.2:2")
	cases := map[string]Header{
		"version 0":       {Command: Proxy, Source: a, Destination: b},
		"version 3":       {Version: 3, Command: Proxy, Source: a, Destination: b},
		"command 2":       {Version: 2, Command: 2},
		"protocol 3":      {Version: 2, Command: Proxy, Protocol: 3, Source: a, Destination: b},
		"one address":     {Version: 2, Command: Proxy, Source: a},
		"v1 TLVs":         {Version: 1, Command: Proxy, Source: a, Destination: b, TLVs: []TLV{{Type: 1}}},
		"v1 UDP":          {Version: 1, Command: Proxy, Protocol: UDP, Source: a, Destination: b},
		"CRC size":        {Version: 2, Command: Local, TLVs: []TLV{{Type: TLVTypeCRC32C, Value: []byte{1}}}},
		"two CRCs":        {Version: 2, Command: Local, TLVs: []TLV{{Type: TLVTypeCRC32C, Value: make([]byte, 4)}, {Type: TLVTypeCRC32C, Value: make([]byte, 4)}}},
		"TLV too long":    {Version: 2, Command: Local, TLVs: []TLV{{Type: 0xE0, Value: make([]byte, 65536)}}},
		"header too long": {Version: 2, Command: Local, TLVs: []TLV{{Type: 0xE0, Value: make([]byte, 40000)}, {Type: 0xE1, Value: make([]byte, 40000)}}},
	}
	for name, h := range cases {
		prefix := []byte("keep")
		got, err := h.AppendTo(prefix)
		if err == nil || string(got) != "keep" {
			t.Errorf("%s: %q, %v; want an error and b unchanged", name, got, err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	for _, h := range []Header{
		{Version: 1, Command: Proxy, Protocol: TCP, Source: ap("192.0.2.1:40000"), Destination: ap("198.51.100.7:443")},
		{Version: 2, Command: Proxy, Protocol: TCP, Source: ap("192.0.2.1:40000"), Destination: ap("198.51.100.7:443")},
	} {
		enc, _ := h.AppendTo(nil)
		b.Run("v"+string(rune('0'+h.Version)), func(b *testing.B) {
			src := bytes.NewReader(enc)
			r := bufio.NewReader(src)
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(enc)
				r.Reset(src)
				if _, err := Read(r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("append-v"+string(rune('0'+h.Version)), func(b *testing.B) {
			buf := make([]byte, 0, 128)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = h.AppendTo(buf[:0])
			}
		})
	}
}
