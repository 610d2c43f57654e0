package proxy

import (
	"sync/atomic"
	"time"
)

// Per-request HTTP counters. They are updated on every request of the fast
// path, so they are plain atomics in fixed arrays: no lock, no map, no
// allocation, and Stats reads them without stopping the requests.

// CodeClass is the class of the answer a request got: the status class of
// the backend's response, or CodeError when the proxy answered itself.
type CodeClass int

// The code classes, in the order of HTTPStats.Requests.
const (
	Code1xx CodeClass = iota
	Code2xx
	Code3xx
	Code4xx
	Code5xx
	// CodeError counts requests that got no response from a backend: the
	// proxy sent its own 400, 408, 431, 502, 503 or 504, or nothing at all
	// (the client went away, the service stopped).
	CodeError
	// NumCodeClasses is the number of classes, the length of HTTPStats.Requests.
	NumCodeClasses
)

// String is the class as a metric label value: "1xx" ... "5xx", "error".
func (c CodeClass) String() string {
	switch c {
	case Code1xx:
		return "1xx"
	case Code2xx:
		return "2xx"
	case Code3xx:
		return "3xx"
	case Code4xx:
		return "4xx"
	case Code5xx:
		return "5xx"
	}
	return "error"
}

// classOf maps a backend's status code to its class; 0 means the proxy
// answered (or nobody did).
func classOf(status int) CodeClass {
	if status >= 100 && status < 600 {
		return CodeClass(status/100 - 1)
	}
	return CodeError
}

// numDurationBuckets is the number of finite buckets of every latency
// histogram the proxy keeps.
const numDurationBuckets = 16

// durationBounds are the upper bounds of the latency buckets, from 100 µs
// (a connect to a backend on the same LAN) to 10 s. One set for every
// histogram, so that dashboards can put any two side by side. A function
// returning an array, so there is no package-level table to guard.
func durationBounds() [numDurationBuckets]time.Duration {
	return [numDurationBuckets]time.Duration{
		100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
		time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
		10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
		100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
	}
}

// latencyHistogram is a fixed-bucket histogram updated on the fast path:
// one observation touches one bucket and the sum, both atomics.
type latencyHistogram struct {
	// buckets[i] counts durations <= bound i and > bound i-1 (not
	// cumulative, so one observation touches one counter); the last is +Inf.
	buckets [numDurationBuckets + 1]atomic.Uint64
	sumNs   atomic.Int64
}

// observe records one duration (a negative one counts as 0).
func (h *latencyHistogram) observe(d time.Duration) {
	d = max(d, 0)
	bounds := durationBounds()
	i := 0
	for i < len(bounds) && d > bounds[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sumNs.Add(int64(d))
}

// snapshot reads the counters. Each is read once, and Count is derived
// from the buckets, so the histogram is consistent in itself even while
// observations go on.
func (h *latencyHistogram) snapshot() DurationHistogram {
	bounds := durationBounds()
	d := DurationHistogram{Bounds: bounds[:], Cumulative: make([]uint64, len(bounds))}
	var n uint64
	for i := range h.buckets {
		n += h.buckets[i].Load()
		if i < len(bounds) {
			d.Cumulative[i] = n
		}
	}
	d.Count = n
	d.Sum = time.Duration(h.sumNs.Load())
	return d
}

// httpMetrics counts the requests of one protocol http Service.
type httpMetrics struct {
	requests [NumCodeClasses]atomic.Uint64
	duration latencyHistogram
}

// observe records one finished request.
func (m *httpMetrics) observe(c CodeClass, d time.Duration) {
	m.requests[c].Add(1)
	m.duration.observe(d)
}

// HTTPStats are the request counters of a protocol http service.
type HTTPStats struct {
	// Requests counts requests by the class of their answer, indexed by
	// CodeClass. HTTP/2 requests are not counted yet.
	Requests [NumCodeClasses]uint64
	// Duration is the time from a request's first byte to the end of its
	// response (for a WebSocket upgrade, to the 101 response).
	Duration DurationHistogram
}

// DurationHistogram is a snapshot of a fixed-bucket histogram, in the
// shape Prometheus exposes.
type DurationHistogram struct {
	// Bounds are the buckets' upper bounds, ascending; +Inf is implied.
	Bounds []time.Duration
	// Cumulative[i] counts observations <= Bounds[i].
	Cumulative []uint64
	// Count is the number of observations (the +Inf bucket).
	Count uint64
	// Sum is the total of all observations.
	Sum time.Duration
}

// snapshot reads the counters.
// The histogram is read before the classes, the reverse of observe's
// order, so every request in Duration.Count is in Requests too.
func (m *httpMetrics) snapshot() HTTPStats {
	var st HTTPStats
	st.Duration = m.duration.snapshot()
	for i := range m.requests {
		st.Requests[i] = m.requests[i].Load()
	}
	return st
}
