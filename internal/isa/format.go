package isa

import (
	"fmt"
	"strconv"
	"strings"
)

// String formats one instruction slot the way the kernel's verifier log
// (kernel/bpf/disasm.c) and llvm-objdump show eBPF: `r0 = *(u32 *)(r1 + 4)`,
// `w0 += w1`, `if r1 > 0x5 goto +3`, `call 5`, `call pc+3`. A 32-bit
// operation names its registers w0..w10. The first slot of an lddw shows
// only its low 32 bits; FormatProgram shows the whole 64-bit immediate.
// An instruction with an unknown opcode is shown as its raw fields.
func (i Instruction) String() string {
	return i.format(uint64(uint32(i.Imm)), false)
}

// FormatProgram formats a program one instruction per line, each prefixed
// with its slot index (`   2: r0 = 1`). An lddw is shown once, with its
// full 64-bit immediate, and the next line has the index after its second
// slot, as llvm-objdump and bpftool print programs.
func FormatProgram(insns []Instruction) string {
	var b strings.Builder
	for n := 0; n < len(insns); n++ {
		i := insns[n]
		var text string
		if i.IsLDDW() && n+1 < len(insns) {
			text = i.format(Imm64(insns, n), true)
		} else {
			text = i.String()
		}
		fmt.Fprintf(&b, "%4d: %s\n", n, text)
		if i.IsLDDW() {
			n++
		}
	}
	return b.String()
}

// regName returns rN, or wN for the 32-bit view of a register.
func regName(r uint8, w bool) string {
	if w {
		return "w" + strconv.Itoa(int(r))
	}
	return "r" + strconv.Itoa(int(r))
}

// memRef formats `(r1 + 4)` / `(r10 - 8)`.
func memRef(r uint8, off int16) string {
	if off < 0 {
		return fmt.Sprintf("(r%d - %d)", r, -int(off))
	}
	return fmt.Sprintf("(r%d + %d)", r, off)
}

// signedHex formats an immediate compared in a jump: the kernel prints
// hex; negative values get a minus sign so 64-bit comparisons against
// sign-extended immediates read correctly.
func signedHex(v int32) string {
	if v < 0 {
		return fmt.Sprintf("-%#x", -int64(v))
	}
	return fmt.Sprintf("%#x", v)
}

func relTarget(v int32) string {
	if v < 0 {
		return strconv.Itoa(int(v))
	}
	return "+" + strconv.Itoa(int(v))
}

// Newer kernel encodings the formatter shows (isa.Validate does not
// accept them yet): may_goto, indirect goto, load-acquire, store-release
// and the arena address-space cast.
const (
	opJCOND           uint8 = 0xe0  // JMP class; src 0: may_goto
	atomicLoadAcquire int32 = 0x100 // dst = *(src + off), acquire
	atomicStoreRel    int32 = 0x110 // *(dst + off) = src, release
	offAddrSpaceCast  int16 = 1     // ALU64 MOV X with this offset
)

var aluOperator = map[uint8]string{
	OpADD: "+=", OpSUB: "-=", OpMUL: "*=", OpDIV: "/=", OpOR: "|=", OpAND: "&=",
	OpLSH: "<<=", OpRSH: ">>=", OpMOD: "%=", OpXOR: "^=", OpMOV: "=", OpARSH: "s>>=",
}

var jmpOperator = map[uint8]string{
	OpJEQ: "==", OpJGT: ">", OpJGE: ">=", OpJSET: "&", OpJNE: "!=", OpJSGT: "s>",
	OpJSGE: "s>=", OpJLT: "<", OpJLE: "<=", OpJSLT: "s<", OpJSLE: "s<=",
}

var atomicOperator = map[int32]string{AtomicADD: "+=", AtomicAND: "&=", AtomicOR: "|=", AtomicXOR: "^="}

var atomicFunc = map[int32]string{AtomicADD: "add", AtomicAND: "and", AtomicOR: "or", AtomicXOR: "xor"}

var sizeType = map[uint8]string{SizeB: "u8", SizeH: "u16", SizeW: "u32", SizeDW: "u64"}

