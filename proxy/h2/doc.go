// Package h2 is the server side of an HTTP/2 connection (RFC 9113, with
// HPACK from RFC 7541) as a state machine without I/O: bytes read from the
// client go in through Feed, frames for the client come out of Output, and
// requests reach a Handler as events on stream ids.
//
// It is a package of its own for the reason proxy/httpcore is one for
// HTTP/1: the connection's rules (stream states, flow control, SETTINGS,
// header validation) live in one place that opens no socket, starts no
// goroutine and reads no clock. That makes it testable frame by frame and
// by fuzzing without a network, and lets the single-threaded epoll event
// loops drive it exactly as they drive HTTP/1 connections, mapping each
// stream onto an HTTP/1.1 backend request.
//
// Framing and header compression are golang.org/x/net/http2's Framer and
// golang.org/x/net/http2/hpack; this package decides what the frames mean.
// A Conn is not safe for concurrent use: one goroutine (an event loop)
// owns it, and Handler callbacks run inside Feed on that goroutine, where
// they may call the Conn's Write methods.
//
// What stays with the caller: cookie fields arrive as the client sent
// them (RFC 9113 §8.2.3 crumbs are joined by whoever builds the HTTP/1.1
// request); PRIORITY is parsed and checked but not used for scheduling;
// rate limits on streams a client opens and resets are the driver's.
package h2
