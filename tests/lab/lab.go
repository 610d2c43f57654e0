// Package lab builds throwaway networks of Linux network namespaces for
// vigil's end-to-end tests: hosts joined by bridges, processes started inside
// them, conditions waited on, and everything torn down when the test ends,
// also when it fails or panics. It needs root; without it tests skip.
//
// The bridges live in a namespace of their own, so a lab never touches the
// machine's own network. Names carry the test process's pid, so concurrent
// runs never collide and a later run can sweep what a killed run left.
package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// namePrefix starts every namespace a lab creates; Sweep recognises them by it.
const namePrefix = "vgl"

// Lab is one isolated network. Create it with New.
type Lab struct {
	t      testing.TB
	id     string // vgl<pid>x<rand>
	sw     string // namespace holding the bridges
	nets   map[string]*Net
	hosts  map[string]*Host
	order  []*Host
	mu     sync.Mutex
	procs  []*Proc
	closed bool
}

// Net is one layer-2 segment (a bridge) with an IPv4 and an IPv6 subnet.
type Net struct {
	Name    string
	Bridge  string
	Prefix  netip.Prefix // IPv4, for example 10.0.1.0/24
	Prefix6 netip.Prefix // IPv6 ULA /64 derived from the lab id
	index   int
}

// Host is one network namespace with an interface on some nets.
type Host struct {
	Name string
	// NS is the namespace name, usable with `ip netns exec`.
	NS    string
	lab   *Lab
	index int
	links map[string]string // net name -> interface name in the host
	addrs map[string]netip.Addr
	addr6 map[string]netip.Addr
}

// New creates an empty lab and registers its teardown with t.Cleanup. It
// skips the test when not run as root or when iproute2 is missing.
func New(t testing.TB) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("lab: needs root to create network namespaces (run the tests as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("lab: needs the ip command (apt-get install iproute2)")
	}
	Sweep()
	var r [3]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatalf("lab: random id: %v", err)
	}
	l := &Lab{
		t:     t,
		id:    fmt.Sprintf("%s%dx%s", namePrefix, os.Getpid(), hex.EncodeToString(r[:])),
		nets:  map[string]*Net{},
		hosts: map[string]*Host{},
	}
	l.sw = l.id + "-sw"
	t.Cleanup(l.Close)
	l.must("ip", "netns", "add", l.sw)
	l.must("ip", "-n", l.sw, "link", "set", "lo", "up")
	return l
}

// ID is the lab's unique id, usable to make other names unique.
func (l *Lab) ID() string { return l.id }

func (l *Lab) must(args ...string) string {
	l.t.Helper()
	out, err := run(args...)
	if err != nil {
		l.t.Fatalf("lab: %v", err)
	}
	return out
}

