package importer

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// haproxy.cfg is a list of sections (global, defaults, frontend, backend,
// listen, ...), each a header line and the lines up to the next header.
// A line is words split on blanks; quotes and backslashes escape, "#"
// starts a comment.

// haLine is one line of a section, split into words.
type haLine struct {
	words []string
	pos   pos
}

// haSection is one section: "frontend web", its lines, and the defaults
// section whose lines it inherits.
type haSection struct {
	kind, name string
	from       string // named defaults ("from NAME"), or "" for the last unnamed one
	pos        pos
	lines      []haLine
	defaults   *haSection
}

// haConfig is a parsed haproxy.cfg.
type haConfig struct {
	sections []*haSection
	// stray are lines before the first section header.
	stray []haLine
}

// haSectionKinds are the section headers HAProxy knows.
var haSectionKinds = map[string]bool{
	"global": true, "defaults": true, "frontend": true, "backend": true, "listen": true,
	"resolvers": true, "peers": true, "userlist": true, "mailers": true, "cache": true,
	"program": true, "http-errors": true, "ring": true, "fcgi-app": true, "log-forward": true,
	"crt-store": true, "traces": true,
}

// parseHAProxy splits the file into sections and resolves which defaults
// each proxy inherits.
func parseHAProxy(file string, data []byte) (*haConfig, error) {
	cfg := &haConfig{}
	var cur *haSection
	var lastDefaults *haSection
	named := map[string]*haSection{}
	for i, raw := range strings.Split(string(data), "\n") {
		if i >= maxInputLines {
			return nil, fmt.Errorf("%s: more than %d lines", file, maxInputLines)
		}
		p := pos{File: file, Line: i + 1}
		if !utf8.ValidString(raw) {
			return nil, fmt.Errorf("%s:%d: not UTF-8 text", file, p.Line)
		}
		words, err := haWords(raw)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, p.Line, err)
		}
		if len(words) == 0 {
			continue
		}
		if haSectionKinds[words[0]] {
			cur = &haSection{kind: words[0], pos: p}
			rest := words[1:]
			if len(rest) > 0 && rest[0] != "from" {
				cur.name, rest = rest[0], rest[1:]
			}
			if len(rest) >= 2 && rest[0] == "from" {
				cur.from, rest = rest[1], rest[2:]
			}
			if cur.kind == "listen" && len(rest) > 0 {
				// the old "listen NAME ADDR:PORT" form binds in the header
				cur.lines = append(cur.lines, haLine{words: append([]string{"bind"}, rest...), pos: p})
			}
			switch cur.kind {
			case "defaults", "frontend", "backend", "listen":
				if cur.from != "" {
					cur.defaults = named[cur.from]
					if cur.defaults == nil {
						return nil, fmt.Errorf("%s:%d: no defaults section named %q before this one", file, p.Line, cur.from)
					}
				} else if cur.kind != "defaults" {
					cur.defaults = lastDefaults
				}
			}
			if cur.kind == "defaults" {
				lastDefaults = cur
				if cur.name != "" {
					named[cur.name] = cur
				}
			}
			cfg.sections = append(cfg.sections, cur)
			continue
		}
		line := haLine{words: words, pos: p}
		if cur == nil {
			cfg.stray = append(cfg.stray, line)
			continue
		}
		cur.lines = append(cur.lines, line)
	}
	return cfg, nil
}

// effectiveLines are the lines that apply to a proxy: those of its defaults
// chain first, then its own, so a later line overrides an earlier one.
func (s *haSection) effectiveLines() []haLine {
	var chain []*haSection
	for d := s.defaults; d != nil && len(chain) < 16; d = d.defaults {
		chain = append(chain, d)
	}
	var out []haLine
	for i := len(chain) - 1; i >= 0; i-- {
		out = append(out, chain[i].lines...)
	}
	return append(out, s.lines...)
}

// haWords splits one line as HAProxy does: blanks separate words, "..."
// and '...' quote, a backslash escapes the next character (\r, \n, \t
// are control characters), and an unquoted "#" starts a comment.
func haWords(raw string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '\\' && quote != '\'' && i+1 < len(raw):
			i++
			switch raw[i] {
			case 'r':
				cur.WriteByte('\r')
			case 'n':
				cur.WriteByte('\n')
			case 't':
				cur.WriteByte('\t')
			default:
				cur.WriteByte(raw[i])
			}
			inWord = true
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			quote = c
			inWord = true
		case c == '#':
			i = len(raw)
		case c == ' ' || c == '\t' || c == '\r':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}
