package daemon

import (
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// sdNotify tells systemd about the daemon's state (sd_notify(3)) when it
// runs as a Type=notify service: READY=1 once every part is started,
// RELOADING=1 while a reload runs, STOPPING=1 on the way down. Outside
// systemd (no NOTIFY_SOCKET) it does nothing. Failures are returned for
// the log only: systemd's view is never a reason to stop serving.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// reloadingState is RELOADING=1 with the monotonic timestamp that
// Type=notify-reload requires (systemd 253 and later).
func reloadingState() string {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/int64(time.Microsecond))
}
