package tests

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/tests/lab"
)

// TestClientAbuseDoesNotStarveWellBehavedClients runs an HTTP service
// under a file descriptor limit of 256 while the client host keeps 300
// connections open that send nothing and 40 that trickle a request head a
// byte a second (slowloris), reconnecting whenever vigil closes one. A
// well-behaved client must still be served, every time, within 10 s while
// http_request is 30 s: vigil closes idle clients when accept runs out of
// descriptors (slow ones would get 408 after http_request). The limit is logged once, not per connection; oversized
// and malformed requests get 431 and 400; vigil keeps running.
func TestClientAbuseDoesNotStarveWellBehavedClients(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) not found")
	}
	fl := newFeatureLab(t, 1)
	serveHTTPIn(t, fl.be[0], 9000, infoHandler("be1"))
	cfg := nodeConfig("lb", instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", "")) + fmt.Sprintf(`services:
  - name: web
    listen: 10.0.0.100:8080
    mode: proxy
    protocol: http
    timeouts: { http_request: 30s, http_keep_alive: 60s }
    backends: ["%s:9000"]
`, fl.be[0].Addr(fl.lan))
	fl.lbn = startVigil(t, fl.lb, cfg, prlimit, "--nofile=256:256", vigilBin)
	lb := fl.lbn
	waitOwner(t, vip4, fl.lb, []*lab.Host{fl.lb}, 10*time.Second)
	lb.waitLog("msg=listening", 5*time.Second)
	lb.waitLog("msg=\"open files limit\" soft=256", time.Second)
	addr := "10.0.0.100:8080"

	// request sends one request on a new connection and returns the
	// status line, or the error.
	request := func(req string) (string, error) {
		c, err := fl.dial(addr)
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			return "", err
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line), err
	}
	const good = "GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n"
	if got, err := request(good); err != nil || got != "HTTP/1.1 200 OK" {
		t.Fatalf("before the attack: %q %v", got, err)
	}

	ctx, stopAttack := context.WithCancel(context.Background())
	var attackers sync.WaitGroup
	t.Cleanup(func() { stopAttack(); attackers.Wait() })
	var reconnects atomic.Int64
	attack := func(n int, trickle bool) {
		for range n {
			attackers.Go(func() {
				for ctx.Err() == nil {
					c, err := fl.dial(addr)
					if err != nil {
						select {
						case <-ctx.Done():
						case <-time.After(50 * time.Millisecond):
						}
						continue
					}
					stop := context.AfterFunc(ctx, func() { c.Close() })
					if trickle {
						io.WriteString(c, "GET / HTTP/1.1\r\nX-Slow: ")
						for ctx.Err() == nil {
							if _, err := c.Write([]byte("a")); err != nil {
								break
							}
							select {
							case <-ctx.Done():
							case <-time.After(time.Second):
							}
						}
					} else {
						io.Copy(io.Discard, c) // until vigil closes it
					}
					stop()
					c.Close()
					reconnects.Add(1)
				}
			})
		}
	}
	attack(300, false)
	attack(40, true)
	lb.waitLog("accept failed", 20*time.Second)

	for i := range 20 {
		start := time.Now()
		got, err := request(good)
		if err != nil || got != "HTTP/1.1 200 OK" {
			t.Fatalf("well-behaved request %d under attack: %q %v (after %v)", i, got, err, time.Since(start))
		}
	}
	if got, err := request("GET / HTTP/1.1\r\nHost: web\r\nX-Big: " + strings.Repeat("a", 40<<10) + "\r\n\r\n"); err != nil || !strings.HasPrefix(got, "HTTP/1.1 431") {
		t.Errorf("oversized head under attack: %q %v, want 431", got, err)
	}
	if got, err := request("GET / HTTP/1.1\r\nHost: web\r\nBad Header\r\n\r\n"); err != nil || !strings.HasPrefix(got, "HTTP/1.1 400") {
		t.Errorf("malformed head under attack: %q %v, want 400", got, err)
	}
	stopAttack()
	attackers.Wait()
	if n := reconnects.Load(); n < 40 {
		t.Errorf("attackers reconnected %d times: vigil never pushed back", n)
	}
	if lb.proc.Exited() {
		t.Fatalf("vigil ended under attack: %s", lb.proc.State())
	}
	if n := strings.Count(lb.proc.Output(), "accept failed"); n != 1 {
		t.Errorf("the descriptor limit was logged %d times, want once", n)
	}
	// Served as before once the attack ends.
	client := &http.Client{Timeout: 10 * time.Second, Transport: transportFrom(t, fl.cli)}
	resp, err := client.Get("http://" + addr + "/after")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), "be1 HTTP/1.1 /after") {
		t.Errorf("after the attack: %q", body)
	}
}
