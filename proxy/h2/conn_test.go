package h2

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

func TestPrefaceAndSettings(t *testing.T) {
	cl := newClient(t, Config{})
	expect(t, "initial output", cl.output(),
		"SETTINGS ENABLE_PUSH=0 MAX_CONCURRENT_STREAMS=100 INITIAL_WINDOW_SIZE=65535 MAX_FRAME_SIZE=16384 MAX_HEADER_LIST_SIZE=65536",
		"WINDOW_UPDATE 0 983041")

	// A preface arriving a byte at a time is consumed only when whole.
	for i := 1; i < len(http2.ClientPreface); i++ {
		if n, err := cl.c.Feed([]byte(http2.ClientPreface[:i])); n != 0 || err != nil {
			t.Fatalf("Feed(%d preface bytes) = %d, %v", i, n, err)
		}
	}
	cl.ping()
	expect(t, "after preface", cl.exchange(), pingAck)

	bad := NewConn(Config{}, &recorder{})
	if _, err := bad.Feed([]byte("GET / HTTP/1.1\r\n")); err == nil {
		t.Fatal("HTTP/1.1 request accepted as preface")
	}
	if !bytes.HasSuffix(bad.Output(), []byte("invalid client preface")) {
		t.Fatal("no GOAWAY after a bad preface")
	}
}

