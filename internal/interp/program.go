package interp

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// Options configure a Program.
type Options struct {
	// Helpers are the helper functions the program may call, by id.
	Helpers engine.Helpers
	// Budget is the number of instructions one run may execute;
	// 0 means engine.DefaultBudget.
	Budget uint64
	// Inline describes the maps (and helpers) the interpreter may run
	// without calling the helper (see engine.Inline).
	Inline engine.Inline
}

// ErrUnsupported is wrapped by load errors for instructions the interpreter
// cannot run without help from a loader (map references, kfunc calls).
var ErrUnsupported = errors.New("unsupported instruction")

// Program is a loaded, pre-decoded program. It is immutable and safe for
// concurrent use by many VMs.
type Program struct {
	insns []isa.Instruction // the original slots, for error messages
	code  []op              // one decoded operation per slot, pairs fused (fuse.go)
	plain []op              // the same without fusion: one instruction per op
	segs  []uint32          // budget cost of the segment starting at each slot (see inner)
	// codeP and segsP point to code[0] and segs[0]: inner's arguments.
	codeP, segsP unsafe.Pointer
	helpers      []engine.Helper // static helper calls index this slice
	byID         engine.Helpers  // callx looks ids up here (a private copy)
	budget       uint64
	inline       []engine.InlineMap // the maps of Options.Inline (mapops.go)
	chains       []chainInfo        // lookup groups that run as chains (fuse.go: chainGroups)
	// pure: the program only computes on registers and reads the packet
	// with legacy loads (no other memory, no calls) and never jumps
	// backwards, so a run has no effect but its result and executes at
	// most len(code) instructions. Classic filters translate to such
	// programs; RunWithPacket runs them without the run set-up.
	pure bool
	// entryClean: the program cannot read a register before writing it
	// but r1, r2 and r10, which a run sets (isa.CheckInitialized), so a
	// fast-path run needs not clear the others (VM.regs).
	entryClean bool
	// bare: pure, without legacy packet loads, and reads no register
	// before writing it but r10: a run depends on nothing but the code,
	// so VM.RunBare runs it without any input.
	bare bool
	// helpersInline: every helper call is an inline map op kind (no
	// opCall, no opCallX; see VM.HelpersInline).
	helpersInline bool
}

// op is one pre-decoded instruction. Its index in Program.code equals the
// slot index of the original instruction, so error messages and jump
// targets use the kernel's numbering; the second slot of an lddw holds an
// opInvalid that is never reached.
type op struct {
	kind uint8
	dst  uint8
	src  uint8
	aux  uint8 // flags of a lookup group (fuse.go)
	// off is the memory offset of loads and stores (sign-extended), the
	// absolute target of jumps and local calls, or the helper index of a
	// static helper call.
	off int32
	// imm is the immediate operand, sign-extended to 64 bits (ALU64, JMP,
	// stores; 32-bit operations use its low half), or the 64-bit value of
	// an lddw.
	imm uint64
}

// Compile-time check that op stays 16 bytes: the interpreter's cache
// footprint depends on it.
var _ [16]byte = [unsafe.Sizeof(op{})]byte{}

