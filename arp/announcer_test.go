package arp

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"vigil/tests/lab"
)

// These tests run in network namespaces (see tests/lab): host a announces,
// host b watches the wire with a raw socket and keeps a neighbour cache.
// Nothing leaves the lab.

// frameTimeout bounds every wait for a frame; frames on a veth arrive in
// microseconds, so hitting it means the frame was never sent.
const frameTimeout = 5 * time.Second

// pair is a two-host lab on one segment.
type pair struct {
	lab  *lab.Lab
	net  *lab.Net
	a, b *lab.Host
	macA net.HardwareAddr
}

func newPair(t *testing.T, subnet string) *pair {
	t.Helper()
	l := lab.New(t)
	n := l.AddNet("lan", netip.MustParsePrefix(subnet))
	p := &pair{lab: l, net: n, a: l.AddHost("a", n), b: l.AddHost("b", n)}
	if err := p.a.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		p.macA = ifi.HardwareAddr
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return p
}

// vip is an address in the net's IPv4 or IPv6 prefix that no host has.
func (p *pair) vip(v6 bool, host byte) netip.Addr {
	if v6 {
		a := p.net.Prefix6.Addr().As16()
		a[15] = host
		return netip.AddrFrom16(a)
	}
	a := p.net.Prefix.Addr().As4()
	a[3] = host
	return netip.AddrFrom4(a)
}

