package api

import (
	"fmt"
	"strings"
)

// Level is how bad a node's state is, as monitoring plugins count it
// (Nagios, Icinga, Sensu): their exit codes.
type Level int

// The levels.
const (
	OK       Level = 0
	Warning  Level = 1
	Critical Level = 2
)

// String is the level as such plugins print it.
func (l Level) String() string {
	switch l {
	case OK:
		return "OK"
	case Warning:
		return "WARNING"
	}
	return "CRITICAL"
}

// Assess says how bad st is, and why, worst first. Critical: a VRRP
// instance in fault, two masters (master_conflict), a service that cannot
// serve. Warning: an instance still starting, a peer's config that differs
// or a peer gone silent, a backend down that nobody took out, the last
// reload refused.
func Assess(st Status) (Level, []string) {
	var crit, warn []string
	for _, in := range st.Instances {
		switch in.State {
		case "fault":
			crit = append(crit, fmt.Sprintf("VRRP %s in fault (%s)", in.Name, orUnknown(in.Reason)))
		case "init":
			warn = append(warn, fmt.Sprintf("VRRP %s is starting", in.Name))
		}
		for _, p := range in.Problems {
			line := fmt.Sprintf("VRRP %s: %s with %s: %s", in.Name, p.Kind, p.Peer, p.Cause)
			if p.Kind == "master_conflict" {
				crit = append(crit, line)
			} else {
				warn = append(warn, line)
			}
		}
	}
	for _, s := range st.Services {
		if !s.Up {
			crit = append(crit, fmt.Sprintf("service %s down (%s)", s.Name, orUnknown(s.Reason)))
		}
		for _, b := range s.Backends {
			if !b.Up && b.Admin == AdminNone {
				warn = append(warn, fmt.Sprintf("service %s: backend %s down (%s)", s.Name, b.Address, orUnknown(b.Reason)))
			}
		}
	}
	if r := st.LastReload; r != nil && !r.OK {
		warn = append(warn, "last reload refused: "+r.Error)
	}
	switch {
	case len(crit) > 0:
		return Critical, append(crit, warn...)
	case len(warn) > 0:
		return Warning, warn
	}
	return OK, nil
}

// Summary is the one line a monitoring plugin prints first: the level and
// what the node runs, then the worst finding.
func Summary(st Status, level Level, findings []string) string {
	masters := 0
	for _, in := range st.Instances {
		if in.State == "master" {
			masters++
		}
	}
	up := 0
	for _, s := range st.Services {
		if s.Up {
			up++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "VIGIL %s - %s: %d VRRP instance(s), %d master; %d of %d service(s) up", level, st.Node, len(st.Instances), masters, up, len(st.Services))
	if len(findings) > 0 {
		fmt.Fprintf(&b, "; %s", findings[0])
		if len(findings) > 1 {
			fmt.Fprintf(&b, " (and %d more)", len(findings)-1)
		}
	}
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}