// Load validates insns (isa.Validate) and pre-decodes them. It refuses
// static helper calls to ids missing from opts.Helpers, lddw pseudo sources
// other than a plain 64-bit immediate and kfunc calls, with an
// *isa.InstructionError naming the instruction.
func Load(insns []isa.Instruction, opts Options) (*Program, error) {
	if err := isa.Validate(insns); err != nil {
		return nil, err
	}
	p := &Program{
		insns:  append([]isa.Instruction(nil), insns...),
		code:   make([]op, len(insns)),
		byID:   make(engine.Helpers, len(opts.Helpers)),
		budget: opts.Budget,
	}
	if p.budget == 0 {
		p.budget = engine.DefaultBudget
	}
	for id, h := range opts.Helpers {
		if h != nil {
			p.byID[id] = h
		}
	}
	helperIndex := map[int32]int32{}
	for n := 0; n < len(insns); n++ {
		i := insns[n]
		o, err := decode(insns, n)
		if err != nil {
			return nil, err
		}
		if o.kind == opCall {
			h, ok := p.byID[i.Imm]
			if !ok {
				return nil, &isa.InstructionError{Index: n, Insn: i, Reason: fmt.Sprintf("call to unknown helper %d", i.Imm), Err: engine.ErrUnknownHelper}
			}
			idx, seen := helperIndex[i.Imm]
			if !seen {
				idx = int32(len(p.helpers))
				helperIndex[i.Imm] = idx
				p.helpers = append(p.helpers, h)
			}
			o.off = idx
		}
		p.code[n] = o
		if i.IsLDDW() {
			n++ // the second slot keeps opInvalid
		}
	}
	p.inlineCalls(opts.Inline)
	p.segs = segments(p.code)
	p.plain = append([]op(nil), p.code...)
	p.pure = isPure(p.plain)
	p.helpersInline = helpersInline(p.plain)
	p.entryClean = isa.CheckInitialized(p.insns, isa.Reg(1)|isa.Reg(2)|isa.Reg(10)) == nil
	p.bare = p.pure && !loadsPacket(p.plain) && isa.CheckInitialized(p.insns, isa.Reg(10)) == nil
	fuse(p.code, p.inline)
	p.chains = chainGroups(p.code, p.segs)
	p.codeP, p.segsP = unsafe.Pointer(unsafe.SliceData(p.code)), unsafe.Pointer(unsafe.SliceData(p.segs))
	return p, nil
}

// isPure tells whether code is pure (see Program.pure).
func isPure(code []op) bool {
	for n, o := range code {
		switch k := o.kind; {
		case k == opInvalid, k >= opAdd64K && k <= opNop, k == opLDDW,
			k >= opLdAbsB && k <= opLdIndW, k == opExit:
		case k >= opJA && k <= opJset32X:
			if int(o.off) <= n {
				return false // a loop
			}
		default:
			return false
		}
	}
	return true
}

// loadsPacket tells whether code has a legacy packet load (LD_ABS, LD_IND).
func loadsPacket(code []op) bool {
	for _, o := range code {
		if o.kind >= opLdAbsB && o.kind <= opLdIndW {
			return true
		}
	}
	return false
}

// helpersInline tells whether every helper call in code (before fusion)
// is an inline map operation.
func helpersInline(code []op) bool {
	for _, o := range code {
		if o.kind == opCall || o.kind == opCallX {
			return false
		}
	}
	return true
}

// segments computes, for every instruction, the number of instructions
// from it to the next control transfer (jump, local call, exit) inclusive,
// counting an lddw once. Validate guarantees the last instruction is a
// jump or exit, so every walk ends.
func segments(code []op) []uint32 {
	segs := make([]uint32, len(code))
	for n := len(code) - 1; n >= 0; n-- {
		switch k := code[n].kind; {
		case k == opInvalid: // second half of an lddw: never a start
		case k == opJA || (k >= opJeq64K && k <= opJset32X) || k == opCallLocal || k == opExit:
			segs[n] = 1
		case k == opLDDW:
			segs[n] = 1 + segs[n+2]
		default:
			segs[n] = 1 + segs[n+1]
		}
	}
	return segs
}

// Instructions returns a copy of the program's instructions.
func (p *Program) Instructions() []isa.Instruction {
	return append([]isa.Instruction(nil), p.insns...)
}

func unsupported(insns []isa.Instruction, n int, format string, args ...any) error {
	return &isa.InstructionError{Index: n, Insn: insns[n], Reason: fmt.Sprintf(format, args...), Err: ErrUnsupported}
}

