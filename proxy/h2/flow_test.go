package h2

import (
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

var textPlain = []hpack.HeaderField{{Name: "content-type", Value: "text/plain"}}

// TestStalledClient: a client that never sends WINDOW_UPDATE gets what
// its window allows and no more; Writable reports each window it opens.
func TestStalledClient(t *testing.T) {
	cl := newClient(t, Config{})
	cl.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
	cl.headers(1, true, get...)
	cl.feed()
	cl.output()
	cl.rec.take()

	if err := cl.c.WriteHeaders(1, 200, textPlain, false); err != nil {
		t.Fatal(err)
	}
	body := []byte("0123456789abcde")
	if n := cl.c.WriteData(1, body, true); n != 10 {
		t.Fatalf("WriteData took %d, want the window's 10", n)
	}
	if n := cl.c.WriteData(1, body[10:], true); n != 0 || cl.c.SendWindow(1) != 0 {
		t.Fatalf("WriteData took %d with window %d, want 0", n, cl.c.SendWindow(1))
	}
	expect(t, "frames", cl.output(), "HEADERS 1 :status=200 content-type=text/plain", `DATA 1 "0123456789"`)

	cl.fr.WriteWindowUpdate(1, 3)
	cl.feed()
	expect(t, "events", cl.rec.take(), "writable 1")
	if n := cl.c.WriteData(1, body[10:], true); n != 3 {
		t.Fatalf("WriteData took %d, want 3", n)
	}
	cl.fr.WriteWindowUpdate(1, 100)
	cl.feed()
	if n := cl.c.WriteData(1, body[13:], true); n != 2 {
		t.Fatalf("WriteData took %d, want 2", n)
	}
	expect(t, "frames", cl.output(), `DATA 1 "abc"`, `DATA 1 "de" end`)
	if cl.c.Active() != 0 {
		t.Fatalf("Active = %d after both sides ended", cl.c.Active())
	}
	if n := cl.c.WriteData(1, body, true); n != 0 {
		t.Fatalf("WriteData on a closed stream took %d", n)
	}
}

// TestConnectionSendWindow: the connection window caps all streams
// together, DATA frames respect the client's max frame size, and a
// WINDOW_UPDATE on stream 0 reports Writable(0).
func TestConnectionSendWindow(t *testing.T) {
	cl := newClient(t, Config{})
	cl.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	cl.headers(1, true, get...)
	cl.headers(3, true, get...)
	cl.feed()
	cl.output()
	for _, id := range []uint32{1, 3} {
		cl.c.WriteHeaders(id, 200, nil, false)
	}
	body := make([]byte, 70000)
	if n := cl.c.WriteData(1, body, true); n != 65535 {
		t.Fatalf("WriteData took %d, want the connection window's 65535", n)
	}
	if n := cl.c.WriteData(3, body, true); n != 0 {
		t.Fatalf("stream 3 took %d of an empty connection window", n)
	}
	var sizes []int
	for _, f := range cl.output() {
		if strings.HasPrefix(f, "DATA") {
			sizes = append(sizes, strings.Count(f, `\x00`))
		}
	}
	if len(sizes) != 4 || sizes[0] != 16384 || sizes[3] != 65535-3*16384 {
		t.Fatalf("DATA frame sizes %v", sizes)
	}
	cl.rec.take()
	cl.fr.WriteWindowUpdate(0, 100)
	cl.feed()
	expect(t, "events", cl.rec.take(), "writable 0")
	if got := cl.c.SendWindow(3); got != 100 {
		t.Fatalf("SendWindow(3) = %d, want 100", got)
	}
}

// TestReceiveWindowRefunds: Consumed refunds the stream window once half
// of it is owed; the connection window is refunded as DATA arrives.
func TestReceiveWindowRefunds(t *testing.T) {
	cl := newClient(t, Config{ConnWindow: 65535}).handshake()
	cl.headers(1, false, get...)
	for i := 0; i < 3; i++ {
		cl.fr.WriteData(1, false, make([]byte, 13000))
	}
	expect(t, "frames", cl.exchange(), "WINDOW_UPDATE 0 39000")
	cl.c.Consumed(1, 20000)
	expect(t, "frames below half the window", cl.output())
	cl.c.Consumed(1, 19000)
	expect(t, "frames", cl.output(), "WINDOW_UPDATE 1 39000")

	// DATA for a stream already gone still returns connection window.
	cl.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	cl.fr.WriteData(1, false, make([]byte, 16000))
	cl.fr.WriteData(1, false, make([]byte, 16000))
	cl.fr.WriteData(1, false, make([]byte, 16000))
	expect(t, "frames", cl.exchange(), "RST_STREAM 1 STREAM_CLOSED", "RST_STREAM 1 STREAM_CLOSED", "WINDOW_UPDATE 0 48000", "RST_STREAM 1 STREAM_CLOSED")
}

// TestInitialWindowSizeChanges: SETTINGS_INITIAL_WINDOW_SIZE moves every
// open stream's send window by the difference, each value in turn, below
// zero if need be, and an overflow is a connection error.
func TestInitialWindowSizeChanges(t *testing.T) {
	cl := newClient(t, Config{})
	cl.fr.WriteSettings(
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1},
	)
	cl.headers(1, true, get...)
	cl.feed()
	if got := cl.c.SendWindow(1); got != 1 {
		t.Fatalf("SendWindow = %d after values 100 and 1, want 1", got)
	}
	cl.c.WriteHeaders(1, 200, nil, false)
	cl.c.WriteData(1, []byte("x"), false)
	cl.rec.take()

	cl.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 5})
	cl.feed()
	expect(t, "events", cl.rec.take(), "writable 1")
	if got := cl.c.SendWindow(1); got != 4 {
		t.Fatalf("SendWindow = %d, want 4", got)
	}
	cl.c.WriteData(1, []byte("abcd"), false)

	cl.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 2})
	cl.fr.WriteWindowUpdate(1, 2)
	cl.feed()
	if got := cl.c.SendWindow(1); got != 0 {
		t.Fatalf("SendWindow = %d at window -1, want 0", got)
	}
	cl.fr.WriteWindowUpdate(1, 2)
	cl.feed()
	if got := cl.c.SendWindow(1); got != 1 {
		t.Fatalf("SendWindow = %d, want 1", got)
	}

	cl.fr.WriteWindowUpdate(1, 1<<31-1-1-10)
	cl.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 13})
	cl.feed()
	got := cl.output()
	if cl.err == nil || got[len(got)-1] != "GOAWAY 1 FLOW_CONTROL_ERROR" {
		t.Fatalf("overflowing a stream window through SETTINGS: %q, %v", got, cl.err)
	}
}

