package checks

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"vigil/config"
)

// maxBody bounds what an http check reads: enough for any health page, small
// enough that a backend streaming a huge file cannot make checks costly.
const maxBody = 1 << 20

// httpProbe checks an HTTP(S) endpoint the way HAProxy's httpchk + http-check
// expect and keepalived's HTTP_GET/SSL_GET do: status in the accepted ranges,
// then optional body substring, regexp and MD5 digest.
func httpProbe(t Target, opts Options) (probeFunc, error) {
	c := t.Check
	timeout := c.Timeout.D()
	scheme := "http"
	if c.Type == "https" {
		scheme = "https"
	}
	u, err := url.Parse(scheme + "://" + t.Address + c.Path)
	if err != nil {
		return nil, fmt.Errorf("build URL from address %q and path %q: %w", t.Address, c.Path, err)
	}
	method := c.Method
	if method == "" {
		method = http.MethodGet
	}
	expect := c.ExpectStatus
	if len(expect) == 0 {
		expect = []config.StatusRange{{Min: 200, Max: 399}}
	}
	var re *regexp.Regexp
	if c.ExpectBodyRegex != "" {
		if re, err = regexp.Compile(c.ExpectBodyRegex); err != nil {
			return nil, fmt.Errorf("expect_body_regex: %w", err)
		}
	}
	digest := strings.ToLower(c.Digest)
	if digest != "" {
		if b, err := hex.DecodeString(digest); err != nil || len(b) != md5.Size {
			return nil, fmt.Errorf("digest %q is not an MD5 sum in hex", c.Digest)
		}
	}
	needBody := c.ExpectBody != "" || re != nil || digest != ""

	var d net.Dialer
	tr := &http.Transport{
		// Never through a proxy from the environment: the check must reach
		// the backend itself.
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialNoLinger(ctx, &d, network, addr)
		},
		TLSClientConfig: &tls.Config{
			ServerName:         serverName(c, t.Address),
			InsecureSkipVerify: !c.TLSVerify,
			RootCAs:            opts.RootCAs,
		},
		// One connection per probe: a reused connection would hide a
		// backend that stopped accepting new ones, which is what clients see.
		DisableKeepAlives: true,
		// Bodies and digests are judged as the server sent them, as
		// keepalived's genhash computes digests on the raw body.
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	client := &http.Client{
		Transport: tr,
		// A redirect is an answer (3xx is accepted by default, as HAProxy
		// does), not an instruction to probe somewhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	return func(ctx context.Context) result {
		req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
		if err != nil {
			return fail(err.Error())
		}
		if c.Host != "" {
			req.Host = c.Host
		}
		req.Header.Set("User-Agent", "vigil-check")
		req.Close = true
		resp, err := client.Do(req)
		if err != nil {
			return fail(explain(err, timeout))
		}
		defer resp.Body.Close()
		if !statusOK(expect, resp.StatusCode) {
			return fail(fmt.Sprintf("status %d", resp.StatusCode))
		}
		if needBody {
			body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
			if err != nil {
				return fail("read body: " + explain(err, timeout))
			}
			if r, ok := judgeBody(body, c.ExpectBody, re, digest); !ok {
				return r
			}
		}
		return pass(fmt.Sprintf("ok (status %d)", resp.StatusCode))
	}, nil
}

// judgeBody applies the body expectations to at most maxBody+1 bytes read.
func judgeBody(body []byte, contains string, re *regexp.Regexp, digest string) (result, bool) {
	if len(body) > maxBody {
		if digest != "" {
			return fail("body larger than 1 MiB, digest not checked"), false
		}
		body = body[:maxBody]
	}
	if contains != "" && !bytes.Contains(body, []byte(contains)) {
		return fail(fmt.Sprintf("body does not contain %q", contains)), false
	}
	if re != nil && !re.Match(body) {
		return fail(fmt.Sprintf("body does not match %q", re.String())), false
	}
	if digest != "" {
		sum := md5.Sum(body)
		if got := hex.EncodeToString(sum[:]); got != digest {
			return fail("digest mismatch: got " + got), false
		}
	}
	return result{}, true
}

func statusOK(ranges []config.StatusRange, code int) bool {
	for _, r := range ranges {
		if r.Contains(code) {
			return true
		}
	}
	return false
}

// serverName picks the TLS server name: the explicit SNI, else the Host
// header (name-based virtual hosts serve the certificate for that name),
// else the host part of the address; an IP there means no SNI is sent and
// verification checks the certificate's IP SANs.
func serverName(c config.Check, addr string) string {
	if c.SNI != "" {
		return c.SNI
	}
	if c.Host != "" {
		if h, _, err := net.SplitHostPort(c.Host); err == nil {
			return h
		}
		return c.Host
	}
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
