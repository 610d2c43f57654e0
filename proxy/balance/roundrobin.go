package balance

import "sync"

// roundRobin is nginx's smooth weighted round robin: every pick adds each
// server's weight to its running score, the highest score wins and pays back
// the total. Over any window of total-weight picks each server is chosen
// exactly weight times, and picks of a heavy server are spread out rather
// than sent in a burst (weights 5,1,1 give a a b a c a a).
//
// Scores are keyed by Server.Key, not by index, so servers may be added,
// removed, reordered or go down between picks.
type roundRobin struct {
	mu    sync.Mutex
	gen   uint64 // counts picks; entries remember the last pick that saw them
	state map[string]*rrEntry
	// slots caches the entry last seen at each index, so a pick over an
	// unchanged list compares keys (usually the same string, which is a
	// pointer check) instead of hashing every key into the map.
	slots []*rrEntry
}

type rrEntry struct {
	key     string
	current int
	seen    uint64
}

func newRoundRobin() *roundRobin {
	return &roundRobin{state: make(map[string]*rrEntry)}
}

// Pick implements Balancer.
func (b *roundRobin) Pick(servers []Server, _ []byte) int {
	backup, ok := tier(servers)
	if !ok {
		return -1
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gen++
	total, best := 0, -1
	var bestE *rrEntry
	for i := range servers {
		s := &servers[i]
		if !eligible(s, backup) {
			continue
		}
		e := b.entry(i, s.Key)
		switch {
		case e.seen == 0:
			// new: starts at 0
		case e.seen < b.gen-1:
			// The server sat out at least one pick (down, drained, removed or
			// in the other tier). Its old score would give it a burst or a
			// drought on return; start it fresh like a new server.
			e.current = 0
		}
		e.seen = b.gen
		e.current += s.Weight
		total += s.Weight
		if bestE == nil || e.current > bestE.current {
			best, bestE = i, e
		}
	}
	bestE.current -= total
	// Forget servers that left, but only now and then so that steady-state
	// picks never walk the map.
	if len(b.state) > 2*len(servers)+16 {
		for k, e := range b.state {
			if e.seen != b.gen {
				delete(b.state, k)
			}
		}
		clear(b.slots) // may point at deleted entries
	}
	return best
}

// entry returns the state of the server with this key at index i, creating it.
func (b *roundRobin) entry(i int, key string) *rrEntry {
	if i < len(b.slots) {
		if e := b.slots[i]; e != nil && e.key == key {
			return e
		}
	} else {
		b.slots = append(b.slots, make([]*rrEntry, i+1-len(b.slots))...)
	}
	e := b.state[key]
	if e == nil {
		e = &rrEntry{key: key}
		b.state[key] = e
	}
	b.slots[i] = e
	return e
}
