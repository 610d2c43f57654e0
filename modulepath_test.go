package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSetModulePath runs scripts/set-module-path.sh on a copy of the
// repository's tracked files: the day the repository has an address, the
// module path changes in one step and everything still builds.
func TestSetModulePath(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the whole module again")
	}
	files, err := exec.Command("git", "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	dir := t.TempDir()
	for _, f := range strings.Split(strings.TrimRight(string(files), "\x00"), "\x00") {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // tracked but deleted in this working tree
		}
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	const path = "example.org/lb/vigil"
	cmd := exec.Command("./scripts/set-module-path.sh", path)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("set-module-path.sh: %v\n%s", err, out)
	}
	cmd = exec.Command("go", "list", "-m")
	cmd.Dir = dir
	if out, err := cmd.Output(); err != nil || strings.TrimSpace(string(out)) != path {
		t.Errorf("go list -m: %q, %v", out, err)
	}
	cmd = exec.Command("grep", "-rl", `"vigil/`, "--include=*.go", ".")
	cmd.Dir = dir
	if out, _ := cmd.Output(); len(out) > 0 {
		t.Errorf("imports of the old path left in:\n%s", out)
	}
	cmd = exec.Command("./scripts/set-module-path.sh", "not a path")
	cmd.Dir = dir
	if err := cmd.Run(); err == nil {
		t.Error("a path with spaces was taken")
	}
}
