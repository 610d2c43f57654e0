package reference

import (
	"strings"
)

// intro is the text before the fields, in a small markdown: "## " starts
// a section, "- " a list item, ``` fences code, `x` is code, blank lines
// end paragraphs. The Markdown and the man page render it each their way.
const intro = "" +
	"vigil reads one YAML file: `/etc/vigil/vigil.yaml`, or the file named by `-c FILE` " +
	"(`vigil run -c FILE`, `vigil check -c FILE`). This reference lists every field " +
	"by its path: `vrrp[].garp.repeat` is the key `repeat` of the mapping `garp` in each " +
	"item of the list `vrrp`, and `checks.<name>.type` is the key `type` of each named " +
	"entry of `checks`. Each field gives its type as written in YAML, its default (every " +
	"default is set in config/defaults.go), what it means, and the values vigil accepts " +
	"where config/validate.go has a simple rule for them. vigil checks more than is " +
	"listed here: references between sections, addresses of one family, facts about " +
	"the host.\n" +
	"\n" +
	"## Writing the file\n" +
	"\n" +
	"- A field left out, or written with no value (`key:`), takes its default.\n" +
	"- A key vigil does not know is an error, which names the closest known key, or " +
	"vigil's word for a keepalived or HAProxy keyword (`advert_int` is `advert_interval`).\n" +
	"- A duration is a number with a unit: `100ms`, `2s`, `1m30s` (units `ns`, `us`, `ms`, " +
	"`s`, `m`, `h`). A bare number is refused rather than guessed.\n" +
	"- A boolean is `true` or `false`; `yes`, `no`, `on` and `off` are read too.\n" +
	"- Lists and mappings may be written inline: `vips: [10.0.0.100/24]`, " +
	"`api: { listen: 127.0.0.1:9653 }`. Anchors and aliases work; a second YAML " +
	"document (`---`) is refused.\n" +
	"\n" +
	"## Checking a config\n" +
	"\n" +
	"```\n" +
	"vigil check -c /etc/vigil/vigil.yaml\n" +
	"```\n" +
	"\n" +
	"`vigil check` reports every problem at once, one a line, as " +
	"`FILE:LINE:COLUMN: PATH: message`, so an editor can jump to each, and exits 1 " +
	"when there is an error. Facts about the machine (an interface that does not " +
	"exist, a missing notify program or certificate) are warnings, since a config may " +
	"be written for another node, and errors in `vigil run` and `vigil check --strict`. " +
	"`vigil check --print` prints the effective config with every default filled in. " +
	"`vigil reload` (or SIGHUP) makes the running daemon read the file again; a file " +
	"with errors is refused and the running config stays as it was.\n" +
	"\n" +
	"## Editor support\n" +
	"\n" +
	"`docs/vigil.schema.json`, generated with this reference, is a JSON Schema (draft " +
	"2020-12) of the file: every field, its type, its default, the enums and ranges " +
	"below. Editors that use yaml-language-server (VS Code's YAML extension, Neovim, " +
	"Helix, Emacs) check the file as you type and complete keys and values. Name the " +
	"schema in the file's first line (the packages install it as " +
	"`/usr/share/vigil/vigil.schema.json`):\n" +
	"\n" +
	"```yaml\n" +
	"# yaml-language-server: $schema=/usr/share/vigil/vigil.schema.json\n" +
	"```\n" +
	"\n" +
	"or once for all files, in VS Code's `settings.json`:\n" +
	"\n" +
	"```json\n" +
	"\"yaml.schemas\": {\n" +
	"  \"/usr/share/vigil/vigil.schema.json\": [\"vigil.yaml\", \"/etc/vigil/*.yaml\"]\n" +
	"}\n" +
	"```\n" +
	"\n" +
	"The schema accepts every config vigil accepts; `vigil check` remains the judge of " +
	"what the schema cannot express.\n"

// block is one piece of the intro.
type block struct {
	heading string // a section title
	para    paragraph
	item    bool // para is a list item
	code    []string
	lang    string
}

// parseIntro reads the intro's markdown.
func parseIntro(text string) []block {
	var out []block
	var para []string
	var item bool
	flush := func() {
		if len(para) > 0 {
			out = append(out, block{para: inline(strings.Join(para, " ")), item: item})
		}
		para, item = nil, false
	}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "```"):
			flush()
			b := block{lang: strings.TrimPrefix(l, "```")}
			for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
				b.code = append(b.code, lines[i])
			}
			out = append(out, b)
		case strings.HasPrefix(l, "## "):
			flush()
			out = append(out, block{heading: strings.TrimPrefix(l, "## ")})
		case strings.HasPrefix(l, "- "):
			flush()
			para, item = []string{strings.TrimPrefix(l, "- ")}, true
		case strings.TrimSpace(l) == "":
			flush()
		default:
			para = append(para, strings.TrimSpace(l))
		}
	}
	flush()
	return out
}

// inline splits `code` from prose.
func inline(s string) paragraph {
	var p paragraph
	for i, part := range strings.Split(s, "`") {
		if part == "" {
			continue
		}
		p = append(p, span{s: part, code: i%2 == 1})
	}
	return p
}
