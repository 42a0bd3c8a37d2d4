package interp_test

// Differential tests of the interpreter against the Linux kernel: random
// programs from internal/progen and handwritten edge cases run in both, and
// the whole final state (memory, and r0..r8 which the programs store into
// memory) must be identical.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/bpfvm/bpfvm/internal/interp"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/kerneltest"
	"github.com/bpfvm/bpfvm/internal/progen"
)

var (
	kernelDiffN = flag.Int("kernel-diff-n", 0,
		"number of random programs TestKernelDifferential runs (default $BPFVM_KERNEL_DIFF_N, else 2000; 200 with -short)")
	kernelDiffSeed = flag.Int64("kernel-diff-seed", 0,
		"first seed of TestKernelDifferential (default $BPFVM_KERNEL_DIFF_SEED, else 1)")
)

func kernelDiffParams(t *testing.T) (n int, first int64) {
	n, first = 2000, 1
	if testing.Short() {
		n = 200
	}
	if s := os.Getenv("BPFVM_KERNEL_DIFF_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			t.Fatalf("BPFVM_KERNEL_DIFF_N=%q is not a count", s)
		}
		n = v
	}
	if s := os.Getenv("BPFVM_KERNEL_DIFF_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			t.Fatalf("BPFVM_KERNEL_DIFF_SEED=%q is not a number", s)
		}
		first = v
	}
	if *kernelDiffN > 0 {
		n = *kernelDiffN
	}
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "kernel-diff-seed" {
			first = *kernelDiffSeed
		}
	})
	return n, first
}

// diffConfigs are the generator options, chosen by seed, so that small
// buffers and stacks, deep nesting, call-free programs and programs with
// loops all get their turn.
var diffConfigs = []progen.Options{
	{},
	{Insns: 128, BufSize: 32, StackSize: 128, MaxDepth: 4},
	{Insns: 24, BufSize: 8, StackSize: 16, MaxDepth: 2},
	{Insns: 256, BufSize: 256, StackSize: 64, MaxDepth: 5, NoCalls: true},
	{Insns: 96, BufSize: 64, StackSize: 64, MaxDepth: 4, Loops: true},
}

func diffOptions(seed int64) progen.Options {
	return diffConfigs[uint64(seed)%uint64(len(diffConfigs))]
}

// outcome is the final state of one run.
type outcome struct {
	err    error  // refusal or run-time failure
	r0     uint64 // interpreter only: the full r0
	retval uint32 // the low 32 bits of r0 (all the kernel reports)
	mem    []byte // memory after the run
}

func runKernel(p *progen.Program) outcome {
	prog, err := kerneltest.Load(ebpf.XDP, p.Kernel)
	if err != nil {
		return outcome{err: err}
	}
	defer prog.Close()
	res, err := prog.Run(kerneltest.RunInput{Data: p.Memory})
	if err != nil {
		return outcome{err: err}
	}
	return outcome{retval: res.Retval, mem: res.Data}
}

func runInterp(p *progen.Program) (outcome, uint64) {
	prog, err := interp.Load(p.Body, interp.Options{})
	if err != nil {
		return outcome{err: fmt.Errorf("interp.Load: %w", err)}, 0
	}
	vm := prog.NewVM()
	mem := bytes.Clone(p.Memory)
	r0, err := vm.Run(mem)
	if err != nil {
		return outcome{err: fmt.Errorf("VM.Run: %w", err), mem: mem}, vm.Executed()
	}
	return outcome{r0: r0, retval: uint32(r0), mem: mem}, vm.Executed()
}

// difference describes how the interpreter's outcome differs from the
// kernel's, or returns "" when they agree. The kernel must have run.
func difference(p *progen.Program, k, i outcome) string {
	if i.err != nil {
		return fmt.Sprintf("the interpreter failed: %v", i.err)
	}
	var d []string
	if k.retval != i.retval {
		d = append(d, fmt.Sprintf("return value: kernel %#x, interpreter %#x", k.retval, i.retval))
	}
	if len(k.mem) != len(i.mem) {
		return strings.Join(append(d, fmt.Sprintf("memory size: kernel %d, interpreter %d", len(k.mem), len(i.mem))), "\n")
	}
	kr, _ := p.Registers(k.mem)
	ir, _ := p.Registers(i.mem)
	for r := range kr {
		if kr[r] != ir[r] {
			d = append(d, fmt.Sprintf("r%d: kernel %#x, interpreter %#x", r, kr[r], ir[r]))
		}
	}
	if ir[0] != i.r0 {
		d = append(d, fmt.Sprintf("the interpreter returned r0 = %#x but its epilogue stored %#x", i.r0, ir[0]))
	}
	shown := 0
	for n := 0; n < p.BufSize; n++ {
		if k.mem[n] != i.mem[n] {
			if shown++; shown <= 16 {
				d = append(d, fmt.Sprintf("memory[%d]: kernel %#02x, interpreter %#02x", n, k.mem[n], i.mem[n]))
			}
		}
	}
	if shown > 16 {
		d = append(d, fmt.Sprintf("... %d differing memory bytes in all", shown))
	}
	return strings.Join(d, "\n")
}

