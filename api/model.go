package api

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is what Source.SetBackendAdmin wraps when the service or the
// backend does not exist; the API answers 404 for it.
var ErrNotFound = errors.New("not found")

// Status is a snapshot of the node for operators: what the VRRP instances
// are doing, how each service and backend stands, and what happened lately.
// It is what GET /api/status returns and what `vigil status` prints.
type Status struct {
	// Node is the node's name (config node:).
	Node string `json:"node"`
	// Version is the vigil build version.
	Version string `json:"version"`
	// Config is the path of the config file the daemon runs.
	Config string `json:"config"`
	// ConfigHash is the SHA-256 of the config file's bytes as the daemon
	// loaded them, in hex: the same as sha256sum's, so an operator can
	// tell whether the file on disk (or another node's) is what runs.
	ConfigHash string `json:"config_hash,omitempty"`
	// Started is when the daemon started.
	Started time.Time `json:"started"`
	// MaxOpenFiles is the open-files limit (soft RLIMIT_NOFILE) the daemon
	// runs with, after raising it to the hard limit at start; each proxied
	// connection holds two. 0 when unknown.
	MaxOpenFiles uint64 `json:"max_open_files,omitempty"`
	// LastReload is the outcome of the last reload; nil if none was tried.
	LastReload *Reload `json:"last_reload,omitempty"`
	// Instances are the VRRP instances, in config order.
	Instances []Instance `json:"instances"`
	// LVSSync is the IPVS connection sync daemon vigil runs (lvs.sync);
	// nil when none is configured.
	LVSSync *LVSSync `json:"lvs_sync,omitempty"`
	// Services are the load-balanced services, in config order.
	Services []Service `json:"services"`
	// Recent are the latest events, oldest first.
	Recent []Event `json:"recent"`
}

// ReloadPlan is what reloading the config file would do now, as the
// daemon works it out without changing anything (vigil reload --plan).
type ReloadPlan struct {
	// Config is the config file's path.
	Config string `json:"config"`
	// RunningHash and FileHash are the SHA-256 of the running config and
	// of the file now (FileHash is empty when the file cannot be read).
	RunningHash string `json:"running_hash"`
	FileHash    string `json:"file_hash,omitempty"`
	// Refused says why a reload would be refused, "" when it would apply.
	Refused string `json:"refused,omitempty"`
	// Parts are the parts of the daemon the reload would touch, in the
	// config's order; empty when nothing would change.
	Parts []PlanPart `json:"parts"`
}

// PlanPart is one part of the daemon a reload would touch: a VRRP
// instance, a service, a check, or a top-level section.
type PlanPart struct {
	// Part names it: "vrrp VI_1", "service web", "check web", "api"...
	Part string `json:"part"`
	// Action is what the reload does to it: added, removed, reconfigured
	// in place, replaced (and why), or needs a restart.
	Action string `json:"action"`
	// Changes are the config's differences in it, one per field, secrets
	// hidden.
	Changes []string `json:"changes"`
}

// Reload is the outcome of one reload.
type Reload struct {
	// Time is when the reload was tried.
	Time time.Time `json:"time"`
	// OK says whether the new config was applied.
	OK bool `json:"ok"`
	// Error says why it was refused, when it was.
	Error string `json:"error,omitempty"`
}

