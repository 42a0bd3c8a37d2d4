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
//   - The body never writes r9 (the memory pointer). Pointers appear in
//     r0..r8 only inside short units that compute one (r9 or r10 plus a
//     constant, or r10 plus a masked register: a variable offset the
//     verifier bounds), load or store through it once and overwrite it, so
//     no address reaches arithmetic, a comparison or the epilogue.
//   - r0 to r8 are initialised before the body, and r1 to r5 again after
//     each call, so no register is read uninitialised.
//   - Loads and stores use r9 with constant offsets inside the buffer, which
//     the prologue's length check proves in range, or the stack, aligned to
//     the access size, inside a stack area every byte of which is written
//     before the body.
//   - Atomics operate on the stack only (the kernel refuses them on packet
//     memory).
//   - Division and modulo by an immediate never divide by zero; by a
//     register they may, which is defined (the result is 0, or the dividend
//     for modulo). Shifts by an immediate stay within the operand width;
//     shifts by a register are masked, which is defined.
//   - Jumps go forward, except the latches of the opt-in counted loops, so
//     programs terminate; code is laid out as nested if/else blocks, loops
//     and forward skips between sibling statements, so every instruction is
//     reachable (the verifier refuses unreachable code).
//   - Called functions (bpf-to-bpf calls) compute on their arguments r1-r5
//     and registers they initialise themselves, on their own small stack;
//     some receive in r1 a pointer into the caller's stack, which they only
//     load and store through.
//
// # Kernel verifier bugs the generator steers clear of
//
// Linux 6.18 runs some valid programs differently from the instruction set's
// semantics, because its verifier learns something false and removes code or
// a zero-extension on the strength of it. The generator avoids the shapes
// that trigger the bugs the differential tests found (the comments at each
// avoidance say more; interp's TestKnownKernelBugs pins them down):
//
//   - precision tracking ignores atomic fetches from the stack: atomics use
//     an area of the stack only atomics write, whose contents the verifier
//     never knows (initStack);
//   - the zero-extension of r0 after a 32-bit cmpxchg is lost when its
//     64-bit use is only on a pruned path: r0 is used as 64 bits right after
//     (atomic);
//   - scalar += r10 keeps the scalar's stale frame number: variable stack
//     offsets are added as pointer += scalar (pointerAccess).
package progen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

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
	// multiple of 8, from 16 to 256. Default 64. The lower half (rounded
	// down to a multiple of 8) is written only by atomic operations.
	StackSize int
	// MaxDepth bounds the nesting of if/else blocks. Default 3.
	MaxDepth int
	// NoCalls disables bpf-to-bpf calls.
	NoCalls bool
	// Loops adds counted loops, the only backward jumps: a counter in
	// r6..r8 (which the loop body never writes, and calls preserve) set to
	// 1..4, decremented after the body, and `if counter != 0 goto body`.
	Loops bool
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
		return o, fmt.Errorf("Insns %d is outside 1..%d", o.Insns, maxInsns)
	case o.BufSize < 8 || o.BufSize > maxBufSize || o.BufSize%8 != 0:
		return o, fmt.Errorf("BufSize %d is not a multiple of 8 in 8..%d", o.BufSize, maxBufSize)
	case o.StackSize < 16 || o.StackSize > maxStackSize || o.StackSize%8 != 0:
		return o, fmt.Errorf("StackSize %d is not a multiple of 8 in 16..%d", o.StackSize, maxStackSize)
	case o.MaxDepth < 0 || o.MaxDepth > 16:
		return o, fmt.Errorf("MaxDepth %d is outside 0..16", o.MaxDepth)
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

	// setup marks the Body slots that initialise registers and stack; nil
	// when unknown.
	setup []bool
	// units are [start, end) slot ranges of Body that Minimize must remove
	// whole or not at all.
	units [][2]int
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
	g.program(p)
	prologue := Prologue(memSize)
	p.PrologueLen = len(prologue)
	p.Kernel = append(prologue, p.Body...)
	return p, nil
}

