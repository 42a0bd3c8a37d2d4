// Package progen generates random eBPF programs for differential testing:
// programs the Linux verifier accepts (privileged profile) and whose
// behaviour is fully defined, so that any two correct engines (the kernel,
// bpfvm's interpreter, bpfvm's JIT) must end in exactly the same state.
//
// Generation is deterministic: the same seed and options always give the
// same program.
//
// # Shape of a program
//
// The memory a program works on is one buffer of MemSize bytes: Options.BufSize
// bytes of random data the program loads from and stores to, followed by a
// register area where the epilogue stores r0 to r8, so the whole 64-bit
// register file is compared, not only the 32-bit return value.
//
// The same generated Body runs in two settings:
//
//   - bpfvm: r1 = address of the memory, r2 = its length (the conformance
//     suite's contract). The Body starts with r9 = r1.
//   - the kernel: Kernel is an XDP program, a Prologue followed by the
//     Body. The prologue loads ctx->data and ctx->data_end, exits with
//     XDP_ABORTED unless the packet holds MemSize bytes, and sets r1 =
//     data, r2 = MemSize before falling into the Body. The packet is the
//     memory.
//
// # Why the kernel accepts the programs and their behaviour is defined
//
//   - The body never writes r9 (the memory pointer) or reads it other than
//     as a load/store base, so no pointer value reaches a register the
//     epilogue stores, or arithmetic.
//   - r0 to r8 are initialised before the body, and r1 to r5 again after
//     each call, so no register is read uninitialised.
//   - Loads and stores use r9 with constant offsets inside the buffer, which
//     the prologue's length check proves in range, or r10 with constant
//     offsets, aligned to the access size, inside a stack area every byte
//     of which is written before the body.
//   - Atomics operate on the stack only (the kernel refuses them on packet
//     memory).
//   - Division and modulo by an immediate never divide by zero; by a
//     register they may, which is defined (the result is 0, or the dividend
//     for modulo). Shifts by an immediate stay within the operand width;
//     shifts by a register are masked, which is defined.
//   - All jumps go forward, so programs terminate, and code is laid out as
//     nested if/else blocks and forward skips between sibling statements,
//     so every instruction is reachable (the verifier refuses unreachable
//     code).
//   - Called functions (bpf-to-bpf calls) compute on their arguments r1-r5
//     and registers they initialise themselves, on their own small stack.
package progen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// NumSavedRegisters is the number of registers (r0 to r8) the epilogue
// stores in the register area.
const NumSavedRegisters = 9

// Options control the generator. The zero value selects the defaults.
type Options struct {
	// Insns is the approximate number of instructions of the generated
	// statements in the main function (prologue, initialisation, epilogue
	// and called functions come on top). Default 64, at most 512: the
	// verifier's work grows fast with the number of branches on values it
	// cannot know (loaded from memory), and larger programs start to exceed
	// its limit of a million processed instructions.
	Insns int
	// BufSize is the size of the data buffer in bytes: a multiple of 8,
	// from 8 to 2048. Default 64.
	BufSize int
	// StackSize is how many bytes of the stack the main function uses: a
	// multiple of 8, from 8 to 256. Default 64.
	StackSize int
	// MaxDepth bounds the nesting of if/else blocks. Default 3.
	MaxDepth int
	// NoCalls disables bpf-to-bpf calls.
	NoCalls bool
}

const (
	defaultInsns     = 64
	defaultBufSize   = 64
	defaultStackSize = 64
	defaultMaxDepth  = 3
	maxInsns         = 512
	maxBufSize       = 2048
	maxStackSize     = 256
	calleeStackSize  = 32 // the combined stack of all frames must stay within 512 bytes
	maxCallees       = 3
)

