package balance

import "sync"

// leastConn picks the server with the fewest connections in flight relative
// to its weight (HAProxy's leastconn, IPVS's wlc). Among equally loaded
// servers it rotates, starting after the previous pick, as HAProxy does, so
// that a burst of connections arriving before any Active count moves is
// spread rather than all landing on the first server.
type leastConn struct {
	mu      sync.Mutex
	lastKey string // Key of the previous pick: where the rotation resumes
	lastIdx int    // its index then, checked first to avoid a search
}

// lessLoaded reports whether a carries less load per weight than b. It
// cross-multiplies instead of dividing so that the comparison is exact; the
// int64 products cannot overflow for any int32-sized counts and weights.
func lessLoaded(a, b *Server) bool {
	return int64(a.Active)*int64(b.Weight) < int64(b.Active)*int64(a.Weight)
}

// Pick implements Balancer.
func (b *leastConn) Pick(servers []Server, _ []byte) int {
	backup, ok := tier(servers)
	if !ok {
		return -1
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(servers)
	start := 0
	if b.lastIdx < n && servers[b.lastIdx].Key == b.lastKey {
		start = b.lastIdx + 1
	} else {
		for i := range servers {
			if servers[i].Key == b.lastKey {
				start = i + 1
				break
			}
		}
	}
	best := -1
	for j := range n {
		i := (start + j) % n
		s := &servers[i]
		if !eligible(s, backup) {
			continue
		}
		if best < 0 || lessLoaded(s, &servers[best]) {
			best = i
		}
	}
	b.lastKey, b.lastIdx = servers[best].Key, best
	return best
}
