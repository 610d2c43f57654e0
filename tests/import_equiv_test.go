package tests

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/importer"
	"vigil/tests/lab"
)

// equivKeepalived is one node's keepalived.conf in the equivalence lab: the
// usual pair in front of HAProxy, tracking a script that only asks whether
// the local proxy answers.
func equivKeepalived(name string, prio int) string {
	return fmt.Sprintf(`global_defs {
    router_id %s
}
vrrp_script chk_proxy {
    script "/usr/bin/curl -sf -o /dev/null -m 1 http://127.0.0.1/"
    interval 1
    fall 2
    rise 1
    weight -60
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority %d
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass secret
    }
    virtual_ipaddress {
        10.0.0.100/24
    }
    track_script {
        chk_proxy
    }
}
`, name, prio)
}

func equivHAProxy(be1, be2 string) string {
	return fmt.Sprintf(`defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend web
    bind *:80
    default_backend app

backend app
    balance roundrobin
    option httpchk GET /healthz
    server be1 %s:8000 check inter 200 fall 2 rise 1
    server be2 %s:8000 check inter 200 fall 2 rise 1
`, be1, be2)
}

// TestImportEquivalence runs a keepalived + HAProxy pair, then vigil with
// the config vigil import makes of it, in the same lab, and checks both
// behave the same: lb1 owns the VIP, both backends serve through it, and
// when lb1 can no longer serve (HAProxy dies there; vigil's service there
// loses its backends) the VIP moves to lb2, which serves.
func TestImportEquivalence(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("needs haproxy (apt-get install haproxy)")
	}
	if _, err := exec.LookPath("keepalived"); err != nil {
		t.Skip("needs keepalived (apt-get install keepalived)")
	}
	if _, err := lookNft(); err != nil {
		t.Skip(err)
	}
	l := lab.New(t)
	lan := l.AddNet("lan", lanPrefix)
	lb1h, lb2h, cli := l.AddHost("lb1", lan), l.AddHost("lb2", lan), l.AddHost("client", lan)
	be1, be2 := l.AddHost("be1", lan), l.AddHost("be2", lan)
	nodes := []*lab.Host{lb1h, lb2h}
	httpBackend(t, be1, 8000)
	httpBackend(t, be2, 8000)
	c := httpClient(t, cli)

	dir := t.TempDir()
	files := map[*lab.Host][2]string{}
	for i, h := range nodes {
		ka := filepath.Join(dir, h.Name+"-keepalived.conf")
		ha := filepath.Join(dir, h.Name+"-haproxy.cfg")
		if err := os.WriteFile(ka, []byte(equivKeepalived(h.Name, 150-50*i)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(ha, []byte(equivHAProxy(be1.Addr(lan).String(), be2.Addr(lan).String())), 0o644); err != nil {
			t.Fatal(err)
		}
		files[h] = [2]string{ka, ha}
	}

	// Both backends answer through the VIP, whichever node holds it.
	servesBoth := func(what string) {
		t.Helper()
		seen := map[string]bool{}
		lab.WaitFor(t, 15*time.Second, what, func() (bool, string) {
			body, code, err := get(c, "http://10.0.0.100/x")
			if err == nil && code == http.StatusOK {
				seen[strings.Fields(body)[0]] = true
			}
			return seen["be1"] && seen["be2"], fmt.Sprintf("seen %v, last %d %v", seen, code, err)
		})
	}

	// keepalived + HAProxy.
	var procs []*lab.Proc
	var kas []*keepalived
	for _, h := range nodes {
		procs = append(procs, h.Start(haproxy, "-db", "-f", files[h][1]))
	}
	for _, h := range nodes {
		conf, err := os.ReadFile(files[h][0])
		if err != nil {
			t.Fatal(err)
		}
		kas = append(kas, startKeepalived(t, h, string(conf)))
	}
	waitOwner(t, vip4, lb1h, nodes, 15*time.Second)
	servesBoth("keepalived+HAProxy: both backends through lb1")
	procs[0].Kill() // HAProxy dies on lb1: chk_proxy fails, 150-60 < 100
	waitOwner(t, vip4, lb2h, nodes, 15*time.Second)
	servesBoth("keepalived+HAProxy: both backends through lb2")
	for _, k := range kas {
		k.proc.Signal(syscall.SIGTERM)
		k.proc.Wait(10 * time.Second)
	}
	for _, p := range procs {
		p.Kill()
		p.Wait(5 * time.Second)
	}
	lab.WaitFor(t, 10*time.Second, "keepalived to release the VIP", func() (bool, string) {
		return !hasAddr(lb1h, vip4) && !hasAddr(lb2h, vip4), ""
	})

	// vigil with the imported configs.
	for i, h := range nodes {
		res, err := importer.Convert(importer.Input{Keepalived: files[h][0], HAProxy: files[h][1]}, importer.OSFiles{})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Complete() {
			t.Fatalf("%s: the pair did not convert completely:\n%s", h.Name, res.YAML)
		}
		if !strings.Contains(string(res.YAML), "{service: web, weight: -60}") {
			t.Fatalf("%s: chk_proxy was not replaced by tracking the web service:\n%s", h.Name, res.YAML)
		}
		// Two vigils share this machine's file system: no socket, no API port.
		cfg := string(res.YAML) + "\napi: { listen: \"\", socket: \"\" }\n"
		if i == 0 {
			startVigil(t, h, cfg).waitLog("to=MASTER", 15*time.Second)
		} else {
			startVigil(t, h, cfg)
		}
	}
	waitOwner(t, vip4, lb1h, nodes, 15*time.Second)
	servesBoth("vigil: both backends through lb1")
	lb1h.MustExec("nft", "add table inet cut; add chain inet cut out { type filter hook output priority 0; }; add rule inet cut out tcp dport 8000 drop")
	waitOwner(t, vip4, lb2h, nodes, 15*time.Second)
	servesBoth("vigil: both backends through lb2")
}
