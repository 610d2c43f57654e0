package tests

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"vigil/tests/lab"
)

// TestGracefulStopServing stops the master of a proxy service with
// SIGTERM while a client opens a new connection through the VIP every
// 10 ms: the master keeps its VIP and keeps accepting until the backup has
// taken over, so no connection is refused (before the instances were
// stopped ahead of the services, six were; keepalived + HAProxy refuse
// them for Skew_Time too). A connection the old master accepted just
// before the successor's GARP moves the client can still lose its answer:
// the client's next packet reaches the new master, which resets it. A
// capture shows that reset can land before a busy client's connect has
// returned, so a reset during the dial is such a loss, not a refusal;
// losses are counted and logged.
func TestGracefulStopServing(t *testing.T) {
	l := lab.New(t)
	lan := l.AddNet("lan", lanPrefix)
	lb1h, lb2h, cli, be := l.AddHost("lb1", lan), l.AddHost("lb2", lan), l.AddHost("client", lan), l.AddHost("be1", lan)
	nodes := []*lab.Host{lb1h, lb2h}
	nameServer(t, be, 9000)
	svc := fmt.Sprintf(`services:
  - name: app
    listen: 10.0.0.100:8080
    mode: proxy
    protocol: tcp
    check: { type: tcp, interval: 100ms, timeout: 100ms, rise: 1, fall: 2 }
    backends: ["%s:9000"]
`, be.Addr(lan))
	lb1 := startVigil(t, lb1h, nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", ""))+svc)
	startBackup(t, lb1, lb2h, nodeConfig("lb2", instanceYAML("VI_1", 51, 100, "100ms", "10.0.0.100/24", ""))+svc)
	waitOwner(t, vip4, lb1h, nodes, 10*time.Second)
	addr := netip.AddrPortFrom(vip4, 8080)
	lab.WaitFor(t, 5*time.Second, "the service through lb1", func() (bool, string) {
		got, err := ask(cli, addr)
		return err == nil && got == "be1", fmt.Sprintf("%q %v", got, err)
	})

	probe := startProber(t, cli, addr, 10*time.Millisecond, true, func(got string, err error) string {
		switch {
		case err == nil && got == "be1":
			return ""
		case isDialError(err):
			return "refused"
		default:
			return "lost"
		}
	})
	probe.waitProbes(t, 10, "probes before the stop")

	if err := lb1.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitOwner(t, vip4, lb2h, nodes, 5*time.Second)
	lab.WaitFor(t, 10*time.Second, "lb1 to exit", func() (bool, string) { return lb1.proc.Exited(), lb1.proc.State() })
	probe.waitProbes(t, 20, "probes after the stop")
	probe.stop()
	if f := probe.count("refused"); f != 0 {
		_, last := probe.failures()
		t.Errorf("%d of %d client connections could not be made across the graceful stop; last: %v", f, probe.probes.Load(), last)
	}
	t.Logf("%d probes, %d refused, %d accepted but unanswered", probe.probes.Load(), probe.count("refused"), probe.count("lost"))
	if code := lb1.proc.ExitCode(); code != 0 {
		t.Errorf("lb1 exit code %d after SIGTERM", code)
	}
}

// isDialError reports whether err happened while connecting, other than a
// reset: only an established connection is reset (a SYN nobody takes is
// refused), so that is an answer lost, not a connection refused.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && !errors.Is(err, syscall.ECONNRESET)
}
