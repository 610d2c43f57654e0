package checks

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/config"
)

func TestExplain(t *testing.T) {
	dial := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: err}}
	}
	tests := []struct {
		err  error
		want string
	}{
		{context.DeadlineExceeded, "timeout after 1s"},
		{fmt.Errorf("probe: %w", os.ErrDeadlineExceeded), "timeout after 1s"},
		{&url.Error{Op: "Get", URL: "http://x/", Err: context.DeadlineExceeded}, "timeout after 1s"},
		{dial(syscall.ECONNREFUSED), "connect refused"},
		{&url.Error{Op: "Get", URL: "http://x/", Err: dial(syscall.ECONNREFUSED)}, "connect refused"},
		{dial(syscall.EHOSTUNREACH), "no route to host"},
		{dial(syscall.ENETUNREACH), "network unreachable"},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, "connection reset"},
		{&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "db.example"}}, "resolve db.example: no such host"},
		{&url.Error{Op: "Get", URL: "https://x/", Err: x509.UnknownAuthorityError{}}, "certificate signed by unknown authority"},
		{x509.HostnameError{Certificate: &x509.Certificate{DNSNames: []string{"a.test"}}, Host: "b.test"}, "certificate is valid for a.test, not b.test"},
		{&url.Error{Op: "Get", URL: "http://x/", Err: &net.OpError{Op: "read", Err: errors.New("something odd")}}, "something odd"},
		{context.Canceled, "canceled"},
	}
	for _, tc := range tests {
		if got := explain(tc.err, time.Second); got != tc.want {
			t.Errorf("explain(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	if got := explain(context.DeadlineExceeded, 250*time.Millisecond); got != "timeout after 250ms" {
		t.Errorf("timeout reason %q, want the check's own timeout", got)
	}
}

func TestJudgeBody(t *testing.T) {
	const helloMD5 = "5d41402abc4b2a76b9719d911017c592" // md5("hello")
	big := make([]byte, maxBody+1)
	tests := []struct {
		name     string
		body     []byte
		contains string
		re       string
		digest   string
		want     string // "" = passes
	}{
		{"nothing expected", []byte("x"), "", "", "", ""},
		{"contains", []byte("status: ready"), "ready", "", "", ""},
		{"does not contain", []byte("status: starting"), "ready", "", "", `body does not contain "ready"`},
		{"regex", []byte("version 1.2.3"), "", `version \d+\.\d+`, "", ""},
		{"regex fails", []byte("version x"), "", `version \d+`, "", `body does not match "version \\d+"`},
		{"digest", []byte("hello"), "", "", helloMD5, ""},
		{"digest mismatch", []byte("hellO"), "", "", helloMD5, "digest mismatch: got "},
		{"too big for digest", big, "", "", helloMD5, "body larger than 1 MiB, digest not checked"},
		{"too big is cut for contains", append(big[:maxBody:maxBody], 'Z'), "Z", "", "", `body does not contain "Z"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var re *regexp.Regexp
			if tc.re != "" {
				re = regexp.MustCompile(tc.re)
			}
			r, ok := judgeBody(tc.body, tc.contains, re, tc.digest)
			if tc.want == "" {
				if !ok {
					t.Fatalf("failed: %q", r.reason)
				}
				return
			}
			if ok || !strings.HasPrefix(r.reason, tc.want) {
				t.Fatalf("got ok=%v %q, want failure %q", ok, r.reason, tc.want)
			}
		})
	}
}

func TestNormalizeAndKey(t *testing.T) {
	named := newCheck("tcp")
	named.Target = "10.0.0.21:8080"
	svc := newCheck("tcp")
	svcPort := newCheck("tcp")
	svcPort.Port = 9000

	a := normalize(Target{Check: named})
	b := normalize(Target{Check: svc, Address: "10.0.0.21:8080"})
	if a.Address != "10.0.0.21:8080" || keyOf("x", a) != keyOf("y", b) {
		t.Errorf("a named check and a service check of the same address must share a prober:\n%s\n%s", keyOf("x", a), keyOf("y", b))
	}
	c := normalize(Target{Check: svcPort, Address: "10.0.0.21:8080"})
	if c.Address != "10.0.0.21:9000" {
		t.Errorf("port override: address %q, want 10.0.0.21:9000", c.Address)
	}
	v6 := normalize(Target{Check: svcPort, Address: "[fd00::1]:80"})
	if v6.Address != "[fd00::1]:9000" {
		t.Errorf("port override v6: address %q", v6.Address)
	}
	if keyOf("x", c) == keyOf("x", b) {
		t.Error("different ports must not share a prober")
	}
	slow := svc
	slow.Interval = config.Duration(time.Minute)
	if keyOf("x", normalize(Target{Check: slow, Address: "10.0.0.21:8080"})) == keyOf("x", b) {
		t.Error("different settings must not share a prober")
	}

	ex := newCheck("exec")
	ex.Command = config.Command{"pidof", "nginx"}
	if keyOf("a", normalize(Target{Check: ex})) == keyOf("b", normalize(Target{Check: ex})) {
		t.Error("exec checks with different names see different VIGIL_CHECK and must not share a prober")
	}
	if keyOf("a", normalize(Target{Check: ex})) != keyOf("a", normalize(Target{Check: ex})) {
		t.Error("the same exec check watched twice must share a prober")
	}
}

func TestNewProbeRefusesBadChecks(t *testing.T) {
	bad := func(mod func(*config.Check)) Target {
		c := newCheck("http")
		mod(&c)
		return Target{Check: c, Address: "127.0.0.1:1"}
	}
	tests := map[string]Target{
		"no type":       {Check: config.Check{}},
		"unknown type":  bad(func(c *config.Check) { c.Type = "smtp" }),
		"bad regex":     bad(func(c *config.Check) { c.ExpectBodyRegex = "(" }),
		"bad digest":    bad(func(c *config.Check) { c.Digest = "xyz" }),
		"exec, no cmd":  bad(func(c *config.Check) { c.Type = "exec" }),
		"dns bad type":  bad(func(c *config.Check) { c.Type, c.Query, c.QueryType = "dns", "a.test", "ANY" }),
		"dns long name": bad(func(c *config.Check) { c.Type, c.Query = "dns", strings.Repeat("a", 300) }),
	}
	for name, tgt := range tests {
		if _, err := newProbe("x", tgt, Options{}); err == nil {
			t.Errorf("%s: newProbe accepted it", name)
		}
	}
}
