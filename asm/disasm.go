package asm

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// Disassemble writes a program in the conformance syntax, one statement per
// line. Jump and local-call targets inside the program get labels (`L7:`);
// other targets are written relative (`+3`). An instruction the syntax
// cannot express (an unknown opcode, a non-zero unused field, an lddw with
// a pseudo source) is written as `.raw 0xWORD`, so Assemble of the result
// always gives back exactly insns.
func Disassemble(insns []isa.Instruction) string {
	// wide[n]: slot n starts an lddw written as one statement.
	wide := make([]bool, len(insns))
	for n := 0; n < len(insns); n++ {
		if canonicalLDDW(insns, n) {
			wide[n] = true
			n++
		}
	}
	second := func(n int) bool { return n > 0 && wide[n-1] }
	labels := map[int]bool{}
	for n := range insns {
		if second(n) {
			continue
		}
		if t, ok := jumpTarget(insns[n], n); ok && t >= 0 && t <= len(insns) && !second(t) {
			labels[t] = true
		}
	}
	var b strings.Builder
	for n := 0; n <= len(insns); n++ {
		if labels[n] {
			fmt.Fprintf(&b, "L%d:\n", n)
		}
		if n == len(insns) || second(n) {
			continue
		}
		i := insns[n]
		var text string
		if wide[n] {
			text = "lddw " + reg(i.Dst) + ", " + imm64(isa.Imm64(insns, n))
		} else if s, ok := statement(i); ok {
			text = s
			if t, ok := jumpTarget(i, n); ok {
				if labels[t] {
					text += fmt.Sprintf("L%d", t)
				} else if i.Opcode == isa.OpcodeJA32 || i.Opcode == isa.OpcodeCall {
					text += rel(int64(i.Imm))
				} else {
					text += rel(int64(i.Offset))
				}
			}
		} else {
			text = fmt.Sprintf(".raw %#016x", i.Uint64())
		}
		b.WriteString(text)
		b.WriteByte('\n')
	}
	return b.String()
}

// canonicalLDDW reports whether slots n and n+1 form a plain 64-bit
// immediate load the `lddw` statement reproduces exactly.
func canonicalLDDW(insns []isa.Instruction, n int) bool {
	if n+1 >= len(insns) {
		return false
	}
	i, next := insns[n], insns[n+1]
	return i.Opcode == isa.OpcodeLDDW && i.Src == 0 && i.Offset == 0 &&
		next == isa.Instruction{Imm: next.Imm}
}

// jumpTarget returns the slot a statement's target names, for the
// statements whose text ends with a target.
func jumpTarget(i isa.Instruction, n int) (int, bool) {
	if _, ok := statement(i); !ok {
		return 0, false
	}
	switch {
	case i.Opcode == isa.OpcodeJA32:
		return n + 1 + int(i.Imm), true
	case i.Opcode == isa.OpcodeCall:
		if i.Src == isa.CallLocal {
			return n + 1 + int(i.Imm), true
		}
		return 0, false
	case i.Opcode == isa.OpcodeJA:
		return n + 1 + int(i.Offset), true
	case i.Class() == isa.ClassJMP || i.Class() == isa.ClassJMP32:
		if i.Op() != isa.OpCALL && i.Op() != isa.OpEXIT {
			return n + 1 + int(i.Offset), true
		}
	}
	return 0, false
}

func reg(r uint8) string { return "%r" + strconv.Itoa(int(r)) }

// imm32 formats an immediate so that Assemble reads it back: negatives and
// small numbers in decimal, the rest as a hex bit pattern.
func imm32(v int32) string {
	if v < 256 {
		return strconv.Itoa(int(v))
	}
	return fmt.Sprintf("%#x", uint32(v))
}

func imm64(v uint64) string {
	if s := int64(v); s > -4096 && s < 256 {
		return strconv.FormatInt(s, 10)
	}
	return fmt.Sprintf("%#x", v)
}

func rel(v int64) string {
	if v < 0 {
		return strconv.FormatInt(v, 10)
	}
	return "+" + strconv.FormatInt(v, 10)
}

func memOperand(r uint8, off int16) string {
	switch {
	case off == 0:
		return "[" + reg(r) + "]"
	case off < 0:
		return "[" + reg(r) + strconv.Itoa(int(off)) + "]"
	default:
		return "[" + reg(r) + "+" + strconv.Itoa(int(off)) + "]"
	}
}

var sizeName = map[uint8]string{isa.SizeB: "b", isa.SizeH: "h", isa.SizeW: "w", isa.SizeDW: "dw"}

var aluName = map[uint8]string{
	isa.OpADD: "add", isa.OpSUB: "sub", isa.OpMUL: "mul", isa.OpDIV: "div",
	isa.OpOR: "or", isa.OpAND: "and", isa.OpLSH: "lsh", isa.OpRSH: "rsh",
	isa.OpMOD: "mod", isa.OpXOR: "xor", isa.OpMOV: "mov", isa.OpARSH: "arsh",
}

var jmpName = map[uint8]string{
	isa.OpJEQ: "jeq", isa.OpJGT: "jgt", isa.OpJGE: "jge", isa.OpJSET: "jset",
	isa.OpJNE: "jne", isa.OpJSGT: "jsgt", isa.OpJSGE: "jsge", isa.OpJLT: "jlt",
	isa.OpJLE: "jle", isa.OpJSLT: "jslt", isa.OpJSLE: "jsle",
}

var atomicName = map[int32]string{isa.AtomicADD: "add", isa.AtomicAND: "and", isa.AtomicOR: "or", isa.AtomicXOR: "xor"}

