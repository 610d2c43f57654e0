package proxy

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"vigil/accesslog"
	"vigil/config"
	"vigil/proxy/balance"
)

// DefaultDrain is how long Run lets established connections finish after its
// context ends before it closes them. Five seconds covers a typical request
// in flight without holding a reload or a shutdown hostage to a long-lived
// connection (HAProxy's hard-stop-after is the same idea).
const DefaultDrain = 5 * time.Second

// DefaultSpliceAfter is how many bytes one direction of a TCP connection
// must move in a burst (consecutive reads that fill the 16 KiB buffer)
// before it switches from read/write to splice(2). Request/response traffic
// never fills buffers back to back and stays on the faster read/write
// path; bulk transfers get there within a millisecond and then move
// through the kernel without copies. See copy.go and the benchmarks for
// the numbers behind it.
const DefaultSpliceAfter = 1 << 20

// defaultUDPSessions bounds UDP sessions when the service sets no max_conn:
// each session holds a socket and a goroutine, so a flood of spoofed
// sources must not be able to create them without limit.
const defaultUDPSessions = 65536

// Errors a connection can end with before it reaches a backend. They are
// counted in ServiceStats and wrapped with context where they are returned.
var (
	errNoBackend = errors.New("no backend available")
	errQueueFull = errors.New("queue full")
	errQueueTime = errors.New("timed out in queue")
)

// Service serves one config.Service with protocol tcp or udp: it listens on
// the service address, picks a backend for each client connection (tcp) or
// client address (udp) and relays bytes both ways. Backend health comes from
// outside (SetBackendUp); the service's own health, which VRRP tracks, is
// reported by Health and HealthChanges.
type Service struct {
	cfg        config.Service
	log        *slog.Logger
	bal        balance.Balancer
	hashSource bool // balance: source hashes the client address

	// Drain is how long Run lets established connections finish after its
	// context ends before it closes them. NewService sets DefaultDrain;
	// change it before Run.
	Drain time.Duration

	// Relay moves the bytes of established TCP connections (relay.go).
	// Services of one daemon share one; when it is nil, Run starts one of
	// its own for as long as it runs. Set it before Run.
	Relay *Relay
	relay *Relay // the one in use while Run runs

	// AccessLog writes a line per request (http) or connection (tcp); nil
	// writes none. Set it before Run.
	AccessLog *accesslog.Logger
	// Conns counts the client connections of every service that shares
	// it (the daemon's), the access log's actconn; nil counts this
	// service's own. Set it before Run.
	Conns *atomic.Int64
	// feconn is the service's client connections now, the access log's
	// feconn (st.active without the lock).
	feconn atomic.Int64
	// logName is the service's name as a log line's backend: a route
	// group's "web/route0" is "web.route0" (a '/' would split the field).
	logName string

	// spliceAfter is the burst (bytes in back-to-back full reads) after
	// which a TCP direction switches to splice; 0 splices from the start,
	// negative never. Tests and benchmarks change it.
	spliceAfter int64
	// spliceChunk bounds one splice call, so progress (byte counters and
	// the idle watchdog) is seen at least every chunk even with a slow reader.
	spliceChunk int64
	bufs        sync.Pool // *[]byte of copyBufSize, for HTTP/2 response bodies
	dgrams      sync.Pool // *[]byte of maxDatagram, for UDP replies

	// listen and dial open the sockets; tests replace them to work inside a
	// network namespace.
	listen func(ctx context.Context, network, address string) (net.Listener, net.PacketConn, error)
	dial   func(ctx context.Context, network, address string) (net.Conn, error)

	health chan struct{}

	mu        sync.Mutex
	running   bool
	listening bool
	listenErr string
	addr      net.Addr // bound address while listening
	quorumUp  bool
	backends  []*backend
	byAddr    map[string]*backend
	scratch   []balance.Server // reused by pickLocked
	queue     list.List        // of *waiter, oldest first
	tunnels   map[*tunnel]struct{}
	sessions  map[netip.AddrPort]*udpSession
	idle      chan struct{} // closed when the last tunnel ends, while Run drains
	stopping  bool          // Run's context ended: no new connections or sessions
	drainOver bool          // the drain period is over: no new tunnels either
	// serving counts TCP clients from accept until serveConn is done
	// with them, connecting to a backend included, which a drain waits for.
	serving int
	st      counters
	// queueWait is how long connections (tcp) or requests (http) waited
	// for a backend slot, observed without mu.
	queueWait latencyHistogram

	hs *httpService // protocol http only
	// hwg counts the HTTP connections on event loops (and those handed
	// from a loop to a goroutine), which Run waits for.
	hwg sync.WaitGroup
	// noLoopHTTP serves every HTTP connection on a goroutine; tests set it
	// to check that both paths answer alike.
	noLoopHTTP bool
	// root is the service a route group belongs to (itself otherwise), and
	// loops the relay whose event loops serve its HTTP connections and
	// hold idle backend connections, while Run runs.
	root  *Service
	loops atomic.Pointer[Relay]

	// maxConnLog and acceptLog log the service's limits being hit, once
	// in a while rather than once per connection.
	maxConnLog, acceptLog limitLog

	// slotWaiters counts accept loops waiting for a max_conn slot, and
	// idleWake tells them a connection has turned idle since they last
	// looked for one to reclaim (turnedIdle).
	slotWaiters atomic.Int32
	idleWake    chan struct{}

	// The listening socket and its handoff to a replacing Service (handoff.go).
	sock       Socket        // while Run serves on it
	adopted    Socket        // from Adopt, for the next Run
	handoff    chan Socket   // set by Handoff: the accept loop answers on it
	handingOff chan struct{} // closed by Handoff, to wake an accept loop waiting for a slot
}

