package daemon

// A kernel test of lvs.sync: the daemon runs the kernel's IPVS sync daemon
// in the role its VRRP instance's state asks for. It needs root and IPVS,
// so elsewhere it skips; tests/lvs_vm_test.go runs it in the IPVS VM. The
// connections surviving a failover are lvs's
// TestKernelSyncKeepsConnectionOverFailover.

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"vigil/config"
	"vigil/lvs"
	"vigil/vrrp"
)

// TestKernelLVSSyncFollowsVRRP runs the daemon with one VRRP instance and
// lvs.sync on its interface: a backup sync daemon while the instance waits
// as BACKUP, a master once it is MASTER; a master stopped by hand comes
// back; reloads restart it with a new sync id, stop it, start it again;
// and the daemon stopping stops it.
func TestKernelLVSSyncFollowsVRRP(t *testing.T) {
	kernelIPVS(t)
	root := tkNetlink(t, netns.None())
	tkVeth(t, root, "vsy0", tkNewNS(t, "syncpeer"), "10.92.0.1/24", "10.92.0.2/24")
	t.Cleanup(func() {
		if err := lvs.ReconcileSync(lvs.KernelSync{}, nil); err != nil {
			t.Errorf("stopping what the test left: %v", err)
		}
	})

	// advert_interval 1s: the instance waits about 3.6 s as BACKUP, long
	// enough to see the backup daemon before it becomes master.
	conf := func(sync string) *config.Config {
		t.Helper()
		text := sync + `vrrp:
  - name: vi
    interface: vsy0
    vrid: 92
    priority: 100
    version: 3
    advert_interval: 1s
    vips: [10.92.100.1/32]
`
		cfg, _, err := config.Parse("sync.yaml", []byte(text), config.Options{})
		if err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		return cfg
	}
	const syncID3 = "lvs: { sync: { interface: vsy0, id: 3, instance: vi } }\n"
	const syncID4 = "lvs: { sync: { interface: vsy0, id: 4, instance: vi } }\n"

	var logs tkLockedBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	d, err := New(conf(syncID3), slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stopped := false
	stop := func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("the daemon did not stop within 20s of cancel")
		}
	}
	t.Cleanup(stop)
	in := d.Instances()[0]

	running := func() []lvs.SyncDaemon {
		ds, err := lvs.SyncDaemons()
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	describe := func() string { return fmt.Sprintf("instance %s, sync daemons %v", in.Status().State, running()) }
	start := time.Now()
	step := func(what string) {
		t.Logf("%s after %s: %s", what, time.Since(start).Round(time.Millisecond), describe())
	}
	only := func(want lvs.SyncDaemon) func() bool {
		return func() bool { return slices.Equal(running(), []lvs.SyncDaemon{want}) }
	}
	backup3 := lvs.SyncDaemon{Role: lvs.SyncBackup, Interface: "vsy0", ID: 3}
	master3 := lvs.SyncDaemon{Role: lvs.SyncMaster, Interface: "vsy0", ID: 3}
	master4 := lvs.SyncDaemon{Role: lvs.SyncMaster, Interface: "vsy0", ID: 4}

	tkWaitFor(t, "a backup sync daemon while the instance is not master", describe, func() bool {
		return only(backup3)() && in.Status().State != vrrp.Master
	})
	step("backup seen")
	tkWaitFor(t, "the instance master with a master sync daemon", describe, func() bool {
		return in.Status().State == vrrp.Master && only(master3)()
	})
	step("master seen")

	// Reconcile, not script: a daemon stopped by hand comes back.
	if err := lvs.StopSyncDaemon(lvs.SyncMaster); err != nil {
		t.Fatal(err)
	}
	tkWaitFor(t, "the master sync daemon back after a stop by hand", describe, only(master3))
	step("master back after the stop by hand")

	if err := d.Apply(ctx, conf(syncID4)); err != nil {
		t.Fatalf("reload with sync id 4: %v", err)
	}
	tkWaitFor(t, "the master restarted with sync id 4", describe, only(master4))
	step("reloaded to sync id 4")
	if err := d.Apply(ctx, conf("")); err != nil {
		t.Fatalf("reload without lvs.sync: %v", err)
	}
	if ds := running(); len(ds) != 0 {
		t.Fatalf("after a reload without lvs.sync: sync daemons %v, want none", ds)
	}
	step("reloaded without lvs.sync")
	if err := d.Apply(ctx, conf(syncID4)); err != nil {
		t.Fatalf("reload with lvs.sync again: %v", err)
	}
	tkWaitFor(t, "the master back with lvs.sync reloaded in", describe, only(master4))
	if st := in.Status().State; st != vrrp.Master {
		t.Fatalf("the reloads moved the instance to %s", st)
	}
	step("reloaded with lvs.sync again")

	stop()
	step("stopped")
	if ds := running(); len(ds) != 0 {
		t.Fatalf("after the daemon stopped: sync daemons %v, want none", ds)
	}
}
