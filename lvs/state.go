package lvs

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"syscall"

	"github.com/moby/ipvs"
)

// Key identifies a virtual service the way the kernel does: by protocol,
// address and port, or by firewall mark and address family.
type Key struct {
	// Family is syscall.AF_INET or syscall.AF_INET6.
	Family uint16
	// Protocol is syscall.IPPROTO_TCP, IPPROTO_UDP or IPPROTO_SCTP; 0 for fwmark services.
	Protocol uint16
	// Addr is the virtual address and port; zero for fwmark services.
	Addr netip.AddrPort
	// Fwmark selects packets by firewall mark instead of Addr; 0 when unused.
	Fwmark uint32
}

// String names the service as ipvsadm would: "TCP 10.0.0.1:80", "FWM 5 IPv6".
func (k Key) String() string {
	if k.Fwmark != 0 {
		if k.Family == syscall.AF_INET6 {
			return fmt.Sprintf("FWM %d IPv6", k.Fwmark)
		}
		return fmt.Sprintf("FWM %d", k.Fwmark)
	}
	return protocolName(k.Protocol) + " " + k.Addr.String()
}

func (k Key) compare(o Key) int {
	return cmp.Or(
		cmp.Compare(k.Fwmark, o.Fwmark),
		cmp.Compare(k.Family, o.Family),
		cmp.Compare(k.Protocol, o.Protocol),
		k.Addr.Compare(o.Addr),
	)
}

// Flags of a virtual service (include/uapi/linux/ip_vs.h).
const (
	// FlagPersistent makes the service persistent (ipvsadm -p).
	FlagPersistent uint32 = 0x0001
	// FlagHashed is set by the kernel on every service in its table; it is
	// not part of what vigil asks for and is ignored when comparing.
	FlagHashed uint32 = 0x0002
	// FlagSched1 is the first scheduler flag: sh-fallback / mh-fallback.
	FlagSched1 uint32 = 0x0008
	// FlagSched2 is the second scheduler flag: sh-port / mh-port.
	FlagSched2 uint32 = 0x0010
)

// Service is one IPVS virtual service with its real servers: what vigil
// wants (from the config and the checks) or what the kernel has.
type Service struct {
	// Name is the config's name for the service; empty for services read
	// from the kernel.
	Name string
	// Key identifies the service in the kernel.
	Key Key
	// Scheduler is the kernel scheduler name: rr, wrr, lc, wlc, sh, mh, ...
	Scheduler string
	// Flags are the service flags without FlagHashed.
	Flags uint32
	// Timeout is the persistence timeout in seconds (0 when not persistent).
	Timeout uint32
	// Netmask groups persistent clients: for IPv4 the mask as the kernel
	// holds it (network byte order read as a native uint32, what moby/ipvs
	// carries), for IPv6 the prefix length.
	Netmask uint32
	// Destinations are the real servers, sorted by address.
	Destinations []Destination
}

// Destination is one real server of a virtual service.
type Destination struct {
	// Addr is the real server's address and port.
	Addr netip.AddrPort
	// Weight is the scheduler weight; 0 takes no new connections.
	Weight int
	// Forward is the forwarding method: ipvs.ConnectionFlagMasq,
	// ConnectionFlagDirectRoute or ConnectionFlagTunnel.
	Forward uint32
	// UpperThreshold caps the real server's connections; 0 is unlimited.
	UpperThreshold uint32
	// LowerThreshold re-opens an overloaded real server; 0 is the kernel's default.
	LowerThreshold uint32
}

// sameSettings reports whether two services agree on everything an update
// can change (not on their real servers).
func (s Service) sameSettings(o Service) bool {
	return s.Scheduler == o.Scheduler && s.Flags&^FlagHashed == o.Flags&^FlagHashed &&
		s.Timeout == o.Timeout && s.Netmask == o.Netmask
}

func (d Destination) sameSettings(o Destination) bool {
	return d.Weight == o.Weight && d.Forward&ipvs.ConnectionFlagFwdMask == o.Forward&ipvs.ConnectionFlagFwdMask &&
		d.UpperThreshold == o.UpperThreshold && d.LowerThreshold == o.LowerThreshold
}

// OpKind is what one step of a plan does.
type OpKind int

// The steps a plan is made of.
const (
	AddService OpKind = iota + 1
	UpdateService
	DeleteService
	AddDestination
	UpdateDestination
	DeleteDestination
)

var opNames = map[OpKind]string{
	AddService: "add service", UpdateService: "update service", DeleteService: "delete service",
	AddDestination: "add destination", UpdateDestination: "update destination", DeleteDestination: "delete destination",
}

// String names the kind of step.
func (k OpKind) String() string { return opNames[k] }

// Op is one change to the kernel table. Service carries the settings of the
// service the op touches (its Destinations are not used); Dest is set for
// destination ops.
type Op struct {
	Kind    OpKind
	Service Service
	Dest    Destination
}

