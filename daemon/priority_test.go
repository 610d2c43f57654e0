package daemon

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// threadNices reads the nice value of every thread of this process.
func threadNices(t *testing.T) map[int]int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	nices := map[int]int{}
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/stat")
		if err != nil {
			continue // the thread ended
		}
		// Fields after the ")" closing the command: state is the 3rd
		// field of the line, nice the 19th.
		rest := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		nice, _ := strconv.Atoi(rest[16])
		tid, _ := strconv.Atoi(task.Name())
		nices[tid] = nice
	}
	return nices
}

// TestRaiseSchedPriority lowers the nice value of every thread of the test
// process (root only), and leaves a process that is already higher alone.
func TestRaiseSchedPriority(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_SYS_NICE) to raise the priority")
	}
	restore := threadNices(t)
	t.Cleanup(func() {
		for tid, n := range restore {
			syscall.Setpriority(syscall.PRIO_PROCESS, tid, n)
		}
	})
	got, err := raiseSchedPriority(-3)
	if err != nil || got != -3 {
		t.Fatalf("raiseSchedPriority(-3) = %d, %v", got, err)
	}
	for tid, n := range threadNices(t) {
		if n != -3 {
			t.Errorf("thread %d at nice %d, want -3", tid, n)
		}
	}
	if got, err := raiseSchedPriority(-1); err != nil || got != -3 {
		t.Errorf("raiseSchedPriority(-1) at -3 = %d, %v; want -3 left alone", got, err)
	}
}
