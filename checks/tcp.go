package checks

import (
	"context"
	"net"
	"time"
)

// tcpProbe is up when a TCP connection to addr is established in time
// (keepalived TCP_CHECK, HAProxy's plain "check").
func tcpProbe(addr string, timeout time.Duration) probeFunc {
	var d net.Dialer
	return func(ctx context.Context) result {
		c, err := dialNoLinger(ctx, &d, "tcp", addr)
		if err != nil {
			return fail(explain(err, timeout))
		}
		c.Close()
		return pass("ok (connected)")
	}
}

// dialNoLinger connects and sets SO_LINGER 0, so closing sends RST instead of
// leaving the socket in TIME_WAIT. A thousand targets probed every two
// seconds would otherwise park tens of thousands of sockets in TIME_WAIT and
// eat the ephemeral port range; HAProxy aborts its check connections the
// same way.
func dialNoLinger(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	return c, nil
}
