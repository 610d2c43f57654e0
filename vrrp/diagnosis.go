package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// ProblemKind is one kind of trouble the diagnosis recognises; the set is
// fixed, so it can label a metric.
type ProblemKind string

const (
	// ProblemMasterConflict: another node keeps advertising as master
	// while this one is master.
	ProblemMasterConflict ProblemKind = "master_conflict"
	// ProblemConfigMismatch: adverts for this VRID that disagree with this
	// node's config (password, interval, version, VIP set).
	ProblemConfigMismatch ProblemKind = "config_mismatch"
	// ProblemPeerSilent: the unicast peer this node followed as master has
	// gone silent and this node took over.
	ProblemPeerSilent ProblemKind = "peer_silent"
)

// ProblemKinds lists every kind, for metrics that report 0 as well as 1.
var ProblemKinds = []ProblemKind{ProblemMasterConflict, ProblemConfigMismatch, ProblemPeerSilent}

// Problem is one ongoing trouble with a peer and its likely cause, as the
// status API and the log show it.
type Problem struct {
	Kind ProblemKind
	Peer netip.Addr
	// Cause says what is probably wrong, in words an operator acts on.
	Cause    string
	Since    time.Time
	LastSeen time.Time
}

// problemKey identifies a problem: one per kind and peer.
type problemKey struct {
	kind ProblemKind
	peer netip.Addr
}

// diagnosis turns what an instance sees on the wire into named problems
// instead of silent flapping: who else claims to be master, whose adverts
// disagree with our config and why, which unicast peer went quiet. Pure:
// the instance feeds it with the time, so it is tested without sockets.
type diagnosis struct {
	problems map[problemKey]*Problem
	// conflicts counts, per peer, the adverts in a row it sent as master
	// while we stayed master (it should have stepped down on our first).
	conflicts map[netip.Addr]int
	heard     map[netip.Addr]time.Time // last accepted advert per source
	followed  netip.Addr               // the master last followed as backup
}

func newDiagnosis() *diagnosis {
	return &diagnosis{problems: map[problemKey]*Problem{}, conflicts: map[netip.Addr]int{}, heard: map[netip.Addr]time.Time{}}
}

// raise records a problem seen now; it reports whether it is new (to log).
func (d *diagnosis) raise(now time.Time, kind ProblemKind, peer netip.Addr, cause string) bool {
	k := problemKey{kind, peer}
	if p, ok := d.problems[k]; ok {
		p.LastSeen, p.Cause = now, cause
		return false
	}
	d.problems[k] = &Problem{Kind: kind, Peer: peer, Cause: cause, Since: now, LastSeen: now}
	return true
}

// clear removes a problem; it reports whether there was one (to log).
func (d *diagnosis) clear(kind ProblemKind, peer netip.Addr) (Problem, bool) {
	k := problemKey{kind, peer}
	p, ok := d.problems[k]
	if ok {
		delete(d.problems, k)
		return *p, true
	}
	return Problem{}, false
}

// mismatch is an advert for our VRID dropped because it disagrees with our
// config (reason is the drop reason, detail what differed).
func (d *diagnosis) mismatch(now time.Time, from netip.Addr, reason DropReason, detail string) bool {
	var cause string
	switch reason {
	case ReasonAuth:
		cause = "authentication differs (" + detail + "): the auth_pass differs between the nodes, so neither obeys the other and both may be master"
	case ReasonInterval:
		cause = "advert interval differs (" + detail + "): set the same advert_interval on every node"
	case ReasonVersion:
		cause = "VRRP version differs (" + detail + "): set the same version on every node"
	case ReasonAddrCount:
		cause = "the advert's address count is wrong (" + detail + ")"
	default:
		cause = detail
	}
	return d.raise(now, ProblemConfigMismatch, from, cause)
}

// advert is an accepted advert from a peer. ours are our VIPs; master is
// whether we were master when it came, and stillMaster after it was obeyed.
// It returns the problems newly raised and those it ended (to log).
func (d *diagnosis) advert(now time.Time, from netip.Addr, adv Advert, ours []netip.Addr, master, stillMaster bool) (raised, ended []Problem) {
	d.heard[from] = now
	if !master && adv.Priority > 0 {
		d.followed = from
	}
	if p, ok := d.clear(ProblemPeerSilent, from); ok {
		ended = append(ended, p)
	}
	if !sameAddrs(adv.Addresses, ours) {
		cause := fmt.Sprintf("%s advertises VRID %d with VIPs %s, ours are %s: another virtual router uses this VRID (pick another vrid) or the VIP lists differ between the nodes",
			from, adv.VRID, addrList(adv.Addresses), addrList(ours))
		if d.raise(now, ProblemConfigMismatch, from, cause) {
			raised = append(raised, *d.problems[problemKey{ProblemConfigMismatch, from}])
		}
	}
	if master && stillMaster && adv.Priority > 0 {
		// A lower-priority master should have stepped down on our first
		// advert; a second one means it does not hear us.
		d.conflicts[from]++
		if d.conflicts[from] >= 2 {
			cause := fmt.Sprintf("%s keeps advertising as master (priority %d) though ours is higher: it does not hear our adverts (protocol 112 filtered from us to it, or a one-way link)", from, adv.Priority)
			if d.raise(now, ProblemMasterConflict, from, cause) {
				raised = append(raised, *d.problems[problemKey{ProblemMasterConflict, from}])
			}
		}
	} else {
		delete(d.conflicts, from)
	}
	return raised, ended
}

