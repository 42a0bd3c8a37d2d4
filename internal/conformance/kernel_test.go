package conformance

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/kerneltest"
)

// kernelRefuses names the suite tests the kernel's verifier refuses to
// load: immediate shifts by an out-of-range count ("invalid shift", while
// the ISA masks the count) and callx (no such instruction in Linux).
var kernelRefuses = regexp.MustCompile(`^((arsh|lsh|rsh)(32|64)-imm-(high|neg)|callx)$`)

// TestSuiteKernel runs the conformance suite in the Linux kernel: every
// test the kernel loads must give the suite's expected r0. This checks the
// suite's expectations (which the interpreter and the JIT are held to)
// against the oracle.
func TestSuiteKernel(t *testing.T) {
	kerneltest.Require(t)
	dir := requireSuite(t)
	results, err := RunPaths([]string{filepath.Join(dir, "tests")}, Kernel, Options{})
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, r := range results {
		switch {
		case r.Passed:
		case kernelRefuses.MatchString(r.Name) && strings.Contains(r.Reason, "the kernel refused the program"):
			refused++
		default:
			t.Errorf("%s: %s", r.Name, r.Reason)
		}
	}
	passed, _ := Summary(results)
	t.Logf("in the kernel: %d passed, %d refused by the verifier as expected", passed, refused)
	if passed != 300 || refused != 13 {
		t.Errorf("%d passed and %d refused; want 300 and 13", passed, refused)
	}
}

// TestNegativeSuiteKernel: the negative tests are refused before they
// reach the kernel, except the wrong-result one, which the kernel runs.
func TestNegativeSuiteKernel(t *testing.T) {
	kerneltest.Require(t)
	dir := requireSuite(t)
	results, err := RunPaths([]string{filepath.Join(dir, "negative")}, Kernel, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkNegative(t, results)
}

func TestKernelEngineFullR0(t *testing.T) {
	kerneltest.Require(t)
	// r0 = 0x1122334455667788 + mem[0] (64 bits, more than XDP's return value).
	prog := []isa.Instruction{
		{Opcode: 0x71, Dst: 3, Src: 1},
		{Opcode: 0x18, Imm: 0x55667788}, {Imm: 0x11223344},
		{Opcode: 0x0f, Src: 3},
		{Opcode: 0x0f, Src: 2}, // + len(mem)
		{Opcode: 0x95},
	}
	r0, err := Kernel(nil)(prog, []byte{5, 0, 0})
	if err != nil || r0 != 0x1122334455667788+5+3 {
		t.Errorf("r0 = %#x, %v", r0, err)
	}
	_, err = Kernel(nil)([]isa.Instruction{{Opcode: 0x8d, Dst: 1}, {Opcode: 0x95}}, nil)
	if err == nil || !strings.Contains(err.Error(), "the kernel refused the program") || !strings.Contains(err.Error(), "unknown opcode 8d") {
		t.Errorf("callx: %v", err)
	}
}
