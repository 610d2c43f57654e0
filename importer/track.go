package importer

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strings"
)

// A keepalived node in front of HAProxy usually tracks a script that asks
// "is HAProxy running?". Once vigil is the proxy that question has a better
// answer built in: a service is failing while vigil cannot serve it
// (listener down or too few backends up). When haproxy.cfg is imported
// alongside, such scripts become tracks of the imported services.

// aliveProgramRE matches the commands such scripts use.
var aliveProgramRE = regexp.MustCompile(`^(killall|pidof|pgrep|systemctl|service|kill|curl|wget|nc|ncat|test|\[|sh|bash)$`)

var (
	proxyNameRE = regexp.MustCompile(`\b(haproxy|nginx)\b`)
	localhostRE = regexp.MustCompile(`\b(localhost|127\.0\.0\.1)\b|\[::1\]`)
)

// aliveTarget returns "haproxy" or "nginx" when command only checks that
// that proxy is alive (killall -0 haproxy, pidof haproxy, systemctl
// is-active haproxy, curl http://localhost/...), or "".
func aliveTarget(command []string) string {
	if len(command) == 0 || !aliveProgramRE.MatchString(path.Base(command[0])) {
		return ""
	}
	if b := path.Base(command[0]); b == "sh" || b == "bash" {
		// Only an inline command says what it checks; a script file may do anything.
		if len(command) != 3 || command[1] != "-c" {
			return ""
		}
		return aliveTarget(splitCommand(command[2]))
	}
	line := strings.ToLower(strings.Join(command, " "))
	if m := proxyNameRE.FindString(line); m != "" {
		return m
	}
	if b := path.Base(command[0]); (b == "curl" || b == "wget" || b == "nc" || b == "ncat") && localhostRE.MatchString(line) {
		return "local proxy"
	}
	return ""
}

// replaceWithServices turns a track of a proxy-liveness script into tracks
// of the imported HAProxy services this instance's VIPs carry. It reports
// whether it did.
func (c *kaConverter) replaceWithServices(in *kaInstance, s *kaScript, t *kaNode, weight int) bool {
	if s.alive == "" {
		return false
	}
	if c.haproxy == nil {
		c.notes.changed(t.pos, t.key, "checks that %s is alive; it is kept as an exec check, but once vigil replaces %s it fails for good: import haproxy.cfg alongside (--haproxy) to track vigil's own services instead", s.alive, s.alive)
		return false
	}
	var tracked []string
	for _, svc := range c.haproxy {
		ap, err := netip.ParseAddrPort(svc.Listen)
		if err != nil {
			continue
		}
		if a := ap.Addr(); a.IsUnspecified() || in.vips[a] {
			tracked = append(tracked, svc.Name)
			in.out.Track = append(in.out.Track, outTrack{Service: svc.Name, Weight: weight})
		}
	}
	if len(tracked) == 0 {
		c.notes.changed(t.pos, t.key, "checks that %s is alive, but no imported HAProxy service listens on this instance's VIPs; kept as an exec check", s.alive)
		return false
	}
	each := ""
	if len(tracked) > 1 && weight != 0 {
		each = fmt.Sprintf(" (each failing service counts: two failing move the priority by %d)", 2*weight)
	}
	c.notes.changed(t.pos, t.key, "checked that %s is alive (%s); replaced by tracking vigil's own services %s with weight %d%s: they fail while vigil cannot serve them (listener down or no backend up), which covers the process being down",
		s.alive, strings.Join(s.check.Command, " "), strings.Join(tracked, ", "), weight, each)
	s.used = true
	return true
}
