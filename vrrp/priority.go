package vrrp

import (
	"fmt"
	"strings"
)

// TrackStatus is the current result of one thing an instance tracks (a
// health check, an interface, the node's own proxy), with keepalived's
// weight semantics so imported configs keep their meaning:
//   - Weight < 0 subtracts |Weight| while the track is failing;
//   - Weight > 0 adds Weight while the track is healthy;
//   - Weight 0 puts the instance in Fault while the track is failing.
type TrackStatus struct {
	// Name appears verbatim in the reason, so it should say what kind of
	// track it is, e.g. "check nginx-alive" or "interface eth1".
	Name string
	// Weight is the priority adjustment (or 0 for fault), see above.
	Weight int
	// Failing is the track's current verdict.
	Failing bool
}

// Effective computes an instance's effective priority from its configured
// base priority and its tracks, and whether a weight-0 track puts it in
// Fault. It is pure so the runner can recompute it on every track change
// and feed the result to the Machine as PriorityChanged / FaultChanged.
//
// The result is clamped to 1..254: 0 would read as "resigning" on the wire
// and 255 claims address ownership, which tracking must never grant. A base
// of 255 (the owner) stays 255 whatever the weights, since the owner really
// holds the addresses; weight-0 faults still apply to it.
//
// reason lists, in track order, what moved the priority or caused the
// fault, e.g. "check nginx-alive failing (-60)"; it is empty when the base
// priority stands unchanged and there is no fault.
func Effective(base uint8, tracks []TrackStatus) (priority uint8, fault bool, reason string) {
	if base == 0 {
		base = 1 // 0 is not a priority a router may run with
	}
	owner := base == 255
	sum := int(base)
	var parts []string
	for _, t := range tracks {
		switch {
		case t.Weight == 0:
			if t.Failing {
				fault = true
				parts = append(parts, t.Name+" failing (fault)")
			}
		case owner:
			// Weights never move the owner; nothing to report.
		case t.Weight < 0:
			if t.Failing {
				sum += t.Weight
				parts = append(parts, fmt.Sprintf("%s failing (%d)", t.Name, t.Weight))
			}
		default:
			if !t.Failing {
				sum += t.Weight
				parts = append(parts, fmt.Sprintf("%s healthy (+%d)", t.Name, t.Weight))
			}
		}
	}
	switch {
	case owner:
		priority = 255
	case sum < 1:
		priority = 1
		parts = append(parts, "clamped to 1")
	case sum > 254:
		priority = 254
		parts = append(parts, "clamped to 254")
	default:
		priority = uint8(sum)
	}
	return priority, fault, strings.Join(parts, ", ")
}
