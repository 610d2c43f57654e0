// Package proxy is vigil's proxy for services with mode: proxy: protocol
// tcp or udp with HAProxy's "mode tcp" semantics, and protocol http with
// its "mode http" semantics. The daemon makes one Service per configured
// service, runs it, feeds it health-check verdicts with SetBackendUp, and
// lets VRRP track its Health.
//
// What a Service does:
//
//   - Listens with IP_FREEBIND, so a backup node is already listening on
//     the VIP when VRRP moves the address to it.
//   - Picks a backend per connection (tcp) or per client address (udp) with
//     the pure policies of package balance, over the backends that are up,
//     with slowstart ramping recovered ones; backups serve only while no
//     primary is up.
//   - Enforces max_conn per backend with a bounded FIFO queue (timeout
//     queue) and per service by not accepting (backpressure, not
//     accept-and-close).
//   - Retries a failed connect on other backends (retries + redispatch).
//   - Accepts and sends the PROXY protocol (package proxyproto).
//   - Relays both directions with half-close and client/server inactivity
//     timeouts. Small messages move with read/write through pooled buffers
//     held only while data is in flight; bursts switch to splice(2). The
//     measurements behind that choice are in copy.go.
//   - Moves the bytes of established connections on a Relay's epoll event
//     loops (relay.go). The daemon runs one dedicated relay for all its
//     services, one loop per core, each blocking in epoll_wait on its own
//     thread as HAProxy's threads do; a Service run on its own starts
//     loops that wait through Go's netpoller instead.
//   - Relays UDP through one connected socket per client, replying from the
//     listener socket (the VIP), and expires idle sessions.
//   - On stop, closes the listener and lets established connections finish
//     for a drain period.
//
// Protocol http: one engine, thin drivers. Every rule is package
// httpcore's (parsing that refuses ambiguous messages, re-framed chunked
// bodies, head rewriting, routing and balance keys, keep-alive, retry and
// replay, the canned answers, the exchange record); the drivers move
// bytes and call it, and book every request once (httpservice.go):
//
//   - HTTP/1.1 runs on the relay's event loops (httploop.go): no
//     goroutine and no epoll_ctl per request. TLS is on the loops too
//     (httptlsloop.go): the handshake runs on a goroutine, then the
//     connection's records are read and written by crypto/tls over a
//     non-blocking transport on its loop. A PROXY header is read before
//     the hand-over. Upgrades, Expect, chunked request bodies and
//     requests that must queue are handed to the goroutine path before
//     any byte of them has left; a new backend connection comes from a
//     goroutine running the same connect code.
//   - The goroutine path (httpconn.go, httpforward.go) serves what a loop
//     hands over, and everything when the service runs without a relay
//     (or is told to): one goroutine per client connection, heads read
//     from a pooled reader, bodies streamed without being held whole.
//   - HTTP/2 (h2 by ALPN, h2c by prior knowledge) runs on the event
//     loops too (httph2loop.go), on vigil's own connection state machine,
//     package h2 (x/net/http2's Framer and hpack do the framing); each
//     stream's request is written as an HTTP/1.1 head that httpcore
//     parses like any other. Only where no loop is to be had does the
//     goroutine path serve HTTP/2, through golang.org/x/net/http2's
//     server (httph2.go).
//   - Backends' idle keep-alive connections live in one pool per backend
//     (idlepool.go), whichever path returned them, each checked for
//     stray bytes or EOF before it is reused.
//   - A backend slot (max_conn, queue, balance) is held per request.
//     Routes match Host and path prefix in order, each with its own
//     backend group; SetBackendUp reaches every group with the address.
//     Sticky cookies, X-Forwarded-*, 502/503/504 with short bodies naming
//     the service, WebSocket upgrades become TCP tunnels.
//   - PROXY headers are accepted (proxy_protocol.accept) but not sent:
//     backend connections are shared between clients.
//   - Health and quorum count the service's own backends, not the routes'.
//
// Health is the node's own view of the service (listener bound and a quorum
// of backends up, with hysteresis): the VRRP instance owning the VIP tracks
// it, so a node that cannot serve hands the VIP to a peer.
package proxy
