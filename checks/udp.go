package checks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// udpProbe sends payload to addr (keepalived UDP_CHECK). With expect set it
// is up when a reply containing expect arrives in time. Without, UDP gives
// no positive signal, so it is up unless the peer answers with an ICMP port
// unreachable within the timeout: the probe then always takes the full
// timeout, which is the price of asking a silent protocol.
func udpProbe(addr, payload, expect string, timeout time.Duration) probeFunc {
	var d net.Dialer
	return func(ctx context.Context) result {
		c, err := d.DialContext(ctx, "udp", addr)
		if err != nil {
			return fail(explain(err, timeout))
		}
		defer c.Close()
		defer unblockOnCancel(ctx, c)()
		c.SetDeadline(deadlineOf(ctx, timeout))
		if _, err := c.Write([]byte(payload)); err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				return fail("port unreachable")
			}
			return fail(explain(err, timeout))
		}
		buf := make([]byte, 64<<10)
		mismatch := false
		for {
			n, err := c.Read(buf)
			if err != nil {
				switch {
				case errors.Is(err, syscall.ECONNREFUSED):
					// A connected UDP socket reports the peer's ICMP port
					// unreachable this way.
					return fail("port unreachable")
				case ctx.Err() == context.Canceled:
					return fail("canceled")
				case !isTimeout(err):
					return fail(explain(err, timeout))
				case expect == "":
					return pass(fmt.Sprintf("ok (no port unreachable within %s)", timeout))
				case mismatch:
					return fail(fmt.Sprintf("reply does not contain %q", expect))
				}
				return fail(fmt.Sprintf("no reply within %s", timeout))
			}
			if expect == "" || bytes.Contains(buf[:n], []byte(expect)) {
				return pass("ok (reply)")
			}
			// Keep listening until the deadline: another datagram may still
			// be the real answer.
			mismatch = true
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
