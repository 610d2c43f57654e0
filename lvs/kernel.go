package lvs

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
)

// IPVS is the part of *ipvs.Handle the reconciler uses, so the diff and
// apply loop runs against a fake in unit tests and the kernel in the VM.
type IPVS interface {
	GetServices() ([]*ipvs.Service, error)
	GetDestinations(*ipvs.Service) ([]*ipvs.Destination, error)
	NewService(*ipvs.Service) error
	UpdateService(*ipvs.Service) error
	DelService(*ipvs.Service) error
	NewDestination(*ipvs.Service, *ipvs.Destination) error
	UpdateDestination(*ipvs.Service, *ipvs.Destination) error
	DelDestination(*ipvs.Service, *ipvs.Destination) error
}

// ErrUnavailable is returned by Open on a kernel without IPVS.
var ErrUnavailable = errors.New("IPVS not available in this kernel (load ip_vs, or use mode: proxy)")

// Open returns a handle on the IPVS table of the network namespace at
// netnsPath ("" for the current one). moby/ipvs tries `modprobe ip_vs`,
// and on a kernel without IPVS it does not fail: its writes are silently
// lost. So Open asks generic netlink for the IPVS family itself, the family
// moby/ipvs would talk to, and fails with ErrUnavailable when it is missing.
func Open(netnsPath string) (*ipvs.Handle, error) {
	h, err := ipvs.New(netnsPath)
	if err != nil {
		return nil, fmt.Errorf("lvs: open IPVS: %w", err)
	}
	if _, err := netlink.GenlFamilyGet("IPVS"); err != nil {
		h.Close()
		return nil, fmt.Errorf("lvs: %w: %v", ErrUnavailable, err)
	}
	if _, err := h.GetServices(); err != nil {
		h.Close()
		return nil, fmt.Errorf("lvs: %w: reading the table: %v", ErrUnavailable, err)
	}
	return h, nil
}

// Read returns the kernel's virtual services with their real servers.
func Read(h IPVS) ([]Service, error) {
	svcs, err := h.GetServices()
	if err != nil {
		return nil, fmt.Errorf("lvs: read services: %w", err)
	}
	out := make([]Service, 0, len(svcs))
	for _, ks := range svcs {
		s, err := fromKernelService(ks)
		if err != nil {
			return nil, fmt.Errorf("lvs: read services: %w", err)
		}
		dsts, err := h.GetDestinations(ks)
		if err != nil {
			return nil, fmt.Errorf("lvs %s: read destinations: %w", s.Key, err)
		}
		for _, kd := range dsts {
			d, err := fromKernelDestination(kd)
			if err != nil {
				return nil, fmt.Errorf("lvs %s: read destinations: %w", s.Key, err)
			}
			s.Destinations = append(s.Destinations, d)
		}
		out = append(out, s)
	}
	return out, nil
}

// Apply runs the ops of a plan in order. It goes on past a failed op, so
// one bad service does not hold back the others, and returns every failure.
func Apply(h IPVS, ops []Op) error {
	var errs []error
	for _, op := range ops {
		if err := applyOp(h, op); err != nil {
			errs = append(errs, fmt.Errorf("lvs %s: %s: %w", op.Service.Name, op, err))
		}
	}
	return errors.Join(errs...)
}

func applyOp(h IPVS, op Op) error {
	s := toKernelService(op.Service)
	switch op.Kind {
	case AddService:
		return h.NewService(s)
	case UpdateService:
		return h.UpdateService(s)
	case DeleteService:
		return h.DelService(s)
	case AddDestination:
		return h.NewDestination(s, toKernelDestination(op.Dest))
	case UpdateDestination:
		return h.UpdateDestination(s, toKernelDestination(op.Dest))
	case DeleteDestination:
		return h.DelDestination(s, toKernelDestination(op.Dest))
	}
	return fmt.Errorf("unknown op kind %d", op.Kind)
}

func toKernelService(s Service) *ipvs.Service {
	ks := &ipvs.Service{
		AddressFamily: s.Key.Family,
		FWMark:        s.Key.Fwmark,
		SchedName:     s.Scheduler,
		Flags:         s.Flags &^ FlagHashed,
		Timeout:       s.Timeout,
		Netmask:       s.Netmask,
	}
	if s.Key.Fwmark == 0 {
		ks.Protocol = s.Key.Protocol
		ks.Address = net.IP(s.Key.Addr.Addr().AsSlice())
		ks.Port = s.Key.Addr.Port()
	}
	return ks
}

func fromKernelService(ks *ipvs.Service) (Service, error) {
	s := Service{
		Key:       Key{Family: ks.AddressFamily, Fwmark: ks.FWMark},
		Scheduler: ks.SchedName,
		Flags:     ks.Flags &^ FlagHashed,
		Timeout:   ks.Timeout,
		Netmask:   ks.Netmask,
	}
	if ks.FWMark == 0 {
		a, ok := netip.AddrFromSlice(ks.Address)
		if !ok {
			return Service{}, fmt.Errorf("service address %v is not an IP", ks.Address)
		}
		s.Key.Protocol = ks.Protocol
		s.Key.Addr = netip.AddrPortFrom(a.Unmap(), ks.Port)
	}
	return s, nil
}

func toKernelDestination(d Destination) *ipvs.Destination {
	return &ipvs.Destination{
		Address:         net.IP(d.Addr.Addr().AsSlice()),
		Port:            d.Addr.Port(),
		Weight:          d.Weight,
		ConnectionFlags: d.Forward & ipvs.ConnectionFlagFwdMask,
		AddressFamily:   family(d.Addr.Addr()),
		UpperThreshold:  d.UpperThreshold,
		LowerThreshold:  d.LowerThreshold,
	}
}

func fromKernelDestination(kd *ipvs.Destination) (Destination, error) {
	a, ok := netip.AddrFromSlice(kd.Address)
	if !ok {
		return Destination{}, fmt.Errorf("destination address %v is not an IP", kd.Address)
	}
	return Destination{
		Addr:           netip.AddrPortFrom(a.Unmap(), kd.Port),
		Weight:         kd.Weight,
		Forward:        kd.ConnectionFlags & ipvs.ConnectionFlagFwdMask,
		UpperThreshold: kd.UpperThreshold,
		LowerThreshold: kd.LowerThreshold,
	}, nil
}
