// Package asm assembles and disassembles eBPF programs written in the text
// syntax of the eBPF conformance suite (bpf_conformance, inherited from
// uBPF): `mov %r0, 1`, `ldxw %r2, [%r1+4]`, `jeq %r2, 0, done`, `exit`.
//
// The dialect is the one /work/shared/conformance/FORMAT.md section 5
// specifies, with a few unambiguous relaxations: operands may be separated
// by a comma without a space (`mov %r0,1`) or by spaces only, memory
// operands may contain spaces (`[ %r1 + 2 ]`), registers may be written
// without `%` (`r1`), `#`, `;` and `//` start comments, tabs count as
// spaces, and a label may share its line with an instruction. Two
// extensions make every instruction representable, so Disassemble can
// round-trip any program: `.raw 0xWORD` emits one instruction slot given as
// its 64-bit little-endian word (as in a suite file's `-- raw` section), and
// `ldabs{b,h,w} imm` / `ldind{b,h,w} %rs, imm` write the legacy packet loads.
//
// Labels: `name:` defines name at the next instruction slot (an lddw
// counts two); names are letters, digits, `_`, `.` and `$`, not starting
// with a digit. Jump targets are a label or a slot count relative to the
// next slot, `+N`/`-N`; ja32 and `call local` accept the full 32-bit range.
// The first `exit` instruction defines the label `exit` unless the program
// defines that label itself.
//
// Numbers: 32-bit immediates are signed decimal or hex up to 0xffffffff
// (the raw bit pattern: 0xffffffff is -1); lddw takes any 64-bit decimal
// (signed or unsigned) or hex; memory offsets are signed 16-bit decimal or
// hex up to 0xffff (`[%r1+0xffff]` is offset -1). Registers are %r0-%r10;
// %r11-%r15 are accepted so that invalid encodings can be written (the
// suite's negative tests do), and isa.Validate refuses them.
//
// Errors are *Error values that print `line:col: message`.
package asm

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// Error is an assembly error at a position in the source.
type Error struct {
	File string // optional file name, printed as a prefix
	Line int    // 1-based line number
	Col  int    // 1-based column (byte offset) of the offending text
	Msg  string
}

func (e *Error) Error() string {
	pos := fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg)
	if e.File != "" {
		return e.File + ":" + pos
	}
	return pos
}

// Assemble translates source text into instructions (one element per
// 8-byte slot; lddw takes two). It does not validate the program as a
// whole (see isa.Validate): it refuses only what the syntax cannot express.
func Assemble(src string) ([]isa.Instruction, error) {
	return AssembleFile("", src)
}

// AssembleFile is Assemble with a file name that prefixes error positions.
func AssembleFile(name, src string) ([]isa.Instruction, error) {
	a := assembler{file: name, labels: map[string]labelDef{}}
	for n, line := range strings.Split(src, "\n") {
		if err := a.line(n+1, line); err != nil {
			return nil, err
		}
	}
	if err := a.resolve(); err != nil {
		return nil, err
	}
	if a.out == nil {
		a.out = []isa.Instruction{}
	}
	return a.out, nil
}

// token is one word of a statement with its 1-based column.
type token struct {
	text string
	col  int
}

type labelDef struct {
	slot int
	line int
}

// fixupKind says which field a label reference resolves into.
type fixupKind int

const (
	fixOffset fixupKind = iota // 16-bit offset of a jump
	fixImm                     // 32-bit immediate of ja32 and call local
)

type fixup struct {
	slot  int
	kind  fixupKind
	label token
	line  int
}

type assembler struct {
	file     string
	out      []isa.Instruction
	labels   map[string]labelDef
	exitSeen bool
	exitSlot int
	fixups   []fixup
	lineNo   int
}

