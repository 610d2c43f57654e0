// Package selftrack measures how long clients lose a service when the VRRP
// master loses its path to the backends: its checks fail, its own service
// goes down, its priority drops and the peer takes the VIP. A benchmark,
// not a test: run ./bench/selftrack.sh (root) and read what it prints.
package selftrack

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/tests/lab"
)

var vip = netip.MustParseAddr("10.0.0.100")

// TestSelfTrackBench runs only with VIGIL_BENCH=1.
func TestSelfTrackBench(t *testing.T) {
	if os.Getenv("VIGIL_BENCH") == "" {
		t.Skip("benchmark: run ./bench/selftrack.sh")
	}
	bin := filepath.Join(t.TempDir(), "vigil")
	if out, err := exec.Command("go", "build", "-o", bin, "../..").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	var outs []time.Duration
	for i := range 5 {
		var d time.Duration
		t.Run(fmt.Sprint("run", i), func(t *testing.T) { d = measure(t, bin) })
		t.Logf("run %d: outage %v", i, d)
		outs = append(outs, d)
	}
	slices.Sort(outs)
	fmt.Printf("\nmaster loses its backends (advert 100ms, tcp check 100ms, fall 2, track weight -60)\n")
	fmt.Printf("client connects every 10ms (100ms timeout); longest gap between answers\n")
	fmt.Printf("runs: %v\nmedian: %v (target <= 500ms)\n", outs, outs[len(outs)/2].Round(time.Millisecond))
}

func measure(t *testing.T, bin string) time.Duration {
	l := lab.New(t)
	lan := l.AddNet("lan", netip.MustParsePrefix("10.0.0.0/24"))
	lb1, lb2, cli, be := l.AddHost("lb1", lan), l.AddHost("lb2", lan), l.AddHost("client", lan), l.AddHost("be", lan)
	var ln net.Listener
	if err := be.Do(func() (err error) { ln, err = net.Listen("tcp", ":9000"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("ok"))
			c.Close()
		}
	}()
	dir := t.TempDir()
	start := func(h *lab.Host, prio int) *lab.Proc {
		f := filepath.Join(dir, h.Name+".yaml")
		os.WriteFile(f, []byte(fmt.Sprintf(`node: %s
api: { listen: "", socket: "" }
vrrp:
  - { name: VI_1, interface: eth0, vrid: 51, priority: %d, advert_interval: 100ms, vips: [10.0.0.100/24],
      garp: { delay: 0s, repeat: 1 }, track: [{ service: app, weight: -60 }] }
services:
  - name: app
    listen: 10.0.0.100:8080
    protocol: tcp
    check: { type: tcp, interval: 100ms, timeout: 100ms, rise: 1, fall: 2 }
    backends: ["%s:9000"]
`, h.Name, prio, be.Addr(lan))), 0o644)
		return h.Start(bin, "run", "-c", f)
	}
	start(lb1, 150)
	lab.WaitFor(t, 10*time.Second, "lb1 to own the VIP", func() (bool, string) { return has(lb1), "" })
	p2 := start(lb2, 100)
	lab.WaitFor(t, 5*time.Second, "lb2's check to see the backend", func() (bool, string) {
		return strings.Contains(p2.Output(), `msg="backend up"`), ""
	})

	var mu sync.Mutex
	var answers []time.Time
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			go func() {
				cli.Do(func() error {
					c, err := net.DialTimeout("tcp", "10.0.0.100:8080", 100*time.Millisecond)
					if err != nil {
						return err
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(100 * time.Millisecond))
					if b, err := io.ReadAll(c); err == nil && string(b) == "ok" {
						mu.Lock()
						answers = append(answers, time.Now())
						mu.Unlock()
					}
					return nil
				})
			}()
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(answers) }
	lab.WaitFor(t, 5*time.Second, "answers", func() (bool, string) { return count() > 20, "" })
	lb1.MustExec("nft", "add table inet cut; add chain inet cut out { type filter hook output priority 0; }; add rule inet cut out tcp dport 9000 drop")
	lab.WaitFor(t, 10*time.Second, "lb2 to own the VIP", func() (bool, string) { return has(lb2), "" })
	n := count()
	lab.WaitFor(t, 5*time.Second, "answers through lb2", func() (bool, string) { return count() > n+30, "" })
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(answers, func(a, b time.Time) int { return a.Compare(b) })
	var longest time.Duration
	for i := 1; i < len(answers); i++ {
		longest = max(longest, answers[i].Sub(answers[i-1]))
	}
	return longest
}

func has(h *lab.Host) bool {
	out, _ := h.Exec("ip", "-o", "addr", "show")
	return strings.Contains(out, " "+vip.String()+"/")
}
