package httpcore

import (
	"strings"
	"testing"
)

// feedAll runs a body through c in pieces of size step (all at once for
// 0) and returns what came out, the bytes the body took and the error.
func feedAll(c *Chunked, body string, step int) (string, int, bool, error) {
	var out []byte
	used := 0
	if step <= 0 {
		step = len(body)
	}
	for pos := 0; pos < len(body); pos += step {
		p := []byte(body[pos:min(pos+step, len(body))])
		n, o, done, err := c.Feed(p, out)
		out = o
		used += n
		if err != nil || done {
			return string(out), used, done, err
		}
	}
	return string(out), used, false, nil
}

// TestChunkedReframe: bodies are written again canonically, whatever
// sizes, extensions and trailers they came with, and in whatever pieces.
func TestChunkedReframe(t *testing.T) {
	for _, tc := range []struct {
		name, in, reframed, decoded, trailers string
	}{
		{"plain", "5\r\nhello\r\n0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n", "hello", ""},
		{"upper-case hex and leading zeros", "000A\r\n0123456789\r\n0\r\n\r\n", "a\r\n0123456789\r\n0\r\n\r\n", "0123456789", ""},
		{"extensions dropped", "5;a=b;c\r\nhello\r\n0;last\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n", "hello", ""},
		{"quoted extension dropped", "5;a=\"x;y\\\"z\"\r\nhello\r\n0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n", "hello", ""},
		{"whitespace before extension", "5 \t;a\r\nhello\r\n0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n", "hello", ""},
		{"trailers kept", "1\r\nx\r\n0\r\nX-Sum: 42\r\nGrpc-Status:0\r\n\r\n", "1\r\nx\r\n0\r\nX-Sum: 42\r\nGrpc-Status: 0\r\n\r\n", "x", "X-Sum: 42\r\nGrpc-Status: 0\r\n"},
		{"forbidden trailers dropped", "1\r\nx\r\n0\r\nContent-Length: 5\r\nHost: evil\r\nTransfer-Encoding: chunked\r\nX-Ok: 1\r\nSet-Cookie: a=b\r\n\r\n", "1\r\nx\r\n0\r\nX-Ok: 1\r\n\r\n", "x", "X-Ok: 1\r\n"},
	} {
		for _, step := range []int{0, 1, 3} {
			var c Chunked
			out, used, done, err := feedAll(&c, tc.in+"GET /next", step)
			if err != nil || !done || used != len(tc.in) || out != tc.reframed {
				t.Errorf("%s, step %d: reframed %q used %d done %v err %v; want %q", tc.name, step, out, used, done, err, tc.reframed)
			}
			c.Reset(Decode)
			out, used, done, err = feedAll(&c, tc.in, step)
			if err != nil || !done || used != len(tc.in) || out != tc.decoded || string(c.Trailers()) != tc.trailers {
				t.Errorf("%s, step %d: decoded %q trailers %q err %v; want %q %q", tc.name, step, out, c.Trailers(), err, tc.decoded, tc.trailers)
			}
		}
	}
}

// TestChunkedRefused: chunk lines with junk, a bare CR or a bare LF, and
// the other ways a body can be read two ways, are refused, however the
// bytes arrive.
func TestChunkedRefused(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"junk after the size", "5 x\r\nhello\r\n0\r\n\r\n", ErrChunk},
		{"bare CR in an extension", "5;a\rb\r\nhello\r\n0\r\n\r\n", ErrChunk},
		{"bare LF after the size", "5\nhello\r\n0\r\n\r\n", ErrChunk},
		{"bare LF after the data", "5\r\nhello\n0\r\n\r\n", ErrChunk},
		{"bare LF ending the body", "5\r\nhello\r\n0\r\n\n", ErrChunk},
		{"bare LF in a trailer", "0\r\nX-A: 1\n\r\n", ErrChunk},
		{"data longer than its size", "5\r\nhello!\r\n0\r\n\r\n", ErrChunk},
		{"no size", "\r\nhello\r\n", ErrChunk},
		{"negative size", "-5\r\nhello\r\n", ErrChunk},
		{"size too big", "10000000000000\r\n", ErrChunk},
		{"open quote in an extension", "5;a=\"b\r\nhello\r\n0\r\n\r\n", ErrChunk},
		{"backslash outside quotes", "5;a=b\\c\r\nhello\r\n0\r\n\r\n", ErrChunk},
		{"control byte in an extension", "5;a=\x01\r\nhello\r\n0\r\n\r\n", ErrChunk},
		{"a request line as a trailer", "0\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n", ErrTrailer},
		{"obs-fold in a trailer", "0\r\nX-A: 1\r\n 2\r\n\r\n", ErrTrailer},
		{"space before a trailer's colon", "0\r\nX-A : 1\r\n\r\n", ErrTrailer},
		{"trailers too big", "0\r\n" + strings.Repeat("X-A: "+strings.Repeat("a", 1000)+"\r\n", 17) + "\r\n", ErrTrailersTooMuch},
		{"size line too long", "5;" + strings.Repeat("a", maxChunkLine) + "\r\nhello\r\n", ErrChunk},
	} {
		for _, step := range []int{0, 1, 7} {
			for _, m := range []ChunkMode{Reframe, Decode} {
				var c Chunked
				c.Reset(m)
				_, _, done, err := feedAll(&c, tc.in, step)
				if err != tc.want || done {
					t.Errorf("%s, step %d, mode %d: done %v err %v, want %v", tc.name, step, m, done, err, tc.want)
				}
			}
		}
	}
}

func TestAppendChunks(t *testing.T) {
	out := AppendChunk(nil, []byte("hello"))
	out = AppendChunk(out, nil)
	out = AppendChunk(out, []byte(strings.Repeat("x", 300)))
	out = AppendLastChunk(out, []byte("X-A: 1\r\n"))
	want := "5\r\nhello\r\n12c\r\n" + strings.Repeat("x", 300) + "\r\n0\r\nX-A: 1\r\n\r\n"
	if string(out) != want {
		t.Errorf("%q", out)
	}
	var c Chunked
	if got, used, done, err := feedAll(&c, string(out), 0); err != nil || !done || used != len(out) || got != want {
		t.Errorf("own output not canonical: %q %v", got, err)
	}
}
