package engine_test

import (
	"testing"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/engine"
)

func TestStaticMapArg(t *testing.T) {
	ms := []engine.InlineMap{{Handle: 0xbff0000000000010}, {Handle: 0xbff0000000000020}}
	for _, c := range []struct {
		src  string
		want int
	}{
		{"mov %r2, %r10\nlddw %r1, 0xbff0000000000020\nadd %r2, -4\ncall 1\nexit", 1},
		{"lddw %r1, 0xbff0000000000010\nlddw %r3, 5\nstw [%r10-4], 1\ncall 1\nexit", 0},
		// Not a map we know, or not an lddw.
		{"lddw %r1, 0xbff0000000000030\ncall 1\nexit", -1},
		{"mov %r1, 7\ncall 1\nexit", -1},
		// r1 changed after the lddw.
		{"lddw %r1, 0xbff0000000000010\nadd %r1, 8\ncall 1\nexit", -1},
		{"lddw %r1, 0xbff0000000000010\nldxdw %r1, [%r10-8]\ncall 1\nexit", -1},
		// A jump target or a call between: another path or a helper.
		{"lddw %r1, 0xbff0000000000010\nja +0\ncall 1\nexit", -1},
		{"lddw %r1, 0xbff0000000000010\ncall 7\ncall 1\nexit", -1},
		{"lddw %r1, 0xbff0000000000010\njeq %r2, 0, +0\ncall 1\nexit", -1},
		// The call itself a jump target.
		{"lddw %r1, 0xbff0000000000010\njeq %r2, 0, +0\nL: call 1\nexit", -1},
		// Legacy packet loads clobber r1.
		{"lddw %r1, 0xbff0000000000010\nldabsb 3\ncall 1\nexit", -1},
		// A fetching atomic writes its source register.
		{"lddw %r1, 0xbff0000000000010\nlock fetch add [%r10-8], %r1\ncall 1\nexit", -1},
		// A store does not write r1.
		{"lddw %r1, 0xbff0000000000010\nstxdw [%r10-8], %r1\ncall 1\nexit", 0},
	} {
		insns, err := asm.Assemble(c.src)
		if err != nil {
			t.Fatalf("%q: %v", c.src, err)
		}
		call := -1
		for i := len(insns) - 1; i >= 0; i-- {
			if insns[i].Opcode == 0x85 && insns[i].Imm == 1 {
				call = i
				break
			}
		}
		if got := engine.StaticMapArg(insns, engine.JumpTargets(insns), call, ms); got != c.want {
			t.Errorf("%q: got %d, want %d", c.src, got, c.want)
		}
	}
}

// TestPrandomNext checks the sequence against splitmix64's published
// first outputs for seed 0 (truncated to 32 bits, as the helper returns).
func TestPrandomNext(t *testing.T) {
	var s uint64
	for _, want := range []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f} {
		if got := engine.PrandomNext(&s); got != want&0xffffffff {
			t.Fatalf("got %#x, want %#x", got, want&0xffffffff)
		}
	}
}
