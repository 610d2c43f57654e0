package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// request sends one request to h and returns the recorded answer.
func request(h http.Handler, method, path, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func errorText(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error answer is not JSON {\"error\": ...}: %q", rec.Body.String())
	}
	return body.Error
}

func TestStatusIsTheSourceSnapshot(t *testing.T) {
	src := newFakeSource()
	rec := request(New(src, Options{}).Handler(), "GET", "/api/status", "")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var got Status
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if want := src.Status(); !reflect.DeepEqual(got, want) {
		t.Errorf("decoded status differs from the source's:\n got %+v\nwant %+v", got, want)
	}
}

func TestStatusEmptyListsAreArrays(t *testing.T) {
	src := newFakeSource()
	src.status = Status{Node: "lb1", Services: []Service{{Name: "web"}}}
	body := request(New(src, Options{}).Handler(), "GET", "/api/status", "").Body.String()
	for _, want := range []string{`"instances": []`, `"backends": []`, `"recent": []`} {
		if !strings.Contains(body, want) {
			t.Errorf("answer lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "null") || strings.Contains(body, "last_reload") {
		t.Errorf("answer has null or an empty last_reload:\n%s", body)
	}
}

// TestAdminRules: over TCP admin routes need the configured token; on the
// socket they need none. Read-only routes never need it.
func TestAdminRules(t *testing.T) {
	admin := []string{"/api/reload", "/api/backends/web/10.0.1.1:8080/drain"}
	cases := []struct {
		name       string
		configured string // Options.Token
		sent       string // bearer token sent
		socket     bool
		want       int
		why        string
	}{
		{"tcp, no token configured", "", "", false, 403, "need api token to be configured"},
		{"tcp, no token configured, one sent", "", "anything", false, 403, "need api token to be configured"},
		{"tcp, token missing", "s3cret", "", false, 403, "need Authorization: Bearer TOKEN"},
		{"tcp, wrong token", "s3cret", "s3cre", false, 403, "wrong token"},
		{"tcp, wrong token same length", "s3cret", "s3creT", false, 403, "wrong token"},
		{"tcp, right token", "s3cret", "s3cret", false, 200, ""},
		{"socket, no token", "", "", true, 200, ""},
		{"socket, token configured but not sent", "s3cret", "", true, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := New(newFakeSource(), Options{Token: c.configured})
			h := s.Handler()
			if c.socket {
				h = s.SocketHandler()
			}
			for _, path := range admin {
				rec := request(h, "POST", path, c.sent)
				if rec.Code != c.want {
					t.Errorf("POST %s: %d, want %d: %s", path, rec.Code, c.want, rec.Body)
				}
				if c.why != "" && !strings.Contains(errorText(t, rec), c.why) {
					t.Errorf("POST %s: error %q lacks %q", path, errorText(t, rec), c.why)
				}
			}
			if rec := request(h, "GET", "/api/status", ""); rec.Code != 200 {
				t.Errorf("GET /api/status without token: %d", rec.Code)
			}
		})
	}
}

// TestProfilingOnTheSocketOnly: the pprof routes answer on the unix socket
// and are not there over TCP, even with the admin token.
func TestProfilingOnTheSocketOnly(t *testing.T) {
	s := New(newFakeSource(), Options{Token: "s3cret"})
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
		if rec := request(s.SocketHandler(), "GET", path, ""); rec.Code != 200 || rec.Body.Len() == 0 {
			t.Errorf("socket GET %s: %d, %d bytes", path, rec.Code, rec.Body.Len())
		}
		if rec := request(s.Handler(), "GET", path, "s3cret"); rec.Code != 404 {
			t.Errorf("tcp GET %s with the token: %d, want 404", path, rec.Code)
		}
	}
	heap := request(s.SocketHandler(), "GET", "/debug/pprof/heap", "").Body.Bytes()
	if len(heap) < 2 || heap[0] != 0x1f || heap[1] != 0x8b {
		t.Errorf("heap profile is not gzip-compressed protobuf: % x", heap[:min(len(heap), 8)])
	}
}

func TestBearerNeedsTheScheme(t *testing.T) {
	h := New(newFakeSource(), Options{Token: "s3cret"}).Handler()
	req := httptest.NewRequest("POST", "/api/reload", nil)
	req.Header.Set("Authorization", "s3cret")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 403 {
		t.Errorf("a bare token without \"Bearer \": %d, want 403", rec.Code)
	}
}

