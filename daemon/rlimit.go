package daemon

import (
	"fmt"
	"syscall"
)

// openFiles is the open-files limit (RLIMIT_NOFILE) the daemon runs with.
type openFiles struct {
	// Soft is the limit in force: one more open file than this fails with
	// EMFILE ("too many open files").
	Soft uint64
	// Hard is the ceiling the soft limit may be raised to without privilege.
	Hard uint64
	// Was is the soft limit found at start, before raising it.
	Was uint64
}

// rlimitCalls are the two system calls raiseOpenFiles makes, passed in so
// a unit test can fake them (a test process cannot lower its hard limit
// and get it back).
type rlimitCalls struct {
	get func(*syscall.Rlimit) error
	set func(*syscall.Rlimit) error
}

// systemRlimit is RLIMIT_NOFILE of this process.
func systemRlimit() rlimitCalls {
	return rlimitCalls{
		get: func(r *syscall.Rlimit) error { return syscall.Getrlimit(syscall.RLIMIT_NOFILE, r) },
		set: func(r *syscall.Rlimit) error { return syscall.Setrlimit(syscall.RLIMIT_NOFILE, r) },
	}
}

// raiseOpenFiles raises the soft open-files limit to the hard one. Every
// proxied connection holds two descriptors (client and backend), so the
// usual soft limit of 1024 would cap a proxy at about 500 clients and then
// fail accepts with EMFILE while the node still looks healthy.
//
// Go's os package raises the limit at init already (Go 1.19 on); the
// daemon does it itself anyway so the limit it runs with is a fact it
// checked and reports (log, status API), not a runtime detail. It calls
// setrlimit only when the soft limit is below the hard one: Go restores
// the original soft limit for the programs it execs (exec checks, notify
// hooks) unless the process set the limit itself.
//
// On error the limit is what it was, and the error says why.
func raiseOpenFiles(c rlimitCalls) (openFiles, error) {
	var r syscall.Rlimit
	if err := c.get(&r); err != nil {
		return openFiles{}, fmt.Errorf("getrlimit(RLIMIT_NOFILE): %w", err)
	}
	lim := openFiles{Soft: r.Cur, Hard: r.Max, Was: r.Cur}
	if r.Cur >= r.Max {
		return lim, nil
	}
	want := syscall.Rlimit{Cur: r.Max, Max: r.Max}
	if err := c.set(&want); err != nil {
		return lim, fmt.Errorf("setrlimit(RLIMIT_NOFILE) from %d to %d: %w", r.Cur, r.Max, err)
	}
	lim.Soft = r.Max
	return lim, nil
}

// raiseOpenFilesLogged raises the limit as raiseOpenFiles does and logs
// what the daemon runs with; a limit it could not raise is a warning, not
// a reason to refuse to start.
func (d *Daemon) raiseOpenFilesLogged() openFiles {
	lim, err := raiseOpenFiles(systemRlimit())
	if err != nil {
		d.log.Warn("cannot raise the open files limit", "soft", lim.Soft, "hard", lim.Hard, "err", err)
		return lim
	}
	d.log.Info("open files limit", "soft", lim.Soft, "hard", lim.Hard, "raised_from", lim.Was)
	return lim
}
