package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"time"
)

// timedConn reads and writes a TCP connection with an inactivity timeout:
// each read (write) pushes the read (write) deadline rd (wd) ahead. To keep
// timer updates off the per-call path, a deadline is moved only when it was
// last set more than a sixteenth of the timeout ago, so a timeout fires at
// most 6% early. With rd 0 reads run under whatever deadline was set
// directly on the connection. It also counts the bytes it moved.
type timedConn struct {
	c            net.Conn
	rd, wd       time.Duration
	rdSet, wdSet time.Time
	in, out      int64
	// pre is read before c: bytes an event loop read (and counted) before
	// it handed the connection over.
	pre []byte
}

func (t *timedConn) Read(p []byte) (int, error) {
	if len(t.pre) > 0 {
		n := copy(p, t.pre)
		t.pre = t.pre[n:]
		return n, nil
	}
	if t.rd > 0 {
		if now := time.Now(); now.Sub(t.rdSet) > t.rd/16 {
			t.c.SetReadDeadline(now.Add(t.rd))
			t.rdSet = now
		}
	}
	n, err := t.c.Read(p)
	t.in += int64(n)
	return n, err
}

func (t *timedConn) Write(p []byte) (int, error) {
	if t.wd > 0 {
		if now := time.Now(); now.Sub(t.wdSet) > t.wd/16 {
			t.c.SetWriteDeadline(now.Add(t.wd))
			t.wdSet = now
		}
	}
	n, err := t.c.Write(p)
	t.out += int64(n)
	return n, err
}

// readTimeout switches reads to inactivity timeout d (0: the deadline set
// on the connection applies).
func (t *timedConn) readTimeout(d time.Duration) {
	t.rd, t.rdSet = d, time.Time{}
}

// copyError tells which side of a copy failed.
type copyError struct {
	err  error
	read bool // the source failed (or sent garbage); otherwise the destination
}

func (e *copyError) Error() string { return e.err.Error() }
func (e *copyError) Unwrap() error { return e.err }

func readErr(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &copyError{err: err, read: true}
}
func writeErr(err error) error { return &copyError{err: err} }

// srcFailed reports whether err (from a copy) came from the source side.
func srcFailed(err error) bool {
	var ce *copyError
	return errors.As(err, &ce) && ce.read
}

// copyN moves exactly n bytes from src to dst through dst's buffer. It
// flushes dst whenever src has nothing buffered, before it would block, so
// a slow stream is forwarded as it comes and never sits in a buffer.
func copyN(dst *bufio.Writer, src *bufio.Reader, n int64) error {
	for n > 0 {
		if src.Buffered() == 0 || dst.Available() == 0 {
			if err := dst.Flush(); err != nil {
				return writeErr(err)
			}
		}
		buf := dst.AvailableBuffer()
		buf = buf[:min(int64(cap(buf)), n)]
		m, err := src.Read(buf)
		if m > 0 {
			dst.Write(buf[:m]) // into its own free space: a copy onto itself
			n -= int64(m)
		}
		if err != nil && n > 0 {
			return readErr(err)
		}
	}
	return nil
}

// copyUntilEOF moves src to dst until src ends (a response without framing).
func copyUntilEOF(dst *bufio.Writer, src *bufio.Reader) error {
	for {
		if src.Buffered() == 0 || dst.Available() == 0 {
			if err := dst.Flush(); err != nil {
				return writeErr(err)
			}
		}
		buf := dst.AvailableBuffer()
		m, err := src.Read(buf[:cap(buf)])
		if m > 0 {
			dst.Write(buf[:m])
		}
		if err == io.EOF {
			if err := dst.Flush(); err != nil {
				return writeErr(err)
			}
			return nil
		}
		if err != nil {
			return &copyError{err: err, read: true}
		}
	}
}

// maxTrailerBytes bounds the trailer section of a chunked body.
const maxTrailerBytes = 16 << 10

