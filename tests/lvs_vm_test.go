package tests

import (
	"testing"

	"vigil/tests/vm"
)

// TestLVSInVM runs the kernel tests (TestKernel*) of the packages that
// drive IPVS inside the IPVS VM: this machine's kernel may have no IPVS,
// Debian's stock kernel has it. Each package boots a VM of its own; a
// package fails if any of its kernel tests fails or skips there, or if
// none ran.
func TestLVSInVM(t *testing.T) {
	for _, pkg := range []string{"./lvs", "./daemon"} {
		t.Run(pkg[2:], func(t *testing.T) { vm.RunGoTests(t, pkg, "^TestKernel") })
	}
}
