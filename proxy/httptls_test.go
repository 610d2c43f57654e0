package proxy

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"vigil/config"
)

// selfSigned writes a self-signed certificate for names and returns the
// cert and key paths and a pool trusting it.
func selfSigned(t testing.TB, pool *x509.CertPool, names ...string) config.Cert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool.AddCert(cert)
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	c := config.Cert{Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	os.WriteFile(c.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(c.Key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return c
}

func protoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s xfp=%s body=%d", r.Proto, r.URL.Path, r.Header.Get("X-Forwarded-Proto"), len(b))
	})
}

func TestHTTPTLS(t *testing.T) {
	checkGoroutines(t)
	be := startHTTPBackend(t, protoHandler())
	pool := x509.NewCertPool()
	cfg := httpCfg(be.addr)
	cfg.ForwardedHeaders = true
	cfg.TLS = &config.TLS{
		Certs:      []config.Cert{selfSigned(t, pool, "a.example.com"), selfSigned(t, pool, "b.example.com", "*.b.example.com")},
		MinVersion: "1.2",
		HTTP2:      true,
	}
	r := startService(t, cfg)

	// SNI picks the certificate; an unknown name gets the first one.
	for sni, want := range map[string]string{"a.example.com": "a.example.com", "x.b.example.com": "b.example.com", "other": "a.example.com"} {
		c, err := tls.Dial("tcp", r.addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ConnectionState().PeerCertificates[0].Subject.CommonName; got != want {
			t.Errorf("SNI %s: certificate %s, want %s", sni, got, want)
		}
		c.Close()
	}

	// HTTP/1.1 over TLS through the fast path
	tr1 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "a.example.com"}}
	t.Cleanup(tr1.CloseIdleConnections)
	c1 := &http.Client{Transport: tr1, Timeout: 5 * time.Second}
	_, body, _ := get(t, c1, "https://"+r.addr+"/one")
	if body != "HTTP/1.1 /one xfp=https body=0" {
		t.Errorf("https/1.1: %q", body)
	}

	// h2 by ALPN
	tr2 := &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "a.example.com"}}
	t.Cleanup(tr2.CloseIdleConnections)
	c2 := &http.Client{Transport: tr2, Timeout: 5 * time.Second}
	resp, err := c2.Post("https://"+r.addr+"/two", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(b) != "HTTP/1.1 /two xfp=https body=5" {
		t.Errorf("h2: %s %q", resp.Proto, b)
	}

	// TLS 1.1 is refused
	if c, err := tls.Dial("tcp", r.addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Error("TLS 1.1 accepted")
	}
}

func TestHTTPH2C(t *testing.T) {
	checkGoroutines(t)
	a := startHTTPBackend(t, nameHandler("a"))
	b := startHTTPBackend(t, nameHandler("b"))
	cfg := httpCfg(a.addr, b.addr)
	cfg.H2C = true
	r := startService(t, cfg)
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	seen := map[string]int{}
	for range 4 {
		resp, err := c.Get("http://" + r.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("not h2: %s", resp.Proto)
		}
		seen[string(body)]++
	}
	if seen["a"] != 2 || seen["b"] != 2 {
		t.Errorf("h2c round robin: %v", seen)
	}
	// h2 requests count in the HTTP metrics like HTTP/1.1 ones (the
	// handler's deferred count may land just after the response).
	r.waitStats(t, "4 h2 requests counted as 2xx", func(st ServiceStats) bool {
		return st.HTTP != nil && st.HTTP.Requests[Code2xx] == 4 && st.HTTP.Duration.Count == 4
	})
	// HTTP/1.1 still works on the same port, short requests included
	if got := rawRequest(t, r.addr, "PUT / HTTP/1.0\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Errorf("HTTP/1.0 PUT on an h2c port: %q", got)
	}
}

func TestHTTPTLSWebSocket(t *testing.T) {
	checkGoroutines(t)
	be := startBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		io.Copy(c, br)
	})
	pool := x509.NewCertPool()
	cfg := httpCfg(be.addr)
	cfg.TLS = &config.TLS{Certs: []config.Cert{selfSigned(t, pool, "a.example.com")}}
	r := startService(t, cfg)
	c, err := tls.Dial("tcp", r.addr, &tls.Config{RootCAs: pool, ServerName: "a.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo over TLS: %q %v", buf, err)
	}
	c.Close()
	r.waitStats(t, "slot released", func(st ServiceStats) bool { return st.Active == 0 && st.Backends[0].Active == 0 })
}

