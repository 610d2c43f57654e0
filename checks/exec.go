package checks

import (
	"context"
	"errors"
	"os"

	"vigil/script"
)

// execProbe runs a program; exit status 0 is up (keepalived MISC_CHECK and
// vrrp_script). The program runs in its own process group so a timeout kills
// everything it started, not just the shell on top.
func execProbe(name string, t Target, opts Options) (probeFunc, error) {
	argv := []string(t.Check.Command)
	if len(argv) == 0 {
		return nil, errors.New("exec check has no command")
	}
	timeout := t.Check.Timeout.D()
	cred, err := script.Credential(opts.ScriptUser)
	if err != nil {
		return nil, err
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = script.DefaultPath
	}
	// A small, explicit environment: the daemon's own may hold secrets (API
	// tokens) that a script run as an unprivileged user must not see.
	env := []string{"PATH=" + path, "VIGIL_CHECK=" + name}
	if t.Address != "" {
		env = append(env, "VIGIL_TARGET="+t.Address)
	}
	cmd := script.Cmd{Argv: argv, Env: env, Cred: cred, KillStragglers: true}
	return func(ctx context.Context) result {
		r := script.Run(ctx, cmd)
		if r.Success() {
			return pass(r.Reason(timeout))
		}
		return fail(r.Reason(timeout))
	}, nil
}