// listing formats a program as the kernel's verifier log does.
func listing(insns []isa.Instruction) string { return isa.FormatProgram(insns) }

func hexWords(b []byte) string {
	var s strings.Builder
	for n := 0; n+8 <= len(b); n += 8 {
		fmt.Fprintf(&s, "  [%3d] %#016x\n", n, binary.LittleEndian.Uint64(b[n:]))
	}
	return s.String()
}

// report describes a mismatch completely enough to reproduce and debug it,
// after shrinking the program.
func report(p *progen.Program, reproduce string) string {
	fails := func(c *progen.Program) bool {
		k := runKernel(c)
		if k.err != nil {
			return false
		}
		i, _ := runInterp(c)
		return difference(c, k, i) != ""
	}
	m := progen.Minimize(p, fails, 1500)
	k := runKernel(m)
	i, _ := runInterp(m)
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: the interpreter and the kernel differ\nreproduce: %s\n", p.Seed, reproduce)
	fmt.Fprintf(&b, "minimised program (%d slots of %d; bpfvm runs it with r1 = memory, r2 = %d; the kernel after a %d-slot XDP prologue):\n%s",
		len(m.Body), len(p.Body), len(m.Memory), m.PrologueLen, listing(m.Body))
	fmt.Fprintf(&b, "initial memory (little-endian words; r0..r8 are stored from offset %d):\n%s", m.RegsOffset, hexWords(m.Memory[:m.RegsOffset]))
	if k.err != nil {
		fmt.Fprintf(&b, "kernel: %v\n", k.err)
		return b.String()
	}
	fmt.Fprintf(&b, "difference:\n%s\n", difference(m, k, i))
	fmt.Fprintf(&b, "kernel memory after the run:\n%s", hexWords(k.mem))
	if i.mem != nil {
		fmt.Fprintf(&b, "interpreter memory after the run:\n%s", hexWords(i.mem))
	}
	return b.String()
}

// TestKernelDifferential runs random programs in the kernel (as XDP, through
// BPF_PROG_TEST_RUN) and in the interpreter and compares the final memory,
// r0..r8 and the return value.
func TestKernelDifferential(t *testing.T) {
	kerneltest.Require(t)
	n, first := kernelDiffParams(t)
	const maxMismatches = 3
	start := time.Now()
	var ran, refused, mismatches int
	var executed, slots uint64
	for seed := first; seed < first+int64(n); seed++ {
		opts := diffOptions(seed)
		p, err := progen.Generate(seed, opts)
		if err != nil {
			t.Fatal(err)
		}
		k := runKernel(p)
		if k.err != nil {
			// The generator promises kernel-acceptable programs.
			refused++
			t.Errorf("seed %d: the kernel refused a generated program (a progen bug): %v", seed, k.err)
			continue
		}
		i, exec := runInterp(p)
		ran++
		executed += exec
		slots += uint64(len(p.Body))
		if difference(p, k, i) == "" {
			continue
		}
		mismatches++
		reproduce := fmt.Sprintf("go test ./internal/interp -run 'TestKernelDifferential$' -kernel-diff-seed=%d -kernel-diff-n=1", seed)
		t.Errorf("options %+v\n%s", opts, report(p, reproduce))
		if mismatches >= maxMismatches {
			t.Errorf("stopping after %d mismatches", mismatches)
			break
		}
	}
	t.Logf("%d random programs (seeds %d..%d, %d slots, %d instructions executed by the interpreter) in %v: %d mismatches, %d refused by the kernel",
		ran, first, first+int64(n)-1, slots, executed, time.Since(start).Round(time.Millisecond), mismatches, refused)
}

// FuzzKernelDifferential lets the fuzzer choose seeds and generator
// options: go test ./internal/interp -run '^$' -fuzz FuzzKernelDifferential.
func FuzzKernelDifferential(f *testing.F) {
	for seed := range int64(len(diffConfigs)) {
		o := diffOptions(seed)
		f.Add(seed, o.Insns, o.BufSize, o.StackSize, o.MaxDepth, o.NoCalls, o.Loops)
	}
	f.Fuzz(func(t *testing.T, seed int64, insns, buf, stack, depth int, noCalls, loops bool) {
		kerneltest.Require(t)
		opts := progen.Options{Insns: insns, BufSize: buf, StackSize: stack, MaxDepth: depth, NoCalls: noCalls, Loops: loops}
		p, err := progen.Generate(seed, opts)
		if err != nil {
			t.Skip(err) // options out of range
		}
		k := runKernel(p)
		if k.err != nil {
			t.Fatalf("seed %d options %+v: the kernel refused a generated program (a progen bug): %v", seed, opts, k.err)
		}
		i, _ := runInterp(p)
		if difference(p, k, i) != "" {
			t.Fatalf("options %+v\n%s", opts, report(p, fmt.Sprintf("progen.Generate(%d, %+v)", seed, opts)))
		}
	})
}

// Instruction builders for the edge cases.

func alu64K(op, dst uint8, imm int32) isa.Instruction {
	return isa.Instruction{Opcode: isa.ClassALU64 | op | isa.SrcK, Dst: dst, Imm: imm}
}

