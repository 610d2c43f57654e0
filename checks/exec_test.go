package checks

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/config"
)

func execCheck(timeout time.Duration, argv ...string) config.Check {
	c := newCheck("exec")
	c.Command = config.Command(argv)
	c.Timeout = config.Duration(timeout)
	return c
}

func TestExecProbe(t *testing.T) {
	long := strings.Repeat("y", 500)
	tests := []struct {
		name   string
		argv   []string
		addr   string
		ok     bool
		reason string
	}{
		{"true", []string{"true"}, "", true, "ok (exit 0)"},
		{"false", []string{"false"}, "", false, "exit status 1"},
		{"first line of output", []string{"sh", "-c", "echo; echo '  nginx is not running '; echo more; exit 3"}, "", false, "exit status 3: nginx is not running"},
		{"stderr counts", []string{"sh", "-c", "echo oops >&2; exit 2"}, "", false, "exit status 2: oops"},
		{"long line cut", []string{"sh", "-c", "echo " + long + "; exit 1"}, "", false, "exit status 1: " + long[:200] + "..."},
		{"signal", []string{"sh", "-c", "kill -TERM $$"}, "", false, "signal: terminated"},
		{"named check env", []string{"sh", "-c", `echo "check=$VIGIL_CHECK target=${VIGIL_TARGET-unset} home=${HOME-unset}"; exit 1`}, "", false,
			"exit status 1: check=chk target=unset home=unset"},
		{"service check env", []string{"sh", "-c", `echo "check=$VIGIL_CHECK target=$VIGIL_TARGET"; exit 1`}, "10.0.0.21:8080", false,
			"exit status 1: check=chk target=10.0.0.21:8080"},
		{"missing program", []string{"/nonexistent/vigil-check"}, "", false, "start: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := probeOnce(t, "chk", Target{Check: execCheck(5*time.Second, tc.argv...), Address: tc.addr}, Options{})
			if r.ok != tc.ok || !strings.HasPrefix(r.reason, tc.reason) {
				t.Errorf("got ok=%v %q, want ok=%v %q", r.ok, r.reason, tc.ok, tc.reason)
			}
		})
	}
}

// gone reports whether pid no longer runs: reaped, or a zombie nobody has
// reaped yet (in a container without an init that reaps, orphans stay
// zombies; what matters is that they do not run).
func gone(pid int) (bool, string) {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true, ""
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true, ""
	}
	// Fields after the ")" that ends the command name: state is first.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 && s[i+2] == 'Z' {
		return true, ""
	}
	return false, "pid " + strconv.Itoa(pid) + " still running: " + s
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the script did not record its child: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %q: %v", b, err)
	}
	return pid
}

func TestExecTimeoutKillsGroup(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "child.pid")
	// The shell starts a long sleep, records its pid and waits for it: only
	// killing the whole process group ends both.
	c := execCheck(300*time.Millisecond, "sh", "-c", `sleep 60 & echo $! > "$0"; wait`, pidfile)
	start := time.Now()
	r := probeOnce(t, "slow", Target{Check: c}, Options{})
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("probe took %s with a 300ms timeout", took)
	}
	if r.ok || r.reason != "timeout after 300ms" {
		t.Errorf("got ok=%v %q, want timeout after 300ms", r.ok, r.reason)
	}
	pid := readPid(t, pidfile)
	waitFor(t, 5*time.Second, "the check's child to die", func() (bool, string) { return gone(pid) })
}

func TestExecKillsStragglers(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "child.pid")
	// Exit 0 at once but leave a child holding our output pipe: the probe
	// must neither wait for it nor leave it running.
	c := execCheck(10*time.Second, "sh", "-c", `sleep 60 & echo $! > "$0"; exit 0`, pidfile)
	start := time.Now()
	r := probeOnce(t, "bg", Target{Check: c}, Options{})
	if !r.ok {
		t.Errorf("got %q, want ok", r.reason)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("probe took %s: it waited for the background child", took)
	}
	pid := readPid(t, pidfile)
	waitFor(t, 5*time.Second, "the straggler to die", func() (bool, string) { return gone(pid) })
}

func TestExecAsScriptUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running a check as another user needs root")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	c := execCheck(5*time.Second, "sh", "-c", "echo $(id -u):$(id -g):$(pwd); exit 1")
	r := probeOnce(t, "as-nobody", Target{Check: c}, Options{ScriptUser: "nobody"})
	want := "exit status 1: " + u.Uid + ":" + u.Gid + ":/"
	if r.reason != want {
		t.Errorf("got %q, want %q", r.reason, want)
	}
}

func TestExecUnknownScriptUser(t *testing.T) {
	_, err := newProbe("x", Target{Check: execCheck(time.Second, "true")}, Options{ScriptUser: "no-such-user-vigil"})
	if err == nil || !strings.Contains(err.Error(), "script user") {
		t.Errorf("got %v, want a script user error", err)
	}
}