// copyChunked forwards a chunked body verbatim (sizes, extensions, data and
// trailers) after checking its framing, so the end of the body is known
// without decoding it into memory.
func copyChunked(dst *bufio.Writer, src *bufio.Reader) error {
	for {
		line, err := src.ReadSlice('\n')
		if err != nil {
			if err == bufio.ErrBufferFull {
				err = errMalformed
			}
			return readErr(err)
		}
		size, ok := chunkSize(line)
		if !ok {
			return readErr(errMalformed)
		}
		if _, err := dst.Write(line); err != nil {
			return writeErr(err)
		}
		if size == 0 {
			total := 0
			for {
				line, err := src.ReadSlice('\n')
				if err != nil {
					if err == bufio.ErrBufferFull {
						err = errMalformed
					}
					return readErr(err)
				}
				total += len(line)
				if total > maxTrailerBytes {
					return readErr(errMalformed)
				}
				if _, err := dst.Write(line); err != nil {
					return writeErr(err)
				}
				if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
					if err := dst.Flush(); err != nil {
						return writeErr(err)
					}
					return nil
				}
			}
		}
		if err := copyN(dst, src, size); err != nil {
			return err
		}
		line, err = src.ReadSlice('\n')
		if err != nil {
			if err == bufio.ErrBufferFull {
				err = errMalformed
			}
			return readErr(err)
		}
		if !(len(line) == 1 || (len(line) == 2 && line[0] == '\r')) {
			return readErr(errMalformed)
		}
		if _, err := dst.Write(line); err != nil {
			return writeErr(err)
		}
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return writeErr(err)
			}
		}
	}
}

// chunkSize parses the hex size at the start of a chunk-size line.
func chunkSize(line []byte) (int64, bool) {
	n, digits := int64(0), 0
	for _, c := range line {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		case c == ';' || c == ' ' || c == '\t' || c == '\r' || c == '\n':
			return n, digits > 0
		default:
			return 0, false
		}
		if digits >= 15 {
			return 0, false
		}
		n = n<<4 | int64(d)
		digits++
	}
	return n, digits > 0
}

// chunkScanner follows a chunked body as it streams past, to find where
// it ends, with copyChunked's rules: the event loops forward the bytes as
// they are and need only the framing.
type chunkScanner struct {
	state   chunkState
	line    []byte // the part of a size line or CRLF read so far
	left    int64  // data bytes left in the current chunk
	trailer int    // trailer bytes so far
}

type chunkState uint8

const (
	chunkSizeLine chunkState = iota // reading a chunk-size line
	chunkData                       // inside a chunk's data
	chunkDataEnd                    // reading the CRLF after the data
	chunkTrailer                    // reading trailer lines
	chunkDone                       // the body has ended
)

// scan takes the next bytes of the body. It returns how many of them
// belong to the body (fewer than len(p) only when the body ended inside
// p), whether the body has ended, and errMalformed for a broken framing.
func (c *chunkScanner) scan(p []byte) (int, bool, error) {
	n := 0
	for n < len(p) {
		switch c.state {
		case chunkData:
			k := int(min(c.left, int64(len(p)-n)))
			n += k
			c.left -= int64(k)
			if c.left == 0 {
				c.state = chunkDataEnd
			}
			continue
		case chunkDone:
			return n, true, nil
		}
		// A line: the size line, the CRLF after data or a trailer line.
		i := bytes.IndexByte(p[n:], '\n')
		if i < 0 {
			c.line = append(c.line, p[n:]...)
			n = len(p)
			if c.tooLong(false) {
				return n, false, errMalformed
			}
			break
		}
		c.line = append(c.line, p[n:n+i+1]...)
		n += i + 1
		if c.tooLong(true) {
			return n, false, errMalformed
		}
		line := c.line
		c.line = c.line[:0]
		switch c.state {
		case chunkSizeLine:
			size, ok := chunkSize(line)
			if !ok {
				return n, false, errMalformed
			}
			if size == 0 {
				c.state = chunkTrailer
			} else {
				c.state, c.left = chunkData, size
			}
		case chunkDataEnd:
			if !(len(line) == 1 || (len(line) == 2 && line[0] == '\r')) {
				return n, false, errMalformed
			}
			c.state = chunkSizeLine
		case chunkTrailer:
			c.trailer += len(line)
			if c.trailer > maxTrailerBytes {
				return n, false, errMalformed
			}
			if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
				c.state = chunkDone
				return n, true, nil
			}
		}
	}
	return n, c.state == chunkDone, nil
}

// tooLong: a line longer than copyChunked's reader holds is malformed;
// an unfinished one already fills it when it is as long as the reader.
func (c *chunkScanner) tooLong(finished bool) bool {
	limit := httpReaderSize
	if !finished {
		limit--
	}
	switch c.state {
	case chunkTrailer:
		return c.trailer+len(c.line) > maxTrailerBytes || len(c.line) > limit
	case chunkDataEnd:
		return len(c.line) > 2
	}
	return len(c.line) > limit
}

// reset prepares c for the next body.
func (c *chunkScanner) reset() {
	c.state, c.line, c.left, c.trailer = chunkSizeLine, c.line[:0], 0, 0
}
