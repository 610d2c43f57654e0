package daemon

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// Why the config's nice defaults to -10, the value the daemon runs at when
// it may (root, or CAP_SYS_NICE). Measured on 2 cores saturated by wrk
// through the master's own proxy (tests/load_test.go, 50 ms adverts): at nice 0 the master's
// adverts left with gaps of up to 0.3-1 s, past the backup's 0.18 s
// Master_Down_Interval, and the backup took over 1-3 times a minute; at
// -10 the longest gap was 0.135 s and no transition happened. The time
// lost was the OS not running vigil's threads (wrk, backends, other
// daemons), not VRRP waiting behind proxy goroutines in the Go scheduler:
// pinning the VRRP loop to one high-priority thread would not help, since
// that thread must still get a P from a thread the OS has descheduled.
// keepalived's answer is the same (vrrp_priority / process_priority). The
// cost: on a box shared with CPU-hungry neighbours (bench/proxy.sh runs
// wrk and nginx beside the proxy) vigil takes their CPU first, which can
// lower its own throughput; nice: 0 opts out.

// raiseSchedPriority sets every thread of the process to nice (Linux
// nice is per thread; threads made later inherit it from the thread that
// makes them, which is one of these). A process already at nice or
// higher priority (systemd Nice=-15, say) is left alone. It returns the
// nice value the process runs at.
func raiseSchedPriority(nice int) (int, error) {
	// getpriority(2) as a system call returns 20 - nice, so it is never
	// negative (the libc wrapper converts; Go's does not).
	raw, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		return 0, fmt.Errorf("getpriority: %w", err)
	}
	current := 20 - raw
	if current <= nice {
		return current, nil
	}
	// Twice: a thread the runtime starts during the first pass was cloned
	// from one not yet changed.
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return current, fmt.Errorf("listing threads: %w", err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil && !errors.Is(err, syscall.ESRCH) {
				return current, fmt.Errorf("setpriority(%d) on thread %d: %w", nice, tid, err)
			}
		}
	}
	return nice, nil
}

// raiseSchedPriorityLogged raises the priority as raiseSchedPriority does
// and logs the outcome. Without the privilege the daemon runs on at its
// nice value, warned: VRRP may then miss adverts when the node's CPUs are
// saturated.
func (d *Daemon) raiseSchedPriorityLogged() {
	want := d.cfg.Nice
	nice, err := raiseSchedPriority(want)
	if err != nil {
		d.log.Warn("cannot raise the scheduling priority (needs CAP_SYS_NICE); under CPU saturation VRRP adverts may be late and a backup may take over",
			"nice", nice, "want", want, "err", err)
		return
	}
	d.log.Info("scheduling priority", "nice", nice)
}