func (o Options) withDefaults() (Options, error) {
	if o.Insns == 0 {
		o.Insns = defaultInsns
	}
	if o.BufSize == 0 {
		o.BufSize = defaultBufSize
	}
	if o.StackSize == 0 {
		o.StackSize = defaultStackSize
	}
	if o.MaxDepth == 0 {
		o.MaxDepth = defaultMaxDepth
	}
	switch {
	case o.Insns < 1 || o.Insns > maxInsns:
		return o, fmt.Errorf("progen: Insns %d is outside 1..%d", o.Insns, maxInsns)
	case o.BufSize < 8 || o.BufSize > maxBufSize || o.BufSize%8 != 0:
		return o, fmt.Errorf("progen: BufSize %d is not a multiple of 8 in 8..%d", o.BufSize, maxBufSize)
	case o.StackSize < 8 || o.StackSize > maxStackSize || o.StackSize%8 != 0:
		return o, fmt.Errorf("progen: StackSize %d is not a multiple of 8 in 8..%d", o.StackSize, maxStackSize)
	case o.MaxDepth < 0 || o.MaxDepth > 16:
		return o, fmt.Errorf("progen: MaxDepth %d is outside 0..16", o.MaxDepth)
	}
	return o, nil
}

// Program is a generated program with its input.
type Program struct {
	Seed int64
	// Body is the program for bpfvm: r1 = address of the memory, r2 = its
	// length on entry.
	Body []isa.Instruction
	// Kernel is Prologue followed by Body: an XDP program whose packet is
	// the memory.
	Kernel []isa.Instruction
	// PrologueLen is the number of prologue slots in Kernel, so that slot
	// n of Body is slot PrologueLen+n of Kernel.
	PrologueLen int
	// Memory is the initial memory (MemSize bytes): random data, then the
	// register area, zeroed. Run each engine on its own copy.
	Memory []byte
	// BufSize is the size of the data part of Memory.
	BufSize int
	// RegsOffset is where the epilogue stores r0..r8, each a little-endian
	// uint64.
	RegsOffset int
}

// MemSize returns the size of the memory the program runs on.
func (p *Program) MemSize() int { return len(p.Memory) }

// Registers returns r0..r8 as the epilogue stored them in mem, the memory
// after a run.
func (p *Program) Registers(mem []byte) ([NumSavedRegisters]uint64, error) {
	var regs [NumSavedRegisters]uint64
	if len(mem) < p.RegsOffset+8*NumSavedRegisters {
		return regs, fmt.Errorf("progen: memory is %d bytes, the register area ends at %d", len(mem), p.RegsOffset+8*NumSavedRegisters)
	}
	for i := range regs {
		regs[i] = binary.LittleEndian.Uint64(mem[p.RegsOffset+8*i:])
	}
	return regs, nil
}

// ErrOptions is wrapped by errors about invalid options.
var ErrOptions = errors.New("progen: invalid options")

// Generate returns the program for seed. It fails only for invalid options.
func Generate(seed int64, opts Options) (*Program, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOptions, err)
	}
	g := &gen{
		r:    rand.New(rand.NewPCG(uint64(seed), 0x62706676_6d70726f)), // "bpfvmpro"
		opts: opts,
	}
	memSize := opts.BufSize + 8*NumSavedRegisters
	p := &Program{
		Seed:       seed,
		BufSize:    opts.BufSize,
		RegsOffset: opts.BufSize,
		Memory:     make([]byte, memSize),
	}
	for i := 0; i < opts.BufSize; i++ {
		p.Memory[i] = byte(g.r.Uint32())
	}
	p.Body = g.program(opts.BufSize)
	prologue := Prologue(memSize)
	p.PrologueLen = len(prologue)
	p.Kernel = append(prologue, p.Body...)
	return p, nil
}

// Prologue returns the XDP prologue for a memory of memSize bytes: it exits
// with XDP_ABORTED (0) unless the packet holds at least memSize bytes, and
// otherwise continues with r1 = ctx->data and r2 = memSize, the state bpfvm
// starts a Body in.
func Prologue(memSize int) []isa.Instruction {
	return []isa.Instruction{
		ldx(isa.SizeW, isa.R2, isa.R1, 0), // xdp_md.data
		ldx(isa.SizeW, isa.R3, isa.R1, 4), // xdp_md.data_end
		movX(isa.ClassALU64, isa.R4, isa.R2),
		aluK(isa.ClassALU64, isa.OpADD, isa.R4, int32(memSize)),
		{Opcode: isa.ClassJMP | isa.OpJLE | isa.SrcX, Dst: isa.R4, Src: isa.R3, Offset: 2},
		movK(isa.ClassALU64, isa.R0, 0),
		{Opcode: isa.OpcodeExit},
		movX(isa.ClassALU64, isa.R1, isa.R2),
		movK(isa.ClassALU64, isa.R2, int32(memSize)),
	}
}

