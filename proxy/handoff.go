package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"vigil/config"
)

// Socket is a service's bound listening socket on its way from a Service
// to the one replacing it on a reload (Handoff, then Adopt). Passing the
// socket, rather than closing it and binding again, means no client is
// refused in between: connections that arrive during the swap wait in the
// kernel's accept queue for the new Service. Binding a second socket with
// SO_REUSEPORT instead would reset the connections queued on the old one
// when it closes.
type Socket struct {
	stream net.Listener // tcp and http
	packet *net.UDPConn // udp
}

// Valid reports whether s holds a socket.
func (s Socket) Valid() bool { return s.stream != nil || s.packet != nil }

// Close closes the socket, for a handoff that found no taker.
func (s Socket) Close() error {
	switch {
	case s.stream != nil:
		return s.stream.Close()
	case s.packet != nil:
		return s.packet.Close()
	}
	return nil
}

// setDeadline sets the accept (or read) deadline of the socket.
func (s Socket) setDeadline(t time.Time) {
	switch {
	case s.stream != nil:
		if d, ok := s.stream.(interface{ SetDeadline(time.Time) error }); ok {
			d.SetDeadline(t)
		}
	case s.packet != nil:
		s.packet.SetReadDeadline(t)
	}
}

// CanHandoff reports whether a service configured as from can pass its
// socket to one configured as to: both proxy services on the same address,
// and both stream (tcp, http) or both datagram (udp).
func CanHandoff(from, to config.Service) bool {
	return from.Mode == "proxy" && to.Mode == "proxy" && from.Listen == to.Listen &&
		(from.Protocol == "udp") == (to.Protocol == "udp")
}

// errNotListening refuses a handoff from a service without a socket.
var errNotListening = errors.New("not listening")

// Handoff stops the service accepting, as the end of Run's context would,
// but keeps its socket open and returns it for the Service that replaces
// this one (Adopt). Established connections drain as on stop, for up to
// Drain, once Run's context ends; UDP sessions end at once, since their
// replies leave through the socket that now belongs to the new Service.
func (s *Service) Handoff() (Socket, error) {
	s.mu.Lock()
	sock := s.sock
	if !sock.Valid() || s.handoff != nil {
		s.mu.Unlock()
		return Socket{}, fmt.Errorf("service %s: handoff: %w", s.cfg.Name, errNotListening)
	}
	reply := make(chan Socket, 1)
	s.handoff = reply
	close(s.handingOff)
	s.mu.Unlock()
	// A deadline in the past wakes the accept (or read) loop without
	// closing the socket; the loop sees the handoff and passes it on.
	sock.setDeadline(time.Unix(1, 0))
	got := <-reply
	if !got.Valid() {
		return Socket{}, fmt.Errorf("service %s: handoff: %w", s.cfg.Name, errNotListening)
	}
	return got, nil
}

// Adopt makes Run serve on sock, handed off by the Service this one
// replaces, instead of binding the address itself. Call it before Run.
func (s *Service) Adopt(sock Socket) {
	s.mu.Lock()
	s.adopted = sock
	s.mu.Unlock()
}

// takeSocket is the socket Run serves on: the adopted one, or a new one.
func (s *Service) takeSocket(bind func() (Socket, error)) (Socket, error) {
	s.mu.Lock()
	sock := s.adopted
	s.adopted = Socket{}
	s.handoff = nil
	s.handingOff = make(chan struct{})
	s.mu.Unlock()
	if sock.Valid() {
		return sock, nil
	}
	return bind()
}

// publishSocket records the socket a running service serves on, so that
// Handoff can find it.
func (s *Service) publishSocket(sock Socket) {
	s.mu.Lock()
	s.sock = sock
	s.mu.Unlock()
}

// releaseSocket ends the service's use of its socket when its accept or
// read loop has stopped: a requested handoff gets it (with the wake-up
// deadline cleared), otherwise it is closed. It reports whether it was
// handed off.
func (s *Service) releaseSocket(stopClose func() bool) bool {
	s.mu.Lock()
	sock, reply := s.sock, s.handoff
	s.sock = Socket{}
	s.mu.Unlock()
	if reply != nil && stopClose() {
		sock.setDeadline(time.Time{})
		reply <- sock
		return true
	}
	sock.Close()
	if reply != nil {
		reply <- Socket{} // the context closed it first
	}
	return false
}

// handedOff reports whether a handoff has been requested.
func (s *Service) handedOff() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handoff != nil
}

// Bind opens the listening socket of a proxy service config ahead of its
// Run (pass it to Adopt), with IP_FREEBIND like Run. A reload binds the
// sockets of new services first, so an address that cannot be bound
// rejects the reload before anything running has changed.
func Bind(ctx context.Context, cfg config.Service) (Socket, error) {
	network := "tcp"
	if cfg.Protocol == "udp" {
		network = "udp"
	}
	ln, pc, err := listenFreebind(ctx, network, cfg.Listen.String())
	if err != nil {
		return Socket{}, fmt.Errorf("service %s: listen on %s: %w", cfg.Name, cfg.Listen, err)
	}
	if pc != nil {
		return Socket{packet: pc.(*net.UDPConn)}, nil
	}
	return Socket{stream: ln}, nil
}
