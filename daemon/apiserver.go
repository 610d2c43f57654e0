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

// apiEndpoints is the running API: one server (status, page, metrics and
// admin routes) and the listeners it serves.
type apiEndpoints struct {
	srv        *api.Server
	cfg        config.API // as running
	stopListen func()     // nil when api.listen is ""
	stopSocket func()     // nil when api.socket is ""
}

// apiChange is a new api: section made ready to take over: its token read
// and the listeners that change already bound, so applying it cannot fail.
type apiChange struct {
	cfg            config.API
	token          string
	listen, socket net.Listener // new listeners; nil when unchanged or off
	listenChanged  bool
	socketChanged  bool
}

// prepareAPI reads the token and binds what differs between old and cfg
// (at start, old is the zero API, so everything configured is bound).
func prepareAPI(old, cfg config.API, dry bool) (c *apiChange, err error) {
	c = &apiChange{cfg: cfg, token: cfg.Token, listenChanged: cfg.Listen != old.Listen, socketChanged: cfg.Socket != old.Socket}
	if cfg.TokenFile != "" {
		b, err := os.ReadFile(cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("api: token_file: %w", err)
		}
		c.token = strings.TrimSpace(string(b))
	}
	defer func() {
		if err != nil {
			c.discard()
		}
	}()
	if c.listenChanged && cfg.Listen != "" {
		if c.listen, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, fmt.Errorf("api: listen on %s: %w", cfg.Listen, err)
		}
	}
	if c.socketChanged && cfg.Socket != "" {
		if c.socket, err = api.ListenSocket(cfg.Socket, cfg.SocketGroup); err != nil {
			return nil, fmt.Errorf("api: socket %s: %w", cfg.Socket, err)
		}
	}
	if !c.socketChanged && cfg.Socket != "" && cfg.SocketGroup != old.SocketGroup {
		// The same socket, another group: changed in place (a dry run
		// only looks the group up).
		if dry {
			_, err = api.LookupSocketGroup(cfg.SocketGroup)
		} else {
			err = api.SetSocketGroup(cfg.Socket, cfg.SocketGroup)
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// discard closes what prepareAPI bound, for a reload that is refused.
func (c *apiChange) discard() {
	if c == nil {
		return
	}
	if c.listen != nil {
		c.listen.Close()
	}
	if c.socket != nil {
		c.socket.Close()
		os.Remove(c.cfg.Socket)
	}
}

// startAPI serves the status API, the page and the metrics on
// api.listen (admin actions there need the token) and on the unix socket
// the CLI uses (admin allowed: the socket's permissions are the control).
func (d *Daemon) startAPI(rt *runState, cfg config.API) error {
	c, err := prepareAPI(config.API{}, cfg, false)
	if err != nil {
		return err
	}
	d.api = &apiEndpoints{srv: api.New(d, api.Options{Metrics: d.metrics.Handler(), Token: c.token, Log: d.log})}
	d.applyAPI(rt, c)
	return nil
}

// applyAPI switches the running API to c: the token at once, new
// listeners started before old ones stop. Old listeners stop in the
// background: the reload being applied may have come in through one of
// them, and stopping waits for its requests to finish.
func (d *Daemon) applyAPI(rt *runState, c *apiChange) {
	e := d.api
	e.srv.SetToken(c.token)
	if c.listenChanged {
		if stop := e.stopListen; stop != nil {
			go stop()
		}
		e.stopListen = nil
		if c.listen != nil {
			ln := c.listen
			d.log.Info("api listening", "addr", ln.Addr().String())
			e.stopListen = rt.start("api "+c.cfg.Listen, true, func(ctx context.Context) error { return e.srv.Serve(ctx, ln) })
		}
	}
	if c.socketChanged {
		if stop := e.stopSocket; stop != nil {
			go stop()
		}
		e.stopSocket = nil
		if c.socket != nil {
			ln, path := c.socket, c.cfg.Socket
			d.log.Info("api socket listening", "path", path)
			e.stopSocket = rt.start("api socket", true, func(ctx context.Context) error {
				defer os.Remove(path)
				return e.srv.Serve(ctx, ln)
			})
		}
	}
	e.cfg = c.cfg
}
