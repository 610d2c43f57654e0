package tests

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/api"
	"vigil/tests/lab"
)

// TestSplitBrainDiagnosis: instead of flapping silently, each node names
// what is wrong and its likely cause, in the log and the status API.
// A one-way block of protocol 112 (lb2 does not hear lb1) makes lb2 master
// too; lb1, which hears lb2 keep advertising as master with a lower
// priority, reports master_conflict with "protocol 112 filtered". Then a
// password differing between the nodes (v2 PASS) makes both refuse each
// other's adverts: each reports config_mismatch naming auth_pass.
func TestSplitBrainDiagnosis(t *testing.T) {
	if _, err := lookNft(); err != nil {
		t.Skip(err)
	}
	p := newPair(t)
	dir := t.TempDir()
	config := func(node string, prio int, pass string) string {
		return fmt.Sprintf("node: %s\napi: { listen: \"\", socket: %s }\nvrrp:\n%s", node, filepath.Join(dir, node+".sock"),
			instanceYAML("VI_1", 51, prio, "1s", "10.0.0.100/24", "    version: 2\n    auth_pass: "+pass+"\n"))
	}
	status := func(node string) api.Instance {
		t.Helper()
		st := statusOver(t, filepath.Join(dir, node+".sock"))
		if len(st.Instances) != 1 {
			t.Fatalf("status %s: %d instances, want 1", node, len(st.Instances))
		}
		return st.Instances[0]
	}
	problem := func(node, kind string) (api.Problem, bool) {
		for _, pr := range status(node).Problems {
			if pr.Kind == kind {
				return pr, true
			}
		}
		return api.Problem{}, false
	}

	lb1 := startVigil(t, p.lb1, config("lb1", 150, "secret"))
	lb2 := startBackup(t, lb1, p.lb2, config("lb2", 100, "secret"))
	for _, n := range []string{"lb1", "lb2"} {
		if pr := status(n).Problems; len(pr) > 0 {
			t.Fatalf("%s reports problems on a healthy pair: %+v", n, pr)
		}
	}
	// What the status says of the instance on the wire, and what the
	// backup last heard from the master.
	lab.WaitFor(t, 10*time.Second, "lb2 to have heard a few adverts from lb1", func() (bool, string) {
		in := status("lb2")
		c := in.Counters
		return c != nil && c.AdvertsReceived >= 2 && in.LastAdvert != nil, fmt.Sprintf("%+v", in)
	})
	in := status("lb2")
	if in.Version != 2 || in.AdvertIntervalMs != 1000 || !slices.Equal(in.VIPs, []string{"10.0.0.100/24"}) ||
		in.LastAdvertFrom != p.lb1.Addr(p.lan).String() || time.Since(*in.LastAdvert) > 5*time.Second || in.Counters.AdvertsSent != 0 {
		t.Errorf("lb2's instance status: %+v, counters %+v", in, in.Counters)
	}
	if c := status("lb1").Counters; c == nil || c.AdvertsSent == 0 || len(c.Dropped) > 0 {
		t.Errorf("lb1's counters: %+v", c)
	}

	// lb2 stops hearing lb1.
	p.lb2.MustExec("nft", "add table inet vigiltest; add chain inet vigiltest in { type filter hook input priority 0; }; add rule inet vigiltest in meta l4proto 112 drop")
	lab.WaitFor(t, 15*time.Second, "lb1 to report a master conflict with lb2", func() (bool, string) {
		pr, ok := problem("lb1", "master_conflict")
		return ok && pr.Peer == p.lb2.Addr(p.lan).String() && strings.Contains(pr.Cause, "protocol 112 filtered"), fmt.Sprintf("%+v", status("lb1"))
	})
	lb1.waitLog("problem with a peer", time.Second)
	if !strings.Contains(lb1.proc.Output(), "problem=master_conflict") {
		t.Errorf("lb1 did not log the master conflict")
	}
	p.lb2.MustExec("nft", "delete table inet vigiltest")
	lb2.waitLog("from=MASTER to=BACKUP", 10*time.Second)

	// A different password on lb2: neither obeys the other.
	lb2.reload(config("lb2", 100, "other"), "config reloaded")
	for _, n := range []string{"lb1", "lb2"} {
		lab.WaitFor(t, 15*time.Second, n+" to report the password mismatch", func() (bool, string) {
			pr, ok := problem(n, "config_mismatch")
			return ok && strings.Contains(pr.Cause, "auth_pass differs"), fmt.Sprintf("%+v", status(n))
		})
	}
	if c := status("lb1").Counters; c == nil || len(c.Dropped) == 0 {
		t.Errorf("lb1 counts no dropped adverts with the passwords differing: %+v", c)
	}
	out, code := runVigilCLI(t, "status", "-s", filepath.Join(dir, "lb1.sock"))
	if code != 0 || !strings.Contains(out, "! VI_1 config_mismatch from "+p.lb2.Addr(p.lan).String()) {
		t.Errorf("vigil status does not show the problem: exit %d\n%s", code, out)
	}
}
