//go:build linux && amd64

package amd64_test

import (
	"fmt"
	"testing"

	"github.com/bpfvm/bpfvm/internal/jit/amd64"
)

// TestHelperCallKeepsRegisters reads each of r1-r9 after a helper call
// (the interpreter keeps them all; a helper exit saves and reloads only
// the registers read afterwards), in the entry function and in a callee
// whose caller reads its r6-r9 after the return, with helper 4 calling
// back into the program in between (the callback must start with r0 and
// r6-r9 zero, as in the interpreter, whatever the caller held).
func TestHelperCallKeepsRegisters(t *testing.T) {
	for read := 1; read <= 9; read++ {
		for _, helper := range []int{1, 4} {
			src := fmt.Sprintf(`
		mov %%r1, 20 // cb, for helper 4
		mov %%r2, 0x22
		mov %%r3, 0x33
		mov %%r4, 0x44
		mov %%r5, 0x55
		mov %%r6, 0x66
		mov %%r7, 0x77
		mov %%r8, 0x88
		mov %%r9, 0x99
		call %[2]d
		add %%r0, %%r%[1]d
		call local f
		add %%r0, %%r%[1]d
		exit
	f:
		mov %%r%[1]d, 0x1234
		mov %%r1, 20
		mov %%r2, 40
		call %[2]d
		add %%r0, %%r%[1]d
		exit
	cb:
		add %%r0, %%r6 // a callback starts with r0 and r6-r9 zero
		add %%r0, %%r7
		add %%r0, %%r8
		add %%r0, %%r9
		add %%r0, 7
		mov %%r6, 1
		mov %%r7, 2
		exit`, read, helper)
			insns := assemble(t, src)
			want := runInterp(insns, nil, 1000)
			got := runJITWith(insns, nil, amd64.Options{Helpers: diffHelpers(), Budget: 1000})
			if d := compareOutcomes(want, got); d != "" {
				t.Fatalf("r%d, helper %d: %s\n%s", read, helper, d, listing(insns))
			}
			if want.err != nil {
				t.Fatalf("r%d, helper %d: %v", read, helper, want.err)
			}
		}
	}
}

// TestCallChainDepth runs chains of n nested local calls (no helpers, so
// calls skip the depth check when the chain is statically shallower than
// the limit) on both engines: results, the call-depth error and its
// instruction, and Executed agree on both sides of the limit.
func TestCallChainDepth(t *testing.T) {
	for n := 1; n <= 10; n++ {
		src := "mov %r6, 1\ncall local f1\nadd %r0, %r6\nexit\n"
		for k := 1; k <= n; k++ {
			src += fmt.Sprintf("f%d:\nmov %%r6, %d\n", k, k)
			if k < n {
				src += fmt.Sprintf("call local f%d\n", k+1)
			} else {
				src += "mov %r0, 0\n"
			}
			src += "add %r0, %r6\nexit\n"
		}
		insns := assemble(t, src)
		want := runInterp(insns, nil, 1000)
		got := runJITWith(insns, nil, amd64.Options{Budget: 1000})
		if d := compareOutcomes(want, got); d != "" {
			t.Fatalf("chain of %d calls: %s\n%s", n, d, listing(insns))
		}
		if (want.err != nil) != (n >= 8) {
			t.Fatalf("chain of %d calls: error %v", n, want.err)
		}
	}
}
