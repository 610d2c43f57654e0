// Package checks is vigil's health-check engine: the one place that probes
// backends and named checks, shared by every consumer (proxy pools, the IPVS
// reconciler, VRRP priority tracking).
//
// A consumer asks the Engine to Watch a Target and reads up/down transitions
// from the returned Watch. Identical Targets share one prober however many
// consumers watch them, so a backend tracked by the proxy, by IPVS and by a
// VRRP instance is probed once per interval, not three times, and all three
// agree on its state at every moment.
//
// The package is split the usual vigil way: the rise/fall decision is a pure
// value (riseFall) tested with tables; the probes (tcp, http, https, exec,
// dns, udp) are small functions that turn one attempt into a result and a
// human reason; the Engine only schedules them and fans results out.
//
// Backups run the engine too, so a node that becomes master already knows
// which backends are healthy.
package checks
