package lvs

import (
	"errors"
	"fmt"
)

// SyncKernel is the kernel's sync daemon control, as the functions of
// syncdaemon.go provide it, so role switching runs against a fake in unit
// tests and against the kernel in the VM.
type SyncKernel interface {
	SyncDaemons() ([]SyncDaemon, error)
	StartSyncDaemon(SyncDaemon) error
	StopSyncDaemon(SyncRole) error
}

// KernelSync is SyncKernel on the kernel, in the network namespace of the
// calling thread.
type KernelSync struct{}

// SyncDaemons reads back the running daemons (see the function SyncDaemons).
func (KernelSync) SyncDaemons() ([]SyncDaemon, error) { return SyncDaemons() }

// StartSyncDaemon starts d (see the function StartSyncDaemon).
func (KernelSync) StartSyncDaemon(d SyncDaemon) error {
	return StartSyncDaemon(d.Role, d.Interface, d.ID)
}

// StopSyncDaemon stops the daemon of role (see the function StopSyncDaemon).
func (KernelSync) StopSyncDaemon(role SyncRole) error { return StopSyncDaemon(role) }

// ReconcileSync makes want the only sync daemon running, or, with want
// nil, stops them all. Like keepalived's ipvs_syncd_master/backup it
// stops the other role's daemon before starting the wanted one: a node
// is master or backup of its cluster, never both. A daemon of the wanted
// role with other settings (a reload changed the interface or sync id, or
// one was left behind by a crash or by hand) is restarted; one already
// running as wanted is left alone, so calling this again is cheap and
// repairs a daemon someone stopped.
func ReconcileSync(k SyncKernel, want *SyncDaemon) error {
	running, err := k.SyncDaemons()
	if err != nil {
		return err
	}
	have := false
	var errs []error
	for _, d := range running {
		if want != nil && d == *want {
			have = true
			continue
		}
		if err := k.StopSyncDaemon(d.Role); err != nil {
			errs = append(errs, err)
		}
	}
	if want != nil && !have {
		if err := k.StartSyncDaemon(*want); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		if want == nil {
			return fmt.Errorf("lvs sync: stop daemons: %w", err)
		}
		return fmt.Errorf("lvs sync: switch to %s: %w", want, err)
	}
	return nil
}
