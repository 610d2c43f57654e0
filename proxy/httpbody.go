package proxy

import (
	"bufio"
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
}

func (t *timedConn) Read(p []byte) (int, error) {
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
