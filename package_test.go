package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"vigil/config"
)

// packageFiles are the paths both packages install.
var packageFiles = []string{
	"/usr/bin/vigil",
	"/usr/lib/systemd/system/vigil.service",
	"/usr/lib/sysusers.d/vigil.conf",
	"/etc/vigil/vigil.yaml",
	"/usr/share/man/man8/vigil.8.gz",
	"/usr/share/man/man5/vigil.yaml.5.gz",
	"/usr/share/bash-completion/completions/vigil",
	"/usr/share/fish/vendor_completions.d/vigil.fish",
	"/usr/share/vigil/prometheus/vigil-rules.yml",
	"/usr/share/vigil/grafana/vigil.json",
	"/usr/share/vigil/vigil.schema.json",
	"/usr/share/doc/vigil/examples/proxy-pair/lb1.yaml",
}

// TestPackages builds the .deb and .rpm with scripts/package.sh, then
// reads them back: every file where it belongs, the config a conffile,
// the maintainer scripts, lintian's verdict, and the binary stamped with
// the package's version.
func TestPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both packages; -short skips it")
	}
	dpkgDeb := requireTool(t, "dpkg-deb")
	lintian := requireTool(t, "lintian")
	dir := t.TempDir()
	out, err := exec.Command("./scripts/package.sh", "-o", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/package.sh: %v\n%s", err, out)
	}
	arch := runtime.GOARCH
	if a := os.Getenv("GOARCH"); a != "" {
		arch = a
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "vigil_*_"+arch+".deb"))
	rpms, _ := filepath.Glob(filepath.Join(dir, "vigil-*-1.*.rpm"))
	if len(debs) != 1 || len(rpms) != 1 {
		t.Fatalf("want one .deb and one .rpm in %s, got %q and %q; the script said:\n%s", dir, debs, rpms, out)
	}
	deb, rpm := debs[0], rpms[0]

	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	var files []string
	for _, l := range strings.Split(run(dpkgDeb, "-c", deb), "\n") {
		if f := strings.Fields(l); len(f) >= 6 {
			files = append(files, strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/"))
		}
	}
	for _, want := range append(packageFiles, "/usr/share/zsh/vendor-completions/_vigil", "/usr/share/doc/vigil/copyright", "/usr/share/doc/vigil/changelog.gz", "/usr/share/lintian/overrides/vigil") {
		if !slices.Contains(files, want) {
			t.Errorf(".deb lacks %s", want)
		}
	}
	info := run(dpkgDeb, "-I", deb)
	for _, want := range []string{" conffiles ", " postinst ", " prerm ", " postrm ", "Package: vigil\n", "Architecture: " + arch + "\n", "Section: net\n"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb -I lacks %q:\n%s", want, info)
		}
	}
	ctrl := t.TempDir()
	run(dpkgDeb, "-e", deb, ctrl)
	if b, err := os.ReadFile(filepath.Join(ctrl, "conffiles")); err != nil || string(b) != "/etc/vigil/vigil.yaml\n" {
		t.Errorf("conffiles: %q, %v; want /etc/vigil/vigil.yaml", b, err)
	}

	// The binary says the version the package has.
	version := strings.TrimSpace(run(dpkgDeb, "-f", deb, "Version"))
	if !regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`).MatchString(version) || !strings.Contains(filepath.Base(deb), "_"+version+"_") {
		t.Errorf("version %q in %s", version, filepath.Base(deb))
	}
	root := t.TempDir()
	run(dpkgDeb, "-x", deb, root)
	if arch == runtime.GOARCH {
		if v := run(filepath.Join(root, "usr/bin/vigil"), "version"); !strings.HasPrefix(v, "vigil "+version+"\n") || strings.Contains(v, "built unknown") {
			t.Errorf("vigil version in the package: %q, want version %s and a build date", v, version)
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "usr/share/doc/vigil/copyright")); err != nil ||
		!strings.HasPrefix(string(b), "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n") ||
		!strings.Contains(string(b), "Files: vendor/go.yaml.in/yaml/v3/*") {
		t.Errorf("the copyright file is not the machine-readable one, with the modules linked in: %v\n%.400s", err, b)
	}

	// lintian: no error; warnings are shown.
	lint, _ := exec.Command(lintian, "--no-tag-display-limit", deb).CombinedOutput()
	for _, l := range strings.Split(string(lint), "\n") {
		switch {
		case strings.HasPrefix(l, "E:"):
			t.Errorf("lintian: %s", l)
		case strings.HasPrefix(l, "W:"):
			t.Logf("lintian: %s", l)
		}
	}

	rpmTool, err := exec.LookPath("rpm")
	if err != nil {
		if os.Getenv("VIGIL_REQUIRE_PACKAGING") == "1" {
			t.Fatal("rpm is not installed, and VIGIL_REQUIRE_PACKAGING=1")
		}
		t.Log("rpm is not installed: the .rpm is not read back")
		return
	}
	list := strings.Split(run(rpmTool, "-qpl", rpm), "\n")
	for _, want := range append(packageFiles, "/usr/share/zsh/site-functions/_vigil", "/usr/share/licenses/vigil/LICENSE", "/etc/vigil", "/usr/share/vigil") {
		if !slices.Contains(list, want) {
			t.Errorf(".rpm lacks %s", want)
		}
	}
	if conf := run(rpmTool, "-qp", "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]", rpm); !strings.Contains(conf, "cn /etc/vigil/vigil.yaml\n") {
		t.Errorf("the .rpm's /etc/vigil/vigil.yaml is not config(noreplace):\n%s", conf)
	}
	scripts := run(rpmTool, "-qp", "--scripts", rpm)
	for _, want := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet", "groupadd --system vigil"} {
		if !strings.Contains(scripts, want) {
			t.Errorf("rpm --scripts lacks %q", want)
		}
	}
}

// TestPackagedConfig: the config the package installs is valid, takes no
// address and serves nothing (so vigil check and vigil run both say there
// is nothing to run yet), and its commented examples are right.
func TestPackagedConfig(t *testing.T) {
	code, out, errOut := runArgs("check", "-c", "packaging/vigil.yaml")
	if code != 1 || !strings.Contains(errOut, "packaging/vigil.yaml: nothing to run: no vrrp instances and no services") || strings.Contains(errOut, "error(s)") {
		t.Fatalf("vigil check: exit %d, want 1 saying only that there is nothing to run\n%s%s", code, out, errOut)
	}
	cfg, _, err := config.Load("packaging/vigil.yaml", config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.VRRP) != 0 || len(cfg.Services) != 0 {
		t.Errorf("the packaged config has %d VRRP instance(s) and %d service(s), want none", len(cfg.VRRP), len(cfg.Services))
	}
	if cfg.API.Listen != "127.0.0.1:9653" || cfg.API.SocketGroup != "vigil" || cfg.API.Socket != defaultSocket {
		t.Errorf("api: %+v, want 127.0.0.1:9653, the default socket, group vigil", cfg.API)
	}

	// The examples, uncommented (a YAML line after "# "), are a node.
	b, err := os.ReadFile("packaging/vigil.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yamlLine := regexp.MustCompile(`^# ((?: {2})*(?:[a-z_]+:|- ).*)$`)
	var lines []string
	examples := false
	for _, l := range strings.Split(string(b), "\n") {
		examples = examples || strings.HasPrefix(l, "# vrrp:")
		if m := yamlLine.FindStringSubmatch(l); examples && m != nil {
			l = m[1]
		}
		lines = append(lines, l)
	}
	file := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, err = config.Load(file, config.Options{})
	if err != nil {
		t.Fatalf("the examples, uncommented: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if len(cfg.VRRP) != 1 || len(cfg.Services) != 1 {
		t.Errorf("the examples, uncommented, give %d instance(s) and %d service(s), want 1 and 1", len(cfg.VRRP), len(cfg.Services))
	}
}

