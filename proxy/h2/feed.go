package h2

import (
	"errors"
	"io"

	"golang.org/x/net/http2"
)

// Feed takes bytes read from the client, the client preface first, and
// returns how many it consumed. The caller keeps the rest (an incomplete
// frame, or an incomplete HEADERS+CONTINUATION run) and passes them again
// with more appended. A non-nil error is a *ConnError: its GOAWAY is
// queued in Output, the caller writes Output and closes, and Feed takes
// nothing more.
//
// At most MaxBuffered bytes are ever left unconsumed. The answers Feed
// queues itself (SETTINGS and PING acknowledgements, RST_STREAM) are not
// bounded, so a driver stops reading while Output is large, as it does
// for an HTTP/1 client that does not read its responses.
func (c *Conn) Feed(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n := 0
	if !c.prefaceDone {
		m := min(len(p), len(http2.ClientPreface))
		if string(p[:m]) != http2.ClientPreface[:m] {
			c.fail(http2.ErrCodeProtocol, "invalid client preface")
			return 0, c.err
		}
		if m < len(http2.ClientPreface) {
			return 0, nil
		}
		c.prefaceDone = true
		n = m
	}
	for c.err == nil {
		b := p[n:]
		size := c.frameReady(b)
		if size == 0 {
			break
		}
		c.rd.b = b[:size]
		c.readFrame(http2.FrameType(b[3]), frameStream(b))
		n += size - len(c.rd.b)
		c.rd.b = nil
	}
	if c.err != nil {
		return n, c.err
	}
	return n, nil
}

// frameReady returns the length of the frame at the start of b if it is
// complete, or, for a HEADERS without END_HEADERS, of the whole run up to
// the frame that ends it; 0 when more bytes are needed (or a connection
// error was found). Only 9-byte frame headers are inspected, and runScan
// remembers how much of an incomplete run was checked, so a frame
// arriving in many small reads is not re-scanned from its start each time.
func (c *Conn) frameReady(b []byte) int {
	if len(b) < frameHeaderLen {
		return 0
	}
	size := frameHeaderLen + frameLen(b)
	if size-frameHeaderLen > int(c.cfg.MaxFrameSize) {
		c.fail(http2.ErrCodeFrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE")
		return 0
	}
	if http2.FrameType(b[3]) != http2.FrameHeaders || http2.Flags(b[4]).Has(http2.FlagHeadersEndHeaders) {
		if len(b) < size {
			return 0
		}
		return size
	}
	id := frameStream(b)
	off := max(size, c.runScan)
	for {
		if len(b) < off+frameHeaderLen {
			c.runScan = off
			return 0
		}
		h := b[off:]
		if http2.FrameType(h[3]) != http2.FrameContinuation || frameStream(h) != id {
			// The Framer refuses this frame header as out of order; give it
			// just the header so it can.
			c.runScan = 0
			return off + frameHeaderLen
		}
		l := frameLen(h)
		if l > int(c.cfg.MaxFrameSize) {
			c.fail(http2.ErrCodeFrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE")
			return 0
		}
		if off+frameHeaderLen+l > c.maxRun {
			// RFC 9113 §4.3: a field block we will not decompress is a
			// connection error of type COMPRESSION_ERROR. Checking before
			// the frame is buffered keeps what the caller holds under
			// MaxBuffered.
			c.fail(http2.ErrCodeCompression, "header block too large")
			return 0
		}
		if len(b) < off+frameHeaderLen+l {
			c.runScan = off
			return 0
		}
		off += frameHeaderLen + l
		if http2.Flags(h[4]).Has(http2.FlagContinuationEndHeaders) {
			c.runScan = 0
			return off
		}
	}
}

func frameLen(b []byte) int { return int(b[0])<<16 | int(b[1])<<8 | int(b[2]) }

func frameStream(b []byte) uint32 {
	return (uint32(b[5])<<24 | uint32(b[6])<<16 | uint32(b[7])<<8 | uint32(b[8])) & (1<<31 - 1)
}

// readFrame reads one frame (a whole header run for HEADERS) from c.rd
// and acts on it.
func (c *Conn) readFrame(typ http2.FrameType, id uint32) {
	f, err := c.fr.ReadFrame()
	if err != nil {
		c.frameError(typ, id, err)
		return
	}
	switch f := f.(type) {
	case *http2.DataFrame:
		c.onData(f)
	case *http2.HeadersFrame:
		c.onHeaders(f)
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			// RFC 9113 §5.3.1: a stream cannot depend on itself.
			c.streamError(f.StreamID, http2.ErrCodeProtocol)
		}
	case *http2.RSTStreamFrame:
		c.onRSTStream(f)
	case *http2.SettingsFrame:
		c.onSettings(f)
	case *http2.PushPromiseFrame:
		c.fail(http2.ErrCodeProtocol, "PUSH_PROMISE from a client")
	case *http2.PingFrame:
		if !f.IsAck() {
			c.fr.WritePing(true, f.Data)
		}
	case *http2.GoAwayFrame:
		c.goawayRecv = true
	case *http2.WindowUpdateFrame:
		c.onWindowUpdate(f)
	case *http2.ContinuationFrame:
		// The Framer refuses a CONTINUATION outside a header block, and
		// onHeaders reads those inside one.
		c.fail(http2.ErrCodeProtocol, "unexpected CONTINUATION")
	}
	// Unknown frame types (and PRIORITY_UPDATE) are ignored, as
	// RFC 9113 §4.1 and §5.5 require.
}

// frameError turns an error from the Framer into the stream or connection
// error RFC 9113 asks for where the Framer's choice is not it.
func (c *Conn) frameError(typ http2.FrameType, id uint32, err error) {
	var se http2.StreamError
	var ce http2.ConnectionError
	switch {
	case errors.As(err, &se):
		switch {
		case typ == http2.FrameHeaders:
			// Bad padding: the block was not decoded, so the HPACK
			// state is lost, and RFC 9113 §6.2 makes it a connection
			// error anyway.
			c.fail(http2.ErrCodeProtocol, "HEADERS padding exceeds payload")
		case c.idle(se.StreamID):
			c.fail(http2.ErrCodeProtocol, "frame on idle stream")
		default:
			c.streamError(se.StreamID, se.Code)
		}
	case errors.As(err, &ce):
		code := http2.ErrCode(ce)
		if typ == http2.FramePriority && code == http2.ErrCodeFrameSize && id != 0 {
			// RFC 9113 §6.3: a PRIORITY of the wrong length is a
			// stream error; the Framer makes it a connection one.
			c.streamError(id, code)
			return
		}
		reason := "invalid frame"
		if d := c.fr.ErrorDetail(); d != nil {
			reason = d.Error()
		}
		c.fail(code, reason)
	case errors.Is(err, http2.ErrFrameTooLarge):
		c.fail(http2.ErrCodeFrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE")
	case errors.Is(err, io.ErrUnexpectedEOF):
		// Feed hands the Framer whole frames, so this is a payload too
		// short for its mandatory fields (a pad length, a priority).
		c.fail(http2.ErrCodeFrameSize, "frame too short")
	default:
		c.fail(http2.ErrCodeProtocol, err.Error())
	}
}
