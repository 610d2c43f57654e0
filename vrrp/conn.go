package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Received is one packet read from a VRRP socket, before validation.
type Received struct {
	// Src and Dst are the IP addresses of the packet.
	Src, Dst netip.Addr
	// TTL is the IPv4 TTL or IPv6 hop limit; RFC 5798 requires 255.
	TTL int
	// IfIndex is the interface the packet arrived on.
	IfIndex int
	// Payload is the VRRP message (the IP header already removed).
	Payload []byte
}

// Conn is a raw IP protocol 112 socket bound to one interface. It is the
// thin edge under the runner: everything about what the packets mean is in
// the codec and the state machine.
type Conn struct {
	ifi *net.Interface
	v6  bool
	raw net.PacketConn
	p4  *ipv4.PacketConn
	p6  *ipv6.PacketConn
	buf []byte
}

// Listen opens a VRRP socket on the interface for one address family. With
// multicast it joins 224.0.0.18 / ff02::12 on that interface; unicast-only
// instances do not join, so they never see multicast adverts of others.
func Listen(ifname string, v6, multicast bool) (*Conn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("vrrp: interface %s: %w", ifname, err)
	}
	network, laddr := "ip4:112", "0.0.0.0"
	if v6 {
		network, laddr = "ip6:112", "::"
	}
	raw, err := net.ListenPacket(network, laddr)
	if err != nil {
		return nil, fmt.Errorf("vrrp: %s: open raw socket (needs CAP_NET_RAW): %w", ifname, err)
	}
	c := &Conn{ifi: ifi, v6: v6, raw: raw, buf: make([]byte, 2048)}
	if err := c.setup(multicast); err != nil {
		raw.Close()
		return nil, fmt.Errorf("vrrp: %s: %w", ifname, err)
	}
	return c, nil
}

func (c *Conn) setup(multicast bool) error {
	// Bound to the device: a router on eth0 must not hear adverts from eth1.
	if err := bindToDevice(c.raw, c.ifi.Name); err != nil {
		return fmt.Errorf("bind to device: %w", err)
	}
	if c.v6 {
		p := ipv6.NewPacketConn(c.raw)
		c.p6 = p
		if err := p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true); err != nil {
			return fmt.Errorf("control messages: %w", err)
		}
		if err := p.SetMulticastHopLimit(255); err != nil {
			return fmt.Errorf("multicast hop limit: %w", err)
		}
		if err := p.SetHopLimit(255); err != nil {
			return fmt.Errorf("hop limit: %w", err)
		}
		if err := p.SetMulticastInterface(c.ifi); err != nil {
			return fmt.Errorf("multicast interface: %w", err)
		}
		// Our own adverts must not come back to us as a peer's.
		if err := p.SetMulticastLoopback(false); err != nil {
			return fmt.Errorf("multicast loopback: %w", err)
		}
		if multicast {
			if err := p.JoinGroup(c.ifi, &net.IPAddr{IP: MulticastIPv6.AsSlice()}); err != nil {
				return fmt.Errorf("join %s: %w", MulticastIPv6, err)
			}
		}
		return nil
	}
	p := ipv4.NewPacketConn(c.raw)
	c.p4 = p
	if err := p.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
		return fmt.Errorf("control messages: %w", err)
	}
	if err := p.SetMulticastTTL(255); err != nil {
		return fmt.Errorf("multicast ttl: %w", err)
	}
	if err := p.SetTTL(255); err != nil {
		return fmt.Errorf("ttl: %w", err)
	}
	// keepalived sends with TOS 0xc0 (network control): queues that honour
	// it keep adverts ahead of bulk traffic.
	if err := p.SetTOS(0xc0); err != nil {
		return fmt.Errorf("tos: %w", err)
	}
	if err := p.SetMulticastInterface(c.ifi); err != nil {
		return fmt.Errorf("multicast interface: %w", err)
	}
	if err := p.SetMulticastLoopback(false); err != nil {
		return fmt.Errorf("multicast loopback: %w", err)
	}
	if multicast {
		if err := p.JoinGroup(c.ifi, &net.IPAddr{IP: MulticastIPv4.AsSlice()}); err != nil {
			return fmt.Errorf("join %s: %w", MulticastIPv4, err)
		}
	}
	return nil
}

func bindToDevice(pc net.PacketConn, ifname string) error {
	sc, ok := pc.(syscall.Conn)
	if !ok {
		return errors.New("not a raw socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptString(int(fd), syscall.SOL_SOCKET, syscall.SO_BINDTODEVICE, ifname)
	}); err != nil {
		return err
	}
	return serr
}

// Interface is the interface the socket is bound to.
func (c *Conn) Interface() *net.Interface { return c.ifi }

// Read blocks for the next packet. The returned payload is valid until the
// next Read.
func (c *Conn) Read() (Received, error) {
	var r Received
	if c.v6 {
		n, cm, src, err := c.p6.ReadFrom(c.buf)
		if err != nil {
			return r, err
		}
		r.Payload = c.buf[:n]
		if a, ok := src.(*net.IPAddr); ok {
			r.Src, _ = netip.AddrFromSlice(a.IP)
		}
		if cm != nil {
			r.TTL, r.IfIndex = cm.HopLimit, cm.IfIndex
			r.Dst, _ = netip.AddrFromSlice(cm.Dst)
		}
		return r, nil
	}
	n, cm, src, err := c.p4.ReadFrom(c.buf)
	if err != nil {
		return r, err
	}
	r.Payload = c.buf[:n]
	if a, ok := src.(*net.IPAddr); ok {
		r.Src, _ = netip.AddrFromSlice(a.IP)
		r.Src = r.Src.Unmap()
	}
	if cm != nil {
		r.TTL, r.IfIndex = cm.TTL, cm.IfIndex
		r.Dst, _ = netip.AddrFromSlice(cm.Dst)
		r.Dst = r.Dst.Unmap()
	}
	return r, nil
}

// Write sends one VRRP message from src to dst (the multicast group or a
// unicast peer) out of the bound interface with TTL / hop limit 255.
func (c *Conn) Write(payload []byte, src, dst netip.Addr) error {
	to := &net.IPAddr{IP: dst.AsSlice()}
	if c.v6 {
		if dst.IsLinkLocalUnicast() || dst.IsLinkLocalMulticast() {
			to.Zone = c.ifi.Name
		}
		cm := &ipv6.ControlMessage{Src: src.AsSlice(), IfIndex: c.ifi.Index} // hop limit 255 is the socket's setting
		_, err := c.p6.WriteTo(payload, cm, to)
		return err
	}
	cm := &ipv4.ControlMessage{Src: src.AsSlice(), IfIndex: c.ifi.Index} // TTL 255 is the socket's setting
	_, err := c.p4.WriteTo(payload, cm, to)
	return err
}

// Close leaves the group and closes the socket, unblocking Read.
func (c *Conn) Close() error {
	return c.raw.Close()
}
