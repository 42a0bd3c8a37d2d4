package interp

// A minimal assembler for the conformance suite's syntax, used only by the
// tests so they can be written as text (the real assembler lives in package
// asm). It follows the rules of /work/shared/conformance/FORMAT.md section 5.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bpfvm/bpfvm/internal/isa"
)

var aluOps = map[string]uint8{
	"add": isa.OpADD, "sub": isa.OpSUB, "mul": isa.OpMUL, "div": isa.OpDIV, "or": isa.OpOR,
	"and": isa.OpAND, "lsh": isa.OpLSH, "rsh": isa.OpRSH, "mod": isa.OpMOD, "xor": isa.OpXOR,
	"mov": isa.OpMOV, "arsh": isa.OpARSH, "sdiv": isa.OpDIV, "smod": isa.OpMOD,
}

var jmpOps = map[string]uint8{
	"jeq": isa.OpJEQ, "jgt": isa.OpJGT, "jge": isa.OpJGE, "jset": isa.OpJSET, "jne": isa.OpJNE,
	"jsgt": isa.OpJSGT, "jsge": isa.OpJSGE, "jlt": isa.OpJLT, "jle": isa.OpJLE, "jslt": isa.OpJSLT,
	"jsle": isa.OpJSLE,
}

var sizes = map[string]uint8{"b": isa.SizeB, "h": isa.SizeH, "w": isa.SizeW, "dw": isa.SizeDW}

type fixup struct {
	slot  int
	label string
	inImm bool
}

// assemble translates conformance-syntax text into instructions.
func assemble(src string) ([]isa.Instruction, error) {
	var out []isa.Instruction
	labels := map[string]int{}
	var fixups []fixup
	for ln, line := range strings.Split(src, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		toks := strings.Fields(line)
		if len(toks) == 0 {
			continue
		}
		for i := range toks {
			toks[i] = strings.TrimSuffix(toks[i], ",")
		}
		if strings.HasSuffix(toks[0], ":") {
			labels[strings.TrimSuffix(toks[0], ":")] = len(out)
			continue
		}
		insns, fx, err := assembleOne(toks, len(out))
		if err != nil {
			return nil, fmt.Errorf("line %d: %q: %v", ln+1, line, err)
		}
		if toks[0] == "exit" {
			if _, ok := labels["exit"]; !ok {
				labels["exit"] = len(out)
			}
		}
		fixups = append(fixups, fx...)
		out = append(out, insns...)
	}
	for _, f := range fixups {
		t, ok := labels[f.label]
		if !ok {
			return nil, fmt.Errorf("unknown label %q", f.label)
		}
		rel := t - f.slot - 1
		if f.inImm {
			out[f.slot].Imm = int32(rel)
		} else {
			out[f.slot].Offset = int16(rel)
		}
	}
	return out, nil
}

func reg(s string) (uint8, error) {
	if !strings.HasPrefix(s, "%r") {
		return 0, fmt.Errorf("%q is not a register", s)
	}
	n, err := strconv.Atoi(s[2:])
	if err != nil || n < 0 || n > 15 {
		return 0, fmt.Errorf("bad register %q", s)
	}
	return uint8(n), nil
}

func imm32(s string) (int32, error) {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "-0x") {
		v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 32)
		return int32(uint32(v)), err
	}
	v, err := strconv.ParseInt(s, 10, 32)
	return int32(v), err
}

func imm64(s string) (uint64, error) {
	if strings.HasPrefix(s, "0x") {
		return strconv.ParseUint(s[2:], 16, 64)
	}
	if strings.HasPrefix(s, "-") {
		v, err := strconv.ParseInt(s, 10, 64)
		return uint64(v), err
	}
	return strconv.ParseUint(s, 10, 64)
}

// memOperand parses [%rN], [%rN+off], [%rN-off].
func memOperand(s string) (uint8, int16, error) {
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return 0, 0, fmt.Errorf("%q is not a memory operand", s)
	}
	s = s[1 : len(s)-1]
	i := strings.IndexAny(s, "+-")
	if i < 0 {
		r, err := reg(s)
		return r, 0, err
	}
	r, err := reg(s[:i])
	if err != nil {
		return 0, 0, err
	}
	var off int64
	if strings.HasPrefix(s[i+1:], "0x") {
		v, e := strconv.ParseUint(s[i+3:], 16, 16)
		off, err = int64(int16(uint16(v))), e
	} else {
		off, err = strconv.ParseInt(s[i+1:], 10, 16)
	}
	if s[i] == '-' {
		off = -off
	}
	return r, int16(off), err
}