// TestGoAwayGraceful: streams accepted before GOAWAY finish, later ones
// are refused, and the caller can tell when to close.
func TestGoAwayGraceful(t *testing.T) {
	cl := newClient(t, Config{}).handshake()
	cl.headers(1, true, get...)
	cl.headers(3, false, get...)
	cl.feed()
	cl.rec.take()
	cl.c.GoAway(http2.ErrCodeNo)
	if !cl.c.Closing() {
		t.Fatal("not Closing after GoAway")
	}
	expect(t, "frames", cl.output(), "GOAWAY 3 NO_ERROR")

	cl.headers(5, true, get...)
	cl.fr.WriteData(3, true, []byte("body"))
	expect(t, "frames", cl.exchange(), "RST_STREAM 5 REFUSED_STREAM")
	expect(t, "events", cl.rec.take(), `data 3 "body" end`)
	if cl.c.Active() != 2 {
		t.Fatalf("Active = %d, want 2", cl.c.Active())
	}
	for _, id := range []uint32{1, 3} {
		if err := cl.c.WriteHeaders(id, 204, nil, true); err != nil {
			t.Fatal(err)
		}
	}
	if cl.c.Active() != 0 {
		t.Fatalf("Active = %d after the last answers, want 0", cl.c.Active())
	}
	expect(t, "frames", cl.output(), "HEADERS 1 :status=204 end", "HEADERS 3 :status=204 end")

	cl = newClient(t, Config{}).handshake()
	cl.fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	cl.feed()
	if !cl.c.Closing() {
		t.Fatal("not Closing after the client's GOAWAY")
	}
}

