// Command vmrun runs a static binary inside the IPVS test VM (see package
// vigil/tests/vm), printing the console as it arrives and exiting with the
// binary's exit status:
//
//	go run ./tests/vm/cmd/vmrun [-timeout 120s] BINARY [ARGS...]
//
// go run itself reports any non-zero status as 1 ("exit status 7" on
// stderr); build vmrun with go build to get the payload's exact status.
// Build Go payloads with CGO_ENABLED=0 so they are static. When the VM
// itself fails (tools missing, timeout, kernel panic) vmrun exits 125, a
// status chosen to be distinguishable from the payload's own.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"vigil/tests/vm"
)

// harnessFailed is the exit status when there is no payload status to
// return, as env(1) and docker use 125 for their own failures.
const harnessFailed = 125

func main() {
	timeout := flag.Duration("timeout", vm.DefaultTimeout, "bound on the whole run, boot included")
	cpus := flag.Int("smp", 2, "virtual CPUs")
	mem := flag.Int("m", 512, "memory in MiB")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: vmrun [flags] BINARY [ARGS...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() < 1 {
		flag.Usage()
		os.Exit(2)
	}
	// Interrupts cancel the run, which kills qemu, instead of leaving it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := vm.Run(ctx, vm.Options{
		Binary:   flag.Arg(0),
		Args:     flag.Args()[1:],
		Timeout:  *timeout,
		CPUs:     *cpus,
		MemoryMB: *mem,
		Console:  os.Stdout,
		Logf: func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, format+"\n", args...)
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmrun:", err)
		os.Exit(harnessFailed)
	}
	os.Exit(res.ExitCode)
}