// announcer opens an Announcer for h's eth0 inside h's namespace.
func announcer(t *testing.T, h *lab.Host) *Announcer {
	t.Helper()
	var a *Announcer
	if err := h.Do(func() (err error) {
		a, err = NewAnnouncer("eth0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// capture collects, in one host, the announcement frames (ARP, and ICMPv6
// Neighbor Advertisements) that arrive from one MAC, in arrival order.
type capture struct {
	frames chan []byte
}

func startCapture(t *testing.T, h *lab.Host, from net.HardwareAddr) *capture {
	t.Helper()
	var conn *packet.Conn
	if err := h.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c := &capture{frames: make(chan []byte, 4096)}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			f := buf[:n]
			if !isAnnouncement(f) || !bytes.Equal(f[6:12], from) {
				continue
			}
			select {
			case c.frames <- bytes.Clone(f):
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		conn.Close()
		<-done
	})
	return c
}

func isAnnouncement(f []byte) bool {
	if len(f) < 14 {
		return false
	}
	switch binary.BigEndian.Uint16(f[12:14]) {
	case unix.ETH_P_ARP:
		return len(f) >= 42
	case unix.ETH_P_IPV6:
		return len(f) >= 78 && f[20] == 58 && f[54] == 136
	}
	return false
}

// target is the address an announcement frame is for.
func target(f []byte) netip.Addr {
	if binary.BigEndian.Uint16(f[12:14]) == unix.ETH_P_ARP {
		return netip.AddrFrom4([4]byte(f[38:42]))
	}
	return netip.AddrFrom16([16]byte(f[62:78]))
}

func (c *capture) next(t *testing.T) []byte {
	t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(frameTimeout):
		t.Fatalf("no announcement frame within %s", frameTimeout)
		return nil
	}
}

// upTo returns the frames captured before the one for marker, which the
// caller has just announced. Frames on one link arrive in the order sent,
// so this is exactly what went out before the marker, with no sleeping and
// no guessing whether a late frame is still on its way.
func (c *capture) upTo(t *testing.T, marker netip.Addr) [][]byte {
	t.Helper()
	var got [][]byte
	for {
		f := c.next(t)
		if target(f) == marker {
			return got
		}
		got = append(got, f)
	}
}

func targets(frames [][]byte) []netip.Addr {
	var out []netip.Addr
	for _, f := range frames {
		out = append(out, target(f))
	}
	return out
}

// checkGARP asserts the keepalived gratuitous ARP layout field by field, so
// a failure names the field.
func checkGARP(t *testing.T, f []byte, mac net.HardwareAddr, vip netip.Addr) {
	t.Helper()
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	v := vip.As4()
	fields := []struct {
		name      string
		got, want []byte
	}{
		{"ethernet destination", f[0:6], bcast},
		{"ethernet source", f[6:12], mac},
		{"ethertype", f[12:14], []byte{0x08, 0x06}},
		{"hardware type", f[14:16], []byte{0, 1}},
		{"protocol type", f[16:18], []byte{0x08, 0x00}},
		{"address lengths", f[18:20], []byte{6, 4}},
		{"opcode (request)", f[20:22], []byte{0, 1}},
		{"sender MAC", f[22:28], mac},
		{"sender IP", f[28:32], v[:]},
		{"target MAC", f[32:38], bcast},
		{"target IP", f[38:42], v[:]},
	}
	for _, fl := range fields {
		if !bytes.Equal(fl.got, fl.want) {
			t.Errorf("ARP %s = %x, want %x", fl.name, fl.got, fl.want)
		}
	}
	// keepalived sends 42 bytes and leaves padding to the NIC; a veth and
	// a bridge add none.
	if len(f) != 42 {
		t.Errorf("ARP frame is %d bytes, want 42", len(f))
	}
}

// checkNA asserts the keepalived unsolicited NA layout field by field and
// verifies the ICMPv6 checksum independently of the code under test.
func checkNA(t *testing.T, f []byte, mac net.HardwareAddr, vip netip.Addr, router bool) {
	t.Helper()
	v, all := vip.As16(), netip.MustParseAddr("ff02::1").As16()
	flags := byte(0x20) // Override only
	if router {
		flags |= 0x80
	}
	fields := []struct {
		name      string
		got, want []byte
	}{
		{"ethernet destination", f[0:6], []byte{0x33, 0x33, 0, 0, 0, 1}},
		{"ethernet source", f[6:12], mac},
		{"ethertype", f[12:14], []byte{0x86, 0xdd}},
		{"version/class/flow", f[14:18], []byte{0x60, 0, 0, 0}},
		{"payload length", f[18:20], []byte{0, 32}},
		{"next header", f[20:21], []byte{58}},
		{"hop limit", f[21:22], []byte{255}},
		{"source", f[22:38], v[:]},
		{"destination", f[38:54], all[:]},
		{"ICMPv6 type/code", f[54:56], []byte{136, 0}},
		{"flags R|S|O", f[58:59], []byte{flags}},
		{"reserved", f[59:62], []byte{0, 0, 0}},
		{"target", f[62:78], v[:]},
		{"option type/length (TLLA, 8 bytes)", f[78:80], []byte{2, 1}},
		{"option MAC", f[80:86], mac},
	}
	for _, fl := range fields {
		if !bytes.Equal(fl.got, fl.want) {
			t.Errorf("NA %s = %x, want %x", fl.name, fl.got, fl.want)
		}
	}
	if len(f) != 86 {
		t.Errorf("NA frame is %d bytes, want 86", len(f))
	}
	if sum := icmp6Checksum(f[22:38], f[38:54], f[54:86]); sum != 0 {
		t.Errorf("ICMPv6 checksum does not verify (sum %#04x)", sum)
	}
}

// icmp6Checksum folds the pseudo-header and message; 0 means valid.
func icmp6Checksum(src, dst, msg []byte) uint16 {
	var s uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			s += uint32(b[len(b)-1]) << 8
		}
	}
	add(src)
	add(dst)
	s += uint32(len(msg)) + 58
	add(msg)
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestNewAnnouncerUnknownInterface(t *testing.T) {
	a, err := NewAnnouncer("vglnosuch0")
	if err == nil {
		a.Close()
		t.Fatal("NewAnnouncer on a missing interface succeeded")
	}
	if !strings.HasPrefix(err.Error(), "arp: vglnosuch0: ") {
		t.Errorf("error %q does not name the package and interface", err)
	}
}

// Loopback is checked in the test's own namespace: NewAnnouncer rejects it
// before opening any socket, so nothing is sent anywhere.
func TestNewAnnouncerLoopback(t *testing.T) {
	a, err := NewAnnouncer("lo")
	if err == nil {
		a.Close()
		t.Fatal("NewAnnouncer on loopback succeeded")
	}
	if !errors.Is(err, ErrNoMAC) {
		t.Errorf("error %q does not wrap ErrNoMAC", err)
	}
}

func TestNewAnnouncerTun(t *testing.T) {
	p := newPair(t, "10.90.108.0/24")
	if out, err := p.a.Exec("ip", "tuntap", "add", "dev", "tun0", "mode", "tun"); err != nil {
		t.Skipf("no tun device here: %v\n%s", err, out)
	}
	err := p.a.Do(func() error {
		a, err := NewAnnouncer("tun0")
		if err == nil {
			a.Close()
		}
		return err
	})
	if !errors.Is(err, ErrNoMAC) {
		t.Fatalf("NewAnnouncer(tun0) = %v, want an error wrapping ErrNoMAC", err)
	}
}

// Without CAP_NET_RAW the raw socket cannot be opened. Capabilities are per
// thread, so the test drops CAP_NET_RAW from one locked thread that is
// never unlocked: the runtime discards it when the goroutine ends.
func TestNewAnnouncerWithoutCapNetRaw(t *testing.T) {
	p := newPair(t, "10.90.107.0/24")
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // deliberately never unlocked
		errc <- p.a.Do(func() error {
			hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
			var data [2]unix.CapUserData
			if err := unix.Capget(&hdr, &data[0]); err != nil {
				return fmt.Errorf("capget: %w", err)
			}
			data[unix.CAP_NET_RAW/32].Effective &^= 1 << (unix.CAP_NET_RAW % 32)
			if err := unix.Capset(&hdr, &data[0]); err != nil {
				return fmt.Errorf("capset: %w", err)
			}
			a, err := NewAnnouncer("eth0")
			if err == nil {
				a.Close()
				return errors.New("NewAnnouncer succeeded without CAP_NET_RAW")
			}
			if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "CAP_NET_RAW") {
				return fmt.Errorf("error %q should wrap EPERM and mention CAP_NET_RAW", err)
			}
			return nil
		})
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestGratuitousARPOnTheWire(t *testing.T) {
	p := newPair(t, "10.90.101.0/24")
	c := startCapture(t, p.b, p.macA)
	a := announcer(t, p.a)
	vip := p.vip(false, 100)
	sent, err := a.Announce([]netip.Addr{vip})
	if sent != 1 || err != nil {
		t.Fatalf("Announce = %d, %v; want 1, nil", sent, err)
	}
	checkGARP(t, c.next(t), p.macA, vip)
}

func TestUnsolicitedNAOnTheWire(t *testing.T) {
	p := newPair(t, "10.90.102.0/24")
	c := startCapture(t, p.b, p.macA)
	a := announcer(t, p.a)
	vip := p.vip(true, 100)

	t.Run("host", func(t *testing.T) {
		sent, err := a.Announce([]netip.Addr{vip})
		if sent != 1 || err != nil {
			t.Fatalf("Announce = %d, %v; want 1, nil", sent, err)
		}
		checkNA(t, c.next(t), p.macA, vip, false)
	})

	// Forwarding switched on after the Announcer exists, and the announce
	// made from this goroutine, outside a's namespace: the Router flag must
	// still follow a's setting, and the frame still leave a's eth0.
	t.Run("router", func(t *testing.T) {
		p.a.MustExec("sysctl", "-qw", "net.ipv6.conf.eth0.forwarding=1")
		sent, err := a.Announce([]netip.Addr{vip})
		if sent != 1 || err != nil {
			t.Fatalf("Announce = %d, %v; want 1, nil", sent, err)
		}
		checkNA(t, c.next(t), p.macA, vip, true)
	})
}

func TestAnnounceSkipsBadAddresses(t *testing.T) {
	p := newPair(t, "10.90.103.0/24")
	c := startCapture(t, p.b, p.macA)
	a := announcer(t, p.a)
	v4, v6 := p.vip(false, 100), p.vip(true, 100)
	addrs := []netip.Addr{v4, netip.MustParseAddr("224.0.0.18"), {}, v6, netip.AddrFrom16(v4.As16())}
	sent, err := a.Announce(addrs)
	if sent != 3 {
		t.Errorf("sent = %d, want 3", sent)
	}
	if err == nil || !strings.Contains(err.Error(), "224.0.0.18") {
		t.Errorf("err = %v, want one naming 224.0.0.18", err)
	}
	marker := p.vip(false, 200)
	a.Announce([]netip.Addr{marker})
	got := targets(c.upTo(t, marker))
	want := []netip.Addr{v4, v6, v4}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("frames for %v, want %v", got, want)
	}
}