func (a *assembler) errorf(col int, format string, args ...any) error {
	return &Error{File: a.file, Line: a.lineNo, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// stripComment removes a `#`, `;` or `//` comment.
func stripComment(line string) string {
	if i := strings.IndexAny(line, "#;"); i >= 0 {
		line = line[:i]
	}
	if i := strings.Index(line, "//"); i >= 0 {
		line = line[:i]
	}
	return line
}

func isWordByte(c byte) bool {
	return c == '%' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' }

// tokenize splits a statement into words. Words are separated by white
// space and/or one comma; a bracketed memory operand is one word with its
// inner spaces removed. A comma may only stand between two operands.
func (a *assembler) tokenize(line string) ([]token, error) {
	var toks []token
	comma := false // a comma was seen since the last word
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case isSpace(c):
			i++
			continue
		case c == ',':
			if len(toks) < 2 || comma {
				return nil, a.errorf(i+1, "unexpected ','")
			}
			comma = true
			i++
			continue
		}
		start := i
		var b strings.Builder
		if c == '[' {
			end := strings.IndexByte(line[i:], ']')
			if end < 0 {
				return nil, a.errorf(start+1, "memory operand %q has no closing ']'", strings.TrimSpace(line[i:]))
			}
			// Spaces may surround the brackets and the sign, but must not
			// separate two parts of one word ("%r1 4" is not "%r14").
			b.WriteByte('[')
			space, prev := false, byte('[')
			for k := i + 1; k <= i+end; k++ {
				c := line[k]
				if c == ' ' || c == '\t' {
					space = true
					continue
				}
				if space && isWordByte(prev) && isWordByte(c) {
					return nil, a.errorf(k+1, "unexpected space in memory operand %q", line[i:i+end+1])
				}
				space, prev = false, c
				b.WriteByte(c)
			}
			i += end + 1
		} else {
			for i < len(line) && !isSpace(line[i]) && line[i] != ',' {
				i++
			}
			b.WriteString(line[start:i])
		}
		toks = append(toks, token{text: b.String(), col: start + 1})
		comma = false
	}
	if comma {
		return nil, a.errorf(len(line)+1, "expected an operand after ','")
	}
	return toks, nil
}

func (a *assembler) line(lineNo int, line string) error {
	a.lineNo = lineNo
	toks, err := a.tokenize(stripComment(line))
	if err != nil {
		return err
	}
	if len(toks) == 0 {
		return nil
	}
	if first := toks[0]; strings.HasSuffix(first.text, ":") {
		name := strings.TrimSuffix(first.text, ":")
		if !isLabelName(name) {
			return a.errorf(first.col, "invalid label name %q: use letters, digits, '_' and '.', not starting with a digit", name)
		}
		if prev, dup := a.labels[name]; dup {
			return a.errorf(first.col, "label %q is already defined on line %d", name, prev.line)
		}
		a.labels[name] = labelDef{slot: len(a.out), line: lineNo}
		toks = toks[1:]
		if len(toks) == 0 {
			return nil
		}
	}
	return a.statement(toks[0], toks[1:])
}

func isLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c == '.' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// resolve patches label references once every label is known.
func (a *assembler) resolve() error {
	for _, f := range a.fixups {
		a.lineNo = f.line
		def, ok := a.labels[f.label.text]
		if !ok && f.label.text == "exit" && a.exitSeen {
			def, ok = labelDef{slot: a.exitSlot}, true
		}
		if !ok {
			return a.errorf(f.label.col, "undefined label %q", f.label.text)
		}
		rel := def.slot - f.slot - 1
		switch f.kind {
		case fixOffset:
			if rel < -32768 || rel > 32767 {
				return a.errorf(f.label.col, "label %q is %d slots away, beyond the 16-bit jump offset range", f.label.text, rel)
			}
			a.out[f.slot].Offset = int16(rel)
		case fixImm:
			a.out[f.slot].Imm = int32(rel)
		}
	}
	return nil
}

func (a *assembler) emit(i isa.Instruction) { a.out = append(a.out, i) }

// operands checks the operand count of a mnemonic.
func (a *assembler) operands(mn token, ops []token, want int, form string) error {
	if len(ops) == want {
		return nil
	}
	col := mn.col
	if len(ops) > want {
		col = ops[want].col
	}
	return a.errorf(col, "%s takes %d operand%s (%s), got %d", mn.text, want, plural(want), form, len(ops))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// aluOps maps the ALU mnemonics (without the 32 suffix) to their operation
// and the offset that selects the signed variants.
var aluOps = map[string]struct {
	op  uint8
	off int16
}{
	"add": {isa.OpADD, 0}, "sub": {isa.OpSUB, 0}, "mul": {isa.OpMUL, 0},
	"div": {isa.OpDIV, 0}, "sdiv": {isa.OpDIV, 1}, "or": {isa.OpOR, 0},
	"and": {isa.OpAND, 0}, "lsh": {isa.OpLSH, 0}, "rsh": {isa.OpRSH, 0},
	"mod": {isa.OpMOD, 0}, "smod": {isa.OpMOD, 1}, "xor": {isa.OpXOR, 0},
	"mov": {isa.OpMOV, 0}, "arsh": {isa.OpARSH, 0},
}

var jmpOps = map[string]uint8{
	"jeq": isa.OpJEQ, "jgt": isa.OpJGT, "jge": isa.OpJGE, "jset": isa.OpJSET,
	"jne": isa.OpJNE, "jsgt": isa.OpJSGT, "jsge": isa.OpJSGE, "jlt": isa.OpJLT,
	"jle": isa.OpJLE, "jslt": isa.OpJSLT, "jsle": isa.OpJSLE,
}

var sizeSuffix = map[string]uint8{"b": isa.SizeB, "h": isa.SizeH, "w": isa.SizeW, "dw": isa.SizeDW}

var atomicOps = map[string]int32{"add": isa.AtomicADD, "and": isa.AtomicAND, "or": isa.AtomicOR, "xor": isa.AtomicXOR}

func (a *assembler) statement(mn token, ops []token) error {
	m := mn.text
	switch {
	case m == "exit":
		if err := a.operands(mn, ops, 0, "none"); err != nil {
			return err
		}
		if !a.exitSeen {
			a.exitSeen, a.exitSlot = true, len(a.out)
		}
		a.emit(isa.Instruction{Opcode: isa.OpcodeExit})
		return nil
	case m == "lddw":
		if err := a.operands(mn, ops, 2, "register, 64-bit immediate"); err != nil {
			return err
		}
		dst, err := a.register(ops[0])
		if err != nil {
			return err
		}
		v, err := a.imm64(ops[1])
		if err != nil {
			return err
		}
		slots := isa.LDDW(dst, v)
		a.emit(slots[0])
		a.emit(slots[1])
		return nil
	case m == ".raw":
		if err := a.operands(mn, ops, 1, "64-bit instruction word"); err != nil {
			return err
		}
		v, err := a.imm64(ops[0])
		if err != nil {
			return err
		}
		a.emit(isa.FromUint64(v))
		return nil
	case m == "call":
		return a.call(mn, ops)
	case m == "lock":
		return a.lock(mn, ops)
	case m == "ja" || m == "ja32":
		if err := a.operands(mn, ops, 1, "target"); err != nil {
			return err
		}
		if m == "ja" {
			return a.jump(isa.Instruction{Opcode: isa.OpcodeJA}, ops[0])
		}
		return a.jump(isa.Instruction{Opcode: isa.OpcodeJA32}, ops[0])
	case m == "neg" || m == "neg32":
		if err := a.operands(mn, ops, 1, "register"); err != nil {
			return err
		}
		dst, err := a.register(ops[0])
		if err != nil {
			return err
		}
		a.emit(isa.Instruction{Opcode: aluClass(m) | isa.OpNEG, Dst: dst})
		return nil
	}
	if base, ok := strings.CutSuffix(m, "32"); ok {
		if e, ok := aluOps[base]; ok {
			return a.alu(mn, ops, isa.ClassALU|e.op, e.off)
		}
		if op, ok := jmpOps[base]; ok {
			return a.condJump(mn, ops, isa.ClassJMP32|op)
		}
	}
	if e, ok := aluOps[m]; ok {
		return a.alu(mn, ops, isa.ClassALU64|e.op, e.off)
	}
	if op, ok := jmpOps[m]; ok {
		return a.condJump(mn, ops, isa.ClassJMP|op)
	}
	if rest, ok := strings.CutPrefix(m, "movsx"); ok {
		var class uint8
		var off int16
		switch rest {
		case "832":
			class, off = isa.ClassALU, 8
		case "1632":
			class, off = isa.ClassALU, 16
		case "864":
			class, off = isa.ClassALU64, 8
		case "1664":
			class, off = isa.ClassALU64, 16
		case "3264":
			class, off = isa.ClassALU64, 32
		default:
			return a.errorf(mn.col, "unknown instruction %q (movsx is movsx832, movsx1632, movsx864, movsx1664 or movsx3264)", m)
		}
		if err := a.operands(mn, ops, 2, "register, register"); err != nil {
			return err
		}
		dst, err := a.register(ops[0])
		if err != nil {
			return err
		}
		src, err := a.register(ops[1])
		if err != nil {
			return err
		}
		a.emit(isa.Instruction{Opcode: class | isa.OpMOV | isa.SrcX, Dst: dst, Src: src, Offset: off})
		return nil
	}
	for _, p := range []struct {
		prefix string
		opcode uint8
	}{
		{"le", isa.ClassALU | isa.OpEND | isa.SrcK},
		{"be", isa.ClassALU | isa.OpEND | isa.SrcX},
		{"bswap", isa.ClassALU64 | isa.OpEND},
		{"swap", isa.ClassALU64 | isa.OpEND},
	} {
		width, ok := strings.CutPrefix(m, p.prefix)
		if !ok || (width != "16" && width != "32" && width != "64") {
			continue
		}
		if err := a.operands(mn, ops, 1, "register"); err != nil {
			return err
		}
		dst, err := a.register(ops[0])
		if err != nil {
			return err
		}
		w, _ := strconv.Atoi(width)
		a.emit(isa.Instruction{Opcode: p.opcode, Dst: dst, Imm: int32(w)})
		return nil
	}
	for _, p := range []struct {
		prefix string
		mode   uint8
		store  bool
	}{
		{"ldxs", isa.ModeMEMSX, false}, {"ldx", isa.ModeMEM, false},
		{"stx", isa.ModeMEM, true}, {"st", isa.ModeMEM, true},
	} {
		suffix, ok := strings.CutPrefix(m, p.prefix)
		if !ok {
			continue
		}
		size, ok := sizeSuffix[suffix]
		if !ok || (p.mode == isa.ModeMEMSX && size == isa.SizeDW) {
			continue
		}
		return a.memory(mn, ops, p.prefix, size)
	}
	for _, p := range []struct {
		prefix string
		mode   uint8
	}{{"ldabs", isa.ModeABS}, {"ldind", isa.ModeIND}} {
		suffix, ok := strings.CutPrefix(m, p.prefix)
		if !ok {
			continue
		}
		size, ok := sizeSuffix[suffix]
		if !ok || size == isa.SizeDW {
			continue
		}
		i := isa.Instruction{Opcode: isa.ClassLD | p.mode | size}
		immTok := token{}
		if p.mode == isa.ModeABS {
			if err := a.operands(mn, ops, 1, "offset"); err != nil {
				return err
			}
			immTok = ops[0]
		} else {
			if err := a.operands(mn, ops, 2, "register, offset"); err != nil {
				return err
			}
			src, err := a.register(ops[0])
			if err != nil {
				return err
			}
			i.Src = src
			immTok = ops[1]
		}
		imm, err := a.imm32(immTok)
		if err != nil {
			return err
		}
		i.Imm = imm
		a.emit(i)
		return nil
	}
	if base, ok := strings.CutSuffix(m, "64"); ok {
		if _, alu := aluOps[base]; alu || base == "neg" {
			return a.errorf(mn.col, "unknown instruction %q: the 64-bit form has no suffix (%s)", m, base)
		}
	}
	if m == "jmp" || m == "goto" {
		return a.errorf(mn.col, "unknown instruction %q: the unconditional jump is ja", m)
	}
	return a.errorf(mn.col, "unknown instruction %q", m)
}

func aluClass(m string) uint8 {
	if strings.HasSuffix(m, "32") {
		return isa.ClassALU
	}
	return isa.ClassALU64
}

func (a *assembler) alu(mn token, ops []token, opcode uint8, off int16) error {
	if err := a.operands(mn, ops, 2, "register, register or immediate"); err != nil {
		return err
	}
	dst, err := a.register(ops[0])
	if err != nil {
		return err
	}
	i := isa.Instruction{Opcode: opcode, Dst: dst, Offset: off}
	if err := a.source(&i, ops[1]); err != nil {
		return err
	}
	a.emit(i)
	return nil
}

// source fills the register or immediate operand of an ALU or jump.
func (a *assembler) source(i *isa.Instruction, t token) error {
	if looksLikeRegister(t.text) {
		src, err := a.register(t)
		if err != nil {
			return err
		}
		i.Opcode |= isa.SrcX
		i.Src = src
		return nil
	}
	imm, err := a.imm32(t)
	if err != nil {
		if !looksLikeNumber(t.text) {
			return a.errorf(t.col, "expected a register like %%r1 or an immediate like 42, got %q", t.text)
		}
		return err
	}
	i.Imm = imm
	return nil
}

func (a *assembler) condJump(mn token, ops []token, opcode uint8) error {
	if err := a.operands(mn, ops, 3, "register, register or immediate, target"); err != nil {
		return err
	}
	dst, err := a.register(ops[0])
	if err != nil {
		return err
	}
	i := isa.Instruction{Opcode: opcode, Dst: dst}
	if err := a.source(&i, ops[1]); err != nil {
		return err
	}
	return a.jump(i, ops[2])
}

// jump emits a jump whose target is ops' label or +N/-N. ja32 and call
// local keep their target in the immediate, every other jump in the offset.
func (a *assembler) jump(i isa.Instruction, t token) error {
	kind := fixOffset
	if i.Opcode == isa.OpcodeJA32 || (i.Opcode == isa.OpcodeCall && i.Src == isa.CallLocal) {
		kind = fixImm
	}
	if t.text != "" && (t.text[0] == '+' || t.text[0] == '-') {
		bits := 16
		if kind == fixImm {
			bits = 32
		}
		v, err := a.signedNumber(token{text: t.text[1:], col: t.col + 1}, t.text[0] == '-', bits)
		if err != nil {
			return err
		}
		if kind == fixImm {
			i.Imm = int32(v)
		} else {
			i.Offset = int16(v)
		}
		a.emit(i)
		return nil
	}
	if !isLabelName(t.text) {
		return a.errorf(t.col, "expected a label or a relative target like +3 or -2, got %q", t.text)
	}
	a.fixups = append(a.fixups, fixup{slot: len(a.out), kind: kind, label: t, line: a.lineNo})
	a.emit(i)
	return nil
}

func (a *assembler) call(mn token, ops []token) error {
	if len(ops) == 0 || len(ops) > 2 {
		return a.errorf(mn.col, "call takes a helper id, a register, `helper N`, `local TARGET` or `runtime N`; got %d operands", len(ops))
	}
	kind := "helper"
	target := ops[0]
	if len(ops) == 2 {
		kind, target = ops[0].text, ops[1]
	}
	switch kind {
	case "helper":
		if looksLikeRegister(target.text) {
			dst, err := a.register(target)
			if err != nil {
				return err
			}
			a.emit(isa.Instruction{Opcode: isa.OpcodeCallX, Dst: dst})
			return nil
		}
		imm, err := a.imm32(target)
		if err != nil {
			return err
		}
		a.emit(isa.Instruction{Opcode: isa.OpcodeCall, Src: isa.CallHelper, Imm: imm})
		return nil
	case "runtime":
		imm, err := a.imm32(target)
		if err != nil {
			return err
		}
		a.emit(isa.Instruction{Opcode: isa.OpcodeCall, Src: isa.CallKfunc, Imm: imm})
		return nil
	case "local":
		return a.jump(isa.Instruction{Opcode: isa.OpcodeCall, Src: isa.CallLocal}, target)
	}
	return a.errorf(ops[0].col, "unknown call kind %q: expected helper, local or runtime", kind)
}

// lock assembles `lock [fetch] OP[32] [%rd+off], %rs` with OP one of add,
// and, or, xor, xchg, cmpxchg (the last two always fetch).
func (a *assembler) lock(mn token, ops []token) error {
	fetch := false
	if len(ops) > 0 && ops[0].text == "fetch" {
		fetch = true
		ops = ops[1:]
	}
	if len(ops) != 3 {
		return a.errorf(mn.col, "invalid number of operands for lock: expected `lock [fetch] OP [%%rd+off], %%rs`, got %d operand%s after lock%s", len(ops), plural(len(ops)), map[bool]string{true: " fetch", false: ""}[fetch])
	}
	opTok := ops[0]
	name, is32 := strings.CutSuffix(opTok.text, "32")
	i := isa.Instruction{Opcode: isa.ClassSTX | isa.ModeATOMIC | isa.SizeDW}
	if is32 {
		i.Opcode = isa.ClassSTX | isa.ModeATOMIC | isa.SizeW
	}
	switch name {
	case "xchg":
		i.Imm = isa.AtomicXCHG
	case "cmpxchg":
		i.Imm = isa.AtomicCMPXCHG
	default:
		op, ok := atomicOps[name]
		if !ok {
			return a.errorf(opTok.col, "unknown atomic operation %q: expected add, and, or, xor, xchg or cmpxchg (with an optional 32 suffix)", opTok.text)
		}
		i.Imm = op
		if fetch {
			i.Imm |= isa.AtomicFETCH
		}
	}
	dst, off, err := a.mem(ops[1])
	if err != nil {
		return err
	}
	src, err := a.register(ops[2])
	if err != nil {
		return err
	}
	i.Dst, i.Offset, i.Src = dst, off, src
	a.emit(i)
	return nil
}

// memory assembles loads (ldx*, ldxs*) and stores (st*, stx*).
func (a *assembler) memory(mn token, ops []token, prefix string, size uint8) error {
	switch prefix {
	case "ldx", "ldxs":
		if err := a.operands(mn, ops, 2, "register, [register+offset]"); err != nil {
			return err
		}
		dst, err := a.register(ops[0])
		if err != nil {
			return err
		}
		src, off, err := a.mem(ops[1])
		if err != nil {
			return err
		}
		mode := isa.ModeMEM
		if prefix == "ldxs" {
			mode = isa.ModeMEMSX
		}
		a.emit(isa.Instruction{Opcode: isa.ClassLDX | mode | size, Dst: dst, Src: src, Offset: off})
	case "st":
		if err := a.operands(mn, ops, 2, "[register+offset], immediate"); err != nil {
			return err
		}
		dst, off, err := a.mem(ops[0])
		if err != nil {
			return err
		}
		imm, err := a.imm32(ops[1])
		if err != nil {
			return err
		}
		a.emit(isa.Instruction{Opcode: isa.ClassST | isa.ModeMEM | size, Dst: dst, Offset: off, Imm: imm})
	case "stx":
		if err := a.operands(mn, ops, 2, "[register+offset], register"); err != nil {
			return err
		}
		dst, off, err := a.mem(ops[0])
		if err != nil {
			return err
		}
		src, err := a.register(ops[1])
		if err != nil {
			return err
		}
		a.emit(isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | size, Dst: dst, Src: src, Offset: off})
	}
	return nil
}

// looksLikeRegister reports whether a word is meant as a register (so a
// malformed one gets a register error rather than an immediate error).
func looksLikeRegister(s string) bool {
	if strings.HasPrefix(s, "%") {
		return true
	}
	if len(s) >= 2 && s[0] == 'r' {
		for i := 1; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	return false
}

func looksLikeNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	return s != "" && s[0] >= '0' && s[0] <= '9'
}

// register parses %r0..%r15 (r11-r15 do not exist, but the negative tests
// need them encodable; isa.Validate refuses them) or the same without `%`.
func (a *assembler) register(t token) (uint8, error) {
	s := strings.TrimPrefix(t.text, "%")
	if rest, ok := strings.CutPrefix(s, "r"); ok && rest != "" && (rest == "0" || rest[0] != '0') {
		if n, err := strconv.ParseUint(rest, 10, 8); err == nil && n <= 15 {
			return uint8(n), nil
		}
	}
	return 0, a.errorf(t.col, "expected a register like %%r1, got %q", t.text)
}

// mem parses [%rN], [%rN+off] or [%rN-off].
func (a *assembler) mem(t token) (uint8, int16, error) {
	s := t.text
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return 0, 0, a.errorf(t.col, "expected a memory operand like [%%r1+8], got %q", s)
	}
	inner := s[1 : len(s)-1]
	cut := strings.IndexAny(inner, "+-")
	if cut < 0 {
		reg, err := a.register(token{text: inner, col: t.col + 1})
		return reg, 0, err
	}
	reg, err := a.register(token{text: inner[:cut], col: t.col + 1})
	if err != nil {
		return 0, 0, err
	}
	numTok := token{text: inner[cut+1:], col: t.col + 1 + cut + 1}
	neg := inner[cut] == '-'
	if isHex(numTok.text) && !neg {
		// Hex offsets are raw 16-bit patterns, as upstream reads them.
		v, err := a.unsigned(numTok, 16)
		return reg, int16(uint16(v)), err
	}
	v, err := a.signedNumber(numTok, neg, 16)
	return reg, int16(v), err
}