// TestFrames covers the rules of RFC 9113 the core owns: each case writes
// client frames after the handshake and lists the frames that come back
// and the handler calls made. A connection error ends with GOAWAY and
// Feed's error; a trailing PING shows the connection survived.
func TestFrames(t *testing.T) {
	big := strings.Repeat("~", 16385) // 13 bits each in Huffman code
	tests := []struct {
		name   string
		cfg    Config
		client func(cl *client)
		frames []string
		events []string
	}{
		{
			name:   "SETTINGS acknowledged, unknown setting ignored",
			client: func(cl *client) { cl.fr.WriteSettings(http2.Setting{ID: 0x99, Val: 7}); cl.ping() },
			frames: []string{"SETTINGS ack", pingAck},
		},
		{
			name:   "ENABLE_PUSH 2",
			client: func(cl *client) { cl.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 2}) },
			frames: []string{"GOAWAY 0 PROTOCOL_ERROR"},
		},
		{
			name:   "INITIAL_WINDOW_SIZE above 2^31-1",
			client: func(cl *client) { cl.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31}) },
			frames: []string{"GOAWAY 0 FLOW_CONTROL_ERROR"},
		},
		{
			name:   "MAX_FRAME_SIZE below 16384",
			client: func(cl *client) { cl.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 16383}) },
			frames: []string{"GOAWAY 0 PROTOCOL_ERROR"},
		},
		{
			name:   "MAX_FRAME_SIZE above 2^24-1",
			client: func(cl *client) { cl.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 24}) },
			frames: []string{"GOAWAY 0 PROTOCOL_ERROR"},
		},
		{
			name:   "SETTINGS ack with payload",
			client: func(cl *client) { cl.fr.WriteRawFrame(http2.FrameSettings, http2.FlagSettingsAck, 0, make([]byte, 6)) },
			frames: []string{"GOAWAY 0 FRAME_SIZE_ERROR"},
		},
		{
			name:   "SETTINGS length not a multiple of 6",
			client: func(cl *client) { cl.fr.WriteRawFrame(http2.FrameSettings, 0, 0, make([]byte, 5)) },
			frames: []string{"GOAWAY 0 FRAME_SIZE_ERROR"},
		},
		{
			name:   "SETTINGS on a stream",
			client: func(cl *client) { cl.fr.WriteRawFrame(http2.FrameSettings, 0, 1, nil) },
			frames: []string{"GOAWAY 0 PROTOCOL_ERROR"},
		},
		{
			name:   "PING ack is not answered",
			client: func(cl *client) { cl.fr.WritePing(true, [8]byte{}); cl.ping() },
			frames: []string{pingAck},
		},
		{
			name:   "PING of length 6",
			client: func(cl *client) { cl.fr.WriteRawFrame(http2.FramePing, 0, 0, make([]byte, 6)) },
			frames: []string{"GOAWAY 0 FRAME_SIZE_ERROR"},
		},
		{
			name:   "PING on a stream",
			client: func(cl *client) { cl.fr.WriteRawFrame(http2.FramePing, 0, 1, make([]byte, 8)) },
			frames: []string{"GOAWAY 0 PROTOCOL_ERROR"},
		},
		{
			name:   "unknown frame type and flags ignored",
			client: func(cl *client) { cl.fr.WriteRawFrame(0xee, 0xff, 0, []byte("hi")); cl.ping() },
			frames: []string{pingAck},
		},
		{
			name:   "DATA larger than MAX_FRAME_SIZE",
			client: func(cl *client) { cl.headers(1, false, get...); cl.fr.WriteData(1, true, []byte(big)) },
			frames: []string{"GOAWAY 1 FRAME_SIZE_ERROR"},
			events: []string{"request 1 GET https example.com / cl=-1"},
		},
		{
			name: "HEADERS larger than MAX_FRAME_SIZE",
			client: func(cl *client) {
				cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.block(with(get, "x", big)...), EndStream: true, EndHeaders: true})
			},
			frames: []string{"GOAWAY 0 FRAME_SIZE_ERROR"},
		},
		{
			name:   "HEADERS on an even stream",
			client: func(cl *client) { cl.headers(2, true, get...) },
			frames: []string{"GOAWAY 0 PROTOCOL_ERROR"},
		},
		{
			name:   "HEADERS on stream 0",
			client: func(cl *client) { cl.headers(0, true, get...) },
			frames: []string{"GOAWAY 0 PROTOCOL_ERROR"},
		},
		{
			name:   "decreasing stream id",
			client: func(cl *client) { cl.headers(5, false, get...); cl.headers(3, false, get...) },
			frames: []string{"GOAWAY 5 PROTOCOL_ERROR"},
			events: []string{"request 5 GET https example.com / cl=-1"},
		},
		{
			name:   "DATA on an idle stream",
			client: func(cl *client) { cl.fr.WriteData(1, true, []byte("x")) },
			frames: []string{"GOAWAY 0 PROTOCOL_ERROR"},
		},
		{
			name:   "DATA on stream 0",
			client: func(cl *client) { cl.fr.WriteData(0, true, []byte("x")) },
			frames: []string{"GOAWAY 0 PROTOCOL_ERROR"},
		},
		{
			name:   "DATA on a half-closed (remote) stream",
			client: func(cl *client) { cl.headers(1, true, get...); cl.fr.WriteData(1, true, []byte("x")); cl.ping() },
			frames: []string{"RST_STREAM 1 STREAM_CLOSED", pingAck},
			events: []string{"request 1 GET https example.com / cl=-1 end", "reset 1 STREAM_CLOSED"},
		},
		{
			name: "DATA on a closed stream",
			client: func(cl *client) {
				cl.headers(1, false, get...)
				cl.fr.WriteRSTStream(1, http2.ErrCodeCancel)
				cl.fr.WriteData(1, true, []byte("x"))
				cl.ping()
			},
			frames: []string{"RST_STREAM 1 STREAM_CLOSED", pingAck},
			events: []string{"request 1 GET https example.com / cl=-1", "reset 1 CANCEL"},
		},
		{
			name:   "HEADERS on a half-closed (remote) stream",
			client: func(cl *client) { cl.headers(1, true, get...); cl.headers(1, true, "x", "y"); cl.ping() },
			frames: []string{"RST_STREAM 1 STREAM_CLOSED", pingAck},
			events: []string{"request 1 GET https example.com / cl=-1 end", "reset 1 STREAM_CLOSED"},
		},
		{
			name: "CONTINUATION interrupted by PING",
			client: func(cl *client) {
				cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.block(get...), EndStream: true})
				cl.ping()
			},
			frames: []string{"GOAWAY 0 PROTOCOL_ERROR"},
		},
		{
			name: "CONTINUATION on another stream",
			client: func(cl *client) {
				b := cl.block(get...)
				cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:2], EndStream: true})
				cl.fr.WriteContinuation(3, true, b[2:])
			},
			frames: []string{"GOAWAY 0 PROTOCOL_ERROR"},
		},
		{
			name:   "CONTINUATION without HEADERS",
			client: func(cl *client) { cl.fr.WriteContinuation(1, true, cl.block(get...)) },
			frames: []string{"GOAWAY 0 PROTOCOL_ERROR"},
		},
		{
			name: "HEADERS split over CONTINUATION",
			client: func(cl *client) {
				b := cl.block(get...)
				cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:1], EndStream: true})
				cl.fr.WriteContinuation(1, false, b[1:3])
				cl.fr.WriteContinuation(1, true, b[3:])
				cl.ping()
			},
			frames: []string{pingAck},
			events: []string{"request 1 GET https example.com / cl=-1 end"},
		},
		{
			name:   "PRIORITY of length 4",
			client: func(cl *client) { cl.fr.WriteRawFrame(http2.FramePriority, 0, 1, make([]byte, 4)); cl.ping() },
			frames: []string{"RST_STREAM 1 FRAME_SIZE_ERROR", pingAck},
		},
		{
			name:   "PRIORITY on itself",
			client: func(cl *client) { cl.fr.WritePriority(3, http2.PriorityParam{StreamDep: 3, Weight: 1}); cl.ping() },
			frames: []string{"RST_STREAM 3 PROTOCOL_ERROR", pingAck},
		},
		{
			name: "PRIORITY on idle, open and closed streams",
			client: func(cl *client) {
				cl.fr.WritePriority(9, http2.PriorityParam{StreamDep: 1})
				cl.headers(1, false, get...)
				cl.fr.WritePriority(1, http2.PriorityParam{StreamDep: 0})
				cl.fr.WriteRSTStream(1, http2.ErrCodeCancel)
				cl.fr.WritePriority(1, http2.PriorityParam{StreamDep: 0})
				cl.ping()
			},
			frames: []string{pingAck},
			events: []string{"request 1 GET https example.com / cl=-1", "reset 1 CANCEL"},
		},
		{
			name: "HEADERS depending on itself",
			client: func(cl *client) {
				cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.block(get...), EndStream: true, EndHeaders: true,
					Priority: http2.PriorityParam{StreamDep: 1, Weight: 10}})
				cl.ping()
			},
			frames: []string{"RST_STREAM 1 PROTOCOL_ERROR", pingAck},
		},
		{
			name: "DATA padding longer than payload",
			client: func(cl *client) {
				cl.headers(1, false, get...)
				cl.fr.WriteRawFrame(http2.FrameData, http2.FlagDataPadded, 1, []byte{5, 'a', 'b'})
			},
			frames: []string{"GOAWAY 1 PROTOCOL_ERROR"},
			events: []string{"request 1 GET https example.com / cl=-1"},
		},
		{
			name: "HEADERS padding longer than payload",
			client: func(cl *client) {
				cl.fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersPadded|http2.FlagHeadersEndHeaders, 1, []byte{9, 0x82})
			},
			frames: []string{"GOAWAY 0 PROTOCOL_ERROR"},
		},
		{
			name: "padded DATA",
			cfg:  Config{StreamWindow: 300},
			client: func(cl *client) {
				cl.headers(1, false, get...)
				cl.fr.WriteDataPadded(1, false, []byte("body"), make([]byte, 200))
				cl.fr.WriteDataPadded(1, true, nil, make([]byte, 3))
			},
			frames: []string{"WINDOW_UPDATE 1 201"},
			events: []string{"request 1 GET https example.com / cl=-1", `data 1 "body"`, `data 1 "" end`},
		},
		{
			name:   "WINDOW_UPDATE of 0 on the connection",
			client: func(cl *client) { cl.fr.WriteWindowUpdate(0, 0) },
			frames: []string{"GOAWAY 0 PROTOCOL_ERROR"},
		},
		{
			name:   "WINDOW_UPDATE of 0 on a stream",
			client: func(cl *client) { cl.headers(1, false, get...); cl.fr.WriteWindowUpdate(1, 0); cl.ping() },
			frames: []string{"RST_STREAM 1 PROTOCOL_ERROR", pingAck},
			events: []string{"request 1 GET https example.com / cl=-1", "reset 1 PROTOCOL_ERROR"},
		},
		{
			name:   "WINDOW_UPDATE on an idle stream",
			client: func(cl *client) { cl.fr.WriteWindowUpdate(1, 1) },
			frames: []string{"GOAWAY 0 PROTOCOL_ERROR"},
		},
		{
			name:   "WINDOW_UPDATE of length 3",
			client: func(cl *client) { cl.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 0, make([]byte, 3)) },
			frames: []string{"GOAWAY 0 FRAME_SIZE_ERROR"},
		},
		{
			name:   "connection window overflow",
			client: func(cl *client) { cl.fr.WriteWindowUpdate(0, 1<<31-1) },
			frames: []string{"GOAWAY 0 FLOW_CONTROL_ERROR"},
			events: []string{},
		},
		{
			name: "stream window overflow",
			client: func(cl *client) {
				cl.headers(1, false, get...)
				cl.fr.WriteWindowUpdate(1, 1<<31-1)
				cl.ping()
			},
			frames: []string{"RST_STREAM 1 FLOW_CONTROL_ERROR", pingAck},
			events: []string{"request 1 GET https example.com / cl=-1", "reset 1 FLOW_CONTROL_ERROR"},
		},
		{
			name: "DATA beyond the stream window",
			cfg:  Config{StreamWindow: 10},
			client: func(cl *client) {
				cl.headers(1, false, get...)
				cl.fr.WriteData(1, false, []byte("0123456789"))
				cl.fr.WriteData(1, false, []byte("a"))
				cl.ping()
			},
			frames: []string{"RST_STREAM 1 FLOW_CONTROL_ERROR", pingAck},
			events: []string{"request 1 GET https example.com / cl=-1", `data 1 "0123456789"`, "reset 1 FLOW_CONTROL_ERROR"},
		},
		{
			name: "DATA beyond the connection window",
			cfg:  Config{ConnWindow: 65535, StreamWindow: 1 << 20, MaxFrameSize: 1 << 20},
			client: func(cl *client) {
				cl.headers(1, false, get...)
				cl.fr.WriteData(1, false, make([]byte, 65536))
			},
			frames: []string{"GOAWAY 1 FLOW_CONTROL_ERROR"},
			events: []string{"request 1 GET https example.com / cl=-1"},
		},
		{
			name:   "RST_STREAM on an idle stream",
			client: func(cl *client) { cl.fr.WriteRSTStream(1, http2.ErrCodeCancel) },
			frames: []string{"GOAWAY 0 PROTOCOL_ERROR"},
		},
		{
			name: "RST_STREAM of length 3",
			client: func(cl *client) {
				cl.headers(1, false, get...)
				cl.fr.WriteRawFrame(http2.FrameRSTStream, 0, 1, make([]byte, 3))
			},
			frames: []string{"GOAWAY 1 FRAME_SIZE_ERROR"},
			events: []string{"request 1 GET https example.com / cl=-1"},
		},
		{
			name:   "GOAWAY from the client",
			client: func(cl *client) { cl.fr.WriteGoAway(0, http2.ErrCodeNo, nil); cl.ping() },
			frames: []string{pingAck},
		},
		{
			name:   "GOAWAY on a stream",
			client: func(cl *client) { cl.fr.WriteRawFrame(http2.FrameGoAway, 0, 1, make([]byte, 8)) },
			frames: []string{"GOAWAY 0 PROTOCOL_ERROR"},
		},
		{
			name: "PUSH_PROMISE from the client",
			client: func(cl *client) {
				cl.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, EndHeaders: true})
			},
			frames: []string{"GOAWAY 0 PROTOCOL_ERROR"},
		},
		{
			name: "more streams than MaxConcurrentStreams",
			cfg:  Config{MaxConcurrentStreams: 2},
			client: func(cl *client) {
				cl.headers(1, false, get...)
				cl.headers(3, false, get...)
				cl.headers(5, false, get...)
				cl.ping()
			},
			frames: []string{"RST_STREAM 5 REFUSED_STREAM", pingAck},
			events: []string{"request 1 GET https example.com / cl=-1", "request 3 GET https example.com / cl=-1"},
		},
		{
			name: "HPACK invalid index",
			client: func(cl *client) {
				cl.fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, []byte{0xff, 0x7f})
			},
			frames: []string{"GOAWAY 0 COMPRESSION_ERROR"},
		},
		{
			name: "HPACK table size update above the limit",
			client: func(cl *client) {
				cl.fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, []byte{0x3f, 0xe2, 0x1f, 0x82})
			},
			frames: []string{"GOAWAY 0 COMPRESSION_ERROR"},
		},
		{
			name: "HPACK table size update after a field",
			client: func(cl *client) {
				// The encoder indexes :authority, so the table is not empty.
				cl.fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, append(cl.block(get...), 0x20))
			},
			frames: []string{"GOAWAY 0 COMPRESSION_ERROR"},
		},
		{
			name: "client RST_STREAM",
			client: func(cl *client) {
				cl.headers(1, false, get...)
				cl.fr.WriteRSTStream(1, http2.ErrCodeCancel)
				cl.fr.WriteRSTStream(1, http2.ErrCodeCancel) // closed now: ignored
				cl.ping()
			},
			frames: []string{pingAck},
			events: []string{"request 1 GET https example.com / cl=-1", "reset 1 CANCEL"},
		},
		{
			name: "request with body and trailers",
			client: func(cl *client) {
				cl.headers(1, false, with(get, "content-length", "5", "x-a", "b")...)
				cl.fr.WriteData(1, false, []byte("he"))
				cl.fr.WriteData(1, false, nil)
				cl.fr.WriteData(1, false, []byte("llo"))
				cl.headers(1, true, "x-sum", "abc")
				cl.ping()
			},
			frames: []string{pingAck},
			events: []string{"request 1 GET https example.com / cl=5 content-length=5 x-a=b", `data 1 "he"`, `data 1 "llo"`, "trailers 1 x-sum=abc"},
		},
		{
			name: "content-length larger than the body",
			client: func(cl *client) {
				cl.headers(1, false, with(get, "content-length", "5")...)
				cl.fr.WriteData(1, true, []byte("hey"))
			},
			frames: []string{"RST_STREAM 1 PROTOCOL_ERROR"},
			events: []string{"request 1 GET https example.com / cl=5 content-length=5", "reset 1 PROTOCOL_ERROR"},
		},
		{
			name: "content-length smaller than the body over two frames",
			client: func(cl *client) {
				cl.headers(1, false, with(get, "content-length", "3")...)
				cl.fr.WriteData(1, false, []byte("he"))
				cl.fr.WriteData(1, true, []byte("llo"))
			},
			frames: []string{"RST_STREAM 1 PROTOCOL_ERROR"},
			events: []string{"request 1 GET https example.com / cl=3 content-length=3", `data 1 "he"`, "reset 1 PROTOCOL_ERROR"},
		},
		{
			name:   "content-length with END_STREAM on HEADERS",
			client: func(cl *client) { cl.headers(1, true, with(get, "content-length", "3")...) },
			frames: []string{"RST_STREAM 1 PROTOCOL_ERROR"},
		},
		{
			name: "content-length with trailers short of it",
			client: func(cl *client) {
				cl.headers(1, false, with(get, "content-length", "3")...)
				cl.headers(1, true, "x-sum", "abc")
			},
			frames: []string{"RST_STREAM 1 PROTOCOL_ERROR"},
			events: []string{"request 1 GET https example.com / cl=3 content-length=3", "reset 1 PROTOCOL_ERROR"},
		},
		{
			name:   "trailers without END_STREAM",
			client: func(cl *client) { cl.headers(1, false, get...); cl.headers(1, false, "x-sum", "abc") },
			frames: []string{"RST_STREAM 1 PROTOCOL_ERROR"},
			events: []string{"request 1 GET https example.com / cl=-1", "reset 1 PROTOCOL_ERROR"},
		},
		{
			name:   "pseudo-header in trailers",
			client: func(cl *client) { cl.headers(1, false, get...); cl.headers(1, true, ":method", "GET") },
			frames: []string{"RST_STREAM 1 PROTOCOL_ERROR"},
			events: []string{"request 1 GET https example.com / cl=-1", "reset 1 PROTOCOL_ERROR"},
		},
		{
			name: "DATA after the stream refused",
			client: func(cl *client) {
				cl.headers(1, false, with(get, "Upper", "x")...)
				cl.fr.WriteData(1, true, []byte("x"))
			},
			frames: []string{"RST_STREAM 1 PROTOCOL_ERROR", "RST_STREAM 1 STREAM_CLOSED"},
		},
		{
			name: "CONNECT",
			client: func(cl *client) {
				cl.headers(1, false, ":method", "CONNECT", ":authority", "example.com:443")
				cl.ping()
			},
			frames: []string{pingAck},
			events: []string{"request 1 CONNECT  example.com:443  cl=-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := newClient(t, tt.cfg).handshake()
			tt.client(cl)
			cl.feed()
			got := cl.output()
			expect(t, "frames", got, tt.frames...)
			expect(t, "events", cl.rec.take(), tt.events...)
			goaway := len(got) > 0 && strings.HasPrefix(got[len(got)-1], "GOAWAY")
			if goaway != (cl.err != nil) {
				t.Errorf("Feed error %v with frames %q", cl.err, got)
			}
		})
	}
}

