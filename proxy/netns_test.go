package proxy

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"vigil/tests/lab"
)

// inNamespace makes a Service open its listener and its backend sockets in
// host h, as a vigil process running there would.
func inNamespace(h *lab.Host) func(*Service) {
	return func(s *Service) {
		listen := s.listen
		s.listen = func(ctx context.Context, network, address string) (ln net.Listener, pc net.PacketConn, err error) {
			derr := h.Do(func() error {
				ln, pc, err = listen(ctx, network, address)
				return nil
			})
			if derr != nil {
				return nil, nil, derr
			}
			return ln, pc, err
		}
		var d net.Dialer
		s.dial = func(ctx context.Context, network, address string) (c net.Conn, err error) {
			derr := h.Do(func() error {
				c, err = d.DialContext(ctx, network, address)
				return nil
			})
			if derr != nil {
				return nil, derr
			}
			return c, err
		}
	}
}

// TestNetnsVIPArrivesLater is a backup node's life: the proxy listens on a
// VIP its host does not have yet (IP_FREEBIND), then the VIP is added, and
// a client in another namespace reaches a backend in a third one through
// it, over TCP and UDP, with replies from the VIP.
func TestNetnsVIPArrivesLater(t *testing.T) {
	checkGoroutines(t)
	l := lab.New(t)
	front := l.AddNet("front", netip.MustParsePrefix("10.95.41.0/24"))
	back := l.AddNet("back", netip.MustParsePrefix("10.95.42.0/24"))
	client := l.AddHost("client", front)
	lb := l.AddHost("lb", front, back)
	be := l.AddHost("be", back)
	vip := netip.MustParseAddr("10.95.41.100")

	var tln net.Listener
	var uln *net.UDPConn
	beTCP := netip.AddrPortFrom(be.Addr(back), 8080)
	beUDP := netip.AddrPortFrom(be.Addr(back), 5353)
	if err := be.Do(func() error {
		var err error
		if tln, err = net.Listen("tcp", beTCP.String()); err != nil {
			return err
		}
		uln, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(beUDP))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	serveBackend(t, tln, echo)
	serveUDPBackend(t, uln, "be")

	tcpCfg := baseCfg(beTCP.String())
	tcpCfg.Listen = netip.AddrPortFrom(vip, 80)
	udpCfg := udpCfg(beUDP.String())
	udpCfg.Listen = netip.AddrPortFrom(vip, 53)
	rt := startService(t, tcpCfg, inNamespace(lb))
	ru := startService(t, udpCfg, inNamespace(lb))
	for _, r := range []*running{rt, ru} {
		if up, why := r.Health(); !up {
			t.Fatalf("service on %s before the VIP exists: %s", r.addr, why)
		}
	}
	if out := lb.MustExec("ip", "-br", "addr"); contains(out, vip.String()) {
		t.Fatalf("VIP already on lb:\n%s", out)
	}

	lb.MustExec("ip", "addr", "add", netip.PrefixFrom(vip, 24).String(), "dev", lb.Link(front))

	var c net.Conn
	var uc *net.UDPConn
	if err := client.Do(func() error {
		var err error
		d := net.Dialer{Timeout: 5 * time.Second}
		if c, err = d.Dial("tcp", rt.addr); err != nil {
			return err
		}
		uc, err = net.ListenUDP("udp", &net.UDPAddr{IP: client.Addr(front).AsSlice()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := roundTrip(t, c, "through the VIP"); got != "through the VIP" {
		t.Fatalf("echo %q", got)
	}
	if got := udpClientOn(t, uc, ru.addr).ask("dns?"); got != "be:dns?" {
		t.Fatalf("udp reply %q", got)
	}
	if st := rt.Stats(); st.Backends[0].Total != 1 {
		t.Errorf("backend connections %d, want 1", st.Backends[0].Total)
	}
}
