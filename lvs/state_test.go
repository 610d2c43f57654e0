package lvs

import (
	"net/netip"
	"reflect"
	"syscall"
	"testing"

	"github.com/moby/ipvs"
)

func TestDiff(t *testing.T) {
	svc := func(sched string, dests ...Destination) Service {
		return Service{Key: webKey, Scheduler: sched, Netmask: 0xffffffff, Destinations: dests}
	}
	bare := func(s Service) Service { s.Destinations = nil; return s }
	foreignKey := Key{Family: syscall.AF_INET, Protocol: syscall.IPPROTO_UDP, Addr: netip.MustParseAddrPort("10.0.0.200:53")}
	oldKey := Key{Family: syscall.AF_INET, Fwmark: 9}
	tests := []struct {
		name    string
		desired []Service
		retired []Key
		actual  []Service
		want    Plan
	}{
		{
			name:    "empty kernel: add the service, then its real servers",
			desired: []Service{svc("wrr", nat(rs1, 3), nat(rs2, 1))},
			want: Plan{Ops: []Op{
				{Kind: AddService, Service: bare(svc("wrr"))},
				{Kind: AddDestination, Service: bare(svc("wrr")), Dest: nat(rs1, 3)},
				{Kind: AddDestination, Service: bare(svc("wrr")), Dest: nat(rs2, 1)},
			}},
		},
		{
			name:    "in sync: nothing to do",
			desired: []Service{svc("wrr", nat(rs1, 3), nat(rs2, 1))},
			actual:  []Service{svc("wrr", nat(rs2, 1), nat(rs1, 3))},
		},
		{
			name:    "the kernel's hashed flag is not a difference",
			desired: []Service{svc("wrr")},
			actual:  []Service{{Key: webKey, Scheduler: "wrr", Flags: FlagHashed, Netmask: 0xffffffff}},
		},
		{
			name:    "forwarding bits outside the mask are not a difference",
			desired: []Service{svc("wrr", Destination{Addr: rs1, Weight: 1, Forward: ipvs.ConnectionFlagDirectRoute})},
			actual:  []Service{svc("wrr", Destination{Addr: rs1, Weight: 1, Forward: 0x0100 | ipvs.ConnectionFlagDirectRoute})},
		},
		{
			name:    "scheduler changed: update the service only",
			desired: []Service{svc("rr", nat(rs1, 1))},
			actual:  []Service{svc("wrr", nat(rs1, 1))},
			want:    Plan{Ops: []Op{{Kind: UpdateService, Service: bare(svc("rr"))}}},
		},
		{
			name:    "persistence changed: update the service",
			desired: []Service{{Key: webKey, Scheduler: "wrr", Flags: FlagPersistent, Timeout: 300, Netmask: 0xffffffff}},
			actual:  []Service{svc("wrr")},
			want:    Plan{Ops: []Op{{Kind: UpdateService, Service: Service{Key: webKey, Scheduler: "wrr", Flags: FlagPersistent, Timeout: 300, Netmask: 0xffffffff}}}},
		},
		{
			name:    "weight, forward and threshold changes update the real server",
			desired: []Service{svc("wrr", nat(rs1, 0), Destination{Addr: rs2, Weight: 1, Forward: ipvs.ConnectionFlagTunnel, UpperThreshold: 5})},
			actual:  []Service{svc("wrr", nat(rs1, 3), nat(rs2, 1))},
			want: Plan{Ops: []Op{
				{Kind: UpdateDestination, Service: bare(svc("wrr")), Dest: nat(rs1, 0)},
				{Kind: UpdateDestination, Service: bare(svc("wrr")), Dest: Destination{Addr: rs2, Weight: 1, Forward: ipvs.ConnectionFlagTunnel, UpperThreshold: 5}},
			}},
		},
		{
			name:    "hand-added real server in our service is removed",
			desired: []Service{svc("wrr", nat(rs1, 3))},
			actual:  []Service{svc("wrr", nat(rs1, 3), nat(rs2, 7))},
			want:    Plan{Ops: []Op{{Kind: DeleteDestination, Service: bare(svc("wrr")), Dest: nat(rs2, 7)}}},
		},
		{
			name:    "sorry server swap: the real server is added before the sorry server goes",
			desired: []Service{svc("wrr", nat(rs1, 3))},
			actual:  []Service{svc("wrr", nat(sorry, 1))},
			want: Plan{Ops: []Op{
				{Kind: AddDestination, Service: bare(svc("wrr")), Dest: nat(rs1, 3)},
				{Kind: DeleteDestination, Service: bare(svc("wrr")), Dest: nat(sorry, 1)},
			}},
		},
		{
			name:    "foreign services are reported and left alone",
			desired: []Service{svc("wrr", nat(rs1, 3))},
			actual:  []Service{svc("wrr", nat(rs1, 3)), {Key: foreignKey, Scheduler: "rr", Destinations: []Destination{nat(rs2, 1)}}},
			want:    Plan{Foreign: []Key{foreignKey}},
		},
		{
			name:    "retired services are deleted, foreign ones kept",
			retired: []Key{oldKey, {Family: syscall.AF_INET, Fwmark: 10}},
			actual: []Service{
				{Key: oldKey, Scheduler: "rr", Destinations: []Destination{nat(rs1, 1)}},
				{Key: foreignKey, Scheduler: "rr"},
			},
			want: Plan{
				Ops:     []Op{{Kind: DeleteService, Service: Service{Key: oldKey, Scheduler: "rr"}}},
				Foreign: []Key{foreignKey},
			},
		},
		{
			name:    "order across services: service ops, dest adds, dest deletes, service deletes",
			desired: []Service{{Key: oldKey, Scheduler: "rr", Destinations: []Destination{nat(rs1, 1)}}, svc("wrr", nat(rs2, 1))},
			retired: []Key{foreignKey},
			actual:  []Service{{Key: foreignKey, Scheduler: "rr"}, svc("wrr", nat(rs1, 1))},
			want: Plan{Ops: []Op{
				{Kind: AddService, Service: Service{Key: oldKey, Scheduler: "rr"}},
				{Kind: AddDestination, Service: bare(svc("wrr")), Dest: nat(rs2, 1)},
				{Kind: AddDestination, Service: Service{Key: oldKey, Scheduler: "rr"}, Dest: nat(rs1, 1)},
				{Kind: DeleteDestination, Service: bare(svc("wrr")), Dest: nat(rs1, 1)},
				{Kind: DeleteService, Service: Service{Key: foreignKey, Scheduler: "rr"}},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(tt.desired, tt.retired, tt.actual)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got:")
				for _, op := range got.Ops {
					t.Errorf("  %s", op)
				}
				t.Errorf("  foreign %v\nwant:", got.Foreign)
				for _, op := range tt.want.Ops {
					t.Errorf("  %s", op)
				}
				t.Errorf("  foreign %v", tt.want.Foreign)
			}
		})
	}
}

