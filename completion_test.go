package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCompleteCommand asks a real API server on a unix socket, as the
// completion scripts do.
func TestCompleteCommand(t *testing.T) {
	_, sock := serveFake(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "services", "-s", sock}, "web\n"},
		{[]string{"__complete", "-s", sock, "backends", "web"}, "10.0.1.1:8080\n10.0.1.2:8080\n"},
		{[]string{"__complete", "backends", "nosuch", "-s", sock}, ""},
	} {
		code, out, errOut := runArgs(c.args...)
		if code != 0 || out != c.want {
			t.Errorf("vigil %s: exit %d, %q (stderr %q), want %q", strings.Join(c.args, " "), code, out, errOut, c.want)
		}
	}
	for _, args := range [][]string{{"__complete"}, {"__complete", "backends"}, {"__complete", "services", "extra"}, {"__complete", "nodes"}} {
		if code, out, _ := runArgs(append(args, "-s", sock)...); code != 2 || out != "" {
			t.Errorf("vigil %s: exit %d, %q, want 2 and nothing", strings.Join(args, " "), code, out)
		}
	}
}

// TestCompleteWithoutDaemon: no daemon, or one that never answers, is no
// answer and exit 0, soon: a shell waits for it on every Tab.
func TestCompleteWithoutDaemon(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := runArgs("__complete", "services", "-s", filepath.Join(dir, "none.sock")); code != 0 || out != "" || errOut != "" {
		t.Errorf("no daemon: exit %d, %q %q, want 0 and nothing", code, out, errOut)
	}
	// A socket that accepts and never answers.
	ln, err := net.Listen("unix", filepath.Join(dir, "mute.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn // kept open, unanswered, until the listener closes
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	start := time.Now()
	code, out, _ := runArgs("__complete", "backends", "web", "-s", filepath.Join(dir, "mute.sock"))
	if took := time.Since(start); code != 0 || out != "" || took > completeTimeout+time.Second {
		t.Errorf("mute daemon: exit %d, %q after %s, want 0 and nothing within %s", code, out, took, completeTimeout)
	}
}

func TestCompletionUsage(t *testing.T) {
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		if code, out, _ := runArgs(args...); code != 2 || out != "" {
			t.Errorf("vigil %s: exit %d, %q, want 2 and no script", strings.Join(args, " "), code, out)
		}
	}
	if code, out, _ := runArgs("completion", "--help"); code != 0 || !strings.Contains(out, "Usage: vigil completion bash|zsh|fish") {
		t.Errorf("completion --help: exit %d, %q", code, out)
	}
}

// TestCompletionScripts: each script names every command and flag, and
// its shell reads it without a syntax error.
func TestCompletionScripts(t *testing.T) {
	cmds := readCLI()
	dir := t.TempDir()
	for _, sh := range []struct {
		shell string
		check []string // the syntax check, the script's path appended
	}{
		{"bash", []string{"bash", "-n"}},
		{"zsh", []string{"zsh", "-n"}},
		{"fish", []string{"fish", "--no-execute"}},
	} {
		code, script, errOut := runArgs("completion", sh.shell)
		if code != 0 {
			t.Fatalf("completion %s: exit %d: %s", sh.shell, code, errOut)
		}
		for _, c := range cmds {
			if !strings.Contains(script, c.name) {
				t.Errorf("%s: no command %s", sh.shell, c.name)
			}
			for _, f := range c.flags {
				if !strings.Contains(script, f.name) {
					t.Errorf("%s: no flag %s of %s", sh.shell, f.dashed(), c.name)
				}
			}
		}
		file := filepath.Join(dir, "vigil."+sh.shell)
		if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
		if sh.shell != "bash" {
			if _, err := exec.LookPath(sh.shell); err != nil {
				t.Logf("%s is not installed: its script's syntax is not checked", sh.shell)
				continue
			}
		}
		if out, err := exec.Command(sh.check[0], append(sh.check[1:], file)...).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("%s: %v\n%s", strings.Join(sh.check, " "), err, out)
		}
	}
}

