//go:build linux && amd64

#include "textflag.h"

// func enter(ctx *runContext, entry uintptr)
//
// The generated code keeps the context pointer in R9 and never touches SP
// beyond the return address CALL pushes, nor BP (Go's frame pointer). It
// clobbers every other general purpose register, which ABI0 allows: R14
// (g) and X15 are re-established by the compiler on the way back to
// ABIInternal code, and R15 is a scratch register across calls
// (cmd/compile/abi-internal.md).
TEXT ·enter(SB), NOSPLIT, $0-16
	MOVQ ctx+0(FP), R9
	MOVQ entry+8(FP), R11
	CALL R11
	RET

// func enterFresh(ctx *runContext, entry uintptr, mem unsafe.Pointer, n, budget uint64)
//
// enter for the start of a run: the first arguments and the budget slice
// go straight into their registers (rdi, rsi, r10), not through the
// context.
TEXT ·enterFresh(SB), NOSPLIT, $0-40
	MOVQ ctx+0(FP), R9
	MOVQ mem+16(FP), DI
	MOVQ n+24(FP), SI
	MOVQ budget+32(FP), R10
	MOVQ entry+8(FP), R11
	CALL R11
	RET
