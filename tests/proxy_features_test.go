package tests

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/proxy/proxyproto"
	"vigil/tests/lab"
)

// End-to-end tests of the proxy's features through a VIP: TLS with SNI,
// HTTP/2 (h2 and h2c), WebSocket, PROXY protocol v2 to the backend, and
// per-backend max_conn with the service queue. Each test runs one vigil
// node (the only VRRP router, so it owns the VIP), a client host and the
// backend hosts it needs, with the backends served from this process
// inside their namespaces.

// featureLab is one vigil node "lb" (10.0.0.1) owning vip4, a client
// (10.0.0.2) and backend hosts be1, be2, ... (10.0.0.3, ...).
type featureLab struct {
	t   *testing.T
	lan *lab.Net
	lb  *lab.Host
	cli *lab.Host
	be  []*lab.Host
	lbn *node
}

func newFeatureLab(t *testing.T, backends int) *featureLab {
	l := lab.New(t)
	lan := l.AddNet("lan", lanPrefix)
	fl := &featureLab{t: t, lan: lan, lb: l.AddHost("lb", lan), cli: l.AddHost("client", lan)}
	for i := range backends {
		fl.be = append(fl.be, l.AddHost(fmt.Sprintf("be%d", i+1), lan))
	}
	return fl
}

// start runs vigil on lb with the services given (YAML list items under
// services:) and waits until it owns the VIP and every service listens.
func (fl *featureLab) start(services string) {
	t := fl.t
	t.Helper()
	cfg := nodeConfig("lb", instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", "")) + "services:\n" + services
	fl.lbn = startVigil(t, fl.lb, cfg)
	waitOwner(t, vip4, fl.lb, []*lab.Host{fl.lb}, 10*time.Second)
	want := strings.Count(services, "  - name: ")
	lab.WaitFor(t, 5*time.Second, "every service to listen", func() (bool, string) {
		n := strings.Count(fl.lbn.proc.Output(), "msg=listening")
		return n >= want, fmt.Sprintf("%d of %d services listening; vigil %s", n, want, fl.lbn.proc.State())
	})
}

// dial connects from the client host to addr.
func (fl *featureLab) dial(addr string) (net.Conn, error) {
	var c net.Conn
	err := fl.cli.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	})
	return c, err
}

// listenIn opens a TCP listener in h, closed when the test ends.
func listenIn(t *testing.T, h *lab.Host, port int) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// serveHTTPIn serves handler on port in h until the test ends.
func serveHTTPIn(t *testing.T, h *lab.Host, port int, handler http.Handler) {
	t.Helper()
	ln := listenIn(t, h, port)
	srv := &http.Server{Handler: handler}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// infoHandler answers "NAME PROTO PATH X-FORWARDED-PROTO"; POST /sum
// answers the length and SHA-256 of the request body instead.
func infoHandler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sum" {
			h := sha256.New()
			n, err := io.Copy(h, r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
			return
		}
		fmt.Fprintf(w, "%s %s %s %s", name, r.Proto, r.URL.Path, r.Header.Get("X-Forwarded-Proto"))
	})
}

