package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPID1ReapsOrphans runs vigil as PID 1 of a new PID namespace, as in a
// container without --init, with an exec check that leaves a background
// process behind on every run. The orphans are re-parented to PID 1; vigil
// must reap them. The same run with the init turned off shows that the
// check does leave zombies, so the test can fail. SIGTERM to PID 1
// reaches the daemon, which stops, and PID 1 exits as it did.
func TestPID1ReapsOrphans(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a PID namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare not installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "vigil")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, withInit := range []bool{true, false} {
		t.Run(fmt.Sprintf("init=%v", withInit), func(t *testing.T) {
			runs := filepath.Join(t.TempDir(), "runs")
			cfg := filepath.Join(t.TempDir(), "vigil.yaml")
			os.WriteFile(cfg, []byte(fmt.Sprintf(`api: { listen: "", socket: "" }
services:
  - name: s
    listen: 127.0.0.1:%d
    mode: proxy
    protocol: tcp
    check: { type: exec, command: [sh, -c, "echo run >> %s; sleep 0.05 & exit 0"], interval: 100ms, timeout: 100ms }
    backends: ["127.0.0.1:9"]
`, freePort(t), runs)), 0o644)
			cmd := exec.Command(unshare, "--pid", "--fork", bin, "run", "-c", cfg)
			if !withInit {
				cmd.Env = append(os.Environ(), initChildEnv+"=1")
			}
			out := &strings.Builder{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() {
				for _, p := range descendants(cmd.Process.Pid) {
					syscall.Kill(p, syscall.SIGKILL)
				}
				cmd.Process.Kill()
				<-done
			})
			deadline := time.Now().Add(10 * time.Second)
			for {
				b, _ := os.ReadFile(runs)
				if strings.Count(string(b), "\n") >= 15 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the check did not run 15 times in 10 s:\n%s", out)
				}
				time.Sleep(20 * time.Millisecond)
			}
			// The last orphan may still be sleeping, or just exited.
			zombies := 0
			for _, p := range descendants(cmd.Process.Pid) {
				if state(p) == 'Z' {
					zombies++
				}
			}
			if withInit && zombies > 2 {
				t.Errorf("%d zombies after 15 checks with vigil as PID 1", zombies)
			}
			if !withInit {
				if zombies < 5 {
					t.Errorf("only %d zombies without the init: the check does not leave orphans, this test shows nothing", zombies)
				}
				return
			}
			// SIGTERM to PID 1 (unshare's child) stops the daemon.
			kids := children(cmd.Process.Pid)
			if len(kids) != 1 {
				t.Fatalf("unshare has children %v, want PID 1 alone", kids)
			}
			syscall.Kill(kids[0], syscall.SIGTERM)
			select {
			case err := <-done:
				done <- err // for the cleanup
				if err != nil {
					t.Errorf("PID 1 exited with %v after SIGTERM:\n%s", err, out)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("PID 1 still running 10 s after SIGTERM:\n%s", out)
			}
		})
	}
}

// freePort is a TCP port nothing listens on now.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// stat reads a process's state and parent from /proc.
func stat(pid int) (state byte, ppid int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command may hold spaces and parentheses
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, 0
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid
}

func state(pid int) byte { s, _ := stat(pid); return s }

// children are the processes whose parent is pid.
func children(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, pp := stat(p); pp == pid {
			out = append(out, p)
		}
	}
	return out
}

// descendants are pid's children, theirs, and so on.
func descendants(pid int) []int {
	var out []int
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		kids := children(queue[0])
		out = append(out, kids...)
		queue = append(queue, kids...)
	}
	return out
}
