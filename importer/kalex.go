package importer

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// keepalived.conf is a sequence of lines of words; "{" and "}" open and
// close blocks and need no spaces around them; "#" and "!" start comments;
// double quotes make one word of text with spaces; "include GLOB" reads
// other files in place, relative to the including file.

// kaToken is one word of keepalived.conf.
type kaToken struct {
	text   string
	quoted bool
	pos    pos
}

// kaLine is the words of one line, comments removed.
type kaLine []kaToken

// Limits that keep a hostile or looping input from exhausting memory.
const (
	maxIncludeDepth = 8
	maxInputLines   = 200000
	maxIncludeReads = 256
)

type kaLexer struct {
	files Files
	notes *notes
	lines []kaLine
	// seen counts every line read and reads every file included, so a file
	// that includes itself many times is refused instead of read forever.
	seen, reads int
}

// lexFile appends the lines of name, expanding includes.
func (l *kaLexer) lexFile(name string, data []byte, depth int) error {
	for i, raw := range strings.Split(string(data), "\n") {
		if l.seen++; l.seen > maxInputLines {
			return fmt.Errorf("%s: more than %d lines (with includes); is an include looping?", name, maxInputLines)
		}
		p := pos{File: name, Line: i + 1}
		if !utf8.ValidString(raw) {
			return fmt.Errorf("%s:%d: not UTF-8 text", name, p.Line)
		}
		line := l.words(raw, p)
		if len(line) == 0 {
			continue
		}
		first := line[0].text
		switch {
		case strings.HasPrefix(first, "@"):
			l.notes.unsupported(p, first, "conditional line for keepalived's -i config id; vigil has one config per node: keep the line if it is meant for this node and import again")
			continue
		case strings.HasPrefix(first, "$"):
			l.notes.unsupported(p, "$", "parameter definitions are not expanded; write the value in place and import again")
			continue
		case strings.HasPrefix(first, "~SEQ"):
			l.notes.unsupported(p, "~SEQ", "sequence expansion is not supported; write the lines out and import again")
			continue
		case first == "include":
			if err := l.include(line, p, depth); err != nil {
				return err
			}
			continue
		}
		l.lines = append(l.lines, line)
	}
	return nil
}

func (l *kaLexer) include(line kaLine, p pos, depth int) error {
	if len(line) < 2 {
		l.notes.unsupported(p, "include", "needs a file or glob")
		return nil
	}
	if depth >= maxIncludeDepth {
		return fmt.Errorf("%s:%d: include nested more than %d deep; is it including itself?", p.File, p.Line, maxIncludeDepth)
	}
	pattern := line[1].text
	if !path.IsAbs(pattern) {
		pattern = path.Join(path.Dir(p.File), pattern)
	}
	matches, err := l.files.Glob(pattern)
	if err != nil {
		l.notes.unsupported(p, "include", "%s: %v", pattern, err)
		return nil
	}
	if len(matches) == 0 {
		l.notes.ignored(p, "include", "%s matches no file, so nothing is included (as keepalived does)", pattern)
	}
	for _, m := range matches {
		if l.reads++; l.reads > maxIncludeReads {
			return fmt.Errorf("%s:%d: more than %d files included; is an include looping?", p.File, p.Line, maxIncludeReads)
		}
		data, err := l.files.ReadFile(m)
		if err != nil {
			return fmt.Errorf("%s:%d: include: %w", p.File, p.Line, err)
		}
		if err := l.lexFile(m, data, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// words splits one line into words: quotes group, braces stand alone, a
// comment sign at the start of a word ends the line.
func (l *kaLexer) words(raw string, p pos) kaLine {
	var out kaLine
	var cur strings.Builder
	inWord, quoted := false, false
	flush := func() {
		if inWord {
			out = append(out, kaToken{text: cur.String(), quoted: quoted, pos: p})
		}
		cur.Reset()
		inWord, quoted = false, false
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '"':
			end := strings.IndexByte(raw[i+1:], '"')
			if end < 0 {
				end = len(raw) - i - 1 // keepalived reads an unclosed quote to the end of the line
			}
			cur.WriteString(raw[i+1 : i+1+end])
			inWord, quoted = true, true
			i += end + 1
		case c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f':
			flush()
		case (c == '#' || c == '!') && !inWord:
			flush()
			return out
		case c == '{' || c == '}':
			flush()
			out = append(out, kaToken{text: string(c), pos: p})
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return out
}
