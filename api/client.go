package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to a running vigil over its unix socket; the CLI uses it.
type Client struct {
	socket string
	http   *http.Client
}

// Error is an error answer from the server.
type Error struct {
	// Code is the HTTP status code.
	Code int
	// Message is the server's explanation.
	Message string
}

// Error returns the server's message.
func (e *Error) Error() string { return e.Message }

// Is makes a 404 answer match ErrNotFound.
func (e *Error) Is(target error) bool {
	return target == ErrNotFound && e.Code == http.StatusNotFound
}

// Dial returns a client for the vigil serving the unix socket at
// socketPath. It connects once so that a daemon that is not running is
// reported here, with the socket's path, rather than at the first request.
func Dial(socketPath string) (*Client, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.Dial("unix", socketPath)
	if err != nil {
		return nil, fmt.Errorf("connect to vigil at %s (is it running? -s sets the socket): %w", socketPath, err)
	}
	c.Close()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socketPath)
		},
		MaxIdleConns:    1,
		IdleConnTimeout: 30 * time.Second,
	}
	return &Client{socket: socketPath, http: &http.Client{Transport: tr}}, nil
}

// Close releases the client's idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/api/status", &st)
	return st, err
}

// Reload asks the daemon to reload its config file. An *Error with code
// 422 means the new config was refused and the running one kept.
func (c *Client) Reload(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/api/reload", nil)
}

// PlanReload asks the daemon what a reload would change, changing
// nothing.
func (c *Client) PlanReload(ctx context.Context) (ReloadPlan, error) {
	var p ReloadPlan
	err := c.do(ctx, http.MethodPost, "/api/reload/plan", &p)
	return p, err
}

// SetBackendAdmin sets a backend's admin state: state is ActionEnable,
// ActionDrain or ActionMaint. An unknown service or backend gives an error
// matching ErrNotFound.
func (c *Client) SetBackendAdmin(ctx context.Context, service, address, state string) error {
	p := "/api/backends/" + url.PathEscape(service) + "/" + url.PathEscape(address) + "/" + url.PathEscape(state)
	return c.do(ctx, http.MethodPost, p, nil)
}

// Events subscribes to the daemon's events. The channel is closed when ctx
// ends or the daemon ends the stream.
func (c *Client) Events(ctx context.Context) (<-chan Event, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://vigil/api/events", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		defer res.Body.Close()
		return nil, fmt.Errorf("events: %w", readError(res))
	}
	ch := make(chan Event)
	go func() {
		defer close(ch)
		defer res.Body.Close()
		readEvents(ctx, res.Body, ch)
	}()
	return ch, nil
}

// readEvents decodes a server-sent event stream into ch until it ends.
// Comment lines (keep-alives) are skipped; a message's data lines are
// joined as the SSE format says.
func readEvents(ctx context.Context, r io.Reader, ch chan<- Event) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line != "" {
			if d, ok := strings.CutPrefix(line, "data:"); ok {
				data = append(data, strings.TrimPrefix(d, " "))
			}
			continue
		}
		if len(data) == 0 {
			continue
		}
		var ev Event
		err := json.Unmarshal([]byte(strings.Join(data, "\n")), &ev)
		data = data[:0]
		if err != nil {
			continue // not one of ours; a later message may be
		}
		select {
		case ch <- ev:
		case <-ctx.Done():
			return
		}
	}
}

// Profile copies one of the daemon's runtime profiles to w: "profile"
// (CPU) and "trace" record for seconds, the others ("heap", "goroutine",
// "allocs", "block", "mutex", "threadcreate") are a snapshot, for which
// seconds > 0 asks for the difference over that time instead. The daemon
// serves profiles on the unix socket only.
func (c *Client) Profile(ctx context.Context, name string, seconds int, w io.Writer) error {
	path := "/debug/pprof/" + url.PathEscape(name)
	if seconds > 0 {
		path += fmt.Sprintf("?seconds=%d", seconds)
	}
	res, err := c.send(ctx, http.MethodGet, path)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if _, err := io.Copy(w, res.Body); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// do sends a request and decodes a JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, out any) error {
	res, err := c.send(ctx, method, path)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if out == nil {
		io.Copy(io.Discard, res.Body)
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send sends a request and returns the answer when it is a 200, for the
// caller to read and close; any other answer is an *Error.
func (c *Client) send(ctx context.Context, method, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://vigil"+path, nil)
	if err != nil {
		return nil, err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if res.StatusCode != http.StatusOK {
		defer res.Body.Close()
		return nil, readError(res)
	}
	return res, nil
}

// readError turns a non-200 answer into an *Error.
func readError(res *http.Response) error {
	var body errorBody
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err := json.Unmarshal(b, &body); err != nil || body.Error == "" {
		body.Error = strings.TrimSpace(string(b))
		if body.Error == "" {
			body.Error = res.Status
		}
	}
	return &Error{Code: res.StatusCode, Message: body.Error}
}
