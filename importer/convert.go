package importer

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"vigil/config"
)

// Input names the files to convert; either may be empty.
type Input struct {
	// Keepalived is the path of keepalived.conf.
	Keepalived string
	// HAProxy is the path of haproxy.cfg.
	HAProxy string
}

// Result is one conversion: the vigil config and what was not carried over.
type Result struct {
	// YAML is the vigil config, starting with a comment that summarises
	// the conversion and lists every note.
	YAML []byte
	// Notes are the findings in file and line order.
	Notes []Note
}

// Complete reports whether everything was converted: no note is Unsupported.
func (r *Result) Complete() bool {
	for _, n := range r.Notes {
		if n.Severity == Unsupported {
			return false
		}
	}
	return true
}

// Convert reads the input files and returns the vigil config they amount
// to. An error means an input could not be read or parsed at all; anything
// that parsed but could not be converted is a Note instead.
func Convert(in Input, files Files) (*Result, error) {
	if in.Keepalived == "" && in.HAProxy == "" {
		return nil, fmt.Errorf("importer: no input file")
	}
	ns := &notes{}
	out := &outConfig{}
	services := &serviceSpace{}
	var haServices []*outService
	if in.HAProxy != "" {
		data, err := files.ReadFile(in.HAProxy)
		if err != nil {
			return nil, fmt.Errorf("importer: %w", err)
		}
		cfg, err := parseHAProxy(in.HAProxy, data)
		if err != nil {
			return nil, fmt.Errorf("importer: %w", err)
		}
		hc := newHAConverter(ns, services)
		haServices = hc.convert(cfg)
		if hc.access != nil {
			out.Log = &outLog{Access: hc.access}
		}
	}
	if in.Keepalived != "" {
		data, err := files.ReadFile(in.Keepalived)
		if err != nil {
			return nil, fmt.Errorf("importer: %w", err)
		}
		lx := &kaLexer{files: files, notes: ns}
		if err := lx.lexFile(in.Keepalived, data, 0); err != nil {
			return nil, fmt.Errorf("importer: %w", err)
		}
		top, err := parseKeepalived(lx.lines)
		if err != nil {
			return nil, fmt.Errorf("importer: %w", err)
		}
		kc := newKAConverter(ns, out, services)
		if in.HAProxy != "" {
			kc.haproxy = haServices
			if kc.haproxy == nil { // still "imported alongside", with no service to track
				kc.haproxy = []*outService{}
			}
		}
		kc.convert(top)
	}
	out.Services = append(out.Services, haServices...)

	body, err := encodeYAML(out)
	if err != nil {
		return nil, fmt.Errorf("importer: %w", err)
	}
	validate(body, ns)
	r := &Result{Notes: ns.sorted()}
	r.YAML = append([]byte(header(in, out, r.Notes)), body...)
	return r, nil
}

func encodeYAML(out *outConfig) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	// A blank line before each top-level key sets the sections apart.
	lines := strings.SplitAfter(buf.String(), "\n")
	var b strings.Builder
	for i, l := range lines {
		if i > 0 && l != "" && l[0] != ' ' && l[0] != '-' && l[0] != '\n' {
			b.WriteString("\n")
		}
		b.WriteString(l)
	}
	return []byte(b.String()), nil
}

// validate loads the generated config as vigil would and turns any error
// into a note: the importer's own mapping should never produce one, but if
// it does the user learns it here rather than from vigil run.
func validate(body []byte, ns *notes) {
	_, _, err := config.Parse("imported.yaml", body, config.Options{})
	if err == nil {
		return
	}
	if cerr, ok := err.(*config.Error); ok {
		for _, p := range cerr.Problems {
			ns.unsupported(pos{File: "imported.yaml", Line: p.Pos.Line}, p.Path, "the converted config is not valid here: %s; fix it by hand", p.Message)
		}
		return
	}
	ns.unsupported(pos{File: "imported.yaml"}, "", "the converted config does not load: %v", err)
}

// header is the comment on top of the output: what was converted and every
// note, grouped by what the user has to do about it.
func header(in Input, out *outConfig, list []Note) string {
	var b strings.Builder
	var from []string
	for _, f := range []string{in.Keepalived, in.HAProxy} {
		if f != "" {
			from = append(from, f)
		}
	}
	fmt.Fprintf(&b, "# vigil config converted by \"vigil import\" from %s.\n", strings.Join(from, " and "))
	fmt.Fprintf(&b, "# Converted: %s, %s, %s, %s.\n",
		count(len(out.VRRP), "VRRP instance"), count(len(out.SyncGroups), "sync group"),
		count(len(out.Checks), "check"), count(len(out.Services), "service"))
	if len(out.VRRP) > 0 {
		b.WriteString("# Instances track only what keepalived tracked (auto_track off); turn\n" +
			"# auto_track on to move a VIP away from a node that cannot serve its services.\n")
	}
	groups := []struct {
		sev   Severity
		title string
	}{
		{Unsupported, "Not converted: fix these by hand"},
		{Changed, "Converted with a different behaviour"},
		{Ignored, "Left out, no effect in vigil"},
	}
	for _, g := range groups {
		var lines []string
		for _, n := range list {
			if n.Severity == g.sev {
				lines = append(lines, "#   "+oneLine(n.String()))
			}
		}
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(&b, "#\n# %s (%d):\n%s\n", g.title, len(lines), strings.Join(lines, "\n"))
	}
	b.WriteString("\n")
	return b.String()
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// oneLine keeps a note inside its comment line whatever the input held.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
