package api

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is where Debian's chromium package installs the browser;
// scripts/test.sh installs it.
const chromiumPath = "/usr/bin/chromium"

// TestPageFollowsEvents loads the page in headless Chromium, then a backend
// goes down in the Source and an event says so: the page must show the
// backend down without being reloaded.
func TestPageFollowsEvents(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: scripts/test.sh installs chromium as root; run it with sudo")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s: %v; install it: apt-get install -y --no-install-recommends chromium", chromiumPath, err)
	}
	src := newFakeSource()
	ts := httptest.NewServer(New(src, Options{}).Handler())
	defer ts.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // Chromium's sandbox refuses to run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	// The bound only stops a broken test from hanging; every step waits on
	// a condition in the page.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	const backend = `[data-backend="web/10.0.1.1:8080"]`
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(backend+`[data-up="true"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#live[data-live="true"]`)),
	)
	if err != nil {
		t.Fatalf("loading the page: %v", err)
	}
	node, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("node")))
	if err != nil || node != "lb1" {
		t.Errorf("node shown as %q (%v), want lb1", node, err)
	}
	vips, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr[data-instance="VI_1"] td.vips`)))
	if err != nil || vips != "10.0.0.100/24, 10.0.0.101/24" {
		t.Errorf("VI_1's VIPs shown as %q (%v)", vips, err)
	}
	heard, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr[data-instance="VI_6"] td.heard`)))
	if err != nil || !strings.HasSuffix(heard, " from fe80::2") {
		t.Errorf("VI_6's last advert shown as %q (%v)", heard, err)
	}
	// The page is live (its EventSource opened), so it has subscribed.
	waitFor(t, src.subscribed, "the page to subscribe to events")

	src.setBackendUp("web", "10.0.1.1:8080", false)
	src.emit(Event{Time: time.Now(), Kind: KindBackend, Subject: "web/10.0.1.1:8080", From: "up", To: "down", Reason: "timeout"})

	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(backend+`[data-up="false"]`))); err != nil {
		t.Fatalf("waiting for the page to show the backend down: %v", err)
	}
	up, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(backend), "data-up"))
	if err != nil || up.Value != "false" {
		t.Errorf("data-up = %q (%v) after the event, want false", up.Value, err)
	}
}
