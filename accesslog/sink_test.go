package accesslog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond until it holds or ten seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// records is a slog handler that keeps what the Sink logs.
type records struct {
	mu   sync.Mutex
	msgs []string // message and attributes, "msg k=v k=v"
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	s := rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		s += " " + a.Key + "=" + a.Value.String()
		return true
	})
	r.mu.Lock()
	r.msgs = append(r.msgs, s)
	r.mu.Unlock()
	return nil
}

func (r *records) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func entryFor(target string) *Entry {
	e := httpEntry()
	e.Target = []byte(target)
	return &e
}

// TestFileReopen: lines reach the file; after logrotate's rename and a
// Reopen, new lines go to a new file at the path and the old ones stay in
// the renamed one.
func TestFileReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	s, err := Open(path, "", slog.New(&records{}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lg := NewLogger(s, HAProxy)
	for i := range 3 {
		lg.Log(entryFor("/old" + strconv.Itoa(i)))
	}
	waitFor(t, "3 lines in the file", func() bool { return s.Written() == 3 })
	if got := lines(t, path); len(got) != 3 || !strings.Contains(got[2], `"GET /old2 HTTP/1.1"`) {
		t.Fatalf("file holds %q", got)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm()&^0o640 != 0 {
		t.Errorf("file mode %v, %v: want at most 0640", st.Mode(), err)
	}

	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		lg.Log(entryFor("/new" + strconv.Itoa(i)))
	}
	waitFor(t, "5 lines written", func() bool { return s.Written() == 5 })
	if got := lines(t, path); len(got) != 2 || !strings.Contains(got[0], "/new0") || !strings.Contains(got[1], "/new1") {
		t.Errorf("new file holds %q", got)
	}
	if got := lines(t, path+".1"); len(got) != 3 || strings.Contains(strings.Join(got, "\n"), "/new") {
		t.Errorf("renamed file holds %q", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Reopen(); err == nil {
		t.Error("Reopen after Close succeeded")
	}
}

// TestCloseFlushes: lines written just before Close, well within the
// batching delay, are in the file when Close returns; later ones are
// dropped and counted.
func TestCloseFlushes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	s, err := Open(path, "local0", slog.New(&records{}))
	if err != nil {
		t.Fatal(err)
	}
	lg := NewLogger(s, JSON)
	for i := range 100 {
		lg.Log(entryFor("/" + strconv.Itoa(i)))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, path); len(got) != 100 || !strings.Contains(got[99], `"path":"/99"`) {
		t.Fatalf("after Close the file holds %d lines, want 100", len(got))
	}
	if s.Written() != 100 || s.Dropped() != 0 {
		t.Errorf("written %d dropped %d, want 100 and 0", s.Written(), s.Dropped())
	}
	if s.Write([]byte("late\n")) {
		t.Error("Write after Close was taken")
	}
	lg.Log(entryFor("/late"))
	if s.Dropped() != 2 {
		t.Errorf("dropped %d after Close, want 2", s.Dropped())
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// blockingWriter blocks its first Write until released: a disk or a pipe
// that stopped taking data.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	got     bytes.Buffer
	once    sync.Once
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() {
		close(w.entered)
		<-w.release
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.got.Write(p)
}

// TestDropsWhenStuck: while the target does not take its batch, lines
// fill the pending buffer and then are dropped and counted without
// blocking the caller; the drop is logged once the writer can tell.
func TestDropsWhenStuck(t *testing.T) {
	w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	rec := &records{}
	s := newSink("stuck", &streamOut{w: w}, slog.New(rec), sinkConfig{maxPending: 1000, delay: time.Millisecond, every: time.Hour, closeWait: 10 * time.Second})
	defer s.Close()
	line := []byte(strings.Repeat("x", 99) + "\n")
	if !s.Write(line) {
		t.Fatal("first line dropped")
	}
	select {
	case <-w.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer never wrote")
	}
	// The writer is stuck in its first batch: ten lines fill the 1000
	// pending bytes, the next five are dropped, and no Write waits.
	start := time.Now()
	for i := range 15 {
		if took := s.Write(line); took != (i < 10) {
			t.Fatalf("line %d: taken %v", i, took)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Writes took %v while the target was stuck", d)
	}
	if s.Dropped() != 5 {
		t.Errorf("dropped %d, want 5", s.Dropped())
	}
	close(w.release)
	waitFor(t, "11 lines written", func() bool { return s.Written() == 11 })
	waitFor(t, "the drop report", func() bool { return len(rec.all()) == 1 })
	if got := rec.all()[0]; !strings.Contains(got, "target=stuck dropped=5") || strings.Contains(got, "error") {
		t.Errorf("report: %q", got)
	}
	w.mu.Lock()
	n := w.got.Len()
	w.mu.Unlock()
	if n != 1100 {
		t.Errorf("target got %d bytes, want 1100", n)
	}
}

// failingWriter takes ok bytes, then fails every write.
type failingWriter struct{ ok int }

func (w *failingWriter) Write(p []byte) (int, error) {
	n := min(w.ok, len(p))
	w.ok -= n
	return n, errors.New("disk on fire")
}

// TestWriteErrorsAreDrops: lines a failed write lost count as dropped,
// those before the failure as written, and the error is logged.
func TestWriteErrorsAreDrops(t *testing.T) {
	rec := &records{}
	s := newSink("failing", &streamOut{w: &failingWriter{ok: 15}}, slog.New(rec), sinkConfig{maxPending: 1 << 16, delay: time.Hour, every: time.Hour, closeWait: 10 * time.Second})
	for range 3 {
		s.Write([]byte("0123456789")) // the Sink adds the newline
	}
	// delay is an hour: only Close writes the batch, so all three lines
	// are in it and the writer fails after a line and a half.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.Written() != 1 || s.Dropped() != 2 {
		t.Errorf("written %d dropped %d, want 1 and 2", s.Written(), s.Dropped())
	}
	if got := rec.all(); len(got) != 1 || !strings.Contains(got[0], "dropped=2 write_failures=2 error=disk on fire") {
		t.Errorf("reports: %q", got)
	}
}

// TestReportThrottle: drops are told at once the first time, then at
// most once per interval with the count since, even with no line coming
// to wake the writer.
func TestReportThrottle(t *testing.T) {
	rec := &records{}
	s := &Sink{target: "t", log: slog.New(rec), cfg: sinkConfig{every: time.Minute}}
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	step := func(at time.Duration, drops uint64, wantWait time.Duration, wantReports int) {
		t.Helper()
		s.dropped.Add(drops)
		if wait := s.report(now.Add(at), false); wait != wantWait {
			t.Errorf("at %v: wait %v, want %v", at, wait, wantWait)
		}
		if got := rec.all(); len(got) != wantReports {
			t.Errorf("at %v: %d reports, want %d: %q", at, len(got), wantReports, got)
		}
	}
	step(0, 0, 0, 0) // nothing dropped, nothing told
	step(0, 3, 0, 1) // the first drops at once
	step(time.Second, 2, 59*time.Second, 1)
	step(30*time.Second, 4, 30*time.Second, 1)
	step(time.Minute, 0, 0, 2) // the interval is up: told with 6
	step(time.Minute+time.Second, 0, 0, 2)
	if got := rec.all(); !strings.Contains(got[0], "dropped=3") || !strings.Contains(got[1], "dropped=6") {
		t.Errorf("reports: %q", got)
	}
}

// TestReportTimer: the writer tells drops waiting for the interval when
// it is up, though no line comes to wake it.
func TestReportTimer(t *testing.T) {
	rec := &records{}
	w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	s := newSink("t", &streamOut{w: w}, slog.New(rec), sinkConfig{maxPending: 10, delay: time.Millisecond, every: 50 * time.Millisecond, closeWait: 10 * time.Second})
	defer s.Close()
	s.Write([]byte("123456789\n"))
	<-w.entered
	s.Write([]byte("123456789\n"))
	s.Write([]byte("dropped\n")) // pending is full
	close(w.release)
	waitFor(t, "the first report", func() bool { return len(rec.all()) == 1 })
	// The second line's batch is written; fill pending and drop again
	// while the writer sleeps.
	waitFor(t, "2 lines written", func() bool { return s.Written() == 2 })
	s.Write([]byte("123456789\n"))
	s.Write([]byte("dropped\n"))
	s.Write([]byte("dropped\n"))
	waitFor(t, "the second report", func() bool { return len(rec.all()) == 2 })
	if got := rec.all()[1]; !strings.Contains(got, "dropped=2") {
		t.Errorf("second report: %q", got)
	}
}

var syslogLine = regexp.MustCompile(`^<(\d+)>([A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d) (?:(\S+) )?vigil\[(\d+)\]: (.*)$`)

// checkSyslog parses a datagram and checks its header: PRI, a timestamp
// within a few seconds of now, the hostname (or none) and the tag.
func checkSyslog(t *testing.T, dgram []byte, pri int, host string) (msg string) {
	t.Helper()
	m := syslogLine.FindSubmatch(dgram)
	if m == nil {
		t.Fatalf("not an RFC 3164 message: %q", dgram)
	}
	if got, _ := strconv.Atoi(string(m[1])); got != pri {
		t.Errorf("PRI %d, want %d", got, pri)
	}
	now := time.Now()
	ts, err := time.ParseInLocation("Jan _2 15:04:05", string(m[2]), time.Local)
	if err != nil {
		t.Fatalf("timestamp %q: %v", m[2], err)
	}
	ts = ts.AddDate(now.Year(), 0, 0)
	if d := now.Sub(ts); d < -5*time.Second || d > 5*time.Second {
		t.Errorf("timestamp %q is %v from now", m[2], d)
	}
	if string(m[3]) != host {
		t.Errorf("hostname %q, want %q", m[3], host)
	}
	if pid, _ := strconv.Atoi(string(m[4])); pid != os.Getpid() {
		t.Errorf("pid %s, want %d", m[4], os.Getpid())
	}
	return string(m[5])
}

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s, err := Open("syslog://"+pc.LocalAddr().String(), "local0", slog.New(&records{}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	host, _ := os.Hostname()
	lg := NewLogger(s, HAProxy)
	e1, e2 := entryFor("/one"), entryFor("/two")
	lg.Log(e1)
	lg.Log(e2)
	long := entryFor("/" + strings.Repeat("l", 10000))
	lg.Log(long)
	buf := make([]byte, 65536)
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i, e := range []*Entry{e1, e2, long} {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		msg := checkSyslog(t, buf[:n], 134, host)
		want := strings.TrimSuffix(string(Append(nil, HAProxy, e)), "\n")
		if e == long {
			if n != maxDatagram || !strings.HasPrefix(want, msg) {
				t.Errorf("long line: a %d-byte datagram, want %d, a prefix of the line", n, maxDatagram)
			}
		} else if msg != want {
			t.Errorf("datagram %d: message %q, want %q", i, msg, want)
		}
	}
	waitFor(t, "3 written", func() bool { return s.Written() == 3 })
}

// TestSyslogUnix: a local socket gets no hostname, and the Sink dials it
// again after it went away and came back (a syslog daemon restarting).
func TestSyslogUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	listen := func() *net.UnixConn {
		c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	l := listen()
	rec := &records{}
	s, err := Open("syslog://"+path, "daemon", slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Write([]byte("hello\n")) {
		t.Fatal("dropped")
	}
	buf := make([]byte, 9000)
	l.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := l.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if msg := checkSyslog(t, buf[:n], 3*8+6, ""); msg != "hello" {
		t.Errorf("message %q", msg)
	}

	// The daemon goes away: lines are lost and counted, not queued.
	l.Close()
	os.Remove(path)
	s.Write([]byte("lost\n"))
	waitFor(t, "a drop", func() bool { return s.Dropped() == 1 })

	// It comes back at the same path: the next batch dials it again.
	l = listen()
	defer l.Close()
	l.SetReadDeadline(time.Now().Add(10 * time.Second))
	s.Write([]byte("back\n"))
	n, err = l.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if msg := checkSyslog(t, buf[:n], 30, ""); msg != "back" {
		t.Errorf("after the daemon came back: %q", msg)
	}
	if err := s.Reopen(); err != nil {
		t.Errorf("Reopen: %v", err)
	}
	s.Write([]byte("reopened\n"))
	n, err = l.Read(buf)
	if err != nil || checkSyslog(t, buf[:n], 30, "") != "reopened" {
		t.Errorf("after Reopen: %q, %v", buf[:n], err)
	}
}

func TestSyslogHeader(t *testing.T) {
	o := &syslogOut{pri: 16*8 + 6, host: "lb1", tag: "vigil[123]: "}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 12, 7, 18, 43, 3, 0, time.UTC), "<134>Dec  7 19:43:03 lb1 vigil[123]: "},
		{time.Date(2026, 12, 7, 18, 43, 3, 999_999_999, time.UTC), "<134>Dec  7 19:43:03 lb1 vigil[123]: "},
		{time.Date(2026, 12, 17, 0, 0, 0, 0, time.UTC), "<134>Dec 17 01:00:00 lb1 vigil[123]: "},
		{time.Date(2027, 1, 1, 8, 5, 9, 0, time.UTC), "<134>Jan  1 09:05:09 lb1 vigil[123]: "},
	} {
		o.stamp(tc.at)
		if string(o.header) != tc.want {
			t.Errorf("at %v: %q, want %q", tc.at, o.header, tc.want)
		}
	}
	o.host = ""
	o.clock = clock{}
	o.stamp(time.Date(2027, 1, 1, 8, 5, 9, 0, time.UTC))
	if want := "<134>Jan  1 09:05:09 vigil[123]: "; string(o.header) != want {
		t.Errorf("local socket: %q, want %q", o.header, want)
	}
}

func TestSyslogTargets(t *testing.T) {
	for target, want := range map[string]string{
		"syslog://127.0.0.1":      "127.0.0.1:514",
		"syslog://127.0.0.1:5514": "127.0.0.1:5514",
		"syslog://[::1]":          "[::1]:514",
		"syslog://[::1]:601":      "[::1]:601",
	} {
		o, err := newSyslogOut(target, 16)
		if err != nil {
			t.Errorf("%s: %v", target, err)
			continue
		}
		if o.network != "udp" || o.addr != want {
			t.Errorf("%s: %s %s, want udp %s", target, o.network, o.addr, want)
		}
		o.close()
	}
	for _, target := range []string{"syslog://", "syslog://h:70000", "syslog://h:x", "syslog://10.0.0.9:514/x", "syslog://u@h"} {
		if _, err := newSyslogOut(target, 16); err == nil {
			t.Errorf("%s accepted", target)
		}
	}
}

func TestOpen(t *testing.T) {
	for _, target := range []string{"stdout", "stderr"} {
		s, err := Open(target, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if s.Target() != target {
			t.Errorf("Target() = %q", s.Target())
		}
		if err := s.Reopen(); err != nil {
			t.Errorf("%s: Reopen: %v", target, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("%s: Close: %v", target, err)
		}
	}
	// Closing the Sinks left the process's own streams open.
	if _, err := os.Stdout.Stat(); err != nil {
		t.Errorf("stdout after Close: %v", err)
	}
	if _, err := os.Stderr.Stat(); err != nil {
		t.Errorf("stderr after Close: %v", err)
	}

	dir := t.TempDir()
	for _, tc := range []struct{ target, facility, want string }{
		{"access.log", "", "absolute file path"},
		{"off", "", "absolute file path"},
		{"file:///var/log/x", "", "absolute file path"},
		{filepath.Join(dir, "no/such/dir/a.log"), "", "no such file"},
		{"syslog://" + filepath.Join(dir, "nosocket"), "", "no such file"},
		{"stdout", "local8", `facility "local8"`},
		{"stdout", "LOCAL0", `facility "LOCAL0"`},
	} {
		s, err := Open(tc.target, tc.facility, nil)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q, %q) succeeded", tc.target, tc.facility)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q, %q): %v, want it to say %q", tc.target, tc.facility, err, tc.want)
		}
	}
}

func TestFacilities(t *testing.T) {
	for name, code := range map[string]int{"": 16, "kern": 0, "user": 1, "daemon": 3, "authpriv": 10, "ftp": 11, "local0": 16, "local7": 23} {
		if got, err := parseFacility(name); err != nil || got != code {
			t.Errorf("parseFacility(%q) = %d, %v; want %d", name, got, err, code)
		}
	}
}

// TestConcurrentLog: loggers on many goroutines (the event loops) share
// one Sink; every line arrives whole.
func TestConcurrentLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	s, err := Open(path, "", slog.New(&records{}))
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		lg := NewLogger(s, Format(w%3))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := entryFor(fmt.Sprintf("/w%d/%d", w, i))
				e.Start = e.Start.Add(time.Duration(i) * 3 * time.Millisecond)
				lg.Log(e)
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := lines(t, path)
	if len(got) != workers*each || s.Written() != workers*each || s.Dropped() != 0 {
		t.Fatalf("%d lines, written %d, dropped %d; want %d", len(got), s.Written(), s.Dropped(), workers*each)
	}
	seen := map[string]bool{}
	path1 := regexp.MustCompile(`/w\d/\d+`)
	for _, l := range got {
		p := path1.FindString(l)
		if p == "" || seen[p] || !(strings.HasPrefix(l, "127.0.0.1:41590 [") || strings.HasPrefix(l, "{") || strings.HasPrefix(l, "127.0.0.1 - - [")) {
			t.Fatalf("line mangled or repeated: %q", l)
		}
		seen[p] = true
	}
}

// TestLogAllocs: once warm, Log allocates nothing, writer included.
func TestLogAllocs(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "access.log"), "", slog.New(&records{}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, f := range []Format{HAProxy, JSON, Combined} {
		lg := NewLogger(s, f)
		e := entryFor("/allocs")
		for range 100 {
			lg.Log(e)
		}
		if n := testing.AllocsPerRun(1000, func() { lg.Log(e) }); n != 0 {
			t.Errorf("%s: Log made %v allocations", f, n)
		}
	}
	var nilLogger *Logger
	nilLogger.Log(entryFor("/nothing")) // a service with its log off
}

// BenchmarkLog measures Log to a file (the writer runs alongside, and
// its allocations count too; "drops/op" is the share of lines the writer
// could not keep up with), Log to a target that takes everything at once
// (the cost on the event loop alone), and Append per format and kind of
// entry (no date cache).
func BenchmarkLog(b *testing.B) {
	h, tc := httpEntry(), tcpEntry()
	logTo := func(name string, open func(b *testing.B) *Sink, f Format, parallel bool) {
		b.Run(name, func(b *testing.B) {
			s := open(b)
			lg := NewLogger(s, f)
			lg.Log(&h)
			b.ReportAllocs()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						lg.Log(&h)
					}
				})
			} else {
				for b.Loop() {
					lg.Log(&h)
				}
			}
			b.StopTimer()
			s.Close()
			b.ReportMetric(float64(s.Dropped())/float64(b.N), "drops/op")
		})
	}
	file := func(b *testing.B) *Sink {
		s, err := Open(filepath.Join(b.TempDir(), "access.log"), "", slog.New(&records{}))
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	discard := func(*testing.B) *Sink {
		return newSink("discard", &streamOut{w: io.Discard}, slog.New(&records{}), defaultConfig())
	}
	for _, f := range []Format{HAProxy, JSON, Combined} {
		logTo("Logger/file/"+f.String(), file, f, false)
	}
	logTo("Logger/file/haproxy/parallel", file, HAProxy, true)
	logTo("Logger/discard/haproxy", discard, HAProxy, false)
	logTo("Logger/discard/haproxy/parallel", discard, HAProxy, true)

	buf := make([]byte, 0, 4096)
	for _, f := range []Format{HAProxy, JSON, Combined} {
		for _, e := range []*Entry{&h, &tc} {
			kind := "http"
			if e.TCP {
				kind = "tcp"
			}
			b.Run("Append/"+f.String()+"/"+kind, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					buf = Append(buf[:0], f, e)
				}
			})
		}
	}
}
