//go:build linux && amd64

package amd64_test

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cilium/ebpf"

	"github.com/bpfvm/bpfvm/internal/benchprog"
	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/interp"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit/amd64"
	"github.com/bpfvm/bpfvm/internal/kerneltest"
	"github.com/bpfvm/bpfvm/internal/progen"
)

// TestBenchPrograms checks the benchmark programs' results and instruction
// counts on the JIT, so the benchmarks measure correct work.
func TestBenchPrograms(t *testing.T) {
	for _, bp := range benchprog.All() {
		t.Run(bp.Name, func(t *testing.T) {
			p, err := amd64.Load(bp.Insns, amd64.Options{Helpers: bp.Helpers, Budget: 1 << 40})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
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

// runner is one engine's VM, reduced to what the benchmarks call.
type runner interface {
	Run(mem []byte) (uint64, error)
}

func newRunner(tb testing.TB, engineName string, insns []isa.Instruction, helpers engine.Helpers) runner {
	switch engineName {
	case "interp":
		p, err := interp.Load(insns, interp.Options{Helpers: helpers, Budget: 1 << 40})
		if err != nil {
			tb.Fatal(err)
		}
		return p.NewVM()
	default:
		p, err := amd64.Load(insns, amd64.Options{Helpers: helpers, Budget: 1 << 40})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { p.Close() })
		return p.NewVM()
	}
}

// BenchmarkEngines runs every benchmark program on the interpreter and the
// JIT side by side, reporting the time per executed instruction, and on
// the kernel's JIT (BPF_PROG_TEST_RUN with Repeat) where the verifier
// accepts the program.
func BenchmarkEngines(b *testing.B) {
	for _, bp := range benchprog.All() {
		for _, eng := range []string{"interp", "jit"} {
			b.Run(bp.Name+"/"+eng, func(b *testing.B) {
				vm := newRunner(b, eng, bp.Insns, bp.Helpers)
				b.ReportAllocs()
				cpu := startCPUTimer()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					got, err := vm.Run(bp.Mem)
					if err != nil || got != bp.Want {
						b.Fatalf("r0 = %d, %v; want %d", got, err, bp.Want)
					}
				}
				b.StopTimer()
				insns := float64(uint64(b.N) * bp.Executed)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/insns, "ns/insn")
				b.ReportMetric(float64(cpu.stop().Nanoseconds())/insns, "cpu-ns/insn")
			})
		}
		b.Run(bp.Name+"/kernel", func(b *testing.B) { benchKernel(b, bp) })
	}
}

// BenchmarkKernelComparison runs smaller versions of the loop benchmarks,
// which the kernel's verifier accepts (it walks every iteration of a
// bounded loop, up to a million instructions), on the interpreter, the JIT
// and the kernel's JIT side by side.
func BenchmarkKernelComparison(b *testing.B) {
	for _, bp := range []benchprog.Program{
		benchprog.SumLoop(10_000),
		benchprog.Xorshift(10_000),
		benchprog.StackLoop(10_000),
		benchprog.Primes(300),
		benchprog.CallLoop(10_000),
	} {
		for _, eng := range []string{"interp", "jit"} {
			b.Run(bp.Name+"/"+eng, func(b *testing.B) {
				vm := newRunner(b, eng, bp.Insns, bp.Helpers)
				cpu := startCPUTimer()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if got, err := vm.Run(bp.Mem); err != nil || got != bp.Want {
						b.Fatalf("r0 = %d, %v; want %d", got, err, bp.Want)
					}
				}
				b.StopTimer()
				insns := float64(uint64(b.N) * bp.Executed)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/insns, "ns/insn")
				b.ReportMetric(float64(cpu.stop().Nanoseconds())/insns, "cpu-ns/insn")
			})
		}
		b.Run(bp.Name+"/kernel", func(b *testing.B) { benchKernel(b, bp) })
	}
}

