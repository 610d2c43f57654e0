package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"time"

	"vigil/proxy/httpcore"
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

// The pumps move a body from a reader to an emit function (a bufio.Writer's
// Write, or a downstream's write) as it arrives: whenever src has nothing
// buffered, before a read would block, they flush, so a slow stream is
// forwarded as it comes and never sits in a buffer. They return how many
// bytes of src the body took, and errors wrapped by readErr or writeErr
// to say which side failed.

// pumpLength moves exactly n bytes.
func pumpLength(src *bufio.Reader, n int64, emit func([]byte) (int, error), flush func() error) (int64, error) {
	var moved int64
	for moved < n {
		if src.Buffered() == 0 {
			if err := flush(); err != nil {
				return moved, writeErr(err)
			}
		}
		if _, err := src.Peek(1); err != nil {
			return moved, readErr(err)
		}
		p, _ := src.Peek(int(min(int64(src.Buffered()), n-moved)))
		if _, err := emit(p); err != nil {
			return moved, writeErr(err)
		}
		src.Discard(len(p))
		moved += int64(len(p))
	}
	return moved, nil
}

// pumpUntilEOF moves src until it ends (a response without framing).
func pumpUntilEOF(src *bufio.Reader, emit func([]byte) (int, error), flush func() error) (int64, error) {
	var moved int64
	for {
		if src.Buffered() == 0 {
			if err := flush(); err != nil {
				return moved, writeErr(err)
			}
		}
		if _, err := src.Peek(1); err != nil {
			if err == io.EOF {
				return moved, nil
			}
			return moved, &copyError{err: err, read: true}
		}
		p, _ := src.Peek(src.Buffered())
		if _, err := emit(p); err != nil {
			return moved, writeErr(err)
		}
		src.Discard(len(p))
		moved += int64(len(p))
	}
}

// pumpChunked moves a chunked body through c, which re-frames or decodes
// it (httpcore.Chunked), into emit; out is scratch space it may grow.
// trailers, when not nil, gets the trailer fields c kept (Decode mode).
func pumpChunked(src *bufio.Reader, c *httpcore.Chunked, out *[]byte, emit func([]byte) (int, error), flush func() error, trailers func([]byte) error) (int64, error) {
	var moved int64
	for {
		if src.Buffered() == 0 {
			if err := flush(); err != nil {
				return moved, writeErr(err)
			}
		}
		if _, err := src.Peek(1); err != nil {
			return moved, readErr(err)
		}
		p, _ := src.Peek(src.Buffered())
		n, o, done, err := c.Feed(p, (*out)[:0])
		*out = o
		src.Discard(n)
		moved += int64(n)
		if len(o) > 0 {
			if _, werr := emit(o); werr != nil {
				return moved, writeErr(werr)
			}
		}
		if err != nil {
			return moved, readErr(err)
		}
		if done {
			if trailers != nil && len(c.Trailers()) > 0 {
				if err := trailers(c.Trailers()); err != nil {
					return moved, writeErr(err)
				}
			}
			return moved, nil
		}
	}
}