// TestRequestValidation covers RFC 9113 §8.2-8.3: each malformed head is
// refused with RST_STREAM PROTOCOL_ERROR and never reaches the handler,
// and the connection goes on.
func TestRequestValidation(t *testing.T) {
	tests := []struct {
		name string
		kv   []string
	}{
		{"upper-case field name", with(get, "X-Upper", "1")},
		{"pseudo-header after a regular field", []string{":method", "GET", ":scheme", "https", "x", "1", ":path", "/"}},
		{"unknown pseudo-header", with(get, ":foo", "1")},
		{"response pseudo-header", []string{":status", "200", ":method", "GET", ":scheme", "https", ":path", "/"}},
		{"duplicated :method", []string{":method", "GET", ":method", "GET", ":scheme", "https", ":path", "/"}},
		{"duplicated :path", with(get[:6], ":path", "/", ":path", "/")},
		{"missing :method", []string{":scheme", "https", ":path", "/"}},
		{"missing :scheme", []string{":method", "GET", ":path", "/"}},
		{"missing :path", []string{":method", "GET", ":scheme", "https"}},
		{"empty :path", []string{":method", "GET", ":scheme", "https", ":path", ""}},
		{":path not origin-form", []string{":method", "GET", ":scheme", "https", ":path", "index.html"}},
		{"space in :path", []string{":method", "GET", ":scheme", "https", ":path", "/a b"}},
		{"space in :method", []string{":method", "G T", ":scheme", "https", ":path", "/"}},
		{"CONNECT with :path", []string{":method", "CONNECT", ":authority", "a:1", ":path", "/"}},
		{"CONNECT without :authority", []string{":method", "CONNECT"}},
		{"connection", with(get, "connection", "close")},
		{"keep-alive", with(get, "keep-alive", "5")},
		{"proxy-connection", with(get, "proxy-connection", "x")},
		{"transfer-encoding", with(get, "transfer-encoding", "chunked")},
		{"upgrade", with(get, "upgrade", "h2c")},
		{"te gzip", with(get, "te", "gzip")},
		{"NUL in a value", with(get, "x", "a\x00b")},
		{"CR in a value", with(get, "x", "a\rb")},
		{"LF in a value", with(get, "x", "a\nb")},
		{"leading space in a value", with(get, "x", " a")},
		{"trailing tab in a value", with(get, "x", "a\t")},
		{"space in a name", with(get, "a b", "1")},
		{"empty name", with(get, "", "1")},
		{"bad content-length", with(get, "content-length", "1x")},
		{"conflicting content-length", with(get, "content-length", "1", "content-length", "2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := newClient(t, Config{}).handshake()
			cl.headers(1, true, tt.kv...)
			cl.ping()
			expect(t, "frames", cl.exchange(), "RST_STREAM 1 PROTOCOL_ERROR", pingAck)
			expect(t, "events", cl.rec.take())
		})
	}

	cl := newClient(t, Config{}).handshake()
	cl.headers(1, true, with(get, "te", "trailers", "content-length", "0", "content-length", "0", "cookie", "a=1", "cookie", "b=2")...)
	cl.exchange()
	expect(t, "valid", cl.rec.take(), "request 1 GET https example.com / cl=0 te=trailers content-length=0 content-length=0 cookie=a=1 cookie=b=2 end")
}

