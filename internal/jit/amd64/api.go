package amd64

import (
	"errors"

	"github.com/bpfvm/bpfvm/internal/engine"
)

// ErrUnavailable is returned by Load where the JIT cannot run (any
// architecture or operating system other than linux/amd64).
var ErrUnavailable = errors.New("the JIT supports amd64 only; use the interpreter")

// ErrClosed is returned by runs of a Program after Close.
var ErrClosed = errors.New("the JIT program is closed")

// Options configures Load. The zero value is valid.
type Options struct {
	// Helpers are the helper functions calls may reach.
	Helpers engine.Helpers
	// Budget is the number of instructions one run may execute;
	// 0 means engine.DefaultBudget.
	Budget uint64
	// Proven marks the loads, stores and atomics (by instruction index, one
	// bit per index: bit i%64 of word i/64) that a verifier proved stay in
	// bounds; they are compiled without a bounds check. nil checks every
	// access. Marking an unproven access lets the program read or write
	// any host memory: only a verifier may set it.
	Proven []uint64
	// BlindConstants hides the program's immediates from the generated
	// code: each is loaded xored with a random key and then xored back, so
	// an untrusted program cannot plant chosen byte sequences in
	// executable memory. As in the kernel's blinding, this covers ALU and
	// jump operands, stored values, lddw, shift counts (the shift then
	// takes its count from a register) and legacy packet load offsets. It
	// costs an instruction or two per constant.
	BlindConstants bool
	// Inline describes the maps and helpers the code may run without an
	// exit to Go (array lookups, get_prandom_u32: inline.go).
	Inline engine.Inline
}

func (o *Options) proven(i int) bool {
	return i/64 < len(o.Proven) && o.Proven[i/64]>>(i%64)&1 != 0
}

// ErrUnsupported is wrapped by load errors for instructions the JIT cannot
// compile without a loader's help (map references, kfunc calls).
var ErrUnsupported = errors.New("unsupported instruction")
