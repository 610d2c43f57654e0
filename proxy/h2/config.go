package h2

// Config sets what a Conn advertises and enforces. Zero values mean the
// defaults noted on each field.
type Config struct {
	// MaxConcurrentStreams is advertised in SETTINGS and enforced: a
	// stream beyond it is refused with RST_STREAM REFUSED_STREAM.
	// Default 100.
	MaxConcurrentStreams uint32
	// StreamWindow is the per-stream receive window advertised as
	// SETTINGS_INITIAL_WINDOW_SIZE. Default 65535, at most 2^31-1.
	StreamWindow uint32
	// ConnWindow is the connection receive window, raised with a
	// WINDOW_UPDATE on stream 0 right after SETTINGS. Default 1<<20; it
	// cannot be below the protocol's initial 65535.
	ConnWindow uint32
	// MaxFrameSize is the SETTINGS_MAX_FRAME_SIZE accepted from the
	// client. Default 16384, within [16384, 2^24-1].
	MaxFrameSize uint32
	// MaxHeaderBytes is advertised as SETTINGS_MAX_HEADER_LIST_SIZE
	// (field sizes as RFC 9113 §6.5.2 counts them). A decoded header
	// list beyond it is answered with 431; a compressed block too long
	// to buffer is a connection error. Default 64<<10.
	MaxHeaderBytes uint32
}

const (
	initialWindow  = 65535
	maxWindow      = 1<<31 - 1
	minFrameSize   = 16384
	maxFrameSize   = 1<<24 - 1
	frameHeaderLen = 9
)

// withDefaults fills zero fields and clamps the rest into what the
// protocol allows, so the rest of the package never re-checks them.
func (c Config) withDefaults() Config {
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = 100
	}
	if c.StreamWindow == 0 {
		c.StreamWindow = initialWindow
	}
	c.StreamWindow = min(c.StreamWindow, maxWindow)
	if c.ConnWindow == 0 {
		c.ConnWindow = 1 << 20
	}
	c.ConnWindow = min(max(c.ConnWindow, initialWindow), maxWindow)
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = minFrameSize
	}
	c.MaxFrameSize = min(max(c.MaxFrameSize, minFrameSize), maxFrameSize)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 64 << 10
	}
	return c
}
