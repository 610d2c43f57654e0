package lvs

import (
	"encoding/binary"
	"net/netip"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"

	"vigil/config"
)

// web is a NAT service with two real servers, as config defaults leave it.
func web(mod ...func(*config.Service)) config.Service {
	s := config.Service{
		Name: "web", Mode: "lvs", Protocol: "tcp", Balance: "wrr",
		Listen:   netip.MustParseAddrPort("10.0.0.100:80"),
		Backends: []config.Backend{{Address: "10.0.0.1:8080", Weight: 3}, {Address: "10.0.0.2:8080", Weight: 1}},
		Quorum:   1,
		LVS:      config.LVS{Forward: "nat"},
	}
	for _, f := range mod {
		f(&s)
	}
	return s
}

var (
	vip    = netip.MustParseAddrPort("10.0.0.100:80")
	rs1    = netip.MustParseAddrPort("10.0.0.1:8080")
	rs2    = netip.MustParseAddrPort("10.0.0.2:8080")
	sorry  = netip.MustParseAddrPort("10.0.0.9:80")
	webKey = Key{Family: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Addr: vip}
)

func nat(a netip.AddrPort, w int) Destination { return Destination{Addr: a, Weight: w} }

func TestDesired(t *testing.T) {
	allMask := uint32(0xffffffff)
	tests := []struct {
		name string
		svc  config.Service
		up   map[string]bool
		want Service
	}{
		{
			name: "both up carry their weights",
			svc:  web(),
			up:   map[string]bool{"10.0.0.1:8080": true, "10.0.0.2:8080": true},
			want: Service{Name: "web", Key: webKey, Scheduler: "wrr", Netmask: allMask, Destinations: []Destination{nat(rs1, 3), nat(rs2, 1)}},
		},
		{
			name: "a down real server is removed",
			svc:  web(),
			up:   map[string]bool{"10.0.0.1:8080": false, "10.0.0.2:8080": true},
			want: Service{Name: "web", Key: webKey, Scheduler: "wrr", Netmask: allMask, Destinations: []Destination{nat(rs2, 1)}},
		},
		{
			name: "inhibit_on_failure keeps it at weight 0",
			svc:  web(func(s *config.Service) { s.LVS.InhibitOnFailure = true }),
			up:   map[string]bool{"10.0.0.2:8080": true},
			want: Service{Name: "web", Key: webKey, Scheduler: "wrr", Netmask: allMask, Destinations: []Destination{nat(rs1, 0), nat(rs2, 1)}},
		},
		{
			name: "all down without a sorry server leaves the service empty",
			svc:  web(),
			want: Service{Name: "web", Key: webKey, Scheduler: "wrr", Netmask: allMask},
		},
		{
			name: "all down: the sorry server is the only destination",
			svc:  web(func(s *config.Service) { s.LVS.SorryServer = sorry }),
			want: Service{Name: "web", Key: webKey, Scheduler: "wrr", Netmask: allMask, Destinations: []Destination{nat(sorry, 1)}},
		},
		{
			name: "one up again: the sorry server goes",
			svc:  web(func(s *config.Service) { s.LVS.SorryServer = sorry }),
			up:   map[string]bool{"10.0.0.1:8080": true},
			want: Service{Name: "web", Key: webKey, Scheduler: "wrr", Netmask: allMask, Destinations: []Destination{nat(rs1, 3)}},
		},
		{
			name: "all down with inhibit: weight 0 entries plus the sorry server",
			svc:  web(func(s *config.Service) { s.LVS.SorryServer = sorry; s.LVS.InhibitOnFailure = true }),
			want: Service{Name: "web", Key: webKey, Scheduler: "wrr", Netmask: allMask, Destinations: []Destination{nat(rs1, 0), nat(rs2, 0), nat(sorry, 1)}},
		},
		{
			name: "only a weight 0 server up cannot serve: sorry server too",
			svc: web(func(s *config.Service) {
				s.LVS.SorryServer = sorry
				s.Backends[1].Weight = 0
			}),
			up:   map[string]bool{"10.0.0.2:8080": true},
			want: Service{Name: "web", Key: webKey, Scheduler: "wrr", Netmask: allMask, Destinations: []Destination{nat(rs2, 0), nat(sorry, 1)}},
		},
		{
			name: "sorry server that is also a backend replaces its entry",
			svc: web(func(s *config.Service) {
				s.LVS.SorryServer = rs2
				s.LVS.InhibitOnFailure = true
			}),
			want: Service{Name: "web", Key: webKey, Scheduler: "wrr", Netmask: allMask, Destinations: []Destination{nat(rs1, 0), nat(rs2, 1)}},
		},
		{
			name: "DR with persistence, granularity and max_conn",
			svc: web(func(s *config.Service) {
				s.Listen = netip.MustParseAddrPort("10.0.0.100:8080")
				s.LVS.Forward = "dr"
				s.LVS.Persistence = config.Duration(300 * time.Second)
				s.LVS.PersistenceNetmask = "255.255.255.0"
				s.Backends[0].MaxConn = 100
			}),
			up: map[string]bool{"10.0.0.1:8080": true},
			want: Service{
				Name: "web", Key: Key{Family: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Addr: netip.MustParseAddrPort("10.0.0.100:8080")},
				Scheduler: "wrr", Flags: FlagPersistent, Timeout: 300, Netmask: binary.NativeEndian.Uint32([]byte{255, 255, 255, 0}),
				Destinations: []Destination{{Addr: rs1, Weight: 3, Forward: ipvs.ConnectionFlagDirectRoute, UpperThreshold: 100}},
			},
		},
		{
			name: "persistence rounds up to whole seconds",
			svc:  web(func(s *config.Service) { s.LVS.Persistence = config.Duration(1500 * time.Millisecond) }),
			want: Service{Name: "web", Key: webKey, Scheduler: "wrr", Flags: FlagPersistent, Timeout: 2, Netmask: allMask},
		},
		{
			name: "tun, udp, sh with both flags",
			svc: web(func(s *config.Service) {
				s.Protocol, s.Balance, s.LVS.Forward = "udp", "sh", "tun"
				s.LVS.SchedFlags = []string{"sh-fallback", "sh-port"}
			}),
			up: map[string]bool{"10.0.0.2:8080": true},
			want: Service{
				Name: "web", Key: Key{Family: syscall.AF_INET, Protocol: syscall.IPPROTO_UDP, Addr: vip},
				Scheduler: "sh", Flags: FlagSched1 | FlagSched2, Netmask: allMask,
				Destinations: []Destination{{Addr: rs2, Weight: 1, Forward: ipvs.ConnectionFlagTunnel}},
			},
		},
		{
			name: "IPv6 sctp with a prefix length",
			svc: web(func(s *config.Service) {
				s.Protocol, s.Balance = "sctp", "mh"
				s.Listen = netip.MustParseAddrPort("[2001:db8::100]:80")
				s.Backends = []config.Backend{{Address: "[2001:db8::1]:80", Weight: 1}}
				s.LVS.SchedFlags = []string{"mh-port"}
				s.LVS.Persistence = config.Duration(time.Minute)
				s.LVS.PersistenceNetmask = "64"
			}),
			up: map[string]bool{"[2001:db8::1]:80": true},
			want: Service{
				Name: "web", Key: Key{Family: syscall.AF_INET6, Protocol: syscall.IPPROTO_SCTP, Addr: netip.MustParseAddrPort("[2001:db8::100]:80")},
				Scheduler: "mh", Flags: FlagSched2 | FlagPersistent, Timeout: 60, Netmask: 64,
				Destinations: []Destination{nat(netip.MustParseAddrPort("[2001:db8::1]:80"), 1)},
			},
		},
		{
			name: "fwmark takes its family from the real servers",
			svc: web(func(s *config.Service) {
				s.Listen, s.Fwmark = netip.AddrPort{}, 7
				s.Backends = []config.Backend{{Address: "[2001:db8::1]:80", Weight: 2}}
			}),
			up: map[string]bool{"[2001:db8::1]:80": true},
			want: Service{
				Name: "web", Key: Key{Family: syscall.AF_INET6, Fwmark: 7}, Scheduler: "wrr", Netmask: 128,
				Destinations: []Destination{nat(netip.MustParseAddrPort("[2001:db8::1]:80"), 2)},
			},
		},
		{
			name: "a v4-mapped listen address is IPv4",
			svc:  web(func(s *config.Service) { s.Listen = netip.MustParseAddrPort("[::ffff:10.0.0.100]:80") }),
			want: Service{Name: "web", Key: webKey, Scheduler: "wrr", Netmask: allMask},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy := config.Service{Name: "other", Mode: "proxy", Listen: vip}
			got, err := Desired([]config.Service{proxy, tt.svc}, Health{"web": tt.up, "other": {}})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("got %d services, want only the lvs one: %+v", len(got), got)
			}
			if !reflect.DeepEqual(got[0], tt.want) {
				t.Errorf("got  %+v\nwant %+v", got[0], tt.want)
			}
		})
	}
}

