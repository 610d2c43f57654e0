package httpcore

import (
	"bytes"
)

// Chunked bodies are read as they stream past and written again in a
// canonical form: each chunk's size in lower-case hex without extensions,
// and the trailer section as fields that parse, with those that frame,
// route or belong to the connection left out. What reaches the next hop
// is what vigil understood, so a backend with a laxer (or stricter)
// chunk parser cannot read the body another way (HAProxy re-frames
// chunked bodies the same way).

// MaxTrailer bounds the trailer section of a chunked body.
const MaxTrailer = 16 << 10

// maxChunkLine bounds a chunk-size line, extensions included.
const maxChunkLine = 4 << 10

// maxChunkSize keeps chunk sizes below 2^52, as HAProxy does: some
// parsers hold sizes in floating point.
const maxChunkSize = 1<<52 - 1

// ChunkMode says what a Chunked makes of a body.
type ChunkMode uint8

const (
	// Reframe writes the body chunked again, canonically.
	Reframe ChunkMode = iota
	// Decode writes the data only; the trailer fields are kept for
	// Trailers (HTTP/2 sends them in a frame of their own).
	Decode
)

// Chunked follows one chunked body as its bytes arrive, in any pieces.
// The zero value is ready for a body in Reframe mode.
type Chunked struct {
	Mode    ChunkMode
	state   chunkState
	line    []byte // the part of a size line, CRLF or trailer line read so far
	left    int64  // data bytes left in the current chunk
	trailer []byte // Decode: the trailer fields kept, as "name: value\r\n" lines
	nTrail  int    // trailer bytes read
}

type chunkState uint8

const (
	chunkSizeLine chunkState = iota
	chunkData
	chunkDataEnd // the CRLF after a chunk's data
	chunkTrailer
	chunkDone
)

// Reset prepares c for the next body, in mode m.
func (c *Chunked) Reset(m ChunkMode) {
	c.Mode, c.state, c.left, c.nTrail = m, chunkSizeLine, 0, 0
	c.line, c.trailer = c.line[:0], c.trailer[:0]
}

// Done reports whether the body has ended.
func (c *Chunked) Done() bool { return c.state == chunkDone }

// Trailers returns the trailer fields kept in Decode mode, each as
// "name: value\r\n"; valid until Reset.
func (c *Chunked) Trailers() []byte { return c.trailer }

// Feed takes the next bytes of the body and appends what they make to out:
// the re-framed body (Reframe) or its data (Decode). It returns how many
// bytes of p belong to the body (fewer than len(p) only when the body ended
// inside p), whether it ended, and ErrChunk or ErrTrailer for a body that
// does not parse.
func (c *Chunked) Feed(p []byte, out []byte) (int, []byte, bool, error) {
	n := 0
	for n < len(p) {
		switch c.state {
		case chunkDone:
			return n, out, true, nil
		case chunkData:
			k := int(min(c.left, int64(len(p)-n)))
			out = append(out, p[n:n+k]...)
			n += k
			c.left -= int64(k)
			if c.left == 0 {
				c.state = chunkDataEnd
			}
			continue
		}
		// A line: a chunk size, the CRLF after data, or a trailer line.
		i := bytes.IndexByte(p[n:], '\n')
		if i < 0 {
			c.line = append(c.line, p[n:]...)
			n = len(p)
			if err := c.tooLong(); err != nil {
				return n, out, false, err
			}
			break
		}
		c.line = append(c.line, p[n:n+i+1]...)
		n += i + 1
		if err := c.tooLong(); err != nil {
			return n, out, false, err
		}
		line := c.line
		c.line = c.line[:0]
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return n, out, false, ErrChunk // a line ends with CRLF, never LF alone
		}
		line = line[:len(line)-2]
		var err error
		switch c.state {
		case chunkSizeLine:
			out, err = c.sizeLine(line, out)
		case chunkDataEnd:
			if len(line) != 0 {
				return n, out, false, ErrChunk
			}
			if c.Mode == Reframe {
				out = append(out, '\r', '\n')
			}
			c.state = chunkSizeLine
		case chunkTrailer:
			out, err = c.trailerLine(line, out)
		}
		if err != nil {
			return n, out, false, err
		}
		if c.state == chunkDone {
			return n, out, true, nil
		}
	}
	return n, out, c.state == chunkDone, nil
}

// tooLong reports a line that grew past its bound.
func (c *Chunked) tooLong() error {
	switch c.state {
	case chunkTrailer:
		if c.nTrail+len(c.line) > MaxTrailer {
			return ErrTrailersTooMuch
		}
	case chunkDataEnd:
		if len(c.line) > 2 {
			return ErrChunk
		}
	default:
		if len(c.line) > maxChunkLine {
			return ErrChunk
		}
	}
	return nil
}

