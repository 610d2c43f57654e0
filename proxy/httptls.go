package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// TLS termination for protocol http: the handshake, and the choice
// between HTTP/1.1 (the goroutine path, httpconn.go) and HTTP/2
// (httph2.go) by ALPN or, in cleartext, by the HTTP/2 preface.

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
