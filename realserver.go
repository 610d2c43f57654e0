package main

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"vigil/realserver"
)

// vipList is a repeatable --vip flag.
type vipList []netip.Addr

func (v *vipList) String() string {
	var s []string
	for _, a := range *v {
		s = append(s, a.String())
	}
	return strings.Join(s, ",")
}

func (v *vipList) Set(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("not an IP address: %q", s)
	}
	*v = append(*v, a.Unmap())
	return nil
}

func cmdRealserver(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("realserver", `realserver --vip ADDR [--vip ADDR ...] [--remove] [--persist] [--check]

Prepare this host as a real server behind an LVS director in DR or TUN
mode: each VIP on lo (/32, /128), and arp_ignore=1, arp_announce=2 on all
and lo, so the host accepts traffic for the VIP but never answers ARP for
it. Idempotent. --remove undoes it (without --vip: every VIP it added);
--persist also writes and enables a systemd unit that does it at boot
(with --remove: deletes the unit); --check only reports what is missing
(exit 1 if anything is).`, stderr)
	var vips vipList
	fs.Var(&vips, "vip", "a virtual IP `address` (repeat for several)")
	remove := fs.Bool("remove", false, "undo: take the VIPs off lo; reset the sysctls when none is left")
	persist := fs.Bool("persist", false, "also write and enable a systemd unit (with --remove: delete it)")
	check := fs.Bool("check", false, "report what is missing, change nothing")
	unitDir := fs.String("unit-dir", "/etc/systemd/system", "where --persist writes the unit")
	if code, stop := parseFlags(fs, args, stdout); stop {
		return code
	}
	if len(vips) == 0 && !*remove {
		fmt.Fprintln(stderr, "vigil realserver: give at least one --vip")
		return 2
	}
	host := realserver.NewHost()
	if *check {
		missing, err := host.Check(vips)
		if err != nil {
			fmt.Fprintf(stderr, "vigil realserver: %v\n", err)
			return 1
		}
		for _, m := range missing {
			fmt.Fprintln(stdout, "missing:", m)
		}
		if len(missing) > 0 {
			return 1
		}
		fmt.Fprintf(stdout, "ready: %s\n", vips.String())
		return 0
	}
	var changes []realserver.Change
	var err error
	if *remove {
		changes, err = host.Remove(vips)
		if err == nil && *persist {
			var more []realserver.Change
			more, err = realserver.Unpersist(*unitDir)
			changes = append(changes, more...)
		}
	} else {
		changes, err = host.Apply(vips)
		if err == nil && *persist {
			var self string
			if self, err = os.Executable(); err == nil {
				self, _ = filepath.EvalSymlinks(self)
				var more []realserver.Change
				more, err = realserver.Persist(*unitDir, self, vips)
				changes = append(changes, more...)
			}
		}
	}
	for _, c := range changes {
		fmt.Fprintln(stdout, c.What)
	}
	if err != nil {
		fmt.Fprintf(stderr, "vigil realserver: %v\n", err)
		return 1
	}
	if len(changes) == 0 {
		fmt.Fprintln(stdout, "nothing to do: already in place")
	}
	return 0
}
