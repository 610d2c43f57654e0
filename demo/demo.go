// Package demo is `vigil demo`, the newcomer's first command: it builds a
// throwaway lab of network namespaces on this machine (a client, two vigil
// nodes, two HTTP backends on a private bridge), runs real vigil processes
// in it with a generated config, and narrates what happens while a client
// probes the VIP: who holds the VIP, which backend answers, how long the
// client goes unanswered when the master crashes, comes back and stops
// gracefully. Everything it creates is removed at the end, on error and on
// Ctrl-C, and leftovers of a demo that was killed are swept at start.
//
// It is a package of its own because it is a self-contained lab for
// newcomers with no home elsewhere: the daemon's packages must not know
// about it, and the test harness in tests/lab cannot be imported by the
// binary (it is built on package testing), so the few pieces it needs are
// written again here, with netlink instead of the ip command.
//
// The backends are goroutines, not processes: a socket keeps the namespace
// it was opened in, so an HTTP server whose listener was opened on a thread
// inside a backend namespace serves there, with nothing to start or reap.
// The vigil nodes are processes, since the demo kills one: the running
// binary (or Options.Binary) is started with `run -c FILE` from a thread
// inside the node's namespace, which the child inherits, so no helper
// subcommand and no iproute2 are needed.
package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options tune a demo run; the zero value is the standard demo.
type Options struct {
	// Binary is the vigil executable run on the two nodes; empty means the
	// running executable.
	Binary string
	// Watch is how long the timeline runs after each step; 0 means 2s.
	Watch time.Duration
}

// ErrNotRoot is returned when the demo cannot create namespaces.
var ErrNotRoot = errors.New("the demo creates network namespaces and needs root: run it with sudo")

// The lab's addresses.
var (
	vip      = netip.MustParseAddr("10.99.0.100")
	addrs    = map[string]netip.Addr{"lb1": mustAddr("10.99.0.1"), "lb2": mustAddr("10.99.0.2"), "client": mustAddr("10.99.0.10"), "be1": mustAddr("10.99.0.21"), "be2": mustAddr("10.99.0.22")}
	nodes    = []string{"lb1", "lb2"}
	backends = []string{"be1", "be2"}
)