// Wrap turns handwritten code into a Program of the same shape as the
// generated ones, over a buffer with the initial contents buf (a length
// that is a multiple of 8, from 8 to 2048 bytes). The Body zeroes r0..r8,
// runs code with r9 pointing to the buffer, then stores r0..r8 in the
// register area and exits. code must not write r9 and must end by falling
// through (or jumping to the slot just after it); it must write any stack
// bytes it reads.
func Wrap(code []isa.Instruction, buf []byte) (*Program, error) {
	if len(buf) < 8 || len(buf) > maxBufSize || len(buf)%8 != 0 {
		return nil, fmt.Errorf("%w: the buffer is %d bytes, not a multiple of 8 in 8..%d", ErrOptions, len(buf), maxBufSize)
	}
	body := []isa.Instruction{movX(isa.ClassALU64, regMem, isa.R1)}
	for r := uint8(0); r < nRegs; r++ {
		body = append(body, movK(isa.ClassALU64, r, 0))
	}
	setup := [][2]int{{0, len(body)}}
	body = append(body, code...)
	body = appendEpilogue(body, len(buf))
	p := &Program{
		setup:      setupMask(len(body), setup),
		BufSize:    len(buf),
		RegsOffset: len(buf),
		Memory:     make([]byte, len(buf)+8*NumSavedRegisters),
		Body:       body,
	}
	copy(p.Memory, buf)
	prologue := Prologue(len(p.Memory))
	p.PrologueLen = len(prologue)
	p.Kernel = append(prologue, body...)
	return p, nil
}

// appendEpilogue appends the stores of r0..r8 to the register area at
// regsOffset and the exit.
func appendEpilogue(out []isa.Instruction, regsOffset int) []isa.Instruction {
	for i := uint8(0); i < nRegs; i++ {
		out = append(out, isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | isa.SizeDW, Dst: regMem, Src: i, Offset: int16(regsOffset + 8*int(i))})
	}
	return append(out, isa.Instruction{Opcode: isa.OpcodeExit})
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
	// argOff[c] is, when nonzero, the offset from the main function's r10
	// of the pointer passed in r1 to callee c.
	argOff [maxCallees]int
	// regs are the registers the function being generated computes on.
	regs   []uint8
	inLoop bool // loops do not nest: the verifier walks every iteration
}

// frame describes the function being generated.
type frame struct {
	stackSize int
	// atomicSize bytes at the bottom of the stack area, [-stackSize,
	// -stackSize+atomicSize), are the atomic area (see initStack).
	atomicSize int
	hasMemory  bool // r9 points to the memory (main function only)
	canCall    bool
	// argPtr: r1 points into the caller's stack, and accesses through it
	// may use offsets in [argLo, argHi) (a called function whose caller
	// passed a pointer to its stack). r1 is then never written or used as
	// a number.
	argPtr       bool
	argLo, argHi int
}

// Statement kinds.
const (
	stmtLeaf = iota
	stmtIf
	stmtSkip
	stmtCall
	stmtLoop
)

