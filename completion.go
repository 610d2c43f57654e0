// vigil completion: shell completion scripts for bash, zsh and fish, made
// from the CLI's own help (readCLI in manpage.go), and the hidden
// "vigil __complete" they call for the names only the running daemon knows.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"vigil/api"
)

// completeTimeout bounds "vigil __complete": a shell waits for it on every
// Tab, so a daemon that does not answer at once gets no say.
const completeTimeout = time.Second

func cmdCompletion(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("completion", `completion bash|zsh|fish

Print the shell completion script. Commands, flags and fixed words are in
the script; a backend's SERVICE and ADDRESS come from the running daemon.
  bash  source <(vigil completion bash), or save it as
        /usr/share/bash-completion/completions/vigil
  zsh   save it as _vigil in a directory of $fpath
  fish  vigil completion fish | source, or save it as
        ~/.config/fish/completions/vigil.fish`, stderr)
	if code, stop := parseFlagsOnly(fs, args, stdout); stop {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "vigil completion: want one shell (bash, zsh or fish), got %d argument(s)\n", fs.NArg())
		return 2
	}
	var script string
	switch fs.Arg(0) {
	case "bash":
		script = bashCompletion(readCLI())
	case "zsh":
		script = zshCompletion(readCLI())
	case "fish":
		script = fishCompletion(readCLI())
	default:
		fmt.Fprintf(stderr, "vigil completion: unknown shell %q: want bash, zsh or fish\n", fs.Arg(0))
		return 2
	}
	if _, err := io.WriteString(stdout, script); err != nil {
		fmt.Fprintf(stderr, "vigil completion: %v\n", err)
		return 1
	}
	return 0
}

// cmdComplete is the hidden "vigil __complete services|backends SERVICE
// [-s SOCKET]": the completion scripts' question to the running daemon,
// answered with one name a line. A daemon that is not there or slow gets
// no answer and exit 0, so that a Tab never fails or hangs.
func cmdComplete(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil __complete", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	socket := fs.String("s", defaultSocket, "the daemon's unix `socket`")
	pos, code, stop := parseInterspersed(fs, args, io.Discard)
	if stop {
		return code
	}
	if len(pos) == 0 || pos[0] == "backends" && len(pos) != 2 || pos[0] == "services" && len(pos) != 1 ||
		pos[0] != "services" && pos[0] != "backends" {
		fmt.Fprintln(stderr, "vigil __complete: want services, or backends SERVICE")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), completeTimeout)
	defer cancel()
	names := make(chan []string, 1)
	go func() {
		names <- daemonNames(ctx, *socket, pos)
	}()
	select {
	case list := <-names:
		for _, n := range list {
			fmt.Fprintln(stdout, n)
		}
	case <-ctx.Done():
		// api.Dial has its own, longer timeout; the answer is late
		// whatever it says.
	}
	return 0
}

// daemonNames asks the daemon for its services' names or one service's
// backends; nil when it cannot say.
func daemonNames(ctx context.Context, socket string, what []string) []string {
	c, err := api.Dial(socket)
	if err != nil {
		return nil
	}
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return nil
	}
	var names []string
	for _, s := range st.Services {
		switch {
		case what[0] == "services":
			names = append(names, s.Name)
		case s.Name == what[1]:
			for _, b := range s.Backends {
				names = append(names, b.Address)
			}
		}
	}
	return names
}

// valued lists the names of a command's flags that take a value.
func (c cliCommand) valued() []string {
	var names []string
	for _, f := range c.flags {
		if f.arg != "" {
			names = append(names, f.name)
		}
	}
	return names
}

