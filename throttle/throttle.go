// Package throttle decides when an event that can repeat per packet, per
// connection or per alert is worth another log line: the first at once,
// then at most one per interval, carrying how many happened since. Both the
// proxy's limits (max_conn, out of file descriptors) and the alert queues'
// drops need exactly this, and neither package is the other's home, so
// the rule lives here once.
package throttle

import "time"

// Every lets one event through per Interval. It is not safe for
// concurrent use: callers hold the lock that guards what they count.
type Every struct {
	// Interval is the least time between two lines.
	Interval time.Duration
	last     time.Time // of the last line; zero before the first
	pending  uint64    // events not yet told
}

// Hit records one event at now and, when a line is due, returns how many
// events it tells of (this one included).
func (e *Every) Hit(now time.Time) (count uint64, due bool) {
	e.pending++
	if !e.last.IsZero() && now.Sub(e.last) < e.Interval {
		return 0, false
	}
	count, e.pending, e.last = e.pending, 0, now
	return count, true
}
