package demo

import (
	"testing"
	"time"
)

func TestLongestGap(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms ...int) []time.Time {
		var ts []time.Time
		for _, m := range ms {
			ts = append(ts, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return ts
	}
	p := newProber(nil, "")
	p.ok = at(0, 10, 20, 30, 380, 390, 400, 1000)
	for _, c := range []struct {
		from, to int
		want     time.Duration
	}{
		{25, 395, 350 * time.Millisecond},   // counts from the last answer before from
		{0, 30, 10 * time.Millisecond},      // nothing lost
		{390, 900, 10 * time.Millisecond},   // the gap after to is not seen yet
		{390, 1000, 600 * time.Millisecond}, // up to to, inclusive
		{2000, 3000, 0},                     // no answers after from
	} {
		if got := p.longestGap(t0.Add(time.Duration(c.from)*time.Millisecond), t0.Add(time.Duration(c.to)*time.Millisecond)); got != c.want {
			t.Errorf("longestGap(%d, %d) = %s, want %s", c.from, c.to, got, c.want)
		}
	}
}
