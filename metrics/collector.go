package metrics

import (
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"vigil/lvs"
	"vigil/proxy"
	"vigil/vrrp"
)

// collector reads the Sources on every scrape and turns what they return
// into constant metrics: the parts keep the only copy of each number, so
// nothing here can drift from what the status API shows.
type collector struct {
	src Sources
	d   descs
	all []*prometheus.Desc // every field of d, for Describe
	// lvsErrors counts failed reads of the IPVS counters; it is exposed
	// by this collector, so it lives here rather than in a registered
	// counter.
	lvsErrors atomic.Uint64
}

// descs are the descriptions of every metric the collector emits.
type descs struct {
	vrrpState, vrrpPriority, vrrpBasePriority         *prometheus.Desc
	vrrpAdvertsSent, vrrpAdvertsReceived, vrrpDropped *prometheus.Desc
	vrrpAnnouncements, vrrpMasterConflicts            *prometheus.Desc
	vrrpProblem, vrrpInfo                             *prometheus.Desc

	checkUp *prometheus.Desc

	svcUp, svcActive, svcTotal, svcBytesIn, svcBytesOut  *prometheus.Desc
	svcQueued, svcRetries, svcConnectErrors, svcTimeouts *prometheus.Desc
	svcRefused, svcDatagramsDropped                      *prometheus.Desc
	svcHTTPRequests, svcHTTPDuration                     *prometheus.Desc
	svcMaxConn, svcMaxQueue, svcQueueWait                *prometheus.Desc

	beUp, beWeight, beActive, beTotal, beBytesIn, beBytesOut *prometheus.Desc
	beRetries, beConnectErrors                               *prometheus.Desc
	beAdmin, beMaxConn                                       *prometheus.Desc
	beResponses, beConnectTime, beResponseTime               *prometheus.Desc

	lvsConns, lvsPacketsIn, lvsPacketsOut, lvsBytesIn, lvsBytesOut *prometheus.Desc
	rsActive, rsInactive, rsConns, rsWeight                        *prometheus.Desc
	rsPacketsIn, rsPacketsOut, rsBytesIn, rsBytesOut               *prometheus.Desc
	lvsErrors                                                      *prometheus.Desc

	accessLines, accessDropped *prometheus.Desc

	buildInfo *prometheus.Desc

	eventStreams, eventStreamsDropped *prometheus.Desc
}

