// Package realserver prepares a Linux host to be a real server behind an
// LVS director in DR (direct routing) or TUN mode, what operators do today
// with a hand-written lvs_rs script: the VIP on the loopback interface, so
// the host accepts packets the director forwards to it, and the ARP
// sysctls that keep it from answering ARP for the VIP, so clients keep
// sending to the director. It is its own package because it runs on the
// real servers, not on the load balancer: nothing else in vigil touches
// them.
package realserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Label marks the IPv4 addresses this package adds to lo, so Remove takes
// away only those and Apply recognises its own work.
const Label = "lo:vigil"

// sysctlSettings are the ARP settings a DR real server needs, on "all" and "lo":
// arp_ignore=1 answers ARP only for addresses on the interface the request
// came in on (the VIP is on lo, so never), arp_announce=2 never uses the
// VIP as the source of the host's own ARP requests.
var sysctlSettings = []struct{ key, value string }{
	{"net/ipv4/conf/all/arp_ignore", "1"},
	{"net/ipv4/conf/all/arp_announce", "2"},
	{"net/ipv4/conf/lo/arp_ignore", "1"},
	{"net/ipv4/conf/lo/arp_announce", "2"},
}

// Host is the machine (network namespace) being prepared; the sysctl root
// is a field so tests can point it elsewhere.
type Host struct {
	// SysctlRoot is /proc/sys.
	SysctlRoot string
}

// NewHost returns the host this process runs in.
func NewHost() *Host { return &Host{SysctlRoot: "/proc/sys"} }

// Change is one thing Apply or Remove did, for the report the CLI prints.
type Change struct {
	What string
}

// missing is what stands between the host and being a real server for
// some VIPs: the VIPs not on lo, and the sysctls (key, current value) not
// at the wanted value.
type missing struct {
	lo      netlink.Link
	vips    []netip.Addr
	sysctls [][2]string
}

// missingFor reads lo and the ARP sysctls and lists what vips still need.
func (h *Host) missingFor(vips []netip.Addr) (*missing, error) {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return nil, fmt.Errorf("realserver: find lo: %w", err)
	}
	have, err := loAddrs(lo)
	if err != nil {
		return nil, err
	}
	m := &missing{lo: lo}
	v4 := false
	for _, vip := range vips {
		v4 = v4 || vip.Is4()
		if !have[vip] {
			m.vips = append(m.vips, vip)
		}
	}
	if !v4 {
		return m, nil // ARP is IPv4 only
	}
	for _, s := range sysctlSettings {
		got, err := os.ReadFile(filepath.Join(h.SysctlRoot, s.key))
		if err != nil {
			return nil, fmt.Errorf("realserver: read %s: %w", sysctlName(s.key), err)
		}
		if v := strings.TrimSpace(string(got)); v != s.value {
			m.sysctls = append(m.sysctls, [2]string{s.key, v})
		}
	}
	return m, nil
}

// Apply puts each VIP on lo (/32 or /128) and sets the ARP sysctls. It is
// idempotent: what is already in place is left alone and not reported.
func (h *Host) Apply(vips []netip.Addr) ([]Change, error) {
	m, err := h.missingFor(vips)
	if err != nil {
		return nil, err
	}
	var changes []Change
	for _, vip := range m.vips {
		addr := &netlink.Addr{IPNet: prefixNet(vip)}
		if vip.Is4() {
			addr.Label = Label
		} else {
			// No duplicate address detection: the VIP is meant to be on
			// several hosts at once.
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrAdd(m.lo, addr); err != nil && !errors.Is(err, unix.EEXIST) {
			return changes, fmt.Errorf("realserver: add %s to lo: %w", vip, err)
		}
		changes = append(changes, Change{fmt.Sprintf("added %s to lo", prefixOf(vip))})
	}
	for _, kv := range m.sysctls {
		want := wantedSysctl(kv[0])
		if _, err := h.setSysctl(kv[0], want); err != nil {
			return changes, err
		}
		changes = append(changes, Change{fmt.Sprintf("set %s = %s", sysctlName(kv[0]), want)})
	}
	return changes, nil
}

// wantedSysctl is the value sysctlSettings wants for key.
func wantedSysctl(key string) string {
	for _, s := range sysctlSettings {
		if s.key == key {
			return s.value
		}
	}
	return ""
}

// Remove takes the VIPs off lo; with no VIPs given it takes every one it
// added (IPv4 labelled Label, IPv6 added without DAD). When no labelled address is left it resets the
// ARP sysctls to the kernel's defaults (0), which is what a host that is no
// longer a real server wants.
func (h *Host) Remove(vips []netip.Addr) ([]Change, error) {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return nil, fmt.Errorf("realserver: find lo: %w", err)
	}
	addrs, err := netlink.AddrList(lo, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("realserver: list lo addresses: %w", err)
	}
	want := map[netip.Addr]bool{}
	for _, v := range vips {
		want[v] = true
	}
	var changes []Change
	labelled := 0
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		// IPv6 addresses carry no label: an address on lo added without
		// duplicate address detection is one of ours (lo has only ::1
		// otherwise).
		ours := a.Label == Label || (ip.Is6() && !ip.IsLoopback() && a.Flags&unix.IFA_F_NODAD != 0)
		if want[ip] || (len(vips) == 0 && ours) {
			a := a
			if err := netlink.AddrDel(lo, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				return changes, fmt.Errorf("realserver: remove %s from lo: %w", ip, err)
			}
			changes = append(changes, Change{fmt.Sprintf("removed %s from lo", a.IPNet)})
			continue
		}
		if ours {
			labelled++
		}
	}
	if labelled == 0 {
		for _, s := range sysctlSettings {
			changed, err := h.setSysctl(s.key, "0")
			if err != nil {
				return changes, err
			}
			if changed {
				changes = append(changes, Change{fmt.Sprintf("set %s = 0", sysctlName(s.key))})
			}
		}
	}
	return changes, nil
}

// Check reports what is missing for the VIPs to work on a DR real server,
// empty when everything is in place.
func (h *Host) Check(vips []netip.Addr) ([]string, error) {
	m, err := h.missingFor(vips)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, vip := range m.vips {
		out = append(out, fmt.Sprintf("%s is not on lo", vip))
	}
	for _, kv := range m.sysctls {
		out = append(out, fmt.Sprintf("%s is %s, want %s", sysctlName(kv[0]), kv[1], wantedSysctl(kv[0])))
	}
	return out, nil
}

func (h *Host) setSysctl(key, value string) (bool, error) {
	path := filepath.Join(h.SysctlRoot, key)
	got, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("realserver: read %s: %w", sysctlName(key), err)
	}
	if strings.TrimSpace(string(got)) == value {
		return false, nil
	}
	if err := os.WriteFile(path, []byte(value+"\n"), 0o644); err != nil {
		return false, fmt.Errorf("realserver: set %s: %w", sysctlName(key), err)
	}
	return true, nil
}

// loAddrs lists the addresses on lo.
func loAddrs(lo netlink.Link) (map[netip.Addr]bool, error) {
	addrs, err := netlink.AddrList(lo, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("realserver: list lo addresses: %w", err)
	}
	have := map[netip.Addr]bool{}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			have[ip.Unmap()] = true
		}
	}
	return have, nil
}

func prefixOf(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

func prefixNet(a netip.Addr) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(a.BitLen(), a.BitLen())}
}

// sysctlName turns net/ipv4/conf/all/arp_ignore into the sysctl(8) name.
func sysctlName(key string) string { return strings.ReplaceAll(key, "/", ".") }
