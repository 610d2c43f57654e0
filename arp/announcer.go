package arp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
)

// ErrNoMAC is returned (wrapped) by NewAnnouncer for an interface without
// an Ethernet MAC address, such as loopback, tun or an IP tunnel: neither
// ARP nor NDP link-layer options mean anything there, so a VIP on such an
// interface must be announced some other way (routing), not silently
// skipped.
var ErrNoMAC = errors.New("interface has no Ethernet MAC address")

// Announcer sends announcements for addresses on one interface. Safe for
// concurrent use.
//
// Its raw socket is opened by NewAnnouncer, not on first use, for two
// reasons. A node without CAP_NET_RAW should find out when it starts, not
// at the moment it becomes master and clients are waiting. And a socket is
// bound to the network namespace of the thread that creates it, so opening
// it up front lets any goroutine announce later. An idle one costs a
// backup nothing but a file descriptor: it is bound to no EtherType, so
// the kernel never queues received traffic to it.
//
// The interface's index and MAC are read once, by NewAnnouncer: when the
// interface is recreated or its MAC changes, make a new Announcer.
type Announcer struct {
	ifname string
	mac    net.HardwareAddr
	conn   *packet.Conn
	// fwd is this interface's IPv6 forwarding sysctl, held open so that it
	// keeps reading the namespace NewAnnouncer ran in (a /proc/sys/net
	// file belongs to the namespace of whoever opened it), and re-read on
	// each announcement because forwarding can be switched at run time.
	// nil when IPv6 is off for the interface.
	fwd *os.File
	log *slog.Logger

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// NewAnnouncer looks up the interface in the caller's network namespace
// and opens the raw socket announcements are sent on, which needs
// CAP_NET_RAW.
func NewAnnouncer(ifname string) (*Announcer, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("arp: %s: look up interface: %w", ifname, err)
	}
	if !isEthernetMAC(ifi.HardwareAddr) {
		return nil, fmt.Errorf("arp: %s: %w (loopback, tun and IP tunnels cannot carry ARP or NDP)", ifname, ErrNoMAC)
	}
	// Protocol 0: send-only, so nothing received is ever queued here.
	conn, err := packet.Listen(ifi, packet.Raw, 0, nil)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("arp: %s: open raw socket (needs CAP_NET_RAW): %w", ifname, err)
		}
		return nil, fmt.Errorf("arp: %s: open raw socket: %w", ifname, err)
	}
	a := &Announcer{
		ifname: ifname,
		mac:    ifi.HardwareAddr,
		conn:   conn,
		log:    slog.Default().With("component", "arp", "interface", ifname),
	}
	if f, err := os.Open(filepath.Join("/proc/sys/net/ipv6/conf", ifname, "forwarding")); err == nil {
		a.fwd = f
	}
	return a, nil
}

// isEthernetMAC rejects what net.Interface reports for links that have no
// 6-byte station address: nothing (loopback, tun, WireGuard), 4 or 16 bytes
// (IPv4 and IPv6 tunnels), or a group address no frame may come from.
func isEthernetMAC(mac net.HardwareAddr) bool {
	if len(mac) != 6 || mac[0]&1 != 0 {
		return false
	}
	for _, b := range mac {
		if b != 0 {
			return true
		}
	}
	return false
}

