package tests

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/tests/lab"
)

// cpuTimes reads the machine's busy and total CPU time (jiffies) from
// /proc/stat, to report how loaded the machine was during a test.
func cpuTimes(t *testing.T) (busy, total uint64) {
	t.Helper()
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1:] // user nice system idle iowait irq softirq steal ...
	for i, s := range f {
		v, _ := strconv.ParseUint(s, 10, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// TestLoadNoSpuriousFailover: two nodes at 50 ms adverts (a backup
// declares the master dead after 150 ms of silence plus skew) while wrk
// drives HTTP through the master's proxy as hard as it can for 60 s, with
// the machine's cores saturated. Neither node may make a transition: a
// VRRP loop starved behind proxy goroutines would miss adverts and let
// the backup take over. The backup's received-advert count shows how
// close it came.
func TestLoadNoSpuriousFailover(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("needs wrk (apt-get install wrk)")
	}
	duration := 60 * time.Second
	if s := os.Getenv("VIGIL_LOAD_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("VIGIL_LOAD_SECONDS=%q: %v", s, err)
		}
		duration = time.Duration(n) * time.Second
	}
	p := newPair(t)
	be1, be2 := p.lab.AddHost("be1", p.lan), p.lab.AddHost("be2", p.lan)
	httpBackend(t, be1, 8080)
	httpBackend(t, be2, 8080)
	service := fmt.Sprintf(`services:
  - name: web
    listen: 10.0.0.100:80
    mode: proxy
    protocol: http
    check: { type: http, path: /healthz, interval: 1s, timeout: 1s, rise: 1, fall: 3 }
    backends: ["%s:8080", "%s:8080"]
`, be1.Addr(p.lan), be2.Addr(p.lan))
	lb1api, lb2api := p.lb1.Addr(p.lan).String()+":9653", p.lb2.Addr(p.lan).String()+":9653"
	lb1 := startVigil(t, p.lb1, withAPIListen(nodeConfig("lb1", instanceYAML("VI_1", 51, 150, "50ms", "10.0.0.100/24", "")), lb1api)+service)
	lb2 := startBackup(t, lb1, p.lb2, withAPIListen(nodeConfig("lb2", instanceYAML("VI_1", 51, 100, "50ms", "10.0.0.100/24", "")), lb2api)+service)
	waitOwner(t, vip4, p.lb1, p.nodes, 10*time.Second)
	client := httpClient(t, p.cli)
	lab.WaitFor(t, 5*time.Second, "the service through lb1", func() (bool, string) {
		body, code, err := get(client, "http://10.0.0.100/")
		return err == nil && code == 200, fmt.Sprintf("%d %q %v", code, body, err)
	})

	before1, before2 := lb1.transitions(), lb2.transitions()
	heard0 := scrapeValue(t, scrape(t, p.cli, lb2api), "vigil_vrrp_adverts_received_total", "VI_1")
	sent0 := scrapeValue(t, scrape(t, p.cli, lb1api), "vigil_vrrp_adverts_sent_total", "VI_1")
	// The adverts as the wire saw them, for the longest gap between two.
	var dump *lab.Proc
	if _, err := exec.LookPath("tcpdump"); err == nil {
		dump = p.cli.Start("tcpdump", "-i", "eth0", "-n", "-l", "-tt", "-Q", "in", "ip", "proto", "112", "and", "src", p.lb1.Addr(p.lan).String())
	}
	busy0, total0 := cpuTimes(t)
	start := time.Now()
	out, err := p.cli.Exec("wrk", "-t2", "-c64", fmt.Sprintf("-d%ds", int(duration.Seconds())), "http://10.0.0.100/")
	elapsed := time.Since(start)
	busy1, total1 := cpuTimes(t)
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	heard := scrapeValue(t, scrape(t, p.cli, lb2api), "vigil_vrrp_adverts_received_total", "VI_1") - heard0
	sent := scrapeValue(t, scrape(t, p.cli, lb1api), "vigil_vrrp_adverts_sent_total", "VI_1") - sent0
	maxGap := "unknown (no tcpdump)"
	if dump != nil {
		dump.Signal(syscall.SIGINT)
		dump.Wait(5 * time.Second)
		maxGap = longestGap(dump.Output()).String()
	}

	rps := append([]string{"?"}, regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`).FindStringSubmatch(out)...)
	errs := regexp.MustCompile(`Non-2xx or 3xx responses: \d+|Socket errors: .*`).FindString(out)
	busyPct := 100 * float64(busy1-busy0) / float64(total1-total0)
	expected := elapsed.Seconds() / 0.05
	t.Logf("wrk %v through lb1: %s req/s %s; machine CPU busy %.0f%%; lb1 sent %.0f adverts (%.1f%% of one per 50ms), lb2 accepted %.0f; longest gap on the wire %s",
		elapsed.Round(time.Second), rps[len(rps)-1], errs, busyPct, sent, 100*sent/expected, heard, maxGap)
	if a1, a2 := lb1.transitions(), lb2.transitions(); !slices.Equal(before1, a1) || !slices.Equal(before2, a2) {
		t.Errorf("transitions under load: lb1 %v -> %v, lb2 %v -> %v", before1, a1, before2, a2)
	}
	waitOwner(t, vip4, p.lb1, p.nodes, time.Second)
}

// longestGap is the longest time between two consecutive packets in
// tcpdump -tt output (each line starts with seconds.micros).
func longestGap(out string) time.Duration {
	var last, gap float64
	for _, l := range splitLines(out) {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		ts, err := strconv.ParseFloat(f[0], 64)
		if err != nil || ts < 1e9 { // not a packet line (tcpdump's closing counts)
			continue
		}
		if last > 0 && ts-last > gap {
			gap = ts - last
		}
		last = ts
	}
	return time.Duration(gap * float64(time.Second)).Round(time.Millisecond)
}