// counters are the service-wide totals, guarded by Service.mu.
type counters struct {
	active         int
	total          uint64
	bytesIn        uint64 // of finished connections; live ones are summed in Stats
	bytesOut       uint64
	retries        uint64
	connectErrors  uint64
	noBackend      uint64
	queueTimeouts  uint64
	queueOverflows uint64
	proxyErrors    uint64
	dropped        uint64
	sessionLimit   uint64
	timeouts       uint64
}

// backend is one configured server and its live state; every field but cfg
// is guarded by Service.mu.
type backend struct {
	cfg     config.Backend
	up      bool
	reason  string
	admin   string       // operator's admin state: "", "drain" or "maint"
	upSince time.Time    // zero while up from the start: no slowstart then
	hc      *httpBackend // protocol http: idle connections, sticky id; set once
	active  int          // connections or sessions holding a slot
	total   uint64
	st      struct {
		bytesIn, bytesOut, retries, connectErrors uint64
	}
	// obs is what the fast path observes of the backend without the
	// service's lock: connect and response times, responses by class.
	obs backendObs
}

// backendObs are a backend's latency histograms and response counts.
type backendObs struct {
	connect   latencyHistogram // new connections only, successful ones
	response  latencyHistogram // http: connection ready to response head
	responses [NumCodeClasses]atomic.Uint64
}