// Announce sends one packet per address: a gratuitous ARP for IPv4, an
// unsolicited Neighbor Advertisement for IPv6. It returns how many were
// sent. An address that cannot be announced, or a send that fails, does
// not stop the others, because on failover every VIP that does get through
// is traffic that moves; the failures are joined into err.
func (a *Announcer) Announce(addrs []netip.Addr) (sent int, err error) {
	if a.closed.Load() {
		return 0, fmt.Errorf("arp: %s: announce: %w", a.ifname, net.ErrClosed)
	}
	var (
		errs      []error
		router    bool
		routerSet bool
	)
	for _, raw := range addrs {
		ip, err := normalize(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("arp: %s: announce %v: %w", a.ifname, raw, err))
			continue
		}
		var (
			frame []byte
			dst   net.HardwareAddr
			kind  string
		)
		if ip.Is4() {
			kind, dst = "gratuitous ARP", ethernet.Broadcast
			frame, err = garpFrame(a.mac, ip)
		} else {
			if !routerSet {
				router, routerSet = a.forwarding(), true
			}
			kind, dst = "unsolicited NA", allNodesMAC
			frame, err = naFrame(a.mac, ip, router)
		}
		if err == nil {
			_, err = a.conn.WriteTo(frame, &packet.Addr{HardwareAddr: dst})
			if err != nil && a.closed.Load() {
				// A concurrent Close shows up as EBADF; say what happened.
				err = net.ErrClosed
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("arp: %s: send %s for %s: %w", a.ifname, kind, ip, err))
			continue
		}
		sent++
	}
	a.log.Debug("announced addresses", "sent", sent, "addresses", len(addrs), "failed", len(errs))
	return sent, errors.Join(errs...)
}

// forwarding reports whether IPv6 forwarding is on for the interface, which
// is what the NA's Router flag must say.
func (a *Announcer) forwarding() bool {
	if a.fwd == nil {
		return false
	}
	var buf [8]byte
	n, _ := a.fwd.ReadAt(buf[:], 0)
	return n > 0 && buf[0] != '0'
}

// Close releases the socket. Announcing afterwards fails with an error
// wrapping net.ErrClosed; closing again is a no-op, so a deferred Close
// after an explicit one is harmless.
func (a *Announcer) Close() error {
	a.closeOnce.Do(func() {
		a.closed.Store(true)
		a.closeErr = a.conn.Close()
		if a.fwd != nil {
			a.fwd.Close()
		}
		if a.closeErr != nil {
			a.closeErr = fmt.Errorf("arp: %s: close: %w", a.ifname, a.closeErr)
		}
	})
	return a.closeErr
}

// Burst is how keepalived announces on becoming master: a burst of
// repeats, then, because a switch or host may have missed the first while
// the link or its neighbour entries were still settling, the same again
// after a delay. keepalived's defaults are Repeat 5 (garp_master_repeat),
// Interval 0 (garp_interval) and Delay 5s (garp_master_delay).
type Burst struct {
	// Repeat is how many packets each address gets per burst; less than 1
	// counts as 1, so the zero Burst still announces once.
	Repeat int
	// Interval is the gap between successive rounds of a burst (each round
	// is one packet per address); 0 sends them back to back.
	Interval time.Duration
	// Delay is how long after the first burst the second one starts; 0
	// means no second burst.
	Delay time.Duration
}

// AnnounceBurst announces addrs as b describes and returns how many packets
// were sent. It stops as soon as ctx is done, even mid-delay, because a
// master that steps down must stop claiming the addresses at once; it then
// returns an error wrapping ctx.Err(). Failed sends do not stop the burst
// (a later repeat may get through): the first is returned and each is
// logged. Closing the Announcer ends the burst.
func (a *Announcer) AnnounceBurst(ctx context.Context, addrs []netip.Addr, b Burst) (sent int, err error) {
	if len(addrs) == 0 {
		return 0, nil
	}
	repeat := max(b.Repeat, 1)
	var firstErr error
	// round sends once per address; false means stop.
	round := func() bool {
		if ctx.Err() != nil {
			return false
		}
		n, err := a.Announce(addrs)
		sent += n
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				a.log.Warn("announcement failed", "err", err)
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		return !a.closed.Load()
	}
	burst := func() bool {
		for i := range repeat {
			if i > 0 && !wait(ctx, b.Interval) {
				return false
			}
			if !round() {
				return false
			}
		}
		return true
	}
	if burst() && b.Delay > 0 && wait(ctx, b.Delay) {
		burst()
	}
	if err := ctx.Err(); err != nil {
		return sent, errors.Join(firstErr, fmt.Errorf("arp: %s: announcement burst stopped after %d packets: %w", a.ifname, sent, err))
	}
	return sent, firstErr
}

// wait sleeps for d unless ctx ends first, and reports whether to go on.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
