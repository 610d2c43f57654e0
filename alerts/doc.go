// Package alerts delivers the daemon's events (VRRP transitions, backends
// and services going up or down) to people and systems: a JSON POST to each
// configured webhook and a mail through an SMTP server (keepalived's
// notification_email). It is a package of its own because delivery has
// concerns nothing else in vigil has: receivers that are slow, down or
// wrong, retries with backoff, bounded queues that drop rather than grow,
// and above all never making the VRRP loop that reports a transition wait
// for a network round trip.
//
// The pure parts (the queue, the backoff schedule, the drop report, the
// JSON body and the mail text) are plain values and functions; a Sender
// runs one sink's queue on a goroutine of its own, and a Dispatcher fans
// events out to the Senders of one config.
package alerts
