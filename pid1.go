package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// initChildEnv marks the vigil a PID 1 vigil started (runAsInit), so that
// it does not start another.
const initChildEnv = "VIGIL_INIT_CHILD"

// needsInit reports whether this process is a container's PID 1 that must
// be an init: the kernel re-parents every orphaned process to PID 1, and
// what an exec check or a notify script leaves behind (a background
// command, a daemon it started) would stay a zombie unless PID 1 reaps it.
func needsInit() bool {
	return os.Getpid() == 1 && os.Getenv(initChildEnv) == ""
}

// runAsInit is vigil as PID 1, as tini or docker --init would be: it runs
// vigil again as its only child with the same arguments, passes it the
// signals it gets, reaps every process re-parented to it, and exits as
// the child did. Reaping with wait4(-1) is safe only in a process that
// starts no other child of its own, which is why the daemon is the
// child and not this process.
func runAsInit(args []string, stderr io.Writer) int {
	self, err := os.Executable()
	if err != nil {
		self = "/proc/self/exe"
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	cmd := exec.Command(self, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), initChildEnv+"=1")
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "vigil: as PID 1, starting vigil: %v\n", err)
		return 1
	}
	child := cmd.Process.Pid
	// Signals coalesce, and a full channel drops one: the tick reaps
	// whatever a lost SIGCHLD would have announced.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case sig := <-sigs:
			switch sig {
			case syscall.SIGCHLD:
			case syscall.SIGURG:
				continue // the Go runtime's own preemption signal
			default:
				if s, ok := sig.(syscall.Signal); ok {
					syscall.Kill(child, s)
				}
				continue
			}
		case <-tick.C:
		}
		if code, done := reap(child); done {
			return code
		}
	}
}

// reap reaps every exited child; done with the exit code when child is
// one of them.
func reap(child int) (int, bool) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 {
			return 0, false
		}
		if pid == child {
			if ws.Signaled() {
				return 128 + int(ws.Signal()), true
			}
			return ws.ExitStatus(), true
		}
	}
}