// bashCompletion renders the bash script. It uses bash-completion's
// helpers when they are loaded (they keep host:port whole despite the
// colon in COMP_WORDBREAKS) and plain COMP_WORDS when not.
func bashCompletion(cmds []cliCommand) string {
	var b strings.Builder
	b.WriteString(`# bash completion for vigil(8); made by "vigil completion bash".
# Commands, flags and fixed words are listed here; the services and
# backends of "vigil backend" come from the running daemon (vigil
# __complete), nothing when it does not answer.

# _vigil_daemon asks the daemon, through the socket given with -s if any.
_vigil_daemon() {
	local i sock=
	for ((i = 2; i < cword; i++)); do
		case ${words[i]} in
		-s | --s) sock=${words[i + 1]} ;;
		-s=* | --s=*) sock=${words[i]#*=} ;;
		esac
	done
	# Not compgen -W, which would expand what the daemon says.
	local name
	COMPREPLY=()
	while IFS= read -r name; do
		[[ $name == "$cur"* ]] && COMPREPLY+=("$name")
	done < <("${words[0]}" __complete "$@" ${sock:+-s "$sock"} 2>/dev/null)
}

_vigil_files() {
	compopt -o filenames 2>/dev/null
	mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}

_vigil_words() {
	mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
}

# _vigil_value completes the value of flag $2 of command $1.
_vigil_value() {
	case "$1 $2" in
`)
	for _, c := range cmds {
		for _, f := range c.flags {
			switch {
			case len(f.choices) > 0:
				fmt.Fprintf(&b, "\t%s) _vigil_words %s ;;\n", shellQuote(c.name+" "+f.name), shellQuote(strings.Join(f.choices, " ")))
			case f.takesFile():
				fmt.Fprintf(&b, "\t%s) _vigil_files ;;\n", shellQuote(c.name+" "+f.name))
			}
		}
	}
	b.WriteString(`	esac
}

# _vigil_arg completes positional argument $2 (from 0) of command $1;
# pos holds the ones before it.
_vigil_arg() {
	case "$1 $2" in
`)
	for _, c := range cmds {
		for i, a := range c.args {
			key := shellQuote(fmt.Sprintf("%s %d", c.name, i))
			switch {
			case len(a.choices) > 0:
				fmt.Fprintf(&b, "\t%s) _vigil_words %s ;;\n", key, shellQuote(strings.Join(a.choices, " ")))
			case a.kind == argFile:
				fmt.Fprintf(&b, "\t%s) _vigil_files ;;\n", key)
			case a.kind == argService:
				fmt.Fprintf(&b, "\t%s) _vigil_daemon services ;;\n", key)
			case a.kind == argBackend:
				fmt.Fprintf(&b, "\t%s) _vigil_daemon backends \"${pos[%d]}\" ;;\n", key, i-1)
			}
		}
	}
	b.WriteString(`	esac
}

_vigil() {
	local cur prev words cword
	if declare -F _init_completion >/dev/null; then
		_init_completion -n =: || return
	else
		# Without bash-completion, split the line on blanks alone: COMP_WORDS
		# would cut host:port at the colon.
		COMPREPLY=()
		local line=${COMP_LINE:0:COMP_POINT}
		read -ra words <<<"$line"
		[[ $line == *[[:blank:]] ]] && words+=("")
		cword=$((${#words[@]} - 1))
		cur=${words[cword]}
		prev=${words[cword - 1]}
	fi
	if ((cword == 1)); then
		_vigil_words `)
	var names []string
	for _, c := range cmds {
		names = append(names, c.name)
	}
	b.WriteString(shellQuote(strings.Join(names, " ")))
	b.WriteString(`
		return
	fi
	local cmd=${words[1]} flags valued
	case $cmd in
`)
	for _, c := range cmds {
		var flags []string
		for _, f := range c.flags {
			flags = append(flags, f.dashed())
		}
		fmt.Fprintf(&b, "\t%s) flags=%s valued=%s ;;\n", shellQuote(c.name), shellQuote(strings.Join(flags, " ")), shellQuote(" "+strings.Join(c.valued(), " ")+" "))
	}
	b.WriteString(`	*) return ;;
	esac
	local name=${prev#-}
	name=${name#-}
	if [[ $prev == -* && $valued == *" $name "* ]]; then
		_vigil_value "$cmd" "$name"
		return
	fi
	if [[ $cur == -* ]]; then
		_vigil_words "$flags"
		return
	fi
	# The positional words before this one, flags and their values left out.
	local -a pos=()
	local i w skip=
	for ((i = 2; i < cword; i++)); do
		w=${words[i]}
		if [[ -n $skip ]]; then
			skip=
			continue
		fi
		case $w in
		-*=*) ;;
		-*)
			w=${w#-}
			[[ $valued == *" ${w#-} "* ]] && skip=1
			;;
		*) pos+=("$w") ;;
		esac
	done
	_vigil_arg "$cmd" "${#pos[@]}"
	# Bash replaces only what follows the last colon of the word.
	if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
		local colon=${cur%"${cur##*:}"} i
		for i in "${!COMPREPLY[@]}"; do
			COMPREPLY[i]=${COMPREPLY[i]#"$colon"}
		done
	fi
}

complete -F _vigil vigil
`)
	return b.String()
}

