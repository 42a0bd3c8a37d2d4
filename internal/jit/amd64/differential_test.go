//go:build linux && amd64

package amd64_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/interp"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit/amd64"
	"github.com/bpfvm/bpfvm/internal/kerneltest"
	"github.com/bpfvm/bpfvm/internal/progen"
)

// outcome is everything a run can be compared on.
type outcome struct {
	r0       uint64
	err      error
	mem      []byte
	executed uint64
	loadErr  error
}

// diffHelpers are offered to differential runs: helper 1 returns a function
// of its arguments, helper 2 fails, helper 3 reads and writes memory through
// the Env, helper 4 calls back into the program.
func diffHelpers() engine.Helpers {
	return engine.Helpers{
		1: func(_ engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
			return r1*3 + r2 ^ r3<<1 + r4 - r5, nil
		},
		2: func(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
			return 0, errors.New("helper 2 always fails")
		},
		3: func(env engine.Env, r1, r2, _, _, _ uint64) (uint64, error) {
			b, err := env.Memory(r1, r2&15, true)
			if err != nil {
				return 0, err
			}
			for i := range b {
				b[i] ^= 0x5a
			}
			return uint64(len(b)), nil
		},
		// 4 runs the function at instruction r1&63 (a callback).
		4: func(env engine.Env, r1, r2, r3, _, _ uint64) (uint64, error) {
			return env.Call(int(r1&63), r2, r3)
		},
	}
}

func runInterp(insns []isa.Instruction, mem []byte, budget uint64) outcome {
	p, err := interp.Load(insns, interp.Options{Helpers: diffHelpers(), Budget: budget})
	if err != nil {
		return outcome{loadErr: err}
	}
	vm := p.NewVM()
	m := guarded(mem)
	r0, err := vm.Run(m)
	return outcome{r0: r0, err: err, mem: m, executed: vm.Executed()}
}

// guarded copies mem into the middle of a large allocation, so that no
// address within an int16 offset of it belongs to another region (the
// stack of either engine): unverified programs reach outside their memory,
// and must fail the same way on both engines whatever the heap layout.
func guarded(mem []byte) []byte {
	const guard = 64 << 10
	b := make([]byte, guard+len(mem)+guard)
	m := b[guard : guard+len(mem) : guard+len(mem)]
	copy(m, mem)
	return m
}

func runJIT(insns []isa.Instruction, mem []byte, budget uint64) outcome {
	return runJITWith(insns, mem, amd64.Options{Helpers: diffHelpers(), Budget: budget})
}

func runJITWith(insns []isa.Instruction, mem []byte, opts amd64.Options) outcome {
	p, err := amd64.Load(insns, opts)
	if err != nil {
		return outcome{loadErr: err}
	}
	defer p.Close()
	vm := p.NewVM()
	m := guarded(mem)
	r0, err := vm.Run(m)
	return outcome{r0: r0, err: err, mem: m, executed: vm.Executed()}
}

var sentinels = []error{engine.ErrOutOfBounds, engine.ErrBudgetExhausted, engine.ErrUnknownHelper, engine.ErrCallDepth, engine.ErrHelperFailed, engine.ErrCancelled}

func errKind(err error) string {
	if err == nil {
		return "ok"
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			var ie *isa.InstructionError
			if errors.As(err, &ie) {
				return fmt.Sprintf("%v at %d", s, ie.Index)
			}
			return s.Error()
		}
	}
	return "other: " + err.Error()
}

// compareOutcomes returns a description of the first difference.
func compareOutcomes(want, got outcome) string {
	switch {
	case (want.loadErr == nil) != (got.loadErr == nil):
		return fmt.Sprintf("load: interp %v, jit %v", want.loadErr, got.loadErr)
	case want.loadErr != nil:
		return ""
	case errKind(want.err) != errKind(got.err):
		return fmt.Sprintf("error: interp %v, jit %v", want.err, got.err)
	case want.err == nil && want.r0 != got.r0:
		return fmt.Sprintf("r0: interp %#x, jit %#x", want.r0, got.r0)
	case !bytes.Equal(want.mem, got.mem) && (want.err == nil || errors.Is(want.err, engine.ErrOutOfBounds)):
		return fmt.Sprintf("memory: interp % x, jit % x", want.mem, got.mem)
	case want.executed != got.executed:
		return fmt.Sprintf("executed: interp %d, jit %d (error %v)", want.executed, got.executed, want.err)
	}
	return ""
}