func TestReload(t *testing.T) {
	src := newFakeSource()
	h := New(src, Options{}).SocketHandler()
	if rec := request(h, "POST", "/api/reload", ""); rec.Code != 200 || src.reloads != 1 {
		t.Errorf("reload: %d, %d reload(s): %s", rec.Code, src.reloads, rec.Body)
	}
	src.reloadErr = errors.New(`vigil.yaml:3:5: vrrp[0].priority: 300 is out of range 1..255`)
	rec := request(h, "POST", "/api/reload", "")
	if rec.Code != http.StatusUnprocessableEntity || errorText(t, rec) != src.reloadErr.Error() {
		t.Errorf("refused reload: %d %q, want 422 with the error text", rec.Code, rec.Body)
	}
	if rec := request(h, "GET", "/api/reload", ""); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/reload: %d, want 405", rec.Code)
	}
}

func TestBackendAdmin(t *testing.T) {
	src := newFakeSource()
	h := New(src, Options{}).SocketHandler()
	admin := func() string { return src.Status().Services[0].Backends[0].Admin }
	for _, c := range []struct{ action, want string }{{"drain", AdminDrain}, {"maint", AdminMaint}, {"enable", AdminNone}} {
		rec := request(h, "POST", "/api/backends/web/10.0.1.1:8080/"+c.action, "")
		if rec.Code != 200 || admin() != c.want {
			t.Errorf("%s: %d, admin %q, want %q", c.action, rec.Code, admin(), c.want)
		}
	}
	for _, c := range []struct{ path, why string }{
		{"/api/backends/nosuch/10.0.1.1:8080/drain", "no service nosuch"},
		{"/api/backends/web/10.9.9.9:80/drain", "service web has no backend 10.9.9.9:80"},
		{"/api/backends/web/10.0.1.1:8080/pause", `unknown action "pause"`},
		{"/api/backends/web/drain", "404 page not found"},
	} {
		rec := request(h, "POST", c.path, "")
		if rec.Code != 404 {
			t.Errorf("POST %s: %d, want 404", c.path, rec.Code)
			continue
		}
		if got := rec.Body.String(); !strings.Contains(got, c.why) && !strings.Contains(errorText(t, rec), c.why) {
			t.Errorf("POST %s: %q lacks %q", c.path, got, c.why)
		}
	}
}

// TestBackendAdminIPv6: an IPv6 backend's address travels escaped in the
// path and reaches the Source as written.
func TestBackendAdminIPv6(t *testing.T) {
	src := newFakeSource()
	src.status.Services[0].Backends[0].Address = "[2001:db8::1]:8080"
	h := New(src, Options{}).SocketHandler()
	if rec := request(h, "POST", "/api/backends/web/%5B2001:db8::1%5D:8080/drain", ""); rec.Code != 200 {
		t.Fatalf("%d: %s", rec.Code, rec.Body)
	}
	if got := src.Status().Services[0].Backends[0].Admin; got != AdminDrain {
		t.Errorf("admin %q, want drain", got)
	}
}

func TestBackendAdminOtherErrorIs422(t *testing.T) {
	h := New(refusingSource{newFakeSource()}, Options{}).SocketHandler()
	rec := request(h, "POST", "/api/backends/web/10.0.1.1:8080/drain", "")
	if rec.Code != 422 || errorText(t, rec) != "the daemon is stopping" {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}

type refusingSource struct{ *fakeSource }

func (refusingSource) SetBackendAdmin(string, string, string) error {
	return errors.New("the daemon is stopping")
}

func TestMetrics(t *testing.T) {
	if rec := request(New(newFakeSource(), Options{}).Handler(), "GET", "/metrics", ""); rec.Code != 404 {
		t.Errorf("no metrics handler: %d, want 404", rec.Code)
	}
	m := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "vigil_up 1\n") })
	for _, h := range []http.Handler{New(newFakeSource(), Options{Metrics: m}).Handler(), New(newFakeSource(), Options{Metrics: m}).SocketHandler()} {
		if rec := request(h, "GET", "/metrics", ""); rec.Code != 200 || rec.Body.String() != "vigil_up 1\n" {
			t.Errorf("metrics: %d %q", rec.Code, rec.Body)
		}
	}
}