func isHex(s string) bool { return strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") }

// unsigned parses a decimal or 0x-prefixed hex number that must fit in
// bits bits.
func (a *assembler) unsigned(t token, bits int) (uint64, error) {
	s := t.text
	base := 10
	if isHex(s) {
		base, s = 16, s[2:]
	}
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, a.errorf(t.col, "expected a number, got %q", t.text)
	}
	v, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, a.errorf(t.col, "number %s does not fit in %d bits", t.text, bits)
		}
		return 0, a.errorf(t.col, "expected a number, got %q", t.text)
	}
	if bits < 64 && v>>bits != 0 {
		return 0, a.errorf(t.col, "number %s does not fit in %d bits", t.text, bits)
	}
	return v, nil
}

// signedNumber parses the magnitude in t (decimal or hex), negates it if
// neg, and checks it fits in a signed bits-bit field.
func (a *assembler) signedNumber(t token, neg bool, bits int) (int64, error) {
	m, err := a.unsigned(t, 64)
	if err != nil {
		return 0, err
	}
	limit := uint64(1) << (bits - 1) // magnitude of the most negative value
	sign := ""
	if neg {
		sign = "-"
	}
	if (neg && m > limit) || (!neg && m >= limit) {
		return 0, a.errorf(t.col, "%s%s is out of range for a signed %d-bit field (%d..%d)", sign, t.text, bits, -int64(limit), int64(limit-1))
	}
	if neg {
		return -int64(m), nil
	}
	return int64(m), nil
}