// Instruction constructors.

func ldx(size, dst, src uint8, off int16) isa.Instruction {
	return isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEM | size, Dst: dst, Src: src, Offset: off}
}

func movX(class, dst, src uint8) isa.Instruction {
	return isa.Instruction{Opcode: class | isa.OpMOV | isa.SrcX, Dst: dst, Src: src}
}

func movK(class, dst uint8, imm int32) isa.Instruction {
	return isa.Instruction{Opcode: class | isa.OpMOV | isa.SrcK, Dst: dst, Imm: imm}
}

func aluK(class, op, dst uint8, imm int32) isa.Instruction {
	return isa.Instruction{Opcode: class | op | isa.SrcK, Dst: dst, Imm: imm}
}

const (
	regMem = isa.R9 // the memory pointer, never written by the body
	nRegs  = 9      // r0..r8: the registers the body computes on
)

// gen holds the state of one generation.
type gen struct {
	r       *rand.Rand
	opts    Options
	callees int // number of functions called from the main function
	called  [maxCallees]bool
}

// frame describes the function being generated.
type frame struct {
	stackSize int
	hasMemory bool // r9 points to the memory (main function only)
	canCall   bool
}

// Statement kinds.
const (
	stmtLeaf = iota
	stmtIf
	stmtSkip
	stmtCall
)

// stmt is one statement of a structured block. Jumps only go forward to
// the start of a later sibling or to the end of the block, and if/else
// bodies are nested blocks, so every instruction stays reachable.
type stmt struct {
	kind    int
	insns   []isa.Instruction // stmtLeaf; stmtCall: the re-initialisation after the call
	jcc     isa.Instruction   // stmtIf, stmtSkip: offset filled in by emit
	then    []stmt            // stmtIf
	els     []stmt            // stmtIf, when hasElse
	hasElse bool
	gotol   bool // the jump over the else block is ja32 (gotol)
	skip    int  // stmtSkip: how many following siblings to skip
	callee  int  // stmtCall
}

func size(s *stmt) int {
	switch s.kind {
	case stmtIf:
		n := 1 + blockSize(s.then)
		if s.hasElse {
			n += 1 + blockSize(s.els)
		}
		return n
	case stmtSkip:
		return 1
	case stmtCall:
		return 1 + len(s.insns)
	}
	return len(s.insns)
}

func blockSize(b []stmt) int {
	n := 0
	for i := range b {
		n += size(&b[i])
	}
	return n
}

// callFixup is a call at slot pc to callee.
type callFixup struct{ pc, callee int }

func emit(out []isa.Instruction, b []stmt, calls *[]callFixup) []isa.Instruction {
	for i := range b {
		s := &b[i]
		switch s.kind {
		case stmtLeaf:
			out = append(out, s.insns...)
		case stmtSkip:
			j := s.jcc
			j.Offset = int16(blockSize(b[i+1 : min(len(b), i+1+s.skip)]))
			out = append(out, j)
		case stmtIf:
			j := s.jcc
			j.Offset = int16(blockSize(s.then))
			if s.hasElse {
				j.Offset++
			}
			out = append(out, j)
			out = emit(out, s.then, calls)
			if s.hasElse {
				n := blockSize(s.els)
				if s.gotol {
					out = append(out, isa.Instruction{Opcode: isa.OpcodeJA32, Imm: int32(n)})
				} else {
					out = append(out, isa.Instruction{Opcode: isa.OpcodeJA, Offset: int16(n)})
				}
				out = emit(out, s.els, calls)
			}
		case stmtCall:
			*calls = append(*calls, callFixup{pc: len(out), callee: s.callee})
			out = append(out, isa.Instruction{Opcode: isa.OpcodeCall, Src: isa.CallLocal})
			out = append(out, s.insns...)
		}
	}
	return out
}

