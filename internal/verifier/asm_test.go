package verifier

import "github.com/bpfvm/bpfvm/internal/isa"

// A tiny assembler for tests: one function per instruction form.

func aluK(class, op, dst uint8, imm int32) isa.Instruction {
	return isa.Instruction{Opcode: class | op | isa.SrcK, Dst: dst, Imm: imm}
}

func aluX(class, op, dst, src uint8) isa.Instruction {
	return isa.Instruction{Opcode: class | op | isa.SrcX, Dst: dst, Src: src}
}

func mov64(dst uint8, imm int32) isa.Instruction { return aluK(isa.ClassALU64, isa.OpMOV, dst, imm) }
func mov32(dst uint8, imm int32) isa.Instruction { return aluK(isa.ClassALU, isa.OpMOV, dst, imm) }
func mov64r(dst, src uint8) isa.Instruction      { return aluX(isa.ClassALU64, isa.OpMOV, dst, src) }
func add64(dst uint8, imm int32) isa.Instruction { return aluK(isa.ClassALU64, isa.OpADD, dst, imm) }
func add64r(dst, src uint8) isa.Instruction      { return aluX(isa.ClassALU64, isa.OpADD, dst, src) }

func jmpK(op, dst uint8, imm int32, off int16) isa.Instruction {
	return isa.Instruction{Opcode: isa.ClassJMP | op | isa.SrcK, Dst: dst, Imm: imm, Offset: off}
}

func jmp32K(op, dst uint8, imm int32, off int16) isa.Instruction {
	return isa.Instruction{Opcode: isa.ClassJMP32 | op | isa.SrcK, Dst: dst, Imm: imm, Offset: off}
}

func jmpX(op, dst, src uint8, off int16) isa.Instruction {
	return isa.Instruction{Opcode: isa.ClassJMP | op | isa.SrcX, Dst: dst, Src: src, Offset: off}
}

func ja(off int16) isa.Instruction { return isa.Instruction{Opcode: isa.OpcodeJA, Offset: off} }

func ldx(size, dst, src uint8, off int16) isa.Instruction {
	return isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEM | size, Dst: dst, Src: src, Offset: off}
}

func stx(size, dst, src uint8, off int16) isa.Instruction {
	return isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | size, Dst: dst, Src: src, Offset: off}
}

func st(size, dst uint8, off int16, imm int32) isa.Instruction {
	return isa.Instruction{Opcode: isa.ClassST | isa.ModeMEM | size, Dst: dst, Offset: off, Imm: imm}
}

func call(id int32) isa.Instruction { return isa.Instruction{Opcode: isa.OpcodeCall, Imm: id} }
func exit() isa.Instruction         { return isa.Instruction{Opcode: isa.OpcodeExit} }

func lddw(dst uint8, imm uint64) []isa.Instruction {
	p := isa.LDDW(dst, imm)
	return p[:]
}

// ldMap loads the map with the given fd (BPF_PSEUDO_MAP_FD).
func ldMap(dst uint8, fd int32) []isa.Instruction {
	return []isa.Instruction{{Opcode: isa.OpcodeLDDW, Dst: dst, Src: isa.PseudoMapFD, Imm: fd}, {}}
}

func prog(parts ...any) []isa.Instruction {
	var out []isa.Instruction
	for _, p := range parts {
		switch p := p.(type) {
		case isa.Instruction:
			out = append(out, p)
		case []isa.Instruction:
			out = append(out, p...)
		default:
			panic("prog: bad part")
		}
	}
	return out
}

// lookupValue: r0 = lookup(map fd, key 0 on the stack), exit if NULL;
// leaves r6 = the value pointer. 11 slots.
func lookupValue(fd int32) []isa.Instruction {
	return prog(
		st(isa.SizeDW, isa.R10, -8, 0),
		mov64r(isa.R2, isa.R10),
		add64(isa.R2, -8),
		ldMap(isa.R1, fd),
		call(1),
		jmpK(isa.OpJNE, isa.R0, 0, 2),
		mov64(isa.R0, 0),
		exit(),
		mov64r(isa.R6, isa.R0),
	)
}