// sizeLine parses a chunk-size line (without CRLF): hex digits, optional
// whitespace, and extensions, which are dropped. Inside an extension any
// visible character goes, quoted strings and quoted pairs must be closed,
// and a control character (a bare CR or LF included) is refused, as
// HAProxy does.
func (c *Chunked) sizeLine(line, out []byte) ([]byte, error) {
	size, i := int64(0), 0
	for ; i < len(line); i++ {
		d := unhex(line[i])
		if d < 0 {
			break
		}
		size = size<<4 | int64(d)
		if size > maxChunkSize {
			return out, ErrChunk
		}
	}
	if i == 0 {
		return out, ErrChunk
	}
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	if i < len(line) {
		if line[i] != ';' {
			return out, ErrChunk
		}
		quote, escape := false, false
		for _, b := range line[i+1:] {
			switch {
			case (b < ' ' && b != '\t') || b == 0x7f:
				return out, ErrChunk
			case escape:
				escape = false
			case b == '\\':
				if !quote {
					return out, ErrChunk
				}
				escape = true
			case b == '"':
				quote = !quote
			}
		}
		if quote || escape {
			return out, ErrChunk
		}
	}
	if size == 0 {
		c.state = chunkTrailer
		if c.Mode == Reframe {
			out = append(out, '0', '\r', '\n')
		}
		return out, nil
	}
	c.state, c.left = chunkData, size
	if c.Mode == Reframe {
		out = AppendHex(out, uint64(size))
		out = append(out, '\r', '\n')
	}
	return out, nil
}

// trailerLine takes one line of the trailer section (without CRLF): a
// field, or the empty line that ends the body.
func (c *Chunked) trailerLine(line, out []byte) ([]byte, error) {
	c.nTrail += len(line) + 2
	if len(line) == 0 {
		c.state = chunkDone
		if c.Mode == Reframe {
			out = append(out, '\r', '\n')
		}
		return out, nil
	}
	f, err := ParseField(line, 0, len(line))
	if err != nil {
		return out, ErrTrailer
	}
	if !TrailerAllowed(line[f.Name.A:f.Name.B], f.Kind) {
		return out, nil
	}
	field := line[f.Name.A:f.Name.B]
	value := line[f.Value.A:f.Value.B]
	if c.Mode == Reframe {
		out = appendField(out, field, value)
	} else {
		c.trailer = appendField(c.trailer, field, value)
	}
	return out, nil
}

func appendField(out, name, value []byte) []byte {
	out = append(out, name...)
	out = append(out, ':', ' ')
	out = append(out, value...)
	return append(out, '\r', '\n')
}

// TrailerAllowed reports whether a trailer field may be passed on: not one
// that frames the message, routes it, or belongs to the connection (RFC
// 9110 6.5.1), nor one a proxy decides from the head (cookies, forwarding).
func TrailerAllowed(name []byte, k FieldKind) bool {
	switch k {
	case KindOther, KindReferer, KindUserAgent:
	default:
		return false
	}
	switch len(name) {
	case 7:
		return !EqualFold(name, "trailer")
	case 10:
		return !EqualFold(name, "set-cookie")
	case 12:
		return !EqualFold(name, "content-type")
	case 13:
		return !EqualFold(name, "authorization") && !EqualFold(name, "cache-control")
	case 16:
		return !EqualFold(name, "content-encoding")
	}
	return true
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// AppendHex appends n in lower-case hex without leading zeros.
func AppendHex(out []byte, n uint64) []byte {
	const digits = "0123456789abcdef"
	var buf [16]byte
	i := len(buf)
	for {
		i--
		buf[i] = digits[n&15]
		n >>= 4
		if n == 0 {
			break
		}
	}
	return append(out, buf[i:]...)
}

// AppendChunk appends data as one chunk (nothing for empty data, which
// would end the body).
func AppendChunk(out, data []byte) []byte {
	if len(data) == 0 {
		return out
	}
	out = AppendHex(out, uint64(len(data)))
	out = append(out, '\r', '\n')
	out = append(out, data...)
	return append(out, '\r', '\n')
}

// AppendLastChunk appends the end of a chunked body with the trailer
// fields given as "name: value\r\n" lines.
func AppendLastChunk(out, trailers []byte) []byte {
	out = append(out, '0', '\r', '\n')
	out = append(out, trailers...)
	return append(out, '\r', '\n')
}
