package verifier

import (
	"fmt"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// The static checks the kernel makes before the path-sensitive analysis
// (resolve_pseudo_ldimm64, check_subprogs, check_cfg). Field checks the
// kernel makes only on reachable paths (reserved fields, writes to r10,
// division by a constant zero) are made during the analysis instead, so
// a dead path may hold them, as in the kernel.

// knownOpcode is the kernel's bpf_opcode_in_insntable.
func knownOpcode(op uint8) bool {
	class := op & 0x07
	switch class {
	case isa.ClassALU, isa.ClassALU64:
		switch op & 0xf0 {
		case isa.OpADD, isa.OpSUB, isa.OpMUL, isa.OpDIV, isa.OpOR, isa.OpAND, isa.OpLSH, isa.OpRSH,
			isa.OpMOD, isa.OpXOR, isa.OpMOV, isa.OpARSH:
			return true
		case isa.OpNEG:
			return op&0x08 == 0
		case isa.OpEND:
			return class == isa.ClassALU || op&0x08 == 0
		}
		return false
	case isa.ClassJMP, isa.ClassJMP32:
		switch op & 0xf0 {
		case isa.OpJA:
			return op&0x08 == 0
		case isa.OpJEQ, isa.OpJGT, isa.OpJGE, isa.OpJSET, isa.OpJNE, isa.OpJSGT, isa.OpJSGE,
			isa.OpJLT, isa.OpJLE, isa.OpJSLT, isa.OpJSLE:
			return true
		case isa.OpCALL, isa.OpEXIT:
			return class == isa.ClassJMP && op&0x08 == 0
		case opJCOND:
			return op == isa.ClassJMP|opJCOND
		}
		return false
	case isa.ClassLD:
		switch op {
		case isa.OpcodeLDDW:
			return true
		case isa.ClassLD | isa.ModeABS | isa.SizeW, isa.ClassLD | isa.ModeABS | isa.SizeH, isa.ClassLD | isa.ModeABS | isa.SizeB,
			isa.ClassLD | isa.ModeIND | isa.SizeW, isa.ClassLD | isa.ModeIND | isa.SizeH, isa.ClassLD | isa.ModeIND | isa.SizeB:
			return true
		}
		return false
	case isa.ClassLDX:
		switch op & 0xe0 {
		case isa.ModeMEM:
			return true
		case isa.ModeMEMSX:
			return op&0x18 != isa.SizeDW
		}
		return false
	case isa.ClassST:
		return op&0xe0 == isa.ModeMEM
	case isa.ClassSTX:
		switch op & 0xe0 {
		case isa.ModeMEM, isa.ModeATOMIC:
			return true
		}
	}
	return false
}

// opJCOND is BPF_JCOND (may_goto, a loop budget check).
const opJCOND = 0xe0

func (v *verifier) staticFail(i int, kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Index: i, Insn: v.insnString(i), Reason: fmt.Sprintf(format, args...)}
}

// checkStatic validates encoding, lddw pairs and jump targets.
func (v *verifier) checkStatic() error {
	insns := v.insns
	n := len(insns)
	if n == 0 {
		return &Error{Kind: KindInvalid, Index: -1, Reason: "the program has no instructions"}
	}
	if n > isa.MaxInstructions {
		return &Error{Kind: KindInvalid, Index: -1, Reason: fmt.Sprintf("BPF program is too large: %d instructions, the limit is %d", n, isa.MaxInstructions)}
	}
	v.second = make([]bool, n)
	for i := 0; i < n; i++ {
		in := insns[i]
		if in.Class() == isa.ClassLDX && ((in.Mode() != isa.ModeMEM && in.Mode() != isa.ModeMEMSX) || in.Imm != 0) {
			return v.staticFail(i, KindInvalid, "BPF_LDX uses reserved fields")
		}
		if in.IsLDDW() {
			if i == n-1 || insns[i+1].Opcode != 0 || insns[i+1].Dst != 0 || insns[i+1].Src != 0 || insns[i+1].Offset != 0 {
				return v.staticFail(i, KindInvalid, "invalid bpf_ld_imm64 insn: the second half of lddw must be all zero except its immediate")
			}
			switch in.Src {
			case isa.PseudoImm64, isa.PseudoFunc, isa.PseudoBTFID:
			case isa.PseudoMapValue, isa.PseudoMapIdxValue:
			case isa.PseudoMapFD, isa.PseudoMapIdx:
				if insns[i+1].Imm != 0 {
					return v.staticFail(i, KindInvalid, "unrecognized bpf_ld_imm64 insn")
				}
			default:
				return v.staticFail(i, KindInvalid, "unrecognized bpf_ld_imm64 insn: pseudo source %d is unknown", in.Src)
			}
			switch in.Src {
			case isa.PseudoMapFD, isa.PseudoMapIdx, isa.PseudoMapValue, isa.PseudoMapIdxValue:
				m := v.mapFor(in)
				if m == nil {
					return v.staticFail(i, KindInvalid, "fd %d is not pointing to valid bpf_map: no map with that fd was given", in.Imm)
				}
				if in.Src == isa.PseudoMapValue || in.Src == isa.PseudoMapIdxValue {
					off := uint32(insns[i+1].Imm)
					if m.Type != "array" {
						return v.staticFail(i, KindUnsafe, "direct value access on %s map is not supported: only array maps have a fixed value address", m.Type)
					}
					if off >= m.ValueSize {
						return v.staticFail(i, KindUnsafe, "invalid access to map value pointer, value_size=%d off=%d", m.ValueSize, off)
					}
				}
			}
			v.second[i+1] = true
			i++
			continue
		}
		if !knownOpcode(in.Opcode) {
			return v.staticFail(i, KindInvalid, "unknown opcode %02x", in.Opcode)
		}
	}
	for i := 0; i < n; i++ {
		if v.second[i] {
			continue
		}
		in := insns[i]
		if in.Class() != isa.ClassJMP && in.Class() != isa.ClassJMP32 {
			continue
		}
		if in.Op() == isa.OpEXIT {
			continue
		}
		if in.Op() == isa.OpCALL {
			if in.Src == isa.CallLocal {
				t := i + 1 + int(in.Imm)
				if t < 0 || t >= n {
					return v.staticFail(i, KindInvalid, "call to invalid destination: instruction %d is outside the program", t)
				}
				if v.second[t] {
					return v.staticFail(i, KindInvalid, "call into the middle of ldimm64 insn %d", t-1)
				}
			}
			continue
		}
		t := v.target(i)
		if t < 0 || t >= n {
			return v.staticFail(i, KindInvalid, "jump out of range from insn %d to %d", i, t)
		}
		if v.second[t] {
			return v.staticFail(i, KindInvalid, "jump into the middle of ldimm64 insn %d", t-1)
		}
	}
	for i := 0; i < n; i++ {
		if in := insns[i]; in.IsLDDW() && in.Src == isa.PseudoFunc {
			t := i + 1 + int(in.Imm)
			if t < 0 || t >= n || v.second[t] {
				return v.staticFail(i, KindInvalid, "invalid bpf function pointer: instruction %d is not a function entry", t)
			}
			i++
		}
	}
	return nil
}

