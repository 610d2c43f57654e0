package vm

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// layout names the cache entry format. Bump it whenever the base initramfs
// or the kernel extraction changes, so stale entries built by an older
// harness are not booted; the kernel version alone cannot tell.
const layout = "v1"

// kernelMeta is the Debian package whose dependency names the current
// versioned kernel package (linux-image-6.1.0-56-amd64 and so on).
const kernelMeta = "linux-image-amd64"

// loadModules are loaded by /init, in this order (their dependencies are
// resolved at prepare time). crc32c_generic comes first by name because the
// alternative crc32c-intel needs SSE4.2, which TCG's CPU model lacks.
// dummy is loaded with numdummies=0, or it would create dummy0.
var loadModules = []string{
	"crc32c_generic",
	"ip_vs",
	"ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_sh", "ip_vs_mh", "ip_vs_dh",
	"ip_vs_sed", "ip_vs_nq", "ip_vs_fo", "ip_vs_ovf", "ip_vs_lblc", "ip_vs_lblcr",
	"veth",
	"dummy",
}

// moduleParams are the parameters /init passes when loading a module.
var moduleParams = map[string]string{"dummy": "numdummies=0"}

// extraModules are shipped but not loaded: the kernel autoloads them on use
// through the busybox modprobe (ipip for tunnel-mode real servers).
var extraModules = []string{"ipip"}

// skipModules are never shipped: crc32c-intel dies with an invalid opcode
// under TCG, and crc32c_generic provides the same algorithm.
var skipModules = map[string]bool{"crc32c-intel": true, "crc32c_intel": true}

// image is a prepared kernel and base initramfs in the cache.
type image struct {
	KernelVersion string
	Kernel        string // uncompressed vmlinux ELF, booted through its PVH entry
	Initrd        string // gzip'd base initramfs
}

var (
	prepareMu sync.Mutex // one preparation per process; other processes race via rename
	prepared  *image     // this process's image, so apt is asked once per process
)

// CacheDir is where prepared kernels are kept: $VIGIL_VM_CACHE, else
// $XDG_CACHE_HOME/vigil-vm, else /var/cache/vigil-vm for root (CI runs as
// root with no XDG variables), else ~/.cache/vigil-vm.
func CacheDir() string {
	if d := os.Getenv("VIGIL_VM_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "vigil-vm")
	}
	if os.Geteuid() == 0 {
		return "/var/cache/vigil-vm"
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "vigil-vm")
	}
	return filepath.Join(os.TempDir(), "vigil-vm")
}

// CheckHost reports what the host lacks to run the VM, with the Debian
// packages that provide it, so a missing tool reads as an install hint and
// not as an obscure exec error half-way through preparation.
func CheckHost() error {
	var missing []string
	for _, tool := range []struct{ cmd, pkg string }{
		{"qemu-system-x86_64", "qemu-system-x86"},
		{"busybox", "busybox-static"},
		{"depmod", "kmod"},
		{"modprobe", "kmod"},
		{"xz", "xz-utils"},
		{"apt-get", "apt"},
		{"apt-cache", "apt"},
		{"dpkg", "dpkg"},
	} {
		if _, err := lookPath(tool.cmd); err != nil {
			missing = append(missing, fmt.Sprintf("%s not found: install %s", tool.cmd, tool.pkg))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("vm: %s (apt-get install --no-install-recommends qemu-system-x86 busybox-static cpio kmod xz-utils)",
			strings.Join(missing, "; "))
	}
	bb, _ := lookPath("busybox")
	if err := checkStatic(bb); err != nil {
		return fmt.Errorf("vm: busybox at %s: %v: install busybox-static", bb, err)
	}
	return nil
}

// lookPath is exec.LookPath that also searches the sbin directories, which
// are not in a non-root user's PATH on Debian but hold depmod and modprobe.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// checkStatic fails for a dynamically linked ELF binary: the initramfs
// has no libc or loader, so such a binary fails inside the VM with a
// misleading "not found".
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked (the VM has no libc); build it static, for Go with CGO_ENABLED=0")
		}
	}
	return nil
}

