package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

//go:embed page.html
var page []byte

// Options configures a Server.
type Options struct {
	// Metrics serves GET /metrics; nil answers 404 there.
	Metrics http.Handler
	// Token, when set, allows the admin routes over TCP to requests with
	// "Authorization: Bearer TOKEN". Without it they are refused over TCP
	// and allowed only on the unix socket.
	Token string
	// Log receives admin actions and serving errors; nil discards them.
	Log *slog.Logger
}

// Server serves the API for one Source. One Server may serve any number of
// listeners; see Handler, SocketHandler and Serve.
type Server struct {
	src    Source
	opts   Options
	log    *slog.Logger
	tcp    http.Handler
	socket http.Handler
	timing timing
	// token is swapped whole by SetToken while requests check it.
	token atomic.Pointer[adminToken]
}

// adminToken is the configured token's digest; set is false when there is
// none, and admin routes over TCP are refused.
type adminToken struct {
	set    bool
	digest [sha256.Size]byte
}

// timing holds the durations the server uses, set in New and shortened by
// tests.
type timing struct {
	keepAlive         time.Duration // between SSE comment lines
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	writeTimeout      time.Duration // lifted for /api/events
	idleTimeout       time.Duration
	shutdownTimeout   time.Duration
}

var defaultTiming = timing{
	keepAlive:         15 * time.Second,
	readHeaderTimeout: 5 * time.Second,
	readTimeout:       10 * time.Second,
	// A reload may run notify hooks and rebuild services: give it time.
	writeTimeout:    60 * time.Second,
	idleTimeout:     2 * time.Minute,
	shutdownTimeout: 5 * time.Second,
}

// New returns a Server for src.
func New(src Source, opts Options) *Server {
	s := &Server{src: src, opts: opts, log: opts.Log, timing: defaultTiming}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.SetToken(opts.Token)
	s.tcp = s.routes(s.tokenAllows, false)
	s.socket = s.routes(func(*http.Request) (bool, string) { return true, "" }, true)
	return s
}

// Handler is the handler for TCP (api.listen): the admin routes need the
// bearer token, and are refused when no token is configured.
func (s *Server) Handler() http.Handler { return s.tcp }

// SocketHandler is the handler for the unix socket: admin routes need no
// token, since the socket's file permissions decide who may connect.
func (s *Server) SocketHandler() http.Handler { return s.socket }

// allowFunc decides whether a request may use the admin routes; when not,
// the string says why.
type allowFunc func(*http.Request) (bool, string)

// SetToken replaces the admin token (a reload that rotates it); "" refuses
// admin routes over TCP from then on.
func (s *Server) SetToken(token string) {
	// Comparing digests keeps the comparison constant-time whatever the
	// length of what the client sent.
	s.token.Store(&adminToken{set: token != "", digest: sha256.Sum256([]byte(token))})
}

func (s *Server) tokenAllows(r *http.Request) (bool, string) {
	want := s.token.Load()
	if !want.set {
		return false, "admin actions over TCP need api token to be configured; use the unix socket (vigil reload, vigil backend)"
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false, "admin actions need Authorization: Bearer TOKEN"
	}
	sum := sha256.Sum256([]byte(got))
	if subtle.ConstantTimeCompare(sum[:], want.digest[:]) != 1 {
		return false, "wrong token"
	}
	return true, ""
}

// routes builds the mux; profiling is served on the unix socket only:
// a CPU profile or trace costs the daemon CPU while it runs, and the
// goroutine dump shows internals, so it is for whoever may already
// reload the daemon, and the token does not open it over TCP.
func (s *Server) routes(allow allowFunc, profiling bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.servePage)
	mux.HandleFunc("GET /api/status", s.serveStatus)
	mux.HandleFunc("GET /api/events", s.serveEvents)
	mux.HandleFunc("GET /metrics", s.serveMetrics)
	mux.Handle("POST /api/reload", admin(allow, s.serveReload))
	mux.Handle("POST /api/reload/plan", admin(allow, s.serveReloadPlan))
	mux.Handle("POST /api/backends/{service}/{address}/{action}", admin(allow, s.serveBackendAdmin))
	if profiling {
		// pprof.Index serves the named profiles (heap, goroutine, allocs...).
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// admin guards an admin route with allow.
func admin(allow allowFunc, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, why := allow(r); !ok {
			writeError(w, http.StatusForbidden, why)
			return
		}
		h(w, r)
	})
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	// Everything is inline; nothing may be loaded from elsewhere, and the
	// page may not be framed.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'")
	w.Write(page)
}

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, normalize(s.src.Status()))
}

// normalize makes empty lists encode as [] rather than null, so clients
// (the page, scripts with jq) need not test for both.
func normalize(st Status) Status {
	if st.Instances == nil {
		st.Instances = []Instance{}
	}
	if st.Services == nil {
		st.Services = []Service{}
	}
	for i := range st.Services {
		if st.Services[i].Backends == nil {
			st.Services[i].Backends = []Backend{}
		}
	}
	if st.Recent == nil {
		st.Recent = []Event{}
	}
	return st
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if s.opts.Metrics == nil {
		writeError(w, http.StatusNotFound, "metrics are not enabled")
		return
	}
	s.opts.Metrics.ServeHTTP(w, r)
}

