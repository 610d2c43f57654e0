package httpcore

// Framing is how the end of a body is found.
type Framing uint8

// The framings of a body.
const (
	NoBody      Framing = iota // no body
	Length                     // Content-Length
	ChunkedBody                // chunked
	UntilClose                 // until the sender closes (responses only)
)

// RequestFraming is how the body of request r ends.
func RequestFraming(r *Head) Framing {
	switch {
	case r.Chunked:
		return ChunkedBody
	case r.ContentLength > 0:
		return Length
	}
	return NoBody
}

// ResponseFraming is how the body of resp, the answer to r, ends
// (RFC 9112 6.3).
func ResponseFraming(r, resp *Head) Framing {
	switch {
	case r.IsHead() || resp.Status == 204 || resp.Status == 304 || resp.Status < 200:
		return NoBody
	case resp.Chunked:
		return ChunkedBody
	case resp.ContentLength >= 0 && !resp.CloseDelimited:
		return Length
	}
	return UntilClose
}

// KeepAlive reports whether, after resp (the answer to r, framed so), the
// client connection and the backend connection may each carry another
// request, as far as the two heads tell.
func KeepAlive(r, resp *Head, f Framing) (client, backend bool) {
	bounded := f != UntilClose
	client = r.Minor == 1 && !r.ConnClose && bounded
	backend = resp.Minor == 1 && !resp.ConnClose && bounded && r.Minor == 1
	return client, backend
}

// ForwardInterim reports whether an interim (1xx) response goes to the
// client: all do but a 100 Continue to a request whose Expect the proxy
// answered itself. A 101 is not interim: it ends the exchange.
func ForwardInterim(r, resp *Head) bool {
	return !(resp.Status == 100 && r.ExpectContinue)
}

// MayReplay reports whether a request whose backend connection failed may
// go out again, on a new connection to the same backend: only when the
// connection was a reused idle one (the backend closed it as the request
// went out), nothing of a response came back, the request has no body
// (whose bytes are gone) and an idempotent method, it was not replayed
// before, and the failure was not a timeout (the backend may be working
// on it).
func MayReplay(r *Head, reused, responseStarted, replayed, timedOut bool) bool {
	return reused && !responseStarted && !replayed && !timedOut && !r.HasBody() && r.Idempotent()
}

// MayRetryConnect reports whether a request whose connect attempt number
// attempt (from 0) failed may try another backend: nothing of it has
// left, so any method may (HAProxy's retries with redispatch).
func MayRetryConnect(attempt, retries int) bool { return attempt < retries }

// ConnectFailStatus is the answer to a request that got no backend
// connection: 503 when no backend was up or had a slot for it, 502 when
// connecting failed.
func ConnectFailStatus(noSlot bool) int {
	if noSlot {
		return 503
	}
	return 502
}
