package checks

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/config"
)

// runEngine starts e.Run and returns a stop function that ends it and
// checks it returned nil.
func runEngine(t *testing.T, e *Engine) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return 10s after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// hitServer counts requests per path and answers with the status set.
type hitServer struct {
	*httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	hits   map[string]int
	served map[int]int // by status
}

func newHitServer(t *testing.T) *hitServer {
	h := &hitServer{hits: map[string]int{}, served: map[int]int{}}
	h.status.Store(200)
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := int(h.status.Load())
		h.mu.Lock()
		h.hits[r.URL.Path]++
		h.served[st]++
		h.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hitServer) count(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[path]
}

func (h *hitServer) servedWith(status int) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.served[status]
}

func (h *hitServer) addr() string { return h.Listener.Addr().String() }

// onceCheck probes at start and then not again within any test's life, so
// probe counts are exact.
func onceCheck(path string) config.Check {
	c := newCheck("http")
	c.Path = path
	c.Interval = config.Duration(time.Hour)
	c.Jitter = 0
	return c
}

func TestEngineDedupe(t *testing.T) {
	srv := newHitServer(t)
	e := NewEngine(nil, Options{})
	same := Target{Check: onceCheck("/a"), Address: srv.addr()}
	w1 := e.Watch("proxy/web", same)
	w2 := e.Watch("lvs/web", same)
	other := e.Watch("other", Target{Check: onceCheck("/b"), Address: srv.addr()})
	runEngine(t, e)

	for _, w := range []*Watch{w1, w2, other} {
		first := nextEvent(t, w)
		if first.Up || first.Seq != 1 || first.Name != w.name {
			t.Errorf("%s: first event %+v, want the initial down state with Seq 1", w.name, first)
		}
		up := nextEvent(t, w)
		if !up.Up || up.Reason != "ok (status 200)" || up.Seq != 2 || up.Name != w.name {
			t.Errorf("%s: second event %+v, want up from the first result", w.name, up)
		}
	}
	// Both watches of the same target are up, so its prober has probed; two
	// probers would each have probed once before their watch saw up.
	if n := srv.count("/a"); n != 1 {
		t.Errorf("shared target probed %d times, want once", n)
	}
	if n := srv.count("/b"); n != 1 {
		t.Errorf("other target probed %d times, want once", n)
	}
	e.mu.Lock()
	n := len(e.probers)
	e.mu.Unlock()
	if n != 2 {
		t.Errorf("%d probers, want 2", n)
	}

	// A late watcher gets the current state first, not the initial one.
	late := e.Watch("late", same)
	if ev := nextEvent(t, late); !ev.Up || ev.Seq != 2 || ev.Name != "late" {
		t.Errorf("late watcher's first event %+v, want the current up state", ev)
	}
	if n := srv.count("/a"); n != 1 {
		t.Errorf("a late watcher triggered a probe (%d)", n)
	}
}

func TestEngineRiseFall(t *testing.T) {
	srv := newHitServer(t)
	c := newCheck("http")
	c.Interval = config.Duration(20 * time.Millisecond)
	c.Jitter = config.Duration(5 * time.Millisecond)
	c.Rise, c.Fall = 2, 3
	e := NewEngine(nil, Options{})
	w := e.Watch("web", Target{Check: c, Address: srv.addr()})
	runEngine(t, e)

	if ev := nextEvent(t, w); ev.Up {
		t.Fatalf("initial %+v, want down", ev)
	}
	if ev := nextEvent(t, w); !ev.Up || ev.Reason != "ok (status 200)" {
		t.Fatalf("%+v, want up at the first success", ev)
	}

	srv.status.Store(503)
	ev := nextEvent(t, w)
	if ev.Up || ev.Reason != "status 503" || ev.Seq != 3 {
		t.Fatalf("%+v, want down with status 503", ev)
	}
	if n := srv.servedWith(503); n < 3 {
		t.Errorf("down after %d failures, want fall=3", n)
	}
	if s := w.State(); s != ev {
		t.Errorf("State() %+v differs from the last event %+v", s, ev)
	}

	okBefore := srv.servedWith(200)
	srv.status.Store(200)
	ev = nextEvent(t, w)
	if !ev.Up || ev.Reason != "ok (status 200)" || ev.Seq != 4 {
		t.Fatalf("%+v, want up again", ev)
	}
	if n := srv.servedWith(200) - okBefore; n < 2 {
		t.Errorf("up after %d successes, want rise=2", n)
	}
}

