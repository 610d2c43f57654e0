// Package vm runs a static binary inside a throwaway qemu VM booted from
// Debian's stock kernel, which has IPVS as modules where the host kernel
// may have none. vigil's lvs package is tested end to end this way.
//
// The first run downloads the current Debian kernel package with apt-get,
// extracts its uncompressed vmlinux (booted through its PVH entry, about
// twice as fast as the bzImage under software emulation) and builds a base
// initramfs: static busybox, the IPVS, veth and dummy modules, and an /init
// that loads them and runs the payload. Both are cached per kernel version
// (see CacheDir). Every run then packs the payload into a small cpio
// archive placed before the base image, boots, and reads the payload's
// exit status from the serial console.
//
// Hardware KVM is used only where the CPU advertises vmx or svm; otherwise
// qemu emulates (TCG), which boots in about 3 seconds. Inside the VM the
// payload runs as root with VIGIL_IN_VM=1 in its environment.
//
// Host packages: qemu-system-x86 busybox-static cpio kmod xz-utils (and
// apt, dpkg). CheckHost names whatever is missing.
package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultTimeout bounds a run whose Options.Timeout is zero. It is
// generous because the guest CPU is emulated: a Go test binary that takes
// one second natively can take ten in the VM.
const DefaultTimeout = 5 * time.Minute

// Options describe one run.
type Options struct {
	// Binary is the host path of a statically linked executable (for Go,
	// built with CGO_ENABLED=0). It runs as /payload/bin in the VM.
	Binary string
	// Args are passed to Binary verbatim.
	Args []string
	// Env adds KEY=VALUE pairs to the payload's environment, which
	// otherwise holds PATH, HOME=/tmp, TMPDIR=/tmp and VIGIL_IN_VM=1.
	Env []string
	// Timeout bounds the whole run, boot and power-off included; zero
	// means DefaultTimeout. On expiry qemu is killed.
	Timeout time.Duration
	// CPUs and MemoryMB size the VM; zero means 2 CPUs and 512 MiB.
	CPUs     int
	MemoryMB int
	// Console, if set, receives the console output as it arrives (with
	// carriage returns removed), for a live view of a long run.
	Console io.Writer
	// Logf, if set, reports slow preparation steps such as the kernel
	// download on first use.
	Logf func(format string, args ...any)
}

// Result is what a run produced.
type Result struct {
	// Output is the whole serial console: kernel messages, the payload's
	// stdout and stderr, and the exit-status marker line.
	Output string
	// ExitCode is the payload's exit status; -1 when it is unknown
	// because the run failed.
	ExitCode int
}

// Run boots the VM, runs opts.Binary in it and returns the console output
// and the payload's exit status. The error is non-nil only when the
// harness failed (tools missing, no kernel, timeout, VM crash); a payload
// that exits non-zero is reported through Result.ExitCode. Result.Output is
// filled in as far as the run got, also on error.
func Run(ctx context.Context, opts Options) (Result, error) {
	res := Result{ExitCode: -1}
	if opts.Binary == "" {
		return res, errors.New("vm: Options.Binary is empty")
	}
	if err := checkStatic(opts.Binary); err != nil {
		return res, fmt.Errorf("vm: payload %s: %v", opts.Binary, err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	img, err := prepare(ctx, opts.Logf)
	if err != nil {
		return res, err
	}
	tmp, err := os.MkdirTemp("", "vigil-vm-run-")
	if err != nil {
		return res, fmt.Errorf("vm: %v", err)
	}
	defer os.RemoveAll(tmp)
	initrd := filepath.Join(tmp, "initrd")
	if err := writeInitrd(initrd, img.Initrd, opts); err != nil {
		return res, fmt.Errorf("vm: building the initramfs: %v", err)
	}

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", qemuArgs(img.Kernel, initrd, opts)...)
	var console, stderr bytes.Buffer
	cmd.Stdin = nil // /dev/null: qemu must not put a terminal into raw mode
	cmd.Stdout = &console
	if opts.Console != nil {
		cmd.Stdout = io.MultiWriter(&console, crStripper{opts.Console})
	}
	cmd.Stderr = &stderr
	// qemu runs in a process group of its own, killed as a whole when the
	// context ends, and dies with this process (Pdeathsig) should a test
	// binary be killed or time out, so no VM outlives its test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	waitErr := startAndWait(cmd)

	res.Output = strings.ReplaceAll(console.String(), "\r", "")
	if code, ok := parseMarker(res.Output); ok {
		res.ExitCode = code
		return res, nil
	}
	if ctx.Err() == context.DeadlineExceeded {
		return res, fmt.Errorf("vm: timed out after %s with no exit status from the payload", timeout)
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("vm: %v", ctx.Err())
	}
	msg := strings.TrimSpace(stderr.String())
	if waitErr != nil {
		return res, fmt.Errorf("vm: qemu-system-x86_64: %v: %s", waitErr, msg)
	}
	return res, fmt.Errorf("vm: the VM stopped without reporting the payload's exit status (kernel panic or init failure; see the console output) %s", msg)
}

// startAndWait starts cmd and waits for it on one locked OS thread:
// Pdeathsig fires when the thread that forked the child exits, and Go may
// retire threads, so the thread is pinned for the child's whole life.
func startAndWait(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			if errors.Is(err, exec.ErrNotFound) {
				err = errors.New("qemu-system-x86_64 not found: install qemu-system-x86")
			}
			done <- err
			return
		}
		done <- cmd.Wait()
	}()
	return <-done
}

