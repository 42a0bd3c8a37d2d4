// Package benchprog holds the benchmark programs every bpfvm engine is
// measured with (the interpreter, the JIT), so their figures compare the
// same work. Each program comes with its input, its helpers, the r0 it must
// return and the number of instructions one run executes, so a benchmark
// can report ns per executed instruction and check its engine at the same
// time.
package benchprog

import (
	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// Program is one benchmark program.
type Program struct {
	Name  string
	Insns []isa.Instruction
	// Mem is the input memory (r1 = &Mem[0], r2 = len(Mem)); nil for none.
	// The programs only read it, so one copy can serve every run.
	Mem     []byte
	Helpers engine.Helpers
	// Want is the r0 a correct engine returns.
	Want uint64
	// Executed is the number of instructions one run executes.
	Executed uint64
}

// HelperAdd is the helper id the helper-call benchmark calls: r0 = r1 + r2.
const HelperAdd = 1

// Helpers are the helpers of the benchmark programs.
var Helpers = engine.Helpers{
	HelperAdd: func(_ engine.Env, r1, r2, _, _, _ uint64) (uint64, error) { return r1 + r2, nil },
}

// All returns every benchmark program, freshly built.
func All() []Program {
	return []Program{
		SumLoop(1_000_000),
		Xorshift(1_000_000),
		StackLoop(1_000_000),
		MemSum(64 << 10),
		Primes(10_000),
		CallLoop(1_000_000),
		HelperLoop(1_000_000),
	}
}

// A small builder: enough to write the programs below readably.
type builder struct {
	insns  []isa.Instruction
	labels map[string]int
	fix    []fixup
}

type fixup struct {
	at    int
	label string
	imm   bool // the target goes into imm (local call), not offset
}

func newBuilder() *builder { return &builder{labels: map[string]int{}} }

func (b *builder) emit(i isa.Instruction) *builder { b.insns = append(b.insns, i); return b }

func (b *builder) label(name string) *builder { b.labels[name] = len(b.insns); return b }

func (b *builder) alu64(op, dst uint8, imm int32) *builder {
	return b.emit(isa.Instruction{Opcode: isa.ClassALU64 | op | isa.SrcK, Dst: dst, Imm: imm})
}

func (b *builder) alu64X(op, dst, src uint8) *builder {
	return b.emit(isa.Instruction{Opcode: isa.ClassALU64 | op | isa.SrcX, Dst: dst, Src: src})
}

func (b *builder) lddw(dst uint8, v uint64) *builder {
	l := isa.LDDW(dst, v)
	b.insns = append(b.insns, l[0], l[1])
	return b
}

func (b *builder) jump(op, dst uint8, imm int32, target string) *builder {
	b.fix = append(b.fix, fixup{at: len(b.insns), label: target})
	return b.emit(isa.Instruction{Opcode: isa.ClassJMP | op | isa.SrcK, Dst: dst, Imm: imm})
}

func (b *builder) jumpX(op, dst, src uint8, target string) *builder {
	b.fix = append(b.fix, fixup{at: len(b.insns), label: target})
	return b.emit(isa.Instruction{Opcode: isa.ClassJMP | op | isa.SrcX, Dst: dst, Src: src})
}

func (b *builder) ja(target string) *builder { return b.jump(isa.OpJA, 0, 0, target) }

func (b *builder) callLocal(target string) *builder {
	b.fix = append(b.fix, fixup{at: len(b.insns), label: target, imm: true})
	return b.emit(isa.Instruction{Opcode: isa.OpcodeCall, Src: isa.CallLocal})
}

func (b *builder) call(id int32) *builder {
	return b.emit(isa.Instruction{Opcode: isa.OpcodeCall, Imm: id})
}

func (b *builder) ldx(size, dst, src uint8, off int16) *builder {
	return b.emit(isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEM | size, Dst: dst, Src: src, Offset: off})
}

func (b *builder) stx(size, dst, src uint8, off int16) *builder {
	return b.emit(isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | size, Dst: dst, Src: src, Offset: off})
}

func (b *builder) exit() *builder { return b.emit(isa.Instruction{Opcode: isa.OpcodeExit}) }

func (b *builder) done() []isa.Instruction {
	for _, f := range b.fix {
		t, ok := b.labels[f.label]
		if !ok {
			panic("benchprog: unknown label " + f.label) // a bug in this file
		}
		rel := t - f.at - 1
		if f.imm {
			b.insns[f.at].Imm = int32(rel)
		} else {
			b.insns[f.at].Offset = int16(rel)
		}
	}
	return b.insns
}

const (
	r0 = isa.R0
	r1 = isa.R1
	r2 = isa.R2
	r3 = isa.R3
	r4 = isa.R4
	r6 = isa.R6
	r7 = isa.R7
)

// SumLoop adds 1..n: the plainest ALU-and-branch loop.
func SumLoop(n int32) Program {
	b := newBuilder().
		alu64(isa.OpMOV, r0, 0).
		alu64(isa.OpMOV, r1, 1).
		label("loop").
		alu64X(isa.OpADD, r0, r1).
		alu64(isa.OpADD, r1, 1).
		jump(isa.OpJLE, r1, n, "loop").
		exit()
	return Program{Name: "sum-loop", Insns: b.done(), Want: uint64(n) * uint64(n+1) / 2, Executed: 3*uint64(n) + 3}
}

const xorshiftSeed = 0x9e3779b97f4a7c15

