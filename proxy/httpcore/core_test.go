package httpcore

import (
	"net/netip"
	"testing"
	"time"
)

func TestAppendRequestHead(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		fwd            Forwarding
	}{
		{"hop-by-hop dropped", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Drop\r\nKeep-Alive: 5\r\nX-Drop: a\r\nX-Keep: b\r\nTE: trailers\r\nProxy-Connection: x\r\n\r\n",
			"GET /a HTTP/1.1\r\nHost: x\r\nX-Keep: b\r\n\r\n", Forwarding{}},
		{"one canonical length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 005, 5\r\nContent-Length: 5\r\n\r\n",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", Forwarding{}},
		{"h2c upgrade stripped", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAA\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Forwarding{}},
		{"websocket kept", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", Forwarding{}},
		{"upgrade without Connection: upgrade dropped", "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Forwarding{}},
		{"expect answered here", "PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
			"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n", Forwarding{}},
		{"forwarded fields", "GET / HTTP/1.1\r\nHost: h:81\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: h:81\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, 192.0.2.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h:81\r\n\r\n",
			Forwarding{Add: true, ClientIP: "192.0.2.1", Proto: "http"}},
		{"HTTP/1.0 stays 1.0", "GET / HTTP/1.0\r\n\r\n", "GET / HTTP/1.0\r\n\r\n", Forwarding{}},
	} {
		h := mustRequest(t, tc.in)
		if got := string(AppendRequestHead(nil, h, tc.fwd)); got != tc.want {
			t.Errorf("%s:\n%q\nwant\n%q", tc.name, got, tc.want)
		}
	}
}

func TestAppendResponseHead(t *testing.T) {
	var h Head
	if _, err := h.Parse([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\nConnection: X-A\r\nX-A: 1\r\nKeep-Alive: timeout=5\r\nUpgrade: x\r\nX-B: 2\r\n\r\n"), false); err != nil {
		t.Fatal(err)
	}
	got := string(AppendResponseHead(nil, &h, []byte("Set-Cookie: S=1\r\n"), true))
	want := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-B: 2\r\nSet-Cookie: S=1\r\nConnection: close\r\n\r\n"
	if got != want {
		t.Errorf("%q\nwant\n%q", got, want)
	}
}

func TestRouter(t *testing.T) {
	r := NewRouter([]RouteSpec{
		{Hosts: []string{"API.example.com"}, PathPrefix: "/v1", Group: 1},
		{Hosts: []string{"*.static.example"}, Group: 2},
		{PathPrefix: "/img", Group: 0},
	}, []Balance{BalanceSource, BalanceURI, BalancePlain}, "SRV")
	for _, tc := range []struct {
		req          string
		group        int
		key, cookie  string
		keyIsAddress bool
	}{
		{req: "GET /v1/x?q HTTP/1.1\r\nHost: api.example.com:8080\r\nCookie: a=1; SRV=abc\r\n\r\n", group: 1, key: "/v1/x", cookie: "abc"},
		{req: "GET http://api.example.com/v1 HTTP/1.1\r\nHost: api.example.com\r\n\r\n", group: 1, key: "/v1"},
		{req: "GET /v2 HTTP/1.1\r\nHost: api.example.com\r\n\r\n", group: 0, keyIsAddress: true},
		{req: "GET / HTTP/1.1\r\nHost: a.static.example\r\n\r\n", group: 2},
		{req: "GET / HTTP/1.1\r\nHost: static.example\r\n\r\n", group: 0, keyIsAddress: true},
	} {
		d := r.Route(mustRequest(t, tc.req), []byte{10, 0, 0, 1})
		key := tc.key
		if tc.keyIsAddress {
			key = "\x0a\x00\x00\x01"
		}
		if d.Group != tc.group || string(d.Key) != key || string(d.Cookie) != tc.cookie {
			t.Errorf("%q: %+v", tc.req, d)
		}
	}
}

func TestPolicy(t *testing.T) {
	get, post := mustRequest(t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), mustRequest(t, "POST / HTTP/1.1\r\nHost: x\r\n\r\n")
	put := mustRequest(t, "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n")
	for _, tc := range []struct {
		r                                          *Head
		reused, responseStarted, replayed, timeout bool
		want                                       bool
	}{
		{get, true, false, false, false, true},
		{get, false, false, false, false, false}, // a new connection failed: nothing to blame on reuse
		{get, true, true, false, false, false},
		{get, true, false, true, false, false},
		{get, true, false, false, true, false},
		{post, true, false, false, false, false},
		{put, true, false, false, false, false}, // its body is gone
	} {
		if got := MayReplay(tc.r, tc.reused, tc.responseStarted, tc.replayed, tc.timeout); got != tc.want {
			t.Errorf("%s %+v: %v", tc.r.Bytes(tc.r.Method), tc, got)
		}
	}
	resp := func(s string) *Head {
		var h Head
		if _, err := h.Parse([]byte(s), false); err != nil {
			t.Fatal(err)
		}
		return &h
	}
	ok, closing := resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), resp("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
	if c, b := KeepAlive(get, ok, Length); !c || !b {
		t.Error("keep-alive lost")
	}
	if c, b := KeepAlive(get, closing, Length); !c || b {
		t.Error("backend's close must close the backend connection only")
	}
	if c, b := KeepAlive(get, resp("HTTP/1.1 200 OK\r\n\r\n"), UntilClose); c || b {
		t.Error("a close-delimited body closes both")
	}
}

func TestTermination(t *testing.T) {
	var e Exchange
	e.Begin(time.Unix(0, 0), netip.AddrPort{}, "HTTP/1.1")
	if got := term(e); got != "----" {
		t.Errorf("normal: %s", got)
	}
	e.Fail(CauseServerTimeout, StageHeaders, 504)
	e.Fail(CauseClient, StageData, 0) // the first cause stays
	if got := term(e); got != "sH--" || e.Status != 504 || e.FromBackend {
		t.Errorf("504: %s %d", got, e.Status)
	}
	e.Begin(time.Unix(0, 0), netip.AddrPort{}, "HTTP/1.1")
	e.CookieIn, e.CookieOut, e.Status, e.FromBackend = CookieNone, CookieInserted, 200, true
	if got := term(e); got != "--NI" {
		t.Errorf("sticky: %s", got)
	}
	e.HeadDone, e.Queued, e.Assigned, e.Connected, e.ResponseHead, e.End = 1, 1, 3, 6, 10, 15
	tr, tw, tc, tresp, ta := e.Timers()
	if tr != 1 || tw != 2 || tc != 3 || tresp != 4 || ta != 15 {
		t.Errorf("timers %v %v %v %v %v", tr, tw, tc, tresp, ta)
	}
	e.Begin(time.Unix(0, 0), netip.AddrPort{}, "HTTP/1.1")
	e.End = 3
	if tr, tw, tc, tresp, ta := e.Timers(); tr != -1 || tw != -1 || tc != -1 || tresp != -1 || ta != 3 {
		t.Errorf("unreached timers %v %v %v %v %v", tr, tw, tc, tresp, ta)
	}
}

func term(e Exchange) string { t := e.Termination(); return string(t[:]) }
