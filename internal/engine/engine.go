// Package engine holds what every execution engine (the interpreter, the
// JIT) shares with the code around it: the helper calling convention, the
// environment a helper sees during a run, and the run-time error kinds.
//
// Engines report run-time failures as *isa.InstructionError whose Err is one
// of the sentinels below, so callers can test them with errors.Is and users
// see the instruction index and its disassembly.
package engine

import "errors"

// DefaultBudget is the default number of instructions one run may execute.
const DefaultBudget = 10_000_000

// Run-time error kinds.
var (
	ErrOutOfBounds     = errors.New("memory access out of bounds")
	ErrBudgetExhausted = errors.New("instruction budget exhausted")
	ErrUnknownHelper   = errors.New("unknown helper")
	ErrCallDepth       = errors.New("call depth limit exceeded")
	ErrHelperFailed    = errors.New("helper failed")
	ErrCancelled       = errors.New("run cancelled")
)

// Env is what a helper sees of the run that called it. It is valid only
// for the duration of the helper call.
type Env interface {
	// Memory returns the n bytes at a program address if they lie wholly
	// within one region the run may access (its stack, its input memory,
	// context, packet, or a region added with AddRegion), with write access
	// if write is set; otherwise it returns an error wrapping ErrOutOfBounds.
	Memory(addr uint64, n uint64, write bool) ([]byte, error)
	// AddRegion makes b accessible to the program until the run ends (map
	// values returned by lookups, ring buffer records, ...). b must stay
	// alive and unmoved until then: the caller guarantees that.
	AddRegion(b []byte, writable bool)
	// Call runs the bpf function starting at instruction index pc with the
	// given arguments in r1-r5, on a new frame, and returns its r0 (used by
	// bpf_loop, for_each_map_elem and other callback helpers).
	Call(pc int, args ...uint64) (uint64, error)
}

// Helper implements a helper function: r1-r5 in, r0 out. A non-nil error
// aborts the run (wrapped with ErrHelperFailed and the call's instruction).
type Helper func(env Env, r1, r2, r3, r4, r5 uint64) (uint64, error)

// Helpers maps helper ids (the imm of a call) to implementations.
type Helpers map[int32]Helper