// target is the destination of the jump at i.
func (v *verifier) target(i int) int {
	in := v.insns[i]
	if in.Opcode == isa.OpcodeJA32 {
		return i + 1 + int(in.Imm)
	}
	return i + 1 + int(in.Offset)
}

// checkFields makes the kernel's per-instruction field checks, on
// reachable instructions only.
func (v *verifier) checkFields(in isa.Instruction) error {
	if in.Dst > 10 {
		return v.fail(KindInvalid, "R%d is invalid: there are registers r0 to r10", in.Dst)
	}
	if in.Src > 10 && !in.IsLDDW() {
		return v.fail(KindInvalid, "R%d is invalid: there are registers r0 to r10", in.Src)
	}
	bad := func(what string) error {
		return v.fail(KindInvalid, "%s uses reserved fields", what)
	}
	switch in.Class() {
	case isa.ClassALU, isa.ClassALU64:
		op := in.Op()
		x := in.Source() == isa.SrcX
		switch op {
		case isa.OpNEG:
			if x || in.Src != 0 || in.Offset != 0 || in.Imm != 0 {
				return bad("BPF_NEG")
			}
		case isa.OpEND:
			if in.Src != 0 || in.Offset != 0 || (in.Imm != 16 && in.Imm != 32 && in.Imm != 64) || (in.Class() == isa.ClassALU64 && x) {
				return bad("BPF_END")
			}
		case isa.OpMOV:
			if x {
				okOff := in.Offset == 0 || in.Offset == 8 || in.Offset == 16 || (in.Class() == isa.ClassALU64 && in.Offset == 32)
				if !okOff || in.Imm != 0 {
					return bad("BPF_MOV")
				}
			} else if in.Src != 0 || in.Offset != 0 {
				return bad("BPF_MOV")
			}
		default:
			if (x && in.Imm != 0) || (!x && in.Src != 0) || (in.Offset != 0 && in.Offset != 1) || (in.Offset == 1 && op != isa.OpDIV && op != isa.OpMOD) {
				return bad("BPF_ALU")
			}
		}
		if in.Dst == isa.R10 {
			return v.unsafe("frame pointer is read only: r10 cannot be written")
		}
	case isa.ClassJMP, isa.ClassJMP32:
		switch in.Op() {
		case isa.OpJA:
			if in.Src != 0 || in.Dst != 0 || (in.Class() == isa.ClassJMP && in.Imm != 0) || (in.Class() == isa.ClassJMP32 && in.Offset != 0) {
				return bad("BPF_JA")
			}
		case isa.OpCALL:
			if (in.Src != isa.CallKfunc && in.Offset != 0) || in.Src > isa.CallKfunc || in.Dst != 0 {
				return bad("BPF_CALL")
			}
		case isa.OpEXIT:
			if in.Imm != 0 || in.Src != 0 || in.Dst != 0 {
				return bad("BPF_EXIT")
			}
		case opJCOND:
			if in.Src != 0 || in.Dst != 0 || in.Imm != 0 {
				return v.fail(KindInvalid, "invalid may_goto imm %d", in.Imm)
			}
		default:
			if (in.Source() == isa.SrcX && in.Imm != 0) || (in.Source() == isa.SrcK && in.Src != 0) {
				return bad("BPF_JMP/JMP32")
			}
		}
	case isa.ClassST:
		if in.Src != 0 {
			return bad("BPF_ST")
		}
	case isa.ClassSTX:
		if in.Mode() == isa.ModeMEM && in.Imm != 0 {
			return bad("BPF_STX")
		}
	case isa.ClassLD:
		if in.IsLDDW() {
			if in.Offset != 0 {
				return bad("BPF_LD_IMM64")
			}
			if in.Dst == isa.R10 {
				return v.unsafe("frame pointer is read only: r10 cannot be written")
			}
		} else if in.Dst != 0 || in.Offset != 0 || in.Size() == isa.SizeDW || (in.Mode() == isa.ModeABS && in.Src != 0) {
			return bad("BPF_LD_[ABS|IND]")
		}
	case isa.ClassLDX:
		if in.Dst == isa.R10 {
			return v.unsafe("frame pointer is read only: r10 cannot be written")
		}
	}
	return nil
}