// TestWriteHeaders: response heads drop what HTTP/2 forbids, lower-case
// names, and split at the client's max frame size.
func TestWriteHeaders(t *testing.T) {
	cl := newClient(t, Config{}).handshake()
	cl.headers(1, true, get...)
	cl.feed()
	cl.output()
	if err := cl.c.WriteHeaders(1, 103, []hpack.HeaderField{{Name: "link", Value: "</a>"}}, false); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("~", 20000)
	fields := []hpack.HeaderField{
		{Name: ":status", Value: "500"}, {Name: "Connection", Value: "close"}, {Name: "Transfer-Encoding", Value: "chunked"},
		{Name: "Keep-Alive", Value: "1"}, {Name: "Upgrade", Value: "x"}, {Name: "Proxy-Connection", Value: "x"},
		{Name: "X-Upper", Value: "v"}, {Name: "x-long", Value: long},
	}
	if err := cl.c.WriteHeaders(1, 200, fields, false); err != nil {
		t.Fatal(err)
	}
	// The head is over 16384 bytes: HEADERS without END_HEADERS, then
	// CONTINUATION.
	out := cl.c.Output()
	first := frameHeaderLen + frameLen(out)
	h := out[first:]
	if http2.FrameType(h[3]) != http2.FrameHeaders || http2.Flags(h[4]).Has(http2.FlagHeadersEndHeaders) ||
		frameLen(h) != 16384 || http2.FrameType(h[frameHeaderLen+16384+3]) != http2.FrameContinuation {
		t.Fatalf("head not split at 16384: % x", h[:frameHeaderLen])
	}
	if err := cl.c.WriteTrailers(1, []hpack.HeaderField{{Name: "X-Sum", Value: "1"}}); err != nil {
		t.Fatal(err)
	}
	expect(t, "frames", cl.output(), "HEADERS 1 :status=103 link=</a>", "HEADERS 1 :status=200 x-upper=v x-long="+long, "HEADERS 1 x-sum=1 end")
	if cl.c.Active() != 0 {
		t.Fatal("stream open after trailers")
	}

	if err := cl.c.WriteHeaders(1, 200, nil, true); err == nil {
		t.Fatal("WriteHeaders on a closed stream succeeded")
	}
	if err := cl.c.WriteHeaders(7, 200, nil, true); err == nil {
		t.Fatal("WriteHeaders on an idle stream succeeded")
	}
	cl.headers(3, true, get...)
	cl.feed()
	if err := cl.c.WriteTrailers(3, nil); err == nil {
		t.Fatal("trailers before the head succeeded")
	}
	cl.c.WriteHeaders(3, 200, nil, false)
	if err := cl.c.WriteHeaders(3, 200, nil, false); err == nil {
		t.Fatal("a second final head succeeded")
	}
	if n := cl.c.WriteData(3, nil, true); n != 0 {
		t.Fatalf("empty WriteData took %d", n)
	}
	expect(t, "frames", cl.output(), "HEADERS 3 :status=200", `DATA 3 "" end`)
	if cl.c.Active() != 0 {
		t.Fatal("stream open after an empty END_STREAM")
	}
}

// TestAnswerInsideRequest: the handler may answer, and so close, the
// stream from inside Request.
func TestAnswerInsideRequest(t *testing.T) {
	cl := newClient(t, Config{}).handshake()
	cl.rec.onRequest = func(id uint32, r *Request, end bool) {
		cl.c.WriteHeaders(id, 200, textPlain, false)
		cl.c.WriteData(id, nil, true)
	}
	cl.headers(1, true, get...)
	cl.headers(3, false, get...)
	cl.fr.WriteData(3, true, []byte("late body"))
	expect(t, "frames", cl.exchange(),
		"HEADERS 1 :status=200 content-type=text/plain", `DATA 1 "" end`,
		"HEADERS 3 :status=200 content-type=text/plain", `DATA 3 "" end`)
	expect(t, "events", cl.rec.take(), "request 1 GET https example.com / cl=-1 end", "request 3 GET https example.com / cl=-1", `data 3 "late body" end`)
	if cl.c.Active() != 0 {
		t.Fatalf("Active = %d", cl.c.Active())
	}
}

// TestResetStream: the application's reset sends RST_STREAM and makes no
// Reset call.
func TestResetStream(t *testing.T) {
	cl := newClient(t, Config{}).handshake()
	cl.headers(1, false, get...)
	cl.feed()
	cl.rec.take()
	cl.c.ResetStream(1, http2.ErrCodeInternal)
	cl.c.ResetStream(1, http2.ErrCodeInternal)
	expect(t, "frames", cl.output(), "RST_STREAM 1 INTERNAL_ERROR")
	expect(t, "events", cl.rec.take())
	if cl.c.Active() != 0 {
		t.Fatal("stream still active")
	}
	cl.fr.WriteData(1, true, []byte("x"))
	expect(t, "frames", cl.exchange(), "RST_STREAM 1 STREAM_CLOSED")
}