// TestMaintainerScripts runs the packages' scripts as dpkg and rpm call
// them, in a mount namespace where systemd seems to run (/run/systemd/system)
// and with systemctl, deb-systemd-invoke and the group tools replaced by
// stand-ins that record their calls: nothing on this machine changes.
func TestMaintainerScripts(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare is not installed")
	}
	if out, err := exec.Command(unshare, "-m", "true").CombinedOutput(); err != nil {
		t.Skipf("no mount namespace here (root needed): %v %s", err, out)
	}
	scripts, err := filepath.Abs("packaging/scripts")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		format  string // deb: deb-systemd-invoke exists; rpm: it does not
		script  string
		args    []string
		systemd bool
		group   bool // the group vigil exists already
		want    []string
	}{
		{"deb install", "deb", "postinstall.sh", []string{"configure", ""}, true, false,
			[]string{"systemd-sysusers vigil.conf", "systemctl daemon-reload"}},
		{"deb install, no systemd", "deb", "postinstall.sh", []string{"configure", ""}, false, false,
			[]string{"systemd-sysusers vigil.conf"}},
		{"deb upgrade", "deb", "postinstall.sh", []string{"configure", "0.9.0"}, true, true,
			[]string{"systemctl daemon-reload", "deb-systemd-invoke try-restart vigil.service"}},
		{"deb abort-upgrade", "deb", "postinstall.sh", []string{"abort-upgrade", "1.0.0"}, true, false, nil},
		{"rpm install", "rpm", "postinstall.sh", []string{"1"}, true, false,
			[]string{"systemd-sysusers vigil.conf", "systemctl daemon-reload"}},
		{"rpm upgrade", "rpm", "postinstall.sh", []string{"2"}, true, true,
			[]string{"systemctl daemon-reload", "systemctl try-restart vigil.service"}},
		{"deb remove", "deb", "preremove.sh", []string{"remove"}, true, true,
			[]string{"deb-systemd-invoke stop vigil.service"}},
		{"deb upgrade, old prerm", "deb", "preremove.sh", []string{"upgrade", "1.0.0"}, true, true, nil},
		{"rpm erase", "rpm", "preremove.sh", []string{"0"}, true, true,
			[]string{"systemctl stop vigil.service", "systemctl --no-reload disable vigil.service"}},
		{"rpm upgrade, old preun", "rpm", "preremove.sh", []string{"1"}, true, true, nil},
		{"deb remove, postrm", "deb", "postremove.sh", []string{"remove"}, true, true,
			[]string{"systemctl daemon-reload"}},
		{"deb purge", "deb", "postremove.sh", []string{"purge"}, true, true,
			[]string{"systemctl daemon-reload", "removed multi-user.target.wants/vigil.service"}},
		{"deb purge, no systemd", "deb", "postremove.sh", []string{"purge"}, false, true,
			[]string{"removed multi-user.target.wants/vigil.service"}},
		{"rpm erase, postun", "rpm", "postremove.sh", []string{"0"}, true, true,
			[]string{"systemctl daemon-reload"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin := t.TempDir()
			log := filepath.Join(t.TempDir(), "calls")
			stub := "#!/bin/sh\necho \"$(basename \"$0\") $*\" >>" + log + "\n"
			tools := []string{"systemctl", "systemd-sysusers", "groupadd"}
			if c.format == "deb" {
				tools = append(tools, "deb-systemd-invoke")
			}
			for _, tool := range tools {
				if err := os.WriteFile(filepath.Join(bin, tool), []byte(stub), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			getent := "#!/bin/sh\nexit 2\n"
			if c.group {
				getent = "#!/bin/sh\necho vigil:x:999:\n"
			}
			os.WriteFile(filepath.Join(bin, "getent"), []byte(getent), 0o755)
			for _, tool := range []string{"rm", "basename"} {
				path, err := exec.LookPath(tool)
				if err != nil {
					t.Fatal(err)
				}
				os.Symlink(path, filepath.Join(bin, tool))
			}
			// In the namespace: a /run of its own (with systemd's mark or
			// not) and an /etc/systemd/system holding an enabled vigil and
			// another unit, which must outlive a purge.
			prog := `set -e
mount -t tmpfs vigil-test /run
if [ -n "$SYSTEMD" ]; then mkdir -p /run/systemd/system; fi
mount -t tmpfs vigil-test /etc/systemd/system
mkdir -p /etc/systemd/system/multi-user.target.wants
ln -s /usr/lib/systemd/system/vigil.service /etc/systemd/system/multi-user.target.wants/vigil.service
ln -s /usr/lib/systemd/system/other.service /etc/systemd/system/multi-user.target.wants/other.service
PATH=$BIN /bin/sh "$SCRIPTS/$SCRIPT" "$@"
if [ ! -L /etc/systemd/system/multi-user.target.wants/vigil.service ]; then echo "removed multi-user.target.wants/vigil.service" >>"$LOG"; fi
[ -L /etc/systemd/system/multi-user.target.wants/other.service ]
`
			cmd := exec.Command(unshare, append([]string{"-m", "/bin/sh", "-c", prog, "sh"}, c.args...)...)
			systemd := ""
			if c.systemd {
				systemd = "1"
			}
			cmd.Env = append(os.Environ(), "BIN="+bin, "LOG="+log, "SCRIPTS="+scripts, "SCRIPT="+c.script, "SYSTEMD="+systemd)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s %q: %v\n%s", c.script, c.args, err, out)
			}
			b, _ := os.ReadFile(log)
			var got []string
			if s := strings.TrimSpace(string(b)); s != "" {
				got = strings.Split(s, "\n")
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s %q called %q, want %q", c.script, c.args, got, c.want)
			}
		})
	}
}
