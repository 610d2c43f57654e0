package lab

import (
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

func TestThreeHostLabPingsAndLeavesNothing(t *testing.T) {
	var id string
	t.Run("lab", func(t *testing.T) {
		l := New(t)
		id = l.id
		n := l.AddNet("lan", netip.MustParsePrefix("10.77.0.0/24"))
		hosts := []*Host{l.AddHost("a", n), l.AddHost("b", n), l.AddHost("c", n)}
		if got := hosts[1].Addr(n); got != netip.MustParseAddr("10.77.0.2") {
			t.Errorf("b's address = %s, want 10.77.0.2", got)
		}
		for _, from := range hosts {
			for _, to := range hosts {
				if from == to {
					continue
				}
				for _, dst := range []netip.Addr{to.Addr(n), to.Addr6(n)} {
					if out, err := from.Exec("ping", "-c", "1", "-W", "2", dst.String()); err != nil {
						t.Errorf("ping %s -> %s (%s): %v\n%s", from.Name, to.Name, dst, err, out)
					}
				}
			}
		}
		// A host on no shared net is unreachable: the lab is really isolated.
		other := l.AddNet("other", netip.MustParsePrefix("10.78.0.0/24"))
		d := l.AddHost("d", other)
		if _, err := hosts[0].Exec("ping", "-c", "1", "-W", "1", d.Addr(other).String()); err == nil {
			t.Errorf("a reached d across separate nets")
		}
	})
	if id == "" {
		return // skipped: not root
	}
	if left := namespacesOf(id); len(left) > 0 {
		t.Errorf("namespaces %q are left: the lab left something behind", left)
	}
}

// namespacesOf lists the namespaces of the lab with that id: only a lab's
// own can be checked, as labs of other test binaries come and go meanwhile.
func namespacesOf(id string) []string {
	var out []string
	for _, ns := range Namespaces() {
		if strings.HasPrefix(ns, id+"-") {
			out = append(out, ns)
		}
	}
	return out
}

func TestProcessesAndDo(t *testing.T) {
	l := New(t)
	n := l.AddNet("lan", netip.MustParsePrefix("10.79.0.0/24"))
	srv, cli := l.AddHost("srv", n), l.AddHost("cli", n)

	// A listener opened inside srv with Do, dialled from cli with Do.
	var ln net.Listener
	if err := srv.Do(func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(srv.Addr(n), 7000).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("hello from srv\n"))
			c.Close()
		}
	}()
	var got []byte
	if err := cli.Do(func() error {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(srv.Addr(n), 7000).String(), 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 64)
		k, _ := c.Read(buf)
		got = buf[:k]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if string(got) != "hello from srv\n" {
		t.Errorf("got %q", got)
	}
	// Do restores the namespace: the thread is back where it started. (No
	// dial from here to check: the root namespace's traffic would leave the
	// machine, and a lab's addresses exist only inside the lab.)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	here, _ := netns.Get()
	defer here.Close()
	if err := srv.Do(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if now, _ := netns.Get(); !now.Equal(here) {
		now.Close()
		t.Errorf("Do left the thread in another namespace")
	}

	// Background processes: output captured, signals delivered, exit seen.
	p := srv.Start("sh", "-c", "echo started; ip -br addr show eth0; exec sleep 60")
	WaitFor(t, 5*time.Second, "sleep to print", func() (bool, string) {
		return strings.Contains(p.Output(), "10.79.0.1/24"), p.Output()
	})
	p.Kill()
	if _, ok := p.Wait(5 * time.Second); !ok || !p.Exited() {
		t.Fatalf("process still running after SIGKILL")
	}
	q := cli.Start("sh", "-c", "exit 3")
	if _, ok := q.Wait(5 * time.Second); !ok || q.ExitCode() != 3 {
		t.Errorf("exit code %d, want 3", q.ExitCode())
	}
}

// recordingTB captures Cleanup and Skip so a lab's teardown can be checked
// from outside the test that owns it.
type recordingTB struct {
	testing.TB
	cleanups []func()
}

func (r *recordingTB) Cleanup(f func())    { r.cleanups = append(r.cleanups, f) }
func (r *recordingTB) Helper()             {}
func (r *recordingTB) Failed() bool        { return true }
func (r *recordingTB) Logf(string, ...any) {}

func requireRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("lab: needs root to create network namespaces (run the tests as root)")
	}
}

func TestTeardownAfterPanic(t *testing.T) {
	requireRoot(t)
	tb := &recordingTB{TB: t}
	var proc *Proc
	var id string
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		l := New(tb)
		id = l.id
		n := l.AddNet("lan", netip.MustParsePrefix("10.80.0.0/24"))
		proc = l.AddHost("h", n).Start("sleep", "60")
		panic("test body blew up")
	}()
	if len(namespacesOf(id)) == 0 {
		t.Fatal("lab made no namespaces")
	}
	for i := len(tb.cleanups) - 1; i >= 0; i-- {
		tb.cleanups[i]()
	}
	if !proc.Exited() {
		t.Error("process survived teardown")
	}
	if left := namespacesOf(id); len(left) > 0 {
		t.Errorf("namespaces %q are left after teardown", left)
	}
}

func TestSweepRemovesDeadRunsOnly(t *testing.T) {
	requireRoot(t)
	// A namespace named as if by a run whose process is gone (pid 1 is alive
	// for sure, so use a pid beyond pid_max).
	dead := namePrefix + "4194305x00beef-x"
	if _, err := run("ip", "netns", "add", dead); err != nil {
		t.Fatal(err)
	}
	live := New(t) // our own run's namespaces must survive a sweep
	Sweep()
	if slices.Contains(Namespaces(), dead) {
		run("ip", "netns", "del", dead)
		t.Errorf("Sweep left %s", dead)
	}
	if !slices.Contains(Namespaces(), live.sw) {
		t.Errorf("Sweep removed a live run's namespace %s", live.sw)
	}
}
