package proxy

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/xml"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/config"
)

// TestH2specOnService runs h2spec (github.com/summerwind/h2spec, every
// case, strict mode) against a service's TLS listener and its h2c one,
// whichever path serves them (the event loops, or with -http-goroutines
// net/http's HTTP/2 server). scripts/test.sh installs h2spec and sets
// VIGIL_REQUIRE_H2SPEC, so that there its absence fails the test.
func TestH2specOnService(t *testing.T) {
	bin, err := exec.LookPath("h2spec")
	if err != nil {
		if os.Getenv("VIGIL_REQUIRE_H2SPEC") != "" {
			t.Fatal("h2spec is not installed and VIGIL_REQUIRE_H2SPEC is set")
		}
		t.Skip("h2spec is not installed")
	}
	if *goroutineHTTP {
		t.Skip("the goroutine path serves HTTP/2 with net/http's server; h2spec checks the event loops' (proxy/h2)")
	}
	be := startHTTPBackend(t, nameHandler("h2spec says hello"))
	cfg := httpCfg(be.addr)
	cfg.H2C = true
	h2c := startService(t, cfg)
	cfg = httpCfg(be.addr)
	cfg.TLS = &config.TLS{Certs: []config.Cert{selfSigned(t, x509.NewCertPool(), "localhost")}, HTTP2: true}
	tlsSvc := startService(t, cfg)
	for _, tc := range []struct {
		name  string
		addr  string
		flags []string
	}{
		{"h2c", h2c.addr, nil},
		{"tls", tlsSvc.addr, []string{"-t", "-k"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, port, _ := net.SplitHostPort(tc.addr)
			report := filepath.Join(t.TempDir(), "report.xml")
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			args := append([]string{"-h", "127.0.0.1", "-p", port, "-j", report, "-o", "3", "-S"}, tc.flags...)
			out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
			raw, rerr := os.ReadFile(report)
			if rerr != nil {
				t.Fatalf("h2spec wrote no report (%v): %v\n%s", rerr, err, out)
			}
			var rep struct {
				Suites []struct {
					Name  string `xml:"name,attr"`
					Cases []struct {
						Name    string    `xml:"name,attr"`
						Failure *struct{} `xml:"failure"`
						Error   *struct{} `xml:"error"`
						Skipped *struct{} `xml:"skipped"`
					} `xml:"testcase"`
				} `xml:"testsuite"`
			}
			// A failure's text may quote frame bytes XML does not allow.
			raw = bytes.Map(func(r rune) rune {
				if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
					return '?'
				}
				return r
			}, raw)
			if err := xml.Unmarshal(raw, &rep); err != nil {
				t.Fatalf("h2spec report: %v", err)
			}
			total, skipped := 0, 0
			var failed []string
			for _, s := range rep.Suites {
				for _, c := range s.Cases {
					total++
					switch {
					case c.Failure != nil || c.Error != nil:
						failed = append(failed, s.Name+": "+c.Name)
					case c.Skipped != nil:
						skipped++
					}
				}
			}
			if len(failed) > 0 || err != nil {
				t.Fatalf("h2spec: %d of %d cases failed (exit: %v):\n%s\n\n%s", len(failed), total, err, strings.Join(failed, "\n"), out)
			}
			if total != 146 || skipped != 0 {
				t.Fatalf("h2spec ran %d cases and skipped %d, want all 146", total, skipped)
			}
		})
	}
}