// Instance is one VRRP instance as it stands now.
type Instance struct {
	// Name is the instance's config name.
	Name string `json:"name"`
	// Interface is the network interface it runs on.
	Interface string `json:"interface"`
	// VRID is the virtual router id.
	VRID int `json:"vrid"`
	// Version is the VRRP version, 2 or 3.
	Version int `json:"version"`
	// AdvertIntervalMs is the configured advert interval in milliseconds.
	AdvertIntervalMs int64 `json:"advert_interval_ms"`
	// VIPs are the virtual addresses with their prefix length.
	VIPs []string `json:"vips"`
	// State is "init", "backup", "master" or "fault".
	State string `json:"state"`
	// Priority is the effective priority, after tracked weights.
	Priority int `json:"priority"`
	// BasePriority is the configured priority.
	BasePriority int `json:"base_priority"`
	// MasterAddress is the address of the current master, as last heard;
	// "" when unknown.
	MasterAddress string `json:"master_address,omitempty"`
	// Since is when the instance entered State.
	Since time.Time `json:"since"`
	// Reason says why it entered State.
	Reason string `json:"reason,omitempty"`
	// Tracks are the checks and services whose failure moves the priority.
	Tracks []Track `json:"tracks,omitempty"`
	// Problems are what the instance finds wrong with its peers (split
	// brain, config mismatch, a silent peer), with the likely cause.
	Problems []Problem `json:"problems,omitempty"`
	// LastAdvert is when the last accepted advert arrived, and
	// LastAdvertFrom who sent it; absent when none has been heard (a
	// master hears none while it is alone).
	LastAdvert     *time.Time `json:"last_advert,omitempty"`
	LastAdvertFrom string     `json:"last_advert_from,omitempty"`
	// Counters are the instance's packet counters since start.
	Counters *InstanceCounters `json:"counters,omitempty"`
}

// InstanceCounters are a VRRP instance's packet counters.
type InstanceCounters struct {
	// AdvertsSent and AdvertsReceived count adverts sent and accepted.
	AdvertsSent     uint64 `json:"adverts_sent"`
	AdvertsReceived uint64 `json:"adverts_received"`
	// Announcements counts gratuitous ARPs and unsolicited NAs sent.
	Announcements uint64 `json:"announcements"`
	// MasterConflicts counts adverts from another master heard while
	// master.
	MasterConflicts uint64 `json:"master_conflicts"`
	// Dropped counts dropped packets by reason; reasons never seen are
	// left out.
	Dropped map[string]uint64 `json:"dropped,omitempty"`
}

// LVSSync is the state of the IPVS connection sync daemon.
type LVSSync struct {
	// Instance is the VRRP instance whose state picks the role.
	Instance string `json:"instance"`
	// Interface and SyncID are the sync daemon's.
	Interface string `json:"interface"`
	SyncID    int    `json:"sync_id"`
	// Role is the role the instance's state asks for: master or backup.
	Role string `json:"role"`
	// Running says whether the kernel runs the daemon in that role, as
	// of the last reconcile; Error says why not.
	Running bool   `json:"running"`
	Error   string `json:"error,omitempty"`
}

// Problem is one ongoing trouble a VRRP instance sees with a peer.
type Problem struct {
	// Kind is master_conflict, config_mismatch or peer_silent.
	Kind string `json:"kind"`
	// Peer is the address the trouble comes from.
	Peer string `json:"peer"`
	// Cause is the likely cause, in words an operator acts on.
	Cause string `json:"cause"`
	// Since is when it was first seen; LastSeen the latest sign of it.
	Since    time.Time `json:"since"`
	LastSeen time.Time `json:"last_seen"`
}

// Track is one tracked target of a VRRP instance.
type Track struct {
	// Name names the tracked check, service or interface.
	Name string `json:"name"`
	// Weight is added to the priority while the target is failing.
	Weight int `json:"weight"`
	// Failing says whether the target is failing now.
	Failing bool `json:"failing"`
}

// Service is one load-balanced service (a VIP:port) as it stands now.
type Service struct {
	// Name is the service's config name.
	Name string `json:"name"`
	// Mode is "proxy" or "lvs".
	Mode string `json:"mode"`
	// Protocol is "tcp", "udp" or "http".
	Protocol string `json:"protocol"`
	// Listen is the VIP:port (or "fwmark N") the service answers on.
	Listen string `json:"listen"`
	// Up says whether the service can serve: it has a usable backend.
	Up bool `json:"up"`
	// Reason says why the service is down, when it is.
	Reason string `json:"reason,omitempty"`
	// Active is the number of open connections.
	Active int `json:"active"`
	// Total is the number of connections since start.
	Total uint64 `json:"total"`
	// BytesIn counts bytes received from clients.
	BytesIn uint64 `json:"bytes_in"`
	// BytesOut counts bytes sent to clients.
	BytesOut uint64 `json:"bytes_out"`
	// Backends are the service's backends, in config order.
	Backends []Backend `json:"backends"`
}