// transportFrom is an HTTP transport whose connections are dialled inside h.
func transportFrom(t *testing.T, h *lab.Host) *http.Transport {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := h.Do(func() (err error) {
				d := net.Dialer{Timeout: 2 * time.Second}
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// testPKI is a CA and server certificates it signed, written to files.
type testPKI struct {
	pool  *x509.CertPool
	certs map[string]*x509.Certificate // by DNS name
	files map[string][2]string         // by DNS name: cert chain, key
}

// makePKI creates a CA and one ECDSA server certificate per name in dir.
func makePKI(t *testing.T, dir string, names ...string) *testPKI {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vigil e2e test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{pool: x509.NewCertPool(), certs: map[string]*x509.Certificate{}, files: map[string][2]string{}}
	p.pool.AddCert(ca)
	for i, name := range names {
		key := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i + 2)),
			Subject:      pkix.Name{CommonName: name},
			DNSNames:     []string{name},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
		certFile, keyFile := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
		if err := os.WriteFile(certFile, chain, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
			t.Fatal(err)
		}
		p.certs[name] = cert
		p.files[name] = [2]string{certFile, keyFile}
	}
	return p
}

// certsYAML is the certs: list for the names, in order (the first is the default).
func (p *testPKI) certsYAML(names ...string) string {
	var items []string
	for _, n := range names {
		items = append(items, fmt.Sprintf("{ cert: %q, key: %q }", p.files[n][0], p.files[n][1]))
	}
	return "[" + strings.Join(items, ", ") + "]"
}

// TestProxyFeatureTLSSNI: an http service terminating TLS with two
// certificates picks the one matching the client's SNI, falls back to the
// first for an unknown name or no SNI at all, and the decrypted request
// reaches the backend marked X-Forwarded-Proto: https.
func TestProxyFeatureTLSSNI(t *testing.T) {
	fl := newFeatureLab(t, 1)
	be1 := fl.be[0]
	serveHTTPIn(t, be1, 8000, infoHandler("be1"))
	pki := makePKI(t, t.TempDir(), "a.example.test", "b.example.test")
	fl.start(fmt.Sprintf(`  - name: tls
    listen: 10.0.0.100:443
    protocol: http
    tls: { certs: %s, http2: false }
    backends: ["%s:8000"]
`, pki.certsYAML("a.example.test", "b.example.test"), be1.Addr(fl.lan)))

	for _, tc := range []struct {
		sni, want string
	}{
		{"a.example.test", "a.example.test"},
		{"b.example.test", "b.example.test"},
		{"unknown.example.test", "a.example.test"}, // no match: the first certificate
		{"", "a.example.test"},                     // no SNI sent: the first certificate
	} {
		t.Run("sni="+tc.sni, func(t *testing.T) {
			raw, err := fl.dial("10.0.0.100:443")
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			raw.SetDeadline(time.Now().Add(5 * time.Second))
			// Names with a certificate are verified against the CA; for
			// the others the certificate is checked by hand below.
			known := pki.certs[tc.sni] != nil
			c := tls.Client(raw, &tls.Config{ServerName: tc.sni, RootCAs: pki.pool, InsecureSkipVerify: !known, NextProtos: []string{"http/1.1"}})
			if err := c.Handshake(); err != nil {
				t.Fatalf("handshake: %v", err)
			}
			st := c.ConnectionState()
			if len(st.PeerCertificates) == 0 {
				t.Fatal("no certificate from the server")
			}
			if got := st.PeerCertificates[0]; !got.Equal(pki.certs[tc.want]) {
				t.Fatalf("got the certificate for %v (CN %s), want the one for %s", got.DNSNames, got.Subject.CommonName, tc.want)
			}
			fmt.Fprintf(c, "GET /sni HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", firstNonEmpty(tc.sni, "10.0.0.100"))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("response: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || string(body) != "be1 HTTP/1.1 /sni https" {
				t.Fatalf("through TLS: %d %q %v", resp.StatusCode, body, err)
			}
		})
	}
}

// firstNonEmpty returns the first non-empty string.
func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// TestProxyFeatureHTTP2: a TLS service with tls.http2 negotiates h2 by ALPN
// with a Go client and forwards its streams (bodies too) to an HTTP/1.1
// backend; a service with h2c: true takes HTTP/2 with prior knowledge in
// cleartext, and still serves HTTP/1.1 clients.
func TestProxyFeatureHTTP2(t *testing.T) {
	fl := newFeatureLab(t, 1)
	be1 := fl.be[0]
	serveHTTPIn(t, be1, 8000, infoHandler("be1"))
	pki := makePKI(t, t.TempDir(), "a.example.test")
	fl.start(fmt.Sprintf(`  - name: h2
    listen: 10.0.0.100:443
    protocol: http
    tls: { certs: %s, http2: true }
    backends: ["%[2]s:8000"]
  - name: h2c
    listen: 10.0.0.100:80
    protocol: http
    h2c: true
    backends: ["%[2]s:8000"]
`, pki.certsYAML("a.example.test"), be1.Addr(fl.lan)))

	// checkH2 sends a GET and a POST with a body on c and checks both went
	// over HTTP/2 and came back from the backend.
	checkH2 := func(t *testing.T, c *http.Client, base, wantProto string) {
		t.Helper()
		resp, err := c.Get(base + "/h2")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.Proto != "HTTP/2.0" {
			t.Errorf("client spoke %s, want HTTP/2.0", resp.Proto)
		}
		if want := "be1 HTTP/1.1 /h2 " + wantProto; resp.StatusCode != 200 || string(body) != want {
			t.Errorf("GET: %d %q, want 200 %q", resp.StatusCode, body, want)
		}
		payload := make([]byte, 200<<10)
		rand.Read(payload)
		sum := sha256.Sum256(payload)
		resp, err = c.Post(base+"/sum", "application/octet-stream", bytes.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("%d %s", len(payload), hex.EncodeToString(sum[:])); err != nil || resp.Proto != "HTTP/2.0" || string(body) != want {
			t.Errorf("POST of %d bytes: %s %d %q %v, want %q", len(payload), resp.Proto, resp.StatusCode, body, err, want)
		}
	}

	t.Run("h2", func(t *testing.T) {
		tr := transportFrom(t, fl.cli)
		tr.TLSClientConfig = &tls.Config{ServerName: "a.example.test", RootCAs: pki.pool}
		tr.ForceAttemptHTTP2 = true
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		checkH2(t, c, "https://10.0.0.100", "https")
		resp, err := c.Get("https://10.0.0.100/alpn")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.TLS == nil || resp.TLS.NegotiatedProtocol != "h2" {
			t.Errorf("ALPN: %+v, want h2", resp.TLS)
		}
	})
	t.Run("h2c", func(t *testing.T) {
		tr := transportFrom(t, fl.cli)
		var p http.Protocols
		p.SetUnencryptedHTTP2(true) // prior knowledge: the preface, no Upgrade
		tr.Protocols = &p
		checkH2(t, &http.Client{Transport: tr, Timeout: 5 * time.Second}, "http://10.0.0.100", "http")
	})
	t.Run("http1-on-h2c-service", func(t *testing.T) {
		c := &http.Client{Transport: transportFrom(t, fl.cli), Timeout: 5 * time.Second}
		resp, err := c.Get("http://10.0.0.100/one")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Proto != "HTTP/1.1" || string(body) != "be1 HTTP/1.1 /one http" {
			t.Errorf("%s %d %q", resp.Proto, resp.StatusCode, body)
		}
	})
}

// WebSocket framing, just what the test needs (RFC 6455 section 5).
const (
	wsText   = 0x1
	wsBinary = 0x2
	wsClose  = 0x8
)

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsAppendFrame appends one final frame; clients must mask, servers must not.
func wsAppendFrame(b []byte, op byte, payload []byte, mask bool) []byte {
	b = append(b, 0x80|op)
	m := byte(0)
	if mask {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, m|byte(n))
	case n <= 0xffff:
		b = append(b, m|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if !mask {
		return append(b, payload...)
	}
	var key [4]byte
	rand.Read(key[:])
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// wsReadFrame reads one frame and unmasks it; masked reports whether it was.
func wsReadFrame(r io.Reader) (op byte, payload []byte, masked bool, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, false, err
	}
	if h[0]&0x80 == 0 {
		return 0, nil, false, errors.New("fragmented frame")
	}
	op, masked = h[0]&0x0f, h[1]&0x80 != 0
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, false, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, false, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 16<<20 {
		return 0, nil, false, fmt.Errorf("frame of %d bytes", n)
	}
	var key [4]byte
	if masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return 0, nil, false, err
		}
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, false, err
	}
	if masked {
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return op, payload, masked, nil
}

// wsEchoHandler completes the WebSocket handshake, sends a greeting frame
// in the same write as the 101 (so it arrives with the response head), then
// echoes every frame until a close frame, which it answers.
func wsEchoHandler(name string, errs chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(err error) {
			select {
			case errs <- err:
			default:
			}
		}
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || !strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
			fail(fmt.Errorf("backend got no upgrade request: Upgrade %q Connection %q", r.Header.Get("Upgrade"), r.Header.Get("Connection")))
			http.Error(w, "not a websocket upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			fail(err)
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			wsAccept(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
		if _, err := conn.Write(wsAppendFrame([]byte(head), wsText, []byte("welcome from "+name), false)); err != nil {
			fail(err)
			return
		}
		for {
			op, p, masked, err := wsReadFrame(brw.Reader)
			if err != nil {
				fail(fmt.Errorf("backend read: %w", err))
				return
			}
			if !masked {
				fail(errors.New("backend got an unmasked client frame"))
				return
			}
			if _, err := conn.Write(wsAppendFrame(nil, op, p, false)); err != nil {
				fail(err)
				return
			}
			if op == wsClose {
				return
			}
		}
	})
}

// TestProxyFeatureWebSocket: a WebSocket upgrade through an http service
// gets the backend's 101 and the connection then carries frames both ways,
// including bytes the backend sent together with its response head.
func TestProxyFeatureWebSocket(t *testing.T) {
	fl := newFeatureLab(t, 1)
	be1 := fl.be[0]
	backendErrs := make(chan error, 1)
	serveHTTPIn(t, be1, 8000, wsEchoHandler("be1", backendErrs))
	fl.start(fmt.Sprintf(`  - name: ws
    listen: 10.0.0.100:80
    protocol: http
    backends: ["%s:8000"]
`, be1.Addr(fl.lan)))

	c, err := fl.dial("10.0.0.100:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: 10.0.0.100\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("upgrade response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") ||
		!strings.EqualFold(resp.Header.Get("Connection"), "upgrade") || resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(key) {
		select {
		case err := <-backendErrs:
			t.Logf("backend: %v", err)
		default:
		}
		t.Fatalf("upgrade response: %s %v", resp.Status, resp.Header)
	}

	expect := func(what string, wantOp byte, want []byte) {
		t.Helper()
		op, p, masked, err := wsReadFrame(br)
		if err != nil {
			select {
			case berr := <-backendErrs:
				t.Logf("backend: %v", berr)
			default:
			}
			t.Fatalf("%s: %v", what, err)
		}
		if op != wantOp || masked || !bytes.Equal(p, want) {
			t.Fatalf("%s: op %d masked %v %d bytes %.40q, want op %d %d bytes %.40q", what, op, masked, len(p), p, wantOp, len(want), want)
		}
	}
	expect("greeting sent with the 101", wsText, []byte("welcome from be1"))
	if _, err := c.Write(wsAppendFrame(nil, wsText, []byte("hello through vigil"), true)); err != nil {
		t.Fatal(err)
	}
	expect("text echo", wsText, []byte("hello through vigil"))
	big := make([]byte, 300<<10) // 64-bit length, many TCP segments
	rand.Read(big)
	if _, err := c.Write(wsAppendFrame(nil, wsBinary, big, true)); err != nil {
		t.Fatal(err)
	}
	expect("binary echo", wsBinary, big)
	closing := binary.BigEndian.AppendUint16(nil, 1000)
	if _, err := c.Write(wsAppendFrame(nil, wsClose, closing, true)); err != nil {
		t.Fatal(err)
	}
	expect("close echo", wsClose, closing)
	// The backend closed after the close frame: the client side ends too.
	if n, err := br.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("after close: read %d bytes, err %v; want the connection closed", n, err)
	}
	select {
	case err := <-backendErrs:
		t.Errorf("backend: %v", err)
	default:
	}
}

// ppConn is what the PROXY protocol backend saw on one connection.
type ppConn struct {
	hdr  proxyproto.Header
	err  error
	peer netip.AddrPort // the TCP peer: vigil
	data string         // the client's first line, after the header
}

// TestProxyFeatureProxyProtocolV2: a tcp service with proxy_protocol send v2
// starts every backend connection with a v2 header naming the real client
// (address and port) and the VIP:port it connected to, followed by the
// client's own bytes, while the TCP peer the backend sees is vigil.
func TestProxyFeatureProxyProtocolV2(t *testing.T) {
	fl := newFeatureLab(t, 1)
	be1 := fl.be[0]
	ln := listenIn(t, be1, 9000)
	seen := make(chan ppConn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				br := bufio.NewReader(c)
				peer := c.RemoteAddr().(*net.TCPAddr).AddrPort() // ::ffff:a.b.c.d on a dual-stack listener
				pc := ppConn{peer: netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())}
				pc.hdr, pc.err = proxyproto.Read(br)
				if pc.err == nil {
					line, _ := br.ReadString('\n')
					pc.data = line
					io.WriteString(c, "ok "+strings.TrimSpace(line))
				}
				seen <- pc
			}()
		}
	}()
	fl.start(fmt.Sprintf(`  - name: pp
    listen: 10.0.0.100:9000
    protocol: tcp
    proxy_protocol: { send: v2 }
    backends: ["%s:9000"]
`, be1.Addr(fl.lan)))

	for i := range 2 {
		c, err := fl.dial("10.0.0.100:9000")
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		client := c.LocalAddr().(*net.TCPAddr).AddrPort()
		msg := fmt.Sprintf("hello %d\n", i)
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		reply, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(reply) != "ok "+strings.TrimSpace(msg) {
			t.Errorf("connection %d: reply %q %v", i, reply, err)
		}
		var pc ppConn
		select {
		case pc = <-seen:
		case <-time.After(5 * time.Second):
			t.Fatalf("connection %d: the backend saw no connection", i)
		}
		if pc.err != nil {
			t.Fatalf("connection %d: backend could not read a PROXY header: %v", i, pc.err)
		}
		h := pc.hdr
		if h.Version != 2 || h.Command != proxyproto.Proxy || h.Protocol != proxyproto.TCP {
			t.Errorf("connection %d: header v%d %v %v, want v2 PROXY TCP", i, h.Version, h.Command, h.Protocol)
		}
		if client.Addr() != fl.cli.Addr(fl.lan) || h.Source != client {
			t.Errorf("connection %d: header source %s, want the client %s (client host %s)", i, h.Source, client, fl.cli.Addr(fl.lan))
		}
		if want := netip.AddrPortFrom(vip4, 9000); h.Destination != want {
			t.Errorf("connection %d: header destination %s, want %s", i, h.Destination, want)
		}
		if pc.peer.Addr() != fl.lb.Addr(fl.lan) {
			t.Errorf("connection %d: backend's TCP peer %s, want vigil's %s", i, pc.peer, fl.lb.Addr(fl.lan))
		}
		if pc.data != msg {
			t.Errorf("connection %d: after the header the backend read %q, want %q", i, pc.data, msg)
		}
	}
}

