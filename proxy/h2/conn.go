package h2

import (
	"bytes"
	"fmt"
	"io"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Handler receives a connection's request events. Its methods run only
// inside Feed, on the goroutine that owns the Conn, and may call the Conn's
// methods (the Write methods, Consumed, ResetStream, GoAway).
type Handler interface {
	// Request reports a complete, validated request header block that
	// opened stream id; end says END_STREAM was set (no body follows).
	// r and its slices are only valid during the call.
	Request(id uint32, r *Request, end bool)
	// Data hands over request body bytes of stream id, padding removed;
	// end is set on END_STREAM. p is only valid during the call. The
	// stream's receive window is refunded only through Conn.Consumed.
	Data(id uint32, p []byte, end bool)
	// Trailers reports the trailer block that ended stream id. fields is
	// only valid during the call.
	Trailers(id uint32, fields []hpack.HeaderField)
	// Reset reports that stream id is gone: the client reset it, or the
	// core found a stream error and already answered it with RST_STREAM.
	// No more calls follow for id.
	Reset(id uint32, code http2.ErrCode)
	// Writable reports that the send window of stream id (id 0: the
	// connection's) grew, so WriteData may take more.
	Writable(id uint32)
}

// Request is a request header block, validated per RFC 9113 §8.2-8.3.
type Request struct {
	// Method, Scheme, Authority and Path are the pseudo-header fields;
	// Authority may be empty, and so may Scheme and Path for CONNECT.
	Method, Scheme, Authority, Path string
	// Fields are the regular fields in the order received, names in
	// lower case, pseudo-header fields excluded.
	Fields []hpack.HeaderField
	// ContentLength is the content-length field's value, -1 without one.
	ContentLength int64
}

// ConnError is the connection error Feed returns: the GOAWAY carrying
// Code is already queued in Output, and the caller should write Output
// and close.
type ConnError struct {
	Code   http2.ErrCode
	Reason string
}

// Error describes the connection error for logs.
func (e *ConnError) Error() string {
	return fmt.Sprintf("h2: connection error %v: %s", e.Code, e.Reason)
}

// Conn is the server side of one HTTP/2 connection.
type Conn struct {
	cfg Config
	h   Handler

	fr  *http2.Framer
	rd  sliceReader
	out bytes.Buffer

	enc  *hpack.Encoder
	hbuf bytes.Buffer
	dec  *hpack.Decoder

	// The header block being decoded: fields collected by emit and their
	// RFC 9113 §6.5.2 size, and whether the list outgrew MaxHeaderBytes.
	fields    []hpack.HeaderField
	hdrSize   uint32
	truncated bool
	req       Request

	streams map[uint32]*stream
	free    *stream
	ids     []uint32 // scratch for notifying streams while the map changes

	prefaceDone bool
	maxClientID uint32 // highest stream id the client has used
	runScan     int    // bytes of an incomplete HEADERS+CONTINUATION run already checked
	maxRun      int

	settingsAcked  bool
	peerMaxFrame   uint32
	peerInitWindow int64
	connSend       int64 // what we may still send on the connection
	connRecv       int64 // what the client may still send on the connection
	connOwed       int64 // received connection bytes not yet refunded

	goawaySent   bool
	goawayRecv   bool
	lastAccepted uint32

	err error
}

// sliceReader lets the Framer read frames straight from the bytes handed
// to Feed; Feed only hands it complete frames, so it never runs dry mid-frame.
type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// NewConn returns a connection that has queued the server's SETTINGS and
// the connection WINDOW_UPDATE in Output, and expects the client preface
// first in Feed.
func NewConn(cfg Config, h Handler) *Conn {
	cfg = cfg.withDefaults()
	c := &Conn{
		cfg:            cfg,
		h:              h,
		streams:        make(map[uint32]*stream),
		peerMaxFrame:   minFrameSize,
		peerInitWindow: initialWindow,
		connSend:       initialWindow,
		connRecv:       int64(cfg.ConnWindow),
	}
	// A compressed block is at most slightly larger than the header list
	// it decodes to; beyond that plus a frame of slack, buffering it is
	// only a way to make us hold memory.
	c.maxRun = int(cfg.MaxHeaderBytes) + int(cfg.MaxFrameSize) + frameHeaderLen
	c.fr = http2.NewFramer(&c.out, &c.rd)
	c.fr.SetMaxReadFrameSize(cfg.MaxFrameSize)
	c.fr.SetReuseFrames()
	c.enc = hpack.NewEncoder(&c.hbuf)
	c.dec = hpack.NewDecoder(4096, c.emit)
	c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: cfg.MaxConcurrentStreams},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: cfg.StreamWindow},
		http2.Setting{ID: http2.SettingMaxFrameSize, Val: cfg.MaxFrameSize},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: cfg.MaxHeaderBytes},
	)
	if cfg.ConnWindow > initialWindow {
		c.fr.WriteWindowUpdate(0, cfg.ConnWindow-initialWindow)
	}
	return c
}

// Output returns the bytes queued for the client. They stay queued until
// Advance drops them.
func (c *Conn) Output() []byte { return c.out.Bytes() }

// Advance drops the first n bytes of Output, which the caller has written.
func (c *Conn) Advance(n int) { c.out.Next(n) }

// Active returns the number of streams not yet closed.
func (c *Conn) Active() int { return len(c.streams) }

// Closing reports whether a GOAWAY was sent or received: no new streams
// will be served, and the caller closes once Active is 0.
func (c *Conn) Closing() bool { return c.goawaySent || c.goawayRecv }

// MaxBuffered returns the most bytes Feed may leave unconsumed while it
// waits for the rest of a frame or header block: the caller's read buffer
// must hold at least this much plus one read.
func (c *Conn) MaxBuffered() int {
	// A single frame fits in maxRun, and frameReady refuses a header run
	// before it outgrows maxRun; the 9 are the header of the frame that
	// would have.
	return c.maxRun + frameHeaderLen
}

// GoAway queues a GOAWAY with code. With NO_ERROR it is graceful: the
// last-stream-id is the highest stream accepted so far, streams the client
// opens after it are refused, and those already open finish; the caller
// closes when Active is 0. With any other code the caller closes after
// writing Output.
func (c *Conn) GoAway(code http2.ErrCode) {
	if c.err != nil {
		return
	}
	if !c.goawaySent {
		c.goawaySent = true
		c.lastAccepted = c.maxClientID
	}
	c.fr.WriteGoAway(c.lastAccepted, code, nil)
}

// fail records a connection error and queues its GOAWAY. Nothing is
// processed after it: the caller is expected to close.
func (c *Conn) fail(code http2.ErrCode, reason string) {
	if c.err != nil {
		return
	}
	c.goawaySent = true
	c.fr.WriteGoAway(c.maxClientID, code, []byte(reason))
	c.err = &ConnError{Code: code, Reason: reason}
}
