package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"vigil/tests/lab"
)

// keepalived runs the real keepalived (Debian's package) in a lab host.
type keepalived struct {
	host *lab.Host
	conf string
	dir  string
	proc *lab.Proc
}

func startKeepalived(t *testing.T, h *lab.Host, conf string) *keepalived {
	t.Helper()
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		t.Skip("needs keepalived (apt-get install keepalived)")
	}
	dir := t.TempDir()
	k := &keepalived{host: h, dir: dir, conf: filepath.Join(dir, "keepalived.conf")}
	if err := os.WriteFile(k.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	k.proc = h.Start(bin, "-n", "-l", "-D", "-f", k.conf,
		"-p", filepath.Join(dir, "k.pid"), "-r", filepath.Join(dir, "vrrp.pid"), "-c", filepath.Join(dir, "check.pid"))
	return k
}

func keepalivedConf(version, prio int, advert string, auth bool) string {
	authBlock := ""
	if auth {
		authBlock = "    authentication {\n        auth_type PASS\n        auth_pass secret\n    }\n"
	}
	return fmt.Sprintf(`global_defs {
    router_id ka
    vrrp_version %d
    vrrp_garp_master_delay 0
    vrrp_garp_master_repeat 2
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority %d
    advert_int %s
%s    virtual_ipaddress {
        10.0.0.100/24
    }
}
`, version, prio, advert, authBlock)
}

// TestKeepalivedInterop runs vigil against the real keepalived, v2 with a
// PASS password and v3, with each in both roles: each side obeys the
// other's adverts, exactly one holds the VIP, and failover works both ways.
func TestKeepalivedInterop(t *testing.T) {
	if _, err := exec.LookPath("keepalived"); err != nil {
		t.Skip("needs keepalived (apt-get install keepalived)")
	}
	cases := []struct {
		name            string
		version         int
		vigilInterval   string
		kaInterval      string
		auth            bool
		vigilPrio, kaPr int
	}{
		{"v2 PASS, keepalived master", 2, "1s", "1", true, 100, 150},
		{"v2 PASS, vigil master", 2, "1s", "1", true, 150, 100},
		{"v3, keepalived master", 3, "200ms", "0.2", false, 100, 150},
		{"v3, vigil master", 3, "200ms", "0.2", false, 150, 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t)
			extra := fmt.Sprintf("    version: %d\n", tc.version)
			if tc.auth {
				extra += "    auth_pass: secret\n"
			}
			vg := startVigil(t, p.lb1, nodeConfig("lb1", instanceYAML("VI_1", 51, tc.vigilPrio, tc.vigilInterval, "10.0.0.100/24", extra)))
			ka := startKeepalived(t, p.lb2, keepalivedConf(tc.version, tc.kaPr, tc.kaInterval, tc.auth))

			first, second := p.lb1, p.lb2 // the higher priority first
			if tc.kaPr > tc.vigilPrio {
				first, second = p.lb2, p.lb1
			}
			waitOwner(t, vip4, first, p.nodes, 15*time.Second)
			reach(t, p.cli, vip4, 5*time.Second)

			// Graceful stop of the master: the other takes over.
			if first == p.lb1 {
				vg.proc.Signal(15)
				vg.proc.Wait(5 * time.Second)
			} else {
				ka.proc.Signal(15)
				ka.proc.Wait(5 * time.Second)
			}
			waitOwner(t, vip4, second, p.nodes, 15*time.Second)
			reach(t, p.cli, vip4, 5*time.Second)

			// Back: the higher priority preempts again.
			if first == p.lb1 {
				vg.restart()
			} else {
				ka = startKeepalived(t, p.lb2, keepalivedConf(tc.version, tc.kaPr, tc.kaInterval, tc.auth))
			}
			waitOwner(t, vip4, first, p.nodes, 15*time.Second)
		})
	}
}

// TestKeepalivedAuthMismatch: adverts with the wrong password are dropped,
// never obeyed, so both sides consider themselves alone (keepalived too).
func TestKeepalivedAuthMismatch(t *testing.T) {
	if _, err := exec.LookPath("keepalived"); err != nil {
		t.Skip("needs keepalived (apt-get install keepalived)")
	}
	p := newPair(t)
	startKeepalived(t, p.lb2, keepalivedConf(2, 150, "1", true))
	vg := startVigil(t, p.lb1, nodeConfig("lb1", instanceYAML("VI_1", 51, 100, "1s", "10.0.0.100/24", "    version: 2\n    auth_pass: other\n")))
	// keepalived (150) would win if its adverts were accepted; with the
	// wrong password vigil must ignore them and take the VIP as well.
	lab.WaitFor(t, 15*time.Second, "vigil to become master despite keepalived's adverts", func() (bool, string) {
		return hasAddr(p.lb1, vip4), ""
	})
	vg.waitLog("to=MASTER", time.Second)
}
