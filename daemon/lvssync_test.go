package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/config"
	"vigil/lvs"
	"vigil/vrrp"
)

// fakeSyncKernel is the kernel's sync daemons, with a switch to make
// starts fail; the syncer calls it from its own goroutine.
type fakeSyncKernel struct {
	mu        sync.Mutex
	running   []lvs.SyncDaemon
	failStart bool
}

func (f *fakeSyncKernel) SyncDaemons() ([]lvs.SyncDaemon, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.running), nil
}

func (f *fakeSyncKernel) StartSyncDaemon(d lvs.SyncDaemon) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failStart {
		return errors.New("no such device")
	}
	f.running = append(f.running, d)
	return nil
}

func (f *fakeSyncKernel) StopSyncDaemon(role lvs.SyncRole) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running = slices.DeleteFunc(f.running, func(d lvs.SyncDaemon) bool { return d.Role == role })
	return nil
}

func (f *fakeSyncKernel) setFailStart(fail bool) {
	f.mu.Lock()
	f.failStart = fail
	f.mu.Unlock()
}

// TestLVSSyncerFollowsInstance: backup while the instance is not master,
// master while it is; other instances ignored; a reload's new sync id
// restarts the daemon; a failed start is logged and retried on the tick;
// the daemons stop with the syncer.
func TestLVSSyncerFollowsInstance(t *testing.T) {
	k := &fakeSyncKernel{}
	var logs tkLockedBuffer
	s := newLVSSyncer(slog.New(slog.NewTextHandler(&logs, nil)), k, config.LVSSync{Interface: "eth1", ID: 1, Instance: "VI_1"}, nil)
	s.resync = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	defer stop()

	await := func(what string, want ...lvs.SyncDaemon) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			got, _ := k.SyncDaemons()
			if slices.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: running %v, want %v\nlog:\n%s", what, got, want, logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	backup := lvs.SyncDaemon{Role: lvs.SyncBackup, Interface: "eth1", ID: 1}
	master := lvs.SyncDaemon{Role: lvs.SyncMaster, Interface: "eth1", ID: 1}

	await("at start (INIT)", backup)
	s.observe("VI_1", vrrp.Backup)
	await("backup", backup)
	s.observe("VI_2", vrrp.Master)
	time.Sleep(50 * time.Millisecond) // a tick or two
	await("another instance's transition", backup)
	s.observe("VI_1", vrrp.Master)
	await("master", master)
	s.observe("VI_1", vrrp.Fault)
	await("fault", backup)
	s.observe("VI_1", vrrp.Master)
	await("master again", master)

	s.reconfigure(config.LVSSync{Interface: "eth2", ID: 2, Instance: "VI_1"}, nil)
	await("reload: new interface and sync id (instance unknown: INIT)", lvs.SyncDaemon{Role: lvs.SyncBackup, Interface: "eth2", ID: 2})

	k.setFailStart(true)
	s.observe("VI_1", vrrp.Master)
	await("start failing: the backup was stopped first")
	k.setFailStart(false)
	await("retried on the tick", lvs.SyncDaemon{Role: lvs.SyncMaster, Interface: "eth2", ID: 2})
	if log := logs.String(); strings.Count(log, "cannot run the sync daemon") != 1 || !strings.Contains(log, "interface=eth2") {
		t.Errorf("want the failure logged once, with its interface; log:\n%s", log)
	}

	stop()
	await("stopped with the daemon")
}

// TestNewRefusesLVSSyncWithoutIPVS: lvs.sync on a kernel without IPVS is
// refused at start, by name, not logged as a failed switch forever.
func TestNewRefusesLVSSyncWithoutIPVS(t *testing.T) {
	if _, err := lvs.SyncDaemons(); err == nil {
		t.Skip("this kernel has IPVS (and this process the rights): nothing to refuse")
	}
	cfg, _, err := config.Parse("sync.yaml", []byte(`lvs: { sync: { interface: lo, id: 1, instance: vi } }
vrrp:
  - { name: vi, interface: lo, vrid: 9, priority: 100, vips: [10.0.0.9/32] }
`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
	if err == nil || !strings.Contains(err.Error(), "sync.yaml: lvs.sync: ") {
		t.Fatalf("New = %v, want a refusal naming lvs.sync", err)
	}
}
