package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"

	"vigil/api"
	"vigil/config"
)

// startAPI serves the status API, the page and the metrics on
// api.listen (admin actions there need the token) and on the unix socket
// the CLI uses (admin allowed: the socket's permissions are the control).
// Changes to the api: section take effect at the next start, not on
// reload: the socket the CLI talks through must not move under it.
func (d *Daemon) startAPI(rt *runState, cfg config.API) error {
	token := cfg.Token
	if cfg.TokenFile != "" {
		b, err := os.ReadFile(cfg.TokenFile)
		if err != nil {
			return fmt.Errorf("api: token_file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	srv := api.New(d, api.Options{Metrics: d.metrics.Handler(), Token: token, Log: d.log})
	if cfg.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return fmt.Errorf("api: listen on %s: %w", cfg.Listen, err)
		}
		d.log.Info("api listening", "addr", ln.Addr().String())
		rt.start("api "+cfg.Listen, true, func(ctx context.Context) error { return srv.Serve(ctx, ln) })
	}
	if cfg.Socket != "" {
		ln, err := api.ListenSocket(cfg.Socket)
		if err != nil {
			return fmt.Errorf("api: socket %s: %w", cfg.Socket, err)
		}
		rt.start("api socket", true, func(ctx context.Context) error {
			defer os.Remove(cfg.Socket)
			return srv.Serve(ctx, ln)
		})
	}
	return nil
}