// NewService validates what the L4 proxy needs from cfg and returns a
// Service ready to Run. Protocol http is served by the L7 proxy, not here.
func NewService(cfg config.Service, log *slog.Logger) (*Service, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Mode != "" && cfg.Mode != "proxy" {
		return nil, fmt.Errorf("service %s: mode %q is not served by the proxy", cfg.Name, cfg.Mode)
	}
	switch cfg.Protocol {
	case "tcp", "udp", "http":
	case "":
		cfg.Protocol = "tcp"
	default:
		return nil, fmt.Errorf("service %s: protocol %q is not tcp, udp or http", cfg.Name, cfg.Protocol)
	}
	if !cfg.Listen.IsValid() {
		return nil, fmt.Errorf("service %s: no listen address", cfg.Name)
	}
	if cfg.TLS != nil && cfg.Protocol != "http" {
		// Serving plaintext where the config asked for TLS would be worse
		// than refusing to start.
		return nil, fmt.Errorf("service %s: TLS termination on protocol %s is not supported by the L4 proxy yet", cfg.Name, cfg.Protocol)
	}
	if cfg.Protocol == "udp" && cfg.ProxyProtocol != (config.ProxyProtocol{}) {
		return nil, fmt.Errorf("service %s: proxy_protocol applies to tcp, not udp", cfg.Name)
	}
	switch cfg.ProxyProtocol.Send {
	case "", "v1", "v2":
	default:
		return nil, fmt.Errorf("service %s: proxy_protocol.send %q is not v1 or v2", cfg.Name, cfg.ProxyProtocol.Send)
	}
	if cfg.Balance == "" {
		cfg.Balance = "roundrobin"
	}
	algorithm := cfg.Balance
	if algorithm == "uri" && cfg.Protocol != "http" {
		// A byte stream has no URI to hash: every connection would hash the
		// same empty key onto one backend. HAProxy falls back to round
		// robin where the hashed input is missing; so does vigil.
		log.Warn("balance uri needs protocol http; using roundrobin", "service", cfg.Name)
		algorithm = "roundrobin"
	}
	bal, err := balance.New(algorithm)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", cfg.Name, err)
	}
	s := &Service{
		cfg:         cfg,
		log:         log.With("service", cfg.Name),
		bal:         bal,
		hashSource:  cfg.Balance == "source",
		Drain:       DefaultDrain,
		spliceAfter: DefaultSpliceAfter,
		spliceChunk: defaultSpliceChunk,
		health:      make(chan struct{}, 1),
		idleWake:    make(chan struct{}, 1),
		byAddr:      make(map[string]*backend),
		tunnels:     make(map[*tunnel]struct{}),
		sessions:    make(map[netip.AddrPort]*udpSession),
		listenErr:   "not started",
		handingOff:  make(chan struct{}),
	}
	s.root = s
	s.logName = strings.ReplaceAll(cfg.Name, "/", ".")
	s.bufs.New = func() any { b := make([]byte, copyBufSize); return &b }
	s.dgrams.New = func() any { b := make([]byte, maxDatagram); return &b }
	s.listen = listenFreebind
	s.dial = (&net.Dialer{}).DialContext
	for _, bc := range cfg.Backends {
		if _, dup := s.byAddr[bc.Address]; dup {
			return nil, fmt.Errorf("service %s: backend %s listed twice", cfg.Name, bc.Address)
		}
		b := &backend{cfg: bc, reason: "not checked yet"}
		if cfg.Check == nil {
			// Without a check nothing would ever bring the backend up.
			b.up, b.reason = true, "no check configured"
		}
		s.backends = append(s.backends, b)
		s.byAddr[bc.Address] = b
	}
	s.quorumUp = s.upCountLocked() >= cfg.Quorum
	if cfg.Protocol == "http" {
		if err := s.initHTTP(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Run binds the service address and serves until ctx ends. Then it stops
// accepting, lets established connections finish for up to s.Drain and
// closes what is left. It returns nil after a normal stop and an error when
// the address cannot be bound.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return fmt.Errorf("service %s: already running", s.cfg.Name)
	}
	s.running, s.stopping, s.drainOver = true, false, false
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}()
	if s.cfg.Protocol == "udp" {
		return s.runUDP(ctx)
	}
	if s.hs != nil {
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go s.reapLoop(rctx, done)
		defer func() { cancel(); <-done }()
	}
	return s.runTCP(ctx)
}

// listenFreebind opens the service socket with IP_FREEBIND, so that a backup
// node listens on the VIP before VRRP adds the VIP to its interface: on
// failover the proxy is already serving when the first packet arrives.
func listenFreebind(ctx context.Context, network, address string) (net.Listener, net.PacketConn, error) {
	lc := net.ListenConfig{Control: freebindControl}
	if network == "udp" {
		pc, err := lc.ListenPacket(ctx, network, address)
		return nil, pc, err
	}
	ln, err := lc.Listen(ctx, network, address)
	return ln, nil, err
}