// program generates the Body: entry, main function, epilogue, callees.
func (g *gen) program(bufSize int) []isa.Instruction {
	if !g.opts.NoCalls && g.r.IntN(2) == 0 {
		g.callees = 1 + g.r.IntN(maxCallees)
	}
	main := frame{stackSize: g.opts.StackSize, hasMemory: true, canCall: g.callees > 0}

	out := []isa.Instruction{movX(isa.ClassALU64, regMem, isa.R1)}
	out = append(out, g.initRegs(0, 1, 2, 3, 4, 5, 6, 7, 8)...)
	out = append(out, g.initStack(main.stackSize)...)
	body := g.block(main, g.opts.Insns, 0)
	for c := range g.callees {
		if !g.called[c] {
			// An uncalled function would be unreachable code.
			body = append(body, g.call(c))
		}
	}
	var calls []callFixup
	out = emit(out, body, &calls)
	for i := uint8(0); i < nRegs; i++ {
		out = append(out, isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | isa.SizeDW, Dst: regMem, Src: i, Offset: int16(bufSize + 8*int(i))})
	}
	out = append(out, isa.Instruction{Opcode: isa.OpcodeExit})

	callee := frame{stackSize: calleeStackSize}
	starts := make([]int, g.callees)
	for c := range starts {
		starts[c] = len(out)
		// r1-r5 are the arguments; r0 and r6-r8 are the callee's own. The
		// caller's r6-r9 must survive the callee writing its own.
		out = append(out, g.initRegs(0, 6, 7, 8)...)
		out = append(out, g.initStack(callee.stackSize)...)
		out = emit(out, g.block(callee, 4+g.r.IntN(max(1, g.opts.Insns/4)), 0), nil)
		out = append(out, isa.Instruction{Opcode: isa.OpcodeExit})
	}
	for _, c := range calls {
		out[c.pc].Imm = int32(starts[c.callee] - (c.pc + 1))
	}
	return out
}

// block generates statements worth about budget instructions.
func (g *gen) block(f frame, budget, depth int) []stmt {
	var b []stmt
	for budget > 0 {
		var s stmt
		switch k := g.r.IntN(100); {
		case k < 12 && depth < g.opts.MaxDepth && budget >= 3:
			s.kind = stmtIf
			s.jcc = g.condJump()
			s.then = g.block(f, 1+g.r.IntN(budget/2+1), depth+1)
			if g.r.IntN(2) == 0 {
				s.hasElse = true
				s.gotol = g.r.IntN(3) == 0
				s.els = g.block(f, 1+g.r.IntN(budget/2+1), depth+1)
			}
		case k < 20:
			s.kind = stmtSkip
			s.jcc = g.condJump()
			s.skip = 1 + g.r.IntN(3)
		case k < 24 && f.canCall:
			s = g.call(g.r.IntN(g.callees))
		default:
			s.kind = stmtLeaf
			s.insns = g.leaf(f)
		}
		budget -= size(&s)
		b = append(b, s)
	}
	return b
}

// call returns a call of callee followed by the re-initialisation of the
// registers the call clobbered, r1-r5.
func (g *gen) call(callee int) stmt {
	g.called[callee] = true
	return stmt{kind: stmtCall, callee: callee, insns: g.initRegs(1, 2, 3, 4, 5)}
}

func (g *gen) reg() uint8 { return uint8(g.r.IntN(nRegs)) }

// initRegs gives each register a random value.
func (g *gen) initRegs(regs ...uint8) []isa.Instruction {
	var out []isa.Instruction
	for _, r := range regs {
		switch g.r.IntN(3) {
		case 0:
			l := isa.LDDW(r, g.imm64())
			out = append(out, l[0], l[1])
		case 1:
			out = append(out, movK(isa.ClassALU, r, g.imm32()))
		default:
			out = append(out, movK(isa.ClassALU64, r, g.imm32()))
		}
	}
	return out
}

