//go:build linux && amd64

package amd64

import (
	"unsafe"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// The shadow call stack lives right after the eBPF stack, in the same
// buffer, with the same stride as the frames: the entry a call from the
// frame whose r10 is fp pushes is at fp + shadowOffset. Generated code so
// reaches it from r12 alone, with no stack pointer kept in memory (whose
// store-load round trip on every call and return would be the critical
// path of call-heavy code). Programs never reach it: the stack region ends
// at the current frame pointer, at most the end of the eBPF stack.
// An entry holds the absolute return address and the caller's r6-r9.
const (
	shadowOffset     = stackBytes - isa.StackSize
	shadowFrameWords = 5
	stackBytes       = isa.StackSize * isa.MaxCallDepth // the eBPF stack of one VM
)

// region is one writable memory region generated code checks inline. The
// check works on the end address of an access (start + size, in r11): it
// is in the region iff loPlus[size] <= end <= hi. An absent region has
// loPlus ^0 and hi 0, so nothing matches. Working on the end address makes
// one field (hi) describe the stack's live frames, so a call or return
// updates it with a single store.
type region struct {
	loPlus [4]uint64 // lo + 1, 2, 4, 8
	hi     uint64    // one past the last byte
}

// runContext is everything generated code reads and writes besides the eBPF
// stack and the program's memory. x86 r9 points to it for the whole run.
// Generated code addresses its fields through unsafe.Offsetof, and the
// trampoline through go_asm.h, so field order is free.
type runContext struct {
	regs    [10]uint64 // r0-r9 while the code is not running
	fp      uint64     // r10 (x86 r12)
	budget  uint64     // what is left of the budget slice (x86 r10)
	scratch uint64     // x86 r11: the end address of a checked access that exited
	resume  uint64     // absolute address the entry stub jumps to
	exit    uint64     // exit code << 24 | instruction index

	fpBase  uint64 // r10 in the entry function: a return there ends the run
	fpLimit uint64 // r10 in the deepest frame: no call from there
	spill   [2]uint64

	regions [numRegions]region

	ldBase uint64   // the packet legacy loads read
	ldEnd  [3]int64 // its length minus 1, 2, 4 (may be negative)

	inline inlineState // inline helpers (inline.go)
}

// Inline-checked regions. The extra ones cache a region a helper added
// (Env.AddRegion), writable or read-only (checked by loads only): the
// newest one, or the last one an access exited to Go for; so accesses to a
// map value need no exit. They are emptied at the end of every run.
const (
	regionMem = iota
	regionStack
	regionPacket
	regionExtraW
	regionExtraR
	numRegions
)

// Exit codes (the high byte of runContext.exit).
const (
	exitDone         = 1 + iota // the entry function returned r0
	exitHelper                  // a helper call; resume after it
	exitCallx                   // callx: the helper id is in the dst register
	exitBudget                  // the budget slice ran out at a block start
	exitRegion                  // an access outside the inline regions
	exitCallDepth               // a local call beyond the call depth limit
	exitCallbackDone            // a function run through Env.Call returned
)

// enter runs generated code: it calls entry with ctx in R9 and returns
// when the code exits.
//
//go:noescape
func enter(ctx *runContext, entry uintptr)

// enterFresh starts a run: it calls entry (the fresh entry stub) with ctx
// in R9, r1 = mem and r2 = n in their registers and the budget slice in
// R10, and returns when the code exits. mem is a pointer so that the
// argument keeps the run's memory alive during the call.
//
//go:noescape
func enterFresh(ctx *runContext, entry uintptr, mem unsafe.Pointer, n, budget uint64)