func TestEngineInitialUp(t *testing.T) {
	c := newCheck("tcp")
	c.Initial = "up"
	c.Interval = config.Duration(time.Hour)
	c.Jitter = 0
	e := NewEngine(nil, Options{})
	w := e.Watch("dead", Target{Check: c, Address: closedAddr(t, "tcp")})
	runEngine(t, e)
	if ev := nextEvent(t, w); !ev.Up {
		t.Fatalf("initial %+v, want up", ev)
	}
	// The first failure decides at once, although fall is 3.
	if ev := nextEvent(t, w); ev.Up || ev.Reason != "connect refused" {
		t.Fatalf("%+v, want down at the first failure", ev)
	}
}

// TestWatchSlowConsumer drives transitions into a watch nobody reads: the
// prober must never block, and what the consumer finally reads must be in
// order and end with the latest state.
func TestWatchSlowConsumer(t *testing.T) {
	c := newCheck("tcp")
	c.Rise, c.Fall = 1, 1
	e := NewEngine(nil, Options{})
	w := e.Watch("slow", Target{Check: c, Address: "127.0.0.1:1"})
	p := w.p

	const n = 1000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			p.record(result{ok: i%2 == 0, reason: "r"})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the prober blocked on a consumer that does not read")
	}
	final := w.State()
	if final.Seq != n+1 || final.Up != ((n-1)%2 == 0) {
		t.Fatalf("final state %+v after %d transitions", final, n)
	}
	var got []Event
	for len(got) == 0 || got[len(got)-1].Seq != final.Seq {
		got = append(got, nextEvent(t, w))
	}
	if len(got) > watchBuffer {
		t.Errorf("read %d events from a %d buffer", len(got), watchBuffer)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq <= got[i-1].Seq {
			t.Fatalf("events out of order: %d after %d", got[i].Seq, got[i-1].Seq)
		}
	}
	if last := got[len(got)-1]; last != final {
		t.Errorf("last event %+v, want the latest state %+v", last, final)
	}
}

// TestWatchConcurrentConsumer has a reader that keeps up only partly while
// transitions pour in: whatever it sees is ordered and it ends on the
// latest state.
func TestWatchConcurrentConsumer(t *testing.T) {
	c := newCheck("tcp")
	c.Rise, c.Fall = 1, 1
	e := NewEngine(nil, Options{})
	w := e.Watch("reader", Target{Check: c, Address: "127.0.0.1:1"})
	p := w.p

	const n = 5000
	final := uint64(n + 1)
	seen := make(chan []uint64)
	go func() {
		var seqs []uint64
		for ev := range w.Events() {
			seqs = append(seqs, ev.Seq)
			if ev.Seq == final {
				break
			}
			if len(seqs)%7 == 0 {
				runtime.Gosched() // fall behind now and then
			}
		}
		seen <- seqs
	}()
	for i := range n {
		p.record(result{ok: i%2 == 0})
	}
	var seqs []uint64
	select {
	case seqs = <-seen:
	case <-time.After(10 * time.Second):
		t.Fatalf("reader never saw the final state; state %+v", w.State())
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("out of order: %d after %d", seqs[i], seqs[i-1])
		}
	}
	t.Logf("reader saw %d of %d events", len(seqs), n+1)
}

func TestCloseStopsProbing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepts atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			c.Close()
		}
	}()
	c := newCheck("tcp")
	c.Interval = config.Duration(10 * time.Millisecond)
	c.Jitter = config.Duration(2 * time.Millisecond)
	e := NewEngine(nil, Options{})
	w1 := e.Watch("a", Target{Check: c, Address: l.Addr().String()})
	w2 := e.Watch("b", Target{Check: c, Address: l.Addr().String()})
	p := w1.p
	runEngine(t, e)

	waitFor(t, 10*time.Second, "a few probes", func() (bool, string) {
		return accepts.Load() >= 3, ""
	})
	w1.Close()
	w1.Close() // harmless
	before := accepts.Load()
	waitFor(t, 10*time.Second, "more probes while one watch remains", func() (bool, string) {
		return accepts.Load() >= before+3, ""
	})
	for range w1.Events() { // closed: drains and ends
	}

	e.mu.Lock()
	done := p.done // set by Run's start, under the engine's lock
	e.mu.Unlock()
	w2.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("prober still running after its last watch closed")
	}
	e.mu.Lock()
	left := len(e.probers)
	e.mu.Unlock()
	if left != 0 {
		t.Errorf("%d probers left", left)
	}
	// The prober goroutine is gone, so nothing can dial any more; at most a
	// connection it dialled just before stopping is still being accepted.
	// A marker connection of ours, accepted after it, bounds the count.
	atStop := accepts.Load()
	m, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	waitFor(t, 5*time.Second, "the marker connection", func() (bool, string) {
		return accepts.Load() >= atStop+1, ""
	})
	if n := accepts.Load(); n > atStop+2 {
		t.Errorf("%d connections after the prober stopped", n-atStop-1)
	}
}

