package tests

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"vigil/tests/lab"
)

// httpBackend runs an HTTP server in h that answers with its name and the
// X-Forwarded-For it received; /healthz answers 200 while healthy is true.
func httpBackend(t *testing.T, h *lab.Host, port int) (setHealthy func(bool)) {
	t.Helper()
	var mu sync.Mutex
	healthy := true
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ok := healthy
		mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s", h.Name, r.URL.Path, r.Header.Get("X-Forwarded-For"))
	})
	var ln net.Listener
	if err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return func(v bool) { mu.Lock(); healthy = v; mu.Unlock() }
}

// httpClient makes a keep-alive client whose connections are dialled inside cli.
func httpClient(t *testing.T, cli *lab.Host) *http.Client {
	tr := &http.Transport{
		Dial: func(network, addr string) (net.Conn, error) {
			var c net.Conn
			err := cli.Do(func() (err error) {
				c, err = net.DialTimeout(network, addr, time.Second)
				return err
			})
			return c, err
		},
		MaxIdleConnsPerHost: 4,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 3 * time.Second}
}

func get(c *http.Client, url string) (string, int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode, err
}

// TestProxyHTTPService: an http service on the VIP balances keep-alive
// requests over two backends with X-Forwarded-For, routes /api to its own
// group, takes a backend whose http check fails out of rotation, and the
// VIP moves to the peer when the master loses every backend.
func TestProxyHTTPService(t *testing.T) {
	if _, err := lookNft(); err != nil {
		t.Skip(err)
	}
	l := lab.New(t)
	lan := l.AddNet("lan", lanPrefix)
	lb1h, lb2h, cli := l.AddHost("lb1", lan), l.AddHost("lb2", lan), l.AddHost("client", lan)
	be1, be2, api := l.AddHost("be1", lan), l.AddHost("be2", lan), l.AddHost("api", lan)
	nodes := []*lab.Host{lb1h, lb2h}
	setBe1 := httpBackend(t, be1, 8000)
	httpBackend(t, be2, 8000)
	httpBackend(t, api, 8000)

	svc := fmt.Sprintf(`services:
  - name: web
    listen: 10.0.0.100:80
    mode: proxy
    protocol: http
    balance: roundrobin
    check: { type: http, path: /healthz, interval: 100ms, timeout: 200ms, rise: 1, fall: 2 }
    backends: ["%s:8000", "%s:8000"]
    routes:
      - { path_prefix: /api, backends: ["%s:8000"] }
`, be1.Addr(lan), be2.Addr(lan), api.Addr(lan))
	lb1 := startVigil(t, lb1h, nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", ""))+svc)
	startBackup(t, lb1, lb2h, nodeConfig("lb2", instanceYAML("VI_1", 51, 110, "100ms", "10.0.0.100/24", ""))+svc)
	waitOwner(t, vip4, lb1h, nodes, 10*time.Second)
	c := httpClient(t, cli)
	client := cli.Addr(lan).String()

	seen := map[string]int{}
	lab.WaitFor(t, 10*time.Second, "answers from both backends", func() (bool, string) {
		body, code, err := get(c, "http://10.0.0.100/x")
		if err == nil && code == 200 {
			seen[body]++
		}
		return seen["be1 /x "+client] >= 3 && seen["be2 /x "+client] >= 3, fmt.Sprintf("seen %v, last %d %v", seen, code, err)
	})
	if body, code, err := get(c, "http://10.0.0.100/api/v1"); err != nil || code != 200 || body != "api /api/v1 "+client {
		t.Errorf("/api route: %q %d %v", body, code, err)
	}

	// be1's health check starts failing: it leaves the rotation.
	setBe1(false)
	lb1.waitLog(`msg="backend down" service=web backend=`+be1.Addr(lan).String(), 5*time.Second)
	for i := range 20 {
		if body, code, err := get(c, "http://10.0.0.100/z"); err != nil || code != 200 || body != "be2 /z "+client {
			t.Fatalf("request %d after be1 failed its check: %q %d %v", i, body, code, err)
		}
	}

	// lb1 loses its backends: the service on the VIP is down here, and
	// automatic tracking (-50, no track: line needed) drops lb1 from 150 to
	// 100, below lb2's 110, which preempts.
	lb1h.MustExec("nft", "add table inet cut; add chain inet cut out { type filter hook output priority 0; }; add rule inet cut out tcp dport 8000 drop")
	waitOwner(t, vip4, lb2h, nodes, 5*time.Second)
	lab.WaitFor(t, 5*time.Second, "requests served through lb2", func() (bool, string) {
		body, code, err := get(c, "http://10.0.0.100/w")
		return err == nil && code == 200 && body == "be2 /w "+client, fmt.Sprintf("%q %d %v", body, code, err)
	})
}