// setListening records whether the listener is bound, which is half of
// Health, and signals the change.
func (s *Service) setListening(addr net.Addr, why string) {
	s.mu.Lock()
	s.listening, s.addr, s.listenErr = addr != nil, addr, why
	s.mu.Unlock()
	s.signal()
}

// boundAddr is the address the listener is bound to, or nil.
func (s *Service) boundAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// SetBackendUp records a health-check verdict for the backend with this
// address (as written in the config). A backend going down takes no new
// connections from that moment; with on_down: shutdown_sessions its
// established TCP connections are closed too. UDP sessions of a down
// backend always end, since a session is only an address mapping: the
// client's next datagram opens a session to a live backend.
func (s *Service) SetBackendUp(address string, up bool, reason string) {
	known := s.setBackendUp(address, up, reason)
	if s.hs != nil {
		// Protocol http: route groups have their own backends, and the
		// same address may serve several groups.
		for _, g := range s.hs.groups[1:] {
			if g.setBackendUp(address, up, reason) {
				known = true
			}
		}
	}
	if !known {
		s.log.Warn("health verdict for unknown backend ignored", "backend", address, "up", up)
	}
}

// setBackendUp applies a verdict to this group's backend with the address,
// reporting whether there is one.
func (s *Service) setBackendUp(address string, up bool, reason string) bool {
	s.mu.Lock()
	b := s.byAddr[address]
	if b == nil {
		s.mu.Unlock()
		return false
	}
	b.reason = reason
	if b.up == up {
		s.mu.Unlock()
		s.signal() // the reason may have changed
		return true
	}
	b.up = up
	var kill []*tunnel
	var sessions []*udpSession
	if up {
		b.upSince = time.Now()
		s.dispatchLocked()
	} else {
		if s.cfg.OnDown == "shutdown_sessions" {
			for t := range s.tunnels {
				if t.b == b {
					kill = append(kill, t)
				}
			}
		}
		for k, u := range s.sessions {
			if u.b == b {
				delete(s.sessions, k)
				sessions = append(sessions, u)
			}
		}
	}
	s.updateQuorumLocked()
	s.mu.Unlock()

	if up {
		s.log.Info("backend up", "backend", address, "reason", reason)
	} else {
		s.log.Info("backend down", "backend", address, "reason", reason, "closing", len(kill)+len(sessions))
	}
	for _, t := range kill {
		t.abort("backend down (on_down: shutdown_sessions)")
	}
	for _, u := range sessions {
		u.close()
	}
	if !up && b.hc != nil {
		b.hc.pool.closeShared()
		if r := s.root.loops.Load(); r != nil {
			for _, l := range r.loops {
				l.post(backendDown(b))
			}
		}
	}
	s.signal()
	return true
}

// Health reports whether this node can serve the service: its listener is
// bound and enough backends are up (quorum, with hysteresis). VRRP tracks it
// so that a node that cannot serve hands the VIP to a peer.
func (s *Service) Health() (up bool, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.upCountLocked()
	switch {
	case !s.listening:
		return false, fmt.Sprintf("not listening on %s: %s", s.cfg.Listen, s.listenErr)
	case !s.quorumUp:
		return false, fmt.Sprintf("%d of %d backends up, quorum needs %d", n, len(s.backends), s.upThreshold())
	}
	return true, fmt.Sprintf("listening on %s, %d of %d backends up", s.cfg.Listen, n, len(s.backends))
}

// HealthChanges is signalled whenever Health may have changed. It holds at
// most one pending signal, so a slow reader sees one signal for many
// changes and should call Health to learn the current state.
func (s *Service) HealthChanges() <-chan struct{} { return s.health }

func (s *Service) signal() {
	select {
	case s.health <- struct{}{}:
	default:
	}
}