// benchKernel runs a benchmark program in the kernel as an XDP program
// (after progen's prologue, which sets r1/r2 to the packet as bpfvm does).
// The kernel's own timer is reported; the verifier refuses some programs
// (loops it cannot bound within its complexity limit), which then skip.
func benchKernel(b *testing.B, bp benchprog.Program) {
	if err := kerneltest.Available(); err != nil {
		b.Skip(err)
	}
	if bp.Helpers != nil {
		b.Skip("the kernel has no equivalent of the benchmark helper")
	}
	mem := bp.Mem
	if len(mem) == 0 {
		mem = make([]byte, 64) // XDP needs a packet
	}
	insns := append(progen.Prologue(len(mem)), bp.Insns...)
	prog, err := kerneltest.Load(ebpf.XDP, insns)
	if err != nil {
		b.Skipf("the kernel refuses the program: %.200v", err)
	}
	defer prog.Close()
	b.ResetTimer()
	res, err := prog.Run(kerneltest.RunInput{Data: mem, Repeat: b.N})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Retval != uint32(bp.Want) {
		b.Fatalf("kernel retval %d, want %d", res.Retval, uint32(bp.Want))
	}
	b.ReportMetric(float64(res.Duration.Nanoseconds()), "kernel-ns/run")
	b.ReportMetric(float64(res.Duration.Nanoseconds())/float64(bp.Executed), "ns/insn")
	_ = time.Nanosecond
}

// cpuTimer measures the CPU time of the benchmark's thread, which on a
// loaded machine is a steadier figure than wall time (time the thread waits
// for a CPU is not counted).
type cpuTimer struct{ start time.Duration }

func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

func startCPUTimer() cpuTimer {
	runtime.LockOSThread()
	return cpuTimer{threadCPU()}
}

func (c cpuTimer) stop() time.Duration {
	d := threadCPU() - c.start
	runtime.UnlockOSThread()
	return d
}

// BenchmarkTrivialRun is Program.Run of `mov r0, 0; exit`: the fixed cost
// of entering and leaving the generated code.
func BenchmarkTrivialRun(b *testing.B) {
	insns := []isa.Instruction{{Opcode: isa.ClassALU64 | isa.OpMOV, Dst: 0}, {Opcode: isa.OpcodeExit}}
	for _, eng := range []string{"interp", "jit"} {
		b.Run(eng, func(b *testing.B) {
			vm := newRunner(b, eng, insns, nil)
			mem := make([]byte, 64)
			b.ReportAllocs()
			cpu := startCPUTimer()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := vm.Run(mem); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpu.stop().Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkHelperRoundTrip measures one helper call (exit to Go, call,
// re-enter) from the helper loop: its time per loop iteration minus that
// of the same loop without the call.
func BenchmarkHelperRoundTrip(b *testing.B) {
	const n = 100_000
	with := benchprog.HelperLoop(n)
	without := withoutCall(with.Insns)
	for _, eng := range []string{"interp", "jit"} {
		b.Run(eng, func(b *testing.B) {
			vmWith := newRunner(b, eng, with.Insns, with.Helpers)
			vmWithout := newRunner(b, eng, without, nil)
			var tWith, tWithout time.Duration
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for i := 0; i < b.N; i++ {
				start := threadCPU()
				if _, err := vmWith.Run(nil); err != nil {
					b.Fatal(err)
				}
				mid := threadCPU()
				if _, err := vmWithout.Run(nil); err != nil {
					b.Fatal(err)
				}
				tWith += mid - start
				tWithout += threadCPU() - mid
			}
			// Thread CPU time: steadier than wall time on a loaded machine.
			b.ReportMetric(float64((tWith-tWithout).Nanoseconds())/float64(b.N*n), "cpu-ns/call")
		})
	}
}

// withoutCall replaces the helper call of the helper loop with r0 = r1 + r2,
// what the helper computes.
func withoutCall(insns []isa.Instruction) []isa.Instruction {
	out := append([]isa.Instruction(nil), insns...)
	for i, in := range out {
		if in.Opcode == isa.OpcodeCall {
			out[i] = isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: 0, Src: 1}
			// r2 is 1 in the loop; the add follows as the next
			// instruction would need a slot, so fold it: r0 = r1 + 1
			// by making the move an add of r2 after a copy is not
			// possible in one slot; r0 = r1 is off by one per
			// iteration, which does not change the timing.
		}
	}
	return out
}