func alu64X(op, dst, src uint8) isa.Instruction {
	return isa.Instruction{Opcode: isa.ClassALU64 | op | isa.SrcX, Dst: dst, Src: src}
}

func alu32K(op, dst uint8, imm int32) isa.Instruction {
	return isa.Instruction{Opcode: isa.ClassALU | op | isa.SrcK, Dst: dst, Imm: imm}
}

func alu32X(op, dst, src uint8) isa.Instruction {
	return isa.Instruction{Opcode: isa.ClassALU | op | isa.SrcX, Dst: dst, Src: src}
}

// signed turns a division or modulo into its signed form.
func signed(i isa.Instruction) isa.Instruction { i.Offset = 1; return i }

// sx turns a register move into a sign-extending move from bits bits.
func sx(i isa.Instruction, bits int16) isa.Instruction { i.Offset = bits; return i }

func lddw(dst uint8, v uint64) []isa.Instruction {
	l := isa.LDDW(dst, v)
	return l[:]
}

func stxDW(dst, src uint8, off int16) isa.Instruction {
	return isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | isa.SizeDW, Dst: dst, Src: src, Offset: off}
}

func ldxSX(size, dst, src uint8, off int16) isa.Instruction {
	return isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEMSX | size, Dst: dst, Src: src, Offset: off}
}

func atomic(size uint8, op int32, src uint8, off int16) isa.Instruction {
	return isa.Instruction{Opcode: isa.ClassSTX | isa.ModeATOMIC | size, Dst: isa.R10, Src: src, Offset: off, Imm: op}
}

func code(parts ...any) []isa.Instruction {
	var out []isa.Instruction
	for _, p := range parts {
		switch p := p.(type) {
		case isa.Instruction:
			out = append(out, p)
		case []isa.Instruction:
			out = append(out, p...)
		default:
			panic(fmt.Sprintf("code: %T", p))
		}
	}
	return out
}

const (
	minInt64 = 1 << 63
	pattern  = 0x0123456789abcdef
)

