package h2

import "golang.org/x/net/http2"

// onData handles a DATA frame: flow control first (the connection window
// is refunded at once, whatever becomes of the stream, so one stalled
// stream never blocks the others), then the stream's state and body.
func (c *Conn) onData(f *http2.DataFrame) {
	id := f.StreamID
	if c.idle(id) {
		c.fail(http2.ErrCodeProtocol, "DATA on idle stream")
		return
	}
	length := int64(f.Length) // padding counts against the windows
	if length > c.connRecv {
		c.fail(http2.ErrCodeFlowControl, "DATA beyond the connection window")
		return
	}
	c.connRecv -= length
	c.refundConn(length)
	st := c.streams[id]
	if st == nil || st.endRemote {
		// RFC 9113 §5.1: closed or half-closed (remote).
		c.streamError(id, http2.ErrCodeStreamClosed)
		return
	}
	if length > st.recvWindow {
		c.streamError(id, http2.ErrCodeFlowControl)
		return
	}
	st.recvWindow -= length
	data := f.Data()
	end := f.StreamEnded()
	st.received += int64(len(data))
	if st.contentLength >= 0 && (st.received > st.contentLength || end && st.received != st.contentLength) {
		// RFC 9113 §8.1.1: the body must match content-length.
		c.streamError(id, http2.ErrCodeProtocol)
		return
	}
	if pad := length - int64(len(data)); pad > 0 {
		// The handler never sees padding, so it is refunded here.
		st.owed += pad
		c.refundStream(st)
	}
	if end {
		st.endRemote = true
	}
	if len(data) > 0 || end {
		c.h.Data(id, data, end)
	}
	if end {
		c.closeIfDone(id)
	}
}

// refundConn returns n received bytes to the connection window, in
// batches of half the window so small frames do not each cost a frame.
func (c *Conn) refundConn(n int64) {
	c.connOwed += n
	if c.connOwed >= int64(c.cfg.ConnWindow)/2 {
		c.fr.WriteWindowUpdate(0, uint32(c.connOwed))
		c.connRecv += c.connOwed
		c.connOwed = 0
	}
}

// refundStream sends the stream's owed window once it reaches half the
// window, and not at all once the client has ended the stream.
func (c *Conn) refundStream(st *stream) {
	if st.endRemote || st.owed < max(int64(c.cfg.StreamWindow)/2, 1) {
		return
	}
	c.fr.WriteWindowUpdate(st.id, uint32(st.owed))
	st.recvWindow += st.owed
	st.owed = 0
}

// Consumed reports that the application forwarded n body bytes of stream
// id, so the client may send that many more; WINDOW_UPDATEs are batched.
func (c *Conn) Consumed(id uint32, n int) {
	if c.err != nil || n <= 0 {
		return
	}
	if st := c.streams[id]; st != nil {
		st.owed += int64(n)
		c.refundStream(st)
	}
}

// SendWindow returns how many DATA bytes stream id may send now: the
// smaller of its window and the connection's, never below 0.
func (c *Conn) SendWindow(id uint32) int {
	st := c.streams[id]
	if st == nil || st.endLocal || c.err != nil {
		return 0
	}
	return int(max(min(st.sendWindow, c.connSend), 0))
}

// WriteData queues as much of p on stream id as both send windows allow,
// in frames no larger than the client's SETTINGS_MAX_FRAME_SIZE, and
// returns how much it took. END_STREAM is set only when end is true and
// all of p was taken; end with an empty p sends an empty DATA with
// END_STREAM. The rest waits for Writable.
func (c *Conn) WriteData(id uint32, p []byte, end bool) int {
	st := c.streams[id]
	if st == nil || st.endLocal || c.err != nil {
		return 0
	}
	n := min(len(p), c.SendWindow(id))
	if n == 0 && (len(p) > 0 || !end) {
		return 0
	}
	fin := end && n == len(p)
	for off := 0; ; {
		chunk := min(n-off, int(c.peerMaxFrame))
		last := off+chunk == n
		c.fr.WriteData(id, fin && last, p[off:off+chunk])
		off += chunk
		if last {
			break
		}
	}
	st.sendWindow -= int64(n)
	c.connSend -= int64(n)
	if fin {
		c.endedLocal(st)
	}
	return n
}
