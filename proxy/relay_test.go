package proxy

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-accepted
	if a == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { d.Close(); a.Close() })
	return d.(*net.TCPConn), a.(*net.TCPConn)
}

// relayTunnel starts a tunnel on r between two fresh connections and
// returns the far ends: what the client and the backend hold.
func relayTunnel(t *testing.T, r *Relay, tweak func(*tunnel)) (client, backend *net.TCPConn, tn *tunnel) {
	client, proxyClient := tcpPair(t)
	proxyServer, backend := tcpPair(t)
	tn = &tunnel{relay: r, spliceAfter: DefaultSpliceAfter, spliceChunk: defaultSpliceChunk,
		done: make(chan struct{}), conns: [2]*net.TCPConn{proxyClient, proxyServer}}
	if tweak != nil {
		tweak(tn)
	}
	go tn.run()
	return client, backend, tn
}

func newTestRelay(t *testing.T, loops int) *Relay {
	newRelay := NewRelay
	if *dedicatedRelay {
		newRelay = NewDedicatedRelay
	}
	r, err := newRelay(loops)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func waitDone(t *testing.T, tn *tunnel) {
	t.Helper()
	select {
	case <-tn.done:
	case <-time.After(10 * time.Second):
		t.Fatal("tunnel did not end")
	}
}

// TestRelaySlowReader: a backend that sends far more than socket buffers
// hold to a client that reads slowly gets every byte through, in order,
// across many rounds of backpressure (the client's socket full, the
// backend's reads paused, then resumed).
func TestRelaySlowReader(t *testing.T) {
	checkGoroutines(t)
	for _, m := range []struct {
		name  string
		after int64
	}{{"readwrite", -1}, {"splice", 0}, {"switch", 256 << 10}} {
		t.Run(m.name, func(t *testing.T) {
			r := newTestRelay(t, 1)
			client, backend, tn := relayTunnel(t, r, func(tn *tunnel) { tn.spliceAfter = m.after })
			data := make([]byte, 16<<20)
			rand.Read(data)
			go func() {
				backend.Write(data)
				backend.CloseWrite()
			}()
			var got bytes.Buffer
			buf := make([]byte, 32<<10)
			for i := 0; ; i++ {
				n, err := client.Read(buf)
				got.Write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if i%64 == 0 {
					// Slow down now and then so the client's socket fills.
					time.Sleep(time.Millisecond)
				}
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("got %d bytes, want the %d sent, in order", got.Len(), len(data))
			}
			if n := tn.s2c.written.Load(); n != int64(len(data)) {
				t.Errorf("s2c written = %d, want %d", n, len(data))
			}
			client.CloseWrite()
			waitDone(t, tn)
			if tn.why() != "closed by peers" {
				t.Errorf("ended with %q", tn.why())
			}
		})
	}
}

// TestRelayAbort: an abort ends a tunnel wherever it is, also before the
// relay has its sockets, and both peers see the connection close.
func TestRelayAbort(t *testing.T) {
	checkGoroutines(t)
	r := newTestRelay(t, 2)
	t.Run("running", func(t *testing.T) {
		client, backend, tn := relayTunnel(t, r, nil)
		client.Write([]byte("ping"))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(backend, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("backend got %q, %v", buf, err)
		}
		tn.abort("test abort")
		waitDone(t, tn)
		if tn.why() != "test abort" {
			t.Errorf("ended with %q", tn.why())
		}
		expectEOF(t, client)
		expectEOF(t, backend)
	})
	t.Run("before start", func(t *testing.T) {
		client, proxyClient := tcpPair(t)
		proxyServer, backend := tcpPair(t)
		tn := &tunnel{relay: r, spliceAfter: -1, spliceChunk: defaultSpliceChunk,
			done: make(chan struct{}), conns: [2]*net.TCPConn{proxyClient, proxyServer}}
		tn.abort("early")
		go tn.run()
		waitDone(t, tn)
		if tn.why() != "early" {
			t.Errorf("ended with %q", tn.why())
		}
		expectEOF(t, client)
		expectEOF(t, backend)
	})
}

// TestRelayClose: closing the relay ends its tunnels, and a tunnel
// started afterwards is refused with its sockets closed.
func TestRelayClose(t *testing.T) {
	checkGoroutines(t)
	r, err := NewRelay(2)
	if err != nil {
		t.Fatal(err)
	}
	client, backend, tn := relayTunnel(t, r, nil)
	client.Write([]byte("x"))
	buf := make([]byte, 1)
	if _, err := io.ReadFull(backend, buf); err != nil {
		t.Fatal(err)
	}
	r.Close()
	waitDone(t, tn)
	if tn.why() != "relay stopped" {
		t.Errorf("ended with %q", tn.why())
	}
	expectEOF(t, client)

	late, _, tn2 := relayTunnel(t, r, nil)
	waitDone(t, tn2)
	if tn2.why() != "relay stopped" {
		t.Errorf("late tunnel ended with %q", tn2.why())
	}
	expectEOF(t, late)
}

// TestDedicatedRelayNeedsSpareProcs: a dedicated relay with a loop for
// every P would starve the rest of the process, so it is refused.
func TestDedicatedRelayNeedsSpareProcs(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	if r, err := NewDedicatedRelay(procs); err == nil {
		r.Close()
		t.Fatalf("NewDedicatedRelay(%d) with GOMAXPROCS %d: no error", procs, procs)
	}
	if procs > 1 {
		r, err := NewDedicatedRelay(procs - 1)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
}

// TestDedicatedRelayParksAndWakes: a dedicated loop left without events
// gives its P back, and bytes arriving then wake it; closing the relay
// while its loops are parked ends the tunnels.
func TestDedicatedRelayParksAndWakes(t *testing.T) {
	checkGoroutines(t)
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("a dedicated relay needs GOMAXPROCS 2 or more")
	}
	r, err := NewDedicatedRelay(1)
	if err != nil {
		t.Fatal(err)
	}
	client, backend, tn := relayTunnel(t, r, nil)
	go io.Copy(backend, backend) // echo
	buf := make([]byte, 5)
	for round := range 3 {
		waitParked(t, r.loops[0])
		if _, err := client.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "hello" {
			t.Fatalf("round %d: echo %q, %v", round, buf, err)
		}
	}
	waitParked(t, r.loops[0])
	r.Close()
	waitDone(t, tn)
	if tn.why() != "relay stopped" {
		t.Errorf("ended with %q", tn.why())
	}
	expectEOF(t, client)
}

// waitParked waits for a dedicated loop to give its P back.
func waitParked(t *testing.T, l *eventLoop) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !l.parked.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the idle loop did not park")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRelayIdleSweep: the loop closes a tunnel idle past its timeout while
// a busy one on the same loop lives on.
func TestRelayIdleSweep(t *testing.T) {
	checkGoroutines(t)
	r := newTestRelay(t, 1)
	idle := func(tn *tunnel) {
		tn.clientIdle = 150 * time.Millisecond
		tn.tick = watchTick(tn.clientIdle)
	}
	idleClient, _, idleT := relayTunnel(t, r, idle)
	busyClient, busyBackend, busyT := relayTunnel(t, r, idle)
	start := time.Now()
	go io.Copy(busyBackend, busyBackend) // echo
	buf := make([]byte, 1)
	for time.Since(start) < 400*time.Millisecond {
		busyClient.Write([]byte("b"))
		if _, err := io.ReadFull(busyClient, buf); err != nil {
			t.Fatalf("busy tunnel: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitDone(t, idleT)
	if !idleT.timedOut || idleT.why() != "client timeout" {
		t.Errorf("idle tunnel ended with %q (timed out %v)", idleT.why(), idleT.timedOut)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("idle tunnel closed after %s, before its timeout", d)
	}
	expectEOF(t, idleClient)
	select {
	case <-busyT.done:
		t.Fatalf("busy tunnel ended: %s", busyT.why())
	default:
	}
}

func expectEOF(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("connection still open")
		}
		return
	}
}
