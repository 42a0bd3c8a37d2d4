package bpfvm

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// BenchmarkRunBare is one Program.Run of short bare programs (they see no
// input) on each engine: "const" touches no memory (on the JIT: the
// shared filter VM), "stack" writes and reads its stack (the P's pinned
// instance, on the filter entry).
func BenchmarkRunBare(b *testing.B) {
	progs := []struct {
		name  string
		insns asm.Instructions
	}{
		{"const", asm.Instructions{asm.Mov.Imm(asm.R0, 5), asm.Mul.Imm(asm.R0, 3), asm.Return()}},
		{"stack", asm.Instructions{
			asm.Mov.Imm(asm.R2, 7),
			asm.StoreMem(asm.RFP, -8, asm.R2, asm.DWord),
			asm.LoadMem(asm.R0, asm.RFP, -8, asm.DWord),
			asm.Return(),
		}},
	}
	for _, c := range progs {
		for _, e := range []Engine{Interpreter, JIT} {
			b.Run(c.name+"/"+string(e), func(b *testing.B) { benchRunInsns(b, e, ebpf.XDP, c.insns) })
		}
	}
}