func newCollector(src Sources) *collector {
	inst := []string{"vrrp_instance"}
	svc := []string{"service"}
	be := []string{"service", "group", "backend"}
	rs := []string{"service", "real_server"}
	c := &collector{src: src}
	// d records each description as it makes it, so none can be left out
	// of Describe.
	d := func(name, help string, labels []string) *prometheus.Desc {
		desc := prometheus.NewDesc(name, help, labels, nil)
		c.all = append(c.all, desc)
		return desc
	}
	c.d = descs{
		vrrpInfo:            d("vigil_vrrp_instance_info", "Always 1; the labels say what the instance is on the wire, so rules can match the nodes of one virtual router by vrid and interface.", []string{"vrrp_instance", "interface", "vrid", "version"}),
		vrrpState:           d("vigil_vrrp_state", "VRRP state of the instance: 1 for the current state, 0 for the others.", []string{"vrrp_instance", "state"}),
		vrrpPriority:        d("vigil_vrrp_effective_priority", "VRRP priority the instance advertises now, after tracks.", inst),
		vrrpBasePriority:    d("vigil_vrrp_configured_priority", "VRRP priority of the instance as configured.", inst),
		vrrpAdvertsSent:     d("vigil_vrrp_adverts_sent_total", "VRRP advertisements sent.", inst),
		vrrpAdvertsReceived: d("vigil_vrrp_adverts_received_total", "VRRP advertisements received and accepted.", inst),
		vrrpDropped:         d("vigil_vrrp_dropped_packets_total", "VRRP packets dropped, by reason.", []string{"vrrp_instance", "reason"}),
		vrrpAnnouncements:   d("vigil_vrrp_announcements_sent_total", "Gratuitous ARPs and unsolicited neighbour advertisements sent for the VIPs.", inst),
		vrrpMasterConflicts: d("vigil_vrrp_master_conflicts_total", "Adverts from another master received while this instance was master: a split brain resolving, or a peer that cannot hear this node.", inst),
		vrrpProblem:         d("vigil_vrrp_problem", "1 while the diagnosis sees a problem of this kind with a peer (master_conflict, config_mismatch, peer_silent); the status API says which peer and the likely cause.", []string{"vrrp_instance", "kind"}),

		accessLines:   d("vigil_access_log_lines_total", "Access log lines written, by target.", []string{"target"}),
		accessDropped: d("vigil_access_log_dropped_total", "Access log lines dropped because the target did not keep up (or a write to it failed), by target: the proxy never waits for its log.", []string{"target"}),

		checkUp: d("vigil_check_up", "Health check state after rise/fall: 1 up, 0 down.", []string{"check", "target", "consumer"}),

		svcUp:               d("vigil_proxy_up", "Whether the proxy service can serve (listening, quorum of backends up): 1 or 0.", svc),
		svcActive:           d("vigil_proxy_active_connections", "Client connections (or UDP sessions) open now, queued ones included.", svc),
		svcTotal:            d("vigil_proxy_connections_total", "Client connections accepted (or UDP sessions opened).", svc),
		svcBytesIn:          d("vigil_proxy_bytes_in_total", "Bytes received from clients and forwarded to backends.", svc),
		svcBytesOut:         d("vigil_proxy_bytes_out_total", "Bytes sent to clients.", svc),
		svcQueued:           d("vigil_proxy_queued_connections", "Connections waiting for a backend slot now.", svc),
		svcRetries:          d("vigil_proxy_retries_total", "Failed backend connects retried on another backend.", svc),
		svcConnectErrors:    d("vigil_proxy_connect_errors_total", "Failed backend connects, retried or not.", svc),
		svcTimeouts:         d("vigil_proxy_timeouts_total", "Connections closed by the client or server inactivity timeout.", svc),
		svcRefused:          d("vigil_proxy_refused_connections_total", "Client connections closed without a backend, by reason (no_backend, queue_timeout, queue_full, proxy_header).", []string{"service", "reason"}),
		svcDatagramsDropped: d("vigil_proxy_dropped_datagrams_total", "UDP datagrams dropped (no backend, session limit, send error).", svc),
		svcHTTPRequests:     d("vigil_proxy_http_requests_total", "HTTP requests (HTTP/1.x and HTTP/2 streams) by the class of their answer; error means the proxy answered itself or nobody did.", []string{"service", "code"}),
		svcHTTPDuration:     d("vigil_proxy_http_request_duration_seconds", "HTTP request time (HTTP/1.x and HTTP/2 streams) from the first byte to the end of the response.", svc),
		svcMaxConn:          d("vigil_proxy_max_connections", "The service's max_conn, beside vigil_proxy_active_connections; absent when it has none.", svc),
		svcMaxQueue:         d("vigil_proxy_max_queued_connections", "The service's max_queue, beside vigil_proxy_queued_connections (0: nothing waits); tcp and http services.", svc),
		svcQueueWait:        d("vigil_proxy_queue_duration_seconds", "Time a connection (tcp) or request (http) waited for a backend slot, 0 when it got one at once; those that never got one are not counted.", svc),

		beUp:            d("vigil_proxy_backend_up", "Backend health verdict: 1 up, 0 down.", be),
		beWeight:        d("vigil_proxy_backend_weight", "Backend weight now, after slowstart; 0 while down.", be),
		beActive:        d("vigil_proxy_backend_active_connections", "Connections (or UDP sessions) on the backend now.", be),
		beTotal:         d("vigil_proxy_backend_connections_total", "Connections (or UDP sessions) established to the backend.", be),
		beBytesIn:       d("vigil_proxy_backend_bytes_in_total", "Bytes sent to the backend.", be),
		beBytesOut:      d("vigil_proxy_backend_bytes_out_total", "Bytes received from the backend.", be),
		beRetries:       d("vigil_proxy_backend_retries_total", "Failed connects to the backend that were retried elsewhere.", be),
		beConnectErrors: d("vigil_proxy_backend_connect_errors_total", "Failed connects to the backend.", be),
		beAdmin:         d("vigil_proxy_backend_admin_state", "The operator's admin state of the backend (vigil backend): 1 for the current state (ready, drain, maint), 0 for the others.", append(be[:len(be):len(be)], "state")),
		beMaxConn:       d("vigil_proxy_backend_max_connections", "The backend's max_conn, beside vigil_proxy_backend_active_connections; absent when it has none.", be),
		beResponses:     d("vigil_proxy_backend_http_responses_total", "HTTP responses the backend sent, by status class (1xx..5xx); the proxy's own answers are in vigil_proxy_http_requests_total{code=\"error\"}.", append(be[:len(be):len(be)], "code")),
		beConnectTime:   d("vigil_proxy_backend_connect_duration_seconds", "Time new connections to the backend took to establish; failed connects are not counted, reused idle connections take none.", be),
		beResponseTime:  d("vigil_proxy_backend_response_duration_seconds", "HTTP: time from the request's backend connection being ready to the backend's response head.", be),

		lvsConns:      d("vigil_lvs_connections_total", "Connections the IPVS service scheduled.", svc),
		lvsPacketsIn:  d("vigil_lvs_packets_in_total", "Packets into the IPVS service.", svc),
		lvsPacketsOut: d("vigil_lvs_packets_out_total", "Packets out of the IPVS service.", svc),
		lvsBytesIn:    d("vigil_lvs_bytes_in_total", "Bytes into the IPVS service.", svc),
		lvsBytesOut:   d("vigil_lvs_bytes_out_total", "Bytes out of the IPVS service.", svc),
		rsActive:      d("vigil_lvs_real_server_active_connections", "Active (established) connections on the real server now.", rs),
		rsInactive:    d("vigil_lvs_real_server_inactive_connections", "Inactive (closing, or not yet established) connections on the real server now.", rs),
		rsConns:       d("vigil_lvs_real_server_connections_total", "Connections scheduled to the real server.", rs),
		rsWeight:      d("vigil_lvs_real_server_weight", "Weight of the real server in the IPVS table now; 0 while inhibited.", rs),
		rsPacketsIn:   d("vigil_lvs_real_server_packets_in_total", "Packets to the real server.", rs),
		rsPacketsOut:  d("vigil_lvs_real_server_packets_out_total", "Packets from the real server.", rs),
		rsBytesIn:     d("vigil_lvs_real_server_bytes_in_total", "Bytes to the real server.", rs),
		rsBytesOut:    d("vigil_lvs_real_server_bytes_out_total", "Bytes from the real server.", rs),
		lvsErrors:     d("vigil_lvs_stats_errors_total", "Scrapes that could not read the IPVS counters from the kernel.", nil),

		eventStreams:        d("vigil_api_event_streams", "Event streams (/api/events) open now.", nil),
		eventStreamsDropped: d("vigil_api_event_streams_dropped_total", "Event streams ended to make room for newer ones past the limit of streams open at once.", nil),

		buildInfo: d("vigil_build_info", "Always 1; the labels say which vigil runs: its version, the commit it was built from and the Go release.", []string{"version", "revision", "goversion"}),
	}
	return c
}

