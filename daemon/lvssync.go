package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"vigil/api"
	"vigil/config"
	"vigil/lvs"
	"vigil/vrrp"
)

// lvsSyncResync is how often the sync daemon's role is checked and
// repaired between transitions: a failed switch is retried, and a daemon
// stopped by hand (ipvsadm --stop-daemon) comes back.
const lvsSyncResync = 5 * time.Second

// checkLVSSync refuses lvs.sync on a kernel without IPVS (or without the
// rights to ask it), at start and on reload, rather than logging a failed
// switch on every transition.
func checkLVSSync(cfg *config.Config) error {
	if cfg.LVS.Sync == nil {
		return nil
	}
	if _, err := lvs.SyncDaemons(); err != nil {
		return fmt.Errorf("%s: lvs.sync: %w", cfg.File, err)
	}
	return nil
}

// lvsSyncer keeps the kernel's IPVS connection sync daemon in the role
// the state of the lvs.sync instance asks for, as keepalived's
// lvs_sync_daemon does: master while the instance is MASTER, backup
// otherwise (BACKUP, FAULT, and INIT while starting), so the node that
// takes the VIP already has the connections. Transitions only record the
// wanted role and wake the loop: a netlink call never holds up VRRP.
// When the daemon stops, the sync daemons stop too, like keepalived: the
// peer taking over runs its own master, and a daemon left behind would be
// one vigil no longer answers for.
type lvsSyncer struct {
	log    *slog.Logger
	kernel lvs.SyncKernel
	resync time.Duration
	wake   chan struct{} // coalescing: the wanted daemon changed

	mu    sync.Mutex
	cfg   config.LVSSync
	in    *vrrp.Instance // cfg.Instance, nil if not (yet) known
	state vrrp.State     // its state, as last reported or read
	// running and lastErr are the last reconcile's outcome, for the
	// status: whether the kernel runs the daemon the state asks for.
	running bool
	lastErr string

	stop func() // the part's, set by startLVSSync
}

func newLVSSyncer(log *slog.Logger, kernel lvs.SyncKernel, cfg config.LVSSync, in *vrrp.Instance) *lvsSyncer {
	s := &lvsSyncer{log: log, kernel: kernel, resync: lvsSyncResync, wake: make(chan struct{}, 1)}
	s.reconfigure(cfg, in)
	return s
}

// observe takes an instance's transition; those of other instances are
// ignored. It is called from the instance's own goroutine.
func (s *lvsSyncer) observe(instance string, to vrrp.State) {
	s.mu.Lock()
	mine := instance == s.cfg.Instance
	if mine {
		s.state = to
	}
	s.mu.Unlock()
	if mine {
		s.kick()
	}
}

// reconfigure takes a reloaded lvs.sync and its (maybe other) instance;
// a changed interface or sync id restarts the daemon.
func (s *lvsSyncer) reconfigure(cfg config.LVSSync, in *vrrp.Instance) {
	s.mu.Lock()
	s.cfg, s.in, s.state = cfg, in, vrrp.Initialize
	s.mu.Unlock()
	s.refresh()
	s.kick()
}

// refresh reads the instance's state, which a transition reported while
// the hooks were being rewired (a reload) would otherwise miss.
func (s *lvsSyncer) refresh() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.in != nil {
		s.state = s.in.Status().State
	}
}

func (s *lvsSyncer) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// want is the daemon the current state asks for.
func (s *lvsSyncer) want() lvs.SyncDaemon {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wantLocked()
}

// wantLocked is want with s.mu held.
func (s *lvsSyncer) wantLocked() lvs.SyncDaemon {
	role := lvs.SyncBackup
	if s.state == vrrp.Master {
		role = lvs.SyncMaster
	}
	return lvs.SyncDaemon{Role: role, Interface: s.cfg.Interface, ID: uint8(s.cfg.ID)}
}

// run reconciles on every wake and tick until ctx ends, then stops the
// sync daemons. It returns no error: a failed switch is logged, with the
// role and interface, and retried.
func (s *lvsSyncer) run(ctx context.Context) error {
	tick := time.NewTicker(s.resync)
	defer tick.Stop()
	var have *lvs.SyncDaemon // what the last successful reconcile left running
	var lastErr string
	for {
		want := s.want()
		if err := lvs.ReconcileSync(s.kernel, &want); err != nil {
			if err.Error() != lastErr {
				s.log.Error("lvs sync: cannot run the sync daemon, retrying", "role", want.Role.String(), "interface", want.Interface, "syncid", want.ID, "err", err)
			}
			lastErr, have = err.Error(), nil
		} else if have == nil || *have != want {
			s.log.Info("lvs sync: sync daemon running", "role", want.Role.String(), "interface", want.Interface, "syncid", want.ID, "instance", s.instance())
			lastErr, have = "", &want
		}
		s.mu.Lock()
		s.running, s.lastErr = have != nil && *have == s.wantLocked(), lastErr
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			if err := lvs.ReconcileSync(s.kernel, nil); err != nil {
				s.log.Error("lvs sync: cannot stop the sync daemons", "err", err)
			} else {
				s.log.Info("lvs sync: sync daemons stopped")
			}
			return nil
		case <-s.wake:
		case <-tick.C:
			s.refresh()
		}
	}
}

// status is what the status API says of the sync daemon.
func (s *lvsSyncer) status() api.LVSSync {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.wantLocked()
	role := "backup"
	if w.Role == lvs.SyncMaster {
		role = "master"
	}
	return api.LVSSync{Instance: s.cfg.Instance, Interface: w.Interface, SyncID: int(w.ID), Role: role, Running: s.running, Error: s.lastErr}
}

func (s *lvsSyncer) instance() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Instance
}

// applyLVSSync starts, reconfigures or stops the syncer for cfg's
// lvs.sync, before the wiring that feeds it transitions is built. The
// instance's current state picks the first role: INIT (backup) for an
// instance not running yet. d.mu is held, and d.byName is cfg's.
func (d *Daemon) applyLVSSync(rt *runState, cfg *config.Config) {
	sc := cfg.LVS.Sync
	switch {
	case sc == nil && rt.lvsSync != nil:
		rt.lvsSync.stop()
		rt.lvsSync = nil
	case sc == nil:
	case rt.lvsSync == nil:
		s := newLVSSyncer(d.log, lvs.KernelSync{}, *sc, d.byName[sc.Instance])
		s.stop = rt.start("lvs sync", false, s.run) // run never fails: it logs and retries
		rt.lvsSync = s
	default:
		rt.lvsSync.reconfigure(*sc, d.byName[sc.Instance])
	}
}
