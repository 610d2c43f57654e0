package daemon

import (
	"context"
	"errors"
	"strings"

	"vigil/api"
	"vigil/config"
	"vigil/vrrp"
)

// PlanReload works out what reloading the config file would do now,
// without changing anything (api.Source, vigil reload --plan). It goes
// through everything a reload checks, binding new sockets included, then
// lets go of what it prepared; a reload refused for a reason that did not
// exist yet at planning time (a port taken meanwhile) can still fail.
func (d *Daemon) PlanReload(ctx context.Context) (api.ReloadPlan, error) {
	d.mu.Lock()
	file, running := d.cfg.File, d.cfg.Hash
	d.mu.Unlock()
	out := api.ReloadPlan{Config: file, RunningHash: running, Parts: []api.PlanPart{}}
	cfg, _, err := config.Load(file, config.Options{Host: config.SystemHost{}, StrictHost: true})
	if err != nil {
		out.Refused = err.Error()
		return out, nil
	}
	out.FileHash = cfg.Hash

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rt == nil || d.rt.ctx.Err() != nil {
		return out, errors.New("reload plan: the daemon is not running")
	}
	p, err := d.plan(ctx, cfg, true)
	if err != nil {
		out.Refused = err.Error()
	} else {
		defer p.discard()
	}
	out.Parts = describePlan(d.cfg, cfg, p, d.byName)
	return out, nil
}

// describePlan groups the differences between the running config and cfg
// by the part of the daemon they concern, each with what the reload does
// to it. p is nil for a reload that would be refused: the differences
// are then listed without the actions.
func describePlan(old, cfg *config.Config, p *reloadPlan, running map[string]*vrrp.Instance) []api.PlanPart {
	var parts []api.PlanPart
	index := map[string]int{}
	add := func(part string, ch config.Change) {
		i, ok := index[part]
		if !ok {
			i = len(parts)
			index[part] = i
			parts = append(parts, api.PlanPart{Part: part})
		}
		parts[i].Changes = append(parts[i].Changes, ch.String())
	}
	for _, ch := range config.Diff(old, cfg) {
		add(partOf(ch.Path), ch)
	}
	// A service or instance can be replaced without a field changing: a
	// list reordered (the balancing order follows the config's).
	if p != nil {
		for _, st := range p.startServices {
			if _, ok := index["service "+st.name]; !ok && serviceIndex(old, st.name) >= 0 {
				add("service "+st.name, config.Change{Path: "services[" + st.name + "]", Old: "order of a list", New: "another order"})
			}
		}
	}
	for i := range parts {
		parts[i].Action = actionFor(parts[i].Part, old, cfg, p, running)
	}
	return parts
}

// partOf names the part a config path belongs to: "vrrp VI_1",
// "service web", "check web-http", or the top-level key.
func partOf(path string) string {
	if path == "log.access" || strings.HasPrefix(path, "log.access.") {
		return "log.access" // applied, unlike the rest of log
	}
	top, _, _ := strings.Cut(path, ".")
	name, item, hasItem := strings.Cut(top, "[")
	if !hasItem {
		return name
	}
	item = strings.TrimSuffix(item, "]")
	switch name {
	case "vrrp":
		return "vrrp " + item
	case "services":
		return "service " + item
	case "checks":
		return "check " + item
	case "sync_groups":
		return "sync group " + item
	}
	return name
}

// actionFor says what the reload does to a part. It follows plan and
// commit (reload.go): an instance is kept, reconfigured in place or
// replaced; a proxy service is kept or replaced by one that takes over
// its socket; settings read only at start need a restart.
func actionFor(part string, old, cfg *config.Config, p *reloadPlan, running map[string]*vrrp.Instance) string {
	kind, name, _ := strings.Cut(part, " ")
	switch kind {
	case "vrrp":
		oldIn, newIn := instanceByName(old, name), instanceByName(cfg, name)
		switch {
		case oldIn == nil:
			return "added: starts as BACKUP and takes the VIPs only if elected"
		case newIn == nil:
			return "removed: a master gives its VIPs up (they leave this node)"
		case p == nil:
			return "changed"
		}
		if _, ok := p.reconfigure[running[name]]; ok {
			return "reconfigured in place: state and VIPs held, no failover"
		}
		if err, ok := p.replaced[name]; ok {
			why := strings.TrimPrefix(err.Error(), "vrrp "+name+": ")
			why = strings.TrimSuffix(why, ": "+vrrp.ErrRestartNeeded.Error())
			return "replaced (" + why + "): the instance restarts; as master it gives its VIPs up first"
		}
		return "updated: tracks and notify hooks rewired, the instance runs on"
	case "service":
		oldSc, newSc := serviceByName(old, name), serviceByName(cfg, name)
		switch {
		case oldSc == nil && newSc != nil && newSc.Mode == "lvs":
			return "added: IPVS service created"
		case oldSc == nil:
			return "added: listens on " + listenName(*newSc)
		case newSc == nil && oldSc.Mode == "lvs":
			return "removed: IPVS service deleted"
		case newSc == nil:
			return "removed: stops listening; open connections drain"
		case p == nil:
			return "changed"
		case newSc.Mode == "lvs" && oldSc.Mode == "lvs":
			return "updated: IPVS service and real servers changed in place"
		case newSc.Mode == "lvs":
			return "moves to mode lvs: the proxy stops listening, IPVS takes the address"
		}
		for _, st := range p.startServices {
			if st.name != name {
				continue
			}
			if st.from != nil {
				return "replaced: the new service takes over the listening socket (no connection refused); open connections finish on the old one"
			}
			if oldSc.Mode == "lvs" {
				return "moves to mode proxy: the IPVS service is removed, the proxy listens on " + listenName(*newSc)
			}
			return "replaced on a new socket (" + listenName(*newSc) + "); open connections finish on the old one"
		}
		return "changed"
	case "check":
		return "updated: probes of the new definition carry on from each target's current state"
	case "sync":
		return "regrouped: instances change state together as the new groups say"
	}
	switch part {
	case "api":
		if p == nil || p.api == nil {
			return "changed"
		}
		var what []string
		if p.api.listenChanged {
			what = append(what, "the HTTP listener moves to "+orNone(cfg.API.Listen))
		}
		if p.api.socketChanged {
			what = append(what, "the socket moves to "+orNone(cfg.API.Socket))
		}
		if len(what) == 0 {
			what = append(what, "applied in place")
		}
		return "updated: " + strings.Join(what, "; ")
	case "alerts", "node":
		return "updated: alert senders replaced (queued alerts are still sent)"
	case "log.access":
		return "applied: the proxy services that take this default change with it (listed as replaced)"
	case "lvs":
		return "updated"
	case "log", "nice", "script_user":
		return "needs a restart: a reload keeps the running value"
	}
	return "changed"
}

func instanceByName(c *config.Config, name string) *config.Instance {
	for i := range c.VRRP {
		if c.VRRP[i].Name == name {
			return &c.VRRP[i]
		}
	}
	return nil
}

func serviceByName(c *config.Config, name string) *config.Service {
	if i := serviceIndex(c, name); i >= 0 {
		return &c.Services[i]
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none: off)"
	}
	return s
}
