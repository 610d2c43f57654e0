package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// receiver is a webhook endpoint that records what it is sent and
// answers with the status answer picks for the nth request (1-based).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []Event
	raw    []string
	header []http.Header
	calls  atomic.Int32
	answer func(n int) int
}

func newReceiver(t *testing.T, answer func(n int) int) *receiver {
	r := &receiver{answer: answer}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := int(r.calls.Add(1))
		body, _ := io.ReadAll(req.Body)
		code := http.StatusOK
		if r.answer != nil {
			code = r.answer(n)
		}
		if code == http.StatusOK {
			var e Event
			if err := json.Unmarshal(body, &e); err != nil || req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
				t.Errorf("request %d: %s %q, content type %q, %v", n, req.Method, body, req.Header.Get("Content-Type"), err)
			}
			r.mu.Lock()
			r.got = append(r.got, e)
			r.raw = append(r.raw, string(body))
			r.header = append(r.header, req.Header.Clone())
			r.mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.got...)
}

// runSender runs s until the test ends.
func runSender(t *testing.T, s *Sender) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx, time.Second) }()
	t.Cleanup(func() { cancel(); <-done })
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(&tWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// loggedLines is a logger to the test's log that also counts the lines
// containing a string.
func loggedLines(t *testing.T) (*slog.Logger, func(substr string) int) {
	w := &tWriter{t: t}
	return slog.New(slog.NewTextHandler(w, nil)), func(substr string) int {
		w.mu.Lock()
		defer w.mu.Unlock()
		n := 0
		for _, l := range w.lines {
			if strings.Contains(l, substr) {
				n++
			}
		}
		return n
	}
}

type tWriter struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.lines = append(w.lines, string(p))
	w.mu.Unlock()
	w.t.Log(string(p))
	return len(p), nil
}

func webhookSender(t *testing.T, url string, headers map[string]string) *Sender {
	w, err := NewWebhook(url, headers)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSender(w, SenderOptions{QueueSize: QueueSize, Timeout: 2 * time.Second, MaxBatch: 1, Log: testLog(t)})
	s.backoff = backoff{first: 10 * time.Millisecond, most: 50 * time.Millisecond, attempts: 4}
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Events arrive in order, each as the documented JSON body, with the
// configured headers.
func TestWebhookDeliversInOrder(t *testing.T) {
	r := newReceiver(t, nil)
	s := webhookSender(t, r.URL+"/hook?token=secret", map[string]string{"Authorization": "Bearer t0ken", "X-Team": "lb"})
	runSender(t, s)
	const n = 20
	for i := range n {
		s.Enqueue(Event{Node: "lb1", Kind: "backend", Subject: fmt.Sprintf("web/10.0.0.%d:80", i), From: "up", To: "down", Reason: "connect refused", Time: t0})
	}
	// The receiver keeps an event before it answers: wait for both.
	waitFor(t, "20 events", func() bool { return len(r.events()) == n && s.Stats().Sent == n })
	for i, e := range r.events() {
		if want := fmt.Sprintf("web/10.0.0.%d:80", i); e.Subject != want {
			t.Fatalf("event %d is %q, want %q: out of order", i, e.Subject, want)
		}
	}
	r.mu.Lock()
	raw, h := r.raw[0], r.header[0]
	r.mu.Unlock()
	if want := `{"node":"lb1","kind":"backend","subject":"web/10.0.0.0:80","from":"up","to":"down","reason":"connect refused","time":"2026-11-24T00:01:02.345Z"}`; raw != want {
		t.Errorf("body\n got %s\nwant %s", raw, want)
	}
	if h.Get("Authorization") != "Bearer t0ken" || h.Get("X-Team") != "lb" {
		t.Errorf("configured headers missing: %v", h)
	}
	if st := s.Stats(); st.Sent != n || st.Failed != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v, want %d sent", st, n)
	}
	if want := "webhook " + r.URL + "/hook"; s.Name() != want {
		t.Errorf("name %q, want %q (no query: tokens live there)", s.Name(), want)
	}
}

