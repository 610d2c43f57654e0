package accesslog

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// findHalog finds HAProxy's log analyser; Debian's haproxy package puts
// it in /usr/sbin, which is not in every PATH.
func findHalog(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("halog"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/halog", "/usr/bin/halog"} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Fatal("halog not found (in PATH, /usr/sbin or /usr/bin): apt-get install -y haproxy")
	return ""
}

// halogEntries is a known mix: two servers, requests that reached none,
// a bad request, and the timers and statuses halog sorts by.
func halogEntries() []Entry {
	const a, b = "10.0.0.1:8080", "10.0.0.2:8080"
	type row struct {
		backend, server, method, target string
		status                          int
		tr, tw, tc, trr, ta             int
		bytes                           int64
		term                            string
	}
	rows := []row{
		{"be", a, "GET", "/a", 200, 0, 0, 1, 10, 12, 1000, "----"},
		{"be", a, "GET", "/a?x=1", 200, 0, 0, 1, 20, 22, 1000, "----"},
		{"be", b, "GET", "/a", 200, 0, 0, 2, 40, 41, 1000, "----"},
		{"be", b, "GET", "/a", 502, 0, 0, 2, -1, 100, 300, "SH--"},
		{"be", a, "POST", "/a", 200, 0, 0, 1, 30, 31, 100, "----"},
		{"be", a, "GET", "/b", 200, 0, 0, 3, 30, 35, 500, "----"},
		{"be", b, "GET", "/b", 0, 0, 0, 1, -1, 50, 0, "CH--"},
		{"be", a, "GET", "/b;jsessionid=1", 200, 0, 0, 1, 10, 11, 500, "----"},
		{"be", a, "GET", "/b", 200, 0, 0, 1, 10, 10, 500, "----"},
		{"be", "", "GET", "/c", 503, 0, -1, -1, -1, 0, 200, "SC--"},
		{"be", "", "GET", "/c", 503, 0, 5000, -1, -1, 5000, 200, "sQ--"},
		{"be", a, "GET", "/c", 504, 0, 0, 1, -1, 30000, 200, "sH--"},
		{"be", a, "GET", "/missing", 404, 0, 0, 1, 5, 5, 200, "----"},
		{"be", b, "GET", "/missing", 404, 0, 0, 1, 6, 7, 200, "----"},
		{"", "", "", "", 400, -1, -1, -1, -1, 0, 150, "PR--"},
	}
	var es []Entry
	for i, r := range rows {
		e := httpEntry()
		e.Start = t0.Add(time.Duration(i) * time.Millisecond)
		e.Backend, e.Server, e.Status, e.BytesOut = r.backend, r.server, r.status, r.bytes
		e.Method, e.Target = []byte(r.method), []byte(r.target)
		e.TR, e.Tw, e.Tc, e.Tr, e.Ta = ms(r.tr), ms(r.tw), ms(r.tc), ms(r.trr), ms(r.ta)
		copy(e.Termination[:], r.term)
		es = append(es, e)
	}
	return es
}

// TestHalog: halog, HAProxy's own analyser, reads vigil's lines behind a
// syslog prefix and finds in them the statuses, servers, URLs, timers
// and termination codes they were written with.
func TestHalog(t *testing.T) {
	halog := findHalog(t)
	var in []byte
	for _, e := range halogEntries() {
		in = append(in, "Dec  7 19:43:03 lb1 vigil[123]: "...)
		in = Append(in, HAProxy, &e)
	}
	run := func(flag string) []string {
		t.Helper()
		cmd := exec.Command(halog, flag)
		cmd.Stdin = bytes.NewReader(in)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("halog %s: %v: %s", flag, err, errOut.Bytes())
		}
		if !strings.Contains(errOut.String(), "15 lines in") || !strings.Contains(errOut.String(), " 0 parsing errors") {
			t.Errorf("halog %s: %s", flag, errOut.Bytes())
		}
		return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	}
	check := func(flag string, got, want []string) {
		t.Helper()
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("halog %s printed\n%s\nwant\n%s\ninput:\n%s", flag, strings.Join(got, "\n"), strings.Join(want, "\n"), in)
		}
	}

	// Requests per status; no response is -1.
	check("-st", run("-st"), []string{"-1 1", "200 7", "400 1", "404 2", "502 1", "503 2", "504 1"})

	// Per server: status classes, requests without a -1 timer, and the
	// average connect and response times of those that have them.
	check("-srv", run("-srv"), []string{
		"#srv_name 1xx 2xx 3xx 4xx 5xx other tot_req req_ok pct_ok avg_ct avg_rt",
		"be/10.0.0.1:8080 0 6 0 1 1 0 8 7 87.5 1 16",
		"be/10.0.0.2:8080 0 1 0 1 1 1 4 2 50.0 1 23",
		"be/<NOSRV> 0 0 0 0 2 0 2 0 0.0 0 0",
		"web/<NOSRV> 0 0 0 1 0 0 1 0 0.0 0 0",
	})

	// Per URL (query and path parameters cut): requests, errors (a -1
	// timer), total and average times, bytes. -u sorts by URL, last
	// first; -uc by request count.
	perURL := map[string]string{
		"/missing":   "2 0 11 5 11 5 200 400 /missing",
		"/c":         "3 3 35000 11666 0 0 200 600 /c",
		"/b":         "4 1 100 25 50 16 375 1500 /b",
		"/a":         "5 1 200 40 100 25 680 3400 /a",
		`"<BADREQ>"`: `1 1 0 0 0 0 150 150 "<BADREQ>"`,
	}
	for flag, order := range map[string][]string{
		"-u":  {"/missing", "/c", "/b", "/a", `"<BADREQ>"`},
		"-uc": {"/a", "/b", "/c", "/missing", `"<BADREQ>"`},
	} {
		got := run(flag)
		// The header's last column is "src" in some halog versions, "url"
		// in others.
		if len(got) == 0 || !strings.HasPrefix(got[0], "#req err ttot tavg oktot okavg bavg btot ") {
			t.Errorf("halog %s header: %q", flag, got)
			continue
		}
		var want []string
		for _, u := range order {
			want = append(want, perURL[u])
		}
		check(flag, got[1:], want)
	}

	// Termination codes, first two characters.
	check("-tc", run("-tc"), []string{"-- 9", "CH 1", "PR 1", "SC 1", "SH 1", "sH 1", "sQ 1"})
}
