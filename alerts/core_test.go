package alerts

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestQueue(t *testing.T) {
	ev := func(i int) Event { return Event{Subject: fmt.Sprint(i)} }
	subjects := func(es []Event) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Subject)
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		capacity int
		push     int
		pop      int
		want     []string
		dropped  int
		left     int
	}{
		{"empty", 3, 0, 5, nil, 0, 0},
		{"under capacity keeps order", 3, 2, 5, []string{"0", "1"}, 0, 0},
		{"full drops nothing", 3, 3, 5, []string{"0", "1", "2"}, 0, 0},
		{"over capacity drops oldest", 3, 5, 5, []string{"2", "3", "4"}, 2, 0},
		{"pop takes the oldest", 3, 5, 2, []string{"2", "3"}, 2, 1},
		{"wraps many times", 4, 103, 10, []string{"99", "100", "101", "102"}, 99, 0},
		{"capacity at least one", 0, 2, 5, []string{"1"}, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newQueue(tc.capacity)
			dropped := 0
			for i := range tc.push {
				if q.push(ev(i)) {
					dropped++
				}
			}
			if got := subjects(q.pop(tc.pop)); !slices.Equal(got, tc.want) {
				t.Errorf("pop = %v, want %v", got, tc.want)
			}
			if dropped != tc.dropped || q.len() != tc.left {
				t.Errorf("dropped %d, left %d; want %d, %d", dropped, q.len(), tc.dropped, tc.left)
			}
		})
	}
}

func TestQueuePushAfterPop(t *testing.T) {
	q := newQueue(2)
	q.push(Event{Subject: "a"})
	q.push(Event{Subject: "b"})
	q.pop(1)
	if q.push(Event{Subject: "c"}) {
		t.Fatal("push into a freed slot dropped an event")
	}
	if got := q.pop(5); len(got) != 2 || got[0].Subject != "b" || got[1].Subject != "c" {
		t.Fatalf("pop = %v, want b c", got)
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{first: 100 * time.Millisecond, most: time.Second, attempts: 7}
	for _, tc := range []struct {
		failed int
		want   time.Duration
		again  bool
	}{
		{1, 100 * time.Millisecond, true},
		{2, 200 * time.Millisecond, true},
		{3, 400 * time.Millisecond, true},
		{4, 800 * time.Millisecond, true},
		{5, time.Second, true}, // capped
		{6, time.Second, true},
		{7, 0, false}, // the last attempt failed
		{8, 0, false},
	} {
		got, again := b.delay(tc.failed)
		if got != tc.want || again != tc.again {
			t.Errorf("delay(%d) = %v, %v; want %v, %v", tc.failed, got, again, tc.want, tc.again)
		}
	}
	total := time.Duration(0)
	for n := 1; ; n++ {
		d, again := defaultBackoff.delay(n)
		if !again {
			break
		}
		total += d
	}
	if total < 10*time.Second || total > 20*time.Second {
		t.Errorf("the default schedule waits %v in all, want 10-20 s", total)
	}
}