// decode turns the validated instruction at slot n into an op.
func decode(insns []isa.Instruction, n int) (op, error) {
	i := insns[n]
	o := op{dst: i.Dst, src: i.Src, off: int32(i.Offset), imm: uint64(int64(i.Imm))}
	var ok bool
	switch i.Class() {
	case isa.ClassALU, isa.ClassALU64:
		o.kind, ok = decodeALU(i)
	case isa.ClassJMP, isa.ClassJMP32:
		switch {
		case i.Opcode == isa.OpcodeExit:
			o.kind, ok = opExit, true
		case i.Opcode == isa.OpcodeCall:
			switch i.Src {
			case isa.CallHelper:
				o.kind, ok = opCall, true
			case isa.CallLocal:
				o.kind, ok = opCallLocal, true
				o.off = int32(n + 1 + int(i.Imm))
			default:
				return o, unsupported(insns, n, "kfunc calls (call src %d) must be resolved by a loader; the interpreter cannot run them", i.Src)
			}
		case i.Opcode == isa.OpcodeCallX:
			o.kind, ok = opCallX, true
		default:
			t, _ := isa.Target(insns, n)
			o.off = int32(t)
			o.kind, ok = decodeJump(i)
			if i.Class() == isa.ClassJMP32 {
				// 32-bit compares use the low half of the immediate.
				o.imm = uint64(uint32(i.Imm))
			}
		}
	case isa.ClassLD:
		if i.IsLDDW() {
			if i.Src != isa.PseudoImm64 {
				return o, unsupported(insns, n, "lddw with pseudo source %d must be resolved by a loader before the interpreter runs it", i.Src)
			}
			o.kind, ok = opLDDW, true
			o.imm = isa.Imm64(insns, n)
			break
		}
		o.kind, ok = decodeLegacy(i)
		o.off = 0
	case isa.ClassLDX:
		o.kind, ok = decodeLoad(i)
	case isa.ClassST:
		o.kind, ok = decodeStore(i.Size(), opStB)
	case isa.ClassSTX:
		if i.Mode() == isa.ModeATOMIC {
			o.kind, ok = decodeAtomic(i)
		} else {
			o.kind, ok = decodeStore(i.Size(), opStxB)
		}
	}
	if !ok {
		// Validate accepted it, so this is a gap in the interpreter.
		return o, unsupported(insns, n, "the interpreter has no implementation for opcode %#02x", i.Opcode)
	}
	return o, nil
}

func decodeALU(i isa.Instruction) (uint8, bool) {
	alu64 := i.Class() == isa.ClassALU64
	x := i.Source() == isa.SrcX
	pick := func(k32, x32, k64, x64 uint8) (uint8, bool) {
		switch {
		case alu64 && x:
			return x64, true
		case alu64:
			return k64, true
		case x:
			return x32, true
		}
		return k32, true
	}
	switch i.Op() {
	case isa.OpADD:
		return pick(opAdd32K, opAdd32X, opAdd64K, opAdd64X)
	case isa.OpSUB:
		return pick(opSub32K, opSub32X, opSub64K, opSub64X)
	case isa.OpMUL:
		return pick(opMul32K, opMul32X, opMul64K, opMul64X)
	case isa.OpDIV:
		if i.Offset == 1 {
			return pick(opSdiv32K, opSdiv32X, opSdiv64K, opSdiv64X)
		}
		return pick(opDiv32K, opDiv32X, opDiv64K, opDiv64X)
	case isa.OpMOD:
		if i.Offset == 1 {
			return pick(opSmod32K, opSmod32X, opSmod64K, opSmod64X)
		}
		return pick(opMod32K, opMod32X, opMod64K, opMod64X)
	case isa.OpOR:
		return pick(opOr32K, opOr32X, opOr64K, opOr64X)
	case isa.OpAND:
		return pick(opAnd32K, opAnd32X, opAnd64K, opAnd64X)
	case isa.OpLSH:
		return pick(opLsh32K, opLsh32X, opLsh64K, opLsh64X)
	case isa.OpRSH:
		return pick(opRsh32K, opRsh32X, opRsh64K, opRsh64X)
	case isa.OpARSH:
		return pick(opArsh32K, opArsh32X, opArsh64K, opArsh64X)
	case isa.OpXOR:
		return pick(opXor32K, opXor32X, opXor64K, opXor64X)
	case isa.OpNEG:
		return pick(opNeg32, opNeg32, opNeg64, opNeg64)
	case isa.OpMOV:
		switch i.Offset {
		case 8:
			return pick(0, opMovsx32s8, 0, opMovsx64s8)
		case 16:
			return pick(0, opMovsx32s16, 0, opMovsx64s16)
		case 32:
			return pick(0, 0, 0, opMovsx64s32)
		}
		return pick(opMov32K, opMov32X, opMov64K, opMov64X)
	case isa.OpEND:
		swap := alu64 || (x != hostBigEndian) // to-BE swaps on a little-endian host
		switch {
		case i.Imm == 16 && swap:
			return opSwap16, true
		case i.Imm == 32 && swap:
			return opSwap32, true
		case i.Imm == 64 && swap:
			return opSwap64, true
		case i.Imm == 16:
			return opZext16, true
		case i.Imm == 32:
			return opZext32, true
		case i.Imm == 64:
			return opNop, true
		}
	}
	return 0, false
}

