package proxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"golang.org/x/net/http2"

	"vigil/proxy/httpcore"
)

// HTTP/2 (h2 by ALPN, or h2c with prior knowledge), served by
// golang.org/x/net/http2. Its handler is a thin driver: it writes each
// stream's request as an HTTP/1.1 head, which httpcore parses with the
// same rules as any other, feeds the body through in HTTP/1.1 framing,
// and has the request engine (httpforward.go) forward it; the answer
// comes back through an h2Down, which turns the response head into the
// stream's header fields and a chunked body into data and trailers.

// serveH2 serves an HTTP/2 connection until it ends.
func (s *Service) serveH2(ctx context.Context, hc *httpConn, c net.Conn, idle time.Duration) {
	c.SetDeadline(time.Time{})
	// An HTTP/2 connection is closed at once when the service stops.
	hc.idle.Store(true)
	s.turnedIdle()
	if hc.stopping() {
		return
	}
	srv := &http2.Server{IdleTimeout: idle}
	srv.ServeConn(c, &http2.ServeConnOpts{
		Context: ctx,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveStream(w, r, hc) }),
	})
}

// h2Drop are the fields an HTTP/2 request's head does not carry to the
// backend as they came: connection-specific ones (an HTTP/2 client may not
// send them; the HTTP/1.1 head gets its own) and the ones written first.
var h2Drop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true,
	"Transfer-Encoding": true, "Upgrade": true, "Content-Length": true, "Host": true,
	"Http2-Settings": true,
}

// serveStream serves one HTTP/2 stream.
func (s *Service) serveStream(w http.ResponseWriter, r *http.Request, hc *httpConn) {
	x := &request{s: s, ctx: r.Context(), fwd: hc.fwd, client: hc.client, ipKey: hc.ipKey, stopping: hc.stopping}
	x.ex.Begin(time.Now(), hc.client, "HTTP/2.0")
	x.ex.TLS = hc.tls
	d := &h2Down{w: w, x: x}
	x.down = d
	// The stream's backend connection closes with the stream: a client
	// that resets it, or a connection the drain ends, frees the backend.
	stop := context.AfterFunc(r.Context(), func() {
		if bc := x.cur.Load(); bc != nil {
			bc.tc.c.Close()
		}
	})
	defer stop()

	head, chunked := h2Head(r)
	n, err := x.req.Parse(head, true)
	if err == nil && n != len(head) {
		err = httpcore.ErrField // a field that ended the head early
	}
	x.ex.BytesIn = int64(len(head))
	if err != nil {
		x.ex.Fail(httpcore.CauseProxy, httpcore.StageRequest, httpcore.StatusOf(err))
		d.answer(httpcore.StatusOf(err))
		x.finish()
		return
	}
	x.ex.HeadDone = x.since()
	x.ex.Req = &x.req
	var body io.Reader = http.NoBody
	if r.Body != nil {
		body = r.Body
	}
	if chunked {
		body = &chunkingReader{r: body, trailer: r.Trailer}
	}
	br := s.hs.readers.Get().(*bufio.Reader)
	br.Reset(body)
	x.br = br
	defer func() {
		br.Reset(nil)
		s.hs.readers.Put(br)
	}()
	x.forward()
	x.ex.BytesOut = d.n
	x.finish()
	if x.ex.Cause != httpcore.CauseNone && d.started && x.ex.FromBackend {
		// The response broke off: reset the stream, so the client does
		// not take what it got for the whole body.
		panic(http.ErrAbortHandler)
	}
}

// h2Head writes the HTTP/1.1 head of an HTTP/2 request, and says whether
// its body goes chunked (its length is not known).
func h2Head(r *http.Request) ([]byte, bool) {
	target := r.RequestURI
	if target == "" {
		target = r.URL.RequestURI()
	}
	b := make([]byte, 0, 512)
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, r.Host...)
	b = append(b, "\r\n"...)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range r.Header {
			if !yield(k) {
				return
			}
		}
	}) {
		if h2Drop[k] {
			continue
		}
		for _, v := range r.Header[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	chunked := false
	switch {
	case r.ContentLength > 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, r.ContentLength, 10)
		b = append(b, "\r\n"...)
	case r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
		chunked = true
	}
	return append(b, "\r\n"...), chunked
}

