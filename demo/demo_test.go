package demo_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"vigil/demo"
)

// vigilBin is the binary under test, built once by TestMain (as root only:
// the demo needs root, and without it the test skips).
var vigilBin string

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() != 0 {
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "vigil-demo-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		vigilBin = filepath.Join(dir, "vigil")
		// With the race detector: the demo's goroutines (probe, timeline,
		// backends) run for real only here.
		build := exec.Command("go", "build", "-race", "-o", vigilBin, "..")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building vigil:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// TestDemoEndToEnd runs `vigil demo` as a newcomer would and checks what it
// promises: both backends served, a failover to lb2 with a measured outage,
// lb1 back, exit 0, and no namespace left behind.
func TestDemoEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("vigil demo needs root to create network namespaces (run the tests as root)")
	}
	start := time.Now()
	cmd := exec.Command(vigilBin, "demo", "--watch", "1s")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := stdout.String()
	t.Logf("vigil demo ran %s:\n%s%s", time.Since(start).Round(100*time.Millisecond), out, stderr.String())
	if err != nil {
		t.Fatalf("vigil demo: %v (want exit 0)", err)
	}
	if strings.Contains(stderr.String(), "DATA RACE") {
		t.Errorf("the race detector fired")
	}

	m := regexp.MustCompile(`requests answered: be1 (\d+), be2 (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no request counts in the summary")
	}
	for i, be := range []string{"be1", "be2"} {
		if n, _ := strconv.Atoi(m[i+1]); n < 50 {
			t.Errorf("%s answered %d requests, want it serving throughout", be, n)
		}
	}
	// The crash moves the VIP to lb2 with an outage a VRRP failover takes
	// (3 adverts of 100ms plus skew), measured, not zero, under 2s.
	m = regexp.MustCompile(`crash of the master \(kill -9\) +VIP lb1 -> lb2 +outage (\d+)ms`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no failover from lb1 to lb2 in the summary")
	}
	if n, _ := strconv.Atoi(m[1]); n < 100 || n > 2000 {
		t.Errorf("crash outage %dms, want a measured failover between 100ms and 2s", n)
	}
	if !regexp.MustCompile(`lb1 restarted \(preempts back\) +VIP lb2 -> lb1 +outage \d+ms`).MatchString(out) {
		t.Errorf("lb1 did not take the VIP back")
	}
	if !regexp.MustCompile(`graceful stop \(SIGTERM\) +VIP lb1 -> lb2 +outage \d+ms`).MatchString(out) {
		t.Errorf("no handover on the graceful stop")
	}
	if !strings.Contains(out, "cleaned up") {
		t.Errorf("the demo did not report its cleanup")
	}

	list, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Logf("ip netns list: %v (checking /run/netns only)", err)
	}
	prefix := fmt.Sprintf("vigil-demo-%d-", cmd.Process.Pid)
	if strings.Contains(string(list), prefix) {
		t.Errorf("ip netns list still shows the demo's namespaces:\n%s", list)
	}
	if left := demo.Namespaces(prefix); len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
}