// zshCompletion renders the zsh script (an autoloaded _vigil function).
func zshCompletion(cmds []cliCommand) string {
	var b strings.Builder
	b.WriteString(`#compdef vigil
# zsh completion for vigil(8); made by "vigil completion zsh".
# Commands, flags and fixed words are listed here; the services and
# backends of "vigil backend" come from the running daemon (vigil
# __complete), nothing when it does not answer.

# _vigil_daemon asks the daemon, through the socket given with -s if any.
_vigil_daemon() {
	local sock=${opt_args[-s]:-$opt_args[--s]}
	local -a names
	names=(${(f)"$(${~_vigil_cmd} __complete "$@" ${sock:+-s} ${sock:+$sock} 2>/dev/null)"})
	compadd -a names
}

_vigil() {
	local _vigil_cmd=$words[1]
	local -a commands
	commands=(
`)
	for _, c := range cmds {
		fmt.Fprintf(&b, "\t\t%s\n", shellQuote(c.name+":"+c.summary))
	}
	b.WriteString(`	)
	if ((CURRENT == 2)); then
		_describe -t commands 'vigil command' commands
		return
	fi
	local cmd=$words[2]
	shift words
	((CURRENT--))
	case $cmd in
`)
	for _, c := range cmds {
		fmt.Fprintf(&b, "\t%s)\n\t\t_arguments", shellQuote(c.name))
		for _, f := range c.flags {
			spec := "[" + zshEscape(f.usage) + "]"
			if f.arg != "" {
				action := " "
				switch {
				case len(f.choices) > 0:
					action = "(" + strings.Join(f.choices, " ") + ")"
				case f.takesFile():
					action = "_files"
				}
				spec += ":" + zshEscape(f.arg) + ":" + action
			}
			star := ""
			if f.repeat {
				star = "*"
			}
			names := shellQuote(star + "-" + f.name)
			if len(f.name) > 1 {
				// The flag package takes -name and --name alike.
				names = "{" + shellQuote(star+"-"+f.name) + "," + shellQuote(star+"--"+f.name) + "}"
				if !f.repeat {
					names = shellQuote("(-"+f.name+" --"+f.name+")") + names
				}
			}
			fmt.Fprintf(&b, " \\\n\t\t\t%s%s", names, shellQuote(spec))
		}
		for i, a := range c.args {
			action, message := " ", strings.ToLower(a.name)
			switch {
			case len(a.choices) > 0:
				action, message = "("+strings.Join(a.choices, " ")+")", "word"
			case a.kind == argFile:
				action = "_files"
			case a.kind == argService:
				// In braces, _arguments runs the code as it is, without
				// putting compadd's options among the arguments.
				action = "{_vigil_daemon services}"
			case a.kind == argBackend:
				action = fmt.Sprintf("{_vigil_daemon backends ${line[%d]}}", i)
			}
			fmt.Fprintf(&b, " \\\n\t\t\t%s", shellQuote(fmt.Sprintf("%d:%s:%s", i+1, zshEscape(message), action)))
		}
		b.WriteString("\n\t\t;;\n")
	}
	b.WriteString(`	esac
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
	_vigil "$@"
else
	compdef _vigil vigil
fi
`)
	return b.String()
}

