package h2

import (
	"bytes"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// fuzzSeeds are valid client frame sequences (after the preface) for
// the fuzzer to mutate.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	var buf, hbuf bytes.Buffer
	fr := http2.NewFramer(&buf, nil)
	enc := hpack.NewEncoder(&hbuf)
	block := func(kv ...string) []byte {
		hbuf.Reset()
		for i := 0; i+1 < len(kv); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		return append([]byte(nil), hbuf.Bytes()...)
	}
	done := func() {
		seeds = append(seeds, append([]byte(nil), buf.Bytes()...))
		buf.Reset()
	}

	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100}, http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0})
	fr.WriteSettingsAck()
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(with(get, "content-length", "4")...), EndHeaders: true})
	fr.WriteData(1, false, []byte("bo"))
	fr.WriteDataPadded(1, false, []byte("dy"), []byte{0, 0})
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block("x-t", "1"), EndHeaders: true, EndStream: true})
	done()

	b := block(with(get, "cookie", "a=b", "user-agent", "fuzz")...)
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: b[:3], EndStream: true,
		Priority: http2.PriorityParam{StreamDep: 1, Weight: 3}})
	fr.WriteContinuation(3, false, b[3:7])
	fr.WriteContinuation(3, true, b[7:])
	fr.WritePing(false, [8]byte{1})
	fr.WriteWindowUpdate(0, 1000)
	fr.WriteWindowUpdate(3, 1000)
	done()

	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: block(get...), EndHeaders: true})
	fr.WritePriority(5, http2.PriorityParam{StreamDep: 3})
	fr.WriteRSTStream(5, http2.ErrCodeCancel)
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 7, BlockFragment: block(":method", "CONNECT", ":authority", "h:1"), EndHeaders: true})
	fr.WriteData(7, true, nil)
	fr.WriteGoAway(7, http2.ErrCodeNo, []byte("bye"))
	done()

	fr.WriteRawFrame(0x21, 0xff, 9, []byte("unknown"))
	fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 20})
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 9, BlockFragment: block(with(get, "te", "trailers")...), EndHeaders: true, PadLength: 9, EndStream: true})
	done()
	return seeds
}

// FuzzFeed: whatever follows the preface, in whatever pieces, Feed never
// panics, leaves no more unconsumed than MaxBuffered says, keeps Active
// within the stream limit, and answers with output proportional to input.
func FuzzFeed(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newAnswerHandler()
		c := NewConn(Config{MaxConcurrentStreams: 8, MaxHeaderBytes: 4096}, h)
		h.c = c
		input := append([]byte(http2.ClientPreface), data...)
		chunk := 1 + len(data)%97
		var pending []byte
		written := len(c.Output())
		c.Advance(written)
		for off := 0; off < len(input); {
			end := min(off+chunk, len(input))
			pending = append(pending, input[off:end]...)
			off = end
			n, err := c.Feed(pending)
			if n < 0 || n > len(pending) {
				t.Fatalf("Feed consumed %d of %d", n, len(pending))
			}
			pending = pending[n:]
			written += len(c.Output())
			c.Advance(len(c.Output()))
			if err != nil {
				if _, ok := err.(*ConnError); !ok {
					t.Fatalf("Feed error %T %v", err, err)
				}
				break
			}
			if len(pending) > c.MaxBuffered() {
				t.Fatalf("%d bytes left unconsumed, MaxBuffered is %d", len(pending), c.MaxBuffered())
			}
			if c.Active() > 8 {
				t.Fatalf("Active = %d above the limit of 8", c.Active())
			}
		}
		if limit := 8*len(data) + 4096; written > limit {
			t.Fatalf("wrote %d bytes for %d of input", written, len(data))
		}
	})
}
