package checks

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/config"
)

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	tests := []struct {
		name, addr string
		ok         bool
		reason     string
	}{
		{"open", l.Addr().String(), true, "ok (connected)"},
		{"closed", closedAddr(t, "tcp"), false, "connect refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := probeOnce(t, "tcp", Target{Check: newCheck("tcp"), Address: tc.addr}, Options{})
			if r.ok != tc.ok || r.reason != tc.reason {
				t.Errorf("got ok=%v %q, want ok=%v %q", r.ok, r.reason, tc.ok, tc.reason)
			}
		})
	}
}

func TestHTTPProbe(t *testing.T) {
	const page = "<html>service ready, version 1.4.2</html>"
	sum := md5.Sum([]byte(page))
	var (
		mu      sync.Mutex
		lastReq *http.Request
	)
	block := make(chan struct{})
	defer close(block)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastReq = r
		mu.Unlock()
		switch r.URL.Path {
		case "/", "/health":
			io.WriteString(w, page)
		case "/down":
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
		case "/moved":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "/slow":
			select {
			case <-block:
			case <-r.Context().Done():
			}
		case "/big":
			w.Write(make([]byte, maxBody+10))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	tests := []struct {
		name   string
		mod    func(*config.Check)
		addr   string
		ok     bool
		reason string
	}{
		{"200", nil, "", true, "ok (status 200)"},
		{"503", func(c *config.Check) { c.Path = "/down" }, "", false, "status 503"},
		{"503 expected", func(c *config.Check) {
			c.Path = "/down"
			c.ExpectStatus = []config.StatusRange{{Min: 503, Max: 503}}
		}, "", true, "ok (status 503)"},
		{"404 outside 2xx-3xx", func(c *config.Check) { c.Path = "/nope" }, "", false, "status 404"},
		{"redirect is an answer, not followed", func(c *config.Check) { c.Path = "/moved" }, "", true, "ok (status 302)"},
		{"body contains", func(c *config.Check) { c.ExpectBody = "ready" }, "", true, "ok (status 200)"},
		{"body lacks", func(c *config.Check) { c.ExpectBody = "degraded" }, "", false, `body does not contain "degraded"`},
		{"regex", func(c *config.Check) { c.ExpectBodyRegex = `version 1\.\d+` }, "", true, "ok (status 200)"},
		{"regex fails", func(c *config.Check) { c.ExpectBodyRegex = `version 2\.` }, "", false, `body does not match "version 2\\."`},
		{"digest", func(c *config.Check) { c.Digest = hex.EncodeToString(sum[:]) }, "", true, "ok (status 200)"},
		{"digest upper case", func(c *config.Check) { c.Digest = strings.ToUpper(hex.EncodeToString(sum[:])) }, "", true, "ok (status 200)"},
		{"digest mismatch", func(c *config.Check) { c.Digest = strings.Repeat("0", 32) }, "", false, "digest mismatch: got " + hex.EncodeToString(sum[:])},
		{"big body and digest", func(c *config.Check) { c.Path, c.Digest = "/big", strings.Repeat("0", 32) }, "", false, "body larger than 1 MiB, digest not checked"},
		{"timeout", func(c *config.Check) {
			c.Path = "/slow"
			c.Timeout = config.Duration(200 * time.Millisecond)
		}, "", false, "timeout after 200ms"},
		{"refused", nil, closedAddr(t, "tcp"), false, "connect refused"},
		{"https against plain http", func(c *config.Check) { c.Type = "https" }, "", false, "http: server gave HTTP response to HTTPS client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCheck("http")
			if tc.mod != nil {
				tc.mod(&c)
			}
			a := addr
			if tc.addr != "" {
				a = tc.addr
			}
			start := time.Now()
			r := probeOnce(t, "web", Target{Check: c, Address: a}, Options{})
			if r.ok != tc.ok || r.reason != tc.reason {
				t.Errorf("got ok=%v %q, want ok=%v %q", r.ok, r.reason, tc.ok, tc.reason)
			}
			if d := time.Since(start); d > c.Timeout.D()+5*time.Second {
				t.Errorf("probe took %s, beyond its timeout %s", d, c.Timeout)
			}
		})
	}

	t.Run("closed without a response", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				http.ReadRequest(bufio.NewReader(c)) // take the request, then hang up
				c.Close()
			}
		}()
		r := probeOnce(t, "web", Target{Check: newCheck("http"), Address: l.Addr().String()}, Options{})
		if r.ok || r.reason != "connection closed by the server" {
			t.Errorf("got ok=%v %q", r.ok, r.reason)
		}
	})

	t.Run("method, host header, no keep-alive", func(t *testing.T) {
		c := newCheck("http")
		c.Method, c.Path, c.Host = "HEAD", "/health", "www.example.test"
		r := probeOnce(t, "web", Target{Check: c, Address: addr}, Options{})
		if !r.ok {
			t.Fatalf("probe failed: %s", r.reason)
		}
		mu.Lock()
		defer mu.Unlock()
		if lastReq.Method != "HEAD" || lastReq.Host != "www.example.test" || lastReq.URL.Path != "/health" {
			t.Errorf("server saw %s %s Host %q", lastReq.Method, lastReq.URL.Path, lastReq.Host)
		}
		if !lastReq.Close {
			t.Error("request did not ask to close the connection")
		}
	})
}

