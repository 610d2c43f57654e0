package daemon

import (
	"testing"

	"vigil/api"
)

// TestEventHubBoundsSubscribers: past maxStreams API streams, a new one
// ends the oldest stream (its channel closes) and is counted; the daemon's
// own subscriber (alerts) is never dropped; the others keep getting
// events, and unsubscribing twice, or after being dropped, is harmless.
func TestEventHubBoundsSubscribers(t *testing.T) {
	var h eventHub
	internal, cancelInternal := h.subscribe(false)
	defer cancelInternal()
	chans := make([]<-chan api.Event, 0, maxStreams+2)
	cancels := make([]func(), 0, maxStreams+2)
	for range maxStreams + 2 {
		ch, cancel := h.subscribe(true)
		chans = append(chans, ch)
		cancels = append(cancels, cancel)
	}
	if open, dropped := h.counts(); open != maxStreams || dropped != 2 {
		t.Fatalf("open %d, dropped %d; want %d and 2", open, dropped, maxStreams)
	}
	for i := range 2 {
		if _, ok := <-chans[i]; ok {
			t.Errorf("subscriber %d: got an event, want its stream ended", i)
		}
	}
	h.publish(api.Event{Kind: api.KindReload})
	if ev, ok := <-internal; !ok || ev.Kind != api.KindReload {
		t.Errorf("the daemon's own subscriber: %v %v", ev, ok)
	}
	for i := 2; i < len(chans); i++ {
		select {
		case ev, ok := <-chans[i]:
			if !ok || ev.Kind != api.KindReload {
				t.Fatalf("subscriber %d: %v %v", i, ev, ok)
			}
		default:
			t.Fatalf("subscriber %d got no event", i)
		}
	}
	for _, cancel := range cancels {
		cancel()
		cancel()
	}
	if open, dropped := h.counts(); open != 0 || dropped != 2 {
		t.Errorf("after every cancel: open %d, dropped %d", open, dropped)
	}
}
