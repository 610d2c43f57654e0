package proxy

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/config"
)

// testBackend is a TCP server on loopback whose connections run handler.
type testBackend struct {
	addr  string
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func startBackend(t testing.TB, handler func(net.Conn)) *testBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveBackend(t, ln, handler)
}

func serveBackend(t testing.TB, ln net.Listener, handler func(net.Conn)) *testBackend {
	b := &testBackend{addr: ln.Addr().String(), ln: ln}
	b.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			b.wg.Go(func() {
				defer c.Close()
				handler(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

// echo copies back what it reads and half-closes after the client's EOF.
// It copies with read/write (io.Copy would splice between the two TCP
// sockets), so benchmarks measure the proxy's copy mode, not the backend's.
func echo(c net.Conn) {
	buf := make([]byte, 16<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			break
		}
	}
	c.(*net.TCPConn).CloseWrite()
}

// named writes its name and closes: which backend served a connection.
func named(name string) func(net.Conn) {
	return func(c net.Conn) { io.WriteString(c, name) }
}

// deadAddr is a loopback address where nothing listens (connect is refused).
func deadAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// baseCfg is a tcp service on loopback with short timeouts.
func baseCfg(backends ...string) config.Service {
	cfg := config.Service{
		Name:     "t",
		Listen:   netip.MustParseAddrPort("127.0.0.1:0"),
		Mode:     "proxy",
		Protocol: "tcp",
		Balance:  "roundrobin",
		Quorum:   1,
		MaxQueue: 16,
		Retries:  2,
		Timeouts: config.Timeouts{
			Connect:    config.Duration(time.Second),
			Client:     config.Duration(10 * time.Second),
			Server:     config.Duration(10 * time.Second),
			Queue:      config.Duration(2 * time.Second),
			UDPSession: config.Duration(time.Second),
		},
	}
	for _, b := range backends {
		cfg.Backends = append(cfg.Backends, config.Backend{Address: b, Weight: 1})
	}
	return cfg
}

// running is a Service started by startService.
type running struct {
	*Service
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// goroutineHTTP runs the package's tests with every HTTP connection on the
// goroutine path; by default cleartext ones are served on the event loops
// (scripts/test.sh runs both).
var goroutineHTTP = flag.Bool("http-goroutines", false, "serve HTTP on goroutines, not the event loops")

// dedicatedRelay runs the package's tests the way the daemon runs its
// services: all on one dedicated relay (NewDedicatedRelay) that outlives
// them, and the relay tests on dedicated relays (scripts/test.sh runs
// the package this way too).
var dedicatedRelay = flag.Bool("dedicated-relay", false, "run services on one shared dedicated relay, as the daemon does")

// sharedRelay is that relay, started by TestMain with -dedicated-relay.
var sharedRelay *Relay

func TestMain(m *testing.M) {
	flag.Parse()
	if *dedicatedRelay {
		// Every dedicated loop may hold a P: the shared relay's and those
		// of relay tests running in parallel, with room for the rest.
		runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 16))
		var err error
		if sharedRelay, err = NewDedicatedRelay(2); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if sharedRelay != nil {
		sharedRelay.Close()
	}
	os.Exit(code)
}

// startService runs a Service until the test ends. tweak, when given, runs
// before Run.
func startService(t testing.TB, cfg config.Service, tweak ...func(*Service)) *running {
	t.Helper()
	s, err := NewService(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	s.noLoopHTTP = *goroutineHTTP
	s.Relay = sharedRelay
	for _, f := range tweak {
		f(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Service: s, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	deadline := time.Now().Add(5 * time.Second)
	for s.boundAddr() == nil {
		select {
		case err := <-r.done:
			close(r.done)
			t.Fatalf("Run: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("service did not start listening")
		}
		time.Sleep(time.Millisecond)
	}
	r.addr = s.boundAddr().String()
	return r
}

// stop cancels Run and waits for it to return.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if !ok {
			return // stopped before
		}
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		close(r.done)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// dial connects a client to the service.
func (r *running) dial(t testing.TB) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// fetch connects, reads until EOF and closes.
func (r *running) fetch(t testing.TB) (string, error) {
	t.Helper()
	c := r.dial(t)
	defer c.Close()
	return readAll(c)
}

// waitStats polls Stats until cond holds.
func (r *running) waitStats(t testing.TB, what string, cond func(ServiceStats) bool) ServiceStats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := r.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: stats %+v", what, st)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// roundTrip writes msg and reads the same number of bytes back.
func roundTrip(t testing.TB, c net.Conn, msg string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(buf)
}

// readAll reads until EOF (or 5 s) and returns what came and the error.
func readAll(c net.Conn) (string, error) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// expectClosed asserts the proxy closes c within limit, without data.
func expectClosed(t testing.TB, c net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(limit))
	b, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after %s", limit)
	}
	if len(b) > 0 {
		t.Fatalf("unexpected data %q before close", b)
	}
	return time.Since(start)
}

// checkGoroutines fails the test when goroutines started during it are
// still running at its end. Call it first, so its cleanup runs last.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:n])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
