package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"time"

	"golang.org/x/net/http2"
)

// TLS termination and HTTP/2 for protocol http. HTTP/1.1 over TLS goes
// through the same fast path as cleartext; HTTP/2 (h2 by ALPN, or h2c
// with prior knowledge) is served by golang.org/x/net/http2, whose handler
// forwards each stream as an HTTP/1.1 request over the same backend pools,
// balancers, routes and sticky cookies.

// h2Preface is what an HTTP/2 client with prior knowledge sends first.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// initTLS loads the certificates and builds the server TLS config.
func (s *Service) initTLS() error {
	t := s.cfg.TLS
	if len(t.Certs) == 0 {
		return fmt.Errorf("service %s: tls needs at least one certificate", s.cfg.Name)
	}
	certs := make([]tls.Certificate, 0, len(t.Certs))
	for _, c := range t.Certs {
		kp, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return fmt.Errorf("service %s: tls certificate %s: %w", s.cfg.Name, c.Cert, err)
		}
		certs = append(certs, kp)
	}
	minVersion := uint16(tls.VersionTLS12)
	switch t.MinVersion {
	case "", "1.2":
	case "1.3":
		minVersion = tls.VersionTLS13
	default:
		return fmt.Errorf("service %s: tls min_version %q is not 1.2 or 1.3", s.cfg.Name, t.MinVersion)
	}
	protos := []string{"http/1.1"}
	if t.HTTP2 {
		protos = []string{"h2", "http/1.1"}
	}
	s.hs.tls = &tls.Config{
		MinVersion: minVersion,
		NextProtos: protos,
		// SNI: the first certificate valid for the name the client asked
		// for (and its signature algorithms); the first one otherwise.
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			for i := range certs {
				if hello.SupportsCertificate(&certs[i]) == nil {
					return &certs[i], nil
				}
			}
			return &certs[0], nil
		},
	}
	return nil
}

// startTLS runs the handshake within the request timeout. It returns the
// TLS connection and whether h2 was negotiated.
func (s *Service) startTLS(ctx context.Context, c net.Conn, timeout time.Duration) (*tls.Conn, bool, error) {
	tc := tls.Server(c, s.hs.tls)
	if timeout > 0 {
		c.SetDeadline(time.Now().Add(timeout))
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, false, err
	}
	c.SetWriteDeadline(time.Time{})
	return tc, tc.ConnectionState().NegotiatedProtocol == "h2", nil
}

// isH2Preface reports whether br starts with the HTTP/2 preface, reading
// only as far as the bytes keep matching it.
func isH2Preface(br *bufio.Reader) bool {
	for n := 1; n <= len(h2Preface); n++ {
		p, err := br.Peek(n)
		if err != nil || p[n-1] != h2Preface[n-1] {
			return false
		}
		if b := br.Buffered(); b > n {
			m := min(b, len(h2Preface))
			p, _ = br.Peek(m)
			if string(p) != h2Preface[:m] {
				return false
			}
			n = m
			if m == len(h2Preface) {
				return true
			}
		}
	}
	return true
}

// bufConn replays bytes already buffered from a connection.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

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
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.proxyH2(w, r, hc) }),
	})
}

var h2Hop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true,
	"Transfer-Encoding": true, "Upgrade": true, "Content-Length": true, "Host": true,
}