// streamsKey marks request contexts whose Serve is shutting down; see
// Serve.
type streamsKey struct{}

// serveEvents streams events as server-sent events, one JSON Event per
// "data:" message, until the client goes, the Source closes the
// subscription or the server shuts down.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// The stream is meant to outlive the server's read and write timeouts.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.log.Debug("events: lift write deadline", "err", err)
	}
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.log.Debug("events: lift read deadline", "err", err)
	}
	ch, cancel := s.src.Events()
	defer cancel()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // a reverse proxy in front must not buffer
	w.WriteHeader(http.StatusOK)
	// The first comment tells the client the subscription is in place.
	if _, err := fmt.Fprint(w, ": subscribed\n\n"); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}

	shutdown := context.Background().Done()
	if c, ok := r.Context().Value(streamsKey{}).(context.Context); ok {
		shutdown = c.Done()
	}
	tick := time.NewTicker(s.timing.keepAlive)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-shutdown:
			return
		case ev, ok := <-ch:
			if !ok {
				return
			}
			var b []byte
			b, err = json.Marshal(ev)
			if err != nil {
				s.log.Error("events: encode", "err", err)
				continue
			}
			_, err = fmt.Fprintf(w, "data: %s\n\n", b)
		case <-tick.C:
			_, err = fmt.Fprint(w, ": keep-alive\n\n")
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return // the client went
		}
	}
}

func (s *Server) serveReload(w http.ResponseWriter, r *http.Request) {
	s.log.Info("reload requested over the API", "remote", remote(r))
	if err := s.src.Reload(r.Context()); err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// serveReloadPlan answers what a reload would change. It is an admin
// action although it changes nothing: the plan shows the config's
// differences and reads the file the daemon runs.
func (s *Server) serveReloadPlan(w http.ResponseWriter, r *http.Request) {
	p, err := s.src.PlanReload(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) serveBackendAdmin(w http.ResponseWriter, r *http.Request) {
	service, address, action := r.PathValue("service"), r.PathValue("address"), r.PathValue("action")
	switch action {
	case ActionEnable, ActionDrain, ActionMaint:
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown action %q: want enable, drain or maint", action))
		return
	}
	s.log.Info("backend admin state requested over the API", "service", service, "backend", address, "action", action, "remote", remote(r))
	if err := s.src.SetBackendAdmin(service, address, action); err != nil {
		code := http.StatusUnprocessableEntity
		if errors.Is(err, ErrNotFound) {
			code = http.StatusNotFound
		}
		writeError(w, code, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// remote names the requester for the log; on the unix socket it is empty.
func remote(r *http.Request) string {
	if r.RemoteAddr == "" || r.RemoteAddr == "@" {
		return "unix socket"
	}
	return r.RemoteAddr
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error": "encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// Serve serves ln until ctx ends, then shuts down gracefully: it stops
// accepting, ends event streams, and waits a few seconds for requests in
// flight. A unix-socket listener gets SocketHandler, any other Handler.
// It returns nil after a shutdown that ctx asked for.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	h := s.tcp
	if ln.Addr().Network() == "unix" {
		h = s.socket
	}
	streams, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.timing.readHeaderTimeout,
		ReadTimeout:       s.timing.readTimeout,
		WriteTimeout:      s.timing.writeTimeout,
		IdleTimeout:       s.timing.idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), streamsKey{}, streams)
		},
	}
	// Event streams never go idle by themselves: end them when shutting down.
	srv.RegisterOnShutdown(endStreams)

	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("api: serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.timing.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Warn("api: requests still running at shutdown were cut", "listen", ln.Addr().String(), "err", err)
		srv.Close()
	}
	<-done
	return nil
}

// ListenSocket listens on a unix socket at path for the CLI. It creates the
// parent directory (0750), removes a socket left by a process that is gone,
// and makes the socket 0660: who may use the admin actions is decided by
// the file's owner, group and mode; group, when not "", owns it (see
// SetSocketGroup). A socket that still answers is not taken over.
func ListenSocket(path, group string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("api: socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("api: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("api: %s: another process is serving this socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("api: remove stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("api: listen: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("api: socket permissions: %w", err)
	}
	if group != "" {
		if err := SetSocketGroup(path, group); err != nil {
			ln.Close()
			return nil, err
		}
	}
	return ln, nil
}

// SetSocketGroup gives the socket at path to group (a name or a number),
// whose members may then use it; "" gives it back to vigil's own group.
func SetSocketGroup(path, group string) error {
	gid, err := LookupSocketGroup(group)
	if err != nil {
		return err
	}
	if err := os.Chown(path, -1, gid); err != nil {
		return fmt.Errorf("api: socket group: %w", err)
	}
	return nil
}

// LookupSocketGroup resolves api.socket_group, a name or a number, to a
// gid; "" is the process's own group.
func LookupSocketGroup(group string) (int, error) {
	if group == "" {
		return os.Getegid(), nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		if g, err = user.LookupGroupId(group); err != nil {
			return 0, fmt.Errorf("api: socket group %q: no such group", group)
		}
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, fmt.Errorf("api: socket group %q: gid %q: %w", group, g.Gid, err)
	}
	return gid, nil
}