const (
	backendPort   = 8080
	probeInterval = 10 * time.Millisecond
	probeTimeout  = 200 * time.Millisecond
	tick          = 500 * time.Millisecond
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// Run runs the demo, printing to out, and returns nil when every step
// happened as expected. Cancelling ctx (Ctrl-C) stops it; it cleans up in
// every case.
func Run(ctx context.Context, o Options, out io.Writer) (err error) {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	if o.Watch <= 0 {
		o.Watch = 2 * time.Second
	}
	if o.Binary == "" {
		if o.Binary, err = os.Executable(); err != nil {
			return err
		}
	}
	d := &demo{o: o, p: &printer{w: out, start: time.Now()}, nodes: map[string]*node{}}
	defer func() {
		// The nodes' logs help when a step failed, not after a Ctrl-C.
		if cerr := d.cleanup(err != nil && ctx.Err() == nil); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	return d.run(ctx)
}

type demo struct {
	o       Options
	p       *printer
	work    string
	lab     *lab
	hosts   map[string]*host
	nodes   map[string]*node
	servers []*http.Server
	probe   *prober
	stop    context.CancelFunc // stops the probe and the timeline
	bg      sync.WaitGroup
	steps   []stepResult
}

// node is one vigil process in its namespace.
type node struct {
	name string
	h    *host
	conf string
	log  *os.File
	cmd  *exec.Cmd
	done chan struct{}
}

type stepResult struct {
	what     string
	from, to string
	outage   time.Duration
}

func (d *demo) run(ctx context.Context) error {
	p := d.p
	p.say("vigil demo: two vigil nodes share a virtual IP (VIP) in front of two web")
	p.say("backends, all in network namespaces on this machine. We crash the master and")
	p.say("watch the VIP move, with the outage a client sees, then bring it back.")
	p.say("")
	if swept := Sweep(); len(swept) > 0 {
		p.say("removed leftovers of an earlier demo that did not clean up: %s", strings.Join(swept, " "))
	}
	var err error
	if d.work, err = os.MkdirTemp("", "vigil-demo-"); err != nil {
		return err
	}
	if err := d.build(); err != nil {
		return fmt.Errorf("building the lab: %w", err)
	}
	if err := d.startBackends(); err != nil {
		return fmt.Errorf("starting the backends: %w", err)
	}
	for _, n := range nodes {
		if err := d.writeConfig(n); err != nil {
			return err
		}
	}
	p.say("lb1's config (lb2's differs only in node name and priority 100):")
	b, _ := os.ReadFile(d.nodes["lb1"].conf)
	p.block(string(b))

	p.event("start vigil on lb1 and lb2")
	p.say("          they elect a master with VRRP adverts every 100ms; the higher priority")
	p.say("          (lb1, 150) wins and adds the VIP to its interface. Both proxies check")
	p.say("          the backends every 100ms, so either node can serve at once.")
	for _, n := range nodes {
		if err := d.start(n); err != nil {
			return err
		}
	}
	if err := d.waitFor(ctx, 15*time.Second, "lb1 to hold the VIP", func() bool { return d.owner() == "lb1" }); err != nil {
		return err
	}
	d.startClient(ctx)
	if err := d.waitFor(ctx, 10*time.Second, "answers from both backends", func() bool {
		t := d.probe.totals()
		return t["be1"] > 0 && t["be2"] > 0
	}); err != nil {
		return err
	}
	p.event("lb1 holds the VIP; the client is answered by be1 and be2 in turn (round robin)")
	p.say("          timeline every 0.5s: who holds the VIP, answers per backend, failed requests")
	if err := sleep(ctx, d.o.Watch); err != nil {
		return err
	}

	// 1. Crash.
	d.p.event("CRASH: kill -9 the vigil on lb1 (the master)")
	p.say("          a crash sends no goodbye: lb2 takes over when it has missed lb1's adverts")
	p.say("          for 3 intervals plus a skew (~0.35s) and announces the VIP by ARP;")
	p.say("          until then the client's requests reach lb1, where nothing answers.")
	from := d.owner()
	t0 := time.Now()
	d.nodes["lb1"].signal(syscall.SIGKILL)
	if err := d.waitFor(ctx, 10*time.Second, "lb2 to take the VIP and answer", func() bool {
		return d.owner() == "lb2" && d.probe.answeredSince(t0)
	}); err != nil {
		return err
	}
	if err := d.finishStep(ctx, "crash of the master (kill -9)", from, t0, "lb2 took the VIP"); err != nil {
		return err
	}

	// 2. Restart: lb1 preempts.
	d.p.event("RESTART vigil on lb1")
	p.say("          its crash left the VIP on its interface; it keeps it only until it")
	p.say("          hears lb2's adverts. Their priority (100) is below its own 150, so it")
	p.say("          preempts: lb2 steps down and lb1 takes the VIP back.")
	from = d.owner()
	t0 = time.Now()
	if err := d.start("lb1"); err != nil {
		return err
	}
	if err := d.waitFor(ctx, 15*time.Second, "lb1 to take the VIP back", func() bool {
		return d.owner() == "lb1" && d.probe.answeredSince(time.Now().Add(-100*time.Millisecond))
	}); err != nil {
		return err
	}
	if err := d.finishStep(ctx, "lb1 restarted (preempts back)", from, t0, "lb1 is master again"); err != nil {
		return err
	}

	// 3. Graceful stop.
	d.p.event("GRACEFUL STOP of lb1 (SIGTERM, as systemctl stop does)")
	p.say("          lb1 advertises priority 0 so lb2 takes over at once, and keeps the VIP")
	p.say("          until it hears lb2 as master: the client should barely notice.")
	from = d.owner()
	t0 = time.Now()
	lb1 := d.nodes["lb1"]
	lb1.signal(syscall.SIGTERM)
	if err := d.waitFor(ctx, 10*time.Second, "lb2 to take the VIP and lb1 to exit", func() bool {
		return d.owner() == "lb2" && !lb1.running() && d.probe.answeredSince(t0)
	}); err != nil {
		return err
	}
	if code := lb1.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("lb1's vigil exited %d after SIGTERM, want 0", code)
	}
	if err := d.finishStep(ctx, "graceful stop (SIGTERM)", from, t0, "lb2 took the VIP; lb1 exited 0"); err != nil {
		return err
	}
	d.stopClient()
	d.summary()
	return nil
}

// finishStep lets the timeline run, then reports the step's outage: the
// longest time the client went without an answer since the step began.
func (d *demo) finishStep(ctx context.Context, what, from string, t0 time.Time, done string) error {
	d.p.event(done)
	if err := sleep(ctx, d.o.Watch); err != nil {
		return err
	}
	gap := d.probe.longestGap(t0, time.Now())
	r := stepResult{what: what, from: from, to: d.owner(), outage: gap}
	d.steps = append(d.steps, r)
	d.p.event("%s: VIP %s -> %s, the client went %s without an answer", what, r.from, r.to, ms(gap))
	return nil
}

func (d *demo) summary() {
	p := d.p
	p.say("")
	p.say("Summary. The client sent a request every 10ms; an outage is its longest wait")
	p.say("between two answers (a request unanswered after 200ms counts as failed), so")
	p.say("about 10ms means no request was lost.")
	for _, s := range d.steps {
		p.say("  %-31s VIP %s -> %s   outage %s", s.what, s.from, s.to, ms(s.outage))
	}
	t := d.probe.totals()
	p.say("  requests answered: be1 %d, be2 %d; failed: %d", t["be1"], t["be2"], t[""])
}

// build creates the namespaces: a bridge and the five hosts on it.
func (d *demo) build() error {
	prefix := prefixFor(os.Getpid())
	l, err := newLab(prefix)
	d.lab = l
	if err != nil {
		return err
	}
	d.hosts = map[string]*host{}
	for _, name := range []string{"lb1", "lb2", "client", "be1", "be2"} {
		h, err := l.addHost(name, addrs[name])
		if err != nil {
			return err
		}
		d.hosts[name] = h
	}
	d.p.say("lab: network namespaces %s{sw,lb1,lb2,client,be1,be2} on a private bridge", prefix)
	d.p.say("  lb1 %-11s vigil, VRRP priority 150 (preferred master)", addrs["lb1"])
	d.p.say("  lb2 %-11s vigil, VRRP priority 100 (backup)", addrs["lb2"])
	d.p.say("  be1 %-11s web backend, answers \"be1\"", addrs["be1"])
	d.p.say("  be2 %-11s web backend, answers \"be2\"", addrs["be2"])
	d.p.say("  client %-8s requests http://%s/ (the VIP) every 10ms", addrs["client"], vip)
	d.p.say("")
	return nil
}

// startBackends serves each backend's name over HTTP from its namespace.
func (d *demo) startBackends() error {
	for _, name := range backends {
		h := d.hosts[name]
		var ln net.Listener
		err := in(h.h, func() (err error) {
			ln, err = net.Listen("tcp", netip.AddrPortFrom(h.addr, backendPort).String())
			return err
		})
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, name+"\n")
		}), ReadHeaderTimeout: 5 * time.Second}
		d.servers = append(d.servers, srv)
		go srv.Serve(ln)
	}
	return nil
}

