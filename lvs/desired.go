package lvs

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/moby/ipvs"

	"vigil/config"
)

// Health is what the checks say about real servers: service name ->
// backend address (as written in the config) -> up. A backend missing from
// the map counts as down.
type Health map[string]map[string]bool

// Desired computes the services vigil wants in the kernel from the mode: lvs
// services of the config and the current health of their backends, with
// keepalived's semantics: real servers that are up carry their weight; down
// ones are removed, or kept with weight 0 under inhibit_on_failure; while no
// real server that is up has a weight above 0, the sorry server is the only
// one taking traffic, and it goes again as soon as one comes back. Services
// of other modes are skipped.
func Desired(services []config.Service, health Health) ([]Service, error) {
	var out []Service
	for _, sc := range services {
		if sc.Mode != "lvs" {
			continue
		}
		s, err := desiredService(sc, health[sc.Name])
		if err != nil {
			return nil, fmt.Errorf("lvs %s: %w", sc.Name, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func desiredService(sc config.Service, up map[string]bool) (Service, error) {
	s, err := serviceSettings(sc)
	if err != nil {
		return Service{}, err
	}
	forward, err := forwardFlag(sc.LVS.Forward)
	if err != nil {
		return Service{}, err
	}
	liveWeight := 0
	byAddr := map[netip.AddrPort]Destination{}
	var order []netip.AddrPort
	put := func(d Destination) {
		if _, ok := byAddr[d.Addr]; !ok {
			order = append(order, d.Addr)
		}
		byAddr[d.Addr] = d
	}
	for _, b := range sc.Backends {
		addr, err := netip.ParseAddrPort(b.Address)
		if err != nil {
			return Service{}, fmt.Errorf("backend %q: %w", b.Address, err)
		}
		d := Destination{Addr: unmap(addr), Weight: b.Weight, Forward: forward, UpperThreshold: uint32(max(b.MaxConn, 0))}
		switch {
		case up[b.Address]:
			liveWeight += b.Weight
			put(d)
		case sc.LVS.InhibitOnFailure:
			d.Weight = 0
			put(d)
		}
	}
	if liveWeight == 0 && sc.LVS.SorryServer.IsValid() {
		// A sorry server that is also a backend replaces that backend's entry.
		put(Destination{Addr: unmap(sc.LVS.SorryServer), Weight: 1, Forward: forward})
	}
	for _, a := range order {
		s.Destinations = append(s.Destinations, byAddr[a])
	}
	return s, nil
}

// serviceSettings maps a config service to its key and IPVS settings.
func serviceSettings(sc config.Service) (Service, error) {
	s := Service{Name: sc.Name, Scheduler: sc.Balance}
	if sc.Fwmark != 0 {
		fam, err := fwmarkFamily(sc)
		if err != nil {
			return Service{}, err
		}
		s.Key = Key{Family: fam, Fwmark: sc.Fwmark}
	} else {
		if !sc.Listen.IsValid() {
			return Service{}, fmt.Errorf("neither listen nor fwmark set")
		}
		proto, err := protocolNumber(sc.Protocol)
		if err != nil {
			return Service{}, err
		}
		addr := unmap(sc.Listen)
		s.Key = Key{Family: family(addr.Addr()), Protocol: proto, Addr: addr}
	}
	for _, f := range sc.LVS.SchedFlags {
		switch f {
		case "sh-fallback", "mh-fallback":
			s.Flags |= FlagSched1
		case "sh-port", "mh-port":
			s.Flags |= FlagSched2
		default:
			return Service{}, fmt.Errorf("unknown scheduler flag %q", f)
		}
	}
	if p := sc.LVS.Persistence.D(); p > 0 {
		s.Flags |= FlagPersistent
		s.Timeout = uint32(min(math.Ceil(p.Seconds()), math.MaxUint32))
	}
	mask, err := netmask(s.Key.Family, sc.LVS.PersistenceNetmask)
	if err != nil {
		return Service{}, err
	}
	s.Netmask = mask
	return s, nil
}

// fwmarkFamily takes a fwmark service's address family from its real
// servers (it has no address of its own); config validation makes them agree.
func fwmarkFamily(sc config.Service) (uint16, error) {
	for _, b := range sc.Backends {
		if a, err := netip.ParseAddrPort(b.Address); err == nil {
			return family(a.Addr()), nil
		}
	}
	if sc.LVS.SorryServer.IsValid() {
		return family(sc.LVS.SorryServer.Addr()), nil
	}
	return 0, fmt.Errorf("fwmark %d: no backend address to take the address family from", sc.Fwmark)
}

// netmask encodes persistence granularity as the kernel holds it. The
// default is a single client address, like ipvsadm's: 255.255.255.255 for
// IPv4, /128 for IPv6 (the kernel refuses an IPv6 service without one).
func netmask(fam uint16, spec string) (uint32, error) {
	if fam == syscall.AF_INET6 {
		if spec == "" {
			return 128, nil
		}
		n, err := strconv.Atoi(spec)
		if err != nil || n < 1 || n > 128 {
			return 0, fmt.Errorf("persistence netmask %q: IPv6 takes a prefix length 1..128", spec)
		}
		return uint32(n), nil
	}
	if spec == "" {
		return math.MaxUint32, nil
	}
	var mask [4]byte
	if n, err := strconv.Atoi(spec); err == nil {
		if n < 0 || n > 32 {
			return 0, fmt.Errorf("persistence netmask %q: IPv4 prefix length must be 0..32", spec)
		}
		binary.BigEndian.PutUint32(mask[:], ^uint32(0)<<(32-n))
		if n == 0 {
			mask = [4]byte{}
		}
	} else {
		a, err := netip.ParseAddr(spec)
		if err != nil || !a.Is4() {
			return 0, fmt.Errorf("persistence netmask %q is not an IPv4 netmask or prefix length", spec)
		}
		mask = a.As4()
	}
	// The kernel takes the mask in network byte order; moby/ipvs writes the
	// uint32 in native order, so hand it the bytes read natively.
	return binary.NativeEndian.Uint32(mask[:]), nil
}

func forwardFlag(forward string) (uint32, error) {
	switch forward {
	case "nat", "":
		return ipvs.ConnectionFlagMasq, nil
	case "dr":
		return ipvs.ConnectionFlagDirectRoute, nil
	case "tun":
		return ipvs.ConnectionFlagTunnel, nil
	}
	return 0, fmt.Errorf("unknown forwarding method %q", forward)
}

func protocolNumber(p string) (uint16, error) {
	switch p {
	case "tcp":
		return syscall.IPPROTO_TCP, nil
	case "udp":
		return syscall.IPPROTO_UDP, nil
	case "sctp":
		return syscall.IPPROTO_SCTP, nil
	}
	return 0, fmt.Errorf("protocol %q is not tcp, udp or sctp", p)
}

func family(a netip.Addr) uint16 {
	if a.Unmap().Is4() {
		return syscall.AF_INET
	}
	return syscall.AF_INET6
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Quorate moves a service's quorum state with hysteresis, like keepalived's
// quorum/hysteresis and vigil's proxy: a service that is up goes down when
// fewer than quorum-hysteresis backends are up; one that is down comes up
// when quorum+hysteresis are, capped at the number of backends so a service
// whose quorum is all of them can still recover.
func Quorate(wasUp bool, up, total, quorum, hysteresis int) bool {
	if wasUp {
		return up >= quorum-hysteresis
	}
	return up >= max(min(quorum+hysteresis, total), quorum)
}
