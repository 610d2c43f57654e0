// vigil man: the vigil(8) manual page, and the reading of the CLI's own
// help that it and the shell completions (completion.go) are made from.
// The usage text lists the commands and each command's --help gives its
// synopsis, description and flags, so neither the page nor the completions
// can drift from what the binary accepts.
package main

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"vigil/config"
)

// cliCommand is one command of vigil as its help describes it.
type cliCommand struct {
	name string
	// summary is the usage text's short description.
	summary string
	// synopsis holds one line per form, each starting "vigil NAME".
	synopsis []string
	// text is the description its --help prints, line by line; "" parts
	// paragraphs, and an indented line belongs to a preformatted block.
	text  []string
	flags []cliFlag
	// args are the positional arguments, merged over every form.
	args []cliArg
}

// cliFlag is one flag of a command.
type cliFlag struct {
	// name is the flag's name without dashes; the flag package takes
	// -name and --name alike.
	name string
	// arg names the flag's value ("file", "int"); "" for a boolean flag.
	arg   string
	usage string
	// choices are the values the synopsis lists, as in [-o table|json].
	choices []string
	// repeat says the synopsis shows the flag given more than once.
	repeat bool
}

// dashed is how vigil's own usage writes the flag: -c, --print.
func (f cliFlag) dashed() string {
	if len(f.name) == 1 {
		return "-" + f.name
	}
	return "--" + f.name
}

// takesFile says whether the flag's value is a path.
func (f cliFlag) takesFile() bool {
	return len(f.choices) == 0 && (f.arg == "file" || f.arg == "socket")
}

// Kinds of positional argument a completion can offer values for.
const (
	argFile    = "file"    // a path
	argService = "service" // a service of the running daemon
	argBackend = "backend" // a backend of the service given before it
)

// cliArg is one positional argument of a command.
type cliArg struct {
	// name is the synopsis's placeholder (SERVICE) or, for fixed words,
	// the words joined by "|".
	name string
	// choices are the fixed words the argument may be.
	choices []string
	// kind is argFile, argService, argBackend or "".
	kind string
}

var (
	// helpFlag matches the line that starts a flag in flag.PrintDefaults'
	// output: "  -c file", "  -print", "  -q\tprint only problems".
	helpFlag = regexp.MustCompile(`^  -([A-Za-z0-9][\w.-]*)(?: ([^\t]+))?(?:\t(.*))?$`)
	// synopsisChoice matches a flag whose synopsis lists its values.
	synopsisChoice = regexp.MustCompile(`-{1,2}([A-Za-z0-9][\w-]*) ([a-z0-9]+(?:\|[a-z0-9]+)+)\b`)
	// synopsisFlag matches a flag, with its placeholder, in a synopsis:
	// a bracketed group holding a flag, or a bare flag and its value.
	synopsisFlag = regexp.MustCompile(`\[-[^\]]*\]|--?[A-Za-z0-9][\w-]*(?: [A-Z][A-Z_]*)?`)
	// choiceWords matches a positional argument of fixed words.
	choiceWords = regexp.MustCompile(`^\[?([a-z][a-z0-9]*(?:\|[a-z][a-z0-9]*)*)\]?$`)
)

// readCLI describes every command the usage text lists, in its order,
// from the usage text and the command's --help.
func readCLI() []cliCommand {
	cmds := parseUsage(usage)
	for i := range cmds {
		var out bytes.Buffer
		code := runCLI([]string{cmds[i].name, "--help"}, &out, io.Discard)
		if code == 0 {
			parseHelp(&cmds[i], out.String())
		}
		cmds[i].args = parseArgs(cmds[i].synopsis)
		for _, s := range cmds[i].synopsis {
			for _, m := range synopsisChoice.FindAllStringSubmatch(s, -1) {
				if f := cmds[i].flag(m[1]); f != nil {
					f.choices = strings.Split(m[2], "|")
				}
			}
			for j := range cmds[i].flags {
				f := &cmds[i].flags[j]
				repeated := regexp.MustCompile(`\[--?` + regexp.QuoteMeta(f.name) + ` [^\]]*\.\.\.\]`)
				f.repeat = f.repeat || repeated.MatchString(s)
			}
		}
	}
	return cmds
}