func (d *demo) writeConfig(name string) error {
	prio := 150
	if name == "lb2" {
		prio = 100
	}
	var be []string
	for _, b := range backends {
		be = append(be, fmt.Sprintf("%q", netip.AddrPortFrom(addrs[b], backendPort).String()))
	}
	cfg := fmt.Sprintf(`node: %s
api: { listen: "", socket: "" }   # no status API in the lab
vrrp:
  - name: VI_DEMO
    interface: eth0
    vrid: 51
    priority: %d
    advert_interval: 100ms
    vips: [%s/24]
    garp: { delay: 0s, repeat: 3 }
services:
  - name: web
    listen: %s:80
    mode: proxy
    protocol: http
    balance: roundrobin
    check: { type: http, path: /, interval: 100ms, timeout: 200ms, rise: 1, fall: 2 }
    backends: [%s]
`, name, prio, vip, vip, strings.Join(be, ", "))
	file := filepath.Join(d.work, name+".yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(d.work, name+".log"))
	if err != nil {
		return err
	}
	d.nodes[name] = &node{name: name, h: d.hosts[name], conf: file, log: log}
	return nil
}

// start runs `vigil run` on the node (again, after it ended).
func (d *demo) start(name string) error {
	n := d.nodes[name]
	if n.running() {
		return fmt.Errorf("%s is already running", name)
	}
	fmt.Fprintf(n.log, "--- vigil run -c %s\n", n.conf)
	cmd, err := n.h.start(n.log, d.o.Binary, "run", "-c", n.conf)
	if err != nil {
		return fmt.Errorf("start vigil on %s: %w", name, err)
	}
	n.cmd, n.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		cmd.Wait()
		close(done)
	}(n.done)
	return nil
}

