package api

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dialFake serves a fake Source on a unix socket in a temp dir and returns a
// client for it.
func dialFake(t *testing.T) (*fakeSource, *Client) {
	t.Helper()
	src := newFakeSource()
	path := filepath.Join(t.TempDir(), "vigil.sock")
	ln, err := ListenSocket(path, "")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, New(src, Options{}), ln)
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return src, c
}

func TestClient(t *testing.T) {
	src, c := dialFake(t)
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil || st.Node != "lb1" || len(st.Services) != 2 || st.Services[0].Backends[2].Admin != AdminDrain {
		t.Fatalf("status %+v, %v", st, err)
	}
	if err := c.Reload(ctx); err != nil || src.reloads != 1 {
		t.Errorf("reload: %v, %d reload(s)", err, src.reloads)
	}
	src.reloadErr = errors.New("vrrp[0].vrid: 300 is out of range 1..255")
	var apiErr *Error
	if err := c.Reload(ctx); !errors.As(err, &apiErr) || apiErr.Code != 422 || apiErr.Message != src.reloadErr.Error() {
		t.Errorf("refused reload: %v", err)
	}
	if err := c.SetBackendAdmin(ctx, "web", "10.0.1.1:8080", ActionMaint); err != nil || src.Status().Services[0].Backends[0].Admin != AdminMaint {
		t.Errorf("maint: %v", err)
	}
	if err := c.SetBackendAdmin(ctx, "web", "10.0.9.9:1", ActionDrain); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown backend: %v, want ErrNotFound", err)
	}
}

func TestClientProfile(t *testing.T) {
	_, c := dialFake(t)
	var b strings.Builder
	if err := c.Profile(context.Background(), "goroutine", 0, &b); err != nil || !strings.HasPrefix(b.String(), "\x1f\x8b") {
		t.Errorf("goroutine profile: %v, %d bytes", err, b.Len())
	}
	b.Reset()
	// A profile the runtime does not have is the server's 404, as an *Error.
	err := c.Profile(context.Background(), "nope", 0, &b)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "Unknown profile") {
		t.Errorf("unknown profile: %v", err)
	}
}

func TestClientEvents(t *testing.T) {
	src, c := dialFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, src.subscribed, "the server to subscribe")
	want := Event{Time: t0, Kind: KindService, Subject: "dns", From: "up", To: "down", Reason: "no backend up"}
	src.emit(want)
	select {
	case got := <-ch:
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	cancel()
	for range ch { // must be closed once ctx ends
	}
	waitFor(t, src.unsubscribed, "the server to end the subscription")
}

func TestDialReportsAMissingDaemon(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.sock")
	_, err := Dial(path)
	if err == nil || !strings.Contains(err.Error(), "connect to vigil at "+path+" (is it running?") {
		t.Errorf("Dial with no daemon: %v", err)
	}
}

func TestReadEventsJoinsDataLinesAndSkipsComments(t *testing.T) {
	stream := ": subscribed\n\n" +
		"data: {\"kind\":\"vrrp\",\n" +
		"data: \"subject\":\"VI_1\"}\n\n" +
		": keep-alive\n\n" +
		"data: not json\n\n" +
		"data:{\"kind\":\"reload\"}\n\n"
	ch := make(chan Event, 4)
	readEvents(context.Background(), strings.NewReader(stream), ch)
	close(ch)
	var got []Event
	for ev := range ch {
		got = append(got, ev)
	}
	if len(got) != 2 || got[0].Kind != KindVRRP || got[0].Subject != "VI_1" || got[1].Kind != KindReload {
		t.Errorf("got %+v", got)
	}
}
