package balance

import (
	"math/rand/v2"
	"sync"
)

// random is the power of two choices (HAProxy's "random", draws 2): draw two
// servers at random in proportion to weight and send the connection to the
// one with less load per weight. It spreads load nearly as well as leastconn
// while avoiding leastconn's herd onto a server that just joined, and needs
// no shared state beyond the random source.
type random struct {
	mu sync.Mutex // guards r, which is not safe for concurrent use
	r  *rand.Rand // nil: the runtime's per-thread generator, lock-free
}

// newRandomWithSource returns a random balancer drawing from src, so tests
// get a deterministic sequence.
func newRandomWithSource(src rand.Source) *random {
	return &random{r: rand.New(src)}
}

func (b *random) intN(n int) int {
	if b.r == nil {
		return rand.IntN(n)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.r.IntN(n)
}

// Pick implements Balancer.
func (b *random) Pick(servers []Server, _ []byte) int {
	backup, ok := tier(servers)
	if !ok {
		return -1
	}
	total, count, only := 0, 0, -1
	for i := range servers {
		s := &servers[i]
		if eligible(s, backup) {
			total += s.Weight
			count++
			only = i
		}
	}
	if count == 1 {
		return only
	}
	a := drawWeighted(servers, backup, b.intN(total))
	c := drawWeighted(servers, backup, b.intN(total))
	// Ties keep the first draw: with equal load the draw itself, already
	// weighted, decides, so idle servers still get traffic in weight ratio.
	if lessLoaded(&servers[c], &servers[a]) {
		return c
	}
	return a
}

// drawWeighted returns the eligible server that owns point x of the
// cumulative weight line [0, total).
func drawWeighted(servers []Server, backup bool, x int) int {
	last := -1
	for i := range servers {
		s := &servers[i]
		if !eligible(s, backup) {
			continue
		}
		if x < s.Weight {
			return i
		}
		x -= s.Weight
		last = i
	}
	return last // unreachable while x < total; kept for safety
}