// fishCompletion renders the fish script.
func fishCompletion(cmds []cliCommand) string {
	var b strings.Builder
	b.WriteString(`# fish completion for vigil(8); made by "vigil completion fish".
# Commands, flags and fixed words are listed here; the services and
# backends of "vigil backend" come from the running daemon (vigil
# __complete), nothing when it does not answer.

function __vigil_using --description 'Whether the line runs vigil command $argv[1]'
    set -l t (commandline -opc)
    test (count $t) -ge 2; and test "$t[2]" = "$argv[1]"
end

function __vigil_valued --description 'The flags of command $argv[1] that take a value'
    switch $argv[1]
`)
	for _, c := range cmds {
		if v := c.valued(); len(v) > 0 {
			fmt.Fprintf(&b, "        case %s\n            printf '%%s\\n' %s\n", shellQuote(c.name), strings.Join(v, " "))
		}
	}
	b.WriteString(`    end
end

function __vigil_args --description 'The positional words after the command, flags and their values left out'
    set -l t (commandline -opc)
    set -l valued (__vigil_valued $t[2])
    set -l skip
    for w in $t[3..-1]
        if set -q skip[1]
            set -e skip
            continue
        end
        switch $w
            case '-*=*'
            case '-*'
                if contains -- (string replace -r -- '^--?' '' $w) $valued
                    set skip 1
                end
            case '*'
                echo $w
        end
    end
end

function __vigil_arg --description 'Whether the word to complete is positional argument $argv[1] (from 1)'
    test (count (__vigil_args)) -eq (math $argv[1] - 1)
end

function __vigil_daemon --description 'Names from the running daemon, through the socket given with -s if any'
    set -l t (commandline -opc)
    set -l sock
    for i in (seq 3 (count $t))
        switch $t[$i]
            case -s --s
                if test $i -lt (count $t)
                    set sock -s $t[(math $i + 1)]
                end
            case '-s=*' '--s=*'
                set sock -s (string replace -r -- '^--?s=' '' $t[$i])
        end
    end
    command $t[1] __complete $argv $sock 2>/dev/null
end

complete -c vigil -f
`)
	for _, c := range cmds {
		fmt.Fprintf(&b, "complete -c vigil -n 'test (count (commandline -opc)) -eq 1' -a %s -d %s\n", shellQuote(c.name), shellQuote(c.summary))
	}
	for _, c := range cmds {
		cond := shellQuote("__vigil_using " + c.name)
		for _, f := range c.flags {
			opt := "-l " + f.name
			if len(f.name) == 1 {
				opt = "-s " + f.name
			}
			value := ""
			switch {
			case len(f.choices) > 0:
				value = " -x -a " + shellQuote(strings.Join(f.choices, " "))
			case f.takesFile():
				value = " -r -F"
			case f.arg != "":
				value = " -x"
			}
			fmt.Fprintf(&b, "complete -c vigil -n %s %s%s -d %s\n", cond, opt, value, shellQuote(f.usage))
		}
		for i, a := range c.args {
			cond := shellQuote(fmt.Sprintf("__vigil_using %s; and __vigil_arg %d", c.name, i+1))
			switch {
			case len(a.choices) > 0:
				fmt.Fprintf(&b, "complete -c vigil -n %s -a %s\n", cond, shellQuote(strings.Join(a.choices, " ")))
			case a.kind == argFile:
				fmt.Fprintf(&b, "complete -c vigil -n %s -F\n", cond)
			case a.kind == argService:
				fmt.Fprintf(&b, "complete -c vigil -n %s -a '(__vigil_daemon services)'\n", cond)
			case a.kind == argBackend:
				fmt.Fprintf(&b, "complete -c vigil -n %s -a '(__vigil_daemon backends (__vigil_args)[%d])'\n", cond, i)
			}
		}
	}
	return b.String()
}

// shellQuote quotes s in single quotes, which bash, zsh and fish read
// alike as long as s holds no backslash before a quote.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || slices.Contains([]rune("-_./:="), r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// zshEscape escapes what _arguments reads in a description or message.
func zshEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`, `:`, `\:`).Replace(s)
}
