package vm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Require skips the test when not run as root, as the other end-to-end
// tests do, and fails it when root but the host lacks qemu or the other
// tools: CI runs as root and installs them, so there a missing tool is a
// broken setup, not a reason to go green.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("vm: the IPVS VM tests run as root (sudo ./scripts/test.sh)")
	}
	if err := CheckHost(); err != nil {
		t.Fatal(err)
	}
}

// RunGoTests builds the tests of the Go package pkg (a path relative to
// the module root, like "./lvs") as a static binary, runs the tests
// matching runPattern inside the VM, and logs the console. It fails t when
// the binary exits non-zero, when no test matching runPattern passed (a
// pattern that matches nothing must not pass), or when any test skipped: a
// kernel test skipping in the one place built for it means the VM lacks
// something, and that must not look green.
//
// Tests inside the VM can tell where they are by IPVS being available;
// VIGIL_IN_VM=1 is set in their environment too.
func RunGoTests(t *testing.T, pkg, runPattern string) {
	t.Helper()
	Require(t)
	re, err := regexp.Compile(runPattern)
	if err != nil {
		t.Fatalf("vm: bad run pattern %q: %v", runPattern, err)
	}
	ctx := t.Context()
	timeout := DefaultTimeout
	if dl, ok := t.Deadline(); ok {
		// Leave time to log the console before go test's own deadline
		// panics the whole binary.
		if left := time.Until(dl) - 30*time.Second; left < timeout {
			timeout = max(left, 10*time.Second)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	bin := filepath.Join(t.TempDir(), filepath.Base(filepath.Clean(pkg))+".test")
	if err := buildTest(ctx, pkg, bin); err != nil {
		t.Fatal(err)
	}
	// The test binary's own timeout fires first, so a hung test prints
	// its goroutines instead of the VM just being killed.
	testTimeout := timeout - 15*time.Second
	if testTimeout < timeout/2 {
		testTimeout = timeout / 2
	}
	start := time.Now()
	res, err := Run(ctx, Options{
		Binary:  bin,
		Args:    []string{"-test.v", "-test.run", runPattern, "-test.count=1", "-test.timeout", testTimeout.String()},
		Timeout: timeout,
		Logf:    t.Logf,
	})
	t.Logf("vm: %s in the VM took %s; console:\n%s", pkg, time.Since(start).Round(time.Millisecond), res.Output)
	if err != nil {
		t.Fatal(err)
	}
	for _, problem := range judgeGoTest(res, re) {
		t.Error(problem)
	}
}

// buildTest compiles pkg's tests into bin with cgo off, which makes the
// binary static and so runnable in the VM's libc-less initramfs.
func buildTest(ctx context.Context, pkg, bin string) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("vm: go test -c %s: %v\n%s", pkg, err, out)
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("vm: go test -c %s wrote no binary (no test files?)", pkg)
	}
	return nil
}

// moduleRoot is the directory of the main module's go.mod, so package
// paths like "./lvs" mean the same from any test's working directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("vm: cannot find the module root (go env GOMOD: %q, %v)", gomod, err)
	}
	return filepath.Dir(gomod), nil
}

var testResultRE = regexp.MustCompile(`(?m)^\s*--- (PASS|FAIL|SKIP): (\S+)`)

// judgeGoTest lists what is wrong with a go test run's result: a non-zero
// exit, a failed or skipped test, or no passed top-level test matching re.
func judgeGoTest(res Result, re *regexp.Regexp) []string {
	var problems []string
	if res.ExitCode != 0 {
		problems = append(problems, fmt.Sprintf("vm: the test binary exited with status %d", res.ExitCode))
	}
	passed := 0
	for _, m := range testResultRE.FindAllStringSubmatch(res.Output, -1) {
		top, _, _ := strings.Cut(m[2], "/")
		switch m[1] {
		case "SKIP":
			problems = append(problems, fmt.Sprintf("vm: %s skipped inside the VM, where it must run", m[2]))
		case "FAIL":
			problems = append(problems, fmt.Sprintf("vm: %s failed", m[2]))
		case "PASS":
			if m[2] == top && re.MatchString(top) {
				passed++
			}
		}
	}
	if passed == 0 {
		problems = append(problems, fmt.Sprintf("vm: no test matching %q passed in the VM", re))
	}
	return problems
}