// stmt is one statement of a structured block. Jumps only go forward to
// the start of a later sibling or to the end of the block, except a loop's
// latch back to the start of its body, and if/else and loop bodies are
// nested blocks, so every instruction stays reachable.
type stmt struct {
	kind    int
	insns   []isa.Instruction // stmtLeaf; stmtCall: the re-initialisation after the call
	jcc     isa.Instruction   // stmtIf, stmtSkip: offset filled in by emit
	then    []stmt            // stmtIf
	els     []stmt            // stmtIf, when hasElse
	hasElse bool
	gotol   bool              // the jump over the else block is ja32 (gotol)
	skip    int               // stmtSkip: how many following siblings to skip
	callee  int               // stmtCall
	pre     []isa.Instruction // stmtCall: set-up of r1 before the call
	counter uint8             // stmtLoop: the counter register
	trips   int32             // stmtLoop: the number of iterations
	body    []stmt            // stmtLoop
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
		return len(s.pre) + 1 + len(s.insns)
	case stmtLoop:
		return 1 + blockSize(s.body) + 2
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

// emitter lays out statements.
type emitter struct {
	out   []isa.Instruction
	calls []callFixup
	// units are the slot ranges of multi-instruction leaves, which only
	// make sense whole (a pointer computed, used and overwritten), and of
	// calls with the set-up of their pointer argument: Minimize removes
	// them together or not at all.
	units [][2]int
	// keep are slot ranges Minimize must not remove.
	keep [][2]int
}

func (e *emitter) block(b []stmt) {
	for i := range b {
		s := &b[i]
		switch s.kind {
		case stmtLeaf:
			if len(s.insns) > 1 && !(len(s.insns) == 2 && s.insns[0].IsLDDW()) {
				e.units = append(e.units, [2]int{len(e.out), len(e.out) + len(s.insns)})
			}
			e.out = append(e.out, s.insns...)
		case stmtSkip:
			j := s.jcc
			j.Offset = int16(blockSize(b[i+1 : min(len(b), i+1+s.skip)]))
			e.out = append(e.out, j)
		case stmtIf:
			j := s.jcc
			j.Offset = int16(blockSize(s.then))
			if s.hasElse {
				j.Offset++
			}
			e.out = append(e.out, j)
			e.block(s.then)
			if s.hasElse {
				n := blockSize(s.els)
				if s.gotol {
					e.out = append(e.out, isa.Instruction{Opcode: isa.OpcodeJA32, Imm: int32(n)})
				} else {
					e.out = append(e.out, isa.Instruction{Opcode: isa.OpcodeJA, Offset: int16(n)})
				}
				e.block(s.els)
			}
		case stmtLoop:
			// Minimize must keep the loop control, or the loop could run
			// for ever (or for the counter's previous value of trips).
			e.keep = append(e.keep, [2]int{len(e.out), len(e.out) + 1})
			e.out = append(e.out, movK(isa.ClassALU64, s.counter, s.trips))
			e.block(s.body)
			e.keep = append(e.keep, [2]int{len(e.out), len(e.out) + 2})
			e.out = append(e.out,
				aluK(isa.ClassALU64, isa.OpADD, s.counter, -1),
				isa.Instruction{Opcode: isa.ClassJMP | isa.OpJNE | isa.SrcK, Dst: s.counter, Offset: int16(-(blockSize(s.body) + 2))})
		case stmtCall:
			if len(s.pre) > 0 {
				e.units = append(e.units, [2]int{len(e.out), len(e.out) + len(s.pre) + 1})
			}
			e.out = append(e.out, s.pre...)
			e.calls = append(e.calls, callFixup{pc: len(e.out), callee: s.callee})
			e.out = append(e.out, isa.Instruction{Opcode: isa.OpcodeCall, Src: isa.CallLocal})
			e.out = append(e.out, s.insns...)
		}
	}
}

// program generates the Body (entry, main function, epilogue, callees) and
// fills in p's layout information for Minimize: which slots set up
// registers and stack, and so must stay for the program to remain defined,
// and which slot ranges are indivisible.
func (g *gen) program(p *Program) {
	if !g.opts.NoCalls && g.r.IntN(2) == 0 {
		g.callees = 1 + g.r.IntN(maxCallees)
	}
	main := frame{stackSize: g.opts.StackSize, atomicSize: g.opts.StackSize / 16 * 8, hasMemory: true, canCall: g.callees > 0}
	plainLo := -main.stackSize + main.atomicSize // the main function's plain stack area is [plainLo, 0)
	for c := range g.callees {
		if g.r.IntN(2) == 0 {
			// A pointer to an 8-byte boundary in the plain area, or just
			// past its end.
			g.argOff[c] = plainLo + 8*g.r.IntN(-plainLo/8+1)
			if g.argOff[c] == 0 {
				g.argOff[c] = plainLo
			}
		}
	}
	g.regs = allRegs

	e := &emitter{out: []isa.Instruction{movX(isa.ClassALU64, regMem, isa.R1)}}
	e.out = append(e.out, g.initRegs(0, 1, 2, 3, 4, 5, 6, 7, 8)...)
	e.out = append(e.out, g.initStack(main)...)
	setup := [][2]int{{0, len(e.out)}}
	body := g.block(main, g.opts.Insns, 0)
	for c := range g.callees {
		if !g.called[c] {
			// An uncalled function would be unreachable code.
			body = append(body, g.call(c))
		}
	}
	e.block(body)
	e.out = appendEpilogue(e.out, p.BufSize)

	starts := make([]int, g.callees)
	for c := range starts {
		callee := frame{stackSize: calleeStackSize, atomicSize: calleeStackSize / 2}
		g.regs = allRegs
		if off := g.argOff[c]; off != 0 {
			// Accesses through r1 reach the caller's plain area only.
			callee.argPtr, callee.argLo, callee.argHi = true, plainLo-off, -off
			g.regs = regsButR1
		}
		starts[c] = len(e.out)
		// r1-r5 are the arguments; r0 and r6-r8 are the callee's own. The
		// caller's r6-r9 must survive the callee writing its own.
		e.out = append(e.out, g.initRegs(0, 6, 7, 8)...)
		e.out = append(e.out, g.initStack(callee)...)
		setup = append(setup, [2]int{starts[c], len(e.out)})
		e.block(g.block(callee, 4+g.r.IntN(max(1, g.opts.Insns/4)), 0))
		e.out = append(e.out, isa.Instruction{Opcode: isa.OpcodeExit})
	}
	for _, c := range e.calls {
		e.out[c.pc].Imm = int32(starts[c.callee] - (c.pc + 1))
	}
	p.Body = e.out
	p.setup = setupMask(len(e.out), append(setup, e.keep...))
	p.units = e.units
}

// setupMask marks the slots of the given [start, end) ranges.
func setupMask(n int, ranges [][2]int) []bool {
	m := make([]bool, n)
	for _, r := range ranges {
		for i := r[0]; i < r[1]; i++ {
			m[i] = true
		}
	}
	return m
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
		case k < 28 && g.opts.Loops && !g.inLoop && depth < g.opts.MaxDepth && budget >= 4:
			s = g.loop(f, budget, depth)
		default:
			s.kind = stmtLeaf
			s.insns = g.leaf(f)
		}
		budget -= size(&s)
		b = append(b, s)
	}
	return b
}