// TestHTTPSOnLoopResumes: an HTTPS client is served on an event loop, and
// a returning client resumes its session (a TLS 1.2 ticket, a TLS 1.3 PSK)
// instead of a full handshake.
func TestHTTPSOnLoopResumes(t *testing.T) {
	checkGoroutines(t)
	be := startHTTPBackend(t, protoHandler())
	pool := x509.NewCertPool()
	cfg := httpCfg(be.addr)
	cfg.ForwardedHeaders = true
	cfg.TLS = &config.TLS{Certs: []config.Cert{selfSigned(t, pool, "a.example.com")}, HTTP2: true}
	r := startService(t, cfg, func(s *Service) { s.noLoopHTTP = false })
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cache := tls.NewLRUClientSessionCache(4)
		for i := range 2 {
			c, err := tls.Dial("tcp", r.addr, &tls.Config{RootCAs: pool, ServerName: "a.example.com", MinVersion: version, MaxVersion: version, ClientSessionCache: cache, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			st := c.ConnectionState()
			if st.NegotiatedProtocol != "http/1.1" {
				t.Errorf("ALPN chose %q", st.NegotiatedProtocol)
			}
			if i == 1 && !st.DidResume {
				t.Errorf("TLS %x: the second connection did not resume", version)
			}
			br := bufio.NewReader(c)
			for range 3 {
				fmt.Fprintf(c, "GET /v HTTP/1.1\r\nHost: a\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "HTTP/1.1 /v xfp=https body=0" {
					t.Errorf("TLS %x: %q", version, b)
				}
			}
			r.mu.Lock()
			onLoops := len(r.hs.lconns)
			r.mu.Unlock()
			if onLoops != 1 {
				t.Errorf("TLS %x: %d connections on the event loops, want 1", version, onLoops)
			}
			c.Close()
			r.waitStats(t, "the connection gone", func(s ServiceStats) bool { return s.Active == 0 })
		}
	}
}

// TestHTTPProxyHeaderEveryPath: behind a PROXY header, the client's
// address reaches the backend whichever way the connection is served: on
// a loop in cleartext, handed to the goroutine path (a chunked request),
// over TLS (HTTP/1.1 and h2 by ALPN), and over h2c.
func TestHTTPProxyHeaderEveryPath(t *testing.T) {
	checkGoroutines(t)
	be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, r.Header.Get("X-Forwarded-For"))
	}))
	pool := x509.NewCertPool()
	cfg := httpCfg(be.addr)
	cfg.ForwardedHeaders = true
	cfg.ProxyProtocol.Accept = true
	cfg.H2C = true
	clear := startService(t, cfg)
	cfg.H2C = false
	cfg.TLS = &config.TLS{Certs: []config.Cert{selfSigned(t, pool, "a.example.com")}, HTTP2: true}
	secure := startService(t, cfg)
	const proxyLine = "PROXY TCP4 10.1.2.3 10.0.0.1 1234 80\r\n"
	dial := func(addr string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, proxyLine)
		return c
	}
	h1 := func(name string, c net.Conn, req string) {
		defer c.Close()
		io.WriteString(c, req)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != "10.1.2.3" {
			t.Errorf("%s: the backend saw X-Forwarded-For %q", name, b)
		}
	}
	const get = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	const chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n1\r\na\r\n0\r\n\r\n"
	h1("cleartext", dial(clear.addr), get)
	h1("cleartext, handed over", dial(clear.addr), chunked)
	tlsConf := func(proto string) *tls.Config {
		return &tls.Config{RootCAs: pool, ServerName: "a.example.com", NextProtos: []string{proto}}
	}
	h1("TLS", tls.Client(dial(secure.addr), tlsConf("http/1.1")), get)
	h1("TLS, handed over", tls.Client(dial(secure.addr), tlsConf("http/1.1")), chunked)
	h2 := func(name string, c net.Conn) {
		defer c.Close()
		tr := &http2.Transport{AllowHTTP: true}
		cc, err := tr.NewClientConn(c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		req, _ := http.NewRequest("GET", "http://x/", nil)
		resp, err := cc.RoundTrip(req)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "10.1.2.3" {
			t.Errorf("%s: the backend saw X-Forwarded-For %q", name, b)
		}
	}
	h2("h2c", dial(clear.addr))
	tc := tls.Client(dial(secure.addr), tlsConf("h2"))
	if err := tc.Handshake(); err != nil || tc.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatalf("h2 by ALPN: %v %q", err, tc.ConnectionState().NegotiatedProtocol)
	}
	h2("h2 over TLS", tc)
}
