package vrrp

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrRestartNeeded says a configuration change cannot be applied to a
// running instance: it changes what the instance is on the wire (its
// interface, VRID, version, address family, advert source, or multicast
// versus unicast). The daemon replaces such an instance instead.
var ErrRestartNeeded = errors.New("the change needs the instance restarted")

// Reconfigure applies cfg to a running instance in place, without a state
// change of its own: base priority, preemption and its delay, advert
// interval, unicast peers, authentication, VIPs, GARP schedule and
// reconcile interval. A master adds new VIPs at once (and announces
// them) and drops removed ones; a new priority takes part in elections
// from the next advert, exactly as a track changing it would. It waits
// until the change is applied, and returns ErrRestartNeeded, changing
// nothing, for what cannot change in place.
func (in *Instance) Reconfigure(cfg InstanceConfig) error {
	if err := in.CanReconfigure(cfg); err != nil {
		return err
	}
	if cfg.Reconcile == 0 {
		cfg.Reconcile = 5 * time.Second
	}
	if cfg.GARP.Repeat < 1 {
		cfg.GARP.Repeat = 1
	}
	applied := make(chan struct{})
	in.post(func() {
		defer close(applied)
		in.reconfigure(cfg)
	})
	select {
	case <-applied:
		return nil
	case <-in.done:
		return fmt.Errorf("vrrp %s: reconfigure: instance stopped", in.name)
	}
}

// CanReconfigure reports whether Reconfigure could apply cfg in place
// (nil), or why not (wrapping ErrRestartNeeded). It compares the parts of
// the config that fix the instance's identity on the wire, which never
// change, so it is safe from any goroutine.
func (in *Instance) CanReconfigure(cfg InstanceConfig) error {
	old := in.wireIdentity
	why := ""
	switch {
	case cfg.Name != in.name:
		why = "name"
	case cfg.Interface != old.Interface:
		why = "interface"
	case cfg.VRID != old.VRID:
		why = "virtual router id"
	case cfg.Version != old.Version:
		why = "version"
	case len(cfg.VIPs) == 0 || cfg.VIPs[0].Prefix.Addr().Is6() != in.v6:
		why = "address family"
	case cfg.UnicastSource != old.UnicastSource:
		why = "unicast source"
	case (len(cfg.UnicastPeers) == 0) != (len(old.UnicastPeers) == 0):
		why = "multicast/unicast"
	default:
		return nil
	}
	return fmt.Errorf("vrrp %s: %s changed: %w", in.name, why, ErrRestartNeeded)
}

// reconfigure runs on the instance goroutine.
func (in *Instance) reconfigure(cfg InstanceConfig) {
	old := in.cfg
	in.cfg = cfg
	if in.machine == nil {
		return // not started: Run reads the new config
	}
	var changed []string
	if !slices.Equal(old.VIPs, cfg.VIPs) {
		changed = append(changed, "vips")
		in.replaceVIPs(old.VIPs, cfg.VIPs)
	}
	if old.AdvertInterval != cfg.AdvertInterval || old.Preempt != cfg.Preempt || old.PreemptDelay != cfg.PreemptDelay {
		changed = append(changed, "timers")
		in.apply(in.machine.Retune(cfg.AdvertInterval, cfg.Preempt, cfg.PreemptDelay))
	}
	if old.Reconcile != cfg.Reconcile && in.reconcileTick != nil {
		in.reconcileTick.Reset(cfg.Reconcile)
	}
	if old.GARP.Refresh != cfg.GARP.Refresh && in.refresh != nil {
		in.refresh.Stop()
		in.refresh = nil
		if cfg.GARP.Refresh > 0 {
			in.refresh = time.NewTicker(cfg.GARP.Refresh)
		}
	}
	if old.Priority != cfg.Priority {
		changed = append(changed, "priority")
	}
	if !slices.Equal(old.UnicastPeers, cfg.UnicastPeers) || old.AuthPass != cfg.AuthPass {
		changed = append(changed, "peers/auth")
	}
	in.log.Info("reconfigured", "changed", changed)
	// The base priority takes effect the way a track's change does.
	in.recomputePriority()
	in.publish("") // the status shows the new VIPs and interval
}

// replaceVIPs moves the instance to a new VIP list: removed addresses
// leave the interface, and a master (or an instance holding adopted VIPs)
// adds the new ones and announces them.
func (in *Instance) replaceVIPs(old, vips []VIP) {
	var gone []VIP
	for _, v := range old {
		if !slices.Contains(vips, v) {
			gone = append(gone, v)
		}
	}
	if len(gone) > 0 {
		drop := &VIPSet{vips: gone, nl: in.vips.nl}
		if n, err := drop.Remove(); err != nil {
			in.log.Error("removing dropped VIPs failed", "err", err)
		} else if n > 0 {
			in.log.Info("VIPs removed from the config taken off", "count", n)
		}
	}
	in.vips.vips = vips
	if in.machine.State() == Master || in.adopted || in.holdVIPs {
		if n, err := in.vips.Add(); err != nil {
			in.log.Error("adding VIPs failed", "err", err)
		} else if n > 0 {
			in.log.Info("VIPs new in the config added", "count", n)
			if in.machine.State() == Master {
				in.announce(in.cfg.GARP.Repeat, in.cfg.GARP.Delay)
			}
		}
	}
}

// RetainTracks forgets every track whose name is not in keep (a reload
// removed it from the config) and recomputes the priority. Tracks that
// stay keep their state.
func (in *Instance) RetainTracks(keep []string) {
	in.post(func() {
		kept := in.trackKeys[:0]
		dropped := false
		for _, k := range in.trackKeys {
			if slices.Contains(keep, k) {
				kept = append(kept, k)
				continue
			}
			delete(in.tracks, k)
			dropped = true
			in.log.Info("track removed", "track", k)
		}
		in.trackKeys = kept
		if dropped {
			in.recomputePriority()
		}
	})
}
