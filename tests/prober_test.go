package tests

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/tests/lab"
)

// prober is a client that opens a new connection from a lab host to addr
// every interval, asks (ask: the server's whole answer), and counts each
// attempt by what judge makes of it, until the test ends or stop is called.
// Tests that promise "no connection fails across X" read its counters.
type prober struct {
	probes atomic.Int64
	// counts are per outcome: "" is success, anything else a failure kind.
	mu      sync.Mutex
	counts  map[string]int64
	lastErr string
	// counting false makes it probe without counting (before the part of
	// the test the promise is about).
	counting atomic.Bool
	stopOnce sync.Once
	done     chan struct{}
	wg       sync.WaitGroup
}

// startProber starts probing, counting from the start or only once
// counting is set; judge returns "" for a good answer or the kind of
// failure ("refused", "lost", "wrong answer"...).
func startProber(t *testing.T, cli *lab.Host, addr netip.AddrPort, every time.Duration, counting bool, judge func(got string, err error) string) *prober {
	p := &prober{counts: map[string]int64{}, done: make(chan struct{})}
	p.counting.Store(counting)
	p.wg.Go(func() {
		for {
			select {
			case <-p.done:
				return
			case <-time.After(every):
			}
			got, err := ask(cli, addr)
			if !p.counting.Load() {
				continue
			}
			kind := judge(got, err)
			p.probes.Add(1)
			p.mu.Lock()
			p.counts[kind]++
			if kind != "" {
				// The time lines the failure up with the nodes' logs.
				p.lastErr = fmt.Sprintf("%s at %s: %q %v", kind, time.Now().UTC().Format("15:04:05.000"), got, err)
			}
			p.mu.Unlock()
		}
	})
	t.Cleanup(p.stop)
	return p
}

// stop ends the probing and waits for the last probe.
func (p *prober) stop() {
	p.stopOnce.Do(func() { close(p.done) })
	p.wg.Wait()
}

// count is how many probes ended as kind ("" for successes).
func (p *prober) count(kind string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[kind]
}

// failures is how many probes did not succeed, and the last one's story.
func (p *prober) failures() (int64, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for kind, c := range p.counts {
		if kind != "" {
			n += c
		}
	}
	return n, p.lastErr
}

// waitProbes waits until n more probes have been counted.
func (p *prober) waitProbes(t *testing.T, n int64, what string) {
	t.Helper()
	start := p.probes.Load()
	lab.WaitFor(t, 10*time.Second, what, func() (bool, string) {
		return p.probes.Load() >= start+n, fmt.Sprintf("%d of %d probes", p.probes.Load()-start, n)
	})
}

// answered is the judge for services that answer with a name: any answer
// at all is a success.
func answered(got string, err error) string {
	if got == "" {
		return fmt.Sprintf("no answer (%v)", err)
	}
	return ""
}
