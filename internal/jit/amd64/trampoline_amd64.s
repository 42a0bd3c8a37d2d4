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

// func enterFilter(ctx *runContext, entry uintptr, pkt unsafe.Pointer, n uint64) (r0, status uint64)
//
// The FilterVM entry: the packet's address goes into R10 and its length
// minus 1, 2 and 4 into this frame's three words, which the code reads
// above the return address of its CALL (8(SP), 16(SP), 24(SP) there).
// The code returns r0 in AX and the status in R11.
TEXT ·enterFilter(SB), NOSPLIT, $24-48
	MOVQ n+24(FP), AX
	LEAQ -1(AX), BX
	MOVQ BX, 0(SP)
	LEAQ -2(AX), BX
	MOVQ BX, 8(SP)
	LEAQ -4(AX), BX
	MOVQ BX, 16(SP)
	MOVQ ctx+0(FP), R9
	MOVQ pkt+16(FP), R10
	MOVQ entry+8(FP), R11
	CALL R11
	MOVQ AX, r0+32(FP)
	MOVQ R11, status+40(FP)
	RET
