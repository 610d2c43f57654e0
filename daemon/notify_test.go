package daemon

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestNotifierRunsInOrderOneAtATime: hooks queued faster than they run still
// run in order and never overlap (a lock file would catch an overlap).
func TestNotifierRunsInOrderOneAtATime(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	script := filepath.Join(dir, "hook.sh")
	os.WriteFile(script, []byte(`#!/bin/sh
mkdir "`+dir+`/lock" || { echo OVERLAP >> "`+out+`"; exit 1; }
sleep 0.05
echo "$@" >> "`+out+`"
rmdir "`+dir+`/lock"
`), 0o755)
	n := NewNotifier(script, 5*time.Second, nil, quietLog())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	var want []string
	for i := range 5 {
		n.Notify("INSTANCE", "VI_1", "STATE"+strconv.Itoa(i), "100")
		want = append(want, "INSTANCE VI_1 STATE"+strconv.Itoa(i)+" 100")
	}
	cancel() // Run still drains what is queued before it returns
	<-done
	b, _ := os.ReadFile(out)
	if got := strings.TrimSpace(string(b)); got != strings.Join(want, "\n") {
		t.Errorf("hook runs:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

// TestNotifierKillsHangingHookAndItsChildren: a hook past its timeout is
// killed with its whole process group, and the next hook still runs.
func TestNotifierKillsHangingHookAndItsChildren(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	out := filepath.Join(dir, "out")
	script := filepath.Join(dir, "hook.sh")
	os.WriteFile(script, []byte(`#!/bin/sh
if [ "$1" = hang ]; then sleep 60 & echo $! > "`+pidFile+`"; wait; fi
echo "$1" >> "`+out+`"
`), 0o755)
	n := NewNotifier(script, 300*time.Millisecond, nil, quietLog())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	n.Notify("hang")
	n.Notify("next")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(out)
		if strings.TrimSpace(string(b)) == "next" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hook after a hanging one never ran; output %q", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	// The child was killed; as an orphan it may linger as a zombie until
	// init reaps it, so check its state rather than its existence.
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err == nil && !strings.Contains(string(stat), ") Z ") && syscall.Kill(pid, 0) == nil {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("the hanging hook's child %d survived the timeout", pid)
	}
}
