package config

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a config file, 1-based as editors show it.
type Pos struct {
	Line   int
	Column int
}

// Problem is one finding about a config file: where it is, which field, and
// what is wrong. Warnings do not stop vigil from running; errors do.
type Problem struct {
	File    string
	Pos     Pos
	Path    string // field path such as vrrp[0].priority; empty for file-level problems
	Message string
	Warning bool
}

// String renders the problem the way compilers do, so editors can jump to it:
// "vigil.yaml:12:15: vrrp[0].priority: 300 is out of range 1..255".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Pos.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Pos.Line)
		if p.Pos.Column > 0 {
			fmt.Fprintf(&b, ":%d", p.Pos.Column)
		}
	}
	b.WriteString(": ")
	if p.Warning {
		b.WriteString("warning: ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error holds every error found in one config file, so a user fixes them all
// in one round instead of one per run.
type Error struct {
	Problems []Problem
}

// Error lists each problem on its own line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems by position so output reads top to bottom.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].Pos, ps[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}