func TestPage(t *testing.T) {
	h := New(newFakeSource(), Options{}).Handler()
	rec := request(h, "GET", "/", "")
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("%d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.String()
	for _, want := range []string{"data-backend", "new EventSource(\"api/events\")", "fetch(\"api/status\""} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// No external assets: nothing is loaded from another origin.
	for _, bad := range []string{"http://", "https://", "<link", "src="} {
		if strings.Contains(body, bad) {
			t.Errorf("page refers to an external asset (%q)", bad)
		}
	}
	if rec := request(h, "GET", "/nope", ""); rec.Code != 404 {
		t.Errorf("GET /nope: %d, want 404", rec.Code)
	}
}

// sseReader reads a server-sent event stream line by line.
type sseReader struct {
	t  *testing.T
	sc *bufio.Scanner
}

// next returns the next non-empty line.
func (r *sseReader) next() string {
	r.t.Helper()
	for r.sc.Scan() {
		if line := r.sc.Text(); line != "" {
			return line
		}
	}
	r.t.Fatalf("stream ended: %v", r.sc.Err())
	return ""
}

// nextEvent skips keep-alive comments and decodes the next data message.
func (r *sseReader) nextEvent() Event {
	r.t.Helper()
	for {
		line := r.next()
		if strings.HasPrefix(line, ":") {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			r.t.Fatalf("unexpected line %q", line)
		}
		var ev Event
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			r.t.Fatalf("data is not an Event: %q: %v", data, err)
		}
		return ev
	}
}

// openEvents opens GET /api/events at base and reads up to the first
// comment, so the subscription is in place when it returns.
func openEvents(t *testing.T, ctx context.Context, client *http.Client, base string) (*sseReader, *http.Response) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/events", nil)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	r := &sseReader{t: t, sc: bufio.NewScanner(res.Body)}
	if line := r.next(); line != ": subscribed" {
		t.Fatalf("first line %q, want the subscribed comment", line)
	}
	return r, res
}

// waitFor fails the test unless ch delivers within a generous bound; the
// bound only stops a broken test from hanging.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestEventsStreamDeliversAndEndsWithTheClient(t *testing.T) {
	src := newFakeSource()
	ts := httptest.NewServer(New(src, Options{}).Handler())
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, res := openEvents(t, ctx, ts.Client(), ts.URL)
	defer res.Body.Close()

	sent := []Event{
		{Time: t0, Kind: KindBackend, Subject: "web/10.0.1.1:8080", From: "up", To: "down", Reason: "timeout"},
		{Time: t0.Add(time.Second), Kind: KindVRRP, Subject: "VI_1", From: "backup", To: "master", Reason: "line\nbreak"},
	}
	for _, ev := range sent {
		src.emit(ev)
	}
	for _, want := range sent {
		if got := r.nextEvent(); !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	}
	// The client goes: the handler must give up its subscription.
	cancel()
	waitFor(t, src.unsubscribed, "the handler to cancel its subscription after the client went")
}

func TestEventsKeepAlive(t *testing.T) {
	src := newFakeSource()
	s := New(src, Options{})
	s.timing.keepAlive = 10 * time.Millisecond
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, res := openEvents(t, ctx, ts.Client(), ts.URL)
	defer res.Body.Close()
	for range 3 {
		if line := r.next(); line != ": keep-alive" {
			t.Fatalf("line %q, want a keep-alive comment", line)
		}
	}
}

func TestEventsEndWhenTheSourceCloses(t *testing.T) {
	src := &closingSource{newFakeSource()}
	ts := httptest.NewServer(New(src, Options{}).Handler())
	defer ts.Close()
	res, err := ts.Client().Get(ts.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || string(b) != ": subscribed\n\n" {
		t.Errorf("stream %q, %v; want it to end after the subscribed comment", b, err)
	}
}

// closingSource's subscriptions are already closed, as when the daemon stops.
type closingSource struct{ *fakeSource }

func (closingSource) Events() (<-chan Event, func()) {
	ch := make(chan Event)
	close(ch)
	return ch, func() {}
}

// serve runs s.Serve on ln until the test ends; the returned channel gives
// Serve's result.
func serve(t *testing.T, s *Server, ln net.Listener) (context.CancelFunc, <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		done <- s.Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		<-finished
	})
	return cancel, done
}

