package interp

import (
	"runtime"
	"testing"

	"github.com/bpfvm/bpfvm/internal/benchprog"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// TestBenchPrograms checks the benchmark programs' results and instruction
// counts, so the benchmarks measure correct work (and benchprog's expected
// values stay right for the other engines).
func TestBenchPrograms(t *testing.T) {
	for _, bp := range benchprog.All() {
		t.Run(bp.Name, func(t *testing.T) {
			p, err := Load(bp.Insns, Options{Helpers: bp.Helpers, Budget: 1 << 40})
			if err != nil {
				t.Fatal(err)
			}
			vm := p.NewVM()
			got, err := vm.Run(bp.Mem)
			if err != nil {
				t.Fatal(err)
			}
			if got != bp.Want {
				t.Errorf("r0 = %d, want %d", got, bp.Want)
			}
			if vm.Executed() != bp.Executed {
				t.Errorf("executed %d instructions, want %d", vm.Executed(), bp.Executed)
			}
		})
	}
}

// BenchmarkInterp runs every benchmark program and reports the time per
// executed instruction: ns/insn (wall clock) and, where the OS tells,
// cpu-ns/insn (the CPU time of the benchmark's thread, which stays
// meaningful when other processes compete for the CPUs).
func BenchmarkInterp(b *testing.B) {
	for _, bp := range benchprog.All() {
		b.Run(bp.Name, func(b *testing.B) {
			p, err := Load(bp.Insns, Options{Helpers: bp.Helpers, Budget: 1 << 40})
			if err != nil {
				b.Fatal(err)
			}
			vm := p.NewVM()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := threadCPUTime()
			for i := 0; i < b.N; i++ {
				got, err := vm.Run(bp.Mem)
				if err != nil || got != bp.Want {
					b.Fatalf("r0 = %d, %v; want %d", got, err, bp.Want)
				}
			}
			b.StopTimer()
			insns := float64(uint64(b.N) * bp.Executed)
			if cpu := threadCPUTime() - cpu0; cpu0 > 0 && cpu > 0 {
				b.ReportMetric(float64(cpu)/insns, "cpu-ns/insn")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/insns, "ns/insn")
		})
	}
}

// BenchmarkRunOverhead measures a whole Run of a two-instruction program
// with 64 bytes of memory: the fixed cost every run pays (set-up, stack
// clearing, region bookkeeping).
func BenchmarkRunOverhead(b *testing.B) {
	p, err := Load([]isa.Instruction{
		{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeB, Dst: 0, Src: 1},
		{Opcode: isa.OpcodeExit},
	}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	vm := p.NewVM()
	mem := make([]byte, 64)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := threadCPUTime()
	for i := 0; i < b.N; i++ {
		if _, err := vm.Run(mem); err != nil {
			b.Fatal(err)
		}
	}
	if cpu := threadCPUTime() - cpu0; cpu0 > 0 && cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	}
}