// loop returns a counted loop: the verifier follows each of its 1..4
// iterations, so its body is short and loops do not nest.
func (g *gen) loop(f frame, budget, depth int) stmt {
	s := stmt{kind: stmtLoop, counter: uint8(6 + g.r.IntN(3)), trips: 1 + g.r.Int32N(4)}
	saved := g.regs
	g.regs = slices.DeleteFunc(slices.Clone(saved), func(r uint8) bool { return r == s.counter })
	g.inLoop = true
	s.body = g.block(f, 1+g.r.IntN(min(8, budget/2)), depth+1)
	g.inLoop = false
	g.regs = saved
	return s
}

// call returns a call of callee followed by the re-initialisation of the
// registers the call clobbered, r1-r5.
func (g *gen) call(callee int) stmt {
	g.called[callee] = true
	s := stmt{kind: stmtCall, callee: callee, insns: g.initRegs(1, 2, 3, 4, 5)}
	if off := g.argOff[callee]; off != 0 {
		s.pre = []isa.Instruction{movX(isa.ClassALU64, isa.R1, isa.R10), aluK(isa.ClassALU64, isa.OpADD, isa.R1, int32(off))}
	}
	return s
}

var (
	allRegs   = []uint8{0, 1, 2, 3, 4, 5, 6, 7, 8}
	regsButR1 = []uint8{0, 2, 3, 4, 5, 6, 7, 8}
)

// reg returns a register the current function computes on.
func (g *gen) reg() uint8 { return g.regs[g.r.IntN(len(g.regs))] }

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