// TestConversionRoundTrip checks the mapping between vigil's types and moby/ipvs's
// with the hashed flag the kernel adds to every service.
func TestConversionRoundTrip(t *testing.T) {
	tests := []Service{
		{Key: webKey, Scheduler: "wrr", Flags: FlagPersistent | FlagSched2, Timeout: 30, Netmask: 0xffffff},
		{Key: Key{Family: syscall.AF_INET6, Protocol: syscall.IPPROTO_SCTP, Addr: netip.MustParseAddrPort("[2001:db8::1]:9")}, Scheduler: "mh", Netmask: 64},
		{Key: Key{Family: syscall.AF_INET, Fwmark: 42}, Scheduler: "rr", Netmask: 0xffffffff},
	}
	for _, s := range tests {
		ks := toKernelService(s)
		ks.Flags |= FlagHashed
		got, err := fromKernelService(ks)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("round trip of %s: got %+v", s.Key, got)
		}
	}
	d := Destination{Addr: rs1, Weight: 7, Forward: ipvs.ConnectionFlagDirectRoute, UpperThreshold: 10, LowerThreshold: 2}
	kd := toKernelDestination(d)
	got, err := fromKernelDestination(kd)
	if err != nil || got != d {
		t.Errorf("destination round trip: got %+v, %v; want %+v", got, err, d)
	}
}