// prepare returns the cached kernel and base initramfs, building them on
// first use. logf reports slow steps (the download) and may be nil.
func prepare(ctx context.Context, logf func(string, ...any)) (*image, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	prepareMu.Lock()
	defer prepareMu.Unlock()
	if err := CheckHost(); err != nil {
		return nil, err
	}
	if prepared != nil {
		return prepared, nil
	}
	cache := CacheDir()
	kver, err := kernelVersion(ctx)
	if err != nil && os.Geteuid() == 0 && newestCached(cache) == nil {
		// A fresh machine or container may have no package lists at all;
		// as root (CI) fetch them rather than fail.
		if uerr := run(ctx, "/", "apt-get", "update", "-qq"); uerr == nil {
			kver, err = kernelVersion(ctx)
		}
	}
	if err != nil {
		// Offline, or apt lists missing: any entry prepared earlier still
		// boots, and IPVS does not change between Debian kernel updates.
		if img := newestCached(cache); img != nil {
			logf("vm: %v; using cached kernel %s", err, img.KernelVersion)
			prepared = img
			return img, nil
		}
		return nil, err
	}
	dir := filepath.Join(cache, kver+"-"+layout)
	img := &image{KernelVersion: kver, Kernel: filepath.Join(dir, "vmlinux"), Initrd: filepath.Join(dir, "base.cpio.gz")}
	if _, err := os.Stat(img.Initrd); err == nil {
		prepared = img
		return img, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, fmt.Errorf("vm: cache directory: %v", err)
	}
	sweepBuilds(cache)
	// Build in a private directory and rename it into place: the rename is
	// atomic, so a test process racing this one either sees no entry (and
	// builds its own) or a complete one, never a half-written file.
	tmp, err := os.MkdirTemp(cache, ".build-")
	if err != nil {
		return nil, fmt.Errorf("vm: %v", err)
	}
	defer os.RemoveAll(tmp)
	logf("vm: preparing kernel %s in %s (first run: downloads about 70 MB)", kver, dir)
	out := filepath.Join(tmp, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		return nil, err
	}
	if err := build(ctx, tmp, out, kver); err != nil {
		return nil, err
	}
	if err := os.Rename(out, dir); err != nil {
		// Another process finished first (the target exists and is not
		// empty): its entry is as good as ours.
		if _, statErr := os.Stat(img.Initrd); statErr != nil {
			return nil, fmt.Errorf("vm: installing %s: %v", dir, err)
		}
	}
	prepared = img
	return img, nil
}

// sweepBuilds removes build directories that a killed process left: a
// preparation takes well under a minute, so one older than an hour is dead.
func sweepBuilds(cache string) {
	old, _ := filepath.Glob(filepath.Join(cache, ".build-*"))
	for _, d := range old {
		if st, err := os.Stat(d); err == nil && time.Since(st.ModTime()) > time.Hour {
			os.RemoveAll(d)
		}
	}
}

// newestCached returns the most recently built complete cache entry of the
// current layout, or nil.
func newestCached(cache string) *image {
	entries, _ := filepath.Glob(filepath.Join(cache, "*-"+layout, "base.cpio.gz"))
	var best *image
	var bestTime int64
	for _, initrd := range entries {
		st, err := os.Stat(initrd)
		if err != nil {
			continue
		}
		dir := filepath.Dir(initrd)
		if t := st.ModTime().UnixNano(); best == nil || t > bestTime {
			best = &image{
				KernelVersion: strings.TrimSuffix(filepath.Base(dir), "-"+layout),
				Kernel:        filepath.Join(dir, "vmlinux"),
				Initrd:        initrd,
			}
			bestTime = t
		}
	}
	return best
}

// kernelVersion asks apt which versioned kernel package linux-image-amd64
// currently depends on, for example 6.1.0-56-amd64.
func kernelVersion(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", kernelMeta).Output()
	re := regexp.MustCompile(`Depends:\s*linux-image-(\d\S*)`)
	if m := re.FindSubmatch(out); err == nil && m != nil {
		return string(m[1]), nil
	}
	return "", fmt.Errorf("vm: apt-cache depends %s names no kernel package (%v): run apt-get update", kernelMeta, errOr(err, "no Depends line"))
}

func errOr(err error, s string) any {
	if err != nil {
		return err
	}
	return s
}

