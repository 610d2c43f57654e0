package h2

import (
	"bytes"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// benchHandler answers each request at once with a small body.
type benchHandler struct{ c *Conn }

func (h *benchHandler) Request(id uint32, _ *Request, end bool) {
	h.c.WriteHeaders(id, 200, textPlain, false)
	h.c.WriteData(id, plainBody, true)
}
func (h *benchHandler) Data(uint32, []byte, bool)            {}
func (h *benchHandler) Trailers(uint32, []hpack.HeaderField) {}
func (h *benchHandler) Reset(uint32, http2.ErrCode)          {}
func (h *benchHandler) Writable(uint32)                      {}

// BenchmarkRequest measures one small GET through Feed and its answer
// through the Write methods, as an event loop would drive them.
func BenchmarkRequest(b *testing.B) {
	h := &benchHandler{}
	c := NewConn(Config{MaxConcurrentStreams: 1000}, h)
	h.c = c
	c.Feed([]byte(http2.ClientPreface))
	c.Advance(len(c.Output()))

	var buf, hbuf bytes.Buffer
	fr := http2.NewFramer(&buf, nil)
	enc := hpack.NewEncoder(&hbuf)
	fields := with(get, "user-agent", "bench/1.0", "accept", "*/*")
	encode := func() []byte {
		hbuf.Reset()
		for i := 0; i < len(fields); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return hbuf.Bytes()
	}
	b.ReportAllocs()
	id := uint32(1)
	for b.Loop() {
		buf.Reset()
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: encode(), EndStream: true, EndHeaders: true})
		id += 2
		if n, err := c.Feed(buf.Bytes()); err != nil || n != buf.Len() {
			b.Fatal(n, err)
		}
		c.Advance(len(c.Output()))
	}
}
