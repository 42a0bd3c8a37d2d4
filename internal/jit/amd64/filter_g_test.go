//go:build linux && amd64

package amd64_test

import (
	"runtime"
	"testing"

	"github.com/bpfvm/bpfvm/internal/jit/amd64"
)

// TestFilterG: the filter entry saves and restores g (r14, eBPF r8) only
// for programs that may write r8, and runs of either kind leave the
// goroutine whole (it is scheduled, collects garbage and grows its stack
// afterwards) with the interpreter's results.
func TestFilterG(t *testing.T) {
	for _, c := range []struct {
		src    string
		writes bool
	}{
		{"ldabsb 14\nand32 %r0, 15\nexit", false},
		{"mov %r6, %r8\nmov %r0, %r6\nexit", true}, // r8 read first: zeroed on entry
		{"mov %r8, 3\nldindb %r8, 1\nexit", true},
		{"ldabsb 3\nldindb %r7, 1\nexit", false},
		// r1-r5, r7 and r9 named, three bound sizes: the last bound goes
		// into r14 (allocLdEnds), which must save g as well.
		{"mov %r9, 1\nmov %r7, 2\nmov %r1, 1\nmov %r2, 1\nmov %r3, 1\nmov %r4, 1\nmov %r5, 1\n" +
			"ldabsb 40\nldabsh 40\nldabsw 40\nldindb %r7, 60\nldindh %r7, 60\nldindw %r7, 60\n" +
			"add %r0, %r1\nadd %r0, %r9\nexit", false},
		{"mov %r8, 5\nmov %r0, %r8\nexit", true},
		{"lddw %r8, 0x123456789\nmov %r0, %r8\nexit", true},
		{"ldxw %r8, [%r1+0]\nmov %r0, %r8\nexit", true},
		{"mov %r8, 3\nstxw [%r10-8], %r8\nmov %r8, 1\nlock fetch add32 [%r10-8], %r8\nldxw %r0, [%r10-8]\nadd %r0, %r8\nexit", true},
		{"ldabsh 12\nldabsb 0\nadd %r8, %r0\nmov %r0, %r8\nexit", true},
	} {
		insns := assemble(t, c.src)
		if got := amd64.WritesR8(insns); got != c.writes {
			t.Errorf("%q: writesR8 = %v, want %v", c.src, got, c.writes)
		}
		pkt := make([]byte, 64)
		for k := range pkt {
			pkt[k] = byte(k * 5)
		}
		compareFilter(t, insns, []byte{1, 2, 3, 4, 5, 6, 7, 8}, [][]byte{pkt, pkt[:10], pkt})
		// g intact: a goroutine switch, a collection, a stack growth.
		done := make(chan int)
		go func() { done <- deep(200) }()
		<-done
		runtime.GC()
	}
}

// deep recurses n levels (growing the stack) and returns n.
func deep(n int) int {
	var pad [64]byte
	if n == 0 {
		return int(pad[0])
	}
	return deep(n-1) + 1
}