// Admin states of a backend, as set by an operator.
const (
	// AdminNone is a backend in service.
	AdminNone = ""
	// AdminDrain is a backend that takes no new connections but keeps its
	// open ones.
	AdminDrain = "drain"
	// AdminMaint is a backend out of service: no new connections, and
	// checks do not bring it back.
	AdminMaint = "maint"
)

// Backend is one backend of a service as it stands now.
type Backend struct {
	// Address is the backend's host:port.
	Address string `json:"address"`
	// Group names the route group (L7) the backend belongs to; "" for the
	// service's default backends.
	Group string `json:"group,omitempty"`
	// Up says whether its health check passes.
	Up bool `json:"up"`
	// Reason says why it is down, when it is.
	Reason string `json:"reason,omitempty"`
	// Admin is AdminNone, AdminDrain or AdminMaint.
	Admin string `json:"admin,omitempty"`
	// Weight is the configured weight.
	Weight int `json:"weight"`
	// EffectiveWeight is the weight in use: 0 while down, drained or in
	// maintenance.
	EffectiveWeight int `json:"effective_weight"`
	// Active is the number of open connections to it.
	Active int `json:"active"`
	// Total is the number of connections to it since start.
	Total uint64 `json:"total"`
}

// Event kinds.
const (
	// KindVRRP is a VRRP state change; Subject is the instance.
	KindVRRP = "vrrp"
	// KindBackend is a backend going up or down or changing admin state;
	// Subject is "service/address".
	KindBackend = "backend"
	// KindService is a service going up or down; Subject is the service.
	KindService = "service"
	// KindReload is a reload; Subject is the config file.
	KindReload = "reload"
)

// Event is one change worth telling an operator about.
type Event struct {
	// Time is when it happened.
	Time time.Time `json:"time"`
	// Kind is KindVRRP, KindBackend, KindService or KindReload.
	Kind string `json:"kind"`
	// Subject names what changed.
	Subject string `json:"subject"`
	// From is the state before.
	From string `json:"from,omitempty"`
	// To is the state after.
	To string `json:"to,omitempty"`
	// Reason says why.
	Reason string `json:"reason,omitempty"`
}

// Backend admin actions, the last element of
// POST /api/backends/{service}/{address}/{action}.
const (
	// ActionEnable puts a backend back in service.
	ActionEnable = "enable"
	// ActionDrain stops new connections to a backend, keeping open ones.
	ActionDrain = "drain"
	// ActionMaint takes a backend out of service.
	ActionMaint = "maint"
)

// Source is what the daemon provides to the API: snapshots, a subscription
// to events, and the admin actions. The API only reads and forwards; the
// daemon owns the state.
type Source interface {
	// Status returns a snapshot of the node. It must be safe to call from
	// many goroutines.
	Status() Status
	// Events subscribes to events from now on. cancel ends the
	// subscription and is called exactly once; the Source may close ch when
	// it stops. A slow subscriber should miss events rather than block the
	// daemon.
	Events() (ch <-chan Event, cancel func())
	// Reload reloads the config file. An error means the new config was
	// refused and the running one kept; its text is shown to the operator.
	Reload(ctx context.Context) error
	// PlanReload works out what a reload of the config file would change
	// now, changing nothing. A config that would be refused is no error:
	// the plan says why in Refused.
	PlanReload(ctx context.Context) (ReloadPlan, error)
	// SetBackendAdmin sets the admin state of a backend; state is
	// ActionEnable, ActionDrain or ActionMaint. An error wrapping
	// ErrNotFound means no such service or backend.
	SetBackendAdmin(service, address, state string) error
}
