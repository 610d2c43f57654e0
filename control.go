// The commands that talk to a running daemon over its unix socket (status,
// reload, backend, profile), kept apart from the ones that read a config file.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"vigil/api"
)

// defaultSocket is the unix socket the daemon listens on unless api.socket
// says otherwise (the config default).
const defaultSocket = "/run/vigil/vigil.sock"

// requestTimeout bounds one CLI request; a reload that runs notify hooks
// and rebuilds services may take a while.
const requestTimeout = 90 * time.Second

// parseInterspersed parses flags that may come before, between or after
// the positional arguments (vigil backend drain web 10.0.0.1:80 -s SOCK),
// and returns the positional ones; stop is set with the exit code when the
// command should end (help or a flag error).
func parseInterspersed(fs *flag.FlagSet, args []string, stdout io.Writer) (pos []string, code int, stop bool) {
	for {
		code, stop := parseFlagsOnly(fs, args, stdout)
		if stop {
			return nil, code, true
		}
		if fs.NArg() == 0 {
			return pos, 0, false
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// printJSON writes v as the commands' -o json prints it: indented, one
// value.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// dial connects to the daemon, printing why it could not.
func dial(socket, cmd string, stderr io.Writer) (*api.Client, bool) {
	c, err := api.Dial(socket)
	if err != nil {
		fmt.Fprintf(stderr, "vigil %s: %v\n", cmd, err)
		return nil, false
	}
	return c, true
}

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", "status [-s SOCKET] [-o table|json] [--check]\n\nShow the running daemon's VRRP instances (state, priority over base\npriority, master), its services with their backends (weight, health, admin\nstate, connections) and the latest events.\n\nWith --check, print a monitoring plugin's verdict (Nagios, Icinga) and exit\n0 OK, 1 WARNING or 2 CRITICAL: critical for a VRRP instance in fault, two\nmasters, a service down or a daemon that does not answer; warning for an\ninstance starting, a peer silent or configured differently, a backend down\nthat is not drained or in maintenance, the last reload refused.", stderr)
	socket := fs.String("s", defaultSocket, "the daemon's unix `socket`")
	output := fs.String("o", "table", "output `format`: table or json")
	check := fs.Bool("check", false, "print a verdict and exit 0, 1 or 2 (OK, WARNING, CRITICAL)")
	if code, stop := parseFlags(fs, args, stdout); stop {
		return code
	}
	if *check {
		return statusCheck(*socket, stdout)
	}
	if *output != "table" && *output != "json" {
		fmt.Fprintf(stderr, "vigil status: -o %q: want table or json\n", *output)
		return 2
	}
	c, ok := dial(*socket, "status", stderr)
	if !ok {
		return 1
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "vigil status: %v\n", err)
		return 1
	}
	if *output == "json" {
		err = printJSON(stdout, st)
	} else {
		err = api.WriteTable(stdout, st, time.Now())
	}
	if err != nil {
		fmt.Fprintf(stderr, "vigil status: %v\n", err)
		return 1
	}
	return 0
}

// statusCheck is vigil status --check: the verdict on the first line, a
// finding a line after it, the verdict as the exit code.
func statusCheck(socket string, stdout io.Writer) int {
	c, err := api.Dial(socket)
	if err != nil {
		fmt.Fprintf(stdout, "VIGIL CRITICAL - the daemon does not answer on %s: %v\n", socket, err)
		return int(api.Critical)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		fmt.Fprintf(stdout, "VIGIL CRITICAL - the daemon's status: %v\n", err)
		return int(api.Critical)
	}
	level, findings := api.Assess(st)
	fmt.Fprintln(stdout, api.Summary(st, level, findings))
	for _, f := range findings {
		fmt.Fprintln(stdout, f)
	}
	return int(level)
}

func cmdReload(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("reload", "reload [-s SOCKET] [--plan] [-o json]\n\nAsk the running daemon to reload its config file, as SIGHUP does, and wait\nfor the outcome: exit 0 when it was applied, 1 when it was refused (the\nrunning config is kept and the reason printed).\n\nWith --plan, print what a reload would change (each VRRP instance, service,\ncheck and section, what happens to it, and its config differences) and\nchange nothing: exit 0 when a reload would apply, 1 when it would be refused.", stderr)
	socket := fs.String("s", defaultSocket, "the daemon's unix `socket`")
	plan := fs.Bool("plan", false, "print what a reload would change; change nothing")
	output := fs.String("o", "text", "with --plan, the output `format`: text or json")
	if code, stop := parseFlags(fs, args, stdout); stop {
		return code
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(stderr, "vigil reload: -o %q: want text or json\n", *output)
		return 2
	}
	c, ok := dial(*socket, "reload", stderr)
	if !ok {
		return 1
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if *plan {
		p, err := c.PlanReload(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "vigil reload --plan: %v\n", err)
			return 1
		}
		if *output == "json" {
			err = printJSON(stdout, p)
		} else {
			err = api.WritePlan(stdout, p)
		}
		if err != nil {
			fmt.Fprintf(stderr, "vigil reload --plan: %v\n", err)
			return 1
		}
		if p.Refused != "" {
			return 1
		}
		return 0
	}
	if err := c.Reload(ctx); err != nil {
		fmt.Fprintf(stderr, "vigil reload: refused, the running config is kept:\n%v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "reloaded")
	return 0
}

func cmdBackend(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("backend", "backend drain|enable|maint SERVICE ADDRESS [-s SOCKET]\n\nSet a backend's admin state on the running daemon:\n  drain   no new connections; open ones go on\n  maint   out of service; health checks do not bring it back\n  enable  back in service (as its health check says)", stderr)
	socket := fs.String("s", defaultSocket, "the daemon's unix `socket`")
	pos, code, stop := parseInterspersed(fs, args, stdout)
	if stop {
		return code
	}
	if len(pos) != 3 {
		fmt.Fprintf(stderr, "vigil backend: want ACTION SERVICE ADDRESS, got %d argument(s)\n", len(pos))
		fs.Usage()
		return 2
	}
	action, service, address := pos[0], pos[1], pos[2]
	switch action {
	case api.ActionDrain, api.ActionEnable, api.ActionMaint:
	default:
		fmt.Fprintf(stderr, "vigil backend: unknown action %q: want drain, enable or maint\n", action)
		return 2
	}
	c, ok := dial(*socket, "backend", stderr)
	if !ok {
		return 1
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if err := c.SetBackendAdmin(ctx, service, address, action); err != nil {
		fmt.Fprintf(stderr, "vigil backend %s: %v\n", action, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s %s: %s\n", service, address, map[string]string{
		api.ActionDrain: "draining", api.ActionEnable: "enabled", api.ActionMaint: "in maintenance",
	}[action])
	return 0
}

// profileNames maps what the operator asks for to the daemon's pprof
// profile; cpu and trace record over time, the others are snapshots.
var profileNames = map[string]string{
	"cpu": "profile", "trace": "trace", "heap": "heap", "allocs": "allocs",
	"goroutine": "goroutine", "block": "block", "mutex": "mutex", "threadcreate": "threadcreate",
}

func cmdProfile(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("profile", "profile [cpu|trace|heap|allocs|goroutine|block|mutex|threadcreate] [-seconds N] [-o FILE] [-s SOCKET]\n\nSave a runtime profile of the running daemon for go tool pprof (go tool\ntrace for trace). cpu (the default) and trace record for -seconds; the\nothers are a snapshot. Profiles are served on the unix socket only.", stderr)
	socket := fs.String("s", defaultSocket, "the daemon's unix `socket`")
	seconds := fs.Int("seconds", 0, "how long cpu and trace record (default 30 and 5)")
	output := fs.String("o", "", "output `file` (default vigil-KIND.pprof, vigil.trace)")
	pos, code, stop := parseInterspersed(fs, args, stdout)
	if stop {
		return code
	}
	kind := "cpu"
	if len(pos) > 1 {
		fmt.Fprintf(stderr, "vigil profile: want at most one KIND, got %d arguments\n", len(pos))
		return 2
	}
	if len(pos) == 1 {
		kind = pos[0]
	}
	name, ok := profileNames[kind]
	if !ok {
		fmt.Fprintf(stderr, "vigil profile: unknown kind %q: want cpu, trace, heap, allocs, goroutine, block, mutex or threadcreate\n", kind)
		return 2
	}
	if *seconds < 0 || *seconds > 55 {
		// The socket's server gives a request 60 s to be answered.
		fmt.Fprintf(stderr, "vigil profile: -seconds %d: want 1 to 55\n", *seconds)
		return 2
	}
	if *seconds == 0 {
		switch kind {
		case "cpu":
			*seconds = 30
		case "trace":
			*seconds = 5
		}
	}
	if *output == "" {
		*output = "vigil-" + kind + ".pprof"
		if kind == "trace" {
			*output = "vigil.trace"
		}
	}
	c, ok := dial(*socket, "profile", stderr)
	if !ok {
		return 1
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	tmp := *output + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		fmt.Fprintf(stderr, "vigil profile: %v\n", err)
		return 1
	}
	err = c.Profile(ctx, name, *seconds, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, *output)
	}
	if err != nil {
		os.Remove(tmp)
		fmt.Fprintf(stderr, "vigil profile %s: %v\n", kind, err)
		return 1
	}
	tool := "go tool pprof"
	if kind == "trace" {
		tool = "go tool trace"
	}
	fmt.Fprintf(stdout, "wrote %s; look at it with: %s %s\n", *output, tool, *output)
	return 0
}