func listing(insns []isa.Instruction) string {
	var b bytes.Buffer
	for i, in := range insns {
		fmt.Fprintf(&b, "%4d: %v\n", i, in)
	}
	return b.String()
}

// TestDifferentialProgen runs generated, fully defined programs on both
// engines: registers (stored by the epilogue), memory, r0 and the executed
// count must agree.
func TestDifferentialProgen(t *testing.T) {
	n := int64(400)
	if testing.Short() {
		n = 50
	}
	configs := []progen.Options{{}, {Insns: 200, BufSize: 128, StackSize: 128, MaxDepth: 5}, {Insns: 16, BufSize: 8, StackSize: 16}, {Insns: 512, MaxDepth: 8}}
	for ci, o := range configs {
		for seed := int64(0); seed < n; seed++ {
			p, err := progen.Generate(seed, o)
			if err != nil {
				t.Fatal(err)
			}
			want, got := runInterp(p.Body, p.Memory, 0), runJIT(p.Body, p.Memory, 0)
			if want.loadErr != nil || want.err != nil {
				t.Fatalf("config %d seed %d: the interpreter failed: %v %v", ci, seed, want.loadErr, want.err)
			}
			if d := compareOutcomes(want, got); d != "" {
				t.Fatalf("config %d seed %d: %s\n%s", ci, seed, d, listing(p.Body))
			}
		}
	}
}

// TestKernelDifferential runs generated programs in the kernel (as XDP
// programs whose packet is the memory) and on the JIT: the return value and
// the memory after the run must agree.
func TestKernelDifferential(t *testing.T) {
	kerneltest.Require(t)
	n := int64(200)
	if testing.Short() {
		n = 30
	}
	for _, o := range []progen.Options{{}, {Insns: 200, BufSize: 128, StackSize: 128, MaxDepth: 5}} {
		for seed := int64(0); seed < n; seed++ {
			p, err := progen.Generate(seed, o)
			if err != nil {
				t.Fatal(err)
			}
			kprog, err := kerneltest.Load(ebpf.XDP, p.Kernel)
			if err != nil {
				t.Fatalf("seed %d: kernel refused: %v", seed, err)
			}
			res, err := kprog.Run(kerneltest.RunInput{Data: p.Memory})
			kprog.Close()
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			got := runJIT(p.Body, p.Memory, 0)
			if got.loadErr != nil || got.err != nil {
				t.Fatalf("seed %d: jit failed: %v %v", seed, got.loadErr, got.err)
			}
			if uint32(got.r0) != res.Retval || !bytes.Equal(got.mem, res.Data) {
				t.Fatalf("seed %d: kernel retval %#x memory % x\njit r0 %#x memory % x\n%s", seed, res.Retval, res.Data, got.r0, got.mem, listing(p.Body))
			}
		}
	}
}

