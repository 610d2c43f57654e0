package alerts

// queue is a bounded FIFO of events. When full, a push drops the oldest
// event to make room: during an outage of the receiver the newest events
// are the ones that still describe the present.
type queue struct {
	buf  []Event // ring; len(buf) is the capacity
	head int     // index of the oldest event
	n    int
}

func newQueue(capacity int) *queue {
	return &queue{buf: make([]Event, max(capacity, 1))}
}

// push appends e and reports whether the oldest event was dropped for it.
func (q *queue) push(e Event) (dropped bool) {
	if q.n == len(q.buf) {
		q.buf[q.head] = e
		q.head = (q.head + 1) % len(q.buf)
		return true
	}
	q.buf[(q.head+q.n)%len(q.buf)] = e
	q.n++
	return false
}

// pop removes and returns up to limit of the oldest events, in order.
func (q *queue) pop(limit int) []Event {
	k := min(limit, q.n)
	out := make([]Event, k)
	for i := range out {
		out[i] = q.buf[q.head]
		q.buf[q.head] = Event{}
		q.head = (q.head + 1) % len(q.buf)
	}
	q.n -= k
	return out
}

func (q *queue) len() int { return q.n }