// fakeVigil writes a stand-in for vigil that answers __complete with fixed
// names and records how it was asked, and returns its directory for PATH
// and the record's path.
func fakeVigil(t *testing.T) (dir, calls string) {
	t.Helper()
	dir = t.TempDir()
	calls = filepath.Join(dir, "calls")
	stub := `#!/bin/sh
echo "$*" >>` + calls + `
case "$1 $2" in
"__complete services") printf 'web\napi\n' ;;
"__complete backends") printf '10.0.1.1:8080\n10.0.1.2:8080\n' ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "vigil"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, calls
}

// completionCases are lines typed up to the cursor and what Tab offers
// there: commands, flags, fixed words, a flag's values, files, and the
// daemon's services and backends (with the -s given passed on).
var completionCases = []struct {
	line string
	want []string
	// asked is what the stand-in daemon must have been asked, if anything.
	asked string
}{
	{line: "vigil ch", want: []string{"check"}},
	{line: "vigil re", want: []string{"realserver", "reload"}},
	{line: "vigil check --p", want: []string{"--print"}},
	{line: "vigil status -o ", want: []string{"json", "table"}},
	{line: "vigil backend ", want: []string{"drain", "enable", "maint"}},
	{line: "vigil backend drain -s /tmp/x.sock ", want: []string{"api", "web"}, asked: "__complete services -s /tmp/x.sock"},
	{line: "vigil backend maint web ", want: []string{"10.0.1.1:8080", "10.0.1.2:8080"}, asked: "__complete backends web"},
	{line: "vigil profile h", want: []string{"heap"}},
	{line: "vigil completion ", want: []string{"bash", "fish", "zsh"}},
	{line: "vigil version ", want: nil},
}

// TestBashCompletion runs the bash script's function on typed lines, split
// into words as bash splits them (at the colon too), with and without
// bash-completion's helpers.
func TestBashCompletion(t *testing.T) {
	_, script, _ := runArgs("completion", "bash")
	file := filepath.Join(t.TempDir(), "vigil.bash")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	const helpers = "/usr/share/bash-completion/bash_completion"
	modes := []string{""}
	if _, err := os.Stat(helpers); err == nil {
		modes = append(modes, helpers)
	} else {
		t.Logf("bash-completion is not installed: only the script's own word splitting is tested")
	}
	cases := append(completionCases, struct {
		line  string
		want  []string
		asked string
	}{line: "vigil backend drain web 10.0.1.2:", want: []string{"8080"}}) // what follows the colon
	for _, helper := range modes {
		for _, c := range cases {
			bin, calls := fakeVigil(t)
			prog := `
[ -n "$HELPERS" ] && . "$HELPERS"
. "$SCRIPT"
COMP_LINE=$LINE
COMP_POINT=${#COMP_LINE}
COMP_WORDBREAKS=$' \t\n"'"'><=;|&(:"
mapfile -t COMP_WORDS < <(printf '%s' "$COMP_LINE" | sed -E 's/:/ : /g' | tr -s ' ' '\n')
[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_vigil
printf '%s\n' "${COMPREPLY[@]}"
`
			cmd := exec.Command("bash", "-c", prog)
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "HELPERS="+helper, "SCRIPT="+file, "LINE="+c.line)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("bash (helpers %q) %q: %v\n%s", helper, c.line, err, out)
				continue
			}
			got := strings.Fields(string(out))
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("bash (helpers %q) %q: got %q, want %q", helper, c.line, got, c.want)
			}
			checkAsked(t, "bash", c.line, calls, c.asked)
		}
	}
}

// TestFishCompletion asks fish itself (complete -C) what Tab offers.
func TestFishCompletion(t *testing.T) {
	fish, err := exec.LookPath("fish")
	if err != nil {
		t.Skip("fish is not installed")
	}
	_, script, _ := runArgs("completion", "fish")
	file := filepath.Join(t.TempDir(), "vigil.fish")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range completionCases {
		bin, calls := fakeVigil(t)
		cmd := exec.Command(fish, "--no-config", "-c", `source $SCRIPT; complete -C "$LINE"`)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "SCRIPT="+file, "LINE="+c.line)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("fish %q: %v\n%s", c.line, err, out)
			continue
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if word, _, _ := strings.Cut(l, "\t"); word != "" {
				got = append(got, word)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("fish %q: got %q, want %q", c.line, got, c.want)
		}
		checkAsked(t, "fish", c.line, calls, c.asked)
	}
}

// checkAsked checks that the stand-in daemon was asked as expected.
func checkAsked(t *testing.T, shell, line, calls, want string) {
	t.Helper()
	if want == "" {
		return
	}
	b, _ := os.ReadFile(calls)
	if !slices.Contains(strings.Split(strings.TrimSpace(string(b)), "\n"), want) {
		t.Errorf("%s %q: the daemon was asked %q, want %q", shell, line, b, want)
	}
}
