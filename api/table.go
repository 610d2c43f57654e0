package api

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints st for a terminal, as `vigil status` shows it: the
// node, then the VRRP instances the way keepalived operators read them
// (state, priority over base, master), then each service with its backends
// below it the way `ipvsadm -Ln` lists them, then the recent events. now
// is the time that ages are counted to.
func WriteTable(w io.Writer, st Status, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "node %s, vigil %s, config %s, up %s\n", st.Node, st.Version, st.Config, age(st.Started, now))
	if st.ConfigHash != "" {
		fmt.Fprintf(tw, "config sha256 %s\n", st.ConfigHash)
	}
	if r := st.LastReload; r != nil {
		outcome := "applied"
		if !r.OK {
			outcome = "refused: " + r.Error
		}
		fmt.Fprintf(tw, "last reload %s ago: %s\n", age(r.Time, now), outcome)
	}

	fmt.Fprintf(tw, "\nVRRP instances: %d\n", len(st.Instances))
	if len(st.Instances) > 0 {
		fmt.Fprintln(tw, "  NAME\tINTERFACE\tVRID\tVERSION\tSTATE\tPRIO/BASE\tMASTER\tHEARD\tFOR\tREASON\tTRACKS")
	}
	for _, in := range st.Instances {
		var tracks []string
		for _, t := range in.Tracks {
			s := fmt.Sprintf("%s(%+d)", t.Name, t.Weight)
			if t.Failing {
				s += " FAILING"
			}
			tracks = append(tracks, s)
		}
		heard := "-"
		if in.LastAdvert != nil {
			heard = age(*in.LastAdvert, now) + " ago"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\n",
			in.Name, in.Interface, in.VRID, versionInterval(in), strings.ToUpper(in.State), in.Priority, in.BasePriority,
			orDash(in.MasterAddress), heard, age(in.Since, now), orDash(in.Reason), orDash(strings.Join(tracks, ", ")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The VIPs and the counters go under the table: lists too long for
	// a column.
	for _, in := range st.Instances {
		line := fmt.Sprintf("  %s vips %s", in.Name, orDash(strings.Join(in.VIPs, ", ")))
		if c := in.Counters; c != nil {
			line += fmt.Sprintf("; adverts sent %d, received %d; announcements %d", c.AdvertsSent, c.AdvertsReceived, c.Announcements)
			if c.MasterConflicts > 0 {
				line += fmt.Sprintf("; master conflicts %d", c.MasterConflicts)
			}
			if len(c.Dropped) > 0 {
				reasons := make([]string, 0, len(c.Dropped))
				for r, n := range c.Dropped {
					reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
				}
				sort.Strings(reasons)
				line += "; dropped " + strings.Join(reasons, ", ")
			}
		}
		fmt.Fprintln(w, line)
	}
	if ls := st.LVSSync; ls != nil {
		state := "running"
		if !ls.Running {
			state = "NOT RUNNING"
			if ls.Error != "" {
				state += ": " + ls.Error
			}
		}
		fmt.Fprintf(w, "  LVS sync daemon %s on %s (syncid %d, follows %s): %s\n", ls.Role, ls.Interface, ls.SyncID, ls.Instance, state)
	}
	// Problems go under the table: their causes are sentences, too long
	// for a column.
	for _, in := range st.Instances {
		for _, p := range in.Problems {
			fmt.Fprintf(w, "  ! %s %s from %s for %s: %s\n", in.Name, p.Kind, p.Peer, age(p.Since, now), p.Cause)
		}
	}

	fmt.Fprintf(w, "\nServices: %d\n", len(st.Services))
	for _, s := range st.Services {
		// One tabwriter per service keeps its backends aligned with each
		// other without stretching the service line above them.
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		state := "UP"
		if !s.Up {
			state = "DOWN"
			if s.Reason != "" {
				state += " (" + s.Reason + ")"
			}
		}
		fmt.Fprintf(w, "%s %s %s/%s %s  active %d  total %d  in %s  out %s\n",
			s.Name, s.Listen, s.Mode, s.Protocol, state, s.Active, s.Total, byteSize(s.BytesIn), byteSize(s.BytesOut))
		if len(s.Backends) > 0 {
			fmt.Fprintln(tw, "  -> BACKEND\tGROUP\tWEIGHT\tHEALTH\tADMIN\tACTIVE\tTOTAL\tREASON")
		}
		for _, b := range s.Backends {
			health := "up"
			if !b.Up {
				health = "DOWN"
			}
			fmt.Fprintf(tw, "  -> %s\t%s\t%d/%d\t%s\t%s\t%d\t%d\t%s\n",
				b.Address, orDash(b.Group), b.EffectiveWeight, b.Weight, health, orDash(b.Admin), b.Active, b.Total, orDash(b.Reason))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	recent := st.Recent
	if len(recent) > recentShown {
		recent = recent[len(recent)-recentShown:]
	}
	if len(recent) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "\nRecent events:\n")
		for _, e := range recent {
			change := e.To
			if e.From != "" {
				change = e.From + " -> " + e.To
			}
			fmt.Fprintf(tw, "  %s ago\t%s\t%s\t%s\t%s\n", age(e.Time, now), e.Kind, e.Subject, orDash(change), orDash(e.Reason))
		}
		return tw.Flush()
	}
	return nil
}

// recentShown is how many of the latest events the table shows: enough to
// see what led to the present state, few enough to keep it on one screen.
const recentShown = 10

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// age is how long ago t was, to the second, as "1h2m3s"; "-" for no time.
func age(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t).Truncate(time.Second)
	if d < 0 {
		d = 0
	}
	if d >= 48*time.Hour {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

// byteSize formats a byte count in binary units.
func byteSize(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// versionInterval is an instance's VRRP version and advert interval, as
// "v3/1s"; "-" when the status does not say.
func versionInterval(in Instance) string {
	if in.Version == 0 {
		return "-"
	}
	return fmt.Sprintf("v%d/%s", in.Version, time.Duration(in.AdvertIntervalMs)*time.Millisecond)
}

// WritePlan prints a reload plan as `vigil reload --plan` shows it: the
// hashes, each part with what the reload does to it and its changes
// indented below, and a last line saying whether the reload would apply.
func WritePlan(w io.Writer, p ReloadPlan) error {
	bw := &errWriter{w: w}
	fmt.Fprintf(bw, "reload plan for %s\n", p.Config)
	fmt.Fprintf(bw, "running config sha256 %s\n", orDash(p.RunningHash))
	if p.FileHash != "" {
		same := ""
		if p.FileHash == p.RunningHash {
			same = " (the same)"
		}
		fmt.Fprintf(bw, "file           sha256 %s%s\n", p.FileHash, same)
	}
	for _, part := range p.Parts {
		fmt.Fprintf(bw, "\n%s: %s\n", part.Part, part.Action)
		for _, c := range part.Changes {
			fmt.Fprintf(bw, "    %s\n", c)
		}
	}
	fmt.Fprintln(bw)
	switch {
	case p.Refused != "":
		fmt.Fprintf(bw, "a reload would be REFUSED, keeping the running config:\n%s\n", p.Refused)
	case len(p.Parts) == 0:
		fmt.Fprintln(bw, "nothing would change")
	default:
		fmt.Fprintf(bw, "a reload would apply: %d part(s) change\n", len(p.Parts))
	}
	return bw.err
}

// errWriter keeps the first write error, so a printer can check once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}