func TestRunLifecycle(t *testing.T) {
	srv := newHitServer(t)
	e := NewEngine(nil, Options{})
	w := e.Watch("web", Target{Check: onceCheck("/"), Address: srv.addr()})
	// Before Run the state is the initial one and nothing probes.
	if s := w.State(); s.Up || s.Seq != 1 || srv.count("/") != 0 {
		t.Fatalf("before Run: %+v, %d probes", s, srv.count("/"))
	}
	stop := runEngine(t, e)
	nextEvent(t, w)
	if ev := nextEvent(t, w); !ev.Up {
		t.Fatalf("%+v, want up", ev)
	}
	stop()
	if _, ok := <-w.Events(); ok {
		t.Error("events channel still open after Run returned")
	}
	if err := e.Run(context.Background()); err == nil {
		t.Error("second Run did not fail")
	}
	late := e.Watch("late", Target{Check: onceCheck("/late"), Address: srv.addr()})
	if ev, ok := <-late.Events(); !ok || ev.Up || ev.Seq != 1 {
		t.Errorf("watch after Run: %+v %v, want the initial state", ev, ok)
	}
	if _, ok := <-late.Events(); ok {
		t.Error("watch after Run: channel not closed")
	}
	late.Close()
	w.Close()
}

func TestEngineExecWatch(t *testing.T) {
	c := newCheck("exec")
	c.Command = config.Command{"sh", "-c", `echo "I am $VIGIL_CHECK"; exit 1`}
	c.Initial = "up"
	c.Interval = config.Duration(time.Hour)
	c.Jitter = 0
	e := NewEngine(nil, Options{})
	w := e.Watch("nginx-alive", Target{Check: c})
	runEngine(t, e)
	nextEvent(t, w)
	if ev := nextEvent(t, w); ev.Up || ev.Reason != "exit status 1: I am nginx-alive" {
		t.Errorf("%+v", ev)
	}
}

func TestInvalidCheckStaysDown(t *testing.T) {
	c := newCheck("http")
	c.ExpectBodyRegex = "("
	c.Initial = "up"
	c.Interval = config.Duration(time.Hour)
	c.Jitter = 0
	e := NewEngine(nil, Options{})
	w := e.Watch("broken", Target{Check: c, Address: "127.0.0.1:1"})
	runEngine(t, e)
	nextEvent(t, w)
	if ev := nextEvent(t, w); ev.Up || ev.Reason[:14] != "invalid check:" {
		t.Errorf("%+v, want down as invalid", ev)
	}
}