var signedSizeType = map[uint8]string{SizeB: "s8", SizeH: "s16", SizeW: "s32", SizeDW: "s64"}

// format renders the instruction; imm64 is the lddw immediate and wide says
// whether it is complete (both slots known).
func (i Instruction) format(imm64 uint64, wide bool) string {
	unknown := func() string {
		return fmt.Sprintf("invalid opcode %#02x (dst=r%d src=r%d off=%d imm=%d)", i.Opcode, i.Dst, i.Src, i.Offset, i.Imm)
	}
	switch i.Class() {
	case ClassALU, ClassALU64:
		w := i.Class() == ClassALU
		dst := regName(i.Dst, w)
		switch i.Op() {
		case OpNEG:
			return dst + " = -" + dst
		case OpEND:
			switch {
			case !w:
				return fmt.Sprintf("r%d = bswap%d r%d", i.Dst, i.Imm, i.Dst)
			case i.Source() == SrcX:
				return fmt.Sprintf("r%d = be%d r%d", i.Dst, i.Imm, i.Dst)
			default:
				return fmt.Sprintf("r%d = le%d r%d", i.Dst, i.Imm, i.Dst)
			}
		}
		op, ok := aluOperator[i.Op()]
		if !ok {
			return unknown()
		}
		if (i.Op() == OpDIV || i.Op() == OpMOD) && i.Offset == 1 {
			op = "s" + op
		}
		if i.Source() == SrcK {
			return fmt.Sprintf("%s %s %d", dst, op, i.Imm)
		}
		if i.Opcode == ClassALU64|OpMOV|SrcX && i.Offset == offAddrSpaceCast {
			return fmt.Sprintf("r%d = addr_space_cast(r%d, %d, %d)", i.Dst, i.Src, uint32(i.Imm)>>16, uint16(i.Imm))
		}
		cast := ""
		if i.Op() == OpMOV && (i.Offset == 8 || i.Offset == 16 || i.Offset == 32) {
			cast = fmt.Sprintf("(s%d)", i.Offset)
		}
		return fmt.Sprintf("%s %s %s%s", dst, op, cast, regName(i.Src, w))
	case ClassJMP, ClassJMP32:
		w := i.Class() == ClassJMP32
		switch {
		case i.Opcode == OpcodeExit:
			return "exit"
		case i.Opcode == OpcodeJA:
			return "goto " + relTarget(int32(i.Offset))
		case i.Opcode == OpcodeJA32:
			return "gotol " + relTarget(i.Imm)
		case i.Opcode == ClassJMP|OpJA|SrcX:
			return fmt.Sprintf("gotox r%d", i.Dst)
		case i.Opcode == ClassJMP|opJCOND && i.Src == 0:
			return "may_goto " + relTarget(int32(i.Offset))
		case i.Opcode == OpcodeCallX:
			return fmt.Sprintf("callx r%d", i.Dst)
		case i.Opcode == OpcodeCall:
			switch i.Src {
			case CallLocal:
				return "call pc" + relTarget(i.Imm)
			case CallKfunc:
				return fmt.Sprintf("call kfunc#%d", i.Imm)
			default:
				return fmt.Sprintf("call %d", i.Imm)
			}
		}
		op, ok := jmpOperator[i.Op()]
		if !ok {
			return unknown()
		}
		target := relTarget(int32(i.Offset))
		if i.Source() == SrcX {
			return fmt.Sprintf("if %s %s %s goto %s", regName(i.Dst, w), op, regName(i.Src, w), target)
		}
		return fmt.Sprintf("if %s %s %s goto %s", regName(i.Dst, w), op, signedHex(i.Imm), target)
	case ClassLDX:
		types := sizeType
		switch i.Mode() {
		case ModeMEM:
		case ModeMEMSX:
			types = signedSizeType
		default:
			return unknown()
		}
		return fmt.Sprintf("r%d = *(%s *)%s", i.Dst, types[i.Size()], memRef(i.Src, i.Offset))
	case ClassST:
		if i.Mode() != ModeMEM {
			return unknown()
		}
		return fmt.Sprintf("*(%s *)%s = %d", sizeType[i.Size()], memRef(i.Dst, i.Offset), i.Imm)
	case ClassSTX:
		t := sizeType[i.Size()]
		ref := memRef(i.Dst, i.Offset)
		switch i.Mode() {
		case ModeMEM:
			return fmt.Sprintf("*(%s *)%s = r%d", t, ref, i.Src)
		case ModeATOMIC:
			w := i.Size() == SizeW
			src := regName(i.Src, w)
			switch {
			case i.Imm == AtomicXCHG:
				return fmt.Sprintf("%s = atomic_xchg((%s *)%s, %s)", src, t, ref, src)
			case i.Imm == AtomicCMPXCHG:
				return fmt.Sprintf("%s = atomic_cmpxchg((%s *)%s, %s, %s)", regName(R0, w), t, ref, regName(R0, w), src)
			case atomicOperator[i.Imm] != "":
				// rN even for 32 bits, as the kernel and llvm-objdump
				// print this form.
				return fmt.Sprintf("lock *(%s *)%s %s r%d", t, ref, atomicOperator[i.Imm], i.Src)
			case i.Imm&AtomicFETCH != 0 && atomicFunc[i.Imm&^AtomicFETCH] != "":
				return fmt.Sprintf("%s = atomic_fetch_%s((%s *)%s, %s)", src, atomicFunc[i.Imm&^AtomicFETCH], t, ref, src)
			case i.Imm == atomicLoadAcquire:
				return fmt.Sprintf("r%d = load_acquire((%s *)%s)", i.Dst, t, memRef(i.Src, i.Offset))
			case i.Imm == atomicStoreRel:
				return fmt.Sprintf("store_release((%s *)%s, r%d)", t, ref, i.Src)
			}
			return fmt.Sprintf("invalid atomic operation %#x on *(%s *)%s with r%d", i.Imm, t, ref, i.Src)
		}
		return unknown()
	case ClassLD:
		t := sizeType[i.Size()]
		switch {
		case i.IsLDDW():
			return i.formatLDDW(imm64, wide)
		case i.Mode() == ModeABS:
			return fmt.Sprintf("r0 = *(%s *)skb[%d]", t, i.Imm)
		case i.Mode() == ModeIND:
			return fmt.Sprintf("r0 = *(%s *)skb[r%d + %d]", t, i.Src, i.Imm)
		}
	}
	return unknown()
}

