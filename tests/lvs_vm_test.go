package tests

import (
	"testing"

	"vigil/tests/vm"
)

// TestLVSInVM runs the lvs package's kernel tests (TestKernel*) inside the
// IPVS VM: this machine's kernel may have no IPVS, Debian's stock kernel
// has it. It fails if any of them fails or skips there, or if none ran.
func TestLVSInVM(t *testing.T) {
	vm.RunGoTests(t, "./lvs", "^TestKernel")
}
