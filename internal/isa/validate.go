package isa

import (
	"errors"
	"fmt"
)

// ErrInvalidProgram is wrapped by every error Validate returns.
var ErrInvalidProgram = errors.New("invalid program")

// InstructionError is an error about one instruction of a program.
type InstructionError struct {
	Index  int         // slot index
	Insn   Instruction // the instruction at Index
	Reason string
	Err    error // optional cause (ErrInvalidProgram for validation errors)
}

func (e *InstructionError) Error() string {
	return fmt.Sprintf("instruction %d (%s): %s", e.Index, e.Insn, e.Reason)
}

func (e *InstructionError) Unwrap() error { return e.Err }

func invalid(insns []Instruction, n int, format string, args ...any) error {
	return &InstructionError{Index: n, Insn: insns[n], Reason: fmt.Sprintf(format, args...), Err: ErrInvalidProgram}
}

// Validate checks the structure of a program as the kernel's loader and the
// RFC require, before any semantic analysis: known opcodes, registers in
// range, unused fields zero (RFC 9669 section 3), writes only to r0-r9,
// lddw complete and with a valid pseudo source, every jump and local call
// landing inside the program and never in the second half of an lddw, and
// a last instruction that does not fall off the end.
func Validate(insns []Instruction) error {
	if len(insns) == 0 {
		return fmt.Errorf("%w: the program has no instructions", ErrInvalidProgram)
	}
	if len(insns) > MaxInstructions {
		return fmt.Errorf("%w: the program has %d instructions, more than the limit of %d", ErrInvalidProgram, len(insns), MaxInstructions)
	}
	// second[n] marks slot n as the second half of an lddw.
	second := make([]bool, len(insns))
	for n := 0; n < len(insns); n++ {
		if insns[n].IsLDDW() {
			if n+1 >= len(insns) {
				return invalid(insns, n, "lddw is missing its second half: the program ends after the first 8 bytes")
			}
			second[n+1] = true
			n++
		}
	}
	for n := 0; n < len(insns); n++ {
		if second[n] {
			continue
		}
		if err := validateOne(insns, n); err != nil {
			return err
		}
		if t, ok := Target(insns, n); ok {
			if t < 0 || t >= len(insns) {
				return invalid(insns, n, "jump target %d is outside the program (0..%d)", t, len(insns)-1)
			}
			if second[t] {
				return invalid(insns, n, "jump target %d is the second half of the lddw at %d", t, t-1)
			}
		}
	}
	last := len(insns) - 1
	if second[last] {
		last--
	}
	switch l := insns[last]; {
	case l.Opcode == OpcodeExit, l.Opcode == OpcodeJA, l.Opcode == OpcodeJA32:
	default:
		return invalid(insns, last, "the last instruction is not exit or an unconditional jump, so execution could run off the end")
	}
	return nil
}

// Target returns the slot a jump, local call or lddw of a function pointer
// at slot n refers to, and whether the instruction has one.
func Target(insns []Instruction, n int) (int, bool) {
	i := insns[n]
	switch i.Class() {
	case ClassJMP, ClassJMP32:
		switch i.Op() {
		case OpEXIT:
			return 0, false
		case OpCALL:
			if i.Source() == SrcK && i.Src == CallLocal {
				return n + 1 + int(i.Imm), true
			}
			return 0, false
		case OpJA:
			if i.Class() == ClassJMP32 {
				return n + 1 + int(i.Imm), true
			}
		}
		return n + 1 + int(i.Offset), true
	case ClassLD:
		if i.IsLDDW() && i.Src == PseudoFunc {
			return n + 1 + int(i.Imm), true
		}
	}
	return 0, false
}