// qemuArgs is the command line: a minimal PC with a serial console on
// stdout and nothing else, which powers off (not reboots) on poweroff,
// panic or oops, so the process always ends.
func qemuArgs(kernel, initrd string, opts Options) []string {
	cpus, mem := opts.CPUs, opts.MemoryMB
	if cpus <= 0 {
		cpus = 2
	}
	if mem <= 0 {
		mem = 512
	}
	accel := []string{"-accel", "tcg", "-cpu", "max"}
	if hardwareKVM() {
		accel = []string{"-accel", "kvm", "-cpu", "host"}
	}
	args := append([]string{"-M", "pc"}, accel...)
	return append(args,
		"-smp", strconv.Itoa(cpus), "-m", strconv.Itoa(mem),
		"-nodefaults", "-no-user-config", "-display", "none",
		"-serial", "stdio", "-no-reboot",
		"-kernel", kernel, "-initrd", initrd,
		"-append", "console=ttyS0 quiet panic=-1 oops=panic")
}

// hardwareKVM reports whether KVM can run the stock kernel. /dev/kvm alone
// is not enough: a nested or emulated /dev/kvm without vmx or svm in the
// CPU flags makes the kernel die early (MSR and emulation failures).
func hardwareKVM() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	cpuinfo, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false
	}
	return regexp.MustCompile(`(?m)^flags\s*:.*\b(vmx|svm)\b`).Match(cpuinfo)
}

var markerRE = regexp.MustCompile(regexp.QuoteMeta(markerPrefix) + `(\d+)`)

// parseMarker finds the payload's exit status in the console output. The
// last marker wins: a payload printing the marker text cannot hide the
// real one, which /init prints after the payload ends.
func parseMarker(out string) (int, bool) {
	m := markerRE.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return 0, false
	}
	code, err := strconv.Atoi(m[len(m)-1][1])
	return code, err == nil
}

// writeInitrd writes the run's initramfs: an uncompressed cpio holding
// the payload, followed by the cached gzip'd base image. This order
// matters: the kernel rejects an uncompressed archive after a compressed
// one ("invalid magic").
func writeInitrd(dst, base string, opts Options) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	cw := newCPIOWriter(f)
	cw.Dir("payload", 0o755)
	cw.CopyFile("payload/bin", 0o755, opts.Binary)
	cw.File("payload/run", 0o644, []byte(runScript(opts)))
	if err := cw.Close(); err != nil {
		return err
	}
	b, err := os.Open(base)
	if err != nil {
		return err
	}
	defer b.Close()
	if _, err := io.Copy(f, b); err != nil {
		return err
	}
	return f.Close()
}

// runScript is /payload/run: the environment and the command line, every
// word single-quoted so arguments reach the payload byte for byte.
func runScript(opts Options) string {
	var s strings.Builder
	s.WriteString("export VIGIL_IN_VM=1 HOME=/tmp TMPDIR=/tmp\n")
	for _, kv := range opts.Env {
		s.WriteString("export " + shellQuote(kv) + "\n")
	}
	s.WriteString("cd /tmp\n/payload/bin")
	for _, a := range opts.Args {
		s.WriteString(" " + shellQuote(a))
	}
	s.WriteString("\n")
	return s.String()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// crStripper drops the carriage returns the guest's tty adds to every
// line, so the live console reads like ordinary output.
type crStripper struct{ w io.Writer }

func (c crStripper) Write(p []byte) (int, error) {
	if _, err := c.w.Write(bytes.ReplaceAll(p, []byte("\r"), nil)); err != nil {
		return 0, err
	}
	return len(p), nil
}