// TestKernelDifferentialEdgeCases runs handwritten programs aimed at the
// corners of the semantics on both and compares them; where the result is
// certain it is also checked against the expected r0.
func TestKernelDifferentialEdgeCases(t *testing.T) {
	kerneltest.Require(t)
	const r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10 = isa.R0, isa.R1, isa.R2, isa.R3, isa.R4, isa.R5, isa.R6, isa.R7, isa.R8, isa.R9, isa.R10
	buf := make([]byte, 32)
	for n := range buf {
		buf[n] = byte(0x70 + n*9) // crosses 0x80: sign-extending loads see both signs
	}
	type edge struct {
		name string
		code []isa.Instruction
		want *uint64 // expected r0, when certain
	}
	u := func(v uint64) *uint64 { return &v }
	cases := []edge{
		{"sdiv64 INT64_MIN by -1 (imm)", code(lddw(r0, minInt64), signed(alu64K(isa.OpDIV, r0, -1))), u(minInt64)},
		{"sdiv64 INT64_MIN by -1 (reg)", code(lddw(r0, minInt64), alu64K(isa.OpMOV, r1, -1), signed(alu64X(isa.OpDIV, r0, r1))), u(minInt64)},
		{"smod64 INT64_MIN by -1", code(lddw(r0, minInt64), alu64K(isa.OpMOV, r1, -1), signed(alu64X(isa.OpMOD, r0, r1))), u(0)},
		{"sdiv32 INT32_MIN by -1", code(lddw(r0, 0xffffffff_80000000), signed(alu32K(isa.OpDIV, r0, -1))), u(0x80000000)},
		{"smod32 INT32_MIN by -1", code(lddw(r0, 0xffffffff_80000000), alu64K(isa.OpMOV, r1, -1), signed(alu32X(isa.OpMOD, r0, r1))), u(0)},
		{"sdiv/smod signs", code(alu64K(isa.OpMOV, r0, -7), alu64K(isa.OpMOV, r1, 2), alu64X(isa.OpMOV, r2, r0),
			signed(alu64X(isa.OpDIV, r0, r1)), signed(alu64X(isa.OpMOD, r2, r1)),
			alu64K(isa.OpMOV, r3, 7), alu64K(isa.OpMOV, r4, -2), alu64X(isa.OpMOV, r5, r3),
			signed(alu32X(isa.OpDIV, r3, r4)), signed(alu32X(isa.OpMOD, r5, r4))), u(uint64(1<<64 - 3))},
		{"div64 by zero register", code(lddw(r0, pattern), alu64X(isa.OpDIV, r0, r1)), u(0)},
		{"mod64 by zero register", code(lddw(r0, pattern), alu64X(isa.OpMOD, r0, r1)), u(pattern)},
		{"div32 by zero register", code(lddw(r0, pattern), alu32X(isa.OpDIV, r0, r1)), u(0)},
		{"mod32 by zero register keeps the low half", code(lddw(r0, pattern), alu32X(isa.OpMOD, r0, r1)), u(pattern & 0xffffffff)},
		{"sdiv/smod by zero register", code(lddw(r0, minInt64), lddw(r2, minInt64|5), alu64X(isa.OpMOV, r3, r2), lddw(r4, 0xfffffff5_80000001), alu64X(isa.OpMOV, r5, r4),
			signed(alu64X(isa.OpDIV, r0, r1)), signed(alu64X(isa.OpMOD, r2, r1)), signed(alu32X(isa.OpDIV, r4, r1)), signed(alu32X(isa.OpMOD, r5, r1))), u(0)},
		{"64-bit shifts by immediates", code(lddw(r0, pattern), alu64X(isa.OpMOV, r1, r0), alu64X(isa.OpMOV, r2, r0), lddw(r3, minInt64|1),
			alu64K(isa.OpLSH, r0, 63), alu64K(isa.OpRSH, r1, 63), alu64K(isa.OpARSH, r2, 63), alu64K(isa.OpARSH, r3, 63)), u(1 << 63)},
		{"64-bit shifts by registers out of range are masked", code(lddw(r0, pattern), alu64X(isa.OpMOV, r1, r0), lddw(r2, minInt64|0xf0),
			alu64K(isa.OpMOV, r5, 64), alu64K(isa.OpMOV, r6, 65), alu64K(isa.OpMOV, r7, -1),
			alu64X(isa.OpLSH, r0, r5), alu64X(isa.OpRSH, r1, r6), alu64X(isa.OpARSH, r2, r7)), u(pattern)},
		{"32-bit shifts by registers out of range are masked", code(lddw(r0, pattern), alu64X(isa.OpMOV, r1, r0), lddw(r2, 0x12345678_f0000000),
			alu64K(isa.OpMOV, r5, 32), alu64K(isa.OpMOV, r6, 33), alu64K(isa.OpMOV, r7, 63),
			alu32X(isa.OpLSH, r0, r5), alu32X(isa.OpRSH, r1, r6), alu32X(isa.OpARSH, r2, r7)), u(pattern & 0xffffffff)},
		{"32-bit shifts by immediates", code(lddw(r0, 0xffffffff_80000001), alu64X(isa.OpMOV, r1, r0), alu64X(isa.OpMOV, r2, r0),
			alu32K(isa.OpLSH, r0, 31), alu32K(isa.OpRSH, r1, 31), alu32K(isa.OpARSH, r2, 31)), u(0x80000000)},
		{"le/be/bswap of all widths", code(lddw(r0, pattern),
			alu64X(isa.OpMOV, r1, r0), alu64X(isa.OpMOV, r2, r0), alu64X(isa.OpMOV, r3, r0), alu64X(isa.OpMOV, r4, r0),
			alu64X(isa.OpMOV, r5, r0), alu64X(isa.OpMOV, r6, r0), alu64X(isa.OpMOV, r7, r0), alu64X(isa.OpMOV, r8, r0),
			isa.Instruction{Opcode: isa.ClassALU | isa.OpEND | isa.SrcK, Dst: r0, Imm: 16},
			isa.Instruction{Opcode: isa.ClassALU | isa.OpEND | isa.SrcK, Dst: r1, Imm: 32},
			isa.Instruction{Opcode: isa.ClassALU | isa.OpEND | isa.SrcK, Dst: r2, Imm: 64},
			isa.Instruction{Opcode: isa.ClassALU | isa.OpEND | isa.SrcX, Dst: r3, Imm: 16},
			isa.Instruction{Opcode: isa.ClassALU | isa.OpEND | isa.SrcX, Dst: r4, Imm: 32},
			isa.Instruction{Opcode: isa.ClassALU | isa.OpEND | isa.SrcX, Dst: r5, Imm: 64},
			isa.Instruction{Opcode: isa.ClassALU64 | isa.OpEND, Dst: r6, Imm: 16},
			isa.Instruction{Opcode: isa.ClassALU64 | isa.OpEND, Dst: r7, Imm: 32},
			isa.Instruction{Opcode: isa.ClassALU64 | isa.OpEND, Dst: r8, Imm: 64}), u(0xcdef)},
		{"movsx", code(lddw(r0, 0xffffff80), alu64X(isa.OpMOV, r1, r0), lddw(r2, 0x12348000), lddw(r3, 0x80000000), lddw(r4, 0xffff_ffff_7fff_ff80),
			sx(alu64X(isa.OpMOV, r0, r0), 8), sx(alu32X(isa.OpMOV, r1, r1), 8), sx(alu64X(isa.OpMOV, r5, r2), 16),
			sx(alu32X(isa.OpMOV, r6, r2), 16), sx(alu64X(isa.OpMOV, r7, r3), 32), sx(alu64X(isa.OpMOV, r8, r4), 32)), u(1<<64 - 0x80)},
		{"neg", code(lddw(r0, minInt64), isa.Instruction{Opcode: isa.ClassALU64 | isa.OpNEG, Dst: r0},
			lddw(r1, 0x1_80000000), isa.Instruction{Opcode: isa.ClassALU | isa.OpNEG, Dst: r1},
			alu64K(isa.OpMOV, r2, 5), isa.Instruction{Opcode: isa.ClassALU | isa.OpNEG, Dst: r2}), u(minInt64)},
		{"32-bit ALU zero-extends", code(lddw(r0, 1<<64-1), alu32K(isa.OpADD, r0, 1), lddw(r1, 1<<64-1), alu32K(isa.OpMOV, r1, -1),
			lddw(r2, 1<<64-1), alu32X(isa.OpMOV, r2, r2), lddw(r3, 0xffffffff), alu32K(isa.OpMUL, r3, 0xffff)), u(0)},
		{"sign-extending loads from memory", code(ldxSX(isa.SizeB, r0, r9, 2), ldxSX(isa.SizeB, r1, r9, 0), ldxSX(isa.SizeH, r2, r9, 3),
			ldxSX(isa.SizeW, r3, r9, 1), ldxSX(isa.SizeW, r4, r9, 20)), nil},
		{"sign-extending loads from the stack", code(lddw(r1, 0x8081828384858687), stxDW(r10, r1, -8),
			ldxSX(isa.SizeB, r0, r10, -8), ldxSX(isa.SizeH, r2, r10, -6), ldxSX(isa.SizeW, r3, r10, -4)), u(1<<64 - 0x79)},
		{"cmpxchg64 success and failure", code(lddw(r1, pattern), stxDW(r10, r1, -8), alu64X(isa.OpMOV, r0, r1), alu64K(isa.OpMOV, r2, 42),
			atomic(isa.SizeDW, isa.AtomicCMPXCHG, r2, -8), alu64X(isa.OpMOV, r3, r0), // success: r0 = old
			atomic(isa.SizeDW, isa.AtomicCMPXCHG, r1, -8), // failure: r0 = 42, memory unchanged
			isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeDW, Dst: r4, Src: r10, Offset: -8}), u(42)},
		{"cmpxchg32 zero-extends r0", code(lddw(r1, 0xaaaaaaaa_bbbbbbbb), stxDW(r10, r1, -8), lddw(r0, 0x12345678_bbbbbbbb), alu64K(isa.OpMOV, r2, 7),
			atomic(isa.SizeW, isa.AtomicCMPXCHG, r2, -8), alu64X(isa.OpMOV, r3, r0),
			lddw(r0, 0xffffffff_00000000), atomic(isa.SizeW, isa.AtomicCMPXCHG, r2, -4),
			isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeDW, Dst: r4, Src: r10, Offset: -8}), u(0xaaaaaaaa)},
		{"atomic fetch ops return the old value", code(lddw(r1, 0xf0f0f0f0_0f0f0f0f), stxDW(r10, r1, -8), stxDW(r10, r1, -16),
			lddw(r0, 0xffff_ffff_ffff_ffff), alu64X(isa.OpMOV, r2, r0), alu64X(isa.OpMOV, r3, r0), alu64X(isa.OpMOV, r4, r0), alu64X(isa.OpMOV, r5, r0),
			atomic(isa.SizeDW, isa.AtomicADD|isa.AtomicFETCH, r0, -8), atomic(isa.SizeW, isa.AtomicOR|isa.AtomicFETCH, r2, -16),
			atomic(isa.SizeW, isa.AtomicAND|isa.AtomicFETCH, r3, -12), atomic(isa.SizeDW, isa.AtomicXOR|isa.AtomicFETCH, r4, -8),
			atomic(isa.SizeW, isa.AtomicXCHG, r5, -4), atomic(isa.SizeDW, isa.AtomicADD, r1, -16),
			isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeDW, Dst: r6, Src: r10, Offset: -8},
			isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeDW, Dst: r7, Src: r10, Offset: -16}), u(0xf0f0f0f0_0f0f0f0f)},
		{"jmp32 ignores the upper halves", code(lddw(r1, 0x7fffffff_80000000), lddw(r2, 0x80000000_00000001),
			isa.Instruction{Opcode: isa.ClassJMP32 | isa.OpJSLT | isa.SrcX, Dst: r1, Src: r2, Offset: 1}, alu64K(isa.OpOR, r0, 1),
			isa.Instruction{Opcode: isa.ClassJMP | isa.OpJSLT | isa.SrcX, Dst: r1, Src: r2, Offset: 1}, alu64K(isa.OpOR, r0, 2),
			isa.Instruction{Opcode: isa.ClassJMP32 | isa.OpJGT | isa.SrcK, Dst: r1, Imm: -1, Offset: 1}, alu64K(isa.OpOR, r0, 4),
			isa.Instruction{Opcode: isa.ClassJMP32 | isa.OpJSET | isa.SrcK, Dst: r2, Imm: 1, Offset: 1}, alu64K(isa.OpOR, r0, 8),
			isa.Instruction{Opcode: isa.ClassJMP | isa.OpJSGT | isa.SrcK, Dst: r2, Imm: -1, Offset: 1}, alu64K(isa.OpOR, r0, 16)), u(2 | 4 | 16)},
		{"a callee's r6-r9 do not leak into the caller", code(alu64K(isa.OpMOV, r6, 6), alu64K(isa.OpMOV, r1, 11),
			isa.Instruction{Opcode: isa.OpcodeCall, Src: isa.CallLocal}, // to the callee below
			alu64K(isa.OpMOV, r1, 0), alu64K(isa.OpMOV, r2, 0), alu64K(isa.OpMOV, r3, 0), alu64K(isa.OpMOV, r4, 0), alu64K(isa.OpMOV, r5, 0),
			alu64X(isa.OpADD, r0, r6)), u(28)},
	}
	// Functions placed after the epilogue of the case of the same name; the
	// first local call in the case's code calls it.
	callees := map[string][]isa.Instruction{
		"a callee's r6-r9 do not leak into the caller": code(alu64K(isa.OpMOV, r6, 99), alu64K(isa.OpMOV, r7, 99), alu64K(isa.OpMOV, r8, 99),
			alu64K(isa.OpMOV, r9, 99), alu64X(isa.OpMOV, r0, r1), alu64K(isa.OpMUL, r0, 2), isa.Instruction{Opcode: isa.OpcodeExit}),
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := progen.Wrap(c.code, buf)
			if err != nil {
				t.Fatal(err)
			}
			if callee, ok := callees[c.name]; ok {
				p = withCallee(t, p, callee)
			}
			k := runKernel(p)
			if k.err != nil {
				t.Fatalf("kernel: %v\nprogram:\n%s", k.err, listing(p.Body))
			}
			i, _ := runInterp(p)
			if d := difference(p, k, i); d != "" {
				t.Fatalf("the interpreter and the kernel differ:\n%s\nprogram:\n%s", d, listing(p.Body))
			}
			if c.want != nil {
				regs, _ := p.Registers(k.mem)
				if regs[0] != *c.want {
					t.Errorf("r0 = %#x in both, want %#x", regs[0], *c.want)
				}
			}
		})
	}
}