// gated counts what a backend is doing: requests (or connections) block
// until the gate opens, so a test decides when the backend answers.
type gated struct {
	mu        sync.Mutex
	active    int
	maxActive int
	events    []string
	gate      chan struct{}
	open      sync.Once
	arrived   chan string
}

func newGated(t *testing.T) *gated {
	g := &gated{gate: make(chan struct{}), arrived: make(chan string, 16)}
	t.Cleanup(g.release)
	return g
}

func (g *gated) release() { g.open.Do(func() { close(g.gate) }) }

// hold records the start of id, waits for the gate (or done), records its end.
func (g *gated) hold(id string, done <-chan struct{}) {
	g.mu.Lock()
	g.active++
	g.maxActive = max(g.maxActive, g.active)
	g.events = append(g.events, "start "+id)
	g.mu.Unlock()
	g.arrived <- id
	select {
	case <-g.gate:
	case <-done:
	}
	g.mu.Lock()
	g.active--
	g.events = append(g.events, "end "+id)
	g.mu.Unlock()
}

func (g *gated) snapshot() (maxActive int, events []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.maxActive, slices.Clone(g.events)
}

func (g *gated) handler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.hold(r.URL.Path, r.Context().Done())
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	})
}

// serveTCP accepts connections on ln; each holds at the gate, then gets
// name and is closed.
func (g *gated) serveTCP(ln net.Listener, name string) {
	n := 0
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		n++
		id := fmt.Sprintf("conn%d", n)
		go func() {
			defer c.Close()
			g.hold(id, nil)
			io.WriteString(c, name)
		}()
	}
}