// TestHeaderListTooLarge: a decodable header list beyond MaxHeaderBytes
// is answered 431 and the connection continues; a block too long to
// buffer is a connection error.
func TestHeaderListTooLarge(t *testing.T) {
	cl := newClient(t, Config{MaxHeaderBytes: 200}).handshake()
	cl.headers(1, false, with(get, "x", strings.Repeat("a", 200))...)
	cl.ping()
	expect(t, "frames", cl.exchange(), "HEADERS 1 :status=431 end", "RST_STREAM 1 NO_ERROR", pingAck)
	expect(t, "events", cl.rec.take())

	cl = newClient(t, Config{MaxHeaderBytes: 100}).handshake()
	b := cl.block(with(get, "x", strings.Repeat("~", 20000))...)
	cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:8000]})
	cl.fr.WriteContinuation(1, false, b[8000:16000])
	cl.fr.WriteContinuation(1, false, b[16000:])
	n, err := cl.c.Feed(cl.wbuf.Bytes())
	if err == nil || n != 0 {
		t.Fatalf("Feed = %d, %v; want a connection error", n, err)
	}
	expect(t, "frames", cl.output(), "GOAWAY 0 COMPRESSION_ERROR")
}

// TestPartialFeed: frames given a byte at a time produce what they
// produce given at once, and an incomplete HEADERS+CONTINUATION run is
// left to the caller.
func TestPartialFeed(t *testing.T) {
	cl := newClient(t, Config{}).handshake()
	b := cl.block(with(get, "x-long", strings.Repeat("v", 100))...)
	cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:10]})
	cl.fr.WriteContinuation(1, false, b[10:50])
	cl.fr.WriteContinuation(1, true, b[50:])
	cl.fr.WriteData(1, true, []byte("body"))
	cl.ping()
	all := cl.wbuf.Bytes()
	var pending []byte
	consumed := 0
	for i, c := range all {
		pending = append(pending, c)
		n, err := cl.c.Feed(pending)
		if err != nil {
			t.Fatal(err)
		}
		pending = pending[n:]
		consumed += n
		if consumed > 0 && consumed < len(all)-4-9-17 {
			t.Fatalf("consumed %d bytes of the header run after %d", consumed, i+1)
		}
	}
	cl.wbuf.Reset()
	if consumed != len(all) {
		t.Fatalf("consumed %d of %d", consumed, len(all))
	}
	expect(t, "frames", cl.output(), pingAck)
	expect(t, "events", cl.rec.take(), "request 1 GET https example.com / cl=-1 x-long="+strings.Repeat("v", 100), `data 1 "body" end`)
}