// withCallee appends callee after the program's epilogue and points the
// first local call at it.
func withCallee(t *testing.T, p *progen.Program, callee []isa.Instruction) *progen.Program {
	t.Helper()
	start := len(p.Body)
	call := -1
	for n, i := range p.Body {
		if i.Opcode == isa.OpcodeCall && i.Src == isa.CallLocal {
			call = n
			break
		}
	}
	if call < 0 {
		t.Fatal("no local call in the program")
	}
	p.Body[call].Imm = int32(start - (call + 1))
	p.Body = append(p.Body, callee...)
	p.Kernel = append(p.Kernel[:p.PrologueLen:p.PrologueLen], p.Body...)
	if err := isa.Validate(p.Body); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKnownKernelBugs pins down kernel verifier bugs the differential test
// found in Linux 6.18, which progen now steers clear of. In each, the
// verifier prunes a path as equivalent to one it explored before, and
// acts on what it learnt from the explored path alone, so the kernel runs
// a program that differs from the one loaded. The interpreter must give
// the ISA result; what the kernel does is logged.
func TestKnownKernelBugs(t *testing.T) {
	kerneltest.Require(t)
	const r0, r1, r2, r3, r4, r5, r6, r7, r9, r10 = isa.R0, isa.R1, isa.R2, isa.R3, isa.R4, isa.R5, isa.R6, isa.R7, isa.R9, isa.R10
	ldb := func(dst, src uint8, off int16) isa.Instruction { // unknown to the verifier
		return isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeB, Dst: dst, Src: src, Offset: off}
	}
	stDW := func(off int16, imm int32) isa.Instruction {
		return isa.Instruction{Opcode: isa.ClassST | isa.ModeMEM | isa.SizeDW, Dst: r10, Offset: off, Imm: imm}
	}
	jgt := func(dst uint8, imm int32, off int16) isa.Instruction {
		return isa.Instruction{Opcode: isa.ClassJMP | isa.OpJGT | isa.SrcK, Dst: dst, Imm: imm, Offset: off}
	}
	ja := func(off int16) isa.Instruction { return isa.Instruction{Opcode: isa.OpcodeJA, Offset: off} }
	bugs := []struct {
		name        string
		why         string
		code        []isa.Instruction
		callee      []isa.Instruction // placed after the epilogue, called by code's local call
		reg         int               // the register that shows the bug
		want, buggy uint64            // its ISA value, and its value on an affected kernel
	}{{
		name: "atomic fetch from the stack is not a load for precision tracking",
		why: "backtrack_insn treats an atomic fetch from the stack as a store, so the constant the verifier believes the slot " +
			"holds (on the path explored first) is not marked precise; the path on which an atomic changed the slot is pruned, " +
			"the branch on the fetched value is proven one-way and dead code elimination removes its other side",
		code: code(
			ldb(r7, r9, 0), // 10
			stDW(-8, 32767),
			alu32K(isa.OpMOV, r6, -0x80000000),
			alu64K(isa.OpMOV, r4, -1),
			jgt(r7, 3, 2),            // taken at run time
			alu64K(isa.OpMOV, r5, 0), // explored first: the slot keeps 32767
			ja(1),
			atomic(isa.SizeW, isa.AtomicOR, r6, -4), // the slot becomes 0x80000000_00007fff
			atomic(isa.SizeDW, isa.AtomicAND|isa.AtomicFETCH, r4, -8),
			isa.Instruction{Opcode: isa.ClassJMP | isa.OpJSLT | isa.SrcK, Dst: r4, Offset: 2}, // r4 < 0: taken
			alu64K(isa.OpMOV, r2, 3),
			ja(1),
			alu64K(isa.OpMOV, r2, 7)),
		reg: 2, want: 7, buggy: 3,
	}, {
		name: "32-bit cmpxchg misses the zero-extension of r0",
		why: "the verifier zero-extends r0 after a 32-bit cmpxchg (x86 leaves the upper half of rax on success) only if it " +
			"sees r0 used as 64 bits; here that use is on the pruned path",
		code: code(
			ldb(r7, r9, 0), // 10
			lddw(r0, 0xff000000_00000000),
			stDW(-8, 0),
			alu64K(isa.OpMOV, r6, 5),
			atomic(isa.SizeW, isa.AtomicCMPXCHG, r6, -8), // succeeds: r0 = 0
			jgt(r7, 3, 10),                               // taken at run time, to the epilogue
			isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeH, Dst: r0, Src: r10, Offset: -8},
			alu64K(isa.OpADD, r6, 1), alu64K(isa.OpADD, r6, 1), alu64K(isa.OpADD, r6, 1), alu64K(isa.OpADD, r6, 1),
			alu64K(isa.OpADD, r6, 1), alu64K(isa.OpADD, r6, 1), alu64K(isa.OpADD, r6, 1), alu64K(isa.OpADD, r6, 1),
			ja(0)), // makes the epilogue a checkpoint
		reg: 0, want: 0, buggy: 0xff000000_00000000,
	}, {
		name: "scalar += r10 keeps the scalar's frame number",
		why: "adjust_ptr_min_max_vals gives the result of scalar += pointer the pointer's type but not its frame number, " +
			"so here the verifier tracks the main function's stack for a pointer into the callee's; the branch on the value " +
			"it believes it loads is proven one-way and dead code elimination removes its other side (with a stale frame " +
			"number from an earlier pointer, verification can also take many minutes)",
		code: code(
			stDW(-8, 0x1111),
			isa.Instruction{Opcode: isa.OpcodeCall, Src: isa.CallLocal}, // to callee
			alu64K(isa.OpMOV, r1, 0), alu64K(isa.OpMOV, r2, 0), alu64K(isa.OpMOV, r3, 0), alu64K(isa.OpMOV, r4, 0), alu64K(isa.OpMOV, r5, 0)),
		callee: code(
			stDW(-8, 128),
			alu64K(isa.OpMOV, r7, 0),
			isa.Instruction{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcX, Dst: r7, Src: r10},
			isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeDW, Dst: r7, Src: r7, Offset: -8}, // 128
			alu64K(isa.OpMOV, r0, 9),
			isa.Instruction{Opcode: isa.ClassJMP | isa.OpJEQ | isa.SrcK, Dst: r7, Imm: 0x1111, Offset: 1}, // not taken
			alu64K(isa.OpMOV, r0, 5),
			isa.Instruction{Opcode: isa.OpcodeExit}),
		reg: 0, want: 5, buggy: 9,
	}}
	for _, b := range bugs {
		t.Run(b.name, func(t *testing.T) {
			buf := make([]byte, 8)
			buf[0] = 10
			p, err := progen.Wrap(b.code, buf)
			if err != nil {
				t.Fatal(err)
			}
			if b.callee != nil {
				p = withCallee(t, p, b.callee)
			}
			i, _ := runInterp(p)
			if i.err != nil {
				t.Fatal(i.err)
			}
			ir, _ := p.Registers(i.mem)
			if ir[b.reg] != b.want {
				t.Fatalf("interpreter: r%d = %#x, want %#x\nprogram:\n%s", b.reg, ir[b.reg], b.want, listing(p.Body))
			}
			k := runKernel(p)
			if k.err != nil {
				t.Fatal(k.err)
			}
			kr, _ := p.Registers(k.mem)
			switch kr[b.reg] {
			case b.buggy:
				t.Logf("this kernel has the bug (r%d = %#x, not %#x): %s", b.reg, b.buggy, b.want, b.why)
			case b.want:
				t.Logf("this kernel runs the program correctly: the bug is fixed")
			default:
				t.Errorf("kernel: r%d = %#x, neither the ISA result %#x nor the known-bug result %#x", b.reg, kr[b.reg], b.want, b.buggy)
			}
		})
	}
}

