// Package proxy is vigil's L4 proxy for services with mode: proxy and
// protocol tcp or udp, with HAProxy's "mode tcp" semantics. The daemon makes
// one Service per configured service, runs it, feeds it health-check
// verdicts with SetBackendUp, and lets VRRP track its Health. Protocol http
// (L7) is served elsewhere; NewService refuses it.
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
//   - Relays UDP through one connected socket per client, replying from the
//     listener socket (the VIP), and expires idle sessions.
//   - On stop, closes the listener and lets established connections finish
//     for a drain period.
//
// Health is the node's own view of the service (listener bound and a quorum
// of backends up, with hysteresis): the VRRP instance owning the VIP tracks
// it, so a node that cannot serve hands the VIP to a peer.
package proxy