func TestDesiredErrors(t *testing.T) {
	tests := []struct {
		name string
		svc  config.Service
		want string
	}{
		{"bad backend", web(func(s *config.Service) { s.Backends[0].Address = "web1:80" }), `lvs web: backend "web1:80"`},
		{"bad protocol", web(func(s *config.Service) { s.Protocol = "http" }), `protocol "http"`},
		{"bad forward", web(func(s *config.Service) { s.LVS.Forward = "masq" }), `forwarding method "masq"`},
		{"bad flag", web(func(s *config.Service) { s.LVS.SchedFlags = []string{"sh-foo"} }), `scheduler flag "sh-foo"`},
		{"no address", web(func(s *config.Service) { s.Listen = netip.AddrPort{} }), "neither listen nor fwmark"},
		{"v6 dotted mask", web(func(s *config.Service) {
			s.Listen = netip.MustParseAddrPort("[2001:db8::100]:80")
			s.LVS.PersistenceNetmask = "255.255.255.0"
		}), "IPv6 takes a prefix length"},
		{"fwmark without backends", web(func(s *config.Service) { s.Listen, s.Fwmark, s.Backends = netip.AddrPort{}, 3, nil }), "fwmark 3: no backend address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Desired([]config.Service{tt.svc}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestNetmask(t *testing.T) {
	native := func(b ...byte) uint32 { return binary.NativeEndian.Uint32(b) }
	tests := []struct {
		fam     uint16
		spec    string
		want    uint32
		wantErr bool
	}{
		{syscall.AF_INET, "", 0xffffffff, false},
		{syscall.AF_INET, "255.255.255.0", native(255, 255, 255, 0), false},
		{syscall.AF_INET, "24", native(255, 255, 255, 0), false},
		{syscall.AF_INET, "17", native(255, 255, 128, 0), false},
		{syscall.AF_INET, "32", 0xffffffff, false},
		{syscall.AF_INET, "0", 0, false},
		{syscall.AF_INET, "33", 0, true},
		{syscall.AF_INET, "2001:db8::", 0, true},
		{syscall.AF_INET6, "", 128, false},
		{syscall.AF_INET6, "64", 64, false},
		{syscall.AF_INET6, "0", 0, true},
		{syscall.AF_INET6, "129", 0, true},
	}
	for _, tt := range tests {
		got, err := netmask(tt.fam, tt.spec)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("netmask(%d, %q) = %#x, %v; want %#x, error %v", tt.fam, tt.spec, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestQuorate(t *testing.T) {
	tests := []struct {
		name                          string
		wasUp                         bool
		up, total, quorum, hysteresis int
		want                          bool
	}{
		{"up stays up at quorum", true, 2, 4, 2, 0, true},
		{"up goes down below quorum", true, 1, 4, 2, 0, false},
		{"down comes up at quorum", false, 2, 4, 2, 0, true},
		{"down stays down below quorum", false, 1, 4, 2, 0, false},
		{"hysteresis keeps up down to quorum-h", true, 2, 5, 3, 1, true},
		{"hysteresis: up goes down below quorum-h", true, 1, 5, 3, 1, false},
		{"hysteresis keeps down below quorum+h", false, 3, 5, 3, 1, false},
		{"hysteresis: down comes up at quorum+h", false, 4, 5, 3, 1, true},
		{"quorum+h above the backend count is capped", false, 3, 3, 3, 1, true},
		{"the cap never goes below quorum", false, 1, 1, 2, 0, false},
	}
	for _, tt := range tests {
		if got := Quorate(tt.wasUp, tt.up, tt.total, tt.quorum, tt.hysteresis); got != tt.want {
			t.Errorf("%s: Quorate(%v, %d, %d, %d, %d) = %v, want %v", tt.name, tt.wasUp, tt.up, tt.total, tt.quorum, tt.hysteresis, got, tt.want)
		}
	}
}
