package config

import (
	"os"
	"time"
)

// Every default of the config lives in this file, so there is one place to read
// them; `vigil check --print` shows a config with all of them applied.

func (c *Config) setDefaults() {
	c.Log = Log{Level: "info", Format: "text"}
	c.API = API{Listen: "127.0.0.1:9653", Socket: "/run/vigil/vigil.sock"}
	// Measured by tests/load_test.go: at 0 a saturated node delays its
	// adverts past a 50 ms router's Master_Down_Interval; at -10 it does not.
	c.Nice = -10
}

func (i *Instance) setDefaults() {
	i.Priority = 100
	i.Version = 3
	i.AdvertInterval = Duration(time.Second)
	i.Preempt = true
	i.NotifyTimeout = Duration(10 * time.Second)
	// A node that cannot serve its own VIP's services should not keep the VIP;
	// 50 moves it past a peer configured up to 49 lower, the usual spread.
	i.AutoTrack = AutoTrack{Services: true, Weight: -50}
	i.GARP = GARP{
		Delay:         Duration(5 * time.Second), // keepalived garp_master_delay
		Repeat:        5,                         // keepalived garp_master_repeat
		RefreshRepeat: 1,
	}
}

func (v *VIP) setDefaults() { v.Scope = "global" }

func (c *Check) setDefaults() {
	c.Interval = Duration(2 * time.Second) // HAProxy inter
	c.Timeout = Duration(time.Second)
	c.Rise = 2 // HAProxy rise
	c.Fall = 3 // HAProxy fall
	c.Initial = "down"
	c.Method = "GET"
	c.Path = "/"
	c.ExpectStatus = []StatusRange{{200, 399}} // HAProxy httpchk: 2xx and 3xx
	c.QueryType = "A"
}

func (s *Service) setDefaults() {
	s.Mode = "proxy"
	s.Quorum = 1
	s.MaxQueue = 1024
	s.Retries = 3
	s.ForwardedHeaders = true
	s.LVS = LVS{Forward: "nat"}
	s.Timeouts = Timeouts{
		Connect:       Duration(5 * time.Second),
		Client:        Duration(60 * time.Second),
		Server:        Duration(60 * time.Second),
		HTTPRequest:   Duration(10 * time.Second),
		HTTPKeepAlive: Duration(60 * time.Second),
		Queue:         Duration(5 * time.Second),
		UDPSession:    Duration(30 * time.Second),
	}
}

func (b *Backend) setDefaults() { b.Weight = 1 }

func (t *TLS) setDefaults() {
	t.MinVersion = "1.2"
	t.HTTP2 = true
}

func (s *Sticky) setDefaults() { s.Cookie = "SERVERID" }

// HAProxy's line by default: halog and the log pipelines built for HAProxy
// read it; local0 is the facility HAProxy's documentation uses.
func (a *AccessLog) setDefaults() { a.Format = "haproxy"; a.Facility = "local0" }

func (w *Webhook) setDefaults() { w.Timeout = Duration(5 * time.Second) }

// Default protocol and balance per mode: what ipvsadm and HAProxy default to.
const (
	defaultProtocol     = "tcp"
	defaultProxyBalance = "roundrobin"
	defaultLVSBalance   = "wlc"
)

// finishDefaults fills the defaults that depend on other fields; isSet tells
// whether the file wrote a field, so an explicit zero is kept.
func finishDefaults(c *Config, isSet func(path string) bool) {
	if c.Node == "" {
		if h, err := os.Hostname(); err == nil {
			c.Node = h
		}
	}
	for i := range c.Services {
		s := &c.Services[i]
		if s.Protocol == "" {
			s.Protocol = defaultProtocol
		}
		if s.Balance == "" {
			switch s.Mode {
			case "proxy":
				s.Balance = defaultProxyBalance
			case "lvs":
				s.Balance = defaultLVSBalance
			}
		}
		if s.Check != nil {
			finishCheck(s.Check, servicePath(i)+".check", isSet)
		}
		// log.access is every proxy service's default; udp sessions and
		// IPVS are not logged, so they take none.
		if s.AccessLog == nil && c.Log.Access != nil && s.Mode == "proxy" && s.Protocol != "udp" {
			a := *c.Log.Access
			s.AccessLog = &a
		}
	}
	for name, ch := range c.Checks {
		if ch != nil {
			finishCheck(ch, "checks."+name, isSet)
		}
	}
}

func finishCheck(c *Check, path string, isSet func(string) bool) {
	if !isSet(path + ".jitter") {
		c.Jitter = c.Interval / 10 // spreads 1000 targets over a tenth of the interval
	}
}
