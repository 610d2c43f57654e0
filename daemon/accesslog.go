package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"vigil/accesslog"
	"vigil/config"
	"vigil/metrics"
	"vigil/proxy"
)

// accessLogs are the access log targets of the running proxy services:
// one accesslog.Sink per target (and syslog facility), shared by every
// service that writes there, opened when the first one needs it and
// closed once the last one has stopped, so a reload that keeps a target
// keeps its file open and its lines in order.
type accessLogs struct {
	log   *slog.Logger
	mu    sync.Mutex
	sinks map[sinkKey]*sinkUse
}

type sinkKey struct{ target, facility string }

type sinkUse struct {
	sink  *accesslog.Sink
	users int
}

func newAccessLogs(log *slog.Logger) *accessLogs {
	return &accessLogs{log: log, sinks: map[sinkKey]*sinkUse{}}
}

// attach gives s the access log its config sc asks for (none for off)
// and returns what gives it back once s has stopped; release is never nil.
// An error (a file that cannot be opened) names the config field.
func (a *accessLogs) attach(cfg *config.Config, i int, s *proxy.Service) (release func(), err error) {
	sc := cfg.Services[i]
	if sc.AccessLog.Off() {
		return func() {}, nil
	}
	format, err := accesslog.ParseFormat(sc.AccessLog.Format)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fieldAt(cfg, fmt.Sprintf("services[%d].access_log.format", i), "log.access.format"), err)
	}
	key := sinkKey{sc.AccessLog.To, sc.AccessLog.Facility}
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.sinks[key]
	if u == nil {
		sink, err := accesslog.Open(key.target, key.facility, a.log)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fieldAt(cfg, fmt.Sprintf("services[%d].access_log.to", i), "log.access.to"), err)
		}
		u = &sinkUse{sink: sink}
		a.sinks[key] = u
	}
	u.users++
	s.AccessLog = accesslog.NewLogger(u.sink, format)
	var once sync.Once
	return func() { once.Do(func() { a.release(key) }) }, nil
}

// fieldAt names a config field with its place in the file: the
// service's own path, or log.access's when the service took the default.
func fieldAt(cfg *config.Config, path, fallback string) string {
	pos := cfg.PosOf(path)
	if pos.Line == 0 {
		// the shorthand "access_log: /var/log/x.log" has no "to" of its own
		pos = cfg.PosOf(path[:strings.LastIndexByte(path, '.')])
	}
	if pos.Line == 0 {
		if fb := cfg.PosOf(fallback); fb.Line != 0 {
			path, pos = fallback, fb
		}
	}
	if pos.Line == 0 {
		return fmt.Sprintf("%s: %s", cfg.File, path)
	}
	return fmt.Sprintf("%s:%d:%d: %s", cfg.File, pos.Line, pos.Column, path)
}

func (a *accessLogs) release(key sinkKey) {
	a.mu.Lock()
	u := a.sinks[key]
	if u == nil {
		a.mu.Unlock()
		return
	}
	u.users--
	if u.users > 0 {
		a.mu.Unlock()
		return
	}
	delete(a.sinks, key)
	a.mu.Unlock()
	// Close writes what is pending, which may take a moment on a slow
	// target; nobody writes to the sink any more.
	if err := u.sink.Close(); err != nil {
		a.log.Warn("access log closed with lines lost", "target", key.target, "err", err)
	}
}

// reopen reopens every file target, as logrotate's postrotate asks with
// SIGUSR1 after it has renamed the files, and reconnects syslog sockets.
func (a *accessLogs) reopen() error {
	a.mu.Lock()
	sinks := make([]*accesslog.Sink, 0, len(a.sinks))
	for _, u := range a.sinks {
		sinks = append(sinks, u.sink)
	}
	a.mu.Unlock()
	var errs []error
	for _, s := range sinks {
		if err := s.Reopen(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stats are the targets' counters for the metrics, one entry per target
// (its facilities summed).
func (a *accessLogs) stats() []metrics.AccessLog {
	a.mu.Lock()
	defer a.mu.Unlock()
	by := map[string]*metrics.AccessLog{}
	for k, u := range a.sinks {
		m := by[k.target]
		if m == nil {
			m = &metrics.AccessLog{Target: k.target}
			by[k.target] = m
		}
		m.Lines += u.sink.Written()
		m.Dropped += u.sink.Dropped()
	}
	out := make([]metrics.AccessLog, 0, len(by))
	for _, m := range by {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(x, y metrics.AccessLog) int {
		switch {
		case x.Target < y.Target:
			return -1
		case x.Target > y.Target:
			return 1
		}
		return 0
	})
	return out
}
