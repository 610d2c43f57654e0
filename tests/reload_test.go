package tests

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/tests/lab"
)

// TestReload changes a running master's config with SIGHUP: its priority,
// its VIPs, a service's backend, then a broken file, then a track added and
// removed. A reload must apply the difference only: no VRRP transition, no
// refused client connection, the listener kept; a broken file keeps the
// running config; tracks follow the new config both ways.
func TestReload(t *testing.T) {
	l := lab.New(t)
	lan := l.AddNet("lan", lanPrefix)
	lb1h, lb2h, cli := l.AddHost("lb1", lan), l.AddHost("lb2", lan), l.AddHost("client", lan)
	be1, be2 := l.AddHost("be1", lan), l.AddHost("be2", lan)
	nodes := []*lab.Host{lb1h, lb2h}
	nameServer(t, be1, 9000)
	nameServer(t, be2, 9000)
	vip2 := netip.MustParseAddr("10.0.0.101")
	addr := netip.AddrPortFrom(vip4, 8080)

	service := func(backend *lab.Host) string {
		return fmt.Sprintf(`services:
  - name: app
    listen: 10.0.0.100:8080
    mode: proxy
    protocol: tcp
    check: { type: tcp, interval: 100ms, timeout: 100ms, rise: 1, fall: 2 }
    backends: ["%s:9000"]
`, backend.Addr(lan))
	}
	flag := filepath.Join(t.TempDir(), "healthy")
	checks := "checks:\n  flag: { type: exec, command: [/usr/bin/test, -e, " + flag + "], interval: 100ms, timeout: 100ms, rise: 1, fall: 1 }\n"
	lb1cfg := func(prio int, vips, track, svc string) string {
		return nodeConfig("lb1", instanceYAML("VI_1", 51, prio, "100ms", vips, track)) + checks + svc
	}
	lb1 := startVigil(t, lb1h, lb1cfg(150, "10.0.0.100/24", "", service(be1)))
	lb2 := startBackup(t, lb1, lb2h, nodeConfig("lb2", instanceYAML("VI_1", 51, 100, "100ms", "10.0.0.100/24, 10.0.0.101/24", ""))+checks+service(be2))
	waitOwner(t, vip4, lb1h, nodes, 10*time.Second)
	lab.WaitFor(t, 5*time.Second, "be1 through lb1", func() (bool, string) {
		got, err := ask(cli, addr)
		return err == nil && got == "be1", fmt.Sprintf("%q %v", got, err)
	})

	// A client connects every 10 ms throughout the first reloads.
	probe := startProber(t, cli, addr, 10*time.Millisecond, true, answered)

	// 1: priority, a second VIP and the service's backend change.
	before, before2 := lb1.transitions(), lb2.transitions()
	lb1.reload(lb1cfg(140, "10.0.0.100/24, 10.0.0.101/24", "", service(be2)), "config reloaded")
	lab.WaitFor(t, 5*time.Second, "the new VIP on lb1", func() (bool, string) { return hasAddr(lb1h, vip2), "" })
	lab.WaitFor(t, 5*time.Second, "be2 through lb1", func() (bool, string) {
		got, err := ask(cli, addr)
		return err == nil && got == "be2", fmt.Sprintf("%q %v", got, err)
	})
	if !strings.Contains(lb1.proc.Output(), "msg=reconfigured") {
		t.Error("the instance was not reconfigured in place")
	}

	// 2: a broken file is refused and changes nothing.
	lb1.reload("vrrp: [ this is not yaml", "reload refused, keeping the running config")
	if got, err := ask(cli, addr); err != nil || got != "be2" {
		t.Errorf("after a refused reload: %q, %v", got, err)
	}
	probe.waitProbes(t, 20, "more probes")
	if f, last := probe.failures(); f != 0 {
		t.Errorf("%d of %d client connections failed across the reloads; last: %v", f, probe.probes.Load(), last)
	}
	if after := lb1.transitions(); !slices.Equal(before, after) {
		t.Errorf("lb1 transitions across reloads: before %v, after %v", before, after)
	}
	if after := lb2.transitions(); !slices.Equal(before2, after) {
		t.Errorf("lb2 transitions across lb1's reloads: before %v, after %v", before2, after)
	}
	if strings.Contains(lb1.proc.Output(), `msg="priority changed" instance=VI_1 from=140`) {
		t.Error("lb1's priority dipped during the reload (the swapped service counted as down)")
	}
	if !hasAddr(lb1h, vip4) || hasAddr(lb2h, vip4) {
		t.Error("the VIP moved during the reloads")
	}

	// 3: a track added by reload takes effect (the flag file is missing:
	// 140-60 = 80 < 100, lb2 takes over) and 4: removing it restores the
	// priority and lb1 preempts back.
	lb1.reload(lb1cfg(140, "10.0.0.100/24, 10.0.0.101/24", "    track: [{ check: flag, weight: -60 }]\n", service(be2)), "config reloaded")
	waitOwner(t, vip4, lb2h, nodes, 5*time.Second)
	lb1.reload(lb1cfg(140, "10.0.0.100/24, 10.0.0.101/24", "", service(be2)), "config reloaded")
	waitOwner(t, vip4, lb1h, nodes, 5*time.Second)
	if !strings.Contains(lb1.proc.Output(), "track removed") {
		t.Error("lb1 did not log the removed track")
	}
}
