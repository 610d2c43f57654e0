package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VIP is one virtual address and where it goes.
type VIP struct {
	// Prefix is the address with its prefix length.
	Prefix netip.Prefix
	// Dev is the interface that holds it.
	Dev string
	// Label is the address label ("" for none).
	Label string
	// Scope is global, site, link or host.
	Scope string
}

// VIPSet adds, removes and checks one instance's virtual addresses with
// netlink. It is desired state, not a script: Add and Remove are idempotent,
// so re-applying them after a restart or a hand edit converges instead of
// failing or flapping.
type VIPSet struct {
	vips []VIP
	nl   *netlink.Handle
}

// NewVIPSet prepares the set; it changes nothing yet.
func NewVIPSet(vips []VIP) (*VIPSet, error) {
	// Only NETLINK_ROUTE: the default handle also opens XFRM, which fails
	// where xfrm_user is not loaded.
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("vrrp: netlink: %w", err)
	}
	return &VIPSet{vips: vips, nl: h}, nil
}

// Close releases the netlink socket.
func (s *VIPSet) Close() { s.nl.Close() }

func scopeOf(name string) netlink.Scope {
	switch name {
	case "host":
		return netlink.SCOPE_HOST
	case "link":
		return netlink.SCOPE_LINK
	case "site":
		return netlink.SCOPE_SITE
	}
	return netlink.SCOPE_UNIVERSE
}

func (s *VIPSet) addr(v VIP) (netlink.Link, *netlink.Addr, error) {
	link, err := s.nl.LinkByName(v.Dev)
	if err != nil {
		return nil, nil, fmt.Errorf("vip %s: interface %s: %w", v.Prefix, v.Dev, err)
	}
	a := &netlink.Addr{
		IPNet: &net.IPNet{IP: v.Prefix.Addr().AsSlice(), Mask: net.CIDRMask(v.Prefix.Bits(), v.Prefix.Addr().BitLen())},
		Label: v.Label,
		Scope: int(scopeOf(v.Scope)),
	}
	if v.Prefix.Addr().Is6() {
		// A VIP must be usable the moment we are master: no DAD delay, and
		// no DAD failure when the old master still holds it for a moment.
		a.Flags = unix.IFA_F_NODAD
	}
	return link, a, nil
}

// Add puts every VIP on its interface; ones already there are adopted as they
// are. It tries all and returns the errors joined.
func (s *VIPSet) Add() (added int, err error) {
	var errs []error
	for _, v := range s.vips {
		link, a, e := s.addr(v)
		if e == nil {
			e = s.nl.AddrAdd(link, a)
			if e == nil {
				added++
			}
		}
		if e != nil && !errors.Is(e, syscall.EEXIST) {
			errs = append(errs, fmt.Errorf("vrrp: add %s to %s: %w", v.Prefix, v.Dev, e))
		}
	}
	return added, errors.Join(errs...)
}

// Remove takes every VIP off; ones already gone are fine.
func (s *VIPSet) Remove() (removed int, err error) {
	var errs []error
	for _, v := range s.vips {
		link, a, e := s.addr(v)
		if e == nil {
			e = s.nl.AddrDel(link, a)
			if e == nil {
				removed++
			}
		}
		if e != nil && !errors.Is(e, syscall.EADDRNOTAVAIL) && !errors.Is(e, syscall.ENOENT) && !errors.Is(e, syscall.ENODEV) {
			errs = append(errs, fmt.Errorf("vrrp: remove %s from %s: %w", v.Prefix, v.Dev, e))
		}
	}
	return removed, errors.Join(errs...)
}

// Present returns the VIPs that are on their interface now.
func (s *VIPSet) Present() ([]VIP, error) {
	var out []VIP
	byDev := map[string][]netlink.Addr{}
	for _, v := range s.vips {
		addrs, ok := byDev[v.Dev]
		if !ok {
			link, err := s.nl.LinkByName(v.Dev)
			if err != nil {
				byDev[v.Dev] = nil
				continue
			}
			family := netlink.FAMILY_ALL
			if addrs, err = s.nl.AddrList(link, family); err != nil {
				return nil, fmt.Errorf("vrrp: list addresses of %s: %w", v.Dev, err)
			}
			byDev[v.Dev] = addrs
		}
		for _, a := range addrs {
			ip, _ := netip.AddrFromSlice(a.IP)
			if ip.Unmap() == v.Prefix.Addr() {
				out = append(out, v)
				break
			}
		}
	}
	return out, nil
}

// PrimaryAddress is the interface's own address of the family that adverts
// are sent from: the first IPv4 address that is not one of excluded (the
// VIPs), or the IPv6 link-local address (RFC 5798 sends IPv6 adverts from it).
func PrimaryAddress(ifname string, v6 bool, excluded []netip.Addr) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("vrrp: interface %s: %w", ifname, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("vrrp: addresses of %s: %w", ifname, err)
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, _ := netip.AddrFromSlice(n.IP)
		ip = ip.Unmap()
		switch {
		case v6 && ip.Is6() && ip.IsLinkLocalUnicast():
			return ip, nil
		case !v6 && ip.Is4():
			skip := false
			for _, x := range excluded {
				skip = skip || x == ip
			}
			if !skip {
				return ip, nil
			}
		}
	}
	if v6 {
		return netip.Addr{}, fmt.Errorf("vrrp: %s has no IPv6 link-local address to send adverts from", ifname)
	}
	return netip.Addr{}, fmt.Errorf("vrrp: %s has no IPv4 address of its own to send adverts from", ifname)
}
