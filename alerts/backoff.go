package alerts

import "time"

// backoff is the retry schedule of one delivery: the wait doubles from
// first after each failed attempt, up to most, for at most attempts tries
// in all. It is deterministic (no jitter): each node has one queue per
// receiver, so there is no herd of clients to spread out.
type backoff struct {
	first, most time.Duration
	attempts    int
}

// defaultBackoff gives a receiver about 15 s to come back (0.5+1+2+4+8 s
// of waiting) before an event is given up as failed, short enough that the
// events queued behind it are still news.
var defaultBackoff = backoff{first: 500 * time.Millisecond, most: 8 * time.Second, attempts: 6}

// delay is the wait after the failed attempt number n (1-based), and
// whether another attempt is allowed at all.
func (b backoff) delay(n int) (time.Duration, bool) {
	if n >= b.attempts {
		return 0, false
	}
	d := b.first
	for i := 1; i < n && d < b.most; i++ {
		d *= 2
	}
	return min(d, b.most), true
}
