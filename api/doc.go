// Package api is vigil's operator-facing interface: the HTTP status API,
// the live event stream and web page, /metrics, and the admin actions
// (reload, drain/enable/maint a backend), served over TCP (api.listen) and
// over a unix socket for the CLI, plus the client the CLI uses.
//
// It is a package of its own, kept out of daemon, so that the daemon only
// provides data and actions through the Source interface: the routes, the
// authorisation rules (token over TCP, file permissions on the socket), the
// page and the JSON shapes live here, are tested with a fake Source, and
// can change without touching the parts that run the node.
package api