// Describe sends every description, so the registry checks what Collect
// sends against them.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.all {
		ch <- d
	}
}

// Collect reads every source once and sends the metrics.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if c.src.Build != nil {
		b := c.src.Build()
		ch <- gauge(c.d.buildInfo, 1, b.Version, b.Revision, runtime.Version())
	}
	if c.src.EventStreams != nil {
		open, dropped := c.src.EventStreams()
		ch <- gauge(c.d.eventStreams, float64(open))
		ch <- prometheus.MustNewConstMetric(c.d.eventStreamsDropped, prometheus.CounterValue, float64(dropped))
	}
	if c.src.Instances != nil {
		for _, in := range c.src.Instances() {
			c.collectVRRP(ch, in)
		}
	}
	if c.src.Checks != nil {
		for _, cs := range c.src.Checks() {
			ch <- gauge(c.d.checkUp, boolValue(cs.Up), cs.Check, cs.Target, cs.Consumer)
		}
	}
	if c.src.Services != nil {
		for _, st := range c.src.Services() {
			c.collectService(ch, st)
		}
	}
	if c.src.LVS != nil {
		stats, err := c.src.LVS()
		if err != nil {
			c.lvsErrors.Add(1)
		}
		for _, st := range stats {
			c.collectLVS(ch, st)
		}
	}
	ch <- counter(c.d.lvsErrors, c.lvsErrors.Load())
	if c.src.AccessLogs != nil {
		for _, a := range c.src.AccessLogs() {
			ch <- counter(c.d.accessLines, a.Lines, a.Target)
			ch <- counter(c.d.accessDropped, a.Dropped, a.Target)
		}
	}
}