// target returns the relative offset for +N/-N, or a fixup for a label.
func target(s string, slot int, inImm bool) (int32, []fixup) {
	if strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		v, err := strconv.ParseInt(s, 10, 32)
		if err == nil {
			return int32(v), nil
		}
	}
	return 0, []fixup{{slot: slot, label: s, inImm: inImm}}
}

func assembleOne(t []string, slot int) ([]isa.Instruction, []fixup, error) {
	m := t[0]
	args := t[1:]
	one := func(i isa.Instruction) ([]isa.Instruction, []fixup, error) { return []isa.Instruction{i}, nil, nil }
	switch {
	case m == "exit":
		return one(isa.Instruction{Opcode: isa.OpcodeExit})
	case m == "lddw":
		d, err := reg(args[0])
		if err != nil {
			return nil, nil, err
		}
		v, err := imm64(args[1])
		l := isa.LDDW(d, v)
		return l[:], nil, err
	case m == "ja" || m == "ja32":
		in := isa.Instruction{Opcode: isa.OpcodeJA}
		if m == "ja32" {
			in.Opcode = isa.OpcodeJA32
			v, fx := target(args[0], slot, true)
			in.Imm = v
			return []isa.Instruction{in}, fx, nil
		}
		v, fx := target(args[0], slot, false)
		in.Offset = int16(v)
		return []isa.Instruction{in}, fx, nil
	case m == "call":
		switch {
		case len(args) == 2 && args[0] == "local":
			v, fx := target(args[1], slot, true)
			return []isa.Instruction{{Opcode: isa.OpcodeCall, Src: isa.CallLocal, Imm: v}}, fx, nil
		case strings.HasPrefix(args[len(args)-1], "%r"):
			r, err := reg(args[len(args)-1])
			return []isa.Instruction{{Opcode: isa.OpcodeCallX, Dst: r}}, nil, err
		default:
			v, err := imm32(args[len(args)-1])
			return []isa.Instruction{{Opcode: isa.OpcodeCall, Imm: v}}, nil, err
		}
	case m == "neg" || m == "neg32" || m == "neg64":
		d, err := reg(args[0])
		cls := isa.ClassALU64
		if m == "neg32" {
			cls = isa.ClassALU
		}
		return []isa.Instruction{{Opcode: cls | isa.OpNEG, Dst: d}}, nil, err
	case strings.HasPrefix(m, "le") || strings.HasPrefix(m, "be") || strings.HasPrefix(m, "bswap") || strings.HasPrefix(m, "swap"):
		d, err := reg(args[0])
		if err != nil {
			return nil, nil, err
		}
		w := strings.TrimLeft(m, "lebswap")
		width, err := strconv.Atoi(w)
		op := isa.ClassALU | isa.OpEND
		switch {
		case strings.HasPrefix(m, "be"):
			op |= isa.SrcX
		case strings.HasPrefix(m, "bswap"), strings.HasPrefix(m, "swap"):
			op = isa.ClassALU64 | isa.OpEND
		}
		return one(isa.Instruction{Opcode: op, Dst: d, Imm: int32(width)})
	case strings.HasPrefix(m, "movsx"):
		d, err := reg(args[0])
		if err != nil {
			return nil, nil, err
		}
		s, err := reg(args[1])
		spec := m[len("movsx"):]
		in := isa.Instruction{Dst: d, Src: s}
		switch spec {
		case "832", "1632":
			in.Opcode = isa.ClassALU | isa.OpMOV | isa.SrcX
		default:
			in.Opcode = isa.ClassALU64 | isa.OpMOV | isa.SrcX
		}
		from, _ := strconv.Atoi(spec[:len(spec)-2])
		in.Offset = int16(from)
		return []isa.Instruction{in}, nil, err
	case strings.HasPrefix(m, "ldx"):
		sx := strings.HasPrefix(m, "ldxs") && m != "ldx"
		sz := strings.TrimPrefix(m, "ldx")
		mode := isa.ModeMEM
		if sx && sz != "dw" && strings.HasPrefix(sz, "s") {
			mode = isa.ModeMEMSX
			sz = sz[1:]
		}
		size, ok := sizes[sz]
		if !ok {
			return nil, nil, fmt.Errorf("bad load %q", m)
		}
		d, err := reg(args[0])
		if err != nil {
			return nil, nil, err
		}
		s, off, err := memOperand(args[1])
		return []isa.Instruction{{Opcode: isa.ClassLDX | mode | size, Dst: d, Src: s, Offset: off}}, nil, err
	case strings.HasPrefix(m, "stx"):
		size, ok := sizes[m[3:]]
		if !ok {
			return nil, nil, fmt.Errorf("bad store %q", m)
		}
		d, off, err := memOperand(args[0])
		if err != nil {
			return nil, nil, err
		}
		s, err := reg(args[1])
		return []isa.Instruction{{Opcode: isa.ClassSTX | isa.ModeMEM | size, Dst: d, Src: s, Offset: off}}, nil, err
	case strings.HasPrefix(m, "st"):
		size, ok := sizes[m[2:]]
		if !ok {
			return nil, nil, fmt.Errorf("bad store %q", m)
		}
		d, off, err := memOperand(args[0])
		if err != nil {
			return nil, nil, err
		}
		v, err := imm32(args[1])
		return []isa.Instruction{{Opcode: isa.ClassST | isa.ModeMEM | size, Dst: d, Offset: off, Imm: v}}, nil, err
	case m == "lock":
		fetch := args[0] == "fetch"
		if fetch {
			args = args[1:]
		}
		name := args[0]
		size := isa.SizeDW
		if strings.HasSuffix(name, "32") {
			size = isa.SizeW
			name = strings.TrimSuffix(name, "32")
		}
		var imm int32
		switch name {
		case "add":
			imm = isa.AtomicADD
		case "or":
			imm = isa.AtomicOR
		case "and":
			imm = isa.AtomicAND
		case "xor":
			imm = isa.AtomicXOR
		case "xchg":
			imm = isa.AtomicXCHG
		case "cmpxchg":
			imm = isa.AtomicCMPXCHG
		default:
			return nil, nil, fmt.Errorf("bad atomic %q", name)
		}
		if fetch {
			imm |= isa.AtomicFETCH
		}
		d, off, err := memOperand(args[1])
		if err != nil {
			return nil, nil, err
		}
		s, err := reg(args[2])
		return []isa.Instruction{{Opcode: isa.ClassSTX | isa.ModeATOMIC | size, Dst: d, Src: s, Offset: off, Imm: imm}}, nil, err
	}
	// ALU and conditional jumps, with an optional 32 suffix.
	base, w32 := m, false
	if strings.HasSuffix(m, "32") {
		base, w32 = strings.TrimSuffix(m, "32"), true
	} else {
		base = strings.TrimSuffix(m, "64")
	}
	if op, ok := aluOps[base]; ok {
		cls := isa.ClassALU64
		if w32 {
			cls = isa.ClassALU
		}
		d, err := reg(args[0])
		if err != nil {
			return nil, nil, err
		}
		in := isa.Instruction{Opcode: cls | op, Dst: d}
		if base == "sdiv" || base == "smod" {
			in.Offset = 1
		}
		if s, err := reg(args[1]); err == nil {
			in.Opcode |= isa.SrcX
			in.Src = s
		} else {
			in.Imm, err = imm32(args[1])
			if err != nil {
				return nil, nil, err
			}
		}
		return one(in)
	}
	if op, ok := jmpOps[base]; ok {
		cls := isa.ClassJMP
		if w32 {
			cls = isa.ClassJMP32
		}
		d, err := reg(args[0])
		if err != nil {
			return nil, nil, err
		}
		in := isa.Instruction{Opcode: cls | op, Dst: d}
		if s, err := reg(args[1]); err == nil {
			in.Opcode |= isa.SrcX
			in.Src = s
		} else {
			in.Imm, err = imm32(args[1])
			if err != nil {
				return nil, nil, err
			}
		}
		v, fx := target(args[2], slot, false)
		in.Offset = int16(v)
		return []isa.Instruction{in}, fx, nil
	}
	return nil, nil, fmt.Errorf("unknown mnemonic %q", m)
}
