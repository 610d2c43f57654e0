package arp

import (
	"bytes"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// The golden frames below were captured (tcpdump -xx) from keepalived
// 2.2.7 announcing 10.90.250.100 and fd00:90:250::100 on a veth with MAC
// b2:d0:e6:ee:67:f5, and fd00:90:251::100 from 1e:d6:cd:33:4c:36 with
// net.ipv6.conf.all.forwarding=1. Matching them byte for byte is the
// interop guarantee: same broadcast target MAC, same NA source and flags,
// same lengths, same checksums.
const (
	keepalivedGARP = `
		ffff ffff ffff b2d0 e6ee 67f5 0806 0001
		0800 0604 0001 b2d0 e6ee 67f5 0a5a fa64
		ffff ffff ffff 0a5a fa64`
	keepalivedNA = `
		3333 0000 0001 b2d0 e6ee 67f5 86dd 6000
		0000 0020 3aff fd00 0090 0250 0000 0000
		0000 0000 0100 ff02 0000 0000 0000 0000
		0000 0000 0001 8800 5329 2000 0000 fd00
		0090 0250 0000 0000 0000 0000 0100 0201
		b2d0 e6ee 67f5`
	keepalivedNARouter = `
		3333 0000 0001 1ed6 cd33 4c36 86dd 6000
		0000 0020 3aff fd00 0090 0251 0000 0000
		0000 0000 0100 ff02 0000 0000 0000 0000
		0000 0000 0001 8800 9c9b a000 0000 fd00
		0090 0251 0000 0000 0000 0000 0100 0201
		1ed6 cd33 4c36`
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFramesMatchKeepalived(t *testing.T) {
	mac1, _ := net.ParseMAC("b2:d0:e6:ee:67:f5")
	mac2, _ := net.ParseMAC("1e:d6:cd:33:4c:36")
	tests := []struct {
		name   string
		golden string
		build  func() ([]byte, error)
	}{
		{"garp", keepalivedGARP, func() ([]byte, error) {
			return garpFrame(mac1, netip.MustParseAddr("10.90.250.100"))
		}},
		{"na", keepalivedNA, func() ([]byte, error) {
			return naFrame(mac1, netip.MustParseAddr("fd00:90:250::100"), false)
		}},
		{"na-router", keepalivedNARouter, func() ([]byte, error) {
			return naFrame(mac2, netip.MustParseAddr("fd00:90:251::100"), true)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.build()
			if err != nil {
				t.Fatal(err)
			}
			want := unhex(t, tt.golden)
			if !bytes.Equal(got, want) {
				t.Fatalf("frame differs from keepalived's:\n got  %x\n want %x", got, want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string // want "" means rejected
	}{
		{"10.0.0.1", "10.0.0.1"},
		{"::ffff:10.0.0.1", "10.0.0.1"},
		{"fd00::1", "fd00::1"},
		{"fe80::1%eth0", "fe80::1"},
		{"169.254.1.1", "169.254.1.1"},
		{"0.0.0.0", ""},
		{"255.255.255.255", ""},
		{"224.0.0.18", ""},
		{"127.0.0.1", ""},
		{"::", ""},
		{"::1", ""},
		{"ff02::1", ""},
	}
	for _, tt := range tests {
		got, err := normalize(netip.MustParseAddr(tt.in))
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("normalize(%s) = %s, want an error", tt.in, got)
		case tt.want != "" && err != nil:
			t.Errorf("normalize(%s): %v", tt.in, err)
		case tt.want != "" && got != netip.MustParseAddr(tt.want):
			t.Errorf("normalize(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if _, err := normalize(netip.Addr{}); err == nil {
		t.Error("normalize(zero Addr) succeeded")
	}
}

func TestIsEthernetMAC(t *testing.T) {
	tests := []struct {
		mac  net.HardwareAddr
		want bool
	}{
		{net.HardwareAddr{0x02, 0, 0, 0, 0, 1}, true},
		{nil, false}, // loopback, tun, WireGuard
		{net.HardwareAddr{0, 0, 0, 0, 0, 0}, false},       // loopback as the kernel has it
		{net.HardwareAddr{10, 0, 0, 1}, false},            // ipip, gre
		{net.HardwareAddr{0x01, 0, 0x5e, 0, 0, 1}, false}, // group address
		{make(net.HardwareAddr, 20), false},               // InfiniBand
	}
	for _, tt := range tests {
		if got := isEthernetMAC(tt.mac); got != tt.want {
			t.Errorf("isEthernetMAC(%v) = %v, want %v", tt.mac, got, tt.want)
		}
	}
}