// statement returns the text of a one-slot instruction if the syntax
// expresses it exactly (every field the text does not show is zero). For
// jumps and local calls the text ends just before the target.
func statement(i isa.Instruction) (string, bool) {
	zero := func(fields ...int64) bool {
		for _, f := range fields {
			if f != 0 {
				return false
			}
		}
		return true
	}
	dst, src, off, imm := int64(i.Dst), int64(i.Src), int64(i.Offset), int64(i.Imm)
	switch i.Class() {
	case isa.ClassALU, isa.ClassALU64:
		alu32 := i.Class() == isa.ClassALU
		suffix := ""
		if alu32 {
			suffix = "32"
		}
		switch op := i.Op(); op {
		case isa.OpNEG:
			return "neg" + suffix + " " + reg(i.Dst), i.Source() == isa.SrcK && zero(src, off, imm)
		case isa.OpEND:
			if !zero(src, off) || (imm != 16 && imm != 32 && imm != 64) {
				return "", false
			}
			name := "le"
			switch {
			case !alu32 && i.Source() == isa.SrcK:
				name = "bswap"
			case !alu32:
				return "", false
			case i.Source() == isa.SrcX:
				name = "be"
			}
			return name + strconv.Itoa(int(imm)) + " " + reg(i.Dst), true
		case isa.OpMOV:
			if i.Source() == isa.SrcX && off != 0 {
				if !zero(imm) || !(off == 8 || off == 16 || (off == 32 && !alu32)) {
					return "", false
				}
				width := "64"
				if alu32 {
					width = "32"
				}
				return "movsx" + strconv.Itoa(int(off)) + width + " " + reg(i.Dst) + ", " + reg(i.Src), true
			}
		}
		name, ok := aluName[i.Op()]
		if !ok {
			return "", false
		}
		if off == 1 && (i.Op() == isa.OpDIV || i.Op() == isa.OpMOD) {
			name, off = "s"+name, 0
		}
		if off != 0 {
			return "", false
		}
		if i.Source() == isa.SrcX {
			return name + suffix + " " + reg(i.Dst) + ", " + reg(i.Src), imm == 0
		}
		return name + suffix + " " + reg(i.Dst) + ", " + imm32(i.Imm), src == 0
	case isa.ClassJMP, isa.ClassJMP32:
		jmp32 := i.Class() == isa.ClassJMP32
		switch i.Opcode {
		case isa.OpcodeExit:
			return "exit", zero(dst, src, off, imm)
		case isa.OpcodeJA:
			return "ja ", zero(dst, src, imm)
		case isa.OpcodeJA32:
			return "ja32 ", zero(dst, src, off)
		case isa.OpcodeCallX:
			return "call " + reg(i.Dst), zero(src, off, imm)
		case isa.OpcodeCall:
			if !zero(dst, off) {
				return "", false
			}
			switch i.Src {
			case isa.CallHelper:
				return "call " + imm32(i.Imm), true
			case isa.CallLocal:
				return "call local ", true
			case isa.CallKfunc:
				return "call runtime " + imm32(i.Imm), true
			}
			return "", false
		}
		name, ok := jmpName[i.Op()]
		if !ok {
			return "", false
		}
		if jmp32 {
			name += "32"
		}
		if i.Source() == isa.SrcX {
			return name + " " + reg(i.Dst) + ", " + reg(i.Src) + ", ", imm == 0
		}
		return name + " " + reg(i.Dst) + ", " + imm32(i.Imm) + ", ", src == 0
	case isa.ClassLDX:
		size, ok := sizeName[i.Size()]
		switch {
		case !ok || imm != 0:
			return "", false
		case i.Mode() == isa.ModeMEM:
			return "ldx" + size + " " + reg(i.Dst) + ", " + memOperand(i.Src, i.Offset), true
		case i.Mode() == isa.ModeMEMSX && i.Size() != isa.SizeDW:
			return "ldxs" + size + " " + reg(i.Dst) + ", " + memOperand(i.Src, i.Offset), true
		}
	case isa.ClassST:
		if i.Mode() == isa.ModeMEM && src == 0 {
			return "st" + sizeName[i.Size()] + " " + memOperand(i.Dst, i.Offset) + ", " + imm32(i.Imm), true
		}
	case isa.ClassSTX:
		switch i.Mode() {
		case isa.ModeMEM:
			return "stx" + sizeName[i.Size()] + " " + memOperand(i.Dst, i.Offset) + ", " + reg(i.Src), imm == 0
		case isa.ModeATOMIC:
			if i.Size() != isa.SizeW && i.Size() != isa.SizeDW {
				return "", false
			}
			width := ""
			if i.Size() == isa.SizeW {
				width = "32"
			}
			var op string
			switch i.Imm {
			case isa.AtomicXCHG:
				op = "xchg" + width
			case isa.AtomicCMPXCHG:
				op = "cmpxchg" + width
			default:
				name, ok := atomicName[i.Imm&^isa.AtomicFETCH]
				if !ok {
					return "", false
				}
				op = name + width
				if i.Imm&isa.AtomicFETCH != 0 {
					op = "fetch " + op
				}
			}
			return "lock " + op + " " + memOperand(i.Dst, i.Offset) + ", " + reg(i.Src), true
		}
	case isa.ClassLD:
		size, ok := sizeName[i.Size()]
		if !ok || i.Size() == isa.SizeDW || !zero(dst, off) {
			return "", false
		}
		switch i.Mode() {
		case isa.ModeABS:
			return "ldabs" + size + " " + imm32(i.Imm), src == 0
		case isa.ModeIND:
			return "ldind" + size + " " + reg(i.Src) + ", " + imm32(i.Imm), true
		}
	}
	return "", false
}
