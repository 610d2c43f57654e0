package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as "1s", "100ms" or "1m30s".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String prints the duration the way it is written in config files.
func (d Duration) String() string { return time.Duration(d).String() }

func (d *Duration) decodeScalar(s string) error {
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		// keepalived writes "advert_int 1": say what to write rather than guess the unit.
		return fmt.Errorf("%q needs a unit, like %ss or %sms", s, s, s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (examples: 1s, 100ms, 1m30s)", s)
	}
	if v < 0 {
		return fmt.Errorf("%s must not be negative", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML prints durations as strings so the effective config round-trips.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// decodeScalar accepts keepalived's virtual_ipaddress line form:
// "ADDR[/LEN] [dev DEV] [label LABEL] [scope SCOPE]".
func (v *VIP) decodeScalar(s string) error {
	words := strings.Fields(s)
	if len(words) == 0 {
		return fmt.Errorf("empty VIP")
	}
	p, err := parseVIPAddress(words[0])
	if err != nil {
		return err
	}
	v.Address = p
	rest := words[1:]
	for len(rest) > 0 {
		if len(rest) < 2 {
			return fmt.Errorf("%q: %q needs a value", s, rest[0])
		}
		switch rest[0] {
		case "dev":
			v.Dev = rest[1]
		case "label":
			v.Label = rest[1]
		case "scope":
			v.Scope = rest[1]
		default:
			return fmt.Errorf("%q: unknown option %q (want dev, label or scope)", s, rest[0])
		}
		rest = rest[2:]
	}
	return nil
}

// parseVIPAddress accepts an address with or without prefix length; without,
// it is a host route (/32, /128), as keepalived does.
func parseVIPAddress(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP prefix like 10.0.0.100/24", s)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// decodeScalar is the shorthand "10.0.0.21:8080".
func (b *Backend) decodeScalar(s string) error {
	b.Address = s
	return nil
}

// StatusRange is an inclusive range of HTTP status codes. In YAML: 200,
// "200-299" or "2xx".
type StatusRange struct {
	Min, Max int
}

// Contains reports whether code is in the range.
func (r StatusRange) Contains(code int) bool { return code >= r.Min && code <= r.Max }

// String prints the range as it is written.
func (r StatusRange) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(r.Min)
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

// MarshalYAML prints the range as it is written.
func (r StatusRange) MarshalYAML() (any, error) { return r.String(), nil }

func (r *StatusRange) decodeScalar(s string) error {
	bad := fmt.Errorf("%q is not a status code, range (200-299) or class (2xx)", s)
	switch {
	case len(s) == 3 && strings.HasSuffix(strings.ToLower(s), "xx"):
		c, err := strconv.Atoi(s[:1])
		if err != nil {
			return bad
		}
		r.Min, r.Max = c*100, c*100+99
	case strings.Contains(s, "-"):
		lo, hi, _ := strings.Cut(s, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil {
			return bad
		}
		r.Min, r.Max = a, b
	default:
		c, err := strconv.Atoi(s)
		if err != nil {
			return bad
		}
		r.Min, r.Max = c, c
	}
	if r.Min < 100 || r.Max > 599 || r.Min > r.Max {
		return fmt.Errorf("%q is outside the HTTP status codes 100..599", s)
	}
	return nil
}

// Command is a program and its arguments. In YAML a list, or a string split on
// spaces ("pidof nginx"); a string with shell syntax is refused rather than
// run in a way the user did not mean.
type Command []string

func (c *Command) decodeScalar(s string) error {
	if strings.ContainsAny(s, "\"'`$|&;<>(){}*?\\") {
		return fmt.Errorf("%q has shell syntax; write a list, for example [sh, -c, %q]", s, s)
	}
	*c = strings.Fields(s)
	return nil
}

// decodeScalar is the shorthand that names the target alone: "stdout",
// "/var/log/vigil/web.log", "off".
func (a *AccessLog) decodeScalar(s string) error {
	a.To = s
	return nil
}