func validateOne(insns []Instruction, n int) error {
	i := insns[n]
	if i.Dst > 10 {
		return invalid(insns, n, "destination register r%d does not exist (r0-r10)", i.Dst)
	}
	if i.Src > 10 && !(i.IsLDDW()) {
		return invalid(insns, n, "source register r%d does not exist (r0-r10)", i.Src)
	}
	switch i.Class() {
	case ClassALU, ClassALU64:
		return validateALU(insns, n)
	case ClassJMP, ClassJMP32:
		return validateJump(insns, n)
	case ClassLD:
		return validateLD(insns, n)
	case ClassLDX:
		switch i.Mode() {
		case ModeMEM:
		case ModeMEMSX:
			if i.Size() == SizeDW {
				return invalid(insns, n, "unknown opcode %#02x: there is no sign-extending 8-byte load", i.Opcode)
			}
		default:
			return invalid(insns, n, "unknown opcode %#02x: load mode %#02x is not a register load", i.Opcode, i.Mode())
		}
		if i.Imm != 0 {
			return invalid(insns, n, "unused immediate field is %d, must be 0", i.Imm)
		}
		if i.Dst == R10 {
			return invalid(insns, n, "r10 is the read-only frame pointer")
		}
	case ClassST:
		if i.Mode() != ModeMEM {
			return invalid(insns, n, "unknown opcode %#02x: store mode %#02x is not an immediate store", i.Opcode, i.Mode())
		}
		if i.Src != 0 {
			return invalid(insns, n, "unused source register field is r%d, must be 0", i.Src)
		}
	case ClassSTX:
		switch i.Mode() {
		case ModeMEM:
			if i.Imm != 0 {
				return invalid(insns, n, "unused immediate field is %d, must be 0", i.Imm)
			}
		case ModeATOMIC:
			if i.Size() != SizeW && i.Size() != SizeDW {
				return invalid(insns, n, "atomic operations exist only for 4- and 8-byte words")
			}
			switch i.Imm {
			case AtomicADD, AtomicOR, AtomicAND, AtomicXOR,
				AtomicADD | AtomicFETCH, AtomicOR | AtomicFETCH, AtomicAND | AtomicFETCH, AtomicXOR | AtomicFETCH,
				AtomicXCHG, AtomicCMPXCHG:
			default:
				return invalid(insns, n, "unknown atomic operation %#x", i.Imm)
			}
			if i.Imm&AtomicFETCH != 0 && i.Imm != AtomicCMPXCHG && i.Src == R10 {
				return invalid(insns, n, "atomic fetch would write r10, the read-only frame pointer")
			}
		default:
			return invalid(insns, n, "unknown opcode %#02x: store mode %#02x is not a register store", i.Opcode, i.Mode())
		}
	}
	return nil
}

func validateALU(insns []Instruction, n int) error {
	i := insns[n]
	alu64 := i.Class() == ClassALU64
	if i.Dst == R10 {
		return invalid(insns, n, "r10 is the read-only frame pointer")
	}
	checkSource := func() error {
		if i.Source() == SrcK && i.Src != 0 {
			return invalid(insns, n, "unused source register field is r%d, must be 0 for an immediate operand", i.Src)
		}
		if i.Source() == SrcX && i.Imm != 0 {
			return invalid(insns, n, "unused immediate field is %d, must be 0 for a register operand", i.Imm)
		}
		return nil
	}
	switch i.Op() {
	case OpADD, OpSUB, OpMUL, OpOR, OpAND, OpLSH, OpRSH, OpXOR, OpARSH:
		if i.Offset != 0 {
			return invalid(insns, n, "unused offset field is %d, must be 0", i.Offset)
		}
		return checkSource()
	case OpDIV, OpMOD:
		if i.Offset != 0 && i.Offset != 1 {
			return invalid(insns, n, "offset %d is neither 0 (unsigned) nor 1 (signed) division", i.Offset)
		}
		return checkSource()
	case OpMOV:
		if i.Source() == SrcK {
			if i.Offset != 0 {
				return invalid(insns, n, "unused offset field is %d, must be 0 for an immediate move", i.Offset)
			}
		} else if !(i.Offset == 0 || i.Offset == 8 || i.Offset == 16 || (alu64 && i.Offset == 32)) {
			return invalid(insns, n, "offset %d is not a sign-extension width (0, 8, 16%s)", i.Offset, map[bool]string{true: " or 32", false: ""}[alu64])
		}
		return checkSource()
	case OpNEG:
		if i.Source() != SrcK {
			return invalid(insns, n, "unknown opcode %#02x: neg takes no source operand", i.Opcode)
		}
		if i.Src != 0 {
			return invalid(insns, n, "unused source register field is r%d, must be 0", i.Src)
		}
		if i.Offset != 0 {
			return invalid(insns, n, "unused offset field is %d, must be 0", i.Offset)
		}
		if i.Imm != 0 {
			return invalid(insns, n, "unused immediate field is %d, must be 0", i.Imm)
		}
	case OpEND:
		if alu64 && i.Source() != SrcK {
			return invalid(insns, n, "unknown opcode %#02x: the 64-bit byte swap has no big-endian form", i.Opcode)
		}
		if i.Src != 0 {
			return invalid(insns, n, "unused source register field is r%d, must be 0", i.Src)
		}
		if i.Offset != 0 {
			return invalid(insns, n, "unused offset field is %d, must be 0", i.Offset)
		}
		if i.Imm != 16 && i.Imm != 32 && i.Imm != 64 {
			return invalid(insns, n, "byte swap width %d is not 16, 32 or 64", i.Imm)
		}
	default:
		return invalid(insns, n, "unknown opcode %#02x", i.Opcode)
	}
	return nil
}

