package daemon

import (
	"errors"
	"syscall"
	"testing"
)

// TestRaiseOpenFiles: the soft limit goes up to the hard one, setrlimit is
// not called when there is nothing to raise, and a refused setrlimit
// leaves the limit as it was and says so.
func TestRaiseOpenFiles(t *testing.T) {
	refused := errors.New("operation not permitted")
	for _, c := range []struct {
		name       string
		soft, hard uint64
		setErr     error
		want       openFiles
		wantSet    bool
		wantErr    bool
	}{
		{"raised", 1024, 524288, nil, openFiles{Soft: 524288, Hard: 524288, Was: 1024}, true, false},
		{"already at hard", 65536, 65536, nil, openFiles{Soft: 65536, Hard: 65536, Was: 65536}, false, false},
		{"refused", 1024, 4096, refused, openFiles{Soft: 1024, Hard: 4096, Was: 1024}, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var set *syscall.Rlimit
			calls := rlimitCalls{
				get: func(r *syscall.Rlimit) error { r.Cur, r.Max = c.soft, c.hard; return nil },
				set: func(r *syscall.Rlimit) error { v := *r; set = &v; return c.setErr },
			}
			got, err := raiseOpenFiles(calls)
			if got != c.want || (err != nil) != c.wantErr {
				t.Errorf("raiseOpenFiles = %+v, %v; want %+v, error %v", got, err, c.want, c.wantErr)
			}
			if (set != nil) != c.wantSet {
				t.Fatalf("setrlimit called: %v, want %v", set != nil, c.wantSet)
			}
			if set != nil && (set.Cur != c.hard || set.Max != c.hard) {
				t.Errorf("setrlimit(%+v), want soft = hard = %d", *set, c.hard)
			}
		})
	}
	failing := rlimitCalls{get: func(*syscall.Rlimit) error { return refused }}
	if _, err := raiseOpenFiles(failing); !errors.Is(err, refused) {
		t.Errorf("getrlimit failing: err %v", err)
	}
}

// TestRaiseOpenFilesForReal lowers this test process's soft limit and has
// the real system calls raise it back to the hard limit.
func TestRaiseOpenFilesForReal(t *testing.T) {
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	if orig.Max < 512 {
		t.Skipf("hard limit %d too low to lower and raise", orig.Max)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig) })
	low := syscall.Rlimit{Cur: 256, Max: orig.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	got, err := raiseOpenFiles(systemRlimit())
	if err != nil {
		t.Fatal(err)
	}
	var now syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now)
	if got.Was != 256 || got.Soft != orig.Max || now.Cur != orig.Max {
		t.Errorf("raised %+v, limit now %+v; want soft %d from 256", got, now, orig.Max)
	}
}
