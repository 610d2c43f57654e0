package alerts

import "time"

// dropReport decides when dropped events are worth a log line: the first
// drop at once, then at most one line per interval carrying the count
// since the last line. A receiver down for an hour under a busy node would
// otherwise log as fast as events happen.
type dropReport struct {
	every   time.Duration
	last    time.Time // of the last line; zero before the first
	pending uint64    // drops not yet reported
}

// drop records one dropped event at now and, when a line is due, returns
// how many drops it reports.
func (r *dropReport) drop(now time.Time) (report uint64, due bool) {
	r.pending++
	if !r.last.IsZero() && now.Sub(r.last) < r.every {
		return 0, false
	}
	report, r.pending, r.last = r.pending, 0, now
	return report, true
}
