package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/moby/ipvs"

	"vigil/config"
	"vigil/lvs"
)

// TestKernelDaemonLVS runs the daemon with a mode: lvs service on a kernel
// with IPVS (the test VM; elsewhere it skips): the check of its backend
// gates the real server in the kernel table, and the rules stay after stop.
func TestKernelDaemonLVS(t *testing.T) {
	h := kernelIPVS(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	backend := ln.Addr().String()
	text := fmt.Sprintf(`services:
  - name: web
    mode: lvs
    listen: 10.77.0.1:80
    balance: rr
    check: { type: tcp, interval: 100ms, timeout: 1s, rise: 1, fall: 1 }
    backends: [%q]
`, backend)
	cfg, _, err := config.Parse("t.yaml", []byte(text), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	destinations := func() int {
		svcs, err := lvs.Read(h)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range svcs {
			if s.Key.Addr.String() == "10.77.0.1:80" {
				return len(s.Destinations)
			}
		}
		return -1
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitUntil("the real server to be added once its check passes", func() bool { return destinations() == 1 })
	ln.Close()
	waitUntil("the real server to be removed once its check fails", func() bool { return destinations() == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := destinations(); n != 0 {
		t.Errorf("after stop: %d destinations, want the service kept as it was (0)", n)
	}
}

// kernelIPVS opens IPVS for a TestKernel test, closed when the test ends.
// It skips where there is none (this machine's kernel, or no root) and
// fails inside the test VM (VIGIL_IN_VM=1), where IPVS must be there:
// tests/lvs_vm_test.go runs these tests in that VM.
func kernelIPVS(t *testing.T) *ipvs.Handle {
	t.Helper()
	inVM := os.Getenv("VIGIL_IN_VM") == "1"
	if os.Geteuid() != 0 && !inVM {
		t.Skip("needs root (network namespaces, VRRP and IPVS)")
	}
	h, err := lvs.Open("")
	if err != nil {
		if inVM {
			t.Fatalf("in the test VM IPVS must be available: %v", err)
		}
		t.Skipf("skipping: %v; tests/lvs_vm_test.go runs this in a VM", err)
	}
	t.Cleanup(h.Close)
	return h
}
