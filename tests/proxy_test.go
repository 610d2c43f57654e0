package tests

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/tests/lab"
)

// nameServer runs a TCP server in h that answers every connection with its
// name; stop closes it (a dead backend).
func nameServer(t *testing.T, h *lab.Host, port int) (stop func()) {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(h.Name))
			c.Close()
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { ln.Close() }) }
	t.Cleanup(stop)
	return stop
}

// ask connects from cli to addr and returns what the server said.
func ask(cli *lab.Host, addr netip.AddrPort) (string, error) {
	var got string
	err := cli.Do(func() error {
		c, err := net.DialTimeout("tcp", addr.String(), time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		b, err := io.ReadAll(c)
		got = string(b)
		return err
	})
	return got, err
}

// TestProxyTCPService: clients reach two backends through the VIP, round
// robin; a dead backend is taken out by its check; and when the master
// cannot reach any backend its own service goes down, its priority drops
// and the VIP moves to the node that can still serve.
func TestProxyTCPService(t *testing.T) {
	if _, err := lookNft(); err != nil {
		t.Skip(err)
	}
	l := lab.New(t)
	lan := l.AddNet("lan", lanPrefix)
	lb1h, lb2h, cli := l.AddHost("lb1", lan), l.AddHost("lb2", lan), l.AddHost("client", lan)
	be1, be2 := l.AddHost("be1", lan), l.AddHost("be2", lan)
	nodes := []*lab.Host{lb1h, lb2h}
	stopBe1 := nameServer(t, be1, 9000)
	nameServer(t, be2, 9000)

	dir := t.TempDir()
	hookLog := filepath.Join(dir, "quorum.log")
	hook := filepath.Join(dir, "quorum.sh")
	os.WriteFile(hook, []byte("#!/bin/sh\necho \"$@\" >> "+hookLog+"\n"), 0o755)
	svc := fmt.Sprintf(`services:
  - name: app
    listen: 10.0.0.100:8080
    mode: proxy
    protocol: tcp
    balance: roundrobin
    check: { type: tcp, interval: 100ms, timeout: 200ms, rise: 1, fall: 2 }
    backends: ["%s:9000", "%s:9000"]
`, be1.Addr(lan), be2.Addr(lan))
	lb1svc := svc + "    quorum_up: " + hook + "\n    quorum_down: " + hook + "\n"
	track := "    track: [{ service: app, weight: -60 }]\n"
	lb1 := startVigil(t, lb1h, nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", track))+lb1svc)
	startBackup(t, lb1, lb2h, nodeConfig("lb2", instanceYAML("VI_1", 51, 100, "100ms", "10.0.0.100/24", track))+svc)
	waitOwner(t, vip4, lb1h, nodes, 10*time.Second)
	addr := netip.AddrPortFrom(vip4, 8080)

	// Both backends answer, alternately.
	seen := map[string]int{}
	lab.WaitFor(t, 10*time.Second, "answers from both backends", func() (bool, string) {
		got, err := ask(cli, addr)
		if err == nil {
			seen[got]++
		}
		return seen["be1"] >= 3 && seen["be2"] >= 3, fmt.Sprintf("seen %v, last error %v", seen, err)
	})

	// be1 dies: after its check fails, every connection goes to be2.
	stopBe1()
	lab.WaitFor(t, 5*time.Second, "be1 to be taken out", func() (bool, string) {
		got, err := ask(cli, addr)
		return err == nil && got == "be2", fmt.Sprintf("%q %v", got, err)
	})
	for i := range 20 {
		if got, err := ask(cli, addr); err != nil || got != "be2" {
			t.Fatalf("request %d after be1 went down: %q, %v", i, got, err)
		}
	}

	// lb1 loses its path to the backends: its service is down here, its
	// priority drops to 90 and lb2 (100), which can still serve, takes the VIP.
	lb1h.MustExec("nft", "add table inet cut; add chain inet cut out { type filter hook output priority 0; }; add rule inet cut out ip daddr { "+be1.Addr(lan).String()+", "+be2.Addr(lan).String()+" } drop")
	waitOwner(t, vip4, lb2h, nodes, 5*time.Second)
	lb1.waitLog("priority changed", time.Second)
	lab.WaitFor(t, 5*time.Second, "clients served through lb2", func() (bool, string) {
		got, err := ask(cli, addr)
		return err == nil && got == "be2", fmt.Sprintf("%q %v", got, err)
	})
	lab.WaitFor(t, 5*time.Second, "the quorum_down hook", func() (bool, string) {
		b, _ := os.ReadFile(hookLog)
		return string(b) == "app UP\napp DOWN\n", fmt.Sprintf("%q", b) // UP: quorum reached after start
	})
	lb1h.MustExec("nft", "delete table inet cut")
	waitOwner(t, vip4, lb1h, nodes, 10*time.Second)
	lab.WaitFor(t, 5*time.Second, "the quorum_up hook", func() (bool, string) {
		b, _ := os.ReadFile(hookLog)
		return string(b) == "app UP\napp DOWN\napp UP\n", fmt.Sprintf("%q", b)
	})
	if !strings.Contains(lb1.proc.Output(), "service app") {
		t.Errorf("lb1 never logged the service track")
	}
}