// run executes a command and returns its combined output, with the command
// line in the error so failures explain themselves.
func run(args ...string) (string, error) {
	cmd := exec.Command(args[0], args[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// AddNet creates a segment with the IPv4 subnet given (a /24 or larger);
// hosts get addresses .1, .2, ... in the order they join.
func (l *Lab) AddNet(name string, prefix netip.Prefix) *Net {
	l.t.Helper()
	if _, ok := l.nets[name]; ok {
		l.t.Fatalf("lab: net %q exists", name)
	}
	n := &Net{Name: name, Bridge: fmt.Sprintf("br%d", len(l.nets)), Prefix: prefix.Masked(), index: len(l.nets)}
	// A ULA /64 per net, from the lab id, so IPv6 tests have addresses too.
	n.Prefix6 = netip.MustParsePrefix(fmt.Sprintf("fd%02x:%s:%x::/64", len(l.id)%256, l.id[len(l.id)-4:], n.index))
	// Multicast snooping off: VRRP (224.0.0.18, ff02::12) must reach every port
	// whether or not anyone sent an IGMP/MLD report.
	l.must("ip", "-n", l.sw, "link", "add", n.Bridge, "type", "bridge", "mcast_snooping", "0", "forward_delay", "0")
	l.must("ip", "-n", l.sw, "link", "set", n.Bridge, "up")
	l.nets[name] = n
	return n
}

// AddHost creates a namespace with one interface (eth0, eth1, ...) on each
// net given, in order, addressed from the net's subnets.
func (l *Lab) AddHost(name string, nets ...*Net) *Host {
	l.t.Helper()
	if _, ok := l.hosts[name]; ok {
		l.t.Fatalf("lab: host %q exists", name)
	}
	h := &Host{
		Name: name, NS: l.id + "-" + name, lab: l, index: len(l.order) + 1,
		links: map[string]string{}, addrs: map[string]netip.Addr{}, addr6: map[string]netip.Addr{},
	}
	l.hosts[name] = h
	l.order = append(l.order, h)
	l.must("ip", "netns", "add", h.NS)
	h.must("ip", "link", "set", "lo", "up")
	// No duplicate address detection: addresses are usable at once, and the
	// lab's addresses are unique by construction.
	h.must("sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	for i, n := range nets {
		ifname := fmt.Sprintf("eth%d", i)
		port := fmt.Sprintf("h%dn%d", h.index, n.index)
		l.must("ip", "-n", l.sw, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", h.NS)
		l.must("ip", "-n", l.sw, "link", "set", port, "master", n.Bridge, "up")
		a := nthAddr(n.Prefix, h.index)
		a6 := nthAddr(n.Prefix6, h.index)
		h.must("ip", "addr", "add", netip.PrefixFrom(a, n.Prefix.Bits()).String(), "dev", ifname)
		h.must("ip", "addr", "add", netip.PrefixFrom(a6, 64).String(), "dev", ifname, "nodad")
		h.must("ip", "link", "set", ifname, "up")
		h.links[n.Name] = ifname
		h.addrs[n.Name] = a
		h.addr6[n.Name] = a6
	}
	return h
}

func nthAddr(p netip.Prefix, n int) netip.Addr {
	a := p.Masked().Addr()
	for range n {
		a = a.Next()
	}
	return a
}

// Host returns the host of that name.
func (l *Lab) Host(name string) *Host { return l.hosts[name] }

// Close kills every process the lab started and deletes its namespaces (and
// with them every veth and bridge). t.Cleanup calls it; calling it again is a no-op.
func (l *Lab) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	procs := l.procs
	l.mu.Unlock()
	for _, p := range procs {
		p.Kill()
	}
	for _, p := range procs {
		p.waitExit(5 * time.Second)
		if l.t.Failed() {
			l.t.Logf("lab: output of %s on %s (%s):\n%s", p.Name, p.host.Name, p.State(), p.Output())
		}
	}
	for i := len(l.order) - 1; i >= 0; i-- {
		if _, err := run("ip", "netns", "del", l.order[i].NS); err != nil {
			l.t.Errorf("lab: cleanup: %v", err)
		}
	}
	if _, err := run("ip", "netns", "del", l.sw); err != nil {
		l.t.Errorf("lab: cleanup: %v", err)
	}
}

var labNS = regexp.MustCompile(`^` + namePrefix + `(\d+)x[0-9a-f]+-`)

// Sweep deletes namespaces left by lab runs whose process is gone (a test
// binary killed before its cleanup ran). New calls it.
func Sweep() {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		m := labNS.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		// The namespace's processes die with their parent test only if
		// they were killed; kill what is left so the namespace can go.
		if out, err := run("ip", "netns", "pids", e.Name()); err == nil {
			for _, f := range strings.Fields(out) {
				if p, err := strconv.Atoi(f); err == nil {
					syscall.Kill(p, syscall.SIGKILL)
				}
			}
		}
		run("ip", "netns", "del", e.Name())
	}
}

// Namespaces lists the namespaces that exist now, for leak checks.
func Namespaces() []string {
	entries, _ := os.ReadDir("/run/netns")
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// Addr is the host's IPv4 address on the net.
func (h *Host) Addr(n *Net) netip.Addr { return h.addrs[n.Name] }

// Addr6 is the host's IPv6 (ULA) address on the net.
func (h *Host) Addr6(n *Net) netip.Addr { return h.addr6[n.Name] }

// Link is the name of the host's interface on the net (eth0, eth1, ...).
func (h *Host) Link(n *Net) string { return h.links[n.Name] }

func (h *Host) must(args ...string) string {
	h.lab.t.Helper()
	out, err := h.Exec(args...)
	if err != nil {
		h.lab.t.Fatalf("lab: %s: %v", h.Name, err)
	}
	return out
}

// MustExec runs a command in the host to completion and fails the test if it fails.
func (h *Host) MustExec(args ...string) string {
	h.lab.t.Helper()
	return h.must(args...)
}

// Exec runs a command in the host's namespace to completion.
func (h *Host) Exec(args ...string) (string, error) {
	return run(append([]string{"ip", "netns", "exec", h.NS}, args...)...)
}

// Do runs fn with the calling goroutine's OS thread inside the host's
// namespace. Sockets opened in fn stay in that namespace after it returns,
// so a test can dial or listen "from" a host with the normal net package.
func (h *Host) Do(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("lab: get current netns: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(h.NS)
	if err != nil {
		return fmt.Errorf("lab: open netns %s: %w", h.NS, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return fmt.Errorf("lab: enter netns %s: %w", h.NS, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// A thread stuck in the wrong namespace must not be reused.
			panic(fmt.Sprintf("lab: restore netns: %v", err))
		}
	}()
	return fn()
}

// Proc is a process started in a host. Its output is kept for assertions and
// printed when the test fails.
type Proc struct {
	Name string
	host *Host
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// Start runs a command in the background inside the host. The lab kills it
// (and its process group) at teardown if it is still running.
func (h *Host) Start(args ...string) *Proc {
	h.lab.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS}, args...)...)
	buf := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	// Its own process group, so Kill reaches children it forks too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		h.lab.t.Fatalf("lab: %s: start %s: %v", h.Name, strings.Join(args, " "), err)
	}
	p := &Proc{Name: args[0], host: h, cmd: cmd, out: buf, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	h.lab.mu.Lock()
	h.lab.procs = append(h.lab.procs, p)
	h.lab.mu.Unlock()
	return p
}

// Pid is the process id of the command (ip netns exec execs into it, so it
// is the command's own, not a wrapper's).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Output is everything the process printed so far.
func (p *Proc) Output() string { return p.out.String() }

// Signal sends sig to the process group.
func (p *Proc) Signal(sig syscall.Signal) error {
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Kill sends SIGKILL to the process group (a crash, as far as peers can tell).
func (p *Proc) Kill() { p.Signal(syscall.SIGKILL) }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to end, up to timeout, and returns its exit error.
func (p *Proc) Wait(timeout time.Duration) (error, bool) {
	if !p.waitExit(timeout) {
		return nil, false
	}
	return p.err, true
}

func (p *Proc) waitExit(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// State describes the process for logs: running, or how it exited.
func (p *Proc) State() string {
	if !p.Exited() {
		return "running"
	}
	if p.err == nil {
		return "exited 0"
	}
	return p.err.Error()
}

// ExitCode is the exit status, or -1 while running or when killed by a signal.
func (p *Proc) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WaitFor polls cond until it returns true or timeout passes, then fails the
// test with the last explanation cond gave. Tests wait on conditions this
// way instead of sleeping for a guessed time.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	if err := Poll(context.Background(), timeout, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// Poll is WaitFor without a test: it returns an error with the last
// explanation when the timeout passes or ctx ends.
func Poll(ctx context.Context, timeout time.Duration, cond func() (bool, string)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		ok, why := cond()
		if ok {
			return nil
		}
		last = why
		select {
		case <-ctx.Done():
			return fmt.Errorf("not reached after %s: %s", timeout, last)
		case <-tick.C:
		}
	}
}
