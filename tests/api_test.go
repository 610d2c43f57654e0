package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/api"
	"vigil/tests/lab"
)

// TestOperations drives a running vigil the way an operator does: `vigil
// status` over the unix socket, draining a backend with `vigil backend
// drain` (clients then reach only the other), `vigil reload`, Prometheus
// metrics and the admin rules of the HTTP API from another host.
func TestOperations(t *testing.T) {
	l := lab.New(t)
	lan := l.AddNet("lan", lanPrefix)
	lb1h, cli := l.AddHost("lb1", lan), l.AddHost("client", lan)
	be1, be2 := l.AddHost("be1", lan), l.AddHost("be2", lan)
	nameServer(t, be1, 9000)
	nameServer(t, be2, 9000)
	sock := filepath.Join(t.TempDir(), "vigil.sock")
	apiAddr := netip.AddrPortFrom(lb1h.Addr(lan), 9653)
	cfg := fmt.Sprintf(`node: lb1
api: { listen: "%s", socket: "%s", token: s3cret }
vrrp:
%sservices:
  - name: app
    listen: 10.0.0.100:8080
    mode: proxy
    protocol: tcp
    check: { type: tcp, interval: 100ms, timeout: 100ms, rise: 1, fall: 2 }
    backends: ["%s:9000", "%s:9000"]
`, apiAddr, sock, instanceYAML("VI_1", 51, 150, "100ms", "10.0.0.100/24", ""), be1.Addr(lan), be2.Addr(lan))
	lb1 := startVigil(t, lb1h, cfg)
	lb1.waitLog("to=MASTER", 10*time.Second)
	be1Addr := be1.Addr(lan).String() + ":9000"

	cliRun := func(args ...string) (string, int) { t.Helper(); return runVigilCLI(t, args...) }
	status := func() api.Status { t.Helper(); return statusOver(t, sock) }
	lab.WaitFor(t, 10*time.Second, "status: master with both backends up", func() (bool, string) {
		st := status()
		ok := len(st.Instances) == 1 && st.Instances[0].State == "master" && len(st.Services) == 1 &&
			len(st.Services[0].Backends) == 2 && st.Services[0].Backends[0].Up && st.Services[0].Backends[1].Up
		return ok, fmt.Sprintf("%+v", st)
	})
	if st := status(); st.Node != "lb1" || st.Instances[0].Priority != 150 {
		t.Errorf("status: node %q priority %d", st.Node, st.Instances[0].Priority)
	}
	// The running config's hash is sha256sum's of the file.
	if st, sum := status(), sha256.Sum256([]byte(cfg)); st.ConfigHash != hex.EncodeToString(sum[:]) {
		t.Errorf("status: config hash %q, want the file's %x", st.ConfigHash, sum)
	}
	if out, code := cliRun("status", "-s", sock); code != 0 || !strings.Contains(out, "VI_1") || !strings.Contains(out, be1Addr) {
		t.Errorf("vigil status table: exit %d:\n%s", code, out)
	}

	// Drain be1: new connections go to be2 only.
	if out, code := cliRun("backend", "drain", "app", be1Addr, "-s", sock); code != 0 {
		t.Fatalf("vigil backend drain: exit %d: %s", code, out)
	}
	addr := netip.AddrPortFrom(vip4, 8080)
	for i := range 6 {
		if got, err := ask(cli, addr); err != nil || got != "be2" {
			t.Fatalf("request %d with be1 drained: %q %v", i, got, err)
		}
	}
	if b := status().Services[0].Backends[0]; b.Admin != api.AdminDrain || b.EffectiveWeight != 0 {
		t.Errorf("drained backend in status: %+v", b)
	}
	if out, code := cliRun("backend", "drain", "app", "10.9.9.9:1", "-s", sock); code == 0 {
		t.Errorf("draining an unknown backend succeeded: %s", out)
	}
	if out, code := cliRun("backend", "enable", "app", be1Addr, "-s", sock); code != 0 {
		t.Fatalf("vigil backend enable: exit %d: %s", code, out)
	}
	seen := map[string]bool{}
	lab.WaitFor(t, 5*time.Second, "be1 back in balancing", func() (bool, string) {
		got, _ := ask(cli, addr)
		seen[got] = true
		return seen["be1"] && seen["be2"], fmt.Sprint(seen)
	})

	// Reload through the socket; the outcome shows in status.
	if out, code := cliRun("reload", "-s", sock); code != 0 {
		t.Fatalf("vigil reload: exit %d: %s", code, out)
	}
	if r := status().LastReload; r == nil || !r.OK {
		t.Errorf("last reload: %+v", r)
	}

	// From another host: metrics and status are open, admin needs the token.
	// The transport dials inside the client host: http.Transport dials on
	// goroutines of its own, which would otherwise be in the root namespace.
	client := &http.Client{Timeout: 10 * time.Second, Transport: transportFrom(t, cli)}
	httpDo := func(method, path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+apiAddr.String()+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return resp.StatusCode, string(b)
	}
	code, body := httpDo("GET", "/metrics", "")
	for _, want := range []string{
		`vigil_vrrp_state{state="master",vrrp_instance="VI_1"} 1`,
		`vigil_proxy_backend_up{backend="` + be1Addr + `"`,
		"go_goroutines",
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %s: %.300s", code, want, body)
		}
	}
	if code, _ := httpDo("GET", "/api/status", ""); code != 200 {
		t.Errorf("GET /api/status: %d", code)
	}
	if code, _ := httpDo("POST", "/api/reload", ""); code != 403 {
		t.Errorf("POST /api/reload without token: %d, want 403", code)
	}
	if code, _ := httpDo("POST", "/api/reload", "wrong"); code != 403 {
		t.Errorf("POST /api/reload with a wrong token: %d, want 403", code)
	}
	if code, body := httpDo("POST", "/api/reload", "s3cret"); code != 200 {
		t.Errorf("POST /api/reload with the token: %d %s", code, body)
	}
	if code, body := httpDo("GET", "/", ""); code != 200 || !strings.Contains(body, "<html") {
		t.Errorf("GET /: %d", code)
	}

	// A reload that rotates the token and moves api.listen, asked for over
	// the listener it moves: it answers, then the API is on the new port
	// with the new token only, and the socket is undisturbed.
	oldAPI := apiAddr
	apiAddr = netip.AddrPortFrom(lb1h.Addr(lan), 9091)
	moved := strings.Replace(cfg, fmt.Sprintf(`listen: "%s", socket: "%s", token: s3cret`, oldAPI, sock),
		fmt.Sprintf(`listen: "%s", socket: "%s", token: n3w`, apiAddr, sock), 1)
	if moved == cfg {
		t.Fatal("the api: line to rewrite was not found")
	}
	if err := os.WriteFile(lb1.conf, []byte(moved), 0o644); err != nil {
		t.Fatal(err)
	}
	apiAddr = oldAPI
	if code, body := httpDo("POST", "/api/reload", "s3cret"); code != 200 {
		t.Fatalf("POST /api/reload moving the api: %d %s", code, body)
	}
	lab.WaitFor(t, 5*time.Second, "the old api address to close", func() (bool, string) {
		err := cli.Do(func() error {
			c, err := net.DialTimeout("tcp", oldAPI.String(), time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		return err != nil, fmt.Sprint(err)
	})
	apiAddr = netip.AddrPortFrom(lb1h.Addr(lan), 9091)
	if code, _ := httpDo("POST", "/api/reload", "s3cret"); code != 403 {
		t.Errorf("POST /api/reload with the rotated-out token: %d, want 403", code)
	}
	if code, body := httpDo("POST", "/api/reload", "n3w"); code != 200 {
		t.Errorf("POST /api/reload with the new token on the new address: %d %s", code, body)
	}
	if out, code := cliRun("status", "-s", sock); code != 0 || !strings.Contains(out, "VI_1") {
		t.Errorf("vigil status over the socket after the api moved: exit %d:\n%s", code, out)
	}
}
