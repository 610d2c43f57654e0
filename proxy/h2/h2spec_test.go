package h2

import (
	"context"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// junitReport is the part of h2spec's JUnit report the test reads.
type junitReport struct {
	Suites []struct {
		Name  string `xml:"name,attr"`
		Cases []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Text string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Text string `xml:",chardata"`
			} `xml:"error"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestH2spec runs every h2spec case (generic, http2, hpack) against the
// core driven by a plain goroutine per connection.
func TestH2spec(t *testing.T) {
	bin, err := exec.LookPath("h2spec")
	if err != nil {
		if os.Getenv("VIGIL_REQUIRE_H2SPEC") != "" {
			t.Fatal("h2spec not installed and VIGIL_REQUIRE_H2SPEC is set")
		}
		t.Skip("h2spec not installed")
	}
	addr, stop := startServer(t)
	defer stop()

	report := filepath.Join(t.TempDir(), "report.xml")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, bin, "-h", "127.0.0.1", "-p", strconv.Itoa(addr.Port), "-j", report, "-o", "2", "-S").CombinedOutput()
	t.Logf("h2spec took %v", time.Since(start).Round(time.Millisecond))
	raw, rerr := os.ReadFile(report)
	if rerr != nil {
		t.Fatalf("h2spec wrote no report (%v): %v\n%s", rerr, err, out)
	}
	var rep junitReport
	if err := xml.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("parse report: %v", err)
	}
	total, failed, skipped := 0, 0, 0
	var failures []string
	for _, s := range rep.Suites {
		for _, tc := range s.Cases {
			total++
			switch {
			case tc.Failure != nil:
				failed++
				failures = append(failures, s.Name+": "+tc.Name+"\n"+strings.TrimSpace(tc.Failure.Text))
			case tc.Error != nil:
				failed++
				failures = append(failures, s.Name+": "+tc.Name+"\n"+strings.TrimSpace(tc.Error.Text))
			case tc.Skipped != nil:
				skipped++
			}
		}
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	t.Logf("h2spec: %s", lines[len(lines)-1])
	if failed > 0 || err != nil {
		t.Fatalf("h2spec: %d tests, %d failed, %d skipped (exit: %v):\n%s", total, failed, skipped, err, strings.Join(failures, "\n\n"))
	}
	if total != 146 || skipped != 0 {
		t.Fatalf("h2spec: %d tests, %d skipped; want 146 run", total, skipped)
	}
}
