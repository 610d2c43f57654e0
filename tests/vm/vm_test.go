package vm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpioEntry is one record read back by readCPIO.
type cpioEntry struct {
	name       string
	mode       uint32
	data       string
	ino, nlink uint32
	rmaj, rmin uint32
}

// readCPIO parses a newc archive up to its trailer, checking alignment the
// way the kernel's unpacker needs it.
func readCPIO(t *testing.T, b []byte) (entries []cpioEntry, rest []byte) {
	t.Helper()
	field := func(hdr []byte, i int) uint32 {
		v, err := strconv.ParseUint(string(hdr[6+8*i:6+8*i+8]), 16, 32)
		if err != nil {
			t.Fatalf("bad header field %d in %q", i, hdr)
		}
		return uint32(v)
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	off := 0
	for {
		hdr := b[off : off+110]
		if string(hdr[:6]) != "070701" {
			t.Fatalf("bad magic at %d: %q", off, hdr[:6])
		}
		namesize, size := int(field(hdr, 11)), int(field(hdr, 6))
		name := string(b[off+110 : off+110+namesize-1])
		off = align(off + 110 + namesize)
		data := string(b[off : off+size])
		off = align(off + size)
		if name == "TRAILER!!!" {
			return entries, b[off:]
		}
		entries = append(entries, cpioEntry{name, field(hdr, 1), data, field(hdr, 0), field(hdr, 4), field(hdr, 9), field(hdr, 10)})
	}
}

func TestCPIOWriter(t *testing.T) {
	var buf bytes.Buffer
	cw := newCPIOWriter(&buf)
	cw.File("a/b/c.txt", 0o644, []byte("hello"))
	cw.Dir("a", 0o755) // already added as c.txt's parent: not repeated
	cw.Symlink("bin/sh", "/bin/busybox")
	cw.CharDev("dev/console", 0o600, 5, 1)
	src := filepath.Join(t.TempDir(), "src")
	os.WriteFile(src, []byte("twelve bytes"), 0o600)
	cw.CopyFile("payload/bin", 0o755, src)
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d is not 4-aligned", buf.Len())
	}
	entries, rest := readCPIO(t, buf.Bytes())
	if len(rest) != 0 {
		t.Errorf("%d bytes after the trailer", len(rest))
	}
	var got []string
	inos := map[uint32]bool{}
	for _, e := range entries {
		got = append(got, fmt.Sprintf("%s %o %q", e.name, e.mode, e.data))
		if inos[e.ino] {
			t.Errorf("%s reuses inode %d", e.name, e.ino)
		}
		inos[e.ino] = true
		if e.mode&syscall.S_IFMT == syscall.S_IFREG && e.nlink != 1 {
			t.Errorf("%s has nlink %d: the kernel would treat it as a hard link", e.name, e.nlink)
		}
		if e.name == "dev/console" && (e.rmaj != 5 || e.rmin != 1) {
			t.Errorf("dev/console is %d:%d", e.rmaj, e.rmin)
		}
	}
	want := []string{
		`a 40755 ""`, `a/b 40755 ""`, `a/b/c.txt 100644 "hello"`,
		`bin 40755 ""`, `bin/sh 120777 "/bin/busybox"`,
		`dev 40755 ""`, `dev/console 20600 ""`,
		`payload 40755 ""`, `payload/bin 100755 "twelve bytes"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRunScriptQuotes(t *testing.T) {
	s := runScript(Options{Args: []string{"plain", "it's", "$HOME `x`", ""}, Env: []string{"A=b c"}})
	for _, want := range []string{
		"export VIGIL_IN_VM=1", `export 'A=b c'`,
		`/payload/bin 'plain' 'it'\''s' '$HOME ` + "`x`" + `' ''`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("run script lacks %q:\n%s", want, s)
		}
	}
}

func TestParseMarker(t *testing.T) {
	for _, c := range []struct {
		out  string
		code int
		ok   bool
	}{
		{"boot\n" + markerPrefix + "0\n[ 1.0] reboot: Power down\n", 0, true},
		{"payload says " + markerPrefix + "9\n\n" + markerPrefix + "3\n", 3, true},
		{"[ 2.1] Kernel panic - not syncing\n", 0, false},
	} {
		code, ok := parseMarker(c.out)
		if code != c.code || ok != c.ok {
			t.Errorf("parseMarker(%q) = %d, %v; want %d, %v", c.out, code, ok, c.code, c.ok)
		}
	}
}

