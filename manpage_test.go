package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// requireTool returns the path of a packaging tool, skipping the test when
// it is missing unless VIGIL_REQUIRE_PACKAGING=1 (scripts/test.sh) says
// its absence is a failure.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("VIGIL_REQUIRE_PACKAGING") == "1" {
			t.Fatalf("%s is not installed, and VIGIL_REQUIRE_PACKAGING=1", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return path
}

func TestParseUsage(t *testing.T) {
	text := `vigil: test.

Usage:
  vigil run     [-c FILE]             run the daemon
  vigil status  [-s SOCK] [-o json]   show instances
                [--check]             a verdict
  vigil backend drain|enable SERVICE ADDRESS [-s SOCK]
                                      set a backend's admin state
  vigil version                       print the version

Run "vigil COMMAND --help" for a command's flags.
`
	got := parseUsage(text)
	want := []cliCommand{
		{name: "run", summary: "run the daemon", synopsis: []string{"vigil run [-c FILE]"}},
		{name: "status", summary: "show instances", synopsis: []string{"vigil status [-s SOCK] [-o json] [--check]"}},
		{name: "backend", summary: "set a backend's admin state", synopsis: []string{"vigil backend drain|enable SERVICE ADDRESS [-s SOCK]"}},
		{name: "version", summary: "print the version", synopsis: []string{"vigil version"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d commands, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].name != want[i].name || got[i].summary != want[i].summary || !slices.Equal(got[i].synopsis, want[i].synopsis) {
			t.Errorf("command %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseHelp(t *testing.T) {
	help := `Usage: vigil import keepalived FILE [--haproxy FILE] [-o OUT]
       vigil import haproxy FILE [-o OUT]

Convert things.
  a list  kept as it is

Second paragraph.

  -haproxy file
    	haproxy.cfg file
  -o file
    	write the config to this file
    	on two lines
  -q	quiet
  -print
    	print it
`
	var c cliCommand
	parseHelp(&c, help)
	if want := []string{"vigil import keepalived FILE [--haproxy FILE] [-o OUT]", "vigil import haproxy FILE [-o OUT]"}; !slices.Equal(c.synopsis, want) {
		t.Errorf("synopsis %q, want %q", c.synopsis, want)
	}
	if want := []string{"Convert things.", "  a list  kept as it is", "", "Second paragraph."}; !slices.Equal(c.text, want) {
		t.Errorf("text %q, want %q", c.text, want)
	}
	want := []cliFlag{
		{name: "haproxy", arg: "file", usage: "haproxy.cfg file"},
		{name: "o", arg: "file", usage: "write the config to this file on two lines"},
		{name: "q", usage: "quiet"},
		{name: "print", usage: "print it"},
	}
	if !slices.EqualFunc(c.flags, want, func(a, b cliFlag) bool {
		return a.name == b.name && a.arg == b.arg && a.usage == b.usage
	}) {
		t.Errorf("flags %+v, want %+v", c.flags, want)
	}
	args := parseArgs(c.synopsis)
	if len(args) != 2 || !slices.Equal(args[0].choices, []string{"keepalived", "haproxy"}) || args[1].kind != argFile {
		t.Errorf("args %+v, want keepalived|haproxy then a file", args)
	}

	var plain cliCommand
	parseHelp(&plain, "vigil 1.2.3\ncommit abc\n")
	if plain.synopsis != nil || plain.flags != nil {
		t.Errorf("output that is not help was read as help: %+v", plain)
	}
}

// TestReadCLI: the commands' help as readCLI reads it from the real
// commands; the completions depend on each of these.
func TestReadCLI(t *testing.T) {
	cmds := readCLI()
	byName := map[string]*cliCommand{}
	for i := range cmds {
		byName[cmds[i].name] = &cmds[i]
	}
	for _, name := range []string{"run", "check", "status", "reload", "backend", "profile", "demo", "realserver", "import", "version", "completion"} {
		if _, ok := byName[name]; !ok {
			t.Fatalf("no command %q; read %d commands", name, len(cmds))
		}
	}
	if f := byName["status"].flag("o"); f == nil || !slices.Equal(f.choices, []string{"table", "json"}) {
		t.Errorf("status -o: %+v, want the choices table and json", f)
	}
	if f := byName["check"].flag("c"); f == nil || !f.takesFile() || f.repeat {
		t.Errorf("check -c: %+v, want a file, once", f)
	}
	if f := byName["realserver"].flag("vip"); f == nil || !f.repeat {
		t.Errorf("realserver --vip: %+v, want repeatable", f)
	}
	if f := byName["check"].flag("print"); f == nil || f.arg != "" {
		t.Errorf("check --print: %+v, want a boolean", f)
	}
	args := byName["backend"].args
	if len(args) != 3 || !slices.Equal(args[0].choices, []string{"drain", "enable", "maint"}) || args[1].kind != argService || args[2].kind != argBackend {
		t.Errorf("backend's arguments: %+v", args)
	}
	if args := byName["completion"].args; len(args) != 1 || !slices.Equal(args[0].choices, []string{"bash", "zsh", "fish"}) {
		t.Errorf("completion's arguments: %+v", args)
	}
	if len(byName["realserver"].args) != 0 || len(byName["status"].args) != 0 {
		t.Errorf("flags read as arguments: realserver %+v, status %+v", byName["realserver"].args, byName["status"].args)
	}
}

// TestManPage: every command of the usage text and every flag of its help
// is in the page, and the hidden commands are not in the usage.
func TestManPage(t *testing.T) {
	code, page, errOut := runArgs("man")
	if code != 0 {
		t.Fatalf("vigil man: exit %d: %s", code, errOut)
	}
	for _, want := range []string{".TH VIGIL 8 ", ".SH NAME\nvigil \\- VRRP", ".SH SYNOPSIS", ".BR vigil.yaml (5)", "/etc/vigil/vigil.yaml", "/run/vigil/vigil.sock"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	cmds := readCLI()
	if len(cmds) < 10 {
		t.Fatalf("read %d commands from the usage, want 10 or more", len(cmds))
	}
	for _, c := range cmds {
		if !strings.Contains(page, ".SS \""+c.name+"\"\n") || !strings.Contains(page, ".SY \"vigil "+c.name+"\"") {
			t.Errorf("the page has no section or synopsis for %q", c.name)
		}
		for _, f := range c.flags {
			if !strings.Contains(page, `.TP`+"\n"+`\fB`+troffText(f.dashed())+`\fR`) {
				t.Errorf("the page lacks %s's flag %s", c.name, f.dashed())
			}
		}
	}
	for _, hidden := range []string{"vigil man", "__complete"} {
		if strings.Contains(usage, hidden) {
			t.Errorf("the usage text shows the hidden %q", hidden)
		}
	}
	// The backend command's list of actions stays a list.
	if !strings.Contains(page, ".RS\n.nf\ndrain   no new connections") {
		t.Error("the backend's actions are not kept as a list")
	}
}

// TestManPageGroff: groff reads the page without a warning, and renders
// what a reader looks for.
func TestManPageGroff(t *testing.T) {
	groff := requireTool(t, "groff")
	_, page, _ := runArgs("man")
	cmd := exec.Command(groff, "-man", "-ww", "-z")
	cmd.Stdin = strings.NewReader(page)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("groff -man -ww -z: %v\n%s", err, out)
	}
	cmd = exec.Command(groff, "-man", "-Tutf8", "-rLL=100n")
	cmd.Stdin = strings.NewReader(page)
	cmd.Env = append(os.Environ(), "GROFF_NO_SGR=1")
	text, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	plain := stripOverstrike(string(text))
	for _, want := range []string{"vigil backend drain|enable|maint SERVICE ADDRESS [-s SOCKET]", "vigil.yaml(5)", "SIGHUP"} {
		if !strings.Contains(plain, want) {
			t.Errorf("the rendered page lacks %q:\n%s", want, plain)
		}
	}
}

// stripOverstrike takes out the backspace overstrikes (bold, underline) of
// groff's terminal output.
func stripOverstrike(s string) string {
	var b []rune
	for _, r := range s {
		if r == '\b' {
			b = b[:len(b)-1]
			continue
		}
		b = append(b, r)
	}
	return strings.NewReplacer("‐", "-", "−", "-").Replace(string(b))
}

func TestTroffEscapes(t *testing.T) {
	for in, want := range map[string]string{
		`.starts with a dot`:      `\&.starts with a dot`,
		`'starts with a quote`:    `\&'starts with a quote`,
		`a \ backslash`:           `a \e backslash`,
		`--check and -s, not a-b`: `\-\-check and \-s, not a-b`,
	} {
		if got := troffLine(in); got != want {
			t.Errorf("troffLine(%q) = %q, want %q", in, got, want)
		}
	}
}