// initStack writes every byte of the top n bytes of the frame's stack.
func (g *gen) initStack(n int) []isa.Instruction {
	var out []isa.Instruction
	for off := -n; off < 0; off += 8 {
		if g.r.IntN(2) == 0 {
			out = append(out, isa.Instruction{Opcode: isa.ClassST | isa.ModeMEM | isa.SizeDW, Dst: isa.R10, Offset: int16(off), Imm: g.imm32()})
		} else {
			out = append(out, isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | isa.SizeDW, Dst: isa.R10, Src: g.reg(), Offset: int16(off)})
		}
	}
	return out
}

var interesting32 = []int32{
	0, 1, -1, 2, -2, 3, 7, 8, 15, 16, 31, 32, 33, 63, 64, 0x7f, 0x80, 0xff, 0x100,
	0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, -0x80000000, -0x80, -0x8000, -0x7fffffff,
}

var interesting64 = []uint64{
	0, 1, 1<<64 - 1, 1 << 63, 1<<63 - 1, 0xffffffff, 1 << 32, 0xffffffff80000000,
	0x7fffffff, 0x80000000, 0x8000000000000001, 0xff, 0xffff, 0x0123456789abcdef,
}

func (g *gen) imm32() int32 {
	switch g.r.IntN(4) {
	case 0:
		return interesting32[g.r.IntN(len(interesting32))]
	case 1:
		return int32(g.r.IntN(33)) - 16
	default:
		return int32(g.r.Uint32())
	}
}

func (g *gen) imm64() uint64 {
	switch g.r.IntN(3) {
	case 0:
		return interesting64[g.r.IntN(len(interesting64))]
	case 1:
		return uint64(int64(g.imm32()))
	default:
		return g.r.Uint64()
	}
}

// leaf generates one straight-line operation of one to three instructions.
func (g *gen) leaf(f frame) []isa.Instruction {
	for {
		switch k := g.r.IntN(100); {
		case k < 45:
			return []isa.Instruction{g.alu()}
		case k < 50:
			l := isa.LDDW(g.reg(), g.imm64())
			return l[:]
		case k < 62 && f.hasMemory:
			return []isa.Instruction{g.memLoad(regMem, 0, f)}
		case k < 72 && f.hasMemory:
			return []isa.Instruction{g.memStore(regMem, 0, f)}
		case k < 80:
			return []isa.Instruction{g.memLoad(isa.R10, f.stackSize, f)}
		case k < 88:
			return []isa.Instruction{g.memStore(isa.R10, f.stackSize, f)}
		case k >= 88:
			return g.atomic(f)
		}
	}
}

var aluOps = []uint8{
	isa.OpADD, isa.OpSUB, isa.OpMUL, isa.OpDIV, isa.OpOR, isa.OpAND, isa.OpLSH, isa.OpRSH,
	isa.OpNEG, isa.OpMOD, isa.OpXOR, isa.OpMOV, isa.OpARSH, isa.OpEND,
}

// alu generates one ALU or ALU64 instruction on r0..r8.
func (g *gen) alu() isa.Instruction {
	class := isa.ClassALU64
	width := int32(64)
	if g.r.IntN(2) == 0 {
		class, width = isa.ClassALU, 32
	}
	op := aluOps[g.r.IntN(len(aluOps))]
	ins := isa.Instruction{Opcode: class | op, Dst: g.reg()}
	regSrc := g.r.IntN(2) == 0
	switch op {
	case isa.OpNEG:
		return ins
	case isa.OpEND:
		ins.Imm = []int32{16, 32, 64}[g.r.IntN(3)]
		if class == isa.ClassALU && g.r.IntN(2) == 0 {
			ins.Opcode |= isa.SrcX // to big endian
		}
		return ins
	case isa.OpDIV, isa.OpMOD:
		ins.Offset = int16(g.r.IntN(2)) // 1: signed
		if !regSrc {
			// The verifier refuses a division by the constant zero.
			for ins.Imm == 0 {
				ins.Imm = g.imm32()
			}
			return ins
		}
	case isa.OpLSH, isa.OpRSH, isa.OpARSH:
		if !regSrc {
			ins.Imm = g.r.Int32N(width)
			return ins
		}
	case isa.OpMOV:
		if regSrc && g.r.IntN(2) == 0 {
			// movsx
			if class == isa.ClassALU64 {
				ins.Offset = []int16{8, 16, 32}[g.r.IntN(3)]
			} else {
				ins.Offset = []int16{8, 16}[g.r.IntN(2)]
			}
		}
	}
	if regSrc {
		ins.Opcode |= isa.SrcX
		ins.Src = g.reg()
	} else {
		ins.Imm = g.imm32()
	}
	return ins
}