// upCountLocked counts backends whose check says up (backups included:
// they serve when needed, so they count towards being able to serve).
// SetBackendAdmin sets an operator's admin state on the backend with this
// address, in the service and its route groups: "drain" and "maint" take
// it out of balancing at once (its open connections finish), "" puts it
// back. A backend out of balancing does not count towards quorum, so
// draining the last one makes the service count as down here. It reports
// whether the service has the backend.
func (s *Service) SetBackendAdmin(address, state string) bool {
	known := s.setBackendAdmin(address, state)
	if s.hs != nil {
		for _, g := range s.hs.groups[1:] {
			if g.setBackendAdmin(address, state) {
				known = true
			}
		}
	}
	return known
}

func (s *Service) setBackendAdmin(address, state string) bool {
	s.mu.Lock()
	b := s.byAddr[address]
	if b == nil {
		s.mu.Unlock()
		return false
	}
	changed := b.admin != state
	b.admin = state
	if changed {
		if state == "" {
			b.upSince = time.Now() // ramps up with slowstart like a recovered backend
			s.dispatchLocked()
		}
		s.updateQuorumLocked()
	}
	s.mu.Unlock()
	if changed {
		what := state
		if what == "" {
			what = "enabled"
		}
		s.log.Info("backend admin state", "backend", address, "state", what)
		s.signal()
	}
	return true
}

// BackendsUp is how many of the service's own backends (route groups not
// counted) are up now: a reload waits for the new service to have one
// before it takes over the socket.
func (s *Service) BackendsUp() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.upCountLocked()
}

func (s *Service) upCountLocked() int {
	n := 0
	for _, b := range s.backends {
		if b.up && b.admin == "" {
			n++
		}
	}
	return n
}

// upThreshold is how many backends must be up for a down service to come
// back: Quorum+Hysteresis (keepalived), but never more than there are
// backends, or a service with quorum = all backends and some hysteresis
// could never recover.
func (s *Service) upThreshold() int {
	return max(min(s.cfg.Quorum+s.cfg.Hysteresis, len(s.backends)), s.cfg.Quorum)
}

// updateQuorumLocked moves the quorum state with hysteresis: an up service
// goes down when up backends drop below Quorum-Hysteresis, a down one comes
// up when they reach Quorum+Hysteresis, so one flapping backend does not
// flap the VIP.
func (s *Service) updateQuorumLocked() {
	n := s.upCountLocked()
	if s.quorumUp {
		if n < s.cfg.Quorum-s.cfg.Hysteresis {
			s.quorumUp = false
			s.log.Warn("service lost quorum", "up", n, "quorum", s.cfg.Quorum, "hysteresis", s.cfg.Hysteresis)
		}
	} else if n >= s.upThreshold() {
		s.quorumUp = true
		s.log.Info("service has quorum", "up", n, "quorum", s.cfg.Quorum, "hysteresis", s.cfg.Hysteresis)
	}
}

// freebindControl sets IP_FREEBIND (and IPV6_FREEBIND for IPv6 sockets) and
// SO_REUSEADDR on a socket before bind. Freebind lets the bind succeed for
// an address that is not (yet) on any interface; SO_REUSEADDR lets a
// restarted vigil bind while old connections sit in TIME_WAIT.
func freebindControl(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if err := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
			serr = fmt.Errorf("set SO_REUSEADDR: %w", err)
			return
		}
		err4 := syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_FREEBIND, 1)
		if network == "tcp6" || network == "udp6" {
			// Linux keeps one freebind flag per socket; IPV6_FREEBIND (4.15+)
			// is the documented way to set it on IPv6 sockets.
			if err6 := syscall.SetsockoptInt(int(fd), syscall.SOL_IPV6, unix.IPV6_FREEBIND, 1); err6 == nil {
				err4 = nil
			}
		}
		if err4 != nil {
			serr = fmt.Errorf("set IP_FREEBIND: %w", err4)
		}
	})
	if err != nil {
		return fmt.Errorf("socket control: %w", err)
	}
	return serr
}

// addrPort converts a net.Addr of a TCP or UDP socket to a netip.AddrPort
// with IPv4-mapped addresses unmapped, the form PROXY headers and source
// hashing want.
func addrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