func TestAnnounceBurst(t *testing.T) {
	p := newPair(t, "10.90.104.0/24")
	c := startCapture(t, p.b, p.macA)
	a := announcer(t, p.a)
	v4, v6 := p.vip(false, 100), p.vip(true, 100)

	sent, err := a.AnnounceBurst(context.Background(), []netip.Addr{v4, v6},
		Burst{Repeat: 3, Interval: 10 * time.Millisecond, Delay: 50 * time.Millisecond})
	if sent != 12 || err != nil {
		t.Fatalf("AnnounceBurst = %d, %v; want 12 (2 bursts x 3 repeats x 2 addresses), nil", sent, err)
	}
	marker := p.vip(false, 200)
	a.Announce([]netip.Addr{marker})
	frames := c.upTo(t, marker)
	var want []netip.Addr
	for range 2 * 3 {
		want = append(want, v4, v6) // rounds: one packet per address each
	}
	if got := targets(frames); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("frames for\n %v\nwant\n %v", got, want)
	}
	for _, f := range frames {
		if target(f) == v4 {
			checkGARP(t, f, p.macA, v4)
		} else {
			checkNA(t, f, p.macA, v6, false)
		}
	}

	t.Run("zero Burst announces once", func(t *testing.T) {
		sent, err := a.AnnounceBurst(context.Background(), []netip.Addr{v4}, Burst{})
		if sent != 1 || err != nil {
			t.Fatalf("AnnounceBurst = %d, %v; want 1, nil", sent, err)
		}
		a.Announce([]netip.Addr{marker})
		if got := targets(c.upTo(t, marker)); fmt.Sprint(got) != fmt.Sprint([]netip.Addr{v4}) {
			t.Fatalf("frames for %v, want [%s]", got, v4)
		}
	})
}

