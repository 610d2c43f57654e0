// Package lvs programs kernel IPVS for services with mode: lvs, the job of
// keepalived's virtual_server blocks.
//
// The core is pure: Desired turns the config and the backends' health into
// the services and real servers vigil wants (down real servers removed, or
// kept at weight 0 with inhibit_on_failure; the sorry server while no real
// server can take traffic), Diff compares that with what the kernel has and
// returns the ops between them, and Quorate moves a service's quorum state
// with hysteresis. Diff touches only services vigil declares (or declared
// before a reload); anything else in the table is someone else's and is
// left alone.
//
// The edge is thin: Read and Apply talk to the IPVS interface, which
// *ipvs.Handle from github.com/moby/ipvs implements, and Open refuses a
// kernel without IPVS, where moby/ipvs would silently drop every write. A
// Manager re-runs the loop on every change and on a slow timer, so a
// flushed or hand-edited table is repaired, reads the table back after
// each write, and reports each service's health for VRRP tracking.
//
// Connection synchronisation (keepalived's lvs_sync_daemon) is the
// kernel's own sync daemon: StartSyncDaemon, StopSyncDaemon and
// SyncDaemons drive it over generic netlink, and ReconcileSync keeps the
// one role VRRP asks for (master on the node holding the VIP, backup
// elsewhere), so a backup already has the master's connections when the
// VIP moves to it.
package lvs
