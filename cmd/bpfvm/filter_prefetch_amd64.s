#include "textflag.h"

// func prefetch(p *byte, n uintptr)
//
// One prefetch per 128 bytes: the L2's adjacent-line prefetcher fetches
// each line's pair, and half the prefetches measured ~10% faster over a
// capture than one per 64-byte line (the prefetches themselves stall when
// the fill buffers are full).
TEXT ·prefetch(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), CX
	ADDQ AX, CX
loop:
	CMPQ AX, CX
	JAE  done
	PREFETCHT0 (AX)
	ADDQ $128, AX
	JMP  loop
done:
	RET
