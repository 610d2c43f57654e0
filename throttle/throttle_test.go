package throttle

import (
	"testing"
	"time"
)

func TestEvery(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	e := Every{Interval: 10 * time.Second}
	type step struct {
		at     time.Duration
		report uint64
		due    bool
	}
	for i, s := range []step{
		{0, 1, true},                  // the first event is told at once
		{time.Second, 0, false},       // then quiet...
		{2 * time.Second, 0, false},   //
		{9 * time.Second, 0, false},   //
		{10 * time.Second, 4, true},   // ...until the interval is up, with the count
		{11 * time.Second, 0, false},  //
		{30 * time.Second, 2, true},   //
		{100 * time.Second, 1, true},  //
		{100 * time.Second, 0, false}, //
	} {
		report, due := e.Hit(t0.Add(s.at))
		if report != s.report || due != s.due {
			t.Errorf("step %d at %v: Hit() = %d, %v; want %d, %v", i, s.at, report, due, s.report, s.due)
		}
	}
}
