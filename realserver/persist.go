package realserver

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// UnitName is the systemd unit --persist writes.
const UnitName = "vigil-realserver.service"

// Unit is a oneshot systemd unit that prepares the host at boot with the
// given binary and VIPs, and undoes it when stopped.
func Unit(binary string, vips []netip.Addr) string {
	var args []string
	for _, v := range vips {
		args = append(args, "--vip", v.String())
	}
	a := strings.Join(args, " ")
	return fmt.Sprintf(`# Written by "vigil realserver --persist": this host is an LVS DR/TUN real
# server for the VIPs below. "vigil realserver --persist --remove" deletes it.
[Unit]
Description=vigil: LVS real server (VIPs on lo, ARP sysctls)
After=network-pre.target
Before=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=%[1]s realserver %[2]s
ExecStop=%[1]s realserver --remove %[2]s

[Install]
WantedBy=multi-user.target
`, binary, a)
}

// Persist writes the unit into dir (/etc/systemd/system) and enables it
// the way systemctl enable does, with a link in multi-user.target.wants,
// so it works without a running systemd (in an image build, say).
func Persist(dir, binary string, vips []netip.Addr) ([]Change, error) {
	path := filepath.Join(dir, UnitName)
	unit := Unit(binary, vips)
	var changes []Change
	if old, err := os.ReadFile(path); err != nil || string(old) != unit {
		if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
			return nil, fmt.Errorf("realserver: write %s: %w", path, err)
		}
		changes = append(changes, Change{"wrote " + path})
	}
	wants := filepath.Join(dir, "multi-user.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		return changes, fmt.Errorf("realserver: %w", err)
	}
	link := filepath.Join(wants, UnitName)
	if target, err := os.Readlink(link); err != nil || target != path {
		os.Remove(link)
		if err := os.Symlink(path, link); err != nil {
			return changes, fmt.Errorf("realserver: enable %s: %w", UnitName, err)
		}
		changes = append(changes, Change{"enabled " + UnitName})
	}
	return changes, nil
}

// Unpersist removes what Persist wrote.
func Unpersist(dir string) ([]Change, error) {
	var changes []Change
	for _, p := range []string{filepath.Join(dir, "multi-user.target.wants", UnitName), filepath.Join(dir, UnitName)} {
		err := os.Remove(p)
		switch {
		case err == nil:
			changes = append(changes, Change{"removed " + p})
		case !os.IsNotExist(err):
			return changes, fmt.Errorf("realserver: %w", err)
		}
	}
	return changes, nil
}
