// Package script runs the programs operators hand to vigil: exec health
// checks, notify hooks and quorum hooks. It is a package of its own because
// both the checks engine and the daemon run such programs and neither owns
// the other; doing it safely (own process group, the whole group killed on
// timeout without ever hitting a reused pid, bounded output, an unprivileged
// user) should be written once.
package script

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
	"unsafe"
)

const (
	// MaxReasonOutput bounds the output quoted in a reason: one line for a
	// status page, not a log dump.
	MaxReasonOutput = 200
	// captureOutput is how much output is kept to find that line.
	captureOutput = 4096
	// pipeGrace bounds the wait for output after the process group is dead,
	// for a grandchild that escaped the group (setsid) holding our pipe.
	pipeGrace = time.Second
	// DefaultPath is used when vigil itself runs without PATH (systemd
	// units may), so programs like pidof still resolve.
	DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// Credential resolves keepalived's script_user to process credentials; ""
// means vigil's own user (nil). Resolve it once, at start, so a typo shows
// up at once rather than on every run.
func Credential(name string) (*syscall.Credential, error) {
	if name == "" {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("script user: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("script user %q: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("script user %q: gid %q: %w", name, u.Gid, err)
	}
	if int(uid) == os.Geteuid() && int(gid) == os.Getegid() {
		// Already that user: setgroups would need privileges we lack.
		return nil, nil
	}
	c := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if g, err := strconv.ParseUint(s, 10, 32); err == nil {
				c.Groups = append(c.Groups, uint32(g))
			}
		}
	}
	return c, nil
}

// Cmd is one program run.
type Cmd struct {
	// Argv is the program and its arguments.
	Argv []string
	// Env is the whole environment; keep it small, the daemon's own may hold
	// secrets an unprivileged script must not see.
	Env []string
	// Cred runs the program as another user (nil: vigil's own).
	Cred *syscall.Credential
	// KillStragglers kills the process group after a normal exit too: right
	// for a check, which is a question and must not leave processes piling
	// up every interval; wrong for a hook that starts something on purpose.
	KillStragglers bool
}

// Result is how a run ended.
type Result struct {
	// State is the exit state; nil when the program could not start.
	State *os.ProcessState
	// StartErr says why the program could not start.
	StartErr error
	// TimedOut: ctx's deadline passed and the group was killed.
	TimedOut bool
	// Canceled: ctx was canceled (not by its deadline) and the group was killed.
	Canceled bool
	// Output is the head of stdout and stderr combined.
	Output []byte
}

// Success is a clean exit 0.
func (r Result) Success() bool {
	return !r.TimedOut && !r.Canceled && r.State != nil && r.State.Success()
}

// Reason explains the result in a few words: "ok (exit 0)", "timeout after
// 1s", "exit status 1: <first line of output>".
func (r Result) Reason(timeout time.Duration) string {
	switch {
	case r.StartErr != nil:
		return "start: " + r.StartErr.Error()
	case r.TimedOut:
		return fmt.Sprintf("timeout after %s", timeout)
	case r.Canceled:
		return "canceled"
	case r.State == nil:
		return "wait: lost the process"
	case r.State.Success():
		return "ok (exit 0)"
	}
	reason := r.State.String() // "exit status 1", "signal: killed"
	if line := FirstLine(r.Output); line != "" {
		reason += ": " + line
	}
	return reason
}

// Run runs the program in its own process group in "/", until it exits or
// ctx ends; then the whole group is killed.
func Run(ctx context.Context, c Cmd) Result {
	var out headBuffer
	cmd := exec.Command(c.Argv[0], c.Argv[1:]...)
	cmd.Env = c.Env
	cmd.Dir = "/" // the script user may not be able to enter vigil's working directory
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = pipeGrace
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.Cred}
	if err := cmd.Start(); err != nil {
		return Result{StartErr: err}
	}
	pid := cmd.Process.Pid

	// Wait for the leader to exit without reaping it: while it is a zombie
	// its pid, which is the group id, cannot be reused, so killing the
	// group below can never hit an unrelated process.
	exited := make(chan error, 1)
	go func() { exited <- waitNoReap(pid) }()
	var r Result
	var werr error
	select {
	case werr = <-exited:
	case <-ctx.Done():
		r.TimedOut = errors.Is(ctx.Err(), context.DeadlineExceeded)
		r.Canceled = !r.TimedOut
		syscall.Kill(-pid, syscall.SIGKILL)
		werr = <-exited
	}
	if werr == nil && c.KillStragglers {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
	cmd.Wait()
	r.State = cmd.ProcessState
	r.Output = out.Bytes()
	return r
}

// waitNoReap blocks until process pid has exited, leaving it a zombie
// (waitid with WNOWAIT) so cmd.Wait can still reap it and report its status.
func waitNoReap(pid int) error {
	const pPID = 1     // idtype P_PID
	var info [128]byte // siginfo_t; its contents are not needed
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		switch errno {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		default:
			return fmt.Errorf("waitid %d: %w", pid, errno)
		}
	}
}

// headBuffer keeps the first captureOutput bytes written and drops the rest,
// so a chatty script cannot grow our memory.
type headBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (h *headBuffer) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if room := captureOutput - len(h.buf); room > 0 {
		h.buf = append(h.buf, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (h *headBuffer) Bytes() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.buf
}

// FirstLine is the first non-blank line of output, cut to MaxReasonOutput
// bytes on a character boundary.
func FirstLine(b []byte) string {
	s := strings.TrimLeft(string(b), " \t\r\n")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(strings.ToValidUTF8(s, "?"))
	if len(s) <= MaxReasonOutput {
		return s
	}
	cut := MaxReasonOutput
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
