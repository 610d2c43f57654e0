// Command vigil is one binary that replaces keepalived + HAProxy on a
// load-balancer node: VRRP for the VIPs, IPVS or its own proxy for the
// services, and one set of health checks for both. This file is the CLI only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"vigil/config"
	"vigil/daemon"
	"vigil/demo"
)

// version, commit and date may be set at build time, where the build has
// no git checkout to stamp them from (a package, a container image):
//
//	-ldflags "-X main.version=v1.2.3 -X main.commit=abc123 -X main.date=2026-12-07T10:00:00Z"
//
// Otherwise Go's build info gives the module version and the checkout's
// revision and commit time.
var version, commit, date = "", "", ""

func main() {
	if needsInit() {
		os.Exit(runAsInit(os.Args[1:], os.Stderr))
	}
	os.Exit(runCLI(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `vigil: VRRP, load balancing and health checks in one binary.

Usage:
  vigil run     [-c FILE]             run the daemon
  vigil check   [-c FILE] [--print]   validate a config and summarise it
  vigil status  [-s SOCK] [-o json]   show instances, services and backends
                [--check]             a monitoring plugin's verdict: exit 0 OK, 1 WARNING, 2 CRITICAL
  vigil reload  [-s SOCK] [--plan]    reload the running daemon's config (--plan: show what would change)
  vigil backend drain|enable|maint SERVICE ADDRESS [-s SOCK]
                                      set a backend's admin state
  vigil profile [cpu|trace|heap|goroutine|...] [-seconds N] [-o FILE] [-s SOCK]
                                      save a runtime profile of the running daemon
  vigil demo    [--watch DURATION]    watch a VIP fail over in a lab on this machine (root)
  vigil realserver --vip ADDR [--remove] [--persist]
                                      prepare this host as an LVS DR/TUN real server
  vigil import  keepalived|haproxy FILE [--haproxy FILE] [-o OUT]
                                      convert keepalived.conf / haproxy.cfg to a vigil config
  vigil version                       print the version, commit and build date
  vigil completion bash|zsh|fish      print the shell completion script

Run "vigil COMMAND --help" for a command's flags.
The default config file is ` + config.DefaultPath + `; the commands that talk
to a running daemon use its unix socket, ` + defaultSocket + ` by default.
`

// runCLI runs one vigil command and returns its exit code: 0 success,
// 1 failure (such as an invalid config), 2 bad usage.
func runCLI(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "status":
		return cmdStatus(args[1:], stdout, stderr)
	case "reload":
		return cmdReload(args[1:], stdout, stderr)
	case "profile":
		return cmdProfile(args[1:], stdout, stderr)
	case "backend":
		return cmdBackend(args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "realserver":
		return cmdRealserver(args[1:], stdout, stderr)
	case "import":
		return cmdImport(args[1:], stdout, stderr)
	case "completion":
		return cmdCompletion(args[1:], stdout, stderr)
	case "__complete":
		return cmdComplete(args[1:], stdout, stderr)
	case "man":
		return cmdMan(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		ver, rev, when := buildStamp()
		fmt.Fprintf(stdout, "vigil %s\ncommit %s\nbuilt %s\n%s %s/%s\n", ver, rev, when, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "vigil: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// buildStamp is what vigil version says: the version (build flags, else
// the module's, else "dev"), the revision it was built from ("-dirty" when
// the checkout had changes) and its commit time, each "unknown" where
// neither the build flags nor Go's build info say.
func buildStamp() (ver, rev, when string) {
	ver, rev, when = version, commit, date
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if ver == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			ver = bi.Main.Version
		}
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.time":
				if when == "" {
					when = s.Value
				}
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && commit == "" && rev != "" {
			rev += "-dirty"
		}
	}
	if ver == "" {
		ver = "dev"
	}
	if rev == "" {
		rev = "unknown"
	}
	if when == "" {
		when = "unknown"
	}
	return ver, rev, when
}

// newFlags makes a subcommand's flag set whose --help prints to stdout and
// exits 0, while a flag error goes to stderr and exits 2.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("vigil "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: vigil %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags returns an exit code when the command should stop (help or error).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (int, bool) {
	if code, stop := parseFlagsOnly(fs, args, stdout); stop {
		return code, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "vigil: unexpected argument %q\n", fs.Arg(0))
		return 2, true
	}
	return 0, false
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", "check [-c FILE] [--print] [--strict] [-q]\n\nValidate a config file: every error with file:line:column and field,\nthen a summary. Facts about this machine (interfaces, files) are\nwarnings unless --strict, since a config may be meant for another node.", stderr)
	file := fs.String("c", config.DefaultPath, "config `file`")
	print := fs.Bool("print", false, "print the effective config with every default filled in")
	strict := fs.Bool("strict", false, "treat problems about this machine (missing interfaces, files) as errors")
	quiet := fs.Bool("q", false, "print only problems")
	if code, stop := parseFlags(fs, args, stdout); stop {
		return code
	}
	cfg, warnings, err := config.Load(*file, config.Options{Host: config.SystemHost{}, StrictHost: *strict})
	for _, w := range warnings {
		fmt.Fprintln(stderr, w)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		var cerr *config.Error
		if errors.As(err, &cerr) {
			fmt.Fprintf(stderr, "%s: %d error(s); the config was not accepted\n", *file, len(cerr.Problems))
		}
		return 1
	}
	if err := config.Runnable(cfg); err != nil {
		// valid, but vigil run would refuse it
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *print {
		enc := yaml.NewEncoder(stdout)
		enc.SetIndent(2)
		if err := enc.Encode(cfg); err != nil {
			fmt.Fprintf(stderr, "vigil check: print: %v\n", err)
			return 1
		}
		return 0
	}
	if !*quiet {
		printSummary(stdout, cfg, len(warnings))
	}
	return 0
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "run [-c FILE]\n\nRun the daemon with the config file. SIGTERM or SIGINT stops it gracefully:\nmasters hand their VIPs over at once (priority 0).", stderr)
	file := fs.String("c", config.DefaultPath, "config `file`")
	if code, stop := parseFlags(fs, args, stdout); stop {
		return code
	}
	cfg, warnings, err := config.Load(*file, config.Options{Host: config.SystemHost{}, StrictHost: true})
	for _, w := range warnings {
		fmt.Fprintln(stderr, w)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	log := newLogger(cfg.Log, stderr)
	d, err := daemon.New(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "vigil run: %v\n", err)
		return 1
	}
	d.Version, d.Commit, _ = buildStamp()
	// One proxy event loop per core the runtime would use (GOMAXPROCS,
	// which follows the container's CPU limit), each keeping a P while
	// traffic flows (proxy.NewDedicatedRelay); everything else gets as
	// many Ps again, so VRRP and checks never wait behind a busy loop.
	d.ProxyLoops = runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(2 * d.ProxyLoops)
	// TLS handshakes allocate much and keep little, and a collection
	// running beside them stretches their tail latency (bench/tls.sh); the
	// live heap is small, so collecting at twice Go's default growth costs
	// a few megabytes. An operator's GOGC wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// SIGHUP reloads: the file is loaded and checked as at start, and a
	// config that fails keeps the running one.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			d.Reload(ctx) // logs and records every outcome
		}
	}()
	// SIGUSR1 reopens the access log files (logrotate's postrotate), as
	// nginx's SIGUSR1 does.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go func() {
		for range usr1 {
			d.ReopenLogs() // logs the outcome
		}
	}()
	if err := d.Run(ctx); err != nil {
		log.Error("vigil stopped on error", "err", err)
		return 1
	}
	log.Info("vigil stopped")
	return 0
}

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", "demo [--watch DURATION]\n\nBuild a lab of network namespaces on this machine (a client, two vigil\nnodes sharing a VIP, two web backends), crash the master, restart it and\nstop it gracefully, printing who holds the VIP, which backend answers and\nthe outage a client sees. Needs root; takes about 15 seconds; removes\neverything it made on exit and on Ctrl-C.", stderr)
	watch := fs.Duration("watch", 2*time.Second, "how long to watch the traffic after each step")
	if code, stop := parseFlags(fs, args, stdout); stop {
		return code
	}
	if *watch <= 0 || *watch > time.Minute {
		fmt.Fprintf(stderr, "vigil demo: --watch %s: want more than 0 and at most 1m\n", *watch)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := demo.Run(ctx, demo.Options{Watch: *watch}, stdout)
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "vigil demo: stopped early: %v\n", err)
	default:
		fmt.Fprintf(stderr, "vigil demo: %v\n", err)
	}
	return 1
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// printSummary shows what the config declares, one line per instance,
// service and check, so a reader sees at a glance what the node will do.
func printSummary(w io.Writer, c *config.Config, warnings int) {
	status := "OK"
	if warnings > 0 {
		status = fmt.Sprintf("OK with %d warning(s)", warnings)
	}
	fmt.Fprintf(w, "%s: %s\n", c.File, status)
	api := c.API.Listen
	if api == "" {
		api = "off"
	}
	fmt.Fprintf(w, "node %s, api %s, socket %s\n", c.Node, api, c.API.Socket)

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nvrrp instances: %d\n", len(c.VRRP))
	for _, in := range c.VRRP {
		var vips []string
		for _, v := range in.VIPs {
			vips = append(vips, v.Address.String())
		}
		peers := "multicast"
		if len(in.UnicastPeers) > 0 {
			peers = fmt.Sprintf("unicast to %d peer(s)", len(in.UnicastPeers))
		}
		preempt := "preempt"
		if !in.Preempt {
			preempt = "nopreempt"
		} else if in.PreemptDelay > 0 {
			preempt = "preempt after " + in.PreemptDelay.String()
		}
		fmt.Fprintf(tw, "  %s\t%s vrid %d\tv%d priority %d\tadvert %s\t%s, %s\t%s\n",
			in.Name, in.Interface, in.VRID, in.Version, in.Priority, in.AdvertInterval, preempt, peers, strings.Join(vips, " "))
		for _, t := range in.Track {
			fmt.Fprintf(tw, "  \ttrack %s\tweight %d\t\t\t\n", t.Target(), t.Weight)
		}
	}
	for _, g := range c.SyncGroups {
		fmt.Fprintf(tw, "  sync group %s\t%s\t\t\t\t\n", g.Name, strings.Join(g.Members, ", "))
	}

	fmt.Fprintf(tw, "\nservices: %d\n", len(c.Services))
	for _, s := range c.Services {
		where := s.Listen.String()
		if s.Fwmark != 0 {
			where = fmt.Sprintf("fwmark %d", s.Fwmark)
		}
		kind := fmt.Sprintf("%s/%s", s.Mode, s.Protocol)
		if s.Mode == "lvs" {
			kind += "/" + s.LVS.Forward
		}
		check := "no check"
		if s.Check != nil {
			check = describeCheck(s.Check)
		}
		n := len(s.Backends)
		for _, r := range s.Routes {
			n += len(r.Backends)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d backend(s)\t%s\n", s.Name, where, kind, s.Balance, n, check)
	}

	names := make([]string, 0, len(c.Checks))
	for n := range c.Checks {
		names = append(names, n)
	}
	slices.Sort(names)
	fmt.Fprintf(tw, "\nchecks: %d\n", len(names))
	for _, n := range names {
		ch := c.Checks[n]
		target := ch.Target
		if ch.Type == "exec" {
			target = strings.Join(ch.Command, " ")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", n, target, describeCheck(ch))
	}
	tw.Flush()
}

func describeCheck(ch *config.Check) string {
	what := ch.Type
	if ch.Type == "http" || ch.Type == "https" {
		what += " " + ch.Method + " " + ch.Path
	}
	return fmt.Sprintf("%s every %s, timeout %s, rise %d fall %d", what, ch.Interval, ch.Timeout, ch.Rise, ch.Fall)
}