// proxyH2 forwards one HTTP/2 request as HTTP/1.1 to a backend.
func (s *Service) proxyH2(w http.ResponseWriter, r *http.Request, hc *httpConn) {
	// Counted like HTTP/1.1 requests: the backend's status class, or
	// "error" when the proxy answered itself (status stays 0).
	start, status := time.Now(), 0
	defer func() { s.hs.metrics.observe(classOf(status), time.Since(start)) }()
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	g := s.route([]byte(host), []byte(r.URL.Path))
	var key []byte
	switch {
	case g.hashSource:
		key = hc.ipKey
	case g.cfg.Balance == "uri":
		key = []byte(r.URL.Path)
	}
	var pref *backend
	var cookie string
	if st := s.cfg.Sticky; st != nil {
		if ck, err := r.Cookie(st.Cookie); err == nil {
			cookie = ck.Value
			pref = g.byCookie([]byte(cookie))
		}
	}
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	idem := false
	switch r.Method {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE":
		idem = true
	}
	fail := func(code int) {
		body := fmt.Sprintf("%d %s (service %s)\n", code, http.StatusText(code), s.cfg.Name)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
	b, bc, err := connectHTTP(r.Context(), g, key, pref, idem, nil, false)
	if err != nil {
		if noBackendSlot(err) {
			fail(503)
		} else {
			fail(502)
		}
		return
	}
	keepBackend := false
	defer func() {
		if keepBackend {
			b.hc.put(bc, time.Now())
		} else {
			bc.tc.c.Close()
		}
		g.release(b)
	}()
	bw := s.hs.writers.Get().(*bufio.Writer)
	defer func() {
		bw.Reset(nil)
		s.hs.writers.Put(bw)
	}()
	bw.Reset(&bc.tc)
	fmt.Fprintf(bw, "%s %s HTTP/1.1\r\nHost: %s\r\n", r.Method, r.URL.RequestURI(), r.Host)
	fwd := s.cfg.ForwardedHeaders
	for k, vs := range r.Header {
		if h2Hop[k] || (fwd && (k == "X-Forwarded-For" || k == "X-Forwarded-Proto" || k == "X-Forwarded-Host")) {
			continue
		}
		for _, v := range vs {
			fmt.Fprintf(bw, "%s: %s\r\n", k, v)
		}
	}
	chunked := false
	switch {
	case r.ContentLength > 0:
		fmt.Fprintf(bw, "Content-Length: %d\r\n", r.ContentLength)
	case hasBody:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		chunked = true
	}
	if fwd {
		bw.WriteString("X-Forwarded-For: ")
		for _, v := range r.Header.Values("X-Forwarded-For") {
			bw.WriteString(v)
			bw.WriteString(", ")
		}
		fmt.Fprintf(bw, "%s\r\nX-Forwarded-Proto: %s\r\nX-Forwarded-Host: %s\r\n", hc.ip, hc.proto, r.Host)
	}
	bw.WriteString("\r\n")
	if hasBody {
		if chunked {
			cw := httputil.NewChunkedWriter(bw)
			_, err = io.Copy(cw, r.Body)
			if err == nil {
				err = cw.Close()
			}
			if err == nil {
				_, err = bw.WriteString("\r\n")
			}
		} else {
			_, err = io.CopyN(bw, r.Body, r.ContentLength)
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	var resp httpHead
	if err == nil {
		err = resp.read(bc.br, false)
		for err == nil && resp.status >= 100 && resp.status < 200 {
			err = resp.read(bc.br, false)
		}
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) && len(resp.raw) == 0 {
			fail(504)
		} else {
			fail(502)
		}
		return
	}
	h := w.Header()
	for i := range resp.fields {
		f := &resp.fields[i]
		switch f.kind {
		case fConnection, fHop, fUpgrade, fTransferEncoding:
			continue
		}
		if f.drop {
			continue
		}
		h.Add(string(resp.bytes(f.name)), string(resp.bytes(f.value)))
	}
	if st := s.cfg.Sticky; st != nil && b.hc.cookie != cookie {
		line := bytes.TrimSuffix(bytes.TrimPrefix(b.hc.setCookie, []byte("Set-Cookie: ")), []byte("\r\n"))
		h.Add("Set-Cookie", string(line))
	}
	if _, ok := h["Content-Type"]; !ok {
		// net/http would sniff one from the body: a proxy adds none.
		h["Content-Type"] = nil
	}
	status = resp.status
	w.WriteHeader(resp.status)
	noBody := r.Method == "HEAD" || resp.status == 204 || resp.status == 304
	var src io.Reader
	switch {
	case noBody:
	case resp.chunked:
		src = httputil.NewChunkedReader(bc.br)
	case resp.contentLength >= 0:
		src = io.LimitReader(bc.br, resp.contentLength)
	default:
		src = bc.br
	}
	if src != nil {
		buf := s.bufs.Get().(*[]byte)
		defer s.bufs.Put(buf)
		fl, _ := w.(http.Flusher)
		for {
			n, rerr := src.Read(*buf)
			if n > 0 {
				if _, werr := w.Write((*buf)[:n]); werr != nil {
					return
				}
				if fl != nil && bc.br.Buffered() == 0 {
					fl.Flush()
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				return
			}
		}
		if resp.chunked {
			// the trailer section, up to its empty line (trailers are not
			// passed on over HTTP/2)
			for {
				line, err := bc.br.ReadSlice('\n')
				if err != nil {
					return
				}
				if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
					break
				}
			}
		}
	}
	keepBackend = resp.minor == 1 && !resp.connClose && (noBody || resp.chunked || resp.contentLength >= 0) && bc.br.Buffered() == 0
}
