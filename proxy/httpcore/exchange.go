package httpcore

import (
	"net/netip"
	"time"
)

// Exchange is the record of one request, from its first byte to the last
// byte of its answer, as every path keeps it: the proxy books it once
// when the request ends, into its counters, metrics and access log.
// Times are offsets from Start; a negative one never happened.
type Exchange struct {
	// Start is when the request's first byte arrived.
	Start time.Time
	// Client is the client's address (after its PROXY header, if any).
	Client netip.AddrPort
	// HeadDone is when the whole request head had arrived.
	HeadDone time.Duration
	// Queued is when the request began to wait for a backend slot, and
	// Assigned when it got one.
	Queued, Assigned time.Duration
	// Connected is when its backend connection was ready (at Assigned for
	// an idle one taken from the pool).
	Connected time.Duration
	// ResponseHead is when the backend's final response head arrived.
	ResponseHead time.Duration
	// End is when the last byte went to the client (or the request failed).
	End time.Duration

	// Status is the status sent to the client, 0 when none was;
	// FromBackend tells whether it is the backend's or the proxy's own.
	Status      int
	FromBackend bool
	// Bytes moved for this request: from and to the client (BodyOut is
	// the response body alone), to and from the backend.
	BytesIn, BytesOut, BodyOut int64
	BackendOut, BackendIn      int64
	// Retries counts connect attempts that failed before the one used;
	// Redispatched is set when the request ended on another backend than
	// the first one picked.
	Retries      int
	Redispatched bool

	// Cause and Stage are why and where the request ended abnormally
	// (CauseNone when it did not).
	Cause Cause
	Stage Stage
	// Cookie is what became of the sticky cookie (0 when the service is
	// not sticky): what the client brought, and whether the proxy set one.
	CookieIn, CookieOut byte

	// Group and Backend say where the request went: the backend group's
	// index and the backend's address ("" when it reached none).
	Group   int
	Backend string
	// Req is the request head, nil when none could be parsed; valid until
	// the record is booked.
	Req *Head
	// Proto is the client's protocol, "HTTP/1.1", "HTTP/1.0" or "HTTP/2.0".
	Proto string
	// TLS is set when the client came over TLS.
	TLS bool
}

// Cause is what ended a request early, HAProxy's first termination
// character.
type Cause uint8

// The causes, with HAProxy's letters.
const (
	CauseNone          Cause = iota // '-': it ended normally
	CauseClient                     // 'C': the client aborted
	CauseServer                     // 'S': the server aborted, refused or sent garbage
	CauseProxy                      // 'P': the proxy refused the request (or a response)
	CauseResource                   // 'R': the proxy ran out of something (descriptors)
	CauseKilled                     // 'K': the service stopped
	CauseDown                       // 'D': the backend went down (on_down: shutdown_sessions)
	CauseClientTimeout              // 'c'
	CauseServerTimeout              // 's'
)

// Stage is where a request was when it ended, HAProxy's second
// termination character.
type Stage uint8

// The stages, with HAProxy's letters.
const (
	StageRequest Stage = iota // 'R': receiving the request head
	StageQueue                // 'Q': waiting for a backend slot
	StageConnect              // 'C': connecting to the backend
	StageHeaders              // 'H': waiting for the response head
	StageData                 // 'D': moving the body
	StageLast                 // 'L': the last of the response to the client
	StageDone                 // '-': done
)

// The sticky cookie marks: what the client brought (CookieIn) and what
// the proxy did (CookieOut).
const (
	CookieNone     byte = 'N' // in: none; out: none inserted
	CookieInvalid  byte = 'I' // in: names no backend
	CookieDown     byte = 'D' // in: names a backend that cannot take it
	CookieValid    byte = 'V' // in: used
	CookieInserted byte = 'I' // out: the proxy set one
)

// Begin starts a record for a request whose first byte arrived at start.
func (e *Exchange) Begin(start time.Time, client netip.AddrPort, proto string) {
	*e = Exchange{Start: start, Client: client, Proto: proto,
		HeadDone: -1, Queued: -1, Assigned: -1, Connected: -1, ResponseHead: -1, End: -1}
}

// Termination is HAProxy's four termination characters for the record:
// cause and stage, then the sticky cookie's ("--" when not sticky).
func (e *Exchange) Termination() [4]byte {
	t := [4]byte{'-', '-', '-', '-'}
	l := Letters(e.Cause, e.Stage)
	t[0], t[1] = l[0], l[1]
	if e.CookieIn != 0 {
		t[2] = e.CookieIn
		t[3] = CookieNone
		if e.CookieOut != 0 {
			t[3] = e.CookieOut
		}
		if !e.FromBackend {
			t[3] = '-'
		}
	}
	return t
}

// Letters are HAProxy's two termination characters for a cause and the
// stage it struck at: "--" when nothing went wrong.
func Letters(c Cause, s Stage) [2]byte {
	if c == CauseNone {
		return [2]byte{'-', '-'}
	}
	return [2]byte{"-CSPRKDcs"[c], "RQCHDL-"[s]}
}

// Timers are HAProxy's TR, Tw, Tc, Tr and Ta of the record (section 8.4
// of its configuration manual): time to receive the head, to wait in the
// queue, to connect, for the response head after that, and in all. A
// negative value never happened.
func (e *Exchange) Timers() (tr, tw, tc, tresp, ta time.Duration) {
	tr, tw, tc, tresp = -1, -1, -1, -1
	if e.HeadDone >= 0 {
		tr = e.HeadDone
	}
	if e.Queued >= 0 && e.Assigned >= 0 {
		tw = e.Assigned - e.Queued
	}
	if e.Assigned >= 0 && e.Connected >= 0 {
		tc = e.Connected - e.Assigned
	}
	if e.Connected >= 0 && e.ResponseHead >= 0 {
		tresp = e.ResponseHead - e.Connected
	}
	ta = max(e.End, 0)
	return tr, tw, tc, tresp, ta
}

// Fail records that the request ended early for cause at stage, answered
// with status by the proxy (0: nothing could be sent).
func (e *Exchange) Fail(cause Cause, stage Stage, status int) {
	if e.Cause == CauseNone {
		e.Cause, e.Stage = cause, stage
	}
	if status != 0 {
		e.Status, e.FromBackend = status, false
	}
}

// FailureCause maps a refused message to its cause: a request the proxy
// refused is 'P' at 'R'; a backend's response that does not parse is
// 'P' at 'H' as well (HAProxy's PH), or at 'D' once the body started.
func FailureCause(err error) Cause {
	if _, ok := err.(*Error); ok {
		return CauseProxy
	}
	return CauseServer
}
