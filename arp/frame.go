package arp

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	mdarp "github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
)

// Wire format, taken from keepalived (keepalived/vrrp/vrrp_arp.c
// send_gratuitous_arp_immediate and keepalived/vrrp/vrrp_ndisc.c
// ndisc_send_unsolicited_na_immediate) and confirmed by capturing
// keepalived 2.2.7:
//
//   - gratuitous ARP: Ethernet broadcast, ARP request, sender and target IP
//     both the VIP, sender MAC the interface's, target MAC ff:ff:ff:ff:ff:ff
//     (keepalived fills it with 0xff, not zeros), 42 bytes with no padding
//     (the NIC pads on a real wire).
//   - unsolicited NA: Ethernet 33:33:00:00:00:01, IPv6 from the VIP itself
//     to ff02::1 with hop limit 255, Override set, Solicited clear, Router
//     set only when IPv6 forwarding is on for the interface, target the VIP,
//     one Target Link-Layer Address option with the interface's MAC.

const (
	etherTypeIPv6 = 0x86dd
	ethHeaderLen  = 14
	ipv6HeaderLen = 40
	// ndiscHopLimit is required: receivers drop NDP with any other hop
	// limit (RFC 4861 7.1.2), which proves it was not routed.
	ndiscHopLimit = 255
	protoICMPv6   = 58
)

// allNodes is where unsolicited NAs go (RFC 4861 7.2.6), and allNodesMAC
// its Ethernet mapping (RFC 2464 7).
var (
	allNodes    = netip.MustParseAddr("ff02::1")
	allNodesMAC = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
)

// normalize returns the address a frame is built for, or why it cannot be
// announced. IPv4-mapped IPv6 is unmapped because config and netlink code
// can hand those over for plain IPv4 VIPs, and zones are dropped because
// the interface is already fixed.
func normalize(a netip.Addr) (netip.Addr, error) {
	if !a.IsValid() {
		return a, fmt.Errorf("invalid address")
	}
	a = a.Unmap().WithZone("")
	switch {
	case a.IsUnspecified(), a.IsMulticast(), a.IsLoopback():
		return a, fmt.Errorf("%s is not a unicast address that can be announced", a)
	case a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return a, fmt.Errorf("%s is not a unicast address that can be announced", a)
	}
	return a, nil
}

// garpFrame builds the gratuitous ARP for ip (already normalized, IPv4).
func garpFrame(mac net.HardwareAddr, ip netip.Addr) ([]byte, error) {
	p, err := mdarp.NewPacket(mdarp.OperationRequest, mac, ip, ethernet.Broadcast, ip)
	if err != nil {
		return nil, err
	}
	body, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	// The Ethernet header is written here rather than with
	// ethernet.Frame, which pads to 60 bytes; keepalived leaves padding
	// to the NIC, and so do we.
	b := make([]byte, 0, ethHeaderLen+len(body))
	b = append(b, ethernet.Broadcast...)
	b = append(b, mac...)
	b = binary.BigEndian.AppendUint16(b, uint16(ethernet.EtherTypeARP))
	return append(b, body...), nil
}

// naFrame builds the unsolicited Neighbor Advertisement for ip (already
// normalized, IPv6). router is the R flag: it must say whether this node
// forwards, because a receiver that sees R go from 1 to 0 drops the node
// from its default router list (RFC 4861 7.2.5).
func naFrame(mac net.HardwareAddr, ip netip.Addr, router bool) ([]byte, error) {
	na := &ndp.NeighborAdvertisement{
		Router:        router,
		Override:      true,
		TargetAddress: ip,
		Options: []ndp.Option{
			&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac},
		},
	}
	// The VIP, not the link-local address, is the source, as keepalived
	// and the kernel's own unsolicited NAs do: it needs no link-local
	// address to exist or to have finished DAD at the moment of failover.
	icmp, err := ndp.MarshalMessageChecksum(na, ip, allNodes)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, ethHeaderLen+ipv6HeaderLen+len(icmp))
	b = append(b, allNodesMAC...)
	b = append(b, mac...)
	b = binary.BigEndian.AppendUint16(b, etherTypeIPv6)
	b = append(b, 0x60, 0, 0, 0) // version 6, traffic class 0, flow label 0
	b = binary.BigEndian.AppendUint16(b, uint16(len(icmp)))
	b = append(b, protoICMPv6, ndiscHopLimit)
	src, dst := ip.As16(), allNodes.As16()
	b = append(b, src[:]...)
	b = append(b, dst[:]...)
	return append(b, icmp...), nil
}