// run runs a preparation command and returns its error with the
// command's output, which is what explains a failed apt-get or depmod.
func run(ctx context.Context, dir string, name string, args ...string) error {
	path, err := lookPath(name)
	if err != nil {
		return fmt.Errorf("vm: %s not found", name)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("vm: %s %s: %v\n%s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// build downloads and unpacks the kernel package under tmp and writes
// vmlinux and base.cpio.gz into out.
func build(ctx context.Context, tmp, out, kver string) error {
	pkg := "linux-image-" + kver
	dl := filepath.Join(tmp, "dl")
	if err := os.Mkdir(dl, 0o755); err != nil {
		return err
	}
	if err := run(ctx, dl, "apt-get", "download", pkg); err != nil {
		// Stale package lists point at a version the mirror dropped; as
		// root (CI) refresh them once and retry.
		if os.Geteuid() != 0 {
			return err
		}
		if uerr := run(ctx, dl, "apt-get", "update", "-qq"); uerr != nil {
			return fmt.Errorf("%v\nand then %v", err, uerr)
		}
		if err := run(ctx, dl, "apt-get", "download", pkg); err != nil {
			return err
		}
	}
	debs, _ := filepath.Glob(filepath.Join(dl, pkg+"_*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("vm: apt-get download %s left %d .deb files in %s", pkg, len(debs), dl)
	}
	root := filepath.Join(tmp, "root")
	if err := run(ctx, tmp, "dpkg", "-x", debs[0], root); err != nil {
		return err
	}
	os.Remove(debs[0]) // 70 MB we no longer need while the rest is built
	if err := extractVmlinux(ctx, tmp, filepath.Join(root, "boot", "vmlinuz-"+kver), filepath.Join(out, "vmlinux")); err != nil {
		return err
	}
	if err := run(ctx, tmp, "depmod", "-b", root, kver); err != nil {
		return err
	}
	return buildBase(ctx, tmp, root, kver, filepath.Join(out, "base.cpio.gz"))
}

// extractVmlinux pulls the xz-compressed ELF vmlinux out of a bzImage.
// qemu boots that ELF through its PVH note, skipping the real-mode setup
// and the in-guest decompression: under TCG that halves the boot time. The
// xz stream is found by its magic; more than one match is possible (the
// bytes can occur by chance), so each is tried until one decompresses to
// an ELF file. xz reads from a temp file, not a pipe, because it stops
// after the stream and a pipe's writer would then see EPIPE.
func extractVmlinux(ctx context.Context, tmp, bzImage, dst string) error {
	data, err := os.ReadFile(bzImage)
	if err != nil {
		return fmt.Errorf("vm: kernel image: %v", err)
	}
	magic := []byte("\xfd7zXZ\x00")
	src := filepath.Join(tmp, "vmlinux.xz")
	for off := 0; ; {
		i := bytes.Index(data[off:], magic)
		if i < 0 {
			break
		}
		off += i
		if err := os.WriteFile(src, data[off:], 0o644); err != nil {
			return err
		}
		off += len(magic)
		f, err := os.Create(dst)
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, "xz", "-dc", "--single-stream", src)
		cmd.Stdout = f
		runErr := cmd.Run()
		f.Close()
		if runErr != nil {
			continue
		}
		if e, err := elf.Open(dst); err == nil {
			e.Close()
			os.Remove(src)
			return nil
		}
	}
	os.Remove(dst)
	return fmt.Errorf("vm: found no xz-compressed ELF vmlinux in %s", bzImage)
}

// moduleDeps lists the module files (relative to the tree's module
// directory) to insmod for name, dependencies first, as modprobe resolves
// them. -C /dev/null keeps the host's modprobe.d options out.
func moduleDeps(ctx context.Context, root, kver, name string) ([]string, error) {
	modprobe, err := lookPath("modprobe")
	if err != nil {
		return nil, errors.New("vm: modprobe not found: install kmod")
	}
	out, err := exec.CommandContext(ctx, modprobe, "-C", "/dev/null", "-d", root, "-S", kver, "--show-depends", name).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("vm: resolving module %s: %v\n%s", name, err, out)
	}
	modDir := filepath.Join(root, "lib", "modules", kver) + "/"
	var files []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "insmod" {
			continue // "builtin NAME": nothing to load
		}
		rel, ok := strings.CutPrefix(f[1], modDir)
		if !ok {
			return nil, fmt.Errorf("vm: module %s resolved outside the tree: %s", name, f[1])
		}
		if skipModules[modName(rel)] {
			continue
		}
		files = append(files, rel)
	}
	return files, nil
}

// modName is a module file's name without directory and extensions.
func modName(rel string) string {
	base := filepath.Base(rel)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return base
}

// buildBase writes the gzip'd base initramfs: busybox with its applet
// links, the IPVS modules with a modules.dep of their own, and /init.
func buildBase(ctx context.Context, tmp, root, kver, dst string) error {
	// Resolve the load order, dependencies first, each file once.
	seen := map[string]bool{}
	var load []string // relative module paths, in load order
	for _, name := range append(append([]string{}, loadModules...), extraModules...) {
		files, err := moduleDeps(ctx, root, kver, name)
		if err != nil {
			return err
		}
		for _, f := range files {
			if !seen[f] {
				seen[f] = true
				if contains(loadModules, name) {
					load = append(load, f)
				}
			}
		}
	}
	// Stage the shipped modules in a tree of their own and run depmod on
	// it, so the VM's modules.dep and modules.alias name only files that
	// exist there (the kernel autoloads through them). Compressed modules
	// are unpacked: busybox's insmod may lack xz and zstd support.
	stage := filepath.Join(tmp, "stage")
	modDir := filepath.Join("lib", "modules", kver)
	rename := map[string]string{}
	for f := range seen {
		src := filepath.Join(root, modDir, f)
		plain := strings.TrimSuffix(strings.TrimSuffix(f, ".xz"), ".zst")
		rename[f] = plain
		dstf := filepath.Join(stage, modDir, plain)
		if err := os.MkdirAll(filepath.Dir(dstf), 0o755); err != nil {
			return err
		}
		var err error
		switch {
		case strings.HasSuffix(f, ".xz"):
			err = decompressTo(ctx, dstf, "xz", "-dc", src)
		case strings.HasSuffix(f, ".zst"):
			err = decompressTo(ctx, dstf, "zstd", "-dcq", src)
		default:
			err = copyFile(src, dstf)
		}
		if err != nil {
			return fmt.Errorf("vm: module %s: %v", f, err)
		}
	}
	for _, meta := range []string{"modules.builtin", "modules.builtin.modinfo", "modules.order"} {
		if err := copyFile(filepath.Join(root, modDir, meta), filepath.Join(stage, modDir, meta)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := run(ctx, tmp, "depmod", "-b", stage, kver); err != nil {
		return err
	}

	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err != nil {
		return err
	}
	cw := newCPIOWriter(zw)
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "run", "tmp", "etc", "root"} {
		cw.Dir(d, 0o755)
	}
	cw.Dir("tmp", 0o1777)
	// The kernel opens /dev/console for init before anything is mounted;
	// without the node init runs with no stdout and the console is silent.
	cw.CharDev("dev/console", 0o600, 5, 1)
	bb, _ := lookPath("busybox")
	cw.CopyFile("bin/busybox", 0o755, bb)
	links, err := busyboxApplets(ctx, bb)
	if err != nil {
		return err
	}
	for _, l := range links {
		if l != "bin/busybox" {
			cw.Symlink(l, "/bin/busybox")
		}
	}
	var files []string
	err = filepath.WalkDir(filepath.Join(stage, "lib"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, p := range files {
		rel, _ := filepath.Rel(stage, p)
		cw.CopyFile(rel, 0o644, p)
	}
	var init strings.Builder
	init.WriteString(initHead)
	for _, rel := range load {
		mod := "/" + filepath.Join(modDir, rename[rel])
		params := moduleParams[modName(rel)]
		fmt.Fprintf(&init, "insmod %s %s || echo \"vigil-vm: insmod %s failed\"\n", mod, params, modName(rel))
	}
	init.WriteString(initTail)
	cw.File("init", 0o755, []byte(init.String()))
	if err := cw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// busyboxApplets lists the paths of busybox's applet links (bin/sh,
// sbin/modprobe, ...), as busybox itself reports them.
func busyboxApplets(ctx context.Context, bb string) ([]string, error) {
	out, err := exec.CommandContext(ctx, bb, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("vm: busybox --list-full: %v", err)
	}
	links := strings.Fields(string(out))
	if !contains(links, "sbin/modprobe") || !contains(links, "bin/sh") {
		return nil, fmt.Errorf("vm: busybox at %s lacks sh or modprobe: install busybox-static", bb)
	}
	return links, nil
}

func decompressTo(ctx context.Context, dst string, name string, args ...string) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = f
	if out, err := cmd.Output(); err != nil {
		return fmt.Errorf("%s: %v %s", name, err, out)
	}
	return f.Close()
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// initHead and initTail frame the module loading in /init. The payload's
// exit status is printed on a line of its own (hence the leading newline:
// the payload's last line may lack one) for the host to read, and then the
// VM powers off at once: there is nothing to sync.
const initHead = `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
mkdir -p /run/netns
echo /sbin/modprobe > /proc/sys/kernel/modprobe
`

const initTail = `ip link set lo up
if [ -f /payload/run ]; then
	sh /payload/run
	rc=$?
else
	echo "vigil-vm: no payload in the initramfs"
	rc=127
fi
echo
echo "` + markerPrefix + `$rc"
poweroff -f
`

// markerPrefix starts the console line that carries the payload's exit
// status.
const markerPrefix = "vigil-vm: payload exit status "