func TestAnnounceBurstCancel(t *testing.T) {
	p := newPair(t, "10.90.105.0/24")
	c := startCapture(t, p.b, p.macA)
	a := announcer(t, p.a)
	v4, v6 := p.vip(false, 100), p.vip(true, 100)
	marker := p.vip(false, 200)

	t.Run("during delay", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		type result struct {
			sent int
			err  error
		}
		done := make(chan result, 1)
		go func() {
			n, err := a.AnnounceBurst(ctx, []netip.Addr{v4, v6}, Burst{Repeat: 2, Delay: time.Hour})
			done <- result{n, err}
		}()
		// The first burst is on the wire; the burst now sits in its delay.
		for range 4 {
			c.next(t)
		}
		cancel()
		var r result
		select {
		case r = <-done:
		case <-time.After(frameTimeout):
			t.Fatal("AnnounceBurst still running after its context was cancelled")
		}
		if r.sent != 4 || !errors.Is(r.err, context.Canceled) {
			t.Fatalf("AnnounceBurst = %d, %v; want 4 and an error wrapping context.Canceled", r.sent, r.err)
		}
		a.Announce([]netip.Addr{marker})
		if extra := c.upTo(t, marker); len(extra) != 0 {
			t.Fatalf("%d frames after cancel (%v): the second burst was sent", len(extra), targets(extra))
		}
	})

	t.Run("before start", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		sent, err := a.AnnounceBurst(ctx, []netip.Addr{v4, v6}, Burst{Repeat: 3})
		if sent != 0 || !errors.Is(err, context.Canceled) {
			t.Fatalf("AnnounceBurst = %d, %v; want 0 and context.Canceled", sent, err)
		}
		a.Announce([]netip.Addr{marker})
		if extra := c.upTo(t, marker); len(extra) != 0 {
			t.Fatalf("%d frames sent with a cancelled context", len(extra))
		}
	})
}