var sizes = []uint8{isa.SizeB, isa.SizeH, isa.SizeW, isa.SizeDW}

// offset returns a constant offset for an access of n bytes: anywhere in
// the buffer from base r9, or n-aligned in the top stackSize bytes of the
// frame from base r10 (the verifier insists on aligned stack accesses).
func (g *gen) offset(base uint8, stackSize, n int) int16 {
	if base == isa.R10 {
		return int16(-n * (1 + g.r.IntN(stackSize/n)))
	}
	return int16(g.r.IntN(g.opts.BufSize - n + 1))
}

func (g *gen) memLoad(base uint8, stackSize int, f frame) isa.Instruction {
	size := sizes[g.r.IntN(4)]
	mode := isa.ModeMEM
	if size != isa.SizeDW && g.r.IntN(2) == 0 {
		mode = isa.ModeMEMSX
	}
	return isa.Instruction{Opcode: isa.ClassLDX | mode | size, Dst: g.reg(), Src: base, Offset: g.offset(base, stackSize, isa.SizeBytes(size))}
}

func (g *gen) memStore(base uint8, stackSize int, f frame) isa.Instruction {
	size := sizes[g.r.IntN(4)]
	off := g.offset(base, stackSize, isa.SizeBytes(size))
	if g.r.IntN(3) == 0 {
		return isa.Instruction{Opcode: isa.ClassST | isa.ModeMEM | size, Dst: base, Offset: off, Imm: g.imm32()}
	}
	return isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | size, Dst: base, Src: g.reg(), Offset: off}
}

var atomicOps = []int32{
	isa.AtomicADD, isa.AtomicOR, isa.AtomicAND, isa.AtomicXOR,
	isa.AtomicADD | isa.AtomicFETCH, isa.AtomicOR | isa.AtomicFETCH,
	isa.AtomicAND | isa.AtomicFETCH, isa.AtomicXOR | isa.AtomicFETCH,
	isa.AtomicXCHG, isa.AtomicCMPXCHG,
}

// atomic generates an atomic operation on the stack, for cmpxchg sometimes
// preceded by a load of the old value into r0 so the exchange succeeds.
func (g *gen) atomic(f frame) []isa.Instruction {
	size := isa.SizeW
	if g.r.IntN(2) == 0 {
		size = isa.SizeDW
	}
	op := atomicOps[g.r.IntN(len(atomicOps))]
	off := g.offset(isa.R10, f.stackSize, isa.SizeBytes(size))
	ins := isa.Instruction{Opcode: isa.ClassSTX | isa.ModeATOMIC | size, Dst: isa.R10, Src: g.reg(), Offset: off, Imm: op}
	if op == isa.AtomicCMPXCHG && g.r.IntN(2) == 0 {
		return []isa.Instruction{{Opcode: isa.ClassLDX | isa.ModeMEM | size, Dst: isa.R0, Src: isa.R10, Offset: off}, ins}
	}
	return []isa.Instruction{ins}
}

var jumpOps = []uint8{
	isa.OpJEQ, isa.OpJGT, isa.OpJGE, isa.OpJSET, isa.OpJNE, isa.OpJSGT, isa.OpJSGE,
	isa.OpJLT, isa.OpJLE, isa.OpJSLT, isa.OpJSLE,
}

// condJump returns a conditional jump on r0..r8; emit sets its offset.
func (g *gen) condJump() isa.Instruction {
	class := isa.ClassJMP
	if g.r.IntN(2) == 0 {
		class = isa.ClassJMP32
	}
	ins := isa.Instruction{Opcode: class | jumpOps[g.r.IntN(len(jumpOps))], Dst: g.reg()}
	if g.r.IntN(2) == 0 {
		ins.Opcode |= isa.SrcX
		ins.Src = g.reg()
	} else {
		ins.Imm = g.imm32()
	}
	return ins
}
