package tests

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSystemdWatchdog runs vigil as systemd would with WatchdogSec=400ms
// (NOTIFY_SOCKET and WATCHDOG_USEC in its environment): it says READY=1,
// then feeds the watchdog at least every half interval while its VRRP
// loop answers, and says STOPPING=1 on SIGTERM with no feeding after it.
// The stuck-loop side (no WATCHDOG=1) is daemon's TestWatchdogFedOnlyWhileLoopsAnswer.
func TestSystemdWatchdog(t *testing.T) {
	p := newPair(t)
	path := filepath.Join(t.TempDir(), "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	lb1 := startVigil(t, p.lb1, nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", "")),
		"env", "NOTIFY_SOCKET="+path, "WATCHDOG_USEC=400000", vigilBin)
	read := func(within time.Duration) string {
		t.Helper()
		sock.SetReadDeadline(time.Now().Add(within))
		buf := make([]byte, 512)
		n, err := sock.Read(buf)
		if err != nil {
			t.Fatalf("no sd_notify message within %v: %v\n%s", within, err, lb1.proc.Output())
		}
		return string(buf[:n])
	}
	if got := read(10 * time.Second); !strings.HasPrefix(got, "READY=1") {
		t.Fatalf("first message %q, want READY=1", got)
	}
	lb1.waitLog("to=MASTER", 10*time.Second)
	for i := range 5 {
		// Half of WatchdogSec apart, so well within 400ms each.
		if got := read(time.Second); got != "WATCHDOG=1" {
			t.Fatalf("message %d: %q, want WATCHDOG=1", i, got)
		}
	}
	lb1.proc.Signal(15)
	for {
		got := read(10 * time.Second)
		if got == "STOPPING=1" {
			break
		}
		if got != "WATCHDOG=1" {
			t.Fatalf("while stopping: %q", got)
		}
	}
	if _, ok := lb1.proc.Wait(10 * time.Second); !ok {
		t.Fatal("vigil did not stop")
	}
	sock.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 512)
	if n, err := sock.Read(buf); err == nil {
		t.Errorf("after STOPPING=1: %q", buf[:n])
	}
}
