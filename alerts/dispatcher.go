package alerts

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"vigil/config"
)

// Queue sizes and timing of the senders a Dispatcher makes.
const (
	// QueueSize bounds each sink's waiting events: far more than any burst
	// a node produces (a failover is a few events), small enough that a
	// receiver down for a day costs no memory to speak of.
	QueueSize = 256
	// emailTimeout bounds one SMTP conversation; servers that greet slowly
	// on purpose (tarpits against spam) take several seconds.
	emailTimeout = 30 * time.Second
	// emailGather is how long a mail waits for more events to carry: the
	// few events of one failover (the instance, its services) make one mail.
	emailGather = time.Second
	// emailMaxBatch bounds the events of one mail.
	emailMaxBatch = 50
)

// Options are what a Dispatcher needs besides the config.
type Options struct {
	// Log receives the senders' lines; required.
	Log *slog.Logger
	// Observe, when set, is told of every outcome (SenderOptions.Observe).
	Observe func(sink string, o Outcome, n int)
}

// Dispatcher fans events out to the senders of one alerts: config.
type Dispatcher struct {
	node    string
	senders []*Sender
	closers []func()
}

// New makes the senders cfg asks for; node names this node in every
// event. Run starts them.
func New(node string, cfg config.Alerts, o Options) (*Dispatcher, error) {
	d := &Dispatcher{node: node}
	for _, wc := range cfg.Webhooks {
		w, err := NewWebhook(wc.URL, wc.Headers)
		if err != nil {
			return nil, err
		}
		d.senders = append(d.senders, NewSender(w, SenderOptions{
			QueueSize: QueueSize, Timeout: wc.Timeout.D(), MaxBatch: 1, Log: o.Log, Observe: o.Observe,
		}))
		d.closers = append(d.closers, w.Close)
	}
	if ec := cfg.Email; ec != nil {
		m, err := NewEmail(ec.SMTPServer, ec.From, ec.To, node, o.Log)
		if err != nil {
			return nil, err
		}
		d.senders = append(d.senders, NewSender(m, SenderOptions{
			QueueSize: QueueSize, Timeout: emailTimeout, MaxBatch: emailMaxBatch, Gather: emailGather, Log: o.Log, Observe: o.Observe,
		}))
	}
	return d, nil
}

// Notify queues e for every sink, stamped with the node and, when it has
// none, the time. It never blocks.
func (d *Dispatcher) Notify(e Event) {
	e.Node = d.node
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	for _, s := range d.senders {
		s.Enqueue(e)
	}
}

// Run runs every sender until ctx ends and each has flushed its queue, for
// at most flush (Sender.Run).
func (d *Dispatcher) Run(ctx context.Context, flush time.Duration) {
	var wg sync.WaitGroup
	for _, s := range d.senders {
		wg.Go(func() { s.Run(ctx, flush) })
	}
	wg.Wait()
	for _, c := range d.closers {
		c()
	}
}

// Sinks names the sinks, in config order (webhooks, then e-mail).
func (d *Dispatcher) Sinks() []string {
	var out []string
	for _, s := range d.senders {
		out = append(out, s.Name())
	}
	return out
}

// Stats returns each sink's counts, by sink name.
func (d *Dispatcher) Stats() map[string]Stats {
	out := make(map[string]Stats, len(d.senders))
	for _, s := range d.senders {
		out[s.Name()] = s.Stats()
	}
	return out
}
