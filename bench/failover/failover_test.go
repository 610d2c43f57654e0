// Package failover measures how long clients lose a VIP when its master
// crashes or stops, for vigil and for keepalived side by side in one run.
// It is a benchmark, not a test: run ./bench/failover.sh (root) and read
// the table it prints.
package failover

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"vigil/tests/lab"
)

var vip = netip.MustParseAddr("10.0.0.100")

const echoPort = 7007

type daemonKind string

const (
	vigil      daemonKind = "vigil"
	keepalived daemonKind = "keepalived"
)

type scenario struct {
	version  int
	interval time.Duration
}

func (s scenario) String() string {
	return fmt.Sprintf("v%d, advert %s", s.version, s.interval)
}

// TestFailoverBench is the benchmark; it runs only with VIGIL_BENCH=1.
func TestFailoverBench(t *testing.T) {
	if os.Getenv("VIGIL_BENCH") == "" {
		t.Skip("benchmark: run ./bench/failover.sh")
	}
	runs := 5
	bin := buildVigil(t)
	kaBin, _ := exec.LookPath("keepalived")
	type row struct {
		scen  scenario
		kind  daemonKind
		event string
		outs  []time.Duration
	}
	var rows []*row
	for _, scen := range []scenario{{2, time.Second}, {3, 100 * time.Millisecond}} {
		for _, event := range []string{"crash", "graceful stop"} {
			var cur []*row
			for _, kind := range []daemonKind{vigil, keepalived} {
				if kind == keepalived && kaBin == "" {
					continue
				}
				cur = append(cur, &row{scen: scen, kind: kind, event: event})
			}
			rows = append(rows, cur...)
			// Interleave vigil and keepalived runs so drift hits both alike.
			for range runs {
				for _, r := range cur {
					out := measure(t, bin, kaBin, r.kind, scen, event)
					r.outs = append(r.outs, out)
					t.Logf("%-10s %-16s %-14s outage %v", r.kind, scen, event, out)
				}
			}
		}
	}
	fmt.Printf("\nVIP outage seen by a client probing every 10ms (100ms timeout), median of %d runs\n", runs)
	fmt.Printf("%-18s %-14s %-12s %-12s %s\n", "scenario", "event", "vigil", "keepalived", "vigil/keepalived")
	for i := 0; i < len(rows); i++ {
		r := rows[i]
		if r.kind != vigil {
			continue
		}
		v := median(r.outs)
		ka, ratio := "-", "-"
		if i+1 < len(rows) && rows[i+1].kind == keepalived && rows[i+1].event == r.event {
			k := median(rows[i+1].outs)
			ka = k.Round(time.Millisecond).String()
			if k > 0 {
				ratio = fmt.Sprintf("%.2f", float64(v)/float64(k))
			}
		}
		fmt.Printf("%-18s %-14s %-12s %-12s %s\n", r.scen, r.event, v.Round(time.Millisecond), ka, ratio)
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func buildVigil(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "vigil")
	cmd := exec.Command("go", "build", "-o", bin, "../..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// measure runs one failover and returns the longest time the client went
// without an answer from the VIP.
func measure(t *testing.T, bin, kaBin string, kind daemonKind, scen scenario, event string) time.Duration {
	var result time.Duration
	t.Run(fmt.Sprintf("%s-%s-%s", kind, scen, event), func(t *testing.T) {
		l := lab.New(t)
		lan := l.AddNet("lan", netip.MustParsePrefix("10.0.0.0/24"))
		lb1, lb2, cli := l.AddHost("lb1", lan), l.AddHost("lb2", lan), l.AddHost("client", lan)
		for _, h := range []*lab.Host{lb1, lb2} {
			stop := echoServer(t, h)
			t.Cleanup(stop)
		}
		dir := t.TempDir()
		start := func(h *lab.Host, prio int) *lab.Proc {
			if kind == vigil {
				f := filepath.Join(dir, h.Name+".yaml")
				os.WriteFile(f, []byte(fmt.Sprintf(`node: %s
api: { listen: "", socket: "" }
vrrp:
  - { name: VI_1, interface: eth0, vrid: 51, priority: %d, version: %d, advert_interval: %s, vips: [10.0.0.100/24], garp: { delay: 0s, repeat: 1 } }
`, h.Name, prio, scen.version, scen.interval)), 0o644)
				return h.Start(bin, "run", "-c", f)
			}
			f := filepath.Join(dir, h.Name+".conf")
			os.WriteFile(f, []byte(fmt.Sprintf(`global_defs {
    vrrp_version %d
    vrrp_garp_master_delay 0
    vrrp_garp_master_repeat 1
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority %d
    advert_int %g
    virtual_ipaddress {
        10.0.0.100/24
    }
}
`, scen.version, prio, scen.interval.Seconds())), 0o644)
			p := func(s string) string { return filepath.Join(dir, h.Name+s) }
			return h.Start(kaBin, "-n", "-l", "-D", "-f", f, "-p", p(".pid"), "-r", p(".vrrp.pid"), "-c", p(".check.pid"))
		}
		master := start(lb1, 150)
		start(lb2, 100)
		lab.WaitFor(t, 20*time.Second, "lb1 to own the VIP", func() (bool, string) {
			return hasAddr(lb1) && !hasAddr(lb2), ""
		})
		pr := newProber(t, cli)
		defer pr.stop()
		lab.WaitFor(t, 5*time.Second, "the client to get answers", func() (bool, string) { return pr.answered() > 20, "" })

		switch event {
		case "crash":
			// A node crash: the daemon dies without a word and the node
			// drops off the network.
			master.Kill()
			lb1.MustExec("ip", "link", "set", "eth0", "down")
		case "graceful stop":
			master.Signal(syscall.SIGTERM)
		}
		lab.WaitFor(t, 20*time.Second, "lb2 to own the VIP", func() (bool, string) { return hasAddr(lb2), "" })
		n := pr.answered()
		lab.WaitFor(t, 10*time.Second, "the client to get answers again", func() (bool, string) { return pr.answered() > n+20, "" })
		result = pr.longestGap()
	})
	return result
}

func hasAddr(h *lab.Host) bool {
	out, _ := h.Exec("ip", "-o", "addr", "show")
	return strings.Contains(out, " "+vip.String()+"/")
}

// echoServer answers UDP probes on every address of h.
func echoServer(t *testing.T, h *lab.Host) func() {
	var pc net.PacketConn
	if err := h.Do(func() (err error) {
		pc, err = net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", echoPort))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	return func() { pc.Close() }
}

// prober sends a numbered probe every 10ms and records when answers arrive;
// an answer later than 100ms does not count.
type prober struct {
	pc      net.PacketConn
	mu      sync.Mutex
	sent    map[uint64]time.Time
	answers []time.Time
	done    chan struct{}
}

func newProber(t *testing.T, cli *lab.Host) *prober {
	p := &prober{sent: map[uint64]time.Time{}, done: make(chan struct{})}
	if err := cli.Do(func() (err error) {
		p.pc, err = net.ListenPacket("udp4", "0.0.0.0:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	to := &net.UDPAddr{IP: vip.AsSlice(), Port: echoPort}
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for seq := uint64(0); ; seq++ {
			select {
			case <-p.done:
				return
			case <-tick.C:
			}
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], seq)
			p.mu.Lock()
			p.sent[seq] = time.Now()
			p.mu.Unlock()
			p.pc.WriteTo(b[:], to)
		}
	}()
	go func() {
		buf := make([]byte, 64)
		for {
			n, _, err := p.pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 8 {
				continue
			}
			now := time.Now()
			p.mu.Lock()
			if at, ok := p.sent[binary.BigEndian.Uint64(buf[:8])]; ok && now.Sub(at) <= 100*time.Millisecond {
				p.answers = append(p.answers, now)
			}
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *prober) answered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.answers)
}

func (p *prober) longestGap() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var longest time.Duration
	for i := 1; i < len(p.answers); i++ {
		longest = max(longest, p.answers[i].Sub(p.answers[i-1]))
	}
	return longest
}

func (p *prober) stop() {
	close(p.done)
	p.pc.Close()
}
