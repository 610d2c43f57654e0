package proxy

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"vigil/config"
)

func TestClassOf(t *testing.T) {
	tests := []struct {
		status int
		want   CodeClass
	}{
		{0, CodeError},
		{99, CodeError},
		{100, Code1xx},
		{101, Code1xx},
		{200, Code2xx},
		{204, Code2xx},
		{302, Code3xx},
		{404, Code4xx},
		{499, Code4xx},
		{500, Code5xx},
		{599, Code5xx},
		{600, CodeError},
	}
	for _, tc := range tests {
		if got := classOf(tc.status); got != tc.want {
			t.Errorf("classOf(%d) = %v, want %v", tc.status, got, tc.want)
		}
	}
	for c, want := range []string{"1xx", "2xx", "3xx", "4xx", "5xx", "error"} {
		if got := CodeClass(c).String(); got != want {
			t.Errorf("CodeClass(%d) = %q, want %q", c, got, want)
		}
	}
}

func TestHTTPMetricsBuckets(t *testing.T) {
	var m httpMetrics
	for _, d := range []time.Duration{
		0, time.Millisecond, // <= 1ms, the bound is inclusive
		time.Millisecond + 1, 2 * time.Millisecond, // <= 2.5ms
		time.Second, // <= 1s
		time.Minute, // +Inf only
	} {
		m.observe(Code2xx, d)
	}
	m.observe(CodeError, 0)
	st := m.snapshot()
	if st.Requests != [NumCodeClasses]uint64{0, 6, 0, 0, 0, 1} {
		t.Errorf("requests %v", st.Requests)
	}
	h := st.Duration
	if len(h.Bounds) != len(h.Cumulative) || h.Bounds[0] != 100*time.Microsecond || h.Bounds[len(h.Bounds)-1] != 10*time.Second {
		t.Fatalf("bounds %v, cumulative %v", h.Bounds, h.Cumulative)
	}
	want := map[time.Duration]uint64{
		100 * time.Microsecond:  2, // the two zeros
		time.Millisecond:        3,
		2500 * time.Microsecond: 5,
		500 * time.Millisecond:  5,
		time.Second:             6,
		10 * time.Second:        6,
	}
	for i, b := range h.Bounds {
		if w, ok := want[b]; ok && h.Cumulative[i] != w {
			t.Errorf("bucket <= %v: %d, want %d", b, h.Cumulative[i], w)
		}
		if i > 0 && h.Cumulative[i] < h.Cumulative[i-1] {
			t.Errorf("bucket <= %v not cumulative: %v", b, h.Cumulative)
		}
	}
	if h.Count != 7 {
		t.Errorf("count %d, want 7", h.Count)
	}
	if wantSum := time.Minute + time.Second + 4*time.Millisecond + 1; h.Sum != wantSum {
		t.Errorf("sum %v, want %v", h.Sum, wantSum)
	}
}

// TestHTTPStatsCodeClasses sends requests that end every way the fast path
// can end and checks each lands in its class exactly once.
func TestHTTPStatsCodeClasses(t *testing.T) {
	checkGoroutines(t)
	be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			w.WriteHeader(404)
		case "/broken":
			w.WriteHeader(503)
		case "/moved":
			http.Redirect(w, r, "/", 302)
		case "/slow":
			time.Sleep(20 * time.Millisecond)
		}
	}))
	r := startService(t, httpCfg(be.addr))
	if st := r.Stats(); st.HTTP == nil || st.HTTP.Requests != [NumCodeClasses]uint64{} || st.HTTP.Duration.Count != 0 {
		t.Fatalf("fresh service: %+v", st.HTTP)
	}
	c := httpClient(t)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, p := range []string{"/", "/slow", "/moved", "/missing", "/broken"} {
		get(t, c, "http://"+r.addr+p)
	}
	if got := rawRequest(t, r.addr, "GET / HTTP/1.1\r\nBad Header: y\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 400 ") {
		t.Fatalf("bad request: %q", got)
	}
	r.SetBackendUp(be.addr, false, "test")
	if got := rawRequest(t, r.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 503 ") {
		t.Fatalf("no backend: %q", got)
	}

	// The count lands when serve returns, just after the client has the
	// response; wait for all seven.
	st := r.waitStats(t, "seven requests", func(st ServiceStats) bool { return st.HTTP.Duration.Count == 7 })
	if want := ([NumCodeClasses]uint64{0, 2, 1, 1, 1, 2}); st.HTTP.Requests != want {
		t.Errorf("requests by class %v, want %v", st.HTTP.Requests, want)
	}
	if st.HTTP.Duration.Sum < 20*time.Millisecond {
		t.Errorf("duration sum %v does not include the slow request", st.HTTP.Duration.Sum)
	}
	// The backend's own view: the five responses it sent, by class and
	// time to their heads; the proxy's 400 and 503 are not its.
	b := st.Backends[0]
	if want := ([NumCodeClasses]uint64{0, 2, 1, 1, 1, 0}); b.Responses != want {
		t.Errorf("backend responses by class %v, want %v", b.Responses, want)
	}
	if b.Response.Count != 5 || b.Response.Sum < 20*time.Millisecond {
		t.Errorf("backend response time: %d observations summing %v, want 5 with the slow one's 20ms", b.Response.Count, b.Response.Sum)
	}
	if b.Connect.Count < 1 || b.Connect.Count > 5 || b.Connect.Count != b.Total {
		t.Errorf("backend connect time: %d observations for %d connections made", b.Connect.Count, b.Total)
	}
	// Five requests got a slot at once (well under a second however
	// loaded the machine); the 400 and the 503 never had one.
	if q := st.QueueWait; q.Count != 5 || q.Bounds[12] != time.Second || q.Cumulative[12] != 5 {
		t.Errorf("queue wait: %+v, want 5 observations under a second", q)
	}
	if want := httpCfg(be.addr).MaxQueue; st.MaxQueue != want || want == 0 {
		t.Errorf("max queue %d, want the config's %d", st.MaxQueue, want)
	}

	tcp := startService(t, baseCfg(be.addr))
	if st := tcp.Stats(); st.HTTP != nil {
		t.Errorf("tcp service has HTTP stats %+v", st.HTTP)
	}
	conn, err := net.Dial("tcp", tcp.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st = tcp.waitStats(t, "a tcp connection to the backend", func(st ServiceStats) bool { return st.Backends[0].Total == 1 })
	if st.QueueWait.Count != 1 || st.Backends[0].Connect.Count != 1 {
		t.Errorf("tcp: queue wait %d and connect %d observations, want 1 each", st.QueueWait.Count, st.Backends[0].Connect.Count)
	}
}

func TestHTTPStatsRouteGroups(t *testing.T) {
	be := startHTTPBackend(t, nameHandler("x"))
	cfg := httpCfg(be.addr)
	cfg.Routes = []config.Route{{PathPrefix: "/api/", Backends: []config.Backend{{Address: be.addr, Weight: 1}}}}
	r := startService(t, cfg)
	st := r.Stats()
	if len(st.Backends) != 2 {
		t.Fatalf("backends %+v", st.Backends)
	}
	if st.Backends[0].Group != "" || st.Backends[1].Group != "t/route0" {
		t.Errorf("groups %q, %q; want \"\" and \"t/route0\"", st.Backends[0].Group, st.Backends[1].Group)
	}
}
