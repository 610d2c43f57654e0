package lvs

import (
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/moby/ipvs"
)

// fakeIPVS is an in-memory IPVS table that answers like the kernel where
// the reconciler depends on it: EEXIST / ESRCH / ENOENT, the hashed flag on
// every service read back, IPv6 services refused without a prefix length.
type fakeIPVS struct {
	mu     sync.Mutex
	svcs   []*fakeService
	writes int
	// dropWrites makes writes succeed without doing anything, like
	// moby/ipvs on a kernel without IPVS.
	dropWrites bool
	// failNew makes NewService fail for this key.
	failNew *Key
}

type fakeService struct {
	svc   ipvs.Service
	dests []ipvs.Destination
}

func keyOf(s *ipvs.Service) Key {
	if s.FWMark != 0 {
		return Key{Family: s.AddressFamily, Fwmark: s.FWMark}
	}
	a, _ := netip.AddrFromSlice(s.Address)
	return Key{Family: s.AddressFamily, Protocol: s.Protocol, Addr: netip.AddrPortFrom(a.Unmap(), s.Port)}
}

func destAddr(d *ipvs.Destination) netip.AddrPort {
	a, _ := netip.AddrFromSlice(d.Address)
	return netip.AddrPortFrom(a.Unmap(), d.Port)
}

func (f *fakeIPVS) find(s *ipvs.Service) (int, *fakeService) {
	k := keyOf(s)
	for i, fs := range f.svcs {
		if keyOf(&fs.svc) == k {
			return i, fs
		}
	}
	return -1, nil
}

func (f *fakeIPVS) GetServices() ([]*ipvs.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*ipvs.Service
	for _, fs := range f.svcs {
		s := fs.svc
		s.Flags |= FlagHashed
		s.Address = append(net.IP(nil), s.Address...)
		out = append(out, &s)
	}
	return out, nil
}

func (f *fakeIPVS) GetDestinations(s *ipvs.Service) ([]*ipvs.Destination, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, fs := f.find(s)
	if fs == nil {
		return nil, syscall.ESRCH
	}
	var out []*ipvs.Destination
	for _, d := range fs.dests {
		d := d
		out = append(out, &d)
	}
	return out, nil
}

func (f *fakeIPVS) write() bool {
	f.writes++
	return !f.dropWrites
}

func (f *fakeIPVS) NewService(s *ipvs.Service) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.write() {
		return nil
	}
	if f.failNew != nil && *f.failNew == keyOf(s) {
		return syscall.ENOENT // like an unknown scheduler
	}
	if _, fs := f.find(s); fs != nil {
		return syscall.EEXIST
	}
	if s.AddressFamily == syscall.AF_INET6 && (s.Netmask < 1 || s.Netmask > 128) {
		return syscall.EINVAL
	}
	f.svcs = append(f.svcs, &fakeService{svc: *s})
	return nil
}

func (f *fakeIPVS) UpdateService(s *ipvs.Service) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.write() {
		return nil
	}
	_, fs := f.find(s)
	if fs == nil {
		return syscall.ESRCH
	}
	fs.svc.SchedName, fs.svc.Flags, fs.svc.Timeout, fs.svc.Netmask = s.SchedName, s.Flags, s.Timeout, s.Netmask
	return nil
}

func (f *fakeIPVS) DelService(s *ipvs.Service) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.write() {
		return nil
	}
	i, fs := f.find(s)
	if fs == nil {
		return syscall.ESRCH
	}
	f.svcs = append(f.svcs[:i], f.svcs[i+1:]...)
	return nil
}

func (f *fakeIPVS) findDest(fs *fakeService, d *ipvs.Destination) int {
	for i := range fs.dests {
		if destAddr(&fs.dests[i]) == destAddr(d) {
			return i
		}
	}
	return -1
}

func (f *fakeIPVS) NewDestination(s *ipvs.Service, d *ipvs.Destination) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.write() {
		return nil
	}
	_, fs := f.find(s)
	if fs == nil {
		return syscall.ESRCH
	}
	if f.findDest(fs, d) >= 0 {
		return syscall.EEXIST
	}
	fs.dests = append(fs.dests, *d)
	return nil
}

func (f *fakeIPVS) UpdateDestination(s *ipvs.Service, d *ipvs.Destination) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.write() {
		return nil
	}
	_, fs := f.find(s)
	if fs == nil {
		return syscall.ESRCH
	}
	i := f.findDest(fs, d)
	if i < 0 {
		return syscall.ENOENT
	}
	fs.dests[i] = *d
	return nil
}

func (f *fakeIPVS) DelDestination(s *ipvs.Service, d *ipvs.Destination) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.write() {
		return nil
	}
	_, fs := f.find(s)
	if fs == nil {
		return syscall.ESRCH
	}
	i := f.findDest(fs, d)
	if i < 0 {
		return syscall.ENOENT
	}
	fs.dests = append(fs.dests[:i], fs.dests[i+1:]...)
	return nil
}

func (f *fakeIPVS) writeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}
