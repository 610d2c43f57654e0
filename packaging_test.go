package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnitVerifies runs systemd-analyze verify on the shipped unit,
// with the binary's path pointed at an executable that exists here: any
// directive this systemd does not know (Type=notify-reload on Debian 12's
// systemd 252, say) is printed as a warning, which fails the test.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	unit, err := os.ReadFile("packaging/vigil.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "/usr/bin/vigil ") {
		t.Fatal("the unit no longer runs /usr/bin/vigil; update this test")
	}
	file := filepath.Join(t.TempDir(), "vigil.service")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(string(unit), "/usr/bin/vigil ", "/bin/true ")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", file).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, want := range []string{"Type=notify\n", "ExecReload=/usr/bin/vigil reload\n", "Restart=always\n", "WatchdogSec=", "AmbientCapabilities=",
		"ConditionPathExists=/etc/vigil/vigil.yaml\n"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
}

// TestSystemdUnitKeepsNice: vigil's default nice -10 needs CAP_SYS_NICE;
// a bounding set without it silently loses the setting (setpriority is
// refused) and with it the adverts' head start under load.
func TestSystemdUnitKeepsNice(t *testing.T) {
	unit, err := os.ReadFile("packaging/vigil.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(unit), "\n") {
		for _, key := range []string{"AmbientCapabilities=", "CapabilityBoundingSet="} {
			if strings.HasPrefix(line, key) && !strings.Contains(line, "CAP_SYS_NICE") {
				t.Errorf("%s lacks CAP_SYS_NICE: %s", key, line)
			}
		}
	}
	if !strings.Contains(string(unit), "CapabilityBoundingSet=") {
		t.Error("the unit sets no bounding set; this test checks the wrong file")
	}
}