// TestEventsOutliveServerTimeouts: the server's read and write timeouts
// bound ordinary requests but must not cut an event stream. The stream is
// kept open until keep-alives have spanned several times both timeouts.
func TestEventsOutliveServerTimeouts(t *testing.T) {
	src := newFakeSource()
	s := New(src, Options{})
	s.timing.readTimeout = 50 * time.Millisecond
	s.timing.writeTimeout = 50 * time.Millisecond
	s.timing.keepAlive = 10 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, s, ln)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, res := openEvents(t, ctx, http.DefaultClient, "http://"+ln.Addr().String())
	defer res.Body.Close()
	start := time.Now()
	for time.Since(start) < 4*s.timing.writeTimeout {
		if line := r.next(); line != ": keep-alive" {
			t.Fatalf("line %q", line)
		}
	}
	want := Event{Time: t0, Kind: KindReload, Subject: "/etc/vigil/vigil.yaml", To: "applied"}
	src.emit(want)
	if got := r.nextEvent(); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// TestServeShutsDownWithOpenStreams: ending ctx ends open event streams, so
// Serve returns at once rather than after its shutdown timeout.
func TestServeShutsDownWithOpenStreams(t *testing.T) {
	src := newFakeSource()
	s := New(src, Options{})
	s.timing.shutdownTimeout = time.Minute
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop, done := serve(t, s, ln)
	_, res := openEvents(t, context.Background(), http.DefaultClient, "http://"+ln.Addr().String())
	defer res.Body.Close()
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return with an event stream open")
	}
	waitFor(t, src.unsubscribed, "the stream's subscription to end")
	if b, err := io.ReadAll(res.Body); err != nil || len(b) != 0 {
		t.Errorf("stream after shutdown: %q, %v; want a clean end", b, err)
	}
}

func TestServeUsesSocketRulesOnUnixListeners(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.sock")
	ln, err := ListenSocket(path, "")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, New(newFakeSource(), Options{}), ln)
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Reload(context.Background()); err != nil {
		t.Errorf("reload over the socket without a token: %v", err)
	}
}

func TestListenSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "vigil")
	path := filepath.Join(dir, "vigil.sock")
	ln, err := ListenSocket(path, "")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("socket mode %v (%v), want 0660 socket", fi.Mode(), err)
	}
	if di, err := os.Stat(dir); err != nil || di.Mode().Perm() != 0o750 {
		t.Errorf("directory mode %v (%v), want 0750", di.Mode(), err)
	}

	// A live socket is not taken over.
	if _, err := ListenSocket(path, ""); err == nil || !strings.Contains(err.Error(), "another process is serving this socket") {
		t.Errorf("second listener on a live socket: %v", err)
	}

	// A socket left behind by a process that died is replaced.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the stale socket should still exist: %v", err)
	}
	ln, err = ListenSocket(path, "")
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	ln.Close()

	// Anything else at the path is left alone.
	file := filepath.Join(dir, "not-a-socket")
	os.WriteFile(file, []byte("keep me"), 0o600)
	if _, err := ListenSocket(file, ""); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("regular file at the path: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Errorf("the regular file was changed")
	}
}

// TestSocketGroup: api.socket_group gives the socket to a group (by name
// or number), whose members may then use the CLI; "" gives it back.
func TestSocketGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root may give a file to another group")
	}
	g, err := user.LookupGroup("daemon")
	if err != nil {
		t.Skip("no group named daemon here")
	}
	gid, _ := strconv.Atoi(g.Gid)
	path := filepath.Join(t.TempDir(), "vigil.sock")
	ln, err := ListenSocket(path, "daemon")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	groupOf := func() int {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return int(fi.Sys().(*syscall.Stat_t).Gid)
	}
	if got := groupOf(); got != gid {
		t.Errorf("socket group %d, want daemon's %d", got, gid)
	}
	if err := SetSocketGroup(path, ""); err != nil || groupOf() != os.Getegid() {
		t.Errorf("back to vigil's group: %v, group %d", err, groupOf())
	}
	if err := SetSocketGroup(path, g.Gid); err != nil || groupOf() != gid {
		t.Errorf("by number: %v, group %d", err, groupOf())
	}
	if err := SetSocketGroup(path, "no-such-group-here"); err == nil {
		t.Error("an unknown group was accepted")
	}
}
