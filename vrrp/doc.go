// Package vrrp implements VRRP v2/v3: a pure packet codec, a pure state
// machine, and the runner that owns sockets, timers and VIPs.
package vrrp
