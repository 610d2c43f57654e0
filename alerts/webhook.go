package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Webhook POSTs each event as JSON (see Event) to a URL. A 2xx answer is
// delivery; 5xx, 408, 429 and network errors are worth another attempt;
// any other answer (4xx: the receiver refuses this request; 3xx: not
// followed, a POST would turn into a GET) is permanent.
type Webhook struct {
	url     string
	name    string
	headers map[string]string
	client  *http.Client
}

// NewWebhook makes a webhook sink for rawURL (http or https), adding
// headers to every request.
func NewWebhook(rawURL string, headers map[string]string) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook %q: not an http:// or https:// URL", rawURL)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	return &Webhook{
		url: rawURL, headers: headers,
		// The name is logged and labels metrics: no user info, no query
		// (where tokens tend to live).
		name: "webhook " + (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String(),
		client: &http.Client{
			Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}, nil
}

// Name is "webhook" and the URL without user info or query.
func (w *Webhook) Name() string { return w.name }

// Deliver POSTs the events one by one, in order; a Sender gives a webhook
// one event per delivery, so a retry never repeats one already accepted.
func (w *Webhook) Deliver(ctx context.Context, batch []Event) error {
	for _, e := range batch {
		if err := w.post(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

func (w *Webhook) post(ctx context.Context, e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return permanent(fmt.Errorf("encode event: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return permanent(fmt.Errorf("request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vigil-alerts")
	for k, v := range w.headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		// Do's error names the URL, query and all; the sink's name says
		// where without it.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("POST: %w", err)
	}
	defer resp.Body.Close()
	// Read a little of the answer: it says why in a refusal, and a drained
	// body lets the connection be reused.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests:
		return fmt.Errorf("answered %s: %s", resp.Status, oneLine(string(snippet)))
	default:
		return permanent(fmt.Errorf("answered %s: %s", resp.Status, oneLine(string(snippet))))
	}
}

// Close lets go of idle connections.
func (w *Webhook) Close() { w.client.CloseIdleConnections() }
