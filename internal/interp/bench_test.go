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

// runBench runs vm.run b.N times and reports ns/run (wall clock) and
// cpu-ns/run (the thread's CPU time, meaningful on a loaded machine).
func runBench(b *testing.B, want uint64, run func() (uint64, error)) {
	b.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := threadCPUTime()
	for i := 0; i < b.N; i++ {
		if got, err := run(); err != nil || got != want {
			b.Fatalf("r0 = %d, %v; want %d", got, err, want)
		}
	}
	b.StopTimer()
	if cpu := threadCPUTime() - cpu0; cpu0 > 0 && cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/run")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/run")
}

// BenchmarkRunTrivial is a whole run of `r0 = 2; exit` (XDP_PASS) on a
// 24-byte context (the size of struct xdp_md): the fixed cost of a run.
// WithPacket also hands a 64-byte packet to RunWithPacket, as bpfvm's
// networking program types and cbpf's EngineInterp do.
func BenchmarkRunTrivial(b *testing.B) {
	p, err := Load([]isa.Instruction{
		{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: 0, Imm: 2},
		{Opcode: isa.OpcodeExit},
	}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, pkt := make([]byte, 24), make([]byte, 64)
	b.Run("Run", func(b *testing.B) {
		vm := p.NewVM()
		runBench(b, 2, func() (uint64, error) { return vm.Run(ctx) })
	})
	b.Run("WithPacket", func(b *testing.B) {
		vm := p.NewVM()
		runBench(b, 2, func() (uint64, error) { return vm.RunWithPacket(ctx, pkt) })
	})
}

// httpFilter is cbpf's translation of the classic filter
// `ip and tcp and dst port 80` (tcpdump -d): five legacy packet loads, one
// of them indexed, and an exit on every path.
var httpFilter = []isa.Instruction{
	{Opcode: 0xac, Dst: 0, Src: 0},          // w0 ^= w0
	{Opcode: 0xac, Dst: 7, Src: 7},          // w7 ^= w7
	{Opcode: 0xbf, Dst: 6, Src: 1},          // r6 = r1
	{Opcode: 0x28, Imm: 12},                 // r0 = *(u16 *)skb[12]
	{Opcode: 0x56, Offset: 14, Imm: 0x800},  // if w0 != 0x800 goto +14
	{Opcode: 0x30, Imm: 23},                 // r0 = *(u8 *)skb[23]
	{Opcode: 0x56, Offset: 12, Imm: 6},      // if w0 != 0x6 goto +12
	{Opcode: 0x28, Imm: 20},                 // r0 = *(u16 *)skb[20]
	{Opcode: 0x46, Offset: 10, Imm: 0x1fff}, // if w0 & 0x1fff goto +10
	{Opcode: 0xbf, Dst: 8, Src: 0},          // r8 = r0
	{Opcode: 0x30, Imm: 14},                 // r0 = *(u8 *)skb[14]
	{Opcode: 0x54, Imm: 15},                 // w0 &= 15
	{Opcode: 0x64, Imm: 2},                  // w0 <<= 2
	{Opcode: 0xbc, Dst: 7, Src: 0},          // w7 = w0
	{Opcode: 0xbf, Dst: 0, Src: 8},          // r0 = r8
	{Opcode: 0x48, Src: 7, Imm: 16},         // r0 = *(u16 *)skb[r7 + 16]
	{Opcode: 0x56, Offset: 2, Imm: 80},      // if w0 != 0x50 goto +2
	{Opcode: 0xb4, Imm: 262144},             // w0 = 262144
	{Opcode: 0x95},                          // exit
	{Opcode: 0xb4, Imm: 0},                  // w0 = 0
	{Opcode: 0x95},                          // exit
}

// tcpFrame is a 64-byte Ethernet/IPv4/TCP frame to dstPort.
func tcpFrame(dstPort uint16) []byte {
	f := make([]byte, 64)
	f[12], f[13] = 0x08, 0x00 // IPv4
	f[14] = 0x45              // version 4, 5-word header
	f[23] = 6                 // TCP
	f[36], f[37] = byte(dstPort>>8), byte(dstPort)
	return f
}

// BenchmarkLegacyFilter runs httpFilter on a matching 64-byte frame the
// way cbpf's EngineInterp does (RunWithPacket with an 80-byte context):
// the per-packet cost of a classic filter on the interpreter.
func BenchmarkLegacyFilter(b *testing.B) {
	p, err := Load(httpFilter, Options{})
	if err != nil {
		b.Fatal(err)
	}
	vm := p.NewVM()
	ctx, pkt := make([]byte, 80), tcpFrame(80)
	runBench(b, 262144, func() (uint64, error) { return vm.RunWithPacket(ctx, pkt) })
}

// httpFilterTrimmed is cbpf's translation of the same filter since it
// drops unneeded prologue instructions and the save of A around
// ldxb 4*([14]&0xf) (cbpf's TestTranslateHTTP pins the same program).
var httpFilterTrimmed = []isa.Instruction{
	{Opcode: 0x28, Imm: 12},                // r0 = *(u16 *)skb[12]
	{Opcode: 0x56, Offset: 12, Imm: 0x800}, // if w0 != 0x800 goto +12
	{Opcode: 0x30, Imm: 23},                // r0 = *(u8 *)skb[23]
	{Opcode: 0x56, Offset: 10, Imm: 6},     // if w0 != 0x6 goto +10
	{Opcode: 0x28, Imm: 20},                // r0 = *(u16 *)skb[20]
	{Opcode: 0x46, Offset: 8, Imm: 0x1fff}, // if w0 & 0x1fff goto +8
	{Opcode: 0x30, Imm: 14},                // r0 = *(u8 *)skb[14]
	{Opcode: 0x54, Imm: 15},                // w0 &= 15
	{Opcode: 0x64, Imm: 2},                 // w0 <<= 2
	{Opcode: 0xbc, Dst: 7, Src: 0},         // w7 = w0
	{Opcode: 0x48, Src: 7, Imm: 16},        // r0 = *(u16 *)skb[r7 + 16]
	{Opcode: 0x56, Offset: 2, Imm: 80},     // if w0 != 0x50 goto +2
	{Opcode: 0xb4, Imm: 262144},            // w0 = 262144
	{Opcode: 0x95},                         // exit
	{Opcode: 0xb4, Imm: 0},                 // w0 = 0
	{Opcode: 0x95},                         // exit
}

// BenchmarkLegacyFilterTrimmed is BenchmarkLegacyFilter with
// httpFilterTrimmed: what cbpf's EngineInterp runs per packet now.
func BenchmarkLegacyFilterTrimmed(b *testing.B) {
	p, err := Load(httpFilterTrimmed, Options{})
	if err != nil {
		b.Fatal(err)
	}
	vm := p.NewVM()
	ctx, pkt := make([]byte, 80), tcpFrame(80)
	runBench(b, 262144, func() (uint64, error) { return vm.RunWithPacket(ctx, pkt) })
}
