package config

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Host answers questions about the machine the config is meant for. Validation
// asks it for facts a config file cannot prove by itself.
type Host interface {
	// InterfaceExists reports whether a network interface of that name exists.
	InterfaceExists(name string) bool
	// FileExists reports whether path names an existing file.
	FileExists(path string) bool
	// ProgramExists reports whether a program can be found (absolute or in PATH).
	ProgramExists(name string) bool
	// DirExists reports whether path names an existing directory.
	DirExists(path string) bool
	// SocketExists reports whether path names an existing unix socket.
	SocketExists(path string) bool
	// GroupExists reports whether a group of that name or number exists.
	GroupExists(name string) bool
	// KeyPairLoads reports why a PEM certificate chain and its key do not
	// load as a TLS key pair (nil when they do).
	KeyPairLoads(cert, key string) error
}

type validator struct {
	d          *decoder
	host       Host
	strictHost bool
	problems   []Problem
}

func (v *validator) posOf(path string) Pos {
	for p := path; p != ""; p = parentPath(p) {
		if pos, ok := v.d.pos[p]; ok {
			return pos
		}
	}
	return Pos{}
}

// parentPath strips the last segment: "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a".
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

func (v *validator) add(warning bool, path, format string, args ...any) {
	if v.d.bad[path] {
		return // the decoder already said what is wrong here
	}
	v.problems = append(v.problems, Problem{
		File: v.d.file, Pos: v.posOf(path), Path: path,
		Message: fmt.Sprintf(format, args...), Warning: warning,
	})
}

func (v *validator) errorf(path, format string, args ...any) { v.add(false, path, format, args...) }

func (v *validator) warnf(path, format string, args ...any) { v.add(true, path, format, args...) }

// hostf reports a fact about this machine: an error where the config must run
// here (vigil run), a warning where it may be meant for another machine (vigil check).
func (v *validator) hostf(path, format string, args ...any) {
	v.add(!v.strictHost, path, format, args...)
}

func (v *validator) isSet(path string) bool {
	_, ok := v.d.pos[path]
	return ok
}

func instancePath(i int) string { return fmt.Sprintf("vrrp[%d]", i) }

func servicePath(i int) string { return fmt.Sprintf("services[%d]", i) }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

func (v *validator) name(path, name, what string) {
	switch {
	case name == "":
		v.errorf(path, "required: a name for this %s", what)
	case !nameRE.MatchString(name):
		v.errorf(path, "%q is not a valid name: use letters, digits, '_', '.', '-' (at most 64, starting with a letter or digit)", name)
	}
}

func (v *validator) intRange(path string, val, lo, hi int) bool {
	if val < lo || val > hi {
		v.errorf(path, "%d is out of range %d..%d", val, lo, hi)
		return false
	}
	return true
}

func (v *validator) positive(path string, d Duration) {
	if d <= 0 {
		v.errorf(path, "must be more than 0s")
	}
}

func (v *validator) oneOf(path, val string, allowed ...string) bool {
	if slices.Contains(allowed, val) {
		return true
	}
	v.errorf(path, "%q is not one of %s", val, strings.Join(allowed, ", "))
	return false
}

func (v *validator) iface(path, name string) {
	if len(name) > 15 {
		v.errorf(path, "%q is longer than 15 bytes, the Linux limit for interface names", name)
		return
	}
	if v.host != nil && !v.host.InterfaceExists(name) {
		v.hostf(path, "interface %q does not exist on this host", name)
	}
}

func (v *validator) program(path, prog string) {
	if !filepath.IsAbs(prog) {
		v.errorf(path, "%q must be an absolute path", prog)
		return
	}
	if v.host != nil && !v.host.ProgramExists(prog) {
		v.hostf(path, "%q does not exist or is not executable on this host", prog)
	}
}

func (v *validator) file(path, file string) {
	if v.host != nil && !v.host.FileExists(file) {
		v.hostf(path, "file %q does not exist on this host", file)
	}
}

