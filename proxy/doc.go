// Package proxy will be vigil's own L4 (TCP/UDP) and L7 (HTTP/1.1, HTTP/2,
// TLS) proxy for services with mode: proxy, with pure balancers (round
// robin, least connections, source and URI hashing, random of two) gated by
// the checks engine. Until it exists, `vigil run` refuses configs that
// declare services rather than run half of them.
package proxy