// Xorshift runs n rounds of xorshift64 (shifts and xors, register moves).
func Xorshift(n int32) Program {
	b := newBuilder().
		lddw(r0, xorshiftSeed).
		alu64(isa.OpMOV, r2, 0).
		label("loop")
	for _, s := range []struct {
		op    uint8
		shift int32
	}{{isa.OpLSH, 13}, {isa.OpRSH, 7}, {isa.OpLSH, 17}} {
		b.alu64X(isa.OpMOV, r1, r0).alu64(s.op, r1, s.shift).alu64X(isa.OpXOR, r0, r1)
	}
	b.alu64(isa.OpADD, r2, 1).jump(isa.OpJNE, r2, n, "loop").exit()
	x := uint64(xorshiftSeed)
	for i := int32(0); i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return Program{Name: "xorshift", Insns: b.done(), Want: x, Executed: 11*uint64(n) + 3}
}

// StackLoop stores to and loads from the stack each round.
func StackLoop(n int32) Program {
	b := newBuilder().
		alu64(isa.OpMOV, r0, 0).
		alu64(isa.OpMOV, r1, 0).
		label("loop").
		stx(isa.SizeDW, isa.R10, r1, -8).
		ldx(isa.SizeDW, r2, isa.R10, -8).
		alu64X(isa.OpADD, r0, r2).
		stx(isa.SizeW, isa.R10, r0, -16).
		ldx(isa.SizeW, r3, isa.R10, -16).
		alu64X(isa.OpADD, r0, r3).
		alu64(isa.OpADD, r1, 1).
		jump(isa.OpJNE, r1, n, "loop").
		exit()
	var acc uint64
	for i := uint64(0); i < uint64(n); i++ {
		acc += i
		acc += uint64(uint32(acc))
	}
	return Program{Name: "stack-loop", Insns: b.done(), Want: acc, Executed: 8*uint64(n) + 3}
}

// MemSum adds up the bytes of an n-byte input memory (n > 0), one load per
// byte: the bounds check on a region other than the stack.
func MemSum(n int) Program {
	mem := make([]byte, n)
	var want uint64
	for i := range mem {
		mem[i] = byte(i*7 + i>>8)
		want += uint64(mem[i])
	}
	b := newBuilder().
		alu64(isa.OpMOV, r0, 0).
		alu64X(isa.OpMOV, r3, r1).
		alu64X(isa.OpADD, r3, r2).
		label("loop").
		ldx(isa.SizeB, r4, r1, 0).
		alu64X(isa.OpADD, r0, r4).
		alu64(isa.OpADD, r1, 1).
		jumpX(isa.OpJLT, r1, r3, "loop").
		exit()
	return Program{Name: "mem-sum-64k", Insns: b.done(), Mem: mem, Want: want, Executed: 4*uint64(n) + 4}
}

// Primes counts the primes below n (n > 2) by trial division: mod-heavy.
func Primes(n int32) Program {
	b := newBuilder().
		alu64(isa.OpMOV, r0, 0).
		alu64(isa.OpMOV, r1, 2).
		label("outer").
		alu64(isa.OpMOV, r2, 2).
		label("inner").
		alu64X(isa.OpMOV, r3, r2).
		alu64X(isa.OpMUL, r3, r2).
		jumpX(isa.OpJGT, r3, r1, "prime").
		alu64X(isa.OpMOV, r4, r1).
		alu64X(isa.OpMOD, r4, r2).
		jump(isa.OpJEQ, r4, 0, "next").
		alu64(isa.OpADD, r2, 1).
		ja("inner").
		label("prime").
		alu64(isa.OpADD, r0, 1).
		label("next").
		alu64(isa.OpADD, r1, 1).
		jump(isa.OpJLT, r1, n, "outer").
		exit()
	// The same walk in Go, counting instructions as the program does.
	count, executed := uint64(0), uint64(3) // two movs, exit
	for v := uint64(2); v < uint64(n); v++ {
		executed++ // mov r2, 2
		d := uint64(2)
		for {
			executed += 3
			if d*d > v {
				executed++ // add r0, 1
				count++
				break
			}
			executed += 3
			if v%d == 0 {
				break
			}
			executed += 2
			d++
		}
		executed += 2 // add r1, 1; jlt
	}
	return Program{Name: "primes", Insns: b.done(), Want: count, Executed: executed}
}

// CallLoop makes n bpf-to-bpf calls to a three-instruction function.
func CallLoop(n int32) Program {
	b := newBuilder().
		alu64(isa.OpMOV, r6, 0).
		alu64(isa.OpMOV, r7, 0).
		label("loop").
		alu64X(isa.OpMOV, r1, r6).
		callLocal("f").
		alu64X(isa.OpADD, r7, r0).
		alu64(isa.OpADD, r6, 1).
		jump(isa.OpJNE, r6, n, "loop").
		alu64X(isa.OpMOV, r0, r7).
		exit().
		label("f").
		alu64X(isa.OpMOV, r0, r1).
		alu64(isa.OpADD, r0, 1).
		exit()
	// sum of i+1 for i < n
	return Program{Name: "call-loop", Insns: b.done(), Want: uint64(n) * uint64(n+1) / 2, Executed: 8*uint64(n) + 4}
}

// HelperLoop makes n helper calls (HelperAdd).
func HelperLoop(n int32) Program {
	b := newBuilder().
		alu64(isa.OpMOV, r6, 0).
		alu64(isa.OpMOV, r7, 0).
		label("loop").
		alu64X(isa.OpMOV, r1, r6).
		alu64(isa.OpMOV, r2, 1).
		call(HelperAdd).
		alu64X(isa.OpADD, r7, r0).
		alu64(isa.OpADD, r6, 1).
		jump(isa.OpJNE, r6, n, "loop").
		alu64X(isa.OpMOV, r0, r7).
		exit()
	return Program{Name: "helper-loop", Insns: b.done(), Helpers: Helpers, Want: uint64(n) * uint64(n+1) / 2, Executed: 6*uint64(n) + 4}
}
