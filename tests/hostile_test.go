package tests

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"golang.org/x/net/ipv4"

	"vigil/tests/lab"
	"vigil/vrrp"
)

// sendRaw sends one VRRP payload from host h with a hand-made IPv4 header,
// so a test can forge what a normal socket would not send (TTL 254).
func sendRaw(t *testing.T, h *lab.Host, src, dst netip.Addr, ttl int, payload []byte) {
	t.Helper()
	err := h.Do(func() error {
		pc, err := net.ListenPacket("ip4:112", "0.0.0.0")
		if err != nil {
			return err
		}
		defer pc.Close()
		rc, err := ipv4.NewRawConn(pc)
		if err != nil {
			return err
		}
		hdr := &ipv4.Header{
			Version: 4, Len: ipv4.HeaderLen, TOS: 0xc0, TotalLen: ipv4.HeaderLen + len(payload),
			TTL: ttl, Protocol: vrrp.ProtocolNumber, Src: src.AsSlice(), Dst: dst.AsSlice(),
		}
		cm := &ipv4.ControlMessage{IfIndex: 0}
		if ifi, err := net.InterfaceByName("eth0"); err == nil {
			cm.IfIndex = ifi.Index
		}
		return rc.WriteTo(hdr, payload, cm)
	})
	if err != nil {
		t.Fatalf("rogue send: %v", err)
	}
}

