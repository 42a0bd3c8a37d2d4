//go:build !(linux && amd64)

package amd64

import (
	"context"
	"errors"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// Program is a compiled program; on this platform Load never returns one.
type Program struct{}

// VM runs a Program.
type VM struct{}

// Load reports ErrUnavailable: the JIT runs on linux/amd64 only.
func Load(insns []isa.Instruction, opts Options) (*Program, error) { return nil, ErrUnavailable }

// Close does nothing.
func (p *Program) Close() error { return nil }

// CodeSize returns 0.
func (p *Program) CodeSize() int { return 0 }

// NewVM returns a VM whose runs fail with ErrUnavailable.
func (p *Program) NewVM() *VM { return &VM{} }

// SetBudget does nothing.
func (vm *VM) SetBudget(n uint64) {}

// SetContext does nothing.
func (vm *VM) SetContext(ctx context.Context) {}

// Executed returns 0.
func (vm *VM) Executed() uint64 { return 0 }

// Run reports ErrUnavailable.
func (vm *VM) Run(mem []byte) (uint64, error) { return 0, ErrUnavailable }

// RunWithPacket reports ErrUnavailable.
func (vm *VM) RunWithPacket(mem, packet []byte) (uint64, error) { return 0, ErrUnavailable }

// RunRepeat reports ErrUnavailable.
func (vm *VM) RunRepeat(mem, packet []byte, n uint32) (uint64, error) { return 0, ErrUnavailable }

// AddPersistentRegion reports ErrUnavailable.
func (vm *VM) AddPersistentRegion(b []byte, writable bool) error { return ErrUnavailable }

// ResetPersistentRegions reports ErrUnavailable.
func (vm *VM) ResetPersistentRegions() error { return ErrUnavailable }

// FilterProgram is a program compiled for the filter entry; on this
// platform LoadFilter never returns one.
type FilterProgram struct{}

// FilterVM runs a FilterProgram.
type FilterVM struct{}

// ErrNotFilter is wrapped by LoadFilter's errors for programs the filter
// entry cannot run.
var ErrNotFilter = errors.New("the program cannot run on the filter entry")

// LoadFilter reports ErrUnavailable: the JIT runs on linux/amd64 only.
func LoadFilter(insns []isa.Instruction, opts Options) (*FilterProgram, error) {
	return nil, ErrUnavailable
}

// Close does nothing.
func (p *FilterProgram) Close() error { return nil }

// CodeSize returns 0.
func (p *FilterProgram) CodeSize() int { return 0 }

// Reentrant returns false.
func (p *FilterProgram) Reentrant() bool { return false }

// NewVM returns a FilterVM whose runs fail with ErrUnavailable.
func (p *FilterProgram) NewVM(mem []byte) *FilterVM { return &FilterVM{} }

// Run reports ErrUnavailable.
func (vm *FilterVM) Run(pkt []byte) (uint64, error) { return 0, ErrUnavailable }

// RunStatus reports a failure (StatusError: ErrUnavailable).
func (vm *FilterVM) RunStatus(pkt []byte) (r0, status uint64) { return 0, 1 }

// StatusError returns ErrUnavailable for a non-zero status.
func (vm *FilterVM) StatusError(status uint64) error {
	if status == 0 {
		return nil
	}
	return ErrUnavailable
}

// ErrBatchLengths is returned by RunBatch when verdicts is shorter than
// pkts.
var ErrBatchLengths = errors.New("jit: fewer verdicts than packets")

// RunBatch fails with ErrUnavailable (for a non-empty batch).
func (vm *FilterVM) RunBatch(pkts [][]byte, verdicts []uint32) (int, error) {
	if len(verdicts) < len(pkts) {
		return 0, ErrBatchLengths
	}
	if len(pkts) == 0 {
		return 0, nil
	}
	return 0, ErrUnavailable
}
