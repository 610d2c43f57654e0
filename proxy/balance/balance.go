// Package balance holds vigil's pure load-balancing policies: given the
// backends as they are at this instant, pick one for a new connection or
// request. Balancers do no I/O and read no clock (time is passed in, see
// SlowstartWeight), so the proxy owns health, connection counts and time and
// the policies stay small and testable.
//
// Every balancer follows HAProxy's rules for which servers may be chosen: a
// server is usable when it is Up with a Weight above 0; primaries are used
// while any primary is usable, and only then the backups. Unlike HAProxy's
// default (the first backup takes everything unless "option allbackups"),
// vigil balances over all usable backups with the same algorithm and their
// weights, which is HAProxy's allbackups behaviour: one backup alone is
// rarely enough to carry a whole service, and a config that wants a single
// sorry server simply lists one backup.
package balance

import (
	"fmt"
	"math"
	"strings"
	"time"

	"vigil/config"
)

// Server is one backend as a balancer sees it at the moment of a pick.
type Server struct {
	// Key is the stable identity (the backend address); hashing and round
	// robin state are keyed by it, so it must be unique within one pick.
	Key string
	// Weight is the effective weight now (after slowstart); 0 takes no new traffic.
	Weight int
	// Active is the number of connections in flight (leastconn, random-of-two).
	Active int
	// Up is the health-check verdict.
	Up bool
	// Backup servers are used only while no primary is usable.
	Backup bool
}

// Balancer picks a server for one new connection or request. Implementations
// are safe for concurrent use.
type Balancer interface {
	// Pick returns the index in servers of the chosen one, or -1 when none is usable.
	// key is what hashing algorithms hash (client IP for source, request URI for uri); others ignore it.
	Pick(servers []Server, key []byte) int
}

// New returns a fresh balancer for an algorithm name as written in the
// config: roundrobin, leastconn, source, uri or random. Each service (and
// each route's backend group) needs its own, since round robin and least
// connections keep per-group state.
func New(algorithm string) (Balancer, error) {
	switch algorithm {
	case "roundrobin":
		return newRoundRobin(), nil
	case "leastconn":
		return &leastConn{}, nil
	case "source", "uri":
		// Both are the same consistent hash; they differ only in what the
		// proxy passes as key (client address or request URI).
		return rendezvous{}, nil
	case "random":
		return &random{}, nil
	}
	return nil, fmt.Errorf("balance: unknown algorithm %q (valid: %s)", algorithm, strings.Join(config.ProxyBalances, ", "))
}

// usable reports whether s may take a new connection at all.
func usable(s *Server) bool { return s.Up && s.Weight > 0 }

// tier decides which group a pick draws from: backup is false while any
// primary is usable, true when only backups are. ok is false when nothing
// at all is usable, so Pick returns -1.
func tier(servers []Server) (backup, ok bool) {
	for i := range servers {
		s := &servers[i]
		if !usable(s) {
			continue
		}
		if !s.Backup {
			return false, true
		}
		ok = true
	}
	return true, ok
}

// eligible reports whether s is usable and belongs to the chosen tier.
func eligible(s *Server, backup bool) bool { return usable(s) && s.Backup == backup }

// SlowstartWeight is the weight a server that came up sinceUp ago should
// have when the service ramps recovered servers over slowstart (HAProxy's
// "slowstart"). The weight grows linearly from weight/20 (at least 1, so a
// server that just came up gets a trickle of traffic at once rather than none,
// as HAProxy does when it leaves maintenance) to the full weight at
// sinceUp >= slowstart. slowstart <= 0 disables the ramp. A negative sinceUp
// (a caller's clock stepping back) is treated as 0, the most careful choice.
//
// Weights are integers, so a weight of 1 cannot ramp. Like HAProxy, which
// scales every user weight by 16 (BE_WEIGHT_SCALE) internally, a caller that
// wants a smooth ramp should multiply all weights of a group by the same
// factor before calling this; every balancer here only cares about ratios.
func SlowstartWeight(weight int, sinceUp, slowstart time.Duration) int {
	if weight <= 0 || slowstart <= 0 || sinceUp >= slowstart {
		return max(weight, 0)
	}
	if sinceUp < 0 {
		sinceUp = 0
	}
	// Floating point keeps the ramp exact for any duration without
	// overflowing int64 nanoseconds; this runs per server per tick, not per pick.
	frac := float64(sinceUp) / float64(slowstart)
	w := int(math.Ceil(float64(weight) * (1 + 19*frac) / 20))
	return min(max(w, 1), weight)
}