// TestKernelDifferentialDetects checks that the comparison notices each kind
// of difference, so a silent TestKernelDifferential means agreement.
func TestKernelDifferentialDetects(t *testing.T) {
	kerneltest.Require(t)
	p, err := progen.Generate(42, progen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	k := runKernel(p)
	if k.err != nil {
		t.Fatal(k.err)
	}
	i, _ := runInterp(p)
	if d := difference(p, k, i); d != "" {
		t.Fatalf("seed 42 differs: %s", d)
	}
	corrupt := func(name string, f func(o *outcome), want string) {
		o := i
		o.mem = bytes.Clone(i.mem)
		f(&o)
		if d := difference(p, k, o); !strings.Contains(d, want) {
			t.Errorf("%s: difference %q does not mention %q", name, d, want)
		}
	}
	corrupt("return value", func(o *outcome) { o.retval++; o.r0++ }, "return value")
	corrupt("buffer byte", func(o *outcome) { o.mem[3] ^= 1 }, "memory[3]")
	corrupt("upper half of r0", func(o *outcome) { o.mem[p.RegsOffset+7] ^= 0x80 }, "r0: kernel")
	corrupt("r8", func(o *outcome) { o.mem[p.RegsOffset+8*8] ^= 1 }, "r8: kernel")
	corrupt("run error", func(o *outcome) { o.err = errors.New("boom") }, "the interpreter failed: boom")
	corrupt("inconsistent r0", func(o *outcome) { o.r0 ^= 1 << 40 }, "the interpreter returned r0")
}

// TestKernelDifferentialLegacyPacketLoads compares LD_ABS and LD_IND with
// the kernel's, on SCHED_CLS programs whose skb is the packet from its first
// byte, as bpfvm's RunWithPacket packet is: random and boundary offsets,
// in and out of the packet (where the program returns 0), negative ones
// (SKF_LL_OFF addresses the packet; SKF_NET_OFF, the network header, is a
// documented difference) and index registers with bits above 32.
// The upper half of r0 is folded into the 32-bit return value.
func TestKernelDifferentialLegacyPacketLoads(t *testing.T) {
	kerneltest.Require(t)
	const skfLLOff, skfNetOff = -0x200000, -0x100000
	const r0, r6, r7, r8 = isa.R0, isa.R6, isa.R7, isa.R8
	packet := make([]byte, 64)
	for n := range packet {
		packet[n] = byte(0x80 + n*37)
	}
	r := rand.New(rand.NewPCG(7, 7))
	offsets := []int32{0, 1, 13, 14, 59, 60, 61, 62, 63, 64, 65, 1 << 20, -1, -14,
		skfLLOff, skfLLOff + 1, skfLLOff + 60, skfLLOff + 63, skfLLOff + 64, skfLLOff - 1, skfNetOff, skfNetOff + 2, -0x7fffffff - 1}
	indexes := []uint64{0, 1, 4, 63, 64, 1 << 32, 1<<32 + 2, 1<<64 - 1, 1<<64 - 14, uint64(1<<64 + skfLLOff), 0x7fffffff}
	type load struct {
		op    uint8
		imm   int32
		index uint64 // LD_IND only
	}
	var loads []load
	for _, size := range []uint8{isa.SizeB, isa.SizeH, isa.SizeW} {
		for _, off := range offsets {
			loads = append(loads, load{isa.ClassLD | isa.ModeABS | size, off, 0})
			loads = append(loads, load{isa.ClassLD | isa.ModeIND | size, off, indexes[r.IntN(len(indexes))]})
		}
		for range 40 {
			loads = append(loads, load{isa.ClassLD | isa.ModeIND | size, int32(r.IntN(90)) - 20, uint64(int64(r.IntN(90) - 20))})
			loads = append(loads, load{isa.ClassLD | isa.ModeIND | size, int32(r.Uint32()), indexes[r.IntN(len(indexes))]})
		}
	}
	mem := make([]byte, 8)
	var inside, netOffsets int
	for _, l := range loads {
		insns := code(
			isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: r6, Src: isa.R1},
			lddw(r0, 0xdead_beef_dead_beef), // what an engine that forgets to set r0 would return
			lddw(r7, l.index),
			isa.Instruction{Opcode: l.op, Src: r7, Imm: l.imm},
			alu64X(isa.OpMOV, r8, r0),
			alu64K(isa.OpRSH, r8, 32),
			alu64K(isa.OpMUL, r8, 0x3e1f4a5b),
			alu64X(isa.OpXOR, r0, r8),
			isa.Instruction{Opcode: isa.OpcodeExit},
		)
		if l.op&0xe0 == isa.ModeABS {
			insns[5].Src = 0 // LD_ABS has no source register
		}
		name := fmt.Sprintf("%v with r7 = %#x", insns[5], l.index)
		off := l.imm
		if l.op&0xe0 == isa.ModeIND {
			off = int32(uint32(l.index) + uint32(l.imm))
		}
		if off >= skfNetOff && off < skfNetOff+int32(len(packet)) {
			// A known, documented difference: the kernel reads from the
			// skb's network header (here data[14:]), which bpfvm's packet
			// does not have; the interpreter counts these as outside.
			netOffsets++
			continue
		}
		ret, _, _, err := kerneltest.RunSchedCLS(insns, packet, 1)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		prog, err := interp.Load(insns, interp.Options{})
		if err != nil {
			t.Fatalf("%s: interp.Load: %v", name, err)
		}
		got, err := prog.NewVM().RunWithPacket(mem, packet)
		if err != nil {
			t.Errorf("%s: the interpreter failed: %v", name, err)
			continue
		}
		if uint32(got) != ret {
			t.Errorf("%s: kernel returns %#x, interpreter %#x", name, ret, uint32(got))
		}
		if ret != 0 {
			inside++
		}
	}
	t.Logf("%d legacy packet loads, %d of them inside the packet; %d SKF_NET_OFF loads not compared", len(loads), inside, netOffsets)
	if inside == 0 || inside == len(loads) {
		t.Errorf("the loads do not exercise both inside and outside the packet")
	}
}