// String describes the op for logs.
func (o Op) String() string {
	switch o.Kind {
	case AddService, UpdateService:
		return fmt.Sprintf("%s %s scheduler %s flags %#x timeout %d", o.Kind, o.Service.Key, o.Service.Scheduler, o.Service.Flags, o.Service.Timeout)
	case DeleteService:
		return fmt.Sprintf("%s %s", o.Kind, o.Service.Key)
	case AddDestination, UpdateDestination:
		return fmt.Sprintf("%s %s -> %s weight %d %s", o.Kind, o.Service.Key, o.Dest.Addr, o.Dest.Weight, forwardName(o.Dest.Forward))
	}
	return fmt.Sprintf("%s %s -> %s", o.Kind, o.Service.Key, o.Dest.Addr)
}

// Plan is what Diff found: the ops that bring the kernel to the desired
// state, and the services in the kernel vigil does not manage.
type Plan struct {
	// Ops, in the order they must be applied: service adds and updates,
	// then destination adds and updates, then destination deletes, then
	// service deletes, so a service never loses its last real server
	// before its replacement (a sorry server, say) is in place.
	Ops []Op
	// Foreign lists services in the kernel that vigil neither declares nor
	// declared earlier: someone else's, left alone.
	Foreign []Key
}

// Diff compares the desired services with the kernel's and returns the
// steps from one to the other. It only touches services vigil manages: the
// desired ones, and the retired ones (declared by an earlier config and
// dropped since), which are deleted. Anything else in actual is reported as
// foreign and left alone, so vigil can share the table with other tools.
func Diff(desired []Service, retired []Key, actual []Service) Plan {
	have := make(map[Key]Service, len(actual))
	for _, s := range actual {
		have[s.Key] = s
	}
	want := make(map[Key]bool, len(desired))
	var svcOps, destAdds, destDels, svcDels []Op
	for _, d := range sortedServices(desired) {
		want[d.Key] = true
		settings := d
		settings.Destinations = nil
		a, ok := have[d.Key]
		switch {
		case !ok:
			svcOps = append(svcOps, Op{Kind: AddService, Service: settings})
		case !d.sameSettings(a):
			svcOps = append(svcOps, Op{Kind: UpdateService, Service: settings})
		}
		cur := make(map[netip.AddrPort]Destination, len(a.Destinations))
		for _, dst := range a.Destinations {
			cur[dst.Addr] = dst
		}
		wantDst := make(map[netip.AddrPort]bool, len(d.Destinations))
		for _, dst := range sortedDestinations(d.Destinations) {
			wantDst[dst.Addr] = true
			c, ok := cur[dst.Addr]
			switch {
			case !ok:
				destAdds = append(destAdds, Op{Kind: AddDestination, Service: settings, Dest: dst})
			case !dst.sameSettings(c):
				destAdds = append(destAdds, Op{Kind: UpdateDestination, Service: settings, Dest: dst})
			}
		}
		for _, dst := range sortedDestinations(a.Destinations) {
			if !wantDst[dst.Addr] {
				destDels = append(destDels, Op{Kind: DeleteDestination, Service: settings, Dest: dst})
			}
		}
	}
	retire := make(map[Key]bool, len(retired))
	for _, k := range retired {
		retire[k] = true
	}
	var foreign []Key
	for _, a := range sortedServices(actual) {
		switch {
		case want[a.Key]:
		case retire[a.Key]:
			a.Destinations = nil
			svcDels = append(svcDels, Op{Kind: DeleteService, Service: a})
		default:
			foreign = append(foreign, a.Key)
		}
	}
	ops := slices.Concat(svcOps, destAdds, destDels, svcDels)
	return Plan{Ops: ops, Foreign: foreign}
}

func sortedServices(ss []Service) []Service {
	return slices.SortedFunc(slices.Values(ss), func(a, b Service) int { return a.Key.compare(b.Key) })
}

func sortedDestinations(ds []Destination) []Destination {
	return slices.SortedFunc(slices.Values(ds), func(a, b Destination) int { return a.Addr.Compare(b.Addr) })
}

func protocolName(p uint16) string {
	switch p {
	case syscall.IPPROTO_TCP:
		return "TCP"
	case syscall.IPPROTO_UDP:
		return "UDP"
	case syscall.IPPROTO_SCTP:
		return "SCTP"
	}
	return fmt.Sprintf("proto-%d", p)
}

func forwardName(f uint32) string {
	switch f & ipvs.ConnectionFlagFwdMask {
	case ipvs.ConnectionFlagMasq:
		return "nat"
	case ipvs.ConnectionFlagDirectRoute:
		return "dr"
	case ipvs.ConnectionFlagTunnel:
		return "tun"
	case ipvs.ConnectionFlagLocalNode:
		return "local"
	}
	return fmt.Sprintf("fwd-%d", f)
}
