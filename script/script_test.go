package script

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFirstLine(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct{ in, want string }{
		{"", ""},
		{"one line\n", "one line"},
		{"\n\n  first\nsecond\n", "first"},
		{"first\r\nsecond", "first"},
		{long, long[:200] + "..."},
		{strings.Repeat("é", 150), strings.Repeat("é", 100) + "..."}, // 2 bytes each: cut on a rune boundary
		{"bad \xff byte", "bad ? byte"},
	}
	for _, tc := range tests {
		if got := FirstLine([]byte(tc.in)); got != tc.want {
			t.Errorf("FirstLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRunReasons(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.sh")
	os.WriteFile(ok, []byte("#!/bin/sh\nexit 0\n"), 0o755)
	bad := filepath.Join(dir, "bad.sh")
	os.WriteFile(bad, []byte("#!/bin/sh\necho 'nginx is not running' >&2\nexit 3\n"), 0o755)
	slow := filepath.Join(dir, "slow.sh")
	os.WriteFile(slow, []byte("#!/bin/sh\nsleep 30\n"), 0o755)
	for _, tc := range []struct {
		argv    []string
		timeout time.Duration
		want    string
		success bool
	}{
		{[]string{ok}, time.Second, "ok (exit 0)", true},
		{[]string{bad}, time.Second, "exit status 3: nginx is not running", false},
		{[]string{slow}, 200 * time.Millisecond, "timeout after 200ms", false},
		{[]string{filepath.Join(dir, "missing")}, time.Second, "start: fork/exec " + filepath.Join(dir, "missing") + ": no such file or directory", false},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
		r := Run(ctx, Cmd{Argv: tc.argv, Env: []string{"PATH=" + DefaultPath}})
		cancel()
		if got := r.Reason(tc.timeout); got != tc.want || r.Success() != tc.success {
			t.Errorf("%v: reason %q success %v, want %q %v", tc.argv, got, r.Success(), tc.want, tc.success)
		}
	}
}