// flag returns the command's flag of that name, or nil.
func (c *cliCommand) flag(name string) *cliFlag {
	for i := range c.flags {
		if c.flags[i].name == name {
			return &c.flags[i]
		}
	}
	return nil
}

// parseUsage reads the commands from the usage text: a block per command
// starting "  vigil NAME", its synopsis on the left, its description in a
// column on the right (continued on indented lines).
func parseUsage(text string) []cliCommand {
	lines := strings.Split(text, "\n")
	// The description column is where lines that hold only a description
	// start: the deepest indentation of a continuation line.
	col := 0
	for _, l := range lines {
		if t := strings.TrimLeft(l, " "); t != "" && len(l)-len(t) > col && !strings.HasPrefix(t, "vigil ") {
			col = len(l) - len(t)
		}
	}
	var cmds []cliCommand
	var syn, desc []string
	flush := func() {
		if len(syn) == 0 {
			return
		}
		s := strings.Join(strings.Fields(strings.Join(syn, " ")), " ")
		name, _, _ := strings.Cut(strings.TrimPrefix(s, "vigil "), " ")
		summary := ""
		if len(desc) > 0 {
			summary = desc[0]
		}
		cmds = append(cmds, cliCommand{name: name, summary: summary, synopsis: []string{s}})
		syn, desc = nil, nil
	}
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "  vigil "):
			flush()
		case len(syn) > 0 && strings.HasPrefix(l, "   "):
		default:
			flush()
			continue
		}
		left, right := l, ""
		if col > 2 && len(l) > col && l[col-1] == ' ' && l[col-2] == ' ' && l[col] != ' ' {
			left, right = l[:col], l[col:]
		}
		if t := strings.TrimSpace(left); t != "" {
			syn = append(syn, t)
		}
		if right != "" {
			desc = append(desc, strings.TrimSpace(right))
		}
	}
	flush()
	return cmds
}

// parseHelp reads a command's --help: "Usage: vigil SYNOPSIS" (more forms
// on the lines after it), a blank line, the description, then the flags as
// flag.PrintDefaults prints them. Help that is not so is left unread.
func parseHelp(c *cliCommand, help string) {
	lines := strings.Split(strings.TrimRight(help, "\n"), "\n")
	first, ok := strings.CutPrefix(lines[0], "Usage: ")
	if !ok || !strings.HasPrefix(first, "vigil ") {
		return
	}
	c.synopsis = []string{strings.TrimSpace(first)}
	i := 1
	for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
		c.synopsis = append(c.synopsis, strings.TrimSpace(lines[i]))
	}
	// The flags are the longest tail of flag and flag-usage lines.
	end := len(lines)
	for end > i && (helpFlag.MatchString(lines[end-1]) || strings.HasPrefix(lines[end-1], "    \t")) {
		end--
	}
	for _, l := range lines[end:] {
		if m := helpFlag.FindStringSubmatch(l); m != nil {
			c.flags = append(c.flags, cliFlag{name: m[1], arg: m[2], usage: m[3]})
			continue
		}
		f := &c.flags[len(c.flags)-1]
		f.usage = strings.TrimSpace(f.usage + " " + strings.TrimSpace(l))
	}
	text := lines[i:end]
	for len(text) > 0 && strings.TrimSpace(text[0]) == "" {
		text = text[1:]
	}
	for len(text) > 0 && strings.TrimSpace(text[len(text)-1]) == "" {
		text = text[:len(text)-1]
	}
	c.text = text
}

