package checks

import (
	"strings"
	"testing"
)

// TestRiseFall runs result sequences through the core. Results are written
// as a string: '+' success, '-' failure; want is the state after each
// result ('U' up, 'D' down).
func TestRiseFall(t *testing.T) {
	tests := []struct {
		name       string
		initialUp  bool
		rise, fall int
		results    string
		want       string
	}{
		{"down: first success decides at once", false, 2, 3, "+", "U"},
		{"down: first failure keeps down", false, 2, 3, "-", "D"},
		{"up: first failure decides at once", true, 2, 3, "-", "D"},
		{"up: first success keeps up", true, 2, 3, "+", "U"},
		{"after first, fall failures to go down", false, 2, 3, "+---", "UUUD"},
		{"after first, rise successes to come up", false, 2, 3, "-++", "DDU"},
		{"a success resets the failure count", false, 2, 3, "+--+---", "UUUUUUD"},
		{"a failure resets the success count", false, 3, 1, "--+-+++", "DDDDDDU"},
		{"up initial then rise after going down", true, 2, 2, "-+-++", "DDDDU"},
		{"rise and fall of 1 follow every result", false, 1, 1, "+-+-", "UDUD"},
		{"zero rise/fall act as 1", false, 0, 0, "-+-", "DUD"},
		{"long run stays up", false, 2, 3, "+++++", "UUUUU"},
		{"flapping below fall never goes down", false, 2, 3, "+--+--+--", "UUUUUUUUU"},
		{"flapping below rise never comes up", true, 3, 2, "-++-++-++", "DDDDDDDDD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rf := newRiseFall(tc.initialUp, tc.rise, tc.fall)
			var got strings.Builder
			prev := tc.initialUp
			for i, c := range tc.results {
				changed := rf.observe(c == '+')
				if changed != (rf.up != prev) {
					t.Fatalf("result %d: changed=%v but state went %v -> %v", i, changed, prev, rf.up)
				}
				prev = rf.up
				if rf.up {
					got.WriteByte('U')
				} else {
					got.WriteByte('D')
				}
			}
			if got.String() != tc.want {
				t.Errorf("results %s: states %s, want %s", tc.results, got.String(), tc.want)
			}
		})
	}
}