// waitArrival waits for the backend to start serving something.
func (g *gated) waitArrival(t *testing.T, want string) {
	t.Helper()
	select {
	case id := <-g.arrived:
		if want != "" && id != want {
			t.Fatalf("backend got %s first, want %s", id, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("backend never got %s", want)
	}
}

type result struct {
	id   string
	code int
	body string
	err  error
	took time.Duration
}

// TestProxyFeatureMaxConnQueue: a backend with max_conn 1 never serves more
// than one request (http) or connection (tcp) at a time; one more waits in
// the service queue and is served when the slot frees; beyond max_queue the
// client gets 503 (http) or is closed (tcp) at once, and a request that
// waits longer than timeouts.queue gets 503.
func TestProxyFeatureMaxConnQueue(t *testing.T) {
	fl := newFeatureLab(t, 1)
	be1 := fl.be[0]
	qHTTP, qTimeout, qTCP := newGated(t), newGated(t), newGated(t)
	serveHTTPIn(t, be1, 8001, qHTTP.handler("be1"))
	serveHTTPIn(t, be1, 8002, qTimeout.handler("be1"))
	go qTCP.serveTCP(listenIn(t, be1, 9000), "be1")
	be := be1.Addr(fl.lan)
	fl.start(fmt.Sprintf(`  - name: queue
    listen: 10.0.0.100:80
    protocol: http
    max_queue: 1
    timeouts: { queue: 10s }
    backends: [{ address: "%[1]s:8001", max_conn: 1 }]
  - name: qtimeout
    listen: 10.0.0.100:81
    protocol: http
    timeouts: { queue: 400ms }
    backends: [{ address: "%[1]s:8002", max_conn: 1 }]
  - name: qtcp
    listen: 10.0.0.100:9000
    protocol: tcp
    max_queue: 1
    timeouts: { queue: 10s }
    backends: [{ address: "%[1]s:9000", max_conn: 1 }]
`, be))

	// Each request on its own connection, so the client's own pooling
	// cannot serialise them.
	tr := transportFrom(t, fl.cli)
	tr.DisableKeepAlives = true
	client := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	getAsync := func(url, id string, out chan<- result) {
		go func() {
			start := time.Now()
			r := result{id: id}
			resp, err := client.Get(url)
			if err == nil {
				b, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				r.code, r.body, err = resp.StatusCode, string(b), rerr
			}
			r.err, r.took = err, time.Since(start)
			out <- r
		}()
	}
	next := func(t *testing.T, what string, ch <-chan result, g *gated) result {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(8 * time.Second):
			maxActive, events := g.snapshot()
			t.Fatalf("no answer for %s (backend: max %d concurrent, events %v)", what, maxActive, events)
			return result{}
		}
	}

	t.Run("http", func(t *testing.T) {
		first := make(chan result, 1)
		getAsync("http://10.0.0.100/a", "/a", first)
		qHTTP.waitArrival(t, "/a")
		// The slot is taken: /b and /c race for the one queue place. The
		// loser is refused with 503 at once, while /a is still being served.
		others := make(chan result, 2)
		getAsync("http://10.0.0.100/b", "/b", others)
		getAsync("http://10.0.0.100/c", "/c", others)
		refused := next(t, "the request over max_queue", others, qHTTP)
		if refused.err != nil || refused.code != 503 || !strings.Contains(refused.body, "503 Service Unavailable (service queue)") {
			t.Fatalf("request over max_queue (%s): %d %q %v, want vigil's 503", refused.id, refused.code, refused.body, refused.err)
		}
		queued := map[string]string{"/b": "/c", "/c": "/b"}[refused.id]
		select {
		case r := <-first:
			t.Fatalf("/a answered before the backend did: %+v", r)
		case r := <-others:
			t.Fatalf("%s answered while the only slot was busy: %+v", r.id, r)
		default:
		}
		if maxActive, events := qHTTP.snapshot(); maxActive != 1 || len(events) != 1 {
			t.Fatalf("backend, /a still busy: max %d concurrent, events %v", maxActive, events)
		}

		qHTTP.release()
		for _, want := range []struct {
			ch chan result
			id string
		}{{first, "/a"}, {others, queued}} {
			r := next(t, want.id, want.ch, qHTTP)
			if r.err != nil || r.code != 200 || r.body != "be1 "+want.id {
				t.Errorf("%s: %d %q %v, want 200 from be1", r.id, r.code, r.body, r.err)
			}
		}
		maxActive, events := qHTTP.snapshot()
		if want := []string{"start /a", "end /a", "start " + queued, "end " + queued}; maxActive != 1 || !slices.Equal(events, want) {
			t.Errorf("backend: max %d concurrent, events %v; want 1 and %v", maxActive, events, want)
		}
	})

	t.Run("http-queue-timeout", func(t *testing.T) {
		first := make(chan result, 1)
		getAsync("http://10.0.0.100:81/a", "/a", first)
		qTimeout.waitArrival(t, "/a")
		waited := make(chan result, 1)
		getAsync("http://10.0.0.100:81/b", "/b", waited)
		r := next(t, "the queued request", waited, qTimeout)
		if r.err != nil || r.code != 503 || !strings.Contains(r.body, "503 Service Unavailable (service qtimeout)") {
			t.Fatalf("queued past timeouts.queue: %d %q %v, want vigil's 503", r.code, r.body, r.err)
		}
		if r.took < 400*time.Millisecond {
			t.Errorf("503 after %v, before timeouts.queue (400ms) passed", r.took)
		}
		if maxActive, events := qTimeout.snapshot(); maxActive != 1 || len(events) != 1 {
			t.Fatalf("backend, /a still busy: max %d concurrent, events %v", maxActive, events)
		}
		qTimeout.release()
		if r := next(t, "/a", first, qTimeout); r.err != nil || r.code != 200 || r.body != "be1 /a" {
			t.Errorf("/a: %d %q %v", r.code, r.body, r.err)
		}
		// The slot is free again and the queue empty: served at once.
		again := make(chan result, 1)
		getAsync("http://10.0.0.100:81/c", "/c", again)
		if r := next(t, "/c", again, qTimeout); r.err != nil || r.code != 200 || r.body != "be1 /c" {
			t.Errorf("/c after the slot freed: %d %q %v", r.code, r.body, r.err)
		}
		if _, events := qTimeout.snapshot(); !slices.Equal(events, []string{"start /a", "end /a", "start /c", "end /c"}) {
			t.Errorf("backend events %v: the timed-out /b must never reach it", events)
		}
	})

	t.Run("tcp", func(t *testing.T) {
		type tcpResult struct {
			n    int
			got  string
			err  error
			took time.Duration
		}
		connect := func(n int, out chan<- tcpResult) {
			go func() {
				start := time.Now()
				c, err := fl.dial("10.0.0.100:9000")
				if err != nil {
					out <- tcpResult{n: n, err: err}
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(15 * time.Second))
				b, err := io.ReadAll(c)
				out <- tcpResult{n: n, got: string(b), err: err, took: time.Since(start)}
			}()
		}
		wait := func(what string, ch <-chan tcpResult) tcpResult {
			t.Helper()
			select {
			case r := <-ch:
				return r
			case <-time.After(8 * time.Second):
				maxActive, events := qTCP.snapshot()
				t.Fatalf("no end of %s (backend: max %d concurrent, events %v)", what, maxActive, events)
				return tcpResult{}
			}
		}
		first := make(chan tcpResult, 1)
		connect(1, first)
		qTCP.waitArrival(t, "conn1")
		others := make(chan tcpResult, 2)
		connect(2, others)
		connect(3, others)
		refused := wait("the connection over max_queue", others)
		// Closed by vigil without a byte (a reset is a close too).
		if refused.got != "" {
			t.Fatalf("connection %d over max_queue: got %q, want it closed with nothing", refused.n, refused.got)
		}
		select {
		case r := <-first:
			t.Fatalf("connection 1 ended before the backend answered: %+v", r)
		case r := <-others:
			t.Fatalf("connection %d ended while the only slot was busy: %+v", r.n, r)
		default:
		}
		if maxActive, events := qTCP.snapshot(); maxActive != 1 || len(events) != 1 {
			t.Fatalf("backend, connection 1 still open: max %d concurrent, events %v", maxActive, events)
		}
		qTCP.release()
		for _, ch := range []chan tcpResult{first, others} {
			if r := wait("a served connection", ch); r.err != nil || r.got != "be1" {
				t.Errorf("connection %d: %q %v, want be1", r.n, r.got, r.err)
			}
		}
		if maxActive, events := qTCP.snapshot(); maxActive != 1 || !slices.Equal(events, []string{"start conn1", "end conn1", "start conn2", "end conn2"}) {
			t.Errorf("backend: max %d concurrent, events %v; want one connection at a time", maxActive, events)
		}
	})
}