// vrrpStates are the states vigil_vrrp_state enumerates.
func vrrpStates() []vrrp.State {
	return []vrrp.State{vrrp.Initialize, vrrp.Backup, vrrp.Master, vrrp.Fault}
}

// stateLabel is a state as a label value: keepalived's word in lower case.
func stateLabel(s vrrp.State) string { return strings.ToLower(s.String()) }

func (c *collector) collectVRRP(ch chan<- prometheus.Metric, in VRRPInstance) {
	name := in.Status.Name
	ch <- gauge(c.d.vrrpInfo, 1, name, in.Status.Interface, strconv.Itoa(int(in.Status.VRID)), strconv.Itoa(in.Status.Version))
	for _, s := range vrrpStates() {
		ch <- gauge(c.d.vrrpState, boolValue(in.Status.State == s), name, stateLabel(s))
	}
	ch <- gauge(c.d.vrrpPriority, float64(in.Status.Priority), name)
	ch <- gauge(c.d.vrrpBasePriority, float64(in.Status.Base), name)
	for _, k := range vrrp.ProblemKinds {
		on := false
		for _, p := range in.Status.Problems {
			on = on || p.Kind == k
		}
		ch <- gauge(c.d.vrrpProblem, boolValue(on), name, string(k))
	}
	st := in.Stats
	if st == nil {
		return
	}
	ch <- counter(c.d.vrrpAdvertsSent, st.AdvertsSent.Load(), name)
	ch <- counter(c.d.vrrpAdvertsReceived, st.AdvertsReceived.Load(), name)
	ch <- counter(c.d.vrrpAnnouncements, st.Announcements.Load(), name)
	ch <- counter(c.d.vrrpMasterConflicts, st.MasterConflicts.Load(), name)
	// Every reason, zeros included, so a rate() over a reason that first
	// happens mid-range is not lost to a missing series.
	for _, r := range vrrp.Reasons() {
		ch <- counter(c.d.vrrpDropped, st.Drops(r), name, string(r))
	}
}

