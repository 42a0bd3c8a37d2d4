//go:build !(linux && amd64)

package amd64

// SetCPU does nothing.
func (vm *VM) SetCPU(cpu int) {}

// SetPrandom does nothing.
func (vm *VM) SetPrandom(state *uint64) {}
