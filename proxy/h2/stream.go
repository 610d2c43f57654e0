package h2

import "golang.org/x/net/http2"

// stream is one open or half-closed stream. Closed streams are not kept:
// a stream id at or below maxClientID that is not in the map is closed,
// which is all RFC 9113 §5.1 needs to tell closed from idle.
type stream struct {
	id uint32

	// sendWindow may go negative when the client shrinks
	// SETTINGS_INITIAL_WINDOW_SIZE (RFC 9113 §6.9.2).
	sendWindow int64
	recvWindow int64 // what the client may still send on this stream
	owed       int64 // bytes consumed or padding, not yet refunded

	contentLength int64 // declared, -1 without content-length
	received      int64 // DATA payload bytes so far, padding excluded

	endRemote bool // the client sent END_STREAM
	endLocal  bool // we sent END_STREAM
	final     bool // a final (non-1xx) HEADERS was sent

	next *stream // free list
}

// newStream opens stream id, reusing a recycled struct: a busy connection
// opens one per request, and the event loop should not feed the GC with them.
func (c *Conn) newStream(id uint32, contentLength int64, end bool) *stream {
	st := c.free
	if st != nil {
		c.free = st.next
		*st = stream{}
	} else {
		st = new(stream)
	}
	st.id = id
	st.sendWindow = c.peerInitWindow
	st.recvWindow = int64(c.cfg.StreamWindow)
	if !c.settingsAcked {
		// Until the client acknowledges our SETTINGS it may still count
		// on the protocol's initial window (RFC 9113 §6.9.2).
		st.recvWindow = max(st.recvWindow, initialWindow)
	}
	st.contentLength = contentLength
	st.endRemote = end
	c.streams[id] = st
	return st
}

// drop forgets a stream and recycles its struct. Callers must not touch st
// afterwards; callbacks that may close a stream are followed by a fresh
// lookup by id, never by the pointer held before.
func (c *Conn) drop(st *stream) {
	delete(c.streams, st.id)
	st.next = c.free
	c.free = st
}

// endedLocal records that we sent END_STREAM, closing the stream when the
// client had already ended its side.
func (c *Conn) endedLocal(st *stream) {
	st.endLocal = true
	if st.endRemote {
		c.drop(st)
	}
}

// closeIfDone closes stream id if both sides have ended; it runs after
// callbacks, when the handler may already have closed or reset it.
func (c *Conn) closeIfDone(id uint32) {
	if st := c.streams[id]; st != nil && st.endLocal && st.endRemote {
		c.drop(st)
	}
}

// idle reports whether id names a stream the client has not opened. We
// never push, so every even id is idle too.
func (c *Conn) idle(id uint32) bool {
	return id%2 == 0 || id > c.maxClientID
}

// streamError answers a stream error with RST_STREAM and, if the handler
// knows the stream, tells it the stream is gone.
func (c *Conn) streamError(id uint32, code http2.ErrCode) {
	c.fr.WriteRSTStream(id, code)
	if st := c.streams[id]; st != nil {
		c.drop(st)
		c.h.Reset(id, code)
	}
}

// ResetStream sends RST_STREAM with code and forgets stream id; the
// handler gets no Reset call for it. A stream already closed is left alone.
func (c *Conn) ResetStream(id uint32, code http2.ErrCode) {
	if c.err != nil {
		return
	}
	if st := c.streams[id]; st != nil {
		c.fr.WriteRSTStream(id, code)
		c.drop(st)
	}
}
