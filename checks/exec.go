package checks

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
	// maxReasonOutput bounds the output quoted in a reason: one line for a
	// status page, not a log dump.
	maxReasonOutput = 200
	// captureOutput is how much output is kept to find that line.
	captureOutput = 4096
	// pipeGrace bounds the wait for output after the process group is dead,
	// for a grandchild that escaped the group (setsid) holding our pipe.
	pipeGrace = time.Second
	// defaultPath is used when vigil itself runs without PATH (systemd
	// units may), so checks like [pidof, nginx] still resolve.
	defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// execProbe runs a program; exit status 0 is up (keepalived MISC_CHECK and
// vrrp_script). The program runs in its own process group so a timeout kills
// everything it started, not just the shell on top.
func execProbe(name string, t Target, opts Options) (probeFunc, error) {
	argv := []string(t.Check.Command)
	if len(argv) == 0 {
		return nil, errors.New("exec check has no command")
	}
	timeout := t.Check.Timeout.D()
	cred, err := scriptCredential(opts.ScriptUser)
	if err != nil {
		return nil, err
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	// A small, explicit environment: the daemon's own may hold secrets (API
	// tokens) that a script run as an unprivileged user must not see.
	env := []string{"PATH=" + path, "VIGIL_CHECK=" + name}
	if t.Address != "" {
		env = append(env, "VIGIL_TARGET="+t.Address)
	}
	return func(ctx context.Context) result {
		return runScript(ctx, argv, env, cred, timeout)
	}, nil
}

// scriptCredential resolves keepalived's script_user once, when the check
// is built, so a typo shows up as a clear reason rather than per probe.
func scriptCredential(name string) (*syscall.Credential, error) {
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

func runScript(ctx context.Context, argv, env []string, cred *syscall.Credential, timeout time.Duration) result {
	var out headBuffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = "/" // the script user may not be able to enter vigil's working directory
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = pipeGrace
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	if err := cmd.Start(); err != nil {
		return fail("start: " + innermost(err).Error())
	}
	pid := cmd.Process.Pid

	// Wait for the leader to exit without reaping it: while it is a zombie
	// its pid, which is the group id, cannot be reused, so killing the
	// group below can never hit an unrelated process.
	exited := make(chan error, 1)
	go func() { exited <- waitNoReap(pid) }()
	timedOut := false
	var werr error
	select {
	case werr = <-exited:
	case <-ctx.Done():
		timedOut = true
		syscall.Kill(-pid, syscall.SIGKILL)
		werr = <-exited
	}
	if werr == nil {
		// Stragglers too: a check is a question, and whatever it left
		// running in the background would pile up every interval.
		syscall.Kill(-pid, syscall.SIGKILL)
	}
	cmd.Wait()

	line := firstLine(out.Bytes())
	switch {
	case timedOut && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fail(fmt.Sprintf("timeout after %s", timeout))
	case timedOut:
		return fail("canceled")
	case cmd.ProcessState == nil:
		return fail("wait: lost the process")
	case cmd.ProcessState.Success():
		return pass("ok (exit 0)")
	}
	reason := cmd.ProcessState.String() // "exit status 1", "signal: killed"
	if line != "" {
		reason += ": " + line
	}
	return fail(reason)
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

// firstLine is the first non-blank line of output, cut to maxReasonOutput
// bytes on a character boundary.
func firstLine(b []byte) string {
	s := strings.TrimLeft(string(b), " \t\r\n")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(strings.ToValidUTF8(s, "?"))
	if len(s) <= maxReasonOutput {
		return s
	}
	cut := maxReasonOutput
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
