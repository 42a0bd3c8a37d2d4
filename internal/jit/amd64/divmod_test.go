//go:build linux && amd64

package amd64_test

import (
	"math/rand/v2"
	"testing"

	"github.com/bpfvm/bpfvm/internal/benchprog"

	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit/amd64"
)

// divOperands are values around the edges the division code tests: zero,
// -1, the 32-bit boundary (the narrow path), INT_MIN at both sizes, powers
// of two (constant divisors: shifts and masks; others: multiplications).
var divOperands = []uint64{
	0, 1, 2, 3, 7, 8, 1 << 16, 0x7fffffff, 0x80000000, 0xffffffff, 1 << 32,
	1<<32 + 1, 0x7fffffffffffffff, 1 << 63, ^uint64(0), ^uint64(1), 1 << 40, 12345678901,
}

// divProgram loads random edge values into r0-r9, runs a few random
// div/mod/sdiv/smod (register and constant divisors, both sizes) between
// them, and folds every register into r0, so a register the division code
// clobbers or a wrong result shows in r0.
func divProgram(seed uint64) []isa.Instruction {
	r := rand.New(rand.NewPCG(seed, seed^0xd1f))
	var p []isa.Instruction
	for reg := uint8(0); reg <= 9; reg++ {
		v := divOperands[r.IntN(len(divOperands))]
		if r.IntN(3) == 0 {
			v = r.Uint64() >> r.IntN(64) // any magnitude
		}
		p = append(p, isa.Instruction{Opcode: isa.OpcodeLDDW, Dst: reg, Imm: int32(uint32(v))},
			isa.Instruction{Imm: int32(uint32(v >> 32))})
	}
	imms := []int32{0, 1, -1, 2, 4, 3, 7, 8, 1 << 30, -8, 0x7fffffff, -0x80000000, 1000}
	for n := 1 + r.IntN(6); n > 0; n-- {
		class := uint8(isa.ClassALU64)
		if r.IntN(3) == 0 {
			class = isa.ClassALU
		}
		op := uint8(isa.OpDIV)
		if r.IntN(2) == 0 {
			op = isa.OpMOD
		}
		in := isa.Instruction{Opcode: class | op, Dst: uint8(r.IntN(10))}
		if r.IntN(3) == 0 {
			in.Offset = 1 // signed
		}
		if r.IntN(2) == 0 {
			in.Opcode |= isa.SrcX
			in.Src = uint8(r.IntN(10))
		} else {
			in.Imm = imms[r.IntN(len(imms))]
			if r.IntN(3) == 0 {
				in.Imm = int32(r.Uint32() >> r.IntN(32)) // any constant divisor
			}
		}
		p = append(p, in)
	}
	// Fold r1-r9 into r0 with rotations, so every bit of every register
	// counts.
	for reg := uint8(1); reg <= 9; reg++ {
		p = append(p,
			isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMUL, Dst: 0, Imm: 31},
			isa.Instruction{Opcode: isa.ClassALU64 | isa.OpXOR | isa.SrcX, Dst: 0, Src: reg})
	}
	return append(p, isa.Instruction{Opcode: isa.OpcodeExit})
}

// TestDivModAgainstInterpreter compares the JIT's divisions (the narrow
// 32-bit path, the out-of-line wide path and special divisors, power-of-two
// constants, saving only live r0/r3) with the interpreter's on edge values,
// plain and blinded.
func TestDivModAgainstInterpreter(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	for seed := uint64(0); seed < uint64(n); seed++ {
		insns := divProgram(seed)
		want := runInterp(insns, nil, 1000)
		got := runJITWith(insns, nil, amd64.Options{Budget: 1000, BlindConstants: seed%4 == 3})
		if d := compareOutcomes(want, got); d != "" {
			t.Fatalf("seed %d: %s\n%s", seed, d, listing(insns))
		}
	}
}

