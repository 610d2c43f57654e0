package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"time"
)

// result is what one probe attempt concluded.
type result struct {
	ok     bool
	reason string // human, short: it ends up in logs, events and the status page
}

func pass(reason string) result { return result{ok: true, reason: reason} }
func fail(reason string) result { return result{reason: reason} }

// probeFunc runs one attempt. ctx carries the check's timeout; a probe must
// return promptly once ctx ends and must not keep anything open afterwards.
type probeFunc func(ctx context.Context) result

// newProbe builds the probe for a Target once, so per-probe work is only the
// probe itself (regexps compiled, TLS configured, users looked up up front).
// name is passed to exec checks in VIGIL_CHECK.
func newProbe(name string, t Target, opts Options) (probeFunc, error) {
	timeout := t.Check.Timeout.D()
	switch t.Check.Type {
	case "tcp":
		return tcpProbe(t.Address, timeout), nil
	case "http", "https":
		return httpProbe(t, opts)
	case "exec":
		return execProbe(name, t, opts)
	case "dns":
		return dnsProbe(t, timeout)
	case "udp":
		return udpProbe(t.Address, t.Check.Payload, t.Check.ExpectReply, timeout), nil
	case "":
		return nil, errors.New("check has no type")
	}
	return nil, fmt.Errorf("unknown check type %q", t.Check.Type)
}

// explain turns a network or TLS error into the short reason operators read
// ("connect refused", "timeout after 1s"). The raw Go errors carry the whole
// dial chain ("Get \"http://...\": dial tcp ...: connect: connection refused"),
// which is noise on a status page where the target is already shown.
func explain(err error, timeout time.Duration) string {
	var (
		dnsErr  *net.DNSError
		unkAuth x509.UnknownAuthorityError
		host    x509.HostnameError
		inval   x509.CertificateInvalidError
		verify  *tls.CertificateVerificationError
		record  tls.RecordHeaderError
		netErr  net.Error
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("timeout after %s", timeout)
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connect refused"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to host"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the server"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("resolve %s: %s", dnsErr.Name, dnsErr.Err)
	// x509's messages already read "certificate ...".
	case errors.As(err, &unkAuth):
		return trimX509(unkAuth.Error())
	case errors.As(err, &host):
		return trimX509(host.Error())
	case errors.As(err, &inval):
		return trimX509(inval.Error())
	case errors.As(err, &verify):
		return "certificate: " + trimX509(verify.Err.Error())
	case errors.As(err, &record):
		return "not a TLS server"
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("timeout after %s", timeout)
	}
	return innermost(err).Error()
}

func trimX509(s string) string {
	const p = "x509: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// innermost strips the wrappers that only repeat what the target already
// says (the URL, "dial tcp 1.2.3.4:80"), keeping the part that explains.
func innermost(err error) error {
	for {
		var (
			u  *url.Error
			op *net.OpError
			sc *os.SyscallError
		)
		switch {
		case errors.As(err, &u) && u.Err != nil:
			err = u.Err
		case errors.As(err, &op) && op.Err != nil:
			err = op.Err
		case errors.As(err, &sc) && sc.Err != nil:
			err = sc.Err
		default:
			return err
		}
	}
}

// deadlineOf gives the absolute deadline of ctx for socket calls; probes
// always run with one, the fallback only guards against a caller that forgot.
func deadlineOf(ctx context.Context, timeout time.Duration) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(timeout)
}

// unblockOnCancel makes blocking socket calls return as soon as ctx ends
// (engine shutdown or watch closed), not only at the deadline.
func unblockOnCancel(ctx context.Context, c net.Conn) (stop func() bool) {
	return context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
}
