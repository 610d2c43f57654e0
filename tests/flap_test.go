package tests

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/api"
	"vigil/tests/lab"
)

// flapper is a backend whose health check answers follow a script counted
// in probes, not in time: up for so many probes, then down for so many,
// over and over. Counting probes makes the test exact where a timed
// toggle is not: a backend that is never answered "ok" rise times in a row
// must never be marked up, however the probes fall in time.
type flapper struct {
	mu     sync.Mutex
	up     int // probes answered 200 per round
	down   int // probes answered 503 per round
	upFrst bool
	n      int   // probes so far
	steady *bool // once set, every probe gets this answer
}

// ok decides the answer to the next probe.
func (f *flapper) ok() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.steady != nil {
		return *f.steady
	}
	i := f.n % (f.up + f.down)
	f.n++
	if f.upFrst {
		return i < f.up
	}
	return i >= f.down
}

func (f *flapper) probes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func (f *flapper) settle(ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.steady = &ok
}

// serveFlapper serves f's answers on /healthz in h.
func serveFlapper(t *testing.T, h *lab.Host, port int, f *flapper) {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !f.ok() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// fdCount is how many file descriptors a process has open.
func fdCount(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// TestFlappingBackends: with checks every 50 ms, rise 5 and fall 5, one
// backend answers ok 4 probes in a row at most (about 200 ms up, 200 ms
// down) and another fails 4 in a row at most, for about 10 s. The first
// must never be marked up and the second never down, as the status and
// the event stream show; settled, each then moves as it should. Across it
// all the daemon leaks neither goroutines nor file descriptors.
func TestFlappingBackends(t *testing.T) {
	l := lab.New(t)
	lan := l.AddNet("lan", lanPrefix)
	lb1h, cli := l.AddHost("lb1", lan), l.AddHost("client", lan)
	be1, be2, be3 := l.AddHost("be1", lan), l.AddHost("be2", lan), l.AddHost("be3", lan)
	httpBackend(t, be1, 8080) // steady, so the service stays up throughout
	neverUp := &flapper{up: 4, down: 4, upFrst: false}
	neverDown := &flapper{up: 4, down: 4, upFrst: true}
	serveFlapper(t, be2, 8080, neverUp)
	serveFlapper(t, be3, 8080, neverDown)
	apiAddr := lb1h.Addr(lan).String() + ":9653"
	cfg := fmt.Sprintf(`node: lb1
api: { listen: "%s", socket: "" }
vrrp:
%sservices:
  - name: app
    listen: 10.0.0.100:80
    mode: proxy
    protocol: http
    check: { type: http, path: /healthz, interval: 50ms, timeout: 200ms, rise: 5, fall: 5 }
    backends: ["%s:8080", "%s:8080", "%s:8080"]
`, apiAddr, instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", ""), be1.Addr(lan), be2.Addr(lan), be3.Addr(lan))
	lb1 := startVigil(t, lb1h, cfg)
	lb1.waitLog("to=MASTER", 10*time.Second)
	pid := vigilPid(t, lb1h)
	be2Key := "app/" + be2.Addr(lan).String() + ":8080"
	be3Key := "app/" + be3.Addr(lan).String() + ":8080"
	backend := func(st api.Status, addr string) api.Backend {
		for _, s := range st.Services {
			for _, b := range s.Backends {
				if "app/"+b.Address == addr {
					return b
				}
			}
		}
		t.Fatalf("no backend %s in status", addr)
		return api.Backend{}
	}
	// The status over HTTP from the client: quick enough to poll often.
	httpc := &http.Client{Timeout: 5 * time.Second, Transport: transportFrom(t, cli)}
	status := func() api.Status {
		t.Helper()
		resp, err := httpc.Get("http://" + apiAddr + "/api/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st api.Status
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatalf("GET /api/status: %v", err)
		}
		return st
	}
	// Decided: be2's first probe failed (down), be3's passed (up).
	lab.WaitFor(t, 5*time.Second, "first verdicts: be2 down, be3 up", func() (bool, string) {
		st := status()
		b2, b3 := backend(st, be2Key), backend(st, be3Key)
		return !b2.Up && b2.Reason != "" && b3.Up, fmt.Sprintf("be2 %+v be3 %+v", b2, b3)
	})
	goroutines := func() float64 {
		return scrape(t, cli, apiAddr)["go_goroutines"].GetMetric()[0].GetGauge().GetValue()
	}
	fds0, gr0 := fdCount(t, pid), goroutines()
	// The open-files limit the daemon raised is the one its metrics report.
	if soft, _ := openFilesLimit(t, pid); scrape(t, cli, apiAddr)["process_max_fds"].GetMetric()[0].GetGauge().GetValue() != float64(soft) {
		t.Errorf("process_max_fds differs from the process's open files limit %d", soft)
	}

	// About 10 s of flapping (200 probes of each), the status watched all along.
	start := time.Now()
	polls := 0
	lab.WaitFor(t, 30*time.Second, "200 probes of each flapping backend", func() (bool, string) {
		st := status()
		polls++
		if b := backend(st, be2Key); b.Up {
			t.Fatalf("be2 marked up after at most 4 ok probes in a row (rise 5), probe %d: %+v", neverUp.probes(), b)
		}
		if b := backend(st, be3Key); !b.Up {
			t.Fatalf("be3 marked down after at most 4 failed probes in a row (fall 5), probe %d: %+v", neverDown.probes(), b)
		}
		return neverUp.probes() >= 200 && neverDown.probes() >= 200, fmt.Sprintf("%d and %d probes", neverUp.probes(), neverDown.probes())
	})
	t.Logf("%d and %d probes in %v, status polled %d times", neverUp.probes(), neverDown.probes(), time.Since(start).Round(time.Millisecond), polls)
	// The first verdicts were events too (from "not checked yet"); any
	// later one is a flap that got through.
	flapEvents := func() []string {
		var out []string
		for _, e := range status().Recent {
			if e.Kind == api.KindBackend && (e.Subject == be2Key || e.Subject == be3Key) && e.Time.After(start) {
				out = append(out, e.Subject+" "+e.From+">"+e.To)
			}
		}
		return out
	}
	if ev := flapEvents(); len(ev) != 0 {
		t.Errorf("events for the flapping backends: %v", ev)
	}

	// Settled: be2 comes up and be3 goes down (the test can see both).
	neverUp.settle(true)
	neverDown.settle(false)
	lab.WaitFor(t, 5*time.Second, "settled: be2 up, be3 down", func() (bool, string) {
		st := status()
		b2, b3 := backend(st, be2Key), backend(st, be3Key)
		return b2.Up && !b3.Up, fmt.Sprintf("be2 %+v be3 %+v", b2, b3)
	})
	if events := flapEvents(); len(events) != 2 {
		t.Errorf("backend events after settling: %v, want be2 down>up and be3 up>down only", events)
	}

	// No leak: goroutines and descriptors as before the flapping. Idle
	// HTTP connections to the backends may differ by a few.
	var fds1 int
	var gr1 float64
	lab.WaitFor(t, 10*time.Second, "goroutines and fds back to where they were", func() (bool, string) {
		fds1, gr1 = fdCount(t, pid), goroutines()
		return fds1 <= fds0+4 && gr1 <= gr0+8, fmt.Sprintf("fds %d -> %d, goroutines %v -> %v", fds0, fds1, gr0, gr1)
	})
	t.Logf("fds %d -> %d, goroutines %v -> %v", fds0, fds1, gr0, gr1)
	if strings.Contains(lb1.proc.Output(), "panic") {
		t.Error("vigil panicked")
	}
}
