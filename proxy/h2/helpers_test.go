package h2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// recorder is a Handler that writes down each call as a line.
type recorder struct {
	events []string
	// onRequest, when set, runs inside Request (to answer from there).
	onRequest func(id uint32, r *Request, end bool)
	reqs      map[uint32]Request
}

func (r *recorder) Request(id uint32, req *Request, end bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "request %d %s %s %s %s cl=%d", id, req.Method, req.Scheme, req.Authority, req.Path, req.ContentLength)
	for _, f := range req.Fields {
		fmt.Fprintf(&b, " %s=%s", f.Name, f.Value)
	}
	if end {
		b.WriteString(" end")
	}
	r.events = append(r.events, b.String())
	if r.reqs == nil {
		r.reqs = map[uint32]Request{}
	}
	cp := *req
	cp.Fields = append([]hpack.HeaderField(nil), req.Fields...)
	r.reqs[id] = cp
	if r.onRequest != nil {
		r.onRequest(id, req, end)
	}
}

func (r *recorder) Data(id uint32, p []byte, end bool) {
	e := fmt.Sprintf("data %d %q", id, p)
	if end {
		e += " end"
	}
	r.events = append(r.events, e)
}

func (r *recorder) Trailers(id uint32, fields []hpack.HeaderField) {
	var b strings.Builder
	fmt.Fprintf(&b, "trailers %d", id)
	for _, f := range fields {
		fmt.Fprintf(&b, " %s=%s", f.Name, f.Value)
	}
	r.events = append(r.events, b.String())
}

func (r *recorder) Reset(id uint32, code http2.ErrCode) {
	r.events = append(r.events, fmt.Sprintf("reset %d %v", id, code))
}

func (r *recorder) Writable(id uint32) {
	r.events = append(r.events, fmt.Sprintf("writable %d", id))
}

// take returns the events so far and forgets them.
func (r *recorder) take() []string {
	e := r.events
	r.events = nil
	return e
}

// client builds client frames with http2.Framer and hpack.Encoder, feeds
// them to a Conn and reads back what the Conn queued, as one line per
// frame.
type client struct {
	t   *testing.T
	c   *Conn
	rec *recorder

	wbuf bytes.Buffer // frames not yet fed
	fr   *http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder

	obuf bytes.Buffer // server output not yet read
	in   *http2.Framer
	err  error // the last Feed error
}

func newClient(t *testing.T, cfg Config) *client {
	t.Helper()
	cl := &client{t: t, rec: &recorder{}}
	cl.c = NewConn(cfg, cl.rec)
	cl.fr = http2.NewFramer(&cl.wbuf, nil)
	cl.fr.AllowIllegalWrites = true
	cl.enc = hpack.NewEncoder(&cl.hbuf)
	cl.in = http2.NewFramer(nil, &cl.obuf)
	cl.in.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	cl.in.SetMaxReadFrameSize(1<<24 - 1)
	cl.wbuf.WriteString(http2.ClientPreface)
	return cl
}

// handshake feeds the preface and an empty SETTINGS, and drops the
// server's SETTINGS, WINDOW_UPDATE and ACK.
func (cl *client) handshake() *client {
	cl.t.Helper()
	cl.fr.WriteSettings()
	cl.fr.WriteSettingsAck()
	got := cl.exchange()
	if len(got) < 2 || !strings.HasPrefix(got[0], "SETTINGS ") || got[len(got)-1] != "SETTINGS ack" {
		cl.t.Fatalf("handshake: %q", got)
	}
	return cl
}

// feed hands the buffered client bytes to the Conn.
func (cl *client) feed() {
	cl.t.Helper()
	b := cl.wbuf.Bytes()
	n, err := cl.c.Feed(b)
	cl.err = err
	cl.wbuf.Next(n)
	if err == nil && cl.wbuf.Len() > 0 {
		cl.t.Fatalf("Feed left %d bytes of complete frames", cl.wbuf.Len())
	}
}

// output reads the frames the Conn queued.
func (cl *client) output() []string {
	cl.t.Helper()
	cl.obuf.Write(cl.c.Output())
	cl.c.Advance(len(cl.c.Output()))
	var lines []string
	for {
		f, err := cl.in.ReadFrame()
		if errors.Is(err, io.EOF) {
			return lines
		}
		if err != nil {
			cl.t.Fatalf("reading server output: %v", err)
		}
		lines = append(lines, describe(f))
	}
}

// exchange feeds and returns the output.
func (cl *client) exchange() []string {
	cl.t.Helper()
	cl.feed()
	return cl.output()
}

func describe(f http2.Frame) string {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if f.IsAck() {
			return "SETTINGS ack"
		}
		var b strings.Builder
		b.WriteString("SETTINGS")
		f.ForeachSetting(func(s http2.Setting) error {
			fmt.Fprintf(&b, " %v=%d", s.ID, s.Val)
			return nil
		})
		return b.String()
	case *http2.WindowUpdateFrame:
		return fmt.Sprintf("WINDOW_UPDATE %d %d", f.StreamID, f.Increment)
	case *http2.PingFrame:
		if f.IsAck() {
			return fmt.Sprintf("PING ack %q", f.Data[:])
		}
		return "PING"
	case *http2.GoAwayFrame:
		return fmt.Sprintf("GOAWAY %d %v", f.LastStreamID, f.ErrCode)
	case *http2.RSTStreamFrame:
		return fmt.Sprintf("RST_STREAM %d %v", f.StreamID, f.ErrCode)
	case *http2.MetaHeadersFrame:
		var b strings.Builder
		fmt.Fprintf(&b, "HEADERS %d", f.StreamID)
		for _, hf := range f.Fields {
			fmt.Fprintf(&b, " %s=%s", hf.Name, hf.Value)
		}
		if f.StreamEnded() {
			b.WriteString(" end")
		}
		return b.String()
	case *http2.DataFrame:
		s := fmt.Sprintf("DATA %d %q", f.StreamID, f.Data())
		if f.StreamEnded() {
			s += " end"
		}
		return s
	}
	return fmt.Sprintf("%v", f.Header())
}

// block HPACK-encodes fields given as name, value pairs.
func (cl *client) block(kv ...string) []byte {
	cl.hbuf.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		cl.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return append([]byte(nil), cl.hbuf.Bytes()...)
}

// get is a minimal valid request head.
var get = []string{":method", "GET", ":scheme", "https", ":authority", "example.com", ":path", "/"}

func with(base []string, kv ...string) []string {
	return append(append([]string(nil), base...), kv...)
}

// headers writes a HEADERS frame carrying kv on stream id.
func (cl *client) headers(id uint32, end bool, kv ...string) {
	cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: cl.block(kv...), EndStream: end, EndHeaders: true})
}

func (cl *client) ping() { cl.fr.WritePing(false, [8]byte{'p', 'i', 'n', 'g'}) }

const pingAck = `PING ack "ping\x00\x00\x00\x00"`

// expect compares lines with want.
func expect(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got: %q\nwant: %q", what, got, want)
	}
}
