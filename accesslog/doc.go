// Package accesslog formats the proxy's access log lines and ships them
// off the event loops. Logging one line per request is a job of its own:
// the proxy knows what happened but must not spend its loop threads on
// disks, pipes and syslog daemons, and the daemon owns the targets (opened
// on start, reopened on SIGUSR1 for logrotate) but knows nothing of
// requests. Neither is its home, so it lives here.
//
// Three formats, chosen per target:
//
//   - HAProxy: the line of HAProxy's "option httplog" (or "option tcplog"
//     for TCP connections), so halog and the pipelines built for HAProxy
//     read vigil's logs unchanged.
//   - JSON: one object per line, for log shippers.
//   - Combined: nginx's combined line (nginx stream's "basic" line for
//     TCP connections), for the tools built around nginx.
//
// The design puts the event loop first. Logger.Log formats into a pooled
// buffer and copies the line into its Sink's pending buffer under a short
// mutex: no system call, no allocation once warm, no waiting. One writer
// goroutine per Sink wakes when the pending buffer stops being empty, lets
// lines gather for a few milliseconds (less if they fill half the buffer)
// and writes them in one call (one datagram per line for syslog). A slow disk or a stuck pipe therefore
// costs log lines, never requests: when the pending buffer is full a line
// is dropped and counted, and the drops are told through log/slog at once
// and then at most once a minute, with how many were lost since.
package accesslog