// randomProgram decodes raw bytes into a program of random instructions,
// biased towards valid ones: opcodes are drawn from the valid set, fields
// from small ranges, jumps land inside the program. It is not verified, so
// it exercises the checked accesses, the budget and run-time errors.
func randomProgram(seed uint64, n int) []isa.Instruction {
	r := rand.New(rand.NewPCG(seed, 0x6a6974))
	opcodes := validOpcodes()
	insns := make([]isa.Instruction, 0, n+2)
	for len(insns) < n {
		op := opcodes[r.IntN(len(opcodes))]
		in := isa.Instruction{Opcode: op, Dst: uint8(r.IntN(10)), Src: uint8(r.IntN(11))}
		cls := op & 7
		switch {
		case op == isa.OpcodeLDDW:
			v := r.Uint64()
			if r.IntN(2) == 0 {
				v = uint64(r.IntN(64))
			}
			l := isa.LDDW(in.Dst, v)
			insns = append(insns, l[0], l[1])
			continue
		case op == isa.OpcodeCall:
			in = isa.Instruction{Opcode: op, Imm: int32(1 + r.IntN(4))}
			if r.IntN(4) == 0 {
				in.Src = isa.CallLocal
				in.Imm = int32(r.IntN(n+1)) - int32(len(insns)) - 1
			}
		case op == isa.OpcodeCallX:
			in = isa.Instruction{Opcode: op, Dst: uint8(r.IntN(10))}
		case op == isa.OpcodeExit:
			in = isa.Instruction{Opcode: op}
		case op == isa.OpcodeJA:
			in = isa.Instruction{Opcode: op, Offset: int16(r.IntN(n+1) - len(insns) - 1)}
		case op == isa.OpcodeJA32:
			in = isa.Instruction{Opcode: op, Imm: int32(r.IntN(n+1) - len(insns) - 1)}
		case cls == isa.ClassJMP || cls == isa.ClassJMP32:
			in.Offset = int16(r.IntN(n+1) - len(insns) - 1)
			if op&isa.SrcX == 0 {
				in.Src, in.Imm = 0, smallImm(r)
			}
		case cls == isa.ClassALU || cls == isa.ClassALU64:
			in = randomALU(r, op, in)
		case cls == isa.ClassLDX, cls == isa.ClassST, cls == isa.ClassSTX:
			// Mostly stack and memory bases with small offsets.
			in.Offset = int16(r.IntN(96) - 64)
			if r.IntN(3) == 0 {
				in.Offset = int16(r.IntN(1040) - 520)
			}
			base := []uint8{isa.R10, isa.R1, isa.R10, uint8(r.IntN(10))}[r.IntN(4)]
			if cls == isa.ClassLDX {
				in.Src = base
				if in.Dst == isa.R10 {
					in.Dst = 0
				}
			} else {
				in.Dst = base
			}
			if cls == isa.ClassST {
				in.Src, in.Imm = 0, smallImm(r)
			}
			if cls == isa.ClassSTX && op&0xe0 == isa.ModeATOMIC {
				in.Imm = []int32{isa.AtomicADD, isa.AtomicOR, isa.AtomicAND, isa.AtomicXOR, isa.AtomicADD | isa.AtomicFETCH, isa.AtomicOR | isa.AtomicFETCH, isa.AtomicAND | isa.AtomicFETCH, isa.AtomicXOR | isa.AtomicFETCH, isa.AtomicXCHG, isa.AtomicCMPXCHG}[r.IntN(10)]
				in.Offset &^= 7
				if in.Imm&isa.AtomicFETCH != 0 && in.Src == isa.R10 {
					in.Src = 1
				}
			}
		case cls == isa.ClassLD: // legacy packet loads
			in.Dst, in.Offset = 0, 0
			in.Imm = int32(r.IntN(24))
			if op&0xe0 == isa.ModeABS {
				in.Src = 0
			}
		}
		insns = append(insns, in)
	}
	insns = append(insns, isa.Instruction{Opcode: isa.OpcodeExit})
	return insns
}

func smallImm(r *rand.Rand) int32 {
	switch r.IntN(4) {
	case 0:
		return int32(r.Uint32())
	case 1:
		return -1
	default:
		return int32(r.IntN(33))
	}
}

func randomALU(r *rand.Rand, op uint8, in isa.Instruction) isa.Instruction {
	if in.Dst == isa.R10 {
		in.Dst = 0
	}
	k := op&isa.SrcX == 0
	if k {
		in.Src, in.Imm = 0, smallImm(r)
	}
	switch op & 0xf0 {
	case isa.OpDIV, isa.OpMOD:
		in.Offset = int16(r.IntN(2))
		if k && r.IntN(3) == 0 {
			in.Imm = 0
		}
	case isa.OpMOV:
		if !k {
			offs := []int16{0, 0, 8, 16}
			if op&7 == isa.ClassALU64 {
				offs = append(offs, 32)
			}
			in.Offset = offs[r.IntN(len(offs))]
		}
	case isa.OpNEG:
		in.Src, in.Imm = 0, 0
	case isa.OpEND:
		in.Src, in.Imm = 0, []int32{16, 32, 64}[r.IntN(3)]
	}
	return in
}

