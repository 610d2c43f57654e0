package reference

import (
	"bytes"
	"fmt"
	"strings"
)

// Markdown renders docs/config.md.
func (r *Reference) Markdown() []byte {
	var b bytes.Buffer
	b.WriteString("<!-- Generated from the config package by `go generate ./config` (config/internal/reference). Do not edit. -->\n\n")
	b.WriteString("# vigil.yaml: the config reference\n\n")
	blocks := parseIntro(intro)
	for i, bl := range blocks {
		if i > 0 && blocks[i-1].item && !bl.item {
			b.WriteString("\n")
		}
		switch {
		case bl.heading != "":
			fmt.Fprintf(&b, "## %s\n\n", bl.heading)
		case bl.code != nil:
			fmt.Fprintf(&b, "```%s\n%s\n```\n\n", bl.lang, strings.Join(bl.code, "\n"))
		case bl.item:
			fmt.Fprintf(&b, "- %s\n", md(bl.para))
		default:
			fmt.Fprintf(&b, "%s\n\n", md(bl.para))
		}
	}
	b.WriteString("## Sections\n\n")
	for _, top := range r.root.fields {
		fmt.Fprintf(&b, "- [`%s`](#%s): %s\n", top.key, top.key, md(firstSentence(r.describeNode(top))))
	}
	b.WriteString("\n")
	for _, sec := range r.sections() {
		for i, n := range sec {
			if i == 0 {
				fmt.Fprintf(&b, "## %s\n\n", mdCode(n.path))
			} else {
				fmt.Fprintf(&b, "### %s\n\n", mdCode(n.path))
			}
			r.mdEntry(&b, n)
		}
	}
	return append(bytes.TrimRight(b.Bytes(), "\n"), '\n')
}

func (r *Reference) mdEntry(b *bytes.Buffer, n *node) {
	for _, p := range r.describeNode(n) {
		fmt.Fprintf(b, "%s\n\n", md(p))
	}
	fmt.Fprintf(b, "- Type: %s\n", md(r.typeText(n)))
	if d := r.defaultText(n); d != nil {
		fmt.Fprintf(b, "- Default: %s\n", md(d))
	}
	for _, ru := range r.rulesText(n) {
		fmt.Fprintf(b, "- Accepted: %s\n", md(ru))
	}
	b.WriteString("\n")
}

// firstSentence is the start of a description, for the list of sections.
func firstSentence(paras []paragraph) paragraph {
	if len(paras) == 0 {
		return nil
	}
	var out paragraph
	for _, s := range paras[0] {
		if s.code {
			out = append(out, s)
			continue
		}
		if i := strings.Index(s.s, ". "); i >= 0 {
			return append(out, plain(s.s[:i+1]))
		}
		out = append(out, s)
	}
	return out
}

// md renders spans as Markdown.
func md(p paragraph) string {
	var b strings.Builder
	for _, s := range p {
		if s.code {
			b.WriteString(mdCode(s.s))
			continue
		}
		for _, r := range s.s {
			if strings.ContainsRune("\\*<>`", r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// mdCode sets text as a code span, with enough backquotes around it.
func mdCode(s string) string {
	if !strings.Contains(s, "`") {
		return "`" + s + "`"
	}
	return "`` " + s + " ``"
}