// Many goroutines announce on one Announcer while another closes it: every
// packet counted as sent is on the wire, and nothing races.
func TestAnnounceConcurrentAndClose(t *testing.T) {
	p := newPair(t, "10.90.106.0/24")
	c := startCapture(t, p.b, p.macA)
	a := announcer(t, p.a)
	v4, v6 := p.vip(false, 100), p.vip(true, 100)

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
	)
	for range 4 {
		wg.Go(func() {
			for range 10 {
				n, _ := a.Announce([]netip.Addr{v4, v6})
				mu.Lock()
				total += n
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if total != 80 {
		t.Fatalf("sent %d, want 80", total)
	}
	marker := p.vip(false, 200)
	a.Announce([]netip.Addr{marker})
	if got := len(c.upTo(t, marker)); got != 80 {
		t.Fatalf("captured %d frames, want 80", got)
	}

	for range 4 {
		wg.Go(func() {
			for range 50 {
				a.Announce([]netip.Addr{v4})
			}
		})
	}
	wg.Go(func() { a.Close() })
	wg.Wait()
	if err := a.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if n, err := a.Announce([]netip.Addr{v4}); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Announce after Close = %d, %v; want 0 and net.ErrClosed", n, err)
	}
	if n, err := a.AnnounceBurst(context.Background(), []netip.Addr{v4}, Burst{Repeat: 3, Delay: time.Hour}); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Errorf("AnnounceBurst after Close = %d, %v; want 0 and net.ErrClosed, without waiting", n, err)
	}
}

// neighbour is b's cache entry for ip: its MAC and state.
func neighbour(h *lab.Host, ip netip.Addr) (lladdr, state string) {
	out, err := h.Exec("ip", "-j", "neigh", "show", "to", ip.String(), "dev", "eth0")
	if err != nil {
		return "", err.Error()
	}
	var entries []struct {
		LLAddr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &entries); err != nil || len(entries) == 0 {
		return "", fmt.Sprintf("no entry (%q)", out)
	}
	return entries[0].LLAddr, strings.Join(entries[0].State, ",")
}

// The behaviour the whole package exists for: a client holding a stale
// neighbour entry for the VIP (the old master's MAC) moves to the new
// master as soon as it announces.
func TestClientNeighbourCacheMovesToNewMaster(t *testing.T) {
	p := newPair(t, "10.90.100.0/24")
	v4, v6 := p.vip(false, 100), p.vip(true, 100)
	const oldMAC = "02:00:00:00:00:99"
	for _, vip := range []netip.Addr{v4, v6} {
		p.b.MustExec("ip", "neigh", "replace", vip.String(), "lladdr", oldMAC, "dev", "eth0", "nud", "stale")
	}
	p.a.MustExec("ip", "addr", "add", netip.PrefixFrom(v4, p.net.Prefix.Bits()).String(), "dev", "eth0")
	p.a.MustExec("ip", "addr", "add", netip.PrefixFrom(v6, 64).String(), "dev", "eth0", "nodad")
	// Adding the VIPs alone tells b nothing: the announcement is what moves it.
	for _, vip := range []netip.Addr{v4, v6} {
		if mac, state := neighbour(p.b, vip); mac != oldMAC {
			t.Fatalf("before announcing, b has %s at %s (%s), want the stale %s", vip, mac, state, oldMAC)
		}
	}

	a := announcer(t, p.a)
	if sent, err := a.Announce([]netip.Addr{v4, v6}); sent != 2 || err != nil {
		t.Fatalf("Announce = %d, %v; want 2, nil", sent, err)
	}
	for _, vip := range []netip.Addr{v4, v6} {
		lab.WaitFor(t, frameTimeout, "b to learn "+vip.String()+" at a's MAC", func() (bool, string) {
			mac, state := neighbour(p.b, vip)
			return mac == p.macA.String(), fmt.Sprintf("b has %s at %s (%s), want %s", vip, mac, state, p.macA)
		})
	}
}

// keepalived itself, when installed, is the reference: run it as master in
// a, capture its first gratuitous ARP and NA, then compare ours for the same
// VIPs from the same interface byte for byte.
func TestSameFramesAsKeepalived(t *testing.T) {
	if _, err := exec.LookPath("keepalived"); err != nil {
		t.Skip("keepalived not installed (apt-get install -y keepalived)")
	}
	p := newPair(t, "10.90.109.0/24")
	c := startCapture(t, p.b, p.macA)
	v4, v6 := p.vip(false, 100), p.vip(true, 100)
	dir := t.TempDir()
	conf := fmt.Sprintf(`global_defs {
  router_id vigil-arp-test
  vrrp_garp_master_delay 0
  vrrp_garp_master_repeat 1
}
vrrp_instance V4 {
  state MASTER
  interface eth0
  virtual_router_id 51
  priority 255
  advert_int 1
  virtual_ipaddress { %s/%d }
}
vrrp_instance V6 {
  state MASTER
  interface eth0
  virtual_router_id 52
  priority 255
  advert_int 1
  virtual_ipaddress { %s/64 }
}
`, v4, p.net.Prefix.Bits(), v6)
	if err := os.WriteFile(filepath.Join(dir, "keepalived.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ka := p.a.Start("keepalived", "-n", "-l", "-D", "-f", filepath.Join(dir, "keepalived.conf"),
		"-p", filepath.Join(dir, "k.pid"), "-r", filepath.Join(dir, "v.pid"), "-c", filepath.Join(dir, "c.pid"))
	theirs := map[netip.Addr][]byte{}
	for len(theirs) < 2 {
		f := c.next(t)
		if _, ok := theirs[target(f)]; !ok {
			theirs[target(f)] = f
		}
	}
	ka.Signal(syscall.SIGTERM)
	if _, ok := ka.Wait(frameTimeout); !ok {
		t.Fatal("keepalived did not stop")
	}

	a := announcer(t, p.a)
	marker := p.vip(false, 200)
	a.Announce([]netip.Addr{marker})
	c.upTo(t, marker) // whatever keepalived still had on the wire
	if sent, err := a.Announce([]netip.Addr{v4, v6}); sent != 2 || err != nil {
		t.Fatalf("Announce = %d, %v; want 2, nil", sent, err)
	}
	for range 2 {
		ours := c.next(t)
		if want := theirs[target(ours)]; !bytes.Equal(ours, want) {
			t.Errorf("for %s:\n ours       %x\n keepalived %x", target(ours), ours, want)
		}
	}
}