// selfSigned makes a certificate for vigil.test only (no IP SAN), so tests
// can tell SNI, name verification and trust apart.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vigil.test"},
		DNSNames:              []string{"vigil.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

func TestHTTPSProbe(t *testing.T) {
	cert, pool := selfSigned(t)
	var (
		mu  sync.Mutex
		sni []string
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure ok")
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			mu.Lock()
			sni = append(sni, h.ServerName)
			mu.Unlock()
			return nil, nil
		},
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // rejected handshakes are the point
	srv.StartTLS()
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	tests := []struct {
		name    string
		verify  bool
		sni     string
		host    string
		roots   *x509.CertPool
		ok      bool
		reason  string
		wantSNI string
	}{
		{"verify off accepts self-signed", false, "", "", nil, true, "ok (status 200)", ""},
		{"verify on, unknown CA", true, "vigil.test", "", nil, false, "certificate signed by unknown authority", "vigil.test"},
		{"verify on, trusted, right name", true, "vigil.test", "", pool, true, "ok (status 200)", "vigil.test"},
		{"verify on, trusted, wrong name", true, "other.test", "", pool, false, "certificate is valid for vigil.test, not other.test", "other.test"},
		{"verify on, IP only", true, "", "", pool, false, "cannot validate certificate for 127.0.0.1", ""},
		{"SNI from Host header", true, "", "vigil.test", pool, true, "ok (status 200)", "vigil.test"},
		{"verify off still sends SNI", false, "other.test", "", nil, true, "ok (status 200)", "other.test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCheck("https")
			c.TLSVerify, c.SNI, c.Host = tc.verify, tc.sni, tc.host
			mu.Lock()
			sni = nil
			mu.Unlock()
			r := probeOnce(t, "secure", Target{Check: c, Address: addr}, Options{RootCAs: tc.roots})
			if r.ok != tc.ok || !strings.HasPrefix(r.reason, tc.reason) {
				t.Errorf("got ok=%v %q, want ok=%v %q", r.ok, r.reason, tc.ok, tc.reason)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(sni) != 1 || sni[0] != tc.wantSNI {
				t.Errorf("server saw SNI %q, want [%q]", sni, tc.wantSNI)
			}
		})
	}
}

// dnsServer is a tiny UDP DNS responder on loopback. Names:
// ok.test (one A), two.test (two A), nx.test (NXDOMAIN), silent.test (no
// reply), stray.test (first a reply with a wrong id, then the real one).
func dnsServer(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			id, q, err := parseQueryForTest(buf[:n])
			if err != nil {
				continue
			}
			switch strings.ToLower(q.Name.String()) {
			case "ok.test.":
				pc.WriteTo(dnsReplyForTest(t, id, q, 0, 1), from)
			case "two.test.":
				pc.WriteTo(dnsReplyForTest(t, id, q, 0, 2), from)
			case "nx.test.":
				pc.WriteTo(dnsReplyForTest(t, id, q, 3, 0), from)
			case "stray.test.":
				pc.WriteTo(dnsReplyForTest(t, id+1, q, 3, 0), from)
				pc.WriteTo(dnsReplyForTest(t, id, q, 0, 1), from)
			case "silent.test.":
			}
		}
	}()
	return pc.LocalAddr().String()
}

func TestDNSProbe(t *testing.T) {
	addr := dnsServer(t)
	tests := []struct {
		query, qtype string
		addr         string
		ok           bool
		reason       string
	}{
		{"ok.test", "A", "", true, "ok (1 A answer)"},
		{"OK.test.", "A", "", true, "ok (1 A answer)"},
		{"two.test", "A", "", true, "ok (2 A answers)"},
		{"ok.test", "AAAA", "", false, "no AAAA answer"},
		{"nx.test", "A", "", false, "rcode NXDOMAIN"},
		{"stray.test", "A", "", true, "ok (1 A answer)"},
		{"silent.test", "A", "", false, "timeout after 300ms"},
		{"ok.test", "A", closedAddr(t, "udp"), false, "port unreachable"},
	}
	for _, tc := range tests {
		t.Run(tc.query+"/"+tc.qtype, func(t *testing.T) {
			c := newCheck("dns")
			c.Query, c.QueryType = tc.query, tc.qtype
			c.Timeout = config.Duration(300 * time.Millisecond)
			a := addr
			if tc.addr != "" {
				a = tc.addr
			}
			r := probeOnce(t, "dns", Target{Check: c, Address: a}, Options{})
			if r.ok != tc.ok || r.reason != tc.reason {
				t.Errorf("got ok=%v %q, want ok=%v %q", r.ok, r.reason, tc.ok, tc.reason)
			}
		})
	}
}

// udpServer answers "pong:<payload>" to "ping" and stays silent otherwise.
func udpServer(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if string(buf[:n]) == "ping" {
				pc.WriteTo([]byte(fmt.Sprintf("pong:%s", buf[:n])), from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

func TestUDPProbe(t *testing.T) {
	addr := udpServer(t)
	closed := closedAddr(t, "udp")
	tests := []struct {
		name, payload, expect, addr string
		ok                          bool
		reason                      string
	}{
		{"reply contains", "ping", "pong", addr, true, "ok (reply)"},
		{"reply lacks", "ping", "nope", addr, false, `reply does not contain "nope"`},
		{"no reply, expected one", "hush", "pong", addr, false, "no reply within 200ms"},
		{"no reply, none expected", "hush", "", addr, true, "ok (no port unreachable within 200ms)"},
		{"reply, none expected", "ping", "", addr, true, "ok (reply)"},
		{"port unreachable", "ping", "", closed, false, "port unreachable"},
		{"port unreachable, reply expected", "ping", "pong", closed, false, "port unreachable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCheck("udp")
			c.Payload, c.ExpectReply = tc.payload, tc.expect
			c.Timeout = config.Duration(200 * time.Millisecond)
			r := probeOnce(t, "udp", Target{Check: c, Address: tc.addr}, Options{})
			if r.ok != tc.ok || r.reason != tc.reason {
				t.Errorf("got ok=%v %q, want ok=%v %q", r.ok, r.reason, tc.ok, tc.reason)
			}
		})
	}
}