func TestWebhookRetries(t *testing.T) {
	for _, tc := range []struct {
		name      string
		answer    func(n int) int
		calls     int32
		delivered bool
	}{
		{"503 twice then 200", func(n int) int { return map[bool]int{true: 503, false: 200}[n <= 2] }, 3, true},
		{"429 then 200", func(n int) int { return map[bool]int{true: 429, false: 200}[n <= 1] }, 2, true},
		{"400 is not retried", func(int) int { return 400 }, 1, false},
		{"404 is not retried", func(int) int { return 404 }, 1, false},
		{"302 is not followed", func(int) int { return 302 }, 1, false},
		{"500 until out of attempts", func(int) int { return 500 }, 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReceiver(t, tc.answer)
			var observed sync.Map
			s := webhookSender(t, r.URL, nil)
			s.o.Observe = func(sink string, o Outcome, n int) { observed.Store(o, n) }
			runSender(t, s)
			s.Enqueue(Event{Kind: "vrrp", Subject: "VI_1", From: "BACKUP", To: "MASTER", Time: t0})
			waitFor(t, "the outcome", func() bool { st := s.Stats(); return st.Sent+st.Failed == 1 })
			time.Sleep(100 * time.Millisecond) // no further attempt comes
			st := s.Stats()
			if got := r.calls.Load(); got != tc.calls {
				t.Errorf("%d requests, want %d", got, tc.calls)
			}
			if delivered := st.Sent == 1; delivered != tc.delivered || len(r.events()) != int(st.Sent) {
				t.Errorf("stats %+v, receiver got %d; want delivered %v", st, len(r.events()), tc.delivered)
			}
			want := Failed
			if tc.delivered {
				want = Sent
			}
			if n, ok := observed.Load(want); !ok || n != 1 {
				t.Errorf("Observe was not told of 1 %s: %v", want, n)
			}
		})
	}
}

// A receiver that accepts connections and never answers must not slow
// Enqueue down: 10k events return at once, the queue keeps the newest and
// counts the rest as dropped.
func TestWebhookStalledReceiverNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(stalled.Close)
	t.Cleanup(func() { close(release) }) // before Close, which waits for handlers
	w, err := NewWebhook(stalled.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	log, lines := loggedLines(t)
	s := NewSender(w, SenderOptions{QueueSize: QueueSize, Timeout: time.Minute, MaxBatch: 1, Log: log})
	runSender(t, s)
	s.Enqueue(Event{Subject: "first"})
	waitFor(t, "the first event to be in flight", func() bool { return s.Stats().Queued == 0 })

	const n = 10000
	start := time.Now()
	for i := range n {
		s.Enqueue(Event{Kind: "backend", Subject: fmt.Sprint(i), Time: t0})
	}
	took := time.Since(start)
	if took > time.Second {
		t.Errorf("enqueueing %d events took %v with a stalled receiver", n, took)
	}
	st := s.Stats()
	if st.Queued != QueueSize || st.Dropped != n-QueueSize {
		t.Errorf("stats %+v, want %d queued and %d dropped", st, QueueSize, n-QueueSize)
	}
	if got := lines("dropping events"); got != 1 {
		t.Errorf("%d log lines about drops, want 1 (then one per %v)", got, dropLogEvery)
	}
	t.Logf("%d events enqueued in %v", n, took)
}

// Stopping flushes what is queued within the bound, and counts what it
// could not deliver as dropped.
func TestSenderFlushOnStop(t *testing.T) {
	r := newReceiver(t, nil)
	s := webhookSender(t, r.URL, nil)
	for i := range 5 {
		s.Enqueue(Event{Subject: fmt.Sprint(i), Time: t0})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // stopped before it ran: the queue still goes out
	s.Run(ctx, 5*time.Second)
	if st := s.Stats(); st.Sent != 5 || len(r.events()) != 5 {
		t.Errorf("stats %+v, receiver got %d; want 5 flushed", st, len(r.events()))
	}
	s.Enqueue(Event{Subject: "late"})
	if st := s.Stats(); st.Dropped != 1 || st.Queued != 0 {
		t.Errorf("an event after Run returned: stats %+v, want it dropped", st)
	}

	// A dead receiver: the flush ends at its bound.
	dead := webhookSender(t, "http://127.0.0.1:1/hook", nil)
	dead.backoff = backoff{first: time.Second, most: time.Second, attempts: 100}
	for range 3 {
		dead.Enqueue(Event{Subject: "x"})
	}
	start := time.Now()
	dead.Run(ctx, 300*time.Millisecond)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("flush took %v, bound 300ms", took)
	}
	if st := dead.Stats(); st.Failed+st.Dropped != 3 || st.Sent != 0 {
		t.Errorf("dead receiver stats %+v, want 3 failed or dropped", st)
	}
}
