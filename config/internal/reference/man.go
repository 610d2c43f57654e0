package reference

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
)

// Man renders vigil.yaml(5) with the man(7) macros.
func (r *Reference) Man() []byte {
	var b bytes.Buffer
	b.WriteString(`.\" Generated from vigil's config package by "go generate ./config"` + "\n")
	b.WriteString(`.\" (config/internal/reference). Do not edit.` + "\n")
	b.WriteString(`.TH VIGIL.YAML 5 "" vigil "File Formats Manual"` + "\n")
	b.WriteString(".SH NAME\nvigil.yaml \\- configuration file of vigil, the VRRP and load\\-balancing daemon\n")
	b.WriteString(".SH SYNOPSIS\n.I /etc/vigil/vigil.yaml\n")
	b.WriteString(".SH DESCRIPTION\n")
	first := true
	for _, bl := range parseIntro(intro) {
		switch {
		case bl.heading != "":
			fmt.Fprintf(&b, ".SH %q\n", strings.ToUpper(bl.heading))
			first = true
			continue
		case bl.code != nil:
			b.WriteString(".PP\n.RS 4\n.nf\n")
			for _, l := range bl.code {
				b.WriteString(roffLine(roff(paragraph{code(l)}, false)))
			}
			b.WriteString(".fi\n.RE\n")
		case bl.item:
			b.WriteString(".IP \\(bu 2\n")
			b.WriteString(roffLine(roff(bl.para, true)))
		default:
			if !first {
				b.WriteString(".PP\n")
			}
			b.WriteString(roffLine(roff(bl.para, true)))
		}
		first = false
	}
	b.WriteString(".SH FIELDS\n")
	for _, sec := range r.sections() {
		fmt.Fprintf(&b, ".SS %s\n", roff(paragraph{plain(sec[0].key)}, false))
		for _, n := range sec {
			r.manEntry(&b, n)
		}
	}
	b.WriteString(".SH FILES\n.TP\n.I /etc/vigil/vigil.yaml\nthe configuration vigil reads unless \\fB\\-c\\fR names another file.\n")
	b.WriteString(".SH \"SEE ALSO\"\n.BR vigil (8),\n.BR keepalived.conf (5),\n.BR haproxy (1)\n")
	return b.Bytes()
}

func (r *Reference) manEntry(b *bytes.Buffer, n *node) {
	fmt.Fprintf(b, ".TP\n.B %s\n", roff(paragraph{plain(n.path)}, false))
	for i, p := range r.describeNode(n) {
		if i > 0 {
			b.WriteString(".IP\n")
		}
		b.WriteString(roffLine(roff(p, true)))
	}
	b.WriteString(".IP\n")
	b.WriteString(roffLine("Type: " + roff(r.typeText(n), true)))
	if d := r.defaultText(n); d != nil {
		b.WriteString(".br\n")
		b.WriteString(roffLine("Default: " + roff(d, true)))
	}
	for _, ru := range r.rulesText(n) {
		b.WriteString(".br\n")
		b.WriteString(roffLine("Accepted: " + roff(ru, true)))
	}
}

// roffLine ends a line of text, keeping troff from reading a leading . or
// ' as a request.
func roffLine(s string) string {
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s + "\n"
}

// roff escapes spans for troff: code in bold with every hyphen a minus
// sign (it is typed as one), prose hyphens kept but for a minus before a
// number, backslashes as \e, other than ASCII as \[uXXXX].
func roff(p paragraph, fonts bool) string {
	var b strings.Builder
	for _, s := range p {
		if s.code && fonts {
			b.WriteString(`\fB`)
		}
		runes := []rune(s.s)
		for i, c := range runes {
			switch {
			case c == '\\':
				b.WriteString(`\e`)
			case c == '-':
				minus := s.code || !fonts
				if !minus && i+1 < len(runes) && unicode.IsDigit(runes[i+1]) && (i == 0 || runes[i-1] == ' ' || runes[i-1] == '(') {
					minus = true
				}
				if minus {
					b.WriteString(`\-`)
				} else {
					b.WriteByte('-')
				}
			case c == '|' && !s.code:
				b.WriteString(" | ") // spaces to break and adjust a long list of values
			case c > unicode.MaxASCII:
				fmt.Fprintf(&b, `\[u%04X]`, c)
			default:
				b.WriteRune(c)
			}
		}
		if s.code && fonts {
			b.WriteString(`\fR`)
		}
	}
	return b.String()
}