func (n *node) running() bool {
	if n.done == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// signal sends sig to the node's process group.
func (n *node) signal(sig syscall.Signal) {
	if n.running() {
		syscall.Kill(-n.cmd.Process.Pid, sig)
	}
}

// owner names the running nodes that hold the VIP: "lb1", "lb2", "none" or
// both. A node whose vigil is dead is left out: a crashed master's
// interface keeps a stale copy of the VIP, but nobody answers for it.
func (d *demo) owner() string {
	var who []string
	for _, name := range nodes {
		n := d.nodes[name]
		if n.running() && n.h.has(vip) {
			who = append(who, name)
		}
	}
	if len(who) == 0 {
		return "none"
	}
	return strings.Join(who, "+")
}

// startClient starts the prober in the client namespace and the timeline.
func (d *demo) startClient(ctx context.Context) {
	ctx, d.stop = context.WithCancel(ctx)
	client := d.hosts["client"]
	tr := &http.Transport{
		DisableKeepAlives: true, // a new connection each time, so each probe finds the current master
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = in(client.h, func() error {
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}
	d.probe = newProber(&http.Client{Transport: tr, Timeout: probeTimeout}, "http://"+vip.String()+"/")
	d.bg.Add(2)
	go func() {
		defer d.bg.Done()
		defer tr.CloseIdleConnections()
		d.probe.run(ctx)
	}()
	go func() {
		defer d.bg.Done()
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c := d.probe.take()
				d.p.line("  VIP on %-7s  be1 %3d   be2 %3d   failed %3d", d.owner(), c["be1"], c["be2"], c[""])
			}
		}
	}()
}

func (d *demo) stopClient() {
	if d.stop != nil {
		d.stop()
		d.bg.Wait()
		d.stop = nil
	}
}

// cleanup stops everything and deletes the lab; failed says whether to
// show the nodes' logs first.
func (d *demo) cleanup(failed bool) error {
	d.stopClient()
	for _, n := range d.nodes {
		n.signal(syscall.SIGKILL)
	}
	for _, n := range d.nodes {
		if n.done != nil {
			select {
			case <-n.done:
			case <-time.After(5 * time.Second):
			}
		}
		n.log.Close()
	}
	if failed {
		for _, name := range nodes {
			if n := d.nodes[name]; n != nil {
				d.p.say("last lines of %s's log:", name)
				d.p.block(tail(filepath.Join(d.work, name+".log"), 15))
			}
		}
	}
	for _, s := range d.servers {
		s.Close()
	}
	var err error
	if d.lab != nil {
		err = d.lab.close()
	}
	if d.work != "" {
		os.RemoveAll(d.work)
	}
	if d.lab != nil {
		if left := Namespaces(d.lab.prefix); len(left) > 0 {
			err = errors.Join(err, fmt.Errorf("namespaces left behind: %s", strings.Join(left, " ")))
		}
	}
	if err == nil {
		d.p.say("cleaned up: the processes, namespaces and files of the demo are gone.")
	}
	return err
}

func (d *demo) waitFor(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s (VIP on %s)", timeout, what, d.owner())
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

func tail(file string, n int) string {
	f, err := os.Open(file)
	if err != nil {
		return err.Error() + "\n"
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// printer writes the demo's lines; event and timeline lines carry the time
// since the start.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func (p *printer) say(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *printer) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%5.1fs "+format+"\n", append([]any{time.Since(p.start).Seconds()}, args...)...)
}

func (p *printer) event(format string, args ...any) { p.line(">> "+format, args...) }

func (p *printer) block(text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range strings.SplitSeq(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(p.w, "    %s\n", l)
	}
}

// prober requests the VIP every probeInterval and counts the answers.
type prober struct {
	client *http.Client
	url    string

	mu     sync.Mutex
	ok     []time.Time    // when each answer came
	period map[string]int // answers per backend since take; "" = failures
	total  map[string]int
}

func newProber(c *http.Client, url string) *prober {
	return &prober{client: c, url: url, period: map[string]int{}, total: map[string]int{}}
}

func (p *prober) run(ctx context.Context) {
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		who := p.once(ctx)
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		p.period[who]++
		p.total[who]++
		if who != "" {
			p.ok = append(p.ok, time.Now())
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// once makes one request and returns the backend that answered, "" on failure.
func (p *prober) once(ctx context.Context) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return ""
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	who := strings.TrimSpace(string(b))
	if err != nil || resp.StatusCode != http.StatusOK || !slices.Contains(backends, who) {
		return ""
	}
	return who
}

// take returns the counts since the last take and starts a new period.
func (p *prober) take() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.period
	p.period = map[string]int{}
	return c
}

func (p *prober) totals() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := make(map[string]int, len(p.total))
	for k, v := range p.total {
		c[k] = v
	}
	return c
}

func (p *prober) answeredSince(t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ok) > 0 && p.ok[len(p.ok)-1].After(t)
}

// longestGap is the longest time between two answers in [from, to],
// counting from the last answer before from.
func (p *prober) longestGap(from, to time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, _ := slices.BinarySearchFunc(p.ok, from, func(a, b time.Time) int { return a.Compare(b) })
	if i > 0 {
		i-- // the last answer before the step began
	}
	var longest time.Duration
	for j := i + 1; j < len(p.ok) && !p.ok[j].After(to); j++ {
		longest = max(longest, p.ok[j].Sub(p.ok[j-1]))
	}
	return longest
}