func TestJudgeGoTest(t *testing.T) {
	re := regexp.MustCompile("^TestKernel")
	pass := "=== RUN   TestKernelA\n--- PASS: TestKernelA (0.01s)\nPASS\n"
	for _, c := range []struct {
		name string
		res  Result
		want string // substring of the problems, "" for none
	}{
		{"pass", Result{Output: pass}, ""},
		{"subtest pass", Result{Output: pass + "    --- PASS: TestKernelA/sub (0.00s)\n"}, ""},
		{"exit status", Result{Output: pass, ExitCode: 1}, "exited with status 1"},
		{"nothing ran", Result{Output: "testing: warning: no tests to run\nPASS\n"}, "no test matching"},
		{"other test passed", Result{Output: "--- PASS: TestOther (0.00s)\n"}, "no test matching"},
		{"skip", Result{Output: pass + "--- SKIP: TestKernelB (0.00s)\n"}, "TestKernelB skipped"},
		{"subtest skip", Result{Output: pass + "    --- SKIP: TestKernelA/v6 (0.00s)\n"}, "TestKernelA/v6 skipped"},
		{"fail", Result{Output: pass + "--- FAIL: TestKernelC (0.00s)\n", ExitCode: 1}, "TestKernelC failed"},
	} {
		got := strings.Join(judgeGoTest(c.res, re), "\n")
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: problems %q, want %q", c.name, got, c.want)
		}
	}
}

// buildSmoke compiles testdata/smoke as a static binary.
func buildSmoke(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "smoke")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./testdata/smoke")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the smoke payload: %v\n%s", err, out)
	}
	return bin
}

// TestVMSmoke boots the VM with a payload that programs IPVS through
// moby/ipvs and reads it back, and makes a namespace and a veth pair: what
// the lvs tests will rely on.
func TestVMSmoke(t *testing.T) {
	Require(t)
	bin := buildSmoke(t)
	start := time.Now()
	res, err := Run(t.Context(), Options{Binary: bin, Timeout: 3 * time.Minute, Logf: t.Logf})
	t.Logf("run took %s; console:\n%s", time.Since(start).Round(time.Millisecond), res.Output)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || !strings.Contains(res.Output, "smoke: ok") {
		t.Fatalf("smoke payload exited %d without \"smoke: ok\"", res.ExitCode)
	}
}

// TestVMArgsAndExitCode checks that arguments reach the payload byte for
// byte, that VIGIL_IN_VM is set, and that a non-zero exit status comes
// back as the result, not as an error.
func TestVMArgsAndExitCode(t *testing.T) {
	Require(t)
	bin := buildSmoke(t)
	res, err := Run(t.Context(), Options{Binary: bin, Args: []string{"exit", "7", "it's $HOME", ""}, Timeout: 3 * time.Minute})
	if err != nil {
		t.Fatalf("%v; console:\n%s", err, res.Output)
	}
	for _, want := range []string{"arg [7]\n", "arg [it's $HOME]\n", "arg []\n", "env VIGIL_IN_VM=[1]\n"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if res.ExitCode != 7 {
		t.Errorf("exit code %d, want 7", res.ExitCode)
	}
	if t.Failed() {
		t.Logf("console:\n%s", res.Output)
	}
}

// TestVMTimeoutKillsQemu checks a hung payload ends in a timeout error,
// promptly, with the console so far.
func TestVMTimeoutKillsQemu(t *testing.T) {
	Require(t)
	bin := buildSmoke(t)
	start := time.Now()
	res, err := Run(t.Context(), Options{Binary: bin, Args: []string{"hang"}, Timeout: 30 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v, want a timeout; console:\n%s", err, res.Output)
	}
	if took := time.Since(start); took > 50*time.Second {
		t.Errorf("the run took %s after a 30s timeout: qemu was not killed", took)
	}
	if !strings.Contains(res.Output, "hanging") {
		t.Errorf("console output before the timeout is missing:\n%s", res.Output)
	}
}