// formatLDDW shows the 64-bit immediate (llvm-objdump's `ll` suffix) or,
// for the kernel's pseudo sources, what the loader replaces it with.
func (i Instruction) formatLDDW(imm uint64, wide bool) string {
	lo := uint32(imm)
	suffix := " ll"
	if !wide {
		suffix = " ll (low half)"
	}
	switch i.Src {
	case PseudoImm64:
		return fmt.Sprintf("r%d = %#x%s", i.Dst, imm, suffix)
	case PseudoMapFD:
		return fmt.Sprintf("r%d = map[fd:%d] ll", i.Dst, int32(lo))
	case PseudoMapValue:
		return fmt.Sprintf("r%d = map[fd:%d][0]+%d ll", i.Dst, int32(lo), uint32(imm>>32))
	case PseudoBTFID:
		return fmt.Sprintf("r%d = btf_id[%d] ll", i.Dst, int32(lo))
	case PseudoFunc:
		return fmt.Sprintf("r%d = func pc%s ll", i.Dst, relTarget(int32(lo)))
	case PseudoMapIdx:
		return fmt.Sprintf("r%d = map[idx:%d] ll", i.Dst, int32(lo))
	case PseudoMapIdxValue:
		return fmt.Sprintf("r%d = map[idx:%d][0]+%d ll", i.Dst, int32(lo), uint32(imm>>32))
	}
	return fmt.Sprintf("r%d = %#x ll (unknown pseudo source %d)", i.Dst, imm, i.Src)
}