func validateJump(insns []Instruction, n int) error {
	i := insns[n]
	jmp32 := i.Class() == ClassJMP32
	switch i.Op() {
	case OpJA:
		if i.Source() != SrcK {
			return invalid(insns, n, "unknown opcode %#02x", i.Opcode)
		}
		if i.Dst != 0 || i.Src != 0 {
			return invalid(insns, n, "unused register fields are r%d and r%d, must be 0", i.Dst, i.Src)
		}
		if jmp32 && i.Offset != 0 {
			return invalid(insns, n, "unused offset field is %d, must be 0 (gotol takes its target in the immediate)", i.Offset)
		}
		if !jmp32 && i.Imm != 0 {
			return invalid(insns, n, "unused immediate field is %d, must be 0", i.Imm)
		}
	case OpCALL:
		if jmp32 {
			return invalid(insns, n, "unknown opcode %#02x: call exists only in the JMP class", i.Opcode)
		}
		if i.Offset != 0 {
			return invalid(insns, n, "unused offset field is %d, must be 0", i.Offset)
		}
		if i.Source() == SrcX { // callx: dst holds the target
			if i.Src != 0 || i.Imm != 0 {
				return invalid(insns, n, "callx uses only its destination register; source and immediate must be 0")
			}
			return nil
		}
		if i.Dst != 0 {
			return invalid(insns, n, "unused destination register field is r%d, must be 0", i.Dst)
		}
		if i.Src > CallKfunc {
			return invalid(insns, n, "unknown call kind %d (0 helper, 1 local function, 2 kfunc)", i.Src)
		}
	case OpEXIT:
		if jmp32 || i.Source() != SrcK {
			return invalid(insns, n, "unknown opcode %#02x: exit exists only as 0x95", i.Opcode)
		}
		if i.Dst != 0 || i.Src != 0 || i.Offset != 0 || i.Imm != 0 {
			return invalid(insns, n, "exit has no operands; its register, offset and immediate fields must be 0")
		}
	case OpJEQ, OpJGT, OpJGE, OpJSET, OpJNE, OpJSGT, OpJSGE, OpJLT, OpJLE, OpJSLT, OpJSLE:
		if i.Source() == SrcK && i.Src != 0 {
			return invalid(insns, n, "unused source register field is r%d, must be 0 for an immediate operand", i.Src)
		}
		if i.Source() == SrcX && i.Imm != 0 {
			return invalid(insns, n, "unused immediate field is %d, must be 0 for a register operand", i.Imm)
		}
	default:
		return invalid(insns, n, "unknown opcode %#02x", i.Opcode)
	}
	return nil
}

func validateLD(insns []Instruction, n int) error {
	i := insns[n]
	switch i.Opcode {
	case OpcodeLDDW:
		next := insns[n+1]
		if next.Opcode != 0 || next.Dst != 0 || next.Src != 0 || next.Offset != 0 {
			return invalid(insns, n, "the second half of lddw must have opcode, registers and offset 0")
		}
		if i.Offset != 0 {
			return invalid(insns, n, "unused offset field is %d, must be 0", i.Offset)
		}
		if i.Dst == R10 {
			return invalid(insns, n, "r10 is the read-only frame pointer")
		}
		if i.Src > maxPseudoLDDWSouce {
			return invalid(insns, n, "unknown lddw pseudo source %d", i.Src)
		}
		switch i.Src {
		case PseudoMapFD, PseudoMapIdx, PseudoBTFID, PseudoFunc:
			if next.Imm != 0 {
				return invalid(insns, n, "the second half of this lddw form must have immediate 0, not %d", next.Imm)
			}
		}
	case ClassLD | ModeABS | SizeW, ClassLD | ModeABS | SizeH, ClassLD | ModeABS | SizeB,
		ClassLD | ModeIND | SizeW, ClassLD | ModeIND | SizeH, ClassLD | ModeIND | SizeB:
		// Legacy packet loads: r0 = ntoh(packet[imm (+ src)]).
		if i.Dst != 0 || i.Offset != 0 {
			return invalid(insns, n, "legacy packet load has unused destination or offset fields that are not 0")
		}
		if i.Mode() == ModeABS && i.Src != 0 {
			return invalid(insns, n, "unused source register field is r%d, must be 0", i.Src)
		}
	default:
		return invalid(insns, n, "unknown opcode %#02x", i.Opcode)
	}
	return nil
}
