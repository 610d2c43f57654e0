package importer

import (
	"fmt"
	"slices"
	"strings"
)

// Severity says how much a Note matters to the converted config.
type Severity int

const (
	// Ignored keywords have no effect in vigil, or vigil does the same
	// thing without being told; dropping them changes nothing.
	Ignored Severity = iota
	// Changed keywords are converted to the nearest vigil setting, which
	// behaves somewhat differently; the note says how.
	Changed
	// Unsupported keywords could not be converted; the note says what to do.
	Unsupported
)

// String names the severity as the report prints it.
func (s Severity) String() string {
	switch s {
	case Changed:
		return "changed"
	case Unsupported:
		return "unsupported"
	}
	return "ignored"
}

// Note is one finding of the conversion, tied to the line it is about.
type Note struct {
	// File and Line are where the keyword was written (Line 0: the whole file).
	File string
	Line int
	// Keyword is what the note is about, as the input spells it.
	Keyword string
	// Severity says whether the conversion lost or changed something.
	Severity Severity
	// Message says what happened and what to do.
	Message string
}

// String renders the note like a compiler message so editors can jump to it:
// "keepalived.conf:12: use_vmac: unsupported: vigil has no VMAC interfaces".
func (n Note) String() string {
	loc := n.File
	if n.Line > 0 {
		loc = fmt.Sprintf("%s:%d", n.File, n.Line)
	}
	if n.Keyword == "" {
		return fmt.Sprintf("%s: %s: %s", loc, n.Severity, n.Message)
	}
	return fmt.Sprintf("%s: %s: %s: %s", loc, n.Keyword, n.Severity, n.Message)
}

// pos is a place in an input file.
type pos struct {
	File string
	Line int
}

// notes collects the findings of one conversion. A defaults section applies
// to many proxies, so the same finding can be made more than once; it is
// kept once.
type notes struct {
	list []Note
	seen map[Note]bool
}

func (ns *notes) add(p pos, keyword string, sev Severity, format string, args ...any) {
	n := Note{File: p.File, Line: p.Line, Keyword: keyword, Severity: sev, Message: fmt.Sprintf(format, args...)}
	if ns.seen == nil {
		ns.seen = map[Note]bool{}
	}
	if ns.seen[n] {
		return
	}
	ns.seen[n] = true
	ns.list = append(ns.list, n)
}

func (ns *notes) ignored(p pos, keyword, format string, args ...any) {
	ns.add(p, keyword, Ignored, format, args...)
}

func (ns *notes) changed(p pos, keyword, format string, args ...any) {
	ns.add(p, keyword, Changed, format, args...)
}

func (ns *notes) unsupported(p pos, keyword, format string, args ...any) {
	ns.add(p, keyword, Unsupported, format, args...)
}

// sorted returns the notes in file and line order, so the report reads top
// to bottom and is the same on every run.
func (ns *notes) sorted() []Note {
	out := slices.Clone(ns.list)
	slices.SortStableFunc(out, func(a, b Note) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		if c := strings.Compare(a.Keyword, b.Keyword); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	return out
}