func (v *validator) hostPort(path, s string) (host string, port int, ok bool) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		v.errorf(path, "%q is not host:port (IPv6 in brackets: [2001:db8::1]:80)", s)
		return "", 0, false
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		v.errorf(path, "%q: port must be 1..65535", s)
		return "", 0, false
	}
	if h == "" {
		v.errorf(path, "%q: host is missing", s)
		return "", 0, false
	}
	return h, n, true
}

// suggest adds a "did you mean" for a name that refers to another part of the config.
func suggest(name string, known []string) string {
	if len(known) > 1000 {
		return "" // keeps validation linear on huge (alias-expanded) configs
	}
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(name, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

func (v *validator) config(c *Config) {
	if c.Node == "" {
		v.errorf("node", "required: this node's name (the hostname could not be read)")
	}
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")
	if c.Log.Access != nil {
		v.accessLog("log.access", c.Log.Access)
	}
	v.api(&c.API)
	if c.Nice < -20 || c.Nice > 19 {
		v.errorf("nice", "%d is not a nice value: want -20 (first) to 19 (last)", c.Nice)
	}

	for i := range c.VRRP {
		v.instance(i, &c.VRRP[i], c)
	}
	v.instancesTogether(c)
	v.syncGroups(c)

	names := make([]string, 0, len(c.Checks))
	for n := range c.Checks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		path := "checks." + n
		if !nameRE.MatchString(n) {
			v.errorf(path, "%q is not a valid name: use letters, digits, '_', '.', '-' (at most 64, starting with a letter or digit)", n)
		}
		if c.Checks[n] == nil {
			v.errorf(path, "empty check: set at least its type")
			continue
		}
		v.check(path, c.Checks[n], true)
		if !checkTracked(c, n) {
			v.warnf(path, "not tracked by any vrrp instance, so it changes nothing")
		}
	}

	for i := range c.Services {
		v.service(i, &c.Services[i], c)
	}
	v.servicesTogether(c)
	v.lvsGlobal(c)
	v.alerts(&c.Alerts)
}

func (v *validator) api(a *API) {
	if a.Listen != "" {
		h, p, err := net.SplitHostPort(a.Listen)
		n, perr := strconv.Atoi(p)
		if err != nil || perr != nil || n < 1 || n > 65535 {
			v.errorf("api.listen", "%q is not host:port like 127.0.0.1:9653 (\"\" turns the API off)", a.Listen)
		} else if h != "" && h != "localhost" {
			if _, err := netip.ParseAddr(h); err != nil {
				v.errorf("api.listen", "%q: host must be an IP address, localhost or empty (all addresses)", a.Listen)
			}
		}
	}
	if a.Socket != "" && !filepath.IsAbs(a.Socket) {
		v.errorf("api.socket", "%q must be an absolute path", a.Socket)
	}
	switch {
	case a.SocketGroup != "" && a.Socket == "":
		v.errorf("api.socket_group", "there is no socket (api.socket is \"\") for the group to own")
	case a.SocketGroup != "" && v.host != nil && !v.host.GroupExists(a.SocketGroup):
		v.hostf("api.socket_group", "group %q does not exist on this host", a.SocketGroup)
	}
	if a.Token != "" && a.TokenFile != "" {
		v.errorf("api.token_file", "set token or token_file, not both")
	}
	if a.TokenFile != "" {
		v.file("api.token_file", a.TokenFile)
	}
}

// Runnable reports whether c gives the daemon anything to run: vigil run
// refuses a config without a VRRP instance or a service, and vigil check
// says so too, although such a file is valid as far as it goes.
func Runnable(c *Config) error {
	if len(c.VRRP) == 0 && len(c.Services) == 0 {
		return fmt.Errorf("%s: nothing to run: no vrrp instances and no services", c.File)
	}
	return nil
}
