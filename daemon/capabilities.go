package daemon

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"vigil/config"
)

// Linux capability numbers (linux/capability.h) of the three vigil can need.
const (
	capNetBindService = 10
	capNetAdmin       = 12
	capNetRaw         = 13
)

// capabilityNeed is one capability the config needs, with why, for the
// message an operator reads when a non-root vigil lacks it.
type capabilityNeed struct {
	name string
	why  string
}

// missingCapabilities lists the capabilities cfg needs that the effective
// set lacks. portStart is net.ipv4.ip_unprivileged_port_start: listening
// below it needs CAP_NET_BIND_SERVICE. Pure, so the table is tested without
// changing the test's own capabilities.
func missingCapabilities(cfg *config.Config, effective uint64, portStart int) []capabilityNeed {
	has := func(c int) bool { return effective&(1<<c) != 0 }
	var missing []capabilityNeed
	lvs, lowPort := false, 0
	for _, s := range cfg.Services {
		if s.Mode == "lvs" {
			lvs = true
			continue
		}
		if p := int(s.Listen.Port()); p > 0 && p < portStart && (lowPort == 0 || p < lowPort) {
			lowPort = p
		}
	}
	if len(cfg.VRRP) > 0 && !has(capNetRaw) {
		missing = append(missing, capabilityNeed{"CAP_NET_RAW", "VRRP adverts and gratuitous ARP use raw sockets"})
	}
	switch {
	case !has(capNetAdmin) && len(cfg.VRRP) > 0:
		missing = append(missing, capabilityNeed{"CAP_NET_ADMIN", "the master adds and removes its VIPs"})
	case !has(capNetAdmin) && lvs:
		missing = append(missing, capabilityNeed{"CAP_NET_ADMIN", "mode: lvs services program IPVS"})
	}
	if lowPort > 0 && !has(capNetBindService) {
		missing = append(missing, capabilityNeed{"CAP_NET_BIND_SERVICE", fmt.Sprintf("a service listens on port %d, below %d", lowPort, portStart)})
	}
	return missing
}

// checkCapabilities refuses to start a daemon that could not do what its
// config asks, with one message naming every missing capability and how to
// grant it, instead of a bare "operation not permitted" from the first
// socket. It reads the process's own sets, so it is right for root in a
// container with dropped capabilities as much as for a non-root user.
func checkCapabilities(cfg *config.Config) error {
	effective, err := effectiveCapabilities()
	if err != nil {
		return nil // no /proc: let the sockets say what is wrong
	}
	portStart := 1024
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			portStart = n
		}
	}
	missing := missingCapabilities(cfg, effective, portStart)
	if len(missing) == 0 {
		return nil
	}
	var names, reasons []string
	for _, m := range missing {
		names = append(names, m.name)
		reasons = append(reasons, m.name+": "+m.why)
	}
	return fmt.Errorf("%s: vigil runs as uid %d without %s (%s); run it as root or grant them: systemd AmbientCapabilities=%s, docker --cap-add %s",
		cfg.File, os.Getuid(), strings.Join(names, ", "), strings.Join(reasons, "; "),
		strings.Join(names, " "), strings.Join(trimCapPrefix(names), " --cap-add "))
}

func trimCapPrefix(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.TrimPrefix(n, "CAP_")
	}
	return out
}

// effectiveCapabilities reads CapEff from /proc/self/status.
func effectiveCapabilities() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapEff in /proc/self/status")
}
