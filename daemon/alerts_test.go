package daemon

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"vigil/alerts"
	"vigil/api"
	"vigil/config"
	"vigil/metrics"
)

func TestAlertEvent(t *testing.T) {
	at := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   api.Event
		want alerts.Event
		ok   bool
	}{
		{api.Event{Kind: api.KindVRRP, Subject: "VI_1", From: "backup", To: "master", Reason: "r", Time: at},
			alerts.Event{Kind: "vrrp", Subject: "VI_1", From: "BACKUP", To: "MASTER", Reason: "r", Time: at}, true},
		{api.Event{Kind: api.KindBackend, Subject: "web/10.0.0.21:80", From: "up", To: "down", Reason: "connect refused"},
			alerts.Event{Kind: "backend", Subject: "web/10.0.0.21:80", From: "up", To: "down", Reason: "connect refused"}, true},
		{api.Event{Kind: api.KindService, Subject: "web", From: "down", To: "up"},
			alerts.Event{Kind: "service", Subject: "web", From: "down", To: "up"}, true},
		{api.Event{Kind: api.KindReload, Subject: "/etc/vigil/vigil.yaml", To: "applied"}, alerts.Event{}, false},
	} {
		got, ok := alertEvent(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("alertEvent(%+v) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// hookReceiver records the subjects POSTed to it.
type hookReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	subjects []string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var e alerts.Event
		body, _ := io.ReadAll(req.Body)
		json.Unmarshal(body, &e)
		r.mu.Lock()
		r.subjects = append(r.subjects, e.Node+" "+e.Subject)
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *hookReceiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.subjects...)
}

// Events reach the running config's webhook; a reload's replacement gets
// what follows, and stopping flushes what was published before it.
func TestAlertingReplaceAndStop(t *testing.T) {
	d := &Daemon{log: slog.New(slog.DiscardHandler), metrics: metrics.New(metrics.Sources{})}
	first, second := newHookReceiver(t), newHookReceiver(t)
	dispatcher := func(node, url string) *alerts.Dispatcher {
		cfg := &config.Config{Node: node, Alerts: config.Alerts{Webhooks: []config.Webhook{{URL: url, Timeout: config.Duration(time.Second)}}}}
		disp, err := d.newDispatcher(cfg)
		if err != nil || disp == nil {
			t.Fatalf("newDispatcher: %v, %v", disp, err)
		}
		return disp
	}
	if disp, err := d.newDispatcher(&config.Config{}); disp != nil || err != nil {
		t.Errorf("no alerts configured: dispatcher %v, %v", disp, err)
	}
	a := d.startAlerts(dispatcher("lb1", first.URL))
	d.events.publish(api.Event{Kind: api.KindReload, Subject: "vigil.yaml"}) // not an alert
	d.events.publish(api.Event{Kind: api.KindVRRP, Subject: "VI_1", From: "backup", To: "master"})
	waitUntil(t, func() bool { return len(first.got()) == 1 })

	a.replace(dispatcher("lb1-renamed", second.URL))
	d.events.publish(api.Event{Kind: api.KindService, Subject: "web", From: "up", To: "down"})
	d.events.publish(api.Event{Kind: api.KindVRRP, Subject: "VI_1", From: "master", To: "init"})
	a.stop() // flushes: no wait needed

	if got := first.got(); len(got) != 1 || got[0] != "lb1 VI_1" {
		t.Errorf("first receiver got %q, want [lb1 VI_1]", got)
	}
	if got := second.got(); len(got) != 2 || got[0] != "lb1-renamed web" || got[1] != "lb1-renamed VI_1" {
		t.Errorf("second receiver got %q, want [lb1-renamed web, lb1-renamed VI_1]", got)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
