package tests

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/tests/lab"
)

// TestRealserverDR: `vigil realserver --vip` makes a host a DR real
// server. Control first: with the VIP on lo and the kernel's default ARP
// settings the host answers ARP for the VIP (it would steal the VIP from
// the director). After `vigil realserver` it does not, yet it accepts
// traffic for the VIP when a director forwards it (here: the client's
// neighbour entry set to the real server's MAC, as DR rewrites the MAC).
// Running it again changes nothing; --check reports; --persist writes and
// enables a unit; --remove undoes everything.
func TestRealserverDR(t *testing.T) {
	l := lab.New(t)
	lan := l.AddNet("lan", lanPrefix)
	cli, rs := l.AddHost("client", lan), l.AddHost("rs", lan)
	vip := netip.MustParseAddr("10.0.0.100")
	nameServer(t, rs, 8080)
	run := func(args ...string) (string, error) {
		return rs.Exec(append([]string{vigilBin, "realserver"}, args...)...)
	}
	// answersARP pings the VIP from the client and reports whether the
	// client learnt a MAC for it (the real server answered ARP).
	answersARP := func() bool {
		cli.Exec("ip", "neigh", "flush", "dev", "eth0")
		cli.Exec("ping", "-c", "1", "-W", "1", vip.String())
		return neighMAC(cli, vip) != ""
	}

	rs.MustExec("ip", "addr", "add", "10.0.0.100/32", "dev", "lo")
	if !answersARP() {
		t.Fatal("control: with the VIP on lo and default sysctls the host should answer ARP for it")
	}
	rs.MustExec("ip", "addr", "del", "10.0.0.100/32", "dev", "lo")

	out, err := run("--vip", "10.0.0.100", "--vip", "fd00::100")
	if err != nil {
		t.Fatalf("vigil realserver: %v\n%s", err, out)
	}
	for _, want := range []string{"added 10.0.0.100/32 to lo", "added fd00::100/128 to lo", "set net.ipv4.conf.all.arp_ignore = 1", "set net.ipv4.conf.lo.arp_announce = 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if out, err := run("--vip", "10.0.0.100", "--vip", "fd00::100"); err != nil || !strings.Contains(out, "nothing to do") {
		t.Errorf("second run: %v\n%s", err, out)
	}
	if got := rs.MustExec("ip", "-o", "addr", "show", "dev", "lo"); !strings.Contains(got, "10.0.0.100/32") || !strings.Contains(got, "lo:vigil") || !strings.Contains(got, "fd00::100/128") {
		t.Errorf("lo after realserver:\n%s", got)
	}
	if answersARP() {
		t.Fatal("the real server answered ARP for the VIP")
	}
	// The director's DR forwarding, in effect: frames for the VIP to rs's MAC.
	cli.MustExec("ip", "neigh", "replace", vip.String(), "lladdr", macOf(t, rs, "eth0"), "dev", "eth0", "nud", "permanent")
	lab.WaitFor(t, 5*time.Second, "the real server to serve the VIP", func() (bool, string) {
		got, err := ask(cli, netip.AddrPortFrom(vip, 8080))
		return err == nil && got == "rs", fmt.Sprintf("%q %v", got, err)
	})
	if out, err := run("--check", "--vip", "10.0.0.100"); err != nil || !strings.Contains(out, "ready") {
		t.Errorf("--check: %v\n%s", err, out)
	}

	units := t.TempDir()
	if out, err := run("--persist", "--unit-dir", units, "--vip", "10.0.0.100"); err != nil || !strings.Contains(out, "enabled vigil-realserver.service") {
		t.Fatalf("--persist: %v\n%s", err, out)
	}
	unit, err := os.ReadFile(filepath.Join(units, "vigil-realserver.service"))
	if err != nil || !strings.Contains(string(unit), "realserver --vip 10.0.0.100\n") || !strings.Contains(string(unit), "realserver --remove --vip 10.0.0.100\n") {
		t.Errorf("unit: %v\n%s", err, unit)
	}
	if target, err := os.Readlink(filepath.Join(units, "multi-user.target.wants", "vigil-realserver.service")); err != nil || target != filepath.Join(units, "vigil-realserver.service") {
		t.Errorf("enable link: %q %v", target, err)
	}
	if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
		if out, err := exec.Command(analyze, "verify", "--man=no", filepath.Join(units, "vigil-realserver.service")).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}

	out, err = run("--remove", "--persist", "--unit-dir", units)
	if err != nil {
		t.Fatalf("--remove: %v\n%s", err, out)
	}
	if got := rs.MustExec("ip", "-o", "addr", "show", "dev", "lo"); strings.Contains(got, "10.0.0.100") || strings.Contains(got, "fd00::100") {
		t.Errorf("the VIP is still on lo after --remove:\n%s", got)
	}
	if got := strings.TrimSpace(rs.MustExec("cat", "/proc/sys/net/ipv4/conf/all/arp_ignore")); got != "0" {
		t.Errorf("arp_ignore after --remove: %s", got)
	}
	if _, err := os.Stat(filepath.Join(units, "vigil-realserver.service")); !os.IsNotExist(err) {
		t.Errorf("the unit is still there after --remove --persist: %v", err)
	}
	if out, err := run("--check", "--vip", "10.0.0.100"); err == nil || !strings.Contains(out, "missing: 10.0.0.100 is not on lo") {
		t.Errorf("--check after --remove: %v\n%s", err, out)
	}
}
