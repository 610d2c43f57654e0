// Package httpcore is vigil's HTTP engine without its I/O: what every path
// that serves HTTP (the cleartext event loops, the goroutine path that
// serves TLS and whatever a loop hands over, HTTP/2) must decide alike.
// It parses message heads in place and refuses what is ambiguous, frames
// bodies (chunked bodies are re-framed, never forwarded as received),
// rewrites heads for the next hop, routes and picks balance keys, says
// when a request may be retried or replayed, keeps the canned answers,
// and describes each exchange in the record that the proxy books into its
// counters, metrics and access log.
//
// It is a package of its own so that the rules live in one place that
// opens no socket and reads no clock: the drivers in package proxy move
// bytes and call it, and it is tested here, table by table and by fuzzing
// against a strict reference parser, without a network.
//
// Strictness follows RFC 9110 and RFC 9112 and what HAProxy refuses
// (src/h1.c): a request whose framing or target could be read two ways is
// refused with 400, never forwarded for a backend to guess; a response
// that could be is answered with 502.
package httpcore