func (c *collector) collectService(ch chan<- prometheus.Metric, st proxy.ServiceStats) {
	name := st.Name
	ch <- gauge(c.d.svcUp, boolValue(st.Up), name)
	ch <- gauge(c.d.svcActive, float64(st.Active), name)
	ch <- counter(c.d.svcTotal, st.Total, name)
	ch <- counter(c.d.svcBytesIn, st.BytesIn, name)
	ch <- counter(c.d.svcBytesOut, st.BytesOut, name)
	ch <- gauge(c.d.svcQueued, float64(st.Queued), name)
	ch <- counter(c.d.svcRetries, st.Retries, name)
	ch <- counter(c.d.svcConnectErrors, st.ConnectErrors, name)
	ch <- counter(c.d.svcTimeouts, st.Timeouts, name)
	ch <- counter(c.d.svcRefused, st.NoBackend, name, "no_backend")
	ch <- counter(c.d.svcRefused, st.QueueTimeouts, name, "queue_timeout")
	ch <- counter(c.d.svcRefused, st.QueueOverflows, name, "queue_full")
	ch <- counter(c.d.svcRefused, st.ProxyErrors, name, "proxy_header")
	if st.MaxConn > 0 {
		ch <- gauge(c.d.svcMaxConn, float64(st.MaxConn), name)
	}
	if st.Protocol == "udp" {
		ch <- counter(c.d.svcDatagramsDropped, st.Dropped, name)
	} else {
		ch <- gauge(c.d.svcMaxQueue, float64(st.MaxQueue), name)
		ch <- histogram(c.d.svcQueueWait, st.QueueWait, name)
	}
	if h := st.HTTP; h != nil {
		for class, n := range h.Requests {
			ch <- counter(c.d.svcHTTPRequests, n, name, proxy.CodeClass(class).String())
		}
		ch <- histogram(c.d.svcHTTPDuration, h.Duration, name)
	}
	for _, b := range st.Backends {
		l := []string{name, b.Group, b.Address}
		ch <- gauge(c.d.beUp, boolValue(b.Up), l...)
		ch <- gauge(c.d.beWeight, float64(b.EffectiveWeight), l...)
		ch <- gauge(c.d.beActive, float64(b.Active), l...)
		ch <- counter(c.d.beTotal, b.Total, l...)
		ch <- counter(c.d.beBytesIn, b.BytesIn, l...)
		ch <- counter(c.d.beBytesOut, b.BytesOut, l...)
		ch <- counter(c.d.beRetries, b.Retries, l...)
		ch <- counter(c.d.beConnectErrors, b.ConnectErrors, l...)
		for _, s := range []string{"ready", "drain", "maint"} {
			cur := b.Admin == s || (s == "ready" && b.Admin == "")
			ch <- gauge(c.d.beAdmin, boolValue(cur), name, b.Group, b.Address, s)
		}
		if b.MaxConn > 0 {
			ch <- gauge(c.d.beMaxConn, float64(b.MaxConn), l...)
		}
		if st.Protocol == "udp" {
			continue
		}
		ch <- histogram(c.d.beConnectTime, b.Connect, l...)
		if st.HTTP != nil {
			ch <- histogram(c.d.beResponseTime, b.Response, l...)
			for class := proxy.Code1xx; class <= proxy.Code5xx; class++ {
				ch <- counter(c.d.beResponses, b.Responses[class], name, b.Group, b.Address, class.String())
			}
		}
	}
}

// histogram exposes a proxy latency histogram in seconds.
func histogram(d *prometheus.Desc, h proxy.DurationHistogram, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b.Seconds()] = h.Cumulative[i]
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum.Seconds(), buckets, labels...)
}

func (c *collector) collectLVS(ch chan<- prometheus.Metric, st lvs.Stats) {
	name := st.Name
	ch <- counter(c.d.lvsConns, st.Connections, name)
	ch <- counter(c.d.lvsPacketsIn, st.PacketsIn, name)
	ch <- counter(c.d.lvsPacketsOut, st.PacketsOut, name)
	ch <- counter(c.d.lvsBytesIn, st.BytesIn, name)
	ch <- counter(c.d.lvsBytesOut, st.BytesOut, name)
	for _, d := range st.Destinations {
		rs := d.Addr.String()
		ch <- gauge(c.d.rsActive, float64(d.ActiveConns), name, rs)
		ch <- gauge(c.d.rsInactive, float64(d.InactiveConns), name, rs)
		ch <- gauge(c.d.rsWeight, float64(d.Weight), name, rs)
		ch <- counter(c.d.rsConns, d.Connections, name, rs)
		ch <- counter(c.d.rsPacketsIn, d.PacketsIn, name, rs)
		ch <- counter(c.d.rsPacketsOut, d.PacketsOut, name, rs)
		ch <- counter(c.d.rsBytesIn, d.BytesIn, name, rs)
		ch <- counter(c.d.rsBytesOut, d.BytesOut, name, rs)
	}
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v uint64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