// TestJitterSpreads1000 watches 1000 distinct tcp targets on one loopback
// listener and checks their first probes are spread over the jitter window
// rather than fired together.
func TestJitterSpreads1000(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 targets")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 1000
	const jitter = 500 * time.Millisecond
	var (
		mu    sync.Mutex
		times []time.Time
	)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			times = append(times, time.Now())
			mu.Unlock()
			c.Close()
		}
	}()

	var ms0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	g0 := runtime.NumGoroutine()

	e := NewEngine(nil, Options{})
	watches := make([]*Watch, n)
	for i := range n {
		c := newCheck("tcp")
		c.Interval = config.Duration(time.Hour)
		c.Jitter = config.Duration(jitter)
		// Distinct settings make distinct targets on the one listener.
		c.Timeout = config.Duration(time.Second + time.Duration(i)*time.Microsecond)
		watches[i] = e.Watch("t", Target{Check: c, Address: l.Addr().String()})
	}
	start := time.Now()
	runEngine(t, e)

	waitFor(t, 20*time.Second, "1000 first probes", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(times) >= n, ""
	})
	up := 0
	for _, w := range watches {
		if w.State().Up {
			up++
		}
	}
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	t.Logf("1000 probers: %d goroutines more, heap in use %+d KiB, stacks %+d KiB; all first probes within %s; %d up",
		runtime.NumGoroutine()-g0, (int64(ms1.HeapInuse)-int64(ms0.HeapInuse))/1024, (int64(ms1.StackInuse)-int64(ms0.StackInuse))/1024, time.Since(start).Round(time.Millisecond), up)

	mu.Lock()
	defer mu.Unlock()
	buckets := map[int64]int{}
	most := 0
	for _, at := range times[:n] {
		b := at.Sub(start).Milliseconds() / 10
		buckets[b]++
		most = max(most, buckets[b])
	}
	// Uniform over 500ms is about 50 buckets of 20; be generous for slow,
	// raced machines but fail a thundering herd.
	if len(buckets) < 10 || most > n/4 {
		t.Errorf("first probes not spread: %d buckets of 10ms, busiest holds %d of %d", len(buckets), most, n)
	}
	t.Logf("first probes over %d buckets of 10ms, busiest %d", len(buckets), most)
}

// TestReloadKeepsState: watching the same target again before closing the
// old watch hands the prober over with its state, as a reload should.
func TestReloadKeepsState(t *testing.T) {
	srv := newHitServer(t)
	e := NewEngine(nil, Options{})
	tgt := Target{Check: onceCheck("/"), Address: srv.addr()}
	old := e.Watch("web", tgt)
	runEngine(t, e)
	nextEvent(t, old)
	up := nextEvent(t, old)
	if !up.Up {
		t.Fatalf("%+v, want up", up)
	}
	renewed := e.Watch("web", tgt)
	old.Close()
	if ev := nextEvent(t, renewed); !ev.Up || ev.Seq != up.Seq {
		t.Errorf("after reload %+v, want the state carried over (%+v)", ev, up)
	}
	if n := srv.count("/"); n != 1 {
		t.Errorf("reload re-probed: %d probes", n)
	}
}

// TestEngineOnProbe checks that every probe is reported with its outcome
// and duration, also those that change nothing (fall not reached yet).
func TestEngineOnProbe(t *testing.T) {
	const delay = 30 * time.Millisecond
	srv := newHitServer(t)
	srv.status.Store(503)
	slow := srv.Config.Handler
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		slow.ServeHTTP(w, r)
	})
	type probe struct {
		name   string
		d      time.Duration
		ok     bool
		reason string
	}
	var mu sync.Mutex
	var got []probe
	e := NewEngine(nil, Options{OnProbe: func(name string, d time.Duration, ok bool, reason string) {
		mu.Lock()
		got = append(got, probe{name, d, ok, reason})
		mu.Unlock()
	}})
	c := newCheck("http")
	c.Interval = config.Duration(10 * time.Millisecond)
	c.Jitter = 0
	c.Fall = 100 // no transition: OnProbe must not depend on one
	e.Watch("web", Target{Check: c, Address: srv.addr()})
	stop := runEngine(t, e)
	waitFor(t, 5*time.Second, "two failed probes", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 2, "none yet"
	})
	srv.status.Store(200)
	waitFor(t, 5*time.Second, "a passing probe", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0 && got[len(got)-1].ok, "not yet"
	})
	stop()

	mu.Lock()
	defer mu.Unlock()
	// A probe cut short by stop may have been answered but is not reported.
	if served := srv.servedWith(503) + srv.servedWith(200); len(got) != served && len(got) != served-1 {
		t.Errorf("%d probes reported, the server answered %d", len(got), served)
	}
	for i, p := range got {
		if p.name != "web" || p.d < delay || p.d > 5*time.Second {
			t.Errorf("probe %d: %+v, want name web and a duration of at least %v", i, p, delay)
		}
		wantReason := "status 503"
		if p.ok {
			wantReason = "ok (status 200)"
		}
		if p.reason != wantReason {
			t.Errorf("probe %d: ok %v with reason %q, want %q", i, p.ok, p.reason, wantReason)
		}
	}
	if got[0].ok || !got[len(got)-1].ok {
		t.Errorf("first probe ok=%v, last ok=%v; want a failure then a success", got[0].ok, got[len(got)-1].ok)
	}
}
