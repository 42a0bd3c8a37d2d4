//go:build linux && amd64

#include "textflag.h"
#include "go_asm.h"

// func enter(ctx *runContext, entry uintptr)
//
// The generated code keeps the context pointer in R9 and never touches SP
// beyond the return address CALL pushes, nor BP. R14 (g) and R15 are saved
// here because the code uses them for eBPF registers.
TEXT ·enter(SB), NOSPLIT, $0-16
	MOVQ ctx+0(FP), R9
	MOVQ entry+8(FP), R11
	MOVQ R14, runContext_goR14(R9)
	MOVQ R15, runContext_goR15(R9)
	MOVQ BP, runContext_goBP(R9)
	CALL R11
	MOVQ runContext_goR14(R9), R14
	MOVQ runContext_goR15(R9), R15
	MOVQ runContext_goBP(R9), BP
	RET