// initStack writes every byte of the frame's stack area. The plain part
// gets constants; each slot of the atomic area gets a constant and then an
// atomic add, after which the verifier knows nothing about its value.
//
// Why: the kernel's precision backtracking (backtrack_insn, Linux 6.18)
// treats an atomic fetch from the stack as a store, not as a load into the
// fetching register, so a stack slot holding a constant the verifier knows
// is not marked precise when a branch depends on the fetched value. A path
// on which an atomic changed the slot can then be pruned against one on
// which it did not, and the branch "proven" one-way is rewritten by dead
// code elimination: the kernel then runs a different program. Keeping the
// atomic area unknown to the verifier on every path avoids the bug, so the
// differential tests compare semantics, not verifier soundness.
func (g *gen) initStack(f frame) []isa.Instruction {
	var out []isa.Instruction
	for off := -f.stackSize; off < 0; off += 8 {
		if off < -f.stackSize+f.atomicSize {
			out = append(out,
				isa.Instruction{Opcode: isa.ClassST | isa.ModeMEM | isa.SizeDW, Dst: isa.R10, Offset: int16(off), Imm: g.imm32()},
				isa.Instruction{Opcode: isa.ClassSTX | isa.ModeATOMIC | isa.SizeDW, Dst: isa.R10, Src: g.reg(), Offset: int16(off), Imm: isa.AtomicADD})
		} else if g.r.IntN(2) == 0 {
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
		case k < 60 && f.argPtr:
			return []isa.Instruction{g.callerAccess(f, false)}
		case k < 69 && f.argPtr:
			return []isa.Instruction{g.callerAccess(f, true)}
		case k < 60 && f.hasMemory:
			return []isa.Instruction{g.memLoad(regMem, f)}
		case k < 69 && f.hasMemory:
			return []isa.Instruction{g.memStore(regMem, f)}
		case k < 76:
			return []isa.Instruction{g.memLoad(isa.R10, f)}
		case k < 83:
			return []isa.Instruction{g.memStore(isa.R10, f)}
		case k < 90:
			if ins := g.pointerAccess(f); ins != nil {
				return ins
			}
		default:
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

// bufOffset returns an offset from r9 for an access of n bytes anywhere
// in the buffer.
func (g *gen) bufOffset(n int) int16 {
	return int16(g.r.IntN(g.opts.BufSize - n + 1))
}

// stackOffset returns an offset from r10 for an access of n bytes, aligned
// to n (the verifier insists on aligned stack accesses), within [lo, hi).
func (g *gen) stackOffset(lo, hi, n int) int16 {
	return int16(lo + n*g.r.IntN((hi-lo)/n))
}

// memLoad loads from the buffer or from anywhere in the frame's stack area.
func (g *gen) memLoad(base uint8, f frame) isa.Instruction {
	size := sizes[g.r.IntN(4)]
	mode := isa.ModeMEM
	if size != isa.SizeDW && g.r.IntN(2) == 0 {
		mode = isa.ModeMEMSX
	}
	n := isa.SizeBytes(size)
	off := g.bufOffset(n)
	if base == isa.R10 {
		off = g.stackOffset(-f.stackSize, 0, n)
	}
	return isa.Instruction{Opcode: isa.ClassLDX | mode | size, Dst: g.reg(), Src: base, Offset: off}
}

// callerAccess loads from or stores to the caller's plain stack area
// through the pointer the caller passed in r1.
func (g *gen) callerAccess(f frame, store bool) isa.Instruction {
	size := sizes[g.r.IntN(4)]
	n := isa.SizeBytes(size)
	off := g.stackOffset(f.argLo, f.argHi, n)
	switch {
	case !store:
		mode := isa.ModeMEM
		if size != isa.SizeDW && g.r.IntN(2) == 0 {
			mode = isa.ModeMEMSX
		}
		return isa.Instruction{Opcode: isa.ClassLDX | mode | size, Dst: g.reg(), Src: isa.R1, Offset: off}
	case g.r.IntN(3) == 0:
		return isa.Instruction{Opcode: isa.ClassST | isa.ModeMEM | size, Dst: isa.R1, Offset: off, Imm: g.imm32()}
	default:
		return isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | size, Dst: isa.R1, Src: g.reg(), Offset: off}
	}
}

// memStore stores to the buffer or to the plain part of the stack area.
func (g *gen) memStore(base uint8, f frame) isa.Instruction {
	size := sizes[g.r.IntN(4)]
	n := isa.SizeBytes(size)
	off := g.bufOffset(n)
	if base == isa.R10 {
		off = g.stackOffset(-f.stackSize+f.atomicSize, 0, n)
	}
	if g.r.IntN(3) == 0 {
		return isa.Instruction{Opcode: isa.ClassST | isa.ModeMEM | size, Dst: base, Offset: off, Imm: g.imm32()}
	}
	return isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | size, Dst: base, Src: g.reg(), Offset: off}
}

// pointerAccess computes a pointer into a scratch register, accesses
// memory through it and turns the register back into a number (the loaded
// value, or an immediate after a store), so no address ever reaches the
// epilogue. The pointer is the buffer or the frame plus a constant, or the
// frame plus a masked register (a variable offset the verifier bounds). It
// returns nil when the frame has no room for the chosen access.
func (g *gen) pointerAccess(f frame) []isa.Instruction {
	t := g.reg()
	size := sizes[g.r.IntN(4)]
	n := isa.SizeBytes(size)
	store := g.r.IntN(2) == 0
	// The stack region the access may touch: stores stay out of the
	// atomic area (see initStack).
	lo := -f.stackSize
	if store {
		lo += f.atomicSize
	}
	var out []isa.Instruction
	var tail []isa.Instruction // overwrites a second scratch register at the end
	var off int16
	switch kind := g.r.IntN(3); {
	case kind == 0 && f.hasMemory:
		// r9 + k, then a constant offset that may be negative: only the
		// sum must lie in the buffer.
		total := int(g.bufOffset(n))
		k := g.r.IntN(g.opts.BufSize + 1)
		out = append(out, movX(isa.ClassALU64, t, regMem), aluK(isa.ClassALU64, isa.OpADD, t, int32(k)))
		off = int16(total - k)
	case kind == 1:
		total := int(g.stackOffset(lo, 0, n))
		k := -g.r.IntN(f.stackSize + 1)
		out = append(out, movX(isa.ClassALU64, t, isa.R10), aluK(isa.ClassALU64, isa.OpADD, t, int32(k)))
		off = int16(total - k)
	default:
		// r10 + (rA & mask) + off: mask keeps the index a multiple of n
		// (the verifier checks stack alignment on the variable part too)
		// and below the largest power of two that fits the region.
		region := -lo
		p := 8
		for p*2 <= region {
			p *= 2
		}
		if p < n {
			return nil
		}
		mask := int32((p - 1) &^ (n - 1))
		start := lo + 8*g.r.IntN((region-p)/8+1)
		// pointer += scalar, with the index in a second scratch register.
		// Why not scalar += pointer: for that form the kernel verifier
		// keeps the frame number the scalar register happened to hold
		// (adjust_ptr_min_max_vals copies the pointer's type but not its
		// frameno; Linux 6.18), so it tracks some other frame's stack,
		// may remove code on the strength of values from it, and can take
		// minutes to verify the program.
		a := g.reg()
		i := g.reg()
		for i == t {
			i = g.reg()
		}
		out = append(out,
			movX(isa.ClassALU64, i, a),
			aluK(isa.ClassALU64, isa.OpAND, i, mask),
			movX(isa.ClassALU64, t, isa.R10),
			isa.Instruction{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcX, Dst: t, Src: i})
		tail = append(tail, movK(isa.ClassALU64, i, g.imm32()))
		off = int16(start)
	}
	if !store {
		mode := isa.ModeMEM
		if size != isa.SizeDW && g.r.IntN(2) == 0 {
			mode = isa.ModeMEMSX
		}
		out = append(out, isa.Instruction{Opcode: isa.ClassLDX | mode | size, Dst: t, Src: t, Offset: off})
		return append(out, tail...)
	}
	if g.r.IntN(3) == 0 {
		out = append(out, isa.Instruction{Opcode: isa.ClassST | isa.ModeMEM | size, Dst: t, Offset: off, Imm: g.imm32()})
	} else {
		src := g.reg()
		for src == t {
			src = g.reg()
		}
		out = append(out, isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | size, Dst: t, Src: src, Offset: off})
	}
	out = append(out, movK(isa.ClassALU64, t, g.imm32()))
	return append(out, tail...)
}

