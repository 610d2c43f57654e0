package api

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// fakeSource is a Source whose status the test sets and whose events the
// test emits; it records what the API asked of it.
type fakeSource struct {
	mu        sync.Mutex
	status    Status
	reloadErr error
	reloads   int
	plan      ReloadPlan
	subs      map[int]chan Event
	next      int
	// subscribed and unsubscribed receive one value per Events call and per
	// cancel, so tests wait on them instead of sleeping.
	subscribed   chan struct{}
	unsubscribed chan struct{}
}

func newFakeSource() *fakeSource {
	return &fakeSource{
		status:       sampleStatus(),
		subs:         map[int]chan Event{},
		subscribed:   make(chan struct{}, 64),
		unsubscribed: make(chan struct{}, 64),
	}
}

func (f *fakeSource) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	// A deep enough copy that the caller cannot race with setBackendUp.
	st := f.status
	st.Services = append([]Service(nil), st.Services...)
	for i := range st.Services {
		st.Services[i].Backends = append([]Backend(nil), st.Services[i].Backends...)
	}
	return st
}

func (f *fakeSource) Events() (<-chan Event, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.next
	f.next++
	ch := make(chan Event, 16)
	f.subs[id] = ch
	select {
	case f.subscribed <- struct{}{}:
	default: // nobody is counting
	}
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			f.mu.Lock()
			delete(f.subs, id)
			f.mu.Unlock()
			select {
			case f.unsubscribed <- struct{}{}:
			default:
			}
		})
	}
}

func (f *fakeSource) emit(ev Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.subs {
		ch <- ev
	}
}

func (f *fakeSource) Reload(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	return f.reloadErr
}

func (f *fakeSource) PlanReload(ctx context.Context) (ReloadPlan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.plan, nil
}

func (f *fakeSource) SetBackendAdmin(service, address, state string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.status.Services {
		if s.Name != service {
			continue
		}
		for j, b := range s.Backends {
			if b.Address == address {
				if state == ActionEnable {
					state = AdminNone
				}
				f.status.Services[i].Backends[j].Admin = state
				return nil
			}
		}
		return fmt.Errorf("service %s has no backend %s: %w", service, address, ErrNotFound)
	}
	return fmt.Errorf("no service %s: %w", service, ErrNotFound)
}

// setBackendUp changes a backend's health as a check would.
func (f *fakeSource) setBackendUp(service, address string, up bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.status.Services {
		for j, b := range s.Backends {
			if s.Name == service && b.Address == address {
				f.status.Services[i].Backends[j].Up = up
			}
		}
	}
}

var t0 = time.Date(2025, 11, 23, 12, 0, 0, 0, time.UTC)

// sampleStatus is a node with one master instance and two services, one
// with a backend down and one drained.
func sampleStatus() Status {
	return Status{
		Node:       "lb1",
		Version:    "v1.2.3",
		Config:     "/etc/vigil/vigil.yaml",
		ConfigHash: "9f2c4e0b5d6a7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f",
		Started:    t0.Add(-26 * time.Hour),
		LastReload: &Reload{Time: t0.Add(-5 * time.Minute), OK: false, Error: "services[0].balance: \"fastest\" is not one of roundrobin, leastconn"},
		Instances: []Instance{
			{Name: "VI_1", Interface: "eth0", VRID: 51, Version: 3, AdvertIntervalMs: 1000, VIPs: []string{"10.0.0.100/24", "10.0.0.101/24"},
				State: "master", Priority: 150, BasePriority: 150,
				Counters: &InstanceCounters{AdvertsSent: 11520, AdvertsReceived: 2, Announcements: 10, MasterConflicts: 1,
					Dropped: map[string]uint64{"auth": 3, "ttl": 1}},
				MasterAddress: "10.0.0.11", Since: t0.Add(-3*time.Minute - 12*time.Second), Reason: "higher priority than 10.0.0.12",
				Tracks: []Track{{Name: "service:web", Weight: -50}, {Name: "check:gw", Weight: -20}}},
			{Name: "VI_6", Interface: "eth1", VRID: 52, Version: 2, AdvertIntervalMs: 2000, VIPs: []string{"fd00::100/64"},
				LastAdvert: ptr(t0.Add(-800 * time.Millisecond)), LastAdvertFrom: "fe80::2",
				Counters: &InstanceCounters{AdvertsReceived: 45},
				State:    "backup", Priority: 80, BasePriority: 100,
				MasterAddress: "fe80::2", Since: t0.Add(-90 * time.Second), Reason: "master advert with priority 120",
				Tracks: []Track{{Name: "check:uplink", Weight: -20, Failing: true}}},
		},
		Services: []Service{
			{Name: "web", Mode: "proxy", Protocol: "http", Listen: "10.0.0.100:80", Up: true, Active: 3, Total: 1200, BytesIn: 123456, BytesOut: 98765432,
				Backends: []Backend{
					{Address: "10.0.1.1:8080", Up: true, Weight: 1, EffectiveWeight: 1, Active: 2, Total: 700},
					{Address: "10.0.1.2:8080", Up: false, Reason: "connect: connection refused", Weight: 1, EffectiveWeight: 0, Total: 400},
					{Address: "10.0.1.3:8080", Group: "api", Up: true, Admin: AdminDrain, Weight: 2, EffectiveWeight: 0, Active: 1, Total: 100},
				}},
			{Name: "dns", Mode: "lvs", Protocol: "udp", Listen: "10.0.0.53:53", Up: false, Reason: "no backend up",
				Backends: []Backend{{Address: "10.0.2.1:53", Up: false, Admin: AdminMaint, Weight: 1}}},
		},
		LVSSync: &LVSSync{Instance: "VI_1", Interface: "eth0", SyncID: 7, Role: "master", Running: true},
		Recent: []Event{
			{Time: t0.Add(-90 * time.Second), Kind: KindVRRP, Subject: "VI_6", From: "master", To: "backup", Reason: "master advert with priority 120"},
			{Time: t0.Add(-30 * time.Second), Kind: KindBackend, Subject: "web/10.0.1.2:8080", From: "up", To: "down", Reason: "connect: connection refused"},
		},
	}
}

func ptr[T any](v T) *T { return &v }