// TestDivModLiveness checks a division with r0 and r3 live afterwards (and
// the dividend or divisor in them) keeps them, in a loop so the narrow and
// wide paths alternate.
func TestDivModLiveness(t *testing.T) {
	for _, src := range []string{
		// r3 %= r2 with r0 live: r0 accumulates.
		`mov r0, 0
		mov r1, 0
		lddw r2, 0x100000003
	loop:
		mov r3, r1
		lsh r3, 28
		mod r3, r2
		add r0, r3
		mov r3, r1
		div r3, 5
		add r0, r3
		add r1, 1
		jlt r1, 40, loop
		exit`,
		// r4 /= r0 with r3 live and r0 the divisor.
		`mov r0, 7
		mov r3, 11
		mov r6, 0
	loop:
		mov r4, r6
		lsh r4, 29
		div r4, r0
		add r3, r4
		mod r4, r0
		add r3, r4
		add r6, 1
		jlt r6, 40, loop
		mov r0, r3
		exit`,
	} {
		insns := assemble(t, src)
		want := runInterp(insns, nil, 100000)
		got := runJITWith(insns, nil, amd64.Options{Budget: 100000})
		if d := compareOutcomes(want, got); d != "" {
			t.Fatalf("%s\n%s", d, listing(insns))
		}
		if want.err != nil {
			t.Fatal(want.err)
		}
	}
}

// FuzzDivMod is TestDivModAgainstInterpreter on fuzzed seeds.
func FuzzDivMod(f *testing.F) {
	for _, s := range []uint64{0, 1, 7, 1 << 40} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		insns := divProgram(seed)
		want := runInterp(insns, nil, 1000)
		got := runJITWith(insns, nil, amd64.Options{Budget: 1000, BlindConstants: seed%4 == 3})
		if d := compareOutcomes(want, got); d != "" {
			t.Fatalf("seed %d: %s\n%s", seed, d, listing(insns))
		}
	})
}

// divConstLoop divides a 64-bit pseudo-random value by constants n times
// (mod 1000 of the full value, div 7): the multiply-by-reciprocal path.
func divConstLoop(n int32) benchprog.Program {
	insns := []isa.Instruction{
		{Opcode: isa.ClassALU64 | isa.OpMOV, Dst: 0},
		{Opcode: isa.ClassALU64 | isa.OpMOV, Dst: 6},
		{Opcode: isa.OpcodeLDDW, Dst: 7, Imm: 0x7f4a7c15}, {Imm: -0x61c88647}, // 0x9e3779b97f4a7c15
		{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: 1, Src: 6},
		{Opcode: isa.ClassALU64 | isa.OpMUL | isa.SrcX, Dst: 1, Src: 7},
		{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: 2, Src: 1},
		{Opcode: isa.ClassALU64 | isa.OpMOD, Dst: 2, Imm: 1000},
		{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcX, Dst: 0, Src: 2},
		{Opcode: isa.ClassALU64 | isa.OpDIV, Dst: 1, Imm: 7},
		{Opcode: isa.ClassALU64 | isa.OpXOR | isa.SrcX, Dst: 0, Src: 1},
		{Opcode: isa.ClassALU64 | isa.OpADD, Dst: 6, Imm: 1},
		{Opcode: isa.ClassJMP | isa.OpJNE, Dst: 6, Imm: n, Offset: -9},
		{Opcode: isa.OpcodeExit},
	}
	var r0 uint64
	for i := uint64(0); i < uint64(n); i++ {
		x := i * 0x9e3779b97f4a7c15
		r0 += x % 1000
		r0 ^= x / 7
	}
	return benchprog.Program{Name: "div-const", Insns: insns, Want: r0, Executed: 4 + 9*uint64(n)}
}

// TestDivConstLoop checks the benchmark program's result and count.
func TestDivConstLoop(t *testing.T) {
	bp := divConstLoop(1000)
	got := runJITWith(bp.Insns, nil, amd64.Options{Budget: 1 << 20})
	if got.err != nil || got.r0 != bp.Want || got.executed != bp.Executed {
		t.Fatalf("r0 %#x, %v, executed %d; want %#x, %d", got.r0, got.err, got.executed, bp.Want, bp.Executed)
	}
}

// BenchmarkDivConst runs divConstLoop on the interpreter, the JIT and the
// kernel's JIT (which divides: it has no multiply-by-reciprocal).
func BenchmarkDivConst(b *testing.B) {
	bp := divConstLoop(10_000)
	for _, eng := range []string{"interp", "jit"} {
		b.Run(eng, func(b *testing.B) {
			vm := newRunner(b, eng, bp.Insns, nil)
			cpu := startCPUTimer()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if got, err := vm.Run(nil); err != nil || got != bp.Want {
					b.Fatalf("r0 = %d, %v; want %d", got, err, bp.Want)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpu.stop().Nanoseconds())/float64(uint64(b.N)*bp.Executed), "cpu-ns/insn")
		})
	}
	b.Run("kernel", func(b *testing.B) { benchKernel(b, bp) })
}
