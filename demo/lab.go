package demo

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nsDir is where named network namespaces live, as `ip netns` keeps them.
const nsDir = "/run/netns"

// prefixFor is the start of every namespace name of the demo run by pid;
// Sweep recognises leftovers by it.
func prefixFor(pid int) string { return fmt.Sprintf("vigil-demo-%d-", pid) }

var leftover = regexp.MustCompile(`^vigil-demo-(\d+)-`)

// lab is the demo's network: one namespace holding a bridge ("sw") and one
// namespace per host, each with an eth0 whose veth peer is a bridge port.
// Deleting the namespaces deletes every link with them.
type lab struct {
	prefix string
	sw     netns.NsHandle
	hosts  map[string]*host
	order  []string // creation order, for teardown
}

// host is one namespace of the lab with its eth0 address.
type host struct {
	name string
	ns   string // namespace name, usable with `ip netns exec`
	addr netip.Addr
	h    netns.NsHandle
	nl   *netlink.Handle // netlink socket inside the namespace
}

// newNamedNS creates a named network namespace without moving the caller:
// netns.NewNamed switches the calling thread into the new namespace, so it
// runs on a locked thread that is switched back before being unlocked.
func newNamedNS(name string) (netns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return netns.None(), err
	}
	defer orig.Close()
	h, err := netns.NewNamed(name)
	if rerr := netns.Set(orig); rerr != nil {
		// A thread left in the wrong namespace must not run anything else.
		panic(fmt.Sprintf("demo: restore network namespace: %v", rerr))
	}
	return h, err
}

// in runs fn on a thread inside ns. Sockets opened by fn stay in ns after it
// returns, and processes started by fn are born in ns (a child inherits the
// namespace of the thread that forks it).
func in(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return fmt.Errorf("enter network namespace: %w", err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(fmt.Sprintf("demo: restore network namespace: %v", err))
		}
	}()
	return fn()
}

// newLab creates the bridge namespace. The caller must call close, also when
// a later step fails.
func newLab(prefix string) (*lab, error) {
	l := &lab{prefix: prefix, hosts: map[string]*host{}}
	sw, err := newNamedNS(prefix + "sw")
	if err != nil {
		return l, fmt.Errorf("create namespace %ssw: %w", prefix, err)
	}
	l.sw = sw
	l.order = append(l.order, prefix+"sw")
	nl, err := netlink.NewHandleAt(sw, unix.NETLINK_ROUTE)
	if err != nil {
		return l, err
	}
	defer nl.Close()
	// Multicast snooping off: VRRP adverts (224.0.0.18) must reach every
	// port whether or not anyone sent an IGMP report.
	off := false
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}, MulticastSnooping: &off}
	if err := nl.LinkAdd(br); err != nil {
		return l, fmt.Errorf("add bridge: %w", err)
	}
	for _, name := range []string{"br0", "lo"} {
		if err := setUp(nl, name); err != nil {
			return l, err
		}
	}
	return l, nil
}

func setUp(nl *netlink.Handle, name string) error {
	link, err := nl.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find %s: %w", name, err)
	}
	if err := nl.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// addHost creates a namespace with eth0 on the bridge, addressed addr/24.
func (l *lab) addHost(name string, addr netip.Addr) (*host, error) {
	h := &host{name: name, ns: l.prefix + name, addr: addr}
	ns, err := newNamedNS(h.ns)
	if err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", h.ns, err)
	}
	h.h = ns
	l.hosts[name] = h
	l.order = append(l.order, h.ns)
	if h.nl, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE); err != nil {
		return nil, err
	}
	sw, err := netlink.NewHandleAt(l.sw, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	defer sw.Close()
	br, err := sw.LinkByName("br0")
	if err != nil {
		return nil, err
	}
	// The bridge port is named after the host; its peer goes straight into
	// the host's namespace as eth0.
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: name, MasterIndex: br.Attrs().Index},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(int(ns)),
	}
	if err := sw.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("add veth for %s: %w", name, err)
	}
	if err := setUp(sw, name); err != nil {
		return nil, err
	}
	eth, err := h.nl.LinkByName("eth0")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(24, 32)}}
	if err := h.nl.AddrAdd(eth, a); err != nil {
		return nil, fmt.Errorf("%s: add %s: %w", name, addr, err)
	}
	for _, n := range []string{"eth0", "lo"} {
		if err := setUp(h.nl, n); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return h, nil
}

// has reports whether addr is on one of the host's interfaces.
func (h *host) has(addr netip.Addr) bool {
	addrs, err := h.nl.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr {
			return true
		}
	}
	return false
}

// start runs a command inside the host, in a process group of its own (so
// a kill reaches anything it forks), killed if the demo dies first.
func (h *host) start(out *os.File, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err := in(h.h, cmd.Start)
	return cmd, err
}

// close deletes every namespace of the lab (and with them the veths and the
// bridge) and returns the first error. Processes in them must be gone.
func (l *lab) close() error {
	var errs []error
	for _, h := range l.hosts {
		if h.nl != nil {
			h.nl.Close()
		}
		h.h.Close()
	}
	l.sw.Close()
	for i := len(l.order) - 1; i >= 0; i-- {
		if err := deleteNS(l.order[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deleteNS unmounts and removes a named namespace, as `ip netns del` does.
func deleteNS(name string) error {
	err := netns.DeleteNamed(name)
	if err != nil && errors.Is(err, syscall.EINVAL) {
		// Not a mount point (a half-created name): just the file.
		err = os.Remove(filepath.Join(nsDir, name))
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete namespace %s: %w", name, err)
	}
	return nil
}

// Namespaces lists the named network namespaces whose name starts with
// prefix ("" for all), as `ip netns list` would show them.
func Namespaces(prefix string) []string {
	entries, _ := os.ReadDir(nsDir)
	var names []string
	for _, e := range entries {
		if len(e.Name()) >= len(prefix) && e.Name()[:len(prefix)] == prefix {
			names = append(names, e.Name())
		}
	}
	return names
}

// Sweep deletes the namespaces of earlier demos whose process is gone (one
// killed before it could clean up), after killing whatever still runs in
// them, and returns their names.
func Sweep() []string {
	var swept []string
	for _, name := range Namespaces("vigil-demo-") {
		m := leftover.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || alive(pid) {
			continue // that demo is still running
		}
		killIn(filepath.Join(nsDir, name))
		if deleteNS(name) == nil {
			swept = append(swept, name)
		}
	}
	return swept
}

// alive reports whether the process exists and is not a zombie (a demo
// killed whose parent has not reaped it yet is gone all the same).
func alive(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // exists but unreadable: assume it runs
	}
	// pid (comm) S ...: the state follows the last parenthesis.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// killIn SIGKILLs every process whose network namespace is the one mounted
// at path (the same inode), as `ip netns pids` finds them.
func killIn(path string) {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return
	}
	procs, _ := os.ReadDir("/proc")
	var killed []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		var ps syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc", p.Name(), "ns/net"), &ps) == nil && ps.Ino == st.Ino && ps.Dev == st.Dev {
			syscall.Kill(pid, syscall.SIGKILL)
			killed = append(killed, pid)
		}
	}
	// Give the kernel a moment to reap them, so the namespace can go.
	deadline := time.Now().Add(2 * time.Second)
	for _, pid := range killed {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}