// validOpcodes lists every opcode some instruction validates with.
func validOpcodes() []uint8 {
	var ops []uint8
	for op := 0; op < 256; op++ {
		for _, try := range []isa.Instruction{
			{Opcode: uint8(op)}, {Opcode: uint8(op), Imm: 16}, {Opcode: uint8(op), Offset: 1},
			{Opcode: uint8(op), Imm: isa.AtomicADD}, {Opcode: uint8(op), Src: 1},
		} {
			prog := []isa.Instruction{try, {}, {Opcode: isa.OpcodeExit}}
			if isa.Validate(prog) == nil {
				ops = append(ops, uint8(op))
				break
			}
		}
	}
	return ops
}

// TestDifferentialRandom runs random unverified programs on both engines:
// results, errors (kind and instruction), memory and executed counts must
// agree.
func TestDifferentialRandom(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	mem := make([]byte, 64)
	for i := range mem {
		mem[i] = byte(i*7 + 3)
	}
	ran := 0
	for seed := 0; seed < n; seed++ {
		insns := randomProgram(uint64(seed), 8+seed%40)
		if isa.Validate(insns) != nil {
			continue
		}
		ran++
		want := runInterp(insns, mem, 5000)
		got := runJITWith(insns, mem, amd64.Options{Helpers: diffHelpers(), Budget: 5000, BlindConstants: seed%2 == 1})
		if d := compareOutcomes(want, got); d != "" {
			t.Fatalf("seed %d (blinded %v): %s\n%s", seed, seed%2 == 1, d, listing(insns))
		}
	}
	t.Logf("%d valid random programs agreed", ran)
}

// FuzzDifferential compares the JIT with the interpreter on programs decoded
// from the fuzzer's bytes (any bytes that validate) and on generated ones.
func FuzzDifferential(f *testing.F) {
	f.Add([]byte{0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0}, uint64(0), false)
	f.Add([]byte{}, uint64(1), false)
	f.Add([]byte{}, uint64(2), true)
	f.Add([]byte{0x07, 0x01, 0, 0, 8, 0, 0, 0, 0x71, 0x10, 0, 0, 0, 0, 0, 0, 0x05, 0, 0xfd, 0xff, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0}, uint64(3), false)
	mem := make([]byte, 64)
	for i := range mem {
		mem[i] = byte(i*13 + 1)
	}
	f.Fuzz(func(t *testing.T, code []byte, seed uint64, generated bool) {
		var insns []isa.Instruction
		m := mem
		switch {
		case generated:
			p, err := progen.Generate(int64(seed), progen.Options{})
			if err != nil {
				t.Fatal(err)
			}
			insns, m = p.Body, p.Memory
		case len(code) == 0:
			insns = randomProgram(seed, 8+int(seed%64))
		default:
			if len(code)%8 != 0 || len(code) > 8*4096 {
				return
			}
			var err error
			if insns, err = isa.Decode(code); err != nil {
				return
			}
		}
		if isa.Validate(insns) != nil {
			return
		}
		want := runInterp(insns, m, 20000)
		got := runJITWith(insns, m, amd64.Options{Helpers: diffHelpers(), Budget: 20000, BlindConstants: seed%3 == 0})
		if d := compareOutcomes(want, got); d != "" {
			t.Fatalf("%s\n%s", d, listing(insns))
		}
	})
}

var _ = binary.LittleEndian

// TestProvenAccesses compiles verified programs with every access marked
// proven (no bounds checks), as the verifier will: they must behave exactly
// as with checks.
func TestProvenAccesses(t *testing.T) {
	for seed := int64(0); seed < 100; seed++ {
		p, err := progen.Generate(seed, progen.Options{Insns: 128})
		if err != nil {
			t.Fatal(err)
		}
		all := make([]uint64, (len(p.Body)+63)/64)
		for i := range all {
			all[i] = ^uint64(0)
		}
		prog, err := amd64.Load(p.Body, amd64.Options{Helpers: diffHelpers(), Proven: all})
		if err != nil {
			t.Fatal(err)
		}
		vm := prog.NewVM()
		m := guarded(p.Memory)
		r0, err := vm.Run(m)
		prog.Close()
		want := runInterp(p.Body, p.Memory, 0)
		got := outcome{r0: r0, err: err, mem: m, executed: vm.Executed()}
		if d := compareOutcomes(want, got); d != "" {
			t.Fatalf("seed %d: %s\n%s", seed, d, listing(p.Body))
		}
	}
}
