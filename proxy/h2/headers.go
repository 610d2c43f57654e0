package h2

import (
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// onHeaders handles a HEADERS frame whose CONTINUATION run (if any) is
// buffered in c.rd: a new request or a trailer block.
func (c *Conn) onHeaders(f *http2.HeadersFrame) {
	id := f.StreamID
	end := f.StreamEnded()
	selfDep := f.HasPriority() && f.Priority.StreamDep == id
	if id%2 == 0 {
		c.fail(http2.ErrCodeProtocol, "HEADERS on an even stream id")
		return
	}
	// The HPACK context belongs to the connection, so the block is
	// decoded even when the stream is then refused.
	if !c.decodeBlock(f) {
		return
	}
	if st := c.streams[id]; st != nil {
		c.onTrailers(st, end)
		return
	}
	if id <= c.maxClientID {
		// RFC 9113 §5.1.1: new stream ids must increase. A HEADERS on a
		// closed stream ends up here too; both are connection errors.
		c.fail(http2.ErrCodeProtocol, "HEADERS on a closed or lower stream id")
		return
	}
	c.maxClientID = id
	switch {
	case selfDep:
		c.streamError(id, http2.ErrCodeProtocol)
		return
	case c.goawaySent:
		// Past the last-stream-id of our GOAWAY: refused, so the client
		// may retry it elsewhere.
		c.fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
		return
	case len(c.streams) >= int(c.cfg.MaxConcurrentStreams):
		c.fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
		return
	case c.truncated:
		c.headerTooLarge(id, end)
		return
	}
	if err := c.parseRequest(); err != nil || (end && c.req.ContentLength > 0) {
		c.fr.WriteRSTStream(id, http2.ErrCodeProtocol)
		return
	}
	c.newStream(id, c.req.ContentLength, end)
	c.h.Request(id, &c.req, end)
}

// headerTooLarge answers a request whose header list outgrew
// MaxHeaderBytes with 431 (RFC 6585), the response RFC 9113 §10.5.1
// suggests, and stops a body still coming with RST_STREAM NO_ERROR.
func (c *Conn) headerTooLarge(id uint32, end bool) {
	c.hbuf.Reset()
	c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: "431"})
	c.writeBlock(id, c.hbuf.Bytes(), true)
	if !end {
		c.fr.WriteRSTStream(id, http2.ErrCodeNo)
	}
}

// onTrailers handles a HEADERS frame on a stream that is already open.
func (c *Conn) onTrailers(st *stream, end bool) {
	id := st.id
	switch {
	case st.endRemote:
		c.streamError(id, http2.ErrCodeStreamClosed)
		return
	case !end, c.truncated, checkTrailers(c.fields) != nil:
		// RFC 9113 §8.1: a second HEADERS must end the stream, and
		// trailers carry no pseudo-header fields.
		c.streamError(id, http2.ErrCodeProtocol)
		return
	case st.contentLength >= 0 && st.received != st.contentLength:
		c.streamError(id, http2.ErrCodeProtocol)
		return
	}
	st.endRemote = true
	c.h.Trailers(id, c.fields)
	c.closeIfDone(id)
}

// decodeBlock decodes the header block that f starts, reading the
// CONTINUATION frames that follow it, into c.fields. It reports false
// after a connection error.
func (c *Conn) decodeBlock(f *http2.HeadersFrame) bool {
	c.fields = c.fields[:0]
	c.hdrSize = 0
	c.truncated = false
	c.dec.SetEmitEnabled(true)
	ended := f.HeadersEnded()
	if _, err := c.dec.Write(f.HeaderBlockFragment()); err != nil {
		c.fail(http2.ErrCodeCompression, "HPACK: "+err.Error())
		return false
	}
	for !ended {
		// frameReady buffered the run up to its END_HEADERS, or up to the
		// header of the frame that breaks it, which the Framer refuses.
		fr, err := c.fr.ReadFrame()
		if err != nil {
			c.frameError(http2.FrameContinuation, f.StreamID, err)
			return false
		}
		cf, ok := fr.(*http2.ContinuationFrame)
		if !ok {
			c.fail(http2.ErrCodeProtocol, "header block interrupted")
			return false
		}
		ended = cf.HeadersEnded()
		if _, err := c.dec.Write(cf.HeaderBlockFragment()); err != nil {
			c.fail(http2.ErrCodeCompression, "HPACK: "+err.Error())
			return false
		}
	}
	if err := c.dec.Close(); err != nil {
		c.fail(http2.ErrCodeCompression, "HPACK: "+err.Error())
		return false
	}
	return true
}

// emit collects one decoded field. Past MaxHeaderBytes it stops keeping
// fields but the decoder goes on, so the dynamic table stays in step with
// the client's.
func (c *Conn) emit(f hpack.HeaderField) {
	size := f.Size()
	if c.hdrSize+size > c.cfg.MaxHeaderBytes || c.hdrSize+size < c.hdrSize {
		c.truncated = true
		c.dec.SetEmitEnabled(false)
		return
	}
	c.hdrSize += size
	c.fields = append(c.fields, f)
}