// parseArgs reads the positional arguments from the synopsis forms, the
// flags taken out: fixed words (drain|enable|maint, [cpu|trace]) and
// placeholders, of which FILE, SERVICE and the ADDRESS after a SERVICE
// can be completed.
func parseArgs(forms []string) []cliArg {
	var args []cliArg
	for _, form := range forms {
		fields := strings.Fields(form)
		if len(fields) < 2 {
			continue
		}
		rest := strings.Join(fields[2:], " ")
		words := strings.Fields(synopsisFlag.ReplaceAllString(rest, " "))
		for i, w := range words {
			if i == len(args) {
				args = append(args, cliArg{})
			}
			a := &args[i]
			switch m := choiceWords.FindStringSubmatch(w); {
			case m != nil:
				for _, word := range strings.Split(m[1], "|") {
					if !slices.Contains(a.choices, word) {
						a.choices = append(a.choices, word)
					}
				}
				a.name = strings.Join(a.choices, "|")
			case w == "FILE":
				a.name, a.kind = w, argFile
			case w == "SERVICE":
				a.name, a.kind = w, argService
			case w == "ADDRESS" && i > 0 && words[i-1] == "SERVICE":
				a.name, a.kind = w, argBackend
			case a.name == "":
				a.name = strings.Trim(w, "[]")
			}
		}
	}
	return args
}

// cmdMan is the hidden "vigil man": it prints vigil(8) in troff, for
// scripts/package.sh to install.
func cmdMan(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("man", "man\n\nPrint the vigil(8) manual page (troff), made from vigil's own help.", stderr)
	if code, stop := parseFlags(fs, args, stdout); stop {
		return code
	}
	ver, _, when := buildStamp()
	day := ""
	if t, err := time.Parse(time.RFC3339, when); err == nil {
		day = t.UTC().Format("2006-01-02")
	}
	if err := writeMan(stdout, readCLI(), ver, day); err != nil {
		fmt.Fprintf(stderr, "vigil man: %v\n", err)
		return 1
	}
	return 0
}

// writeMan renders the page: the commands from the help, around them what
// the help does not say (files, signals, exit status).
func writeMan(w io.Writer, cmds []cliCommand, ver, day string) error {
	var b strings.Builder
	name, _, _ := strings.Cut(usage, "\n")
	name = strings.TrimSuffix(strings.TrimPrefix(name, "vigil: "), ".")
	fmt.Fprintf(&b, ".\\\" Made by \"vigil man\" from vigil's own help; edit that, not this.\n")
	fmt.Fprintf(&b, ".TH VIGIL 8 %s %s \"System Administration\"\n", troffArg(day), troffArg("vigil "+ver))
	fmt.Fprintf(&b, ".SH NAME\nvigil \\- %s\n", troffText(name))

	b.WriteString(".SH SYNOPSIS\n")
	for _, c := range cmds {
		for _, s := range c.synopsis {
			b.WriteString(troffSynopsis(s) + "\n")
		}
	}

	b.WriteString(`.SH DESCRIPTION
.B vigil
does on a Linux load-balancer node what keepalived and HAProxy do together.
VRRP elects which node owns each virtual IP address; each service on a
virtual IP is served by kernel IPVS
.RB ( "mode: lvs" )
or by vigil's own TCP, UDP and HTTP proxy
.RB ( "mode: proxy" );
one set of health checks gates the backends of both and lowers the node's
priority when it cannot serve, so that a healthy peer takes the address.
.PP
.B vigil run
is the daemon, normally started by systemd as
.BR vigil.service ;
the config file is described in
.BR vigil.yaml (5).
The commands that talk to a running daemon
.RB ( status ", " reload ", " backend ", " profile )
use its unix socket, which root and the members of
.B api.socket_group
may use.
Flags may be written with one dash or two, before or after the arguments
where the synopsis shows them so.
`)

	b.WriteString(".SH COMMANDS\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, ".SS %s\n", troffArg(c.name))
		for _, s := range c.synopsis {
			b.WriteString(troffSynopsis(s) + "\n")
		}
		text := c.text
		if len(text) == 0 && c.summary != "" {
			text = []string{strings.ToUpper(c.summary[:1]) + c.summary[1:] + "."}
		}
		writeParagraphs(&b, text)
		for _, f := range c.flags {
			b.WriteString(".TP\n")
			b.WriteString(`\fB` + troffText(f.dashed()) + `\fR`)
			if f.arg != "" {
				b.WriteString(` \fI` + troffText(f.arg) + `\fR`)
			}
			b.WriteString("\n" + troffLine(f.usage) + "\n")
		}
	}

	fmt.Fprintf(&b, `.SH SIGNALS
.B vigil run
handles:
.TP
.BR SIGTERM ", " SIGINT
stop gracefully: a master hands its addresses over at once (priority 0).
.TP
.B SIGHUP
reload the config file; a config that fails keeps the running one.
.TP
.B SIGUSR1
reopen the access log files, after logrotate moved them.
.SH EXIT STATUS
0 on success, 1 on failure (an invalid config, a daemon that does not
answer or refuses), 2 on bad usage.
.B vigil status \-\-check
exits 0, 1 or 2 for OK, WARNING and CRITICAL, as a monitoring plugin does.
.SH FILES
.TP
.I %s
the config file.
.TP
.I %s
the running daemon's unix socket
.RB ( api.socket ).
.SH SEE ALSO
.BR vigil.yaml (5),
.BR keepalived (8),
.BR haproxy (1),
.BR ipvsadm (8),
.BR systemctl (1)
`, troffText(config.DefaultPath), troffText(defaultSocket))
	_, err := io.WriteString(w, b.String())
	return err
}

