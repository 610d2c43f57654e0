package accesslog

import "sync"

// Logger is a Format bound to a Sink: what a service holds to log its
// requests. It is safe for concurrent use, and a nil *Logger logs
// nothing, so a service with its access log off needs no test of its own.
type Logger struct {
	sink   *Sink
	format Format
	lines  sync.Pool // *lineBuf
}

// NewLogger returns a Logger that writes f's lines to sink.
func NewLogger(sink *Sink, f Format) *Logger {
	l := &Logger{sink: sink, format: f}
	l.lines.New = func() any { return &lineBuf{b: make([]byte, 0, 1024)} }
	return l
}

// Sink returns the Sink the Logger writes to (nil for a nil Logger).
func (l *Logger) Sink() *Sink {
	if l == nil {
		return nil
	}
	return l.sink
}

// Format returns the Logger's format.
func (l *Logger) Format() Format { return l.format }

// lineBuf is a formatting buffer with its own date cache. Pooled rather
// than one per Logger: Log runs on several loop threads at once, and
// sync.Pool hands each thread its own buffers without a lock, so the
// cache stays warm per thread and is never shared.
type lineBuf struct {
	b []byte
	c clock
}

// maxPooledLine is the largest buffer put back in the pool: a rare huge
// request line must not keep its buffer alive forever.
const maxPooledLine = 16 << 10

// Log writes e's line. It runs on the proxy's event loops, so it never
// blocks: the line is formatted into a pooled buffer and copied into the
// Sink's pending buffer, or dropped and counted when that is full. It
// keeps nothing of e.
func (l *Logger) Log(e *Entry) {
	if l == nil || l.sink == nil {
		return
	}
	lb := l.lines.Get().(*lineBuf)
	lb.b = appendLine(lb.b[:0], l.format, e, &lb.c)
	l.sink.Write(lb.b)
	if cap(lb.b) > maxPooledLine {
		lb.b = nil
	}
	l.lines.Put(lb)
}