// tick ages the problems: one not seen for quiet ends, and a followed
// unicast peer silent for longer than silentAfter while we are master is
// raised. It returns what was raised and what ended (to log).
func (d *diagnosis) tick(now time.Time, quiet, silentAfter time.Duration, master bool, peers []netip.Addr) (raised, ended []Problem) {
	for k, p := range d.problems {
		if k.kind == ProblemPeerSilent {
			continue // ends when the peer is heard again
		}
		if now.Sub(p.LastSeen) > quiet {
			ended = append(ended, *p)
			delete(d.problems, k)
			delete(d.conflicts, k.peer)
		}
	}
	if master && d.followed.IsValid() && slices.Contains(peers, d.followed) {
		if last, ok := d.heard[d.followed]; ok && now.Sub(last) > silentAfter {
			cause := fmt.Sprintf("no adverts from %s since %s, when it was master: it is down, or protocol 112 from it is filtered (if it is up it is master too: split brain)",
				d.followed, last.Format(time.RFC3339))
			if d.raise(now, ProblemPeerSilent, d.followed, cause) {
				raised = append(raised, *d.problems[problemKey{ProblemPeerSilent, d.followed}])
			}
		}
	}
	return raised, ended
}

// list returns the problems, oldest first, for the status snapshot.
func (d *diagnosis) list() []Problem {
	out := make([]Problem, 0, len(d.problems))
	for _, p := range d.problems {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Problem) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(string(a.Kind)+a.Peer.String(), string(b.Kind)+b.Peer.String())
	})
	return out
}

func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.SortFunc(x, netip.Addr.Compare)
	slices.SortFunc(y, netip.Addr.Compare)
	return slices.Equal(x, y)
}

func addrList(a []netip.Addr) string {
	s := make([]string, len(a))
	for i, v := range a {
		s[i] = v.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// diagnoseMismatch feeds an advert for our VRID that our config refused.
func (in *Instance) diagnoseMismatch(from netip.Addr, reason DropReason, detail string) {
	switch reason {
	case ReasonAuth, ReasonInterval, ReasonVersion, ReasonAddrCount:
	default:
		return
	}
	if in.diag.mismatch(time.Now(), from, reason, detail) {
		in.logProblems([]Problem{*in.diag.problems[problemKey{ProblemConfigMismatch, from}]}, nil)
		in.publish("")
	}
}

// diagnoseAdvert feeds an accepted advert, after the machine obeyed it.
func (in *Instance) diagnoseAdvert(from netip.Addr, adv Advert, wasMaster bool) {
	ours := make([]netip.Addr, len(in.cfg.VIPs))
	for i, v := range in.cfg.VIPs {
		ours[i] = v.Prefix.Addr()
	}
	raised, ended := in.diag.advert(time.Now(), from, adv, ours, wasMaster, in.machine.State() == Master)
	in.logProblems(raised, ended)
}

// diagnoseTick ages the problems and looks for a silent peer.
func (in *Instance) diagnoseTick() {
	mdi := MasterDownInterval(in.machine.Priority(), in.cfg.AdvertInterval, in.cfg.Version)
	quiet := max(30*time.Second, 10*mdi)
	raised, ended := in.diag.tick(time.Now(), quiet, 3*mdi, in.machine.State() == Master, in.cfg.UnicastPeers)
	if len(raised)+len(ended) > 0 {
		in.logProblems(raised, ended)
		in.publish("")
	}
}

// logProblems logs each problem once when it starts and once when it ends.
func (in *Instance) logProblems(raised, ended []Problem) {
	for _, p := range raised {
		in.log.Warn("problem with a peer", "problem", string(p.Kind), "peer", p.Peer, "cause", p.Cause)
	}
	for _, p := range ended {
		in.log.Info("problem with a peer ended", "problem", string(p.Kind), "peer", p.Peer, "lasted", p.LastSeen.Sub(p.Since).Round(time.Millisecond))
	}
}