// writeParagraphs renders help text: blank lines part paragraphs, and
// indented lines (a list of words and what they do) stay as they are.
func writeParagraphs(b *strings.Builder, text []string) {
	fill := true
	indent := 0 // of the preformatted block, which is taken off
	for i, l := range text {
		switch {
		case strings.TrimSpace(l) == "":
			if !fill {
				b.WriteString(".fi\n.RE\n")
				fill = true
			}
		case strings.HasPrefix(l, " "):
			if fill {
				b.WriteString(".RS\n.nf\n")
				fill = false
				indent = len(l)
				for _, next := range text[i:] {
					t := strings.TrimLeft(next, " ")
					if t == "" || len(next) == len(t) {
						break
					}
					indent = min(indent, len(next)-len(t))
				}
			}
			b.WriteString(troffLine(strings.TrimRight(l[indent:], " ")) + "\n")
		default:
			if !fill {
				b.WriteString(".fi\n.RE\n")
				fill = true
			}
			if i == 0 || strings.TrimSpace(text[i-1]) == "" || strings.HasPrefix(text[i-1], " ") {
				b.WriteString(".PP\n")
			}
			b.WriteString(troffLine(l) + "\n")
		}
	}
	if !fill {
		b.WriteString(".fi\n.RE\n")
	}
}

// troffSynopsis renders one synopsis line as a .SY block: the command in
// bold, the placeholders (FILE, SERVICE) in italics, a bracketed group
// kept on one line.
func troffSynopsis(s string) string {
	fields := strings.Fields(s)
	n := min(2, len(fields))
	var b strings.Builder
	b.WriteString(".SY " + troffArg(strings.Join(fields[:n], " ")) + "\n")
	depth := 0
	for i, f := range fields[n:] {
		if i > 0 {
			if depth > 0 {
				b.WriteString(`\ `)
			} else {
				b.WriteString(" ")
			}
		}
		depth += strings.Count(f, "[") - strings.Count(f, "]")
		f = placeholder.ReplaceAllStringFunc(troffText(f), func(p string) string {
			return `\fI` + p + `\fR`
		})
		// A long list of words may break after a bar.
		b.WriteString(strings.ReplaceAll(f, "|", `|\:`))
	}
	if len(fields) > n {
		b.WriteString("\n")
	}
	b.WriteString(".YS")
	return b.String()
}

// placeholder matches a synopsis's placeholder: a word in capitals.
var placeholder = regexp.MustCompile(`\b[A-Z][A-Z_]+\b|\bN\b`)

// troffText escapes text for troff: backslashes, and the dashes of
// flags, which must stay minus signs to be searched for and copied.
func troffText(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '-' && (i == 0 || strings.ContainsRune(" [(|-\"", rune(s[i-1]))) {
			b.WriteString(`\-`)
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// troffLine escapes a line of text; one starting with a dot or an
// apostrophe would be read as a request.
func troffLine(s string) string {
	s = troffText(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// troffArg quotes a macro argument.
func troffArg(s string) string {
	return `"` + strings.ReplaceAll(troffText(s), `"`, `\(dq`) + `"`
}