// chunkingReader reads a body of unknown length chunked, trailers from
// trailer included once the body is done.
type chunkingReader struct {
	r       io.Reader
	trailer http.Header
	buf     []byte
	out     []byte
	done    bool
}

func (c *chunkingReader) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.done {
			return 0, io.EOF
		}
		if c.buf == nil {
			c.buf = make([]byte, 16<<10)
		}
		n, err := c.r.Read(c.buf)
		c.out = httpcore.AppendChunk(c.out[:0], c.buf[:n])
		if err == io.EOF {
			var tr []byte
			for k, vs := range c.trailer {
				for _, v := range vs {
					tr = append(tr, k...)
					tr = append(tr, ": "...)
					tr = append(tr, v...)
					tr = append(tr, "\r\n"...)
				}
			}
			c.out = httpcore.AppendLastChunk(c.out, tr)
			c.done = true
		} else if err != nil {
			return 0, err
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// h2Down is an HTTP/2 stream as the request engine's downstream.
type h2Down struct {
	w       http.ResponseWriter
	x       *request
	n       int64 // bytes sent, counted as their HTTP/1.1 form
	started bool  // the final head is sent
}

// continue100: the HTTP/2 server sends 100 Continue itself when the
// handler first reads the body of a request that expects it.
func (d *h2Down) continue100() error { return nil }

func (d *h2Down) fields(resp *httpcore.Head) {
	h := d.w.Header()
	clear(h)
	for i := range resp.Fields {
		if !resp.EndToEnd(i) {
			continue
		}
		f := &resp.Fields[i]
		name := http.CanonicalHeaderKey(string(resp.Bytes(f.Name)))
		if f.Kind == httpcore.KindContentLength {
			h[name] = []string{strconv.FormatInt(resp.ContentLength, 10)}
			continue
		}
		h[name] = append(h[name], string(resp.Bytes(f.Value)))
	}
}

func (d *h2Down) interim(resp *httpcore.Head) error {
	d.fields(resp)
	d.w.WriteHeader(resp.Status)
	clear(d.w.Header())
	d.n += int64(len(resp.Raw))
	return nil
}

func (d *h2Down) head(resp *httpcore.Head, setCookie []byte, _ bool) error {
	d.fields(resp)
	h := d.w.Header()
	if setCookie != nil {
		line := bytes.TrimSuffix(bytes.TrimPrefix(setCookie, []byte("Set-Cookie: ")), []byte("\r\n"))
		h["Set-Cookie"] = append(h["Set-Cookie"], string(line))
	}
	if _, ok := h["Content-Type"]; !ok {
		// net/http would sniff one from the body: a proxy adds none.
		h["Content-Type"] = nil
	}
	d.w.WriteHeader(resp.Status)
	d.started = true
	d.n += int64(len(resp.Raw))
	return nil
}

func (d *h2Down) chunkMode() httpcore.ChunkMode { return httpcore.Decode }

func (d *h2Down) write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	d.n += int64(n)
	return n, err
}

// trailers are sent as HTTP/2 trailers, declared after the head with
// net/http's TrailerPrefix.
func (d *h2Down) trailers(tr []byte) error {
	h := d.w.Header()
	eachTrailer(tr, func(name, value []byte) {
		key := http.TrailerPrefix + http.CanonicalHeaderKey(string(name))
		h[key] = append(h[key], string(value))
	})
	return nil
}

func (d *h2Down) flush() error {
	if f, ok := d.w.(http.Flusher); ok && d.started {
		f.Flush()
	}
	return nil
}

// answer sends one of the proxy's own answers, when nothing was sent yet.
func (d *h2Down) answer(code int) {
	if d.started {
		return
	}
	body := d.x.s.hs.answers.Body(code)
	h := d.w.Header()
	clear(h)
	h.Set("Content-Type", httpcore.AnswerContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	d.w.WriteHeader(code)
	d.started = true
	n, _ := d.w.Write(body)
	d.n += int64(len(d.x.s.hs.answers.H1(code)) - len(body) + n)
}

// refused: the HTTP/2 server discards what the client still sends on the
// stream once the handler returns.
func (d *h2Down) refused() {}

// upgrade: HTTP/2 has no Upgrade, and the engine never asks for one (the
// request carried none), so a 101 is the backend's error.
func (d *h2Down) upgrade(*Service, *backend, *bconn) bool { return false }

func (d *h2Down) sent() int64 { return d.n }