var atomicOps = []int32{
	isa.AtomicADD, isa.AtomicOR, isa.AtomicAND, isa.AtomicXOR,
	isa.AtomicADD | isa.AtomicFETCH, isa.AtomicOR | isa.AtomicFETCH,
	isa.AtomicAND | isa.AtomicFETCH, isa.AtomicXOR | isa.AtomicFETCH,
	isa.AtomicXCHG, isa.AtomicCMPXCHG,
}

// atomic generates an atomic operation on the atomic area of the stack
// (see initStack), for cmpxchg sometimes
// preceded by a load of the old value into r0 so the exchange succeeds.
func (g *gen) atomic(f frame) []isa.Instruction {
	size := isa.SizeW
	if g.r.IntN(2) == 0 {
		size = isa.SizeDW
	}
	op := atomicOps[g.r.IntN(len(atomicOps))]
	off := g.stackOffset(-f.stackSize, -f.stackSize+f.atomicSize, isa.SizeBytes(size))
	ins := isa.Instruction{Opcode: isa.ClassSTX | isa.ModeATOMIC | size, Dst: isa.R10, Src: g.reg(), Offset: off, Imm: op}
	var out []isa.Instruction
	if op == isa.AtomicCMPXCHG && g.r.IntN(2) == 0 {
		out = append(out, isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEM | size, Dst: isa.R0, Src: isa.R10, Offset: off})
	}
	out = append(out, ins)
	if op == isa.AtomicCMPXCHG && size == isa.SizeW {
		// Why: on x86-64 a successful cmpxchg leaves the upper half of
		// rax alone, so the kernel zero-extends r0 after a 32-bit cmpxchg
		// only where its verifier sees r0 used as 64 bits; a use reached
		// only on a path it pruned is missed (Linux 6.18), and r0 keeps
		// its old upper half. A 64-bit use right away gets the
		// zero-extension emitted while still checking it in every engine.
		out = append(out, aluK(isa.ClassALU64, isa.OpADD, isa.R0, g.imm32()))
	}
	return out
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
