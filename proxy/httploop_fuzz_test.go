package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// The event loops parse heads and follow chunked bodies from the bytes they
// have read so far (parse, headEnd, chunkScanner); the goroutine path reads
// them through a bufio.Reader (read, copyChunked). These fuzz targets hold
// the byte-slice versions to the reader-based ones.

// FuzzHeadParse: parse agrees with read on every input, and headEnd finds
// the end of the head parse accepts, however the bytes arrived.
func FuzzHeadParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, request bool) {
		rd := bytes.NewReader(data)
		br := bufio.NewReaderSize(rd, httpReaderSize)
		var hr httpHead
		rerr := hr.read(br, request)
		used := len(data) - br.Buffered() - rd.Len()

		// The loops reuse one head: parse into one that held another
		// head first, so state reset forgets shows up as a difference.
		var hp httpHead
		if _, err := hp.parse([]byte(dirtyHead), true); err != nil {
			t.Fatalf("dirty head: %v", err)
		}
		n, perr := hp.parse(data, request)

		switch rerr {
		case nil:
			if perr != nil || n != used {
				t.Fatalf("read took %d bytes, parse: %d, %v", used, n, perr)
			}
			compareHeads(t, &hr, &hp, request)
		case errMalformed, errHeadTooLarge:
			if perr != rerr {
				t.Fatalf("read: %v, parse: %d, %v", rerr, n, perr)
			}
		case io.EOF, io.ErrUnexpectedEOF:
			// read ran out of bytes: parse must wait for more.
			switch perr {
			case errIncomplete:
			case errHeadTooLarge:
				// parse may see early that the unfinished line already
				// breaks maxHeadBytes; read must agree once it ends.
				var h httpHead
				full := append(append([]byte(nil), data...), '\n')
				if err := h.read(bufio.NewReaderSize(bytes.NewReader(full), httpReaderSize), request); err != errHeadTooLarge {
					t.Fatalf("read: %v, parse: %v, but read of data+LF: %v", rerr, perr, err)
				}
			default:
				t.Fatalf("read: %v, parse: %d, %v", rerr, n, perr)
			}
		default:
			t.Fatalf("read: unexpected error %v", rerr)
		}

		// Leading empty lines parse skips (requests only, at most 4).
		skip := 0
		for i := 0; request && i < 4; i++ {
			if bytes.HasPrefix(data[skip:], []byte("\n")) {
				skip++
			} else if bytes.HasPrefix(data[skip:], []byte("\r\n")) {
				skip += 2
			} else {
				break
			}
		}
		end := headEnd(data, 0)
		switch {
		case perr == nil:
			if skip == 0 && end != n {
				t.Fatalf("parse took %d bytes, headEnd: %d", n, end)
			}
			if e := headEnd(data[skip:], 0); e != n-skip {
				t.Fatalf("parse took %d bytes after %d empty, headEnd after them: %d", n, skip, e)
			}
		case perr == errIncomplete && skip == 0:
			if end != -1 {
				t.Fatalf("parse incomplete, headEnd: %d", end)
			}
		}
		// The loop calls headEnd again with from = the length it searched
		// before: that must find what one search from 0 finds.
		step := 1
		if len(data) > 1024 {
			step = len(data)/512 + 1
		}
		for k := 0; k <= len(data); k += step {
			if headEnd(data[:k], 0) != -1 {
				break
			}
			if e := headEnd(data, k); e != end {
				t.Fatalf("headEnd(data, %d) = %d, from 0: %d", k, e, end)
			}
		}
	})
}

// dirtyHead sets most of httpHead's flags, for the parse into a reused head.
const dirtyHead = "POST /dirty HTTP/1.1\r\nHost: dirty\r\nContent-Length: 0\r\n" +
	"Connection: close, keep-alive, upgrade, X-Dirty\r\nX-Dirty: 1\r\nUpgrade: h2c\r\n" +
	"Expect: 100-continue\r\n\r\n"