// TestHostileAdvertsIgnored: a rogue host sends adverts that would win the
// election if obeyed (priority 254), each broken in one way. The master
// stays master and logs every drop with its reason.
func TestHostileAdvertsIgnored(t *testing.T) {
	p := newPair(t)
	rogue := p.lab.AddHost("rogue", p.lan)
	peer := p.lb2.Addr(p.lan)
	cfg := nodeConfig("lb1", instanceYAML("VI_2", 52, 100, "1s", "10.0.0.102/24", "    version: 2\n    auth_pass: secret\n")+
		instanceYAML("VI_3", 53, 100, "100ms", "10.0.0.103/24", "")+
		instanceYAML("VI_U", 54, 100, "100ms", "10.0.0.104/24", fmt.Sprintf("    unicast_peers: [%s]\n", peer)))
	apiAddr := p.lb1.Addr(p.lan).String() + ":9653"
	cfg = strings.Replace(cfg, `api: { listen: "", socket: "" }`, `api: { listen: "`+apiAddr+`", socket: "" }`, 1)
	lb1 := startVigil(t, p.lb1, "log: { level: debug }\n"+cfg)
	for _, v := range []string{"10.0.0.102", "10.0.0.103", "10.0.0.104"} {
		waitOwner(t, netip.MustParseAddr(v), p.lb1, p.nodes, 10*time.Second)
	}

	src, group := rogue.Addr(p.lan), vrrp.MulticastIPv4
	lb1Addr := p.lb1.Addr(p.lan)
	addrs := func(s string) []netip.Addr { return []netip.Addr{netip.MustParseAddr(s)} }
	v2 := vrrp.Advert{Version: 2, VRID: 52, Priority: 254, Interval: time.Second, AuthType: vrrp.AuthSimple, AuthData: vrrp.PassData("secret"), Addresses: addrs("10.0.0.102")}
	v3 := vrrp.Advert{Version: 3, VRID: 53, Priority: 254, Interval: 100 * time.Millisecond, Addresses: addrs("10.0.0.103")}
	marshal := func(a vrrp.Advert, dst netip.Addr) []byte {
		b, err := a.Marshal(src, dst)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wrongAuth := v2
	wrongAuth.AuthData = vrrp.PassData("guess")
	wrongInterval := v2
	wrongInterval.Interval = 2 * time.Second
	wrongVersion := v3
	wrongVersion.Version = 2
	wrongVersion.Interval = time.Second
	badSum := marshal(v3, group)
	badSum[6] ^= 0xff
	countMismatch := marshal(v3, group)
	countMismatch[3] = 0 // says no addresses, carries one
	fixV3Checksum(countMismatch, src, group)
	unicast := v3
	unicast.VRID = 54
	unicast.Addresses = addrs("10.0.0.104")

	// instance is the one whose counter must show the drop: the one the
	// advert's VRID names (TTL and parse drops come before the VRID is
	// known, so every instance counts those; VI_3 is checked).
	cases := []struct {
		reason   string
		instance string
		ttl      int
		dst      netip.Addr
		payload  []byte
	}{
		{"ttl", "VI_3", 254, group, marshal(v3, group)},
		{"checksum", "VI_3", 255, group, badSum},
		{"auth", "VI_2", 255, group, marshal(wrongAuth, group)},
		{"interval", "VI_2", 255, group, marshal(wrongInterval, group)},
		{"version", "VI_3", 255, group, marshal(wrongVersion, group)},
		{"short", "VI_3", 255, group, marshal(v3, group)[:6]},
		{"addr_count", "VI_3", 255, group, countMismatch},
		{"not_peer", "VI_U", 255, lb1Addr, marshal(unicast, lb1Addr)},
	}
	for _, c := range cases {
		// Keep sending until the drop is logged: one lost frame must not fail the test.
		lab.WaitFor(t, 5*time.Second, "a drop logged with reason "+c.reason, func() (bool, string) {
			sendRaw(t, rogue, src, c.dst, c.ttl, c.payload)
			return containsLine(lb1.proc.Output(), "dropped packet", "reason="+c.reason), ""
		})
	}
	// Each drop is counted under its reason in the metrics; the reasons
	// never sent stay at zero (the counters are per reason, not a total).
	dropped := func(families map[string]*dto.MetricFamily, instance, reason string) float64 {
		for _, m := range families["vigil_vrrp_dropped_packets_total"].GetMetric() {
			var in, re string
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "vrrp_instance":
					in = lp.GetValue()
				case "reason":
					re = lp.GetValue()
				}
			}
			if in == instance && re == reason {
				return m.GetCounter().GetValue()
			}
		}
		t.Errorf("no vigil_vrrp_dropped_packets_total{instance=%q,reason=%q}", instance, reason)
		return -1
	}
	families := scrape(t, rogue, apiAddr)
	for _, c := range cases {
		if v := dropped(families, c.instance, c.reason); v < 1 {
			t.Errorf("vigil_vrrp_dropped_packets_total{instance=%q,reason=%q} = %v, want >= 1", c.instance, c.reason, v)
		}
	}
	for _, in := range []string{"VI_2", "VI_3", "VI_U"} {
		for _, reason := range []string{"type", "family"} {
			if v := dropped(families, in, reason); v != 0 {
				t.Errorf("vigil_vrrp_dropped_packets_total{instance=%q,reason=%q} = %v, none was sent", in, reason, v)
			}
		}
	}
	for _, v := range []string{"10.0.0.102", "10.0.0.103", "10.0.0.104"} {
		waitOwner(t, netip.MustParseAddr(v), p.lb1, p.nodes, time.Second)
	}
	for _, tr := range lb1.transitions() {
		if !slices.Contains([]string{"INIT>BACKUP", "BACKUP>MASTER"}, tr) {
			t.Errorf("a hostile advert caused transition %s", tr)
		}
	}
	if n := len(lb1.transitions()); n != 6 {
		t.Errorf("lb1 made %d transitions, want 6 (INIT>BACKUP>MASTER for each of 3 instances)", n)
	}

	// Control: the same advert, well-formed, is obeyed (the test can fail).
	lab.WaitFor(t, 5*time.Second, "a valid priority-254 advert to win", func() (bool, string) {
		sendRaw(t, rogue, src, group, 255, marshal(v3, group))
		return !hasAddr(p.lb1, netip.MustParseAddr("10.0.0.103")), ""
	})
}

func containsLine(log string, parts ...string) bool {
	for _, line := range splitLines(log) {
		ok := true
		for _, p := range parts {
			ok = ok && contains(line, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// fixV3Checksum recomputes a v3 IPv4 advert's checksum (RFC 5798, with the
// pseudo-header) after a test edited its bytes.
func fixV3Checksum(b []byte, src, dst netip.Addr) {
	b[6], b[7] = 0, 0
	s, d := src.As4(), dst.As4()
	pseudo := append(append(s[:], d[:]...), 0, vrrp.ProtocolNumber, byte(len(b)>>8), byte(len(b)))
	var sum uint32
	for _, part := range [][]byte{pseudo, b} {
		for i := 0; i+1 < len(part); i += 2 {
			sum += uint32(part[i])<<8 | uint32(part[i+1])
		}
		if len(part)%2 == 1 {
			sum += uint32(part[len(part)-1]) << 8
		}
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	c := ^uint16(sum)
	b[6], b[7] = byte(c>>8), byte(c)
}