func decodeJump(i isa.Instruction) (uint8, bool) {
	if i.Op() == isa.OpJA {
		return opJA, true
	}
	var base uint8
	switch i.Op() {
	case isa.OpJEQ:
		base = opJeq64K
	case isa.OpJNE:
		base = opJne64K
	case isa.OpJGT:
		base = opJgt64K
	case isa.OpJGE:
		base = opJge64K
	case isa.OpJLT:
		base = opJlt64K
	case isa.OpJLE:
		base = opJle64K
	case isa.OpJSGT:
		base = opJsgt64K
	case isa.OpJSGE:
		base = opJsge64K
	case isa.OpJSLT:
		base = opJslt64K
	case isa.OpJSLE:
		base = opJsle64K
	case isa.OpJSET:
		base = opJset64K
	default:
		return 0, false
	}
	// Each condition has four consecutive kinds: 64K, 64X, 32K, 32X.
	if i.Source() == isa.SrcX {
		base++
	}
	if i.Class() == isa.ClassJMP32 {
		base += 2
	}
	return base, true
}

func decodeLegacy(i isa.Instruction) (uint8, bool) {
	abs := i.Mode() == isa.ModeABS
	switch i.Size() {
	case isa.SizeB:
		if abs {
			return opLdAbsB, true
		}
		return opLdIndB, true
	case isa.SizeH:
		if abs {
			return opLdAbsH, true
		}
		return opLdIndH, true
	case isa.SizeW:
		if abs {
			return opLdAbsW, true
		}
		return opLdIndW, true
	}
	return 0, false
}

func decodeLoad(i isa.Instruction) (uint8, bool) {
	if i.Mode() == isa.ModeMEMSX {
		switch i.Size() {
		case isa.SizeB:
			return opLdxsB, true
		case isa.SizeH:
			return opLdxsH, true
		case isa.SizeW:
			return opLdxsW, true
		}
		return 0, false
	}
	switch i.Size() {
	case isa.SizeB:
		return opLdxB, true
	case isa.SizeH:
		return opLdxH, true
	case isa.SizeW:
		return opLdxW, true
	}
	return opLdxDW, true
}

// decodeStore maps a size onto the four consecutive kinds starting at first
// (B, H, W, DW).
func decodeStore(size uint8, first uint8) (uint8, bool) {
	switch size {
	case isa.SizeB:
		return first, true
	case isa.SizeH:
		return first + 1, true
	case isa.SizeW:
		return first + 2, true
	}
	return first + 3, true
}

func decodeAtomic(i isa.Instruction) (uint8, bool) {
	w64 := i.Size() == isa.SizeDW
	pick := func(k32, k64 uint8) (uint8, bool) {
		if w64 {
			return k64, true
		}
		return k32, true
	}
	switch i.Imm {
	case isa.AtomicADD:
		return pick(opAtomAdd32, opAtomAdd64)
	case isa.AtomicOR:
		return pick(opAtomOr32, opAtomOr64)
	case isa.AtomicAND:
		return pick(opAtomAnd32, opAtomAnd64)
	case isa.AtomicXOR:
		return pick(opAtomXor32, opAtomXor64)
	case isa.AtomicADD | isa.AtomicFETCH:
		return pick(opAtomFetchAdd32, opAtomFetchAdd64)
	case isa.AtomicOR | isa.AtomicFETCH:
		return pick(opAtomFetchOr32, opAtomFetchOr64)
	case isa.AtomicAND | isa.AtomicFETCH:
		return pick(opAtomFetchAnd32, opAtomFetchAnd64)
	case isa.AtomicXOR | isa.AtomicFETCH:
		return pick(opAtomFetchXor32, opAtomFetchXor64)
	case isa.AtomicXCHG:
		return pick(opAtomXchg32, opAtomXchg64)
	case isa.AtomicCMPXCHG:
		return pick(opAtomCmpxchg32, opAtomCmpxchg64)
	}
	return 0, false
}

// hostBigEndian selects the byte-swapping kinds for le/be at load time.
var hostBigEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 0
}()
