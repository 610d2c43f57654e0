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
// Protocol http (httploop.go, http.go, httphead.go, httpbody.go, httptls.go):
//
//   - Cleartext HTTP/1.1 runs on the relay's event loops (httploop.go):
//     no goroutine and no epoll_ctl per request, idle backend connections
//     per loop (taken from another loop before dialing; shared between
//     loops for backends with max_conn), new ones from a goroutine running
//     the same connect code as below. Upgrades, Expect, chunked request
//     bodies and requests that must queue are handed to the goroutine path
//     before any byte of them has left; the answers are the same.
//   - The goroutine path, not net/http: one goroutine per client
//     connection parses request heads in place from a pooled reader (431
//     for heads over 32 KiB or lines over 8 KiB, 400 for anything RFC 9112
//     forbids, 408 when timeout http_request runs out), rewrites the
//     hop-by-hop fields, and forwards over keep-alive connections from a
//     per-backend idle pool (at most 512, closed after 4 s idle or when the
//     backend goes down). Bodies (Content-Length or chunked, trailers
//     included) stream through without being held whole. Keep-alive,
//     pipelining and HTTP/1.0 clients work; no allocation per request.
//   - A backend slot (max_conn, queue, balance) is held per request. Balance
//     uri hashes the path, source the client address. Routes match Host
//     (exact or *.suffix) and path prefix in order, each with its own
//     backend group; SetBackendUp reaches every group with the address.
//   - Sticky cookies (insert), X-Forwarded-For/-Proto/-Host, 502/503/504
//     with short bodies naming the service, retries of idempotent requests
//     on connect failure, and a replay on a fresh connection when a reused
//     one turns out closed before anything but the head was sent.
//   - Upgrade (WebSocket): on 101 the connection becomes a TCP tunnel.
//   - TLS termination with SNI certificate selection, and HTTP/2 (h2 by
//     ALPN, h2c by prior knowledge) through golang.org/x/net/http2, whose
//     handler forwards as HTTP/1.1 over the same pools.
//   - PROXY headers are accepted (proxy_protocol.accept) but not sent:
//     backend connections are shared between clients.
//   - Health and quorum count the service's own backends, not the routes'.
//
// Health is the node's own view of the service (listener bound and a quorum
// of backends up, with hysteresis): the VRRP instance owning the VIP tracks
// it, so a node that cannot serve hands the VIP to a peer.
package proxy
