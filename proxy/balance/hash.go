package balance

import "math"

// rendezvous is weighted rendezvous hashing (highest random weight), used for
// both source and uri. Every server gets a pseudo-random score from
// hash(key, server key) scaled by its weight and the best score wins, so:
//
//   - the same key goes to the same server while membership is stable;
//   - when a server leaves (down, removed, weight 0) only the keys it held
//     move, spread over the others in proportion to weight; when it returns
//     it takes back exactly those keys. A slowstart ramp moves keys to the
//     recovering server gradually.
//
// HAProxy's default hash-type map-based instead divides the hash by the total
// weight, which reshuffles most clients whenever a server changes state;
// this behaves like its "hash-type consistent" without the ring's memory.
// The hash is deterministic (not seeded per process) on purpose: every vigil
// node maps a client to the same backend, so stickiness survives failover of
// the VIP to a peer.
type rendezvous struct{}

// Pick implements Balancer.
func (rendezvous) Pick(servers []Server, key []byte) int {
	backup, ok := tier(servers)
	if !ok {
		return -1
	}
	kh := fnv64(key)
	// With equal weights the weighted score is a monotonic function of the
	// hash, so skip the logarithms: the common case stays cheap and picks
	// exactly what the weighted path would.
	equal, w0 := true, 0
	for i := range servers {
		s := &servers[i]
		if !eligible(s, backup) {
			continue
		}
		if w0 == 0 {
			w0 = s.Weight
		} else if s.Weight != w0 {
			equal = false
			break
		}
	}
	best := -1
	if equal {
		var bestH uint64
		for i := range servers {
			s := &servers[i]
			if !eligible(s, backup) {
				continue
			}
			if h := score53(kh, s.Key); best < 0 || h > bestH {
				best, bestH = i, h
			}
		}
		return best
	}
	// Weighted: each server draws an exponential variate -ln(u)/w; the
	// smallest wins, which gives server i a share w_i/sum(w) of all keys
	// and keeps the minimal-movement property of plain rendezvous hashing.
	bestScore := math.Inf(1)
	for i := range servers {
		s := &servers[i]
		if !eligible(s, backup) {
			continue
		}
		u := (float64(score53(kh, s.Key)) + 0.5) / (1 << 53) // in (0,1)
		if sc := -math.Log(u) / float64(s.Weight); best < 0 || sc < bestScore {
			best, bestScore = i, sc
		}
	}
	return best
}

// score53 is the 53-bit pseudo-random draw of one (key, server) pair.
func score53(keyHash uint64, server string) uint64 {
	return mix64(keyHash+mix64(fnvString(server))) >> 11
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnv64 is FNV-1a: allocation-free and stable across processes and releases.
func fnv64(b []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

func fnvString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// mix64 is the splitmix64 finalizer. FNV alone leaves similar inputs (IP
// addresses differing in the last byte) with correlated high bits; this
// spreads every input bit over the whole word.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