// imm32 parses a 32-bit immediate: signed decimal, or hex up to 0xffffffff
// taken as the raw bit pattern (so 0xffffffff is -1).
func (a *assembler) imm32(t token) (int32, error) {
	if isHex(t.text) {
		v, err := a.unsigned(t, 32)
		return int32(uint32(v)), err
	}
	if rest, ok := strings.CutPrefix(t.text, "-"); ok {
		if isHex(rest) {
			return 0, a.errorf(t.col, "negative hex immediate %q: write the raw pattern (0x...) or a negative decimal", t.text)
		}
		v, err := a.signedNumber(token{text: rest, col: t.col + 1}, true, 32)
		return int32(v), err
	}
	v, err := a.signedNumber(t, false, 32)
	return int32(v), err
}

// imm64 parses lddw's immediate: hex as the raw 64-bit pattern, decimal
// signed or unsigned.
func (a *assembler) imm64(t token) (uint64, error) {
	if rest, ok := strings.CutPrefix(t.text, "-"); ok && !isHex(rest) {
		v, err := a.signedNumber(token{text: rest, col: t.col + 1}, true, 64)
		return uint64(v), err
	}
	if strings.HasPrefix(t.text, "-") {
		return 0, a.errorf(t.col, "negative hex immediate %q: write the raw pattern (0x...) or a negative decimal", t.text)
	}
	return a.unsigned(t, 64)
}
