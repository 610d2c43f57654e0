package vrrp

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestDiagnosis(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	peer := netip.MustParseAddr("10.0.0.2")
	other := netip.MustParseAddr("10.0.0.9")
	ours := []netip.Addr{netip.MustParseAddr("10.0.0.100"), netip.MustParseAddr("10.0.0.101")}
	adv := func(prio uint8, addrs ...netip.Addr) Advert {
		if len(addrs) == 0 {
			addrs = []netip.Addr{ours[1], ours[0]} // order does not matter
		}
		return Advert{Version: 3, VRID: 51, Priority: prio, Addresses: addrs}
	}
	kinds := func(ps []Problem) string {
		var s []string
		for _, p := range ps {
			s = append(s, string(p.Kind)+"@"+p.Peer.String())
		}
		return strings.Join(s, ",")
	}

	t.Run("normal preempt is not a conflict", func(t *testing.T) {
		d := newDiagnosis()
		// We were master and stepped down: the peer won, as it should.
		raised, _ := d.advert(t0, peer, adv(200), ours, true, false)
		raised2, _ := d.advert(t0.Add(time.Second), peer, adv(200), ours, false, false)
		if len(raised)+len(raised2) > 0 || len(d.list()) > 0 {
			t.Errorf("raised %s", kinds(d.list()))
		}
	})
	t.Run("a lower master that keeps advertising does not hear us", func(t *testing.T) {
		d := newDiagnosis()
		if raised, _ := d.advert(t0, peer, adv(100), ours, true, true); len(raised) > 0 {
			t.Fatalf("raised on the first advert (it may not have heard us yet): %s", kinds(raised))
		}
		raised, _ := d.advert(t0.Add(100*time.Millisecond), peer, adv(100), ours, true, true)
		if kinds(raised) != "master_conflict@10.0.0.2" || !strings.Contains(raised[0].Cause, "protocol 112 filtered") {
			t.Fatalf("raised %s: %+v", kinds(raised), raised)
		}
		// Seen again: no new raise, LastSeen moves.
		if raised, _ := d.advert(t0.Add(200*time.Millisecond), peer, adv(100), ours, true, true); len(raised) > 0 {
			t.Errorf("raised again: %s", kinds(raised))
		}
		if p := d.list()[0]; !p.LastSeen.Equal(t0.Add(200 * time.Millisecond)) {
			t.Errorf("LastSeen %v", p.LastSeen)
		}
		// Quiet for long enough: ended.
		if _, ended := d.tick(t0.Add(10*time.Second), 30*time.Second, time.Second, true, nil); len(ended) > 0 {
			t.Errorf("ended early: %s", kinds(ended))
		}
		if _, ended := d.tick(t0.Add(31*time.Second), 30*time.Second, time.Second, true, nil); kinds(ended) != "master_conflict@10.0.0.2" {
			t.Errorf("ended %s", kinds(ended))
		}
	})
	t.Run("VRID clash: other VIPs", func(t *testing.T) {
		d := newDiagnosis()
		raised, _ := d.advert(t0, other, adv(100, netip.MustParseAddr("10.0.0.200")), ours, false, false)
		if kinds(raised) != "config_mismatch@10.0.0.9" || !strings.Contains(raised[0].Cause, "another virtual router uses this VRID") ||
			!strings.Contains(raised[0].Cause, "[10.0.0.200]") || !strings.Contains(raised[0].Cause, "[10.0.0.100 10.0.0.101]") {
			t.Fatalf("raised %+v", raised)
		}
	})
	t.Run("refused adverts name the setting", func(t *testing.T) {
		d := newDiagnosis()
		for _, tc := range []struct {
			reason DropReason
			want   string
		}{
			{ReasonAuth, "auth_pass differs"},
			{ReasonInterval, "same advert_interval"},
			{ReasonVersion, "same version"},
		} {
			d := newDiagnosis()
			if !d.mismatch(t0, peer, tc.reason, "detail") || !strings.Contains(d.list()[0].Cause, tc.want) {
				t.Errorf("%s: %+v", tc.reason, d.list())
			}
		}
		if !d.mismatch(t0, peer, ReasonAuth, "x") || d.mismatch(t0.Add(time.Second), peer, ReasonAuth, "x") {
			t.Error("a repeated mismatch is new again")
		}
	})
	t.Run("the followed unicast peer goes silent", func(t *testing.T) {
		d := newDiagnosis()
		peers := []netip.Addr{peer}
		d.advert(t0, peer, adv(150), ours, false, false) // we are backup, following peer
		// We took over; peer silent for longer than silentAfter.
		if raised, _ := d.tick(t0.Add(500*time.Millisecond), time.Minute, time.Second, true, peers); len(raised) > 0 {
			t.Fatalf("raised before silentAfter: %s", kinds(raised))
		}
		raised, _ := d.tick(t0.Add(2*time.Second), time.Minute, time.Second, true, peers)
		if kinds(raised) != "peer_silent@10.0.0.2" || !strings.Contains(raised[0].Cause, "split brain") {
			t.Fatalf("raised %+v", raised)
		}
		// Long silence does not end it by age...
		if _, ended := d.tick(t0.Add(10*time.Minute), time.Minute, time.Second, true, peers); len(ended) > 0 {
			t.Errorf("ended by age: %s", kinds(ended))
		}
		// ...hearing the peer does.
		if _, ended := d.advert(t0.Add(11*time.Minute), peer, adv(200), ours, true, false); kinds(ended) != "peer_silent@10.0.0.2" {
			t.Errorf("ended %s", kinds(ended))
		}
		// Multicast (no unicast peers): silence proves nothing.
		d2 := newDiagnosis()
		d2.advert(t0, peer, adv(150), ours, false, false)
		if raised, _ := d2.tick(t0.Add(time.Hour), time.Minute, time.Second, true, nil); len(raised) > 0 {
			t.Errorf("raised without unicast peers: %s", kinds(raised))
		}
	})
}
