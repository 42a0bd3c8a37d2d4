//go:build linux && amd64

package amd64_test

import (
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit/amd64"
)

// BenchmarkCycle measures the length of a CPU cycle as the JIT's code sees
// it: a loop of 30 dependent 64-bit multiplications (3 cycles each on
// every recent x86), so a loop iteration takes 90 cycles. With it, the
// loop benchmarks' ns per instruction convert to cycles, to compare with
// their dependency-chain floors (RATIONALE.md, "Where the loops stand").
func BenchmarkCycle(b *testing.B) {
	const rounds, chain = 100_000, 30
	insns := []isa.Instruction{
		{Opcode: isa.ClassALU64 | isa.OpMOV, Dst: 0, Imm: 1},
		{Opcode: isa.ClassALU64 | isa.OpMOV, Dst: 2, Imm: 0},
	}
	for i := 0; i < chain; i++ {
		insns = append(insns, isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMUL, Dst: 0, Imm: 3})
	}
	insns = append(insns,
		isa.Instruction{Opcode: isa.ClassALU64 | isa.OpADD, Dst: 2, Imm: 1},
		isa.Instruction{Opcode: isa.ClassJMP | isa.OpJNE, Dst: 2, Imm: rounds, Offset: -chain - 2},
		isa.Instruction{Opcode: isa.OpcodeExit})
	p, err := amd64.Load(insns, amd64.Options{Budget: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	vm := p.NewVM()
	cpu := startCPUTimer()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := vm.Run(nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if vm.Executed() != 3+rounds*(chain+2) {
		b.Fatalf("executed %d instructions, want %d", vm.Executed(), 3+rounds*(chain+2))
	}
	b.ReportMetric(float64(cpu.stop().Nanoseconds())/float64(b.N)/rounds/(3*chain), "cpu-ns/cycle")
}