func compareHeads(t *testing.T, r, p *httpHead, request bool) {
	t.Helper()
	eq := func(what string, a, b []byte) {
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: read %q, parse %q", what, a, b)
		}
	}
	if request {
		eq("method", r.bytes(r.method), p.bytes(p.method))
		eq("target", r.bytes(r.target), p.bytes(p.target))
	} else {
		if r.status != p.status {
			t.Fatalf("status: read %d, parse %d", r.status, p.status)
		}
		eq("status text", r.bytes(r.statusText), p.bytes(p.statusText))
	}
	type flags struct {
		minor                                            int
		contentLength                                    int64
		chunked, badTE, connClose, connKeepAlive         bool
		connUpgrade, hasUpgrade, hasHost, expectContinue bool
		fields, tokens                                   int
	}
	fl := func(h *httpHead) flags {
		return flags{h.minor, h.contentLength, h.chunked, h.badTE, h.connClose, h.connKeepAlive,
			h.connUpgrade, h.hasUpgrade, h.hasHost, h.expectContinue, len(h.fields), len(h.tokens)}
	}
	if a, b := fl(r), fl(p); a != b {
		t.Fatalf("read %+v\nparse %+v", a, b)
	}
	if r.hasHost {
		eq("host", r.bytes(r.host), p.bytes(p.host))
	}
	for i := range r.fields {
		fr, fp := &r.fields[i], &p.fields[i]
		eq("field name", r.bytes(fr.name), p.bytes(fp.name))
		eq("field value", r.bytes(fr.value), p.bytes(fp.value))
		if fr.kind != fp.kind || fr.drop != fp.drop {
			t.Fatalf("field %q: read kind %d drop %v, parse kind %d drop %v",
				r.bytes(fr.name), fr.kind, fr.drop, fp.kind, fp.drop)
		}
	}
	for i := range r.tokens {
		eq("connection option", r.bytes(r.tokens[i]), p.bytes(p.tokens[i]))
	}
}

// chunkRun is what a chunkScanner made of a body.
type chunkRun struct {
	total int // bytes it said belong to the body
	done  bool
	err   error
}

// scanChunks feeds data to sc in pieces whose sizes are the bytes of
// splits, cycling (0 counts as 1; no splits: one byte at a time).
func scanChunks(t *testing.T, sc *chunkScanner, data, splits []byte) chunkRun {
	t.Helper()
	var r chunkRun
	for pos, i := 0, 0; pos < len(data); i++ {
		size := 1
		if len(splits) > 0 {
			size = max(int(splits[i%len(splits)]), 1)
		}
		p := data[pos:min(pos+size, len(data))]
		n, done, err := sc.scan(p)
		if n < 0 || n > len(p) {
			t.Fatalf("scan took %d of %d bytes", n, len(p))
		}
		r.total += n
		if err != nil {
			if err != errMalformed {
				t.Fatalf("scan: unexpected error %v", err)
			}
			r.err = err
			return r
		}
		if done {
			r.done = true
			return r
		}
		if n != len(p) {
			t.Fatalf("scan took %d of %d bytes but the body goes on", n, len(p))
		}
		pos += len(p)
	}
	return r
}

// FuzzChunkScanner: chunkScanner, fed the bytes in any pieces, finds the
// end of a chunked body where copyChunked does, and rejects what it rejects.
func FuzzChunkScanner(f *testing.F) {
	f.Fuzz(func(t *testing.T, data, splits []byte) {
		rd := bytes.NewReader(data)
		br := bufio.NewReaderSize(rd, httpReaderSize)
		var out bytes.Buffer
		bw := bufio.NewWriter(&out)
		cerr := copyChunked(bw, br)
		used := len(data) - br.Buffered() - rd.Len()

		var sc chunkScanner
		r := scanChunks(t, &sc, data, splits)
		// The pieces must not matter.
		var whole chunkScanner
		if w := scanChunks(t, &whole, data, []byte{255}); w.done != r.done || (w.err == nil) != (r.err == nil) || (w.done && w.total != r.total) {
			t.Fatalf("in pieces %v: %+v, 255 bytes at a time: %+v", splits, r, w)
		}

		switch {
		case cerr == nil:
			if r.err != nil || !r.done || r.total != out.Len() || r.total != used {
				t.Fatalf("copyChunked wrote %d (read %d), scanner: %+v", out.Len(), used, r)
			}
		case errors.Is(cerr, errMalformed):
			if r.done || r.err == nil {
				t.Fatalf("copyChunked: %v, scanner: %+v", cerr, r)
			}
		case errors.Is(cerr, io.ErrUnexpectedEOF):
			// The body is not over: the scanner must wait for more.
			if r.done {
				t.Fatalf("copyChunked: %v, scanner: %+v", cerr, r)
			}
			if r.err != nil {
				// It may reject an unfinished line that is already
				// too long; finished, copyChunked must reject it too.
				full := append(append([]byte(nil), data...), '\n')
				err := copyChunked(bufio.NewWriter(io.Discard), bufio.NewReaderSize(bytes.NewReader(full), httpReaderSize))
				if !errors.Is(err, errMalformed) {
					t.Fatalf("copyChunked: %v, scanner: %+v, copyChunked of data+LF: %v", cerr, r, err)
				}
			}
		default:
			t.Fatalf("copyChunked: unexpected error %v", cerr)
		}
	})
}
