package cbpf

import (
	"fmt"
	"strconv"
	"strings"
)

// Assemble translates bpf_asm source (the syntax of the kernel's
// tools/bpf/bpf_asm, itself the notation of the BPF paper and of
// `tcpdump -d`) into instructions:
//
//	ldh [12]                 ; comments: ';' to end of line, /* ... */, '#' at line start
//	jeq #0x800, L1, drop     ; jt and jf are labels; one label: jf falls through
//	L1: ldb [23]
//	ld [x + 14]              ; also [x+14], [%x + 14]
//	ldx 4*([14]&0xf)         ; also ldxb
//	ld #len                  ; also len, #pktlen
//	ld #proto                ; ancillary: proto type ifidx nla nlan mark queue
//	                         ;   hatype rxhash cpu vlan_tci vlan_avail (vlan_pr,
//	                         ;   vlanp) vlan_tpid rand (random) poff
//	st M[3]                  ; ld/ldx M[k], st/stx M[k]
//	jneq #1, L2              ; jne/jneq, jlt, jle: jump to the label if the
//	                         ;   condition holds, else fall through
//	drop: ret #0             ; ret #k, ret a, ret x
//
// Mnemonics and the register names a, x, M are case-insensitive; labels
// are case-sensitive. Numbers: decimal (optionally signed), 0x hex, 0b
// binary, 0 octal; they must fit in 32 bits. Errors are *SyntaxError
// values naming line and column.
func Assemble(src string) ([]Instruction, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &asmParser{toks: toks, labels: map[string]int{}}
	return p.program()
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tNumber
	tPunct // one of : , # % [ ] ( ) + - * &
)

type token struct {
	kind      tokKind
	text      string
	num       uint64 // magnitude of a number
	line, col int
}

func lex(src string) ([]token, error) {
	var toks []token
	line, lineStart := 1, 0
	for i := 0; i < len(src); {
		c := src[i]
		col := i - lineStart + 1
		switch {
		case c == '\n':
			line++
			i++
			lineStart = i
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == ';':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '#' && strings.TrimSpace(src[lineStart:i]) == "":
			// '#' first on a line starts a comment in bpf_asm.
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, syntaxErr(line, col, "unterminated /* comment")
			}
			body := src[i : i+2+end+2]
			for j := 0; j < len(body); j++ {
				if body[j] == '\n' {
					line++
					lineStart = i + j + 1
				}
			}
			i += len(body)
		case isIdentStart(c):
			j := i
			for j < len(src) && (isIdentStart(src[j]) || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			toks = append(toks, token{kind: tIdent, text: src[i:j], line: line, col: col})
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && (isIdentStart(src[j]) || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			text := src[i:j]
			n, err := parseNumber(text)
			if err != nil {
				return nil, syntaxErr(line, col, "%v", err)
			}
			toks = append(toks, token{kind: tNumber, text: text, num: n, line: line, col: col})
			i = j
		case strings.IndexByte(":,#%[]()+-*&", c) >= 0:
			toks = append(toks, token{kind: tPunct, text: string(c), line: line, col: col})
			i++
		default:
			return nil, syntaxErr(line, col, "unexpected character %q", rune(c))
		}
	}
	toks = append(toks, token{kind: tEOF, line: line, col: len(src) - lineStart + 1})
	return toks, nil
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func parseNumber(text string) (uint64, error) {
	var n uint64
	var err error
	lower := strings.ToLower(text)
	switch {
	case strings.HasPrefix(lower, "0x"):
		n, err = strconv.ParseUint(lower[2:], 16, 64)
	case strings.HasPrefix(lower, "0b"):
		n, err = strconv.ParseUint(lower[2:], 2, 64)
	case len(text) > 1 && text[0] == '0':
		n, err = strconv.ParseUint(text[1:], 8, 64)
	default:
		n, err = strconv.ParseUint(text, 10, 64)
	}
	if err != nil || n > 0xffffffff {
		return 0, fmt.Errorf("bad number %q (32-bit decimal, 0x hex, 0b binary or 0 octal)", text)
	}
	return n, nil
}

// ancillaryByName maps the extension names bpf_asm (and libpcap's listing)
// use to ancillary offsets.
var ancillaryByName = map[string]uint32{
	"proto": AncillaryProtocol, "type": AncillaryPktType, "poff": AncillaryPayOffset,
	"ifidx": AncillaryIfIndex, "nla": AncillaryNLAttr, "nlan": AncillaryNLAttrNest,
	"mark": AncillaryMark, "queue": AncillaryQueue, "hatype": AncillaryHatype,
	"rxhash": AncillaryRXHash, "cpu": AncillaryCPU, "vlan_tci": AncillaryVLANTag,
	"vlan_pr": AncillaryVLANTagPresent, "vlan_avail": AncillaryVLANTagPresent,
	"vlanp": AncillaryVLANTagPresent, "vlan_tpid": AncillaryVLANTPID,
	"rand": AncillaryRandom, "random": AncillaryRandom, "xor_x": AncillaryAlu_XOR_X,
}

// asmNames are the names Disassemble prints (bpf_asm's own; xor_x has
// none in bpf_asm, so it is printed as a plain offset).
var asmNames = map[uint32]string{
	AncillaryProtocol: "proto", AncillaryPktType: "type", AncillaryPayOffset: "poff",
	AncillaryIfIndex: "ifidx", AncillaryNLAttr: "nla", AncillaryNLAttrNest: "nlan",
	AncillaryMark: "mark", AncillaryQueue: "queue", AncillaryHatype: "hatype",
	AncillaryRXHash: "rxhash", AncillaryCPU: "cpu", AncillaryVLANTag: "vlan_tci",
	AncillaryVLANTagPresent: "vlan_avail", AncillaryVLANTPID: "vlan_tpid", AncillaryRandom: "rand",
}

var mnemonics = map[string]bool{
	"ldb": true, "ldh": true, "ld": true, "ldi": true, "ldx": true, "ldxi": true, "ldxb": true,
	"st": true, "stx": true, "jmp": true, "ja": true, "jeq": true, "jneq": true, "jne": true,
	"jlt": true, "jle": true, "jgt": true, "jge": true, "jset": true, "add": true, "sub": true,
	"mul": true, "div": true, "mod": true, "neg": true, "and": true, "xor": true, "or": true,
	"lsh": true, "rsh": true, "ret": true, "tax": true, "txa": true,
}

type labelRef struct {
	insn  int
	field byte // 't', 'f' or 'k'
	tok   token
}

type asmParser struct {
	toks   []token
	pos    int
	prog   []Instruction
	labels map[string]int
	refs   []labelRef
}

func (p *asmParser) peek() token { return p.toks[p.pos] }
func (p *asmParser) next() token { t := p.toks[p.pos]; p.pos++; return t }

func (p *asmParser) errAt(t token, format string, args ...any) error {
	return syntaxErr(t.line, t.col, format, args...)
}

func describe(t token) string {
	if t.kind == tEOF {
		return "end of input"
	}
	return strconv.Quote(t.text)
}

func (p *asmParser) punct(s string) bool {
	if t := p.peek(); t.kind == tPunct && t.text == s {
		p.pos++
		return true
	}
	return false
}

func (p *asmParser) expect(s string) error {
	if !p.punct(s) {
		t := p.peek()
		return p.errAt(t, "expected %q, found %s", s, describe(t))
	}
	return nil
}

// word consumes an identifier equal (case-insensitively) to w.
func (p *asmParser) word(w string) bool {
	if t := p.peek(); t.kind == tIdent && strings.EqualFold(t.text, w) {
		p.pos++
		return true
	}
	return false
}

// reg consumes the register name r ("x" or "a"), optionally written %r.
func (p *asmParser) reg(r string) bool {
	save := p.pos
	p.punct("%")
	if p.word(r) {
		return true
	}
	p.pos = save
	return false
}

// number reads an optionally signed number and returns it as 32 bits.
func (p *asmParser) number() (uint32, error) {
	neg := false
	if p.punct("-") {
		neg = true
	} else {
		p.punct("+")
	}
	t := p.next()
	if t.kind != tNumber {
		return 0, p.errAt(t, "expected a number, found %s", describe(t))
	}
	if neg {
		if t.num > 1<<31 {
			return 0, p.errAt(t, "-%s does not fit in 32 bits", t.text)
		}
		return uint32(-int64(t.num)), nil
	}
	return uint32(t.num), nil
}

// extension reads `#name` or `name` for an ancillary field; ok is false
// (and nothing consumed) if the next tokens are not one.
func (p *asmParser) extension() (uint32, bool) {
	save := p.pos
	p.punct("#")
	if t := p.peek(); t.kind == tIdent {
		if off, ok := ancillaryByName[strings.ToLower(t.text)]; ok {
			p.pos++
			return off, true
		}
	}
	p.pos = save
	return 0, false
}

// pktLen reads `#len`, `len` or `#pktlen`.
func (p *asmParser) pktLen() bool {
	save := p.pos
	hash := p.punct("#")
	if p.word("len") || hash && p.word("pktlen") {
		return true
	}
	p.pos = save
	return false
}

func (p *asmParser) label(field byte) error {
	t := p.next()
	if t.kind != tIdent {
		return p.errAt(t, "expected a label, found %s", describe(t))
	}
	p.refs = append(p.refs, labelRef{insn: len(p.prog) - 1, field: field, tok: t}) // the jump is already emitted
	return nil
}

func (p *asmParser) emit(op uint16, k uint32) { p.prog = append(p.prog, Instruction{Op: op, K: k}) }

func (p *asmParser) program() ([]Instruction, error) {
	for p.peek().kind != tEOF {
		t := p.next()
		if t.kind != tIdent {
			return nil, p.errAt(t, "expected an instruction or a label, found %s", describe(t))
		}
		if p.punct(":") {
			if mnemonics[strings.ToLower(t.text)] {
				return nil, p.errAt(t, "%q is an instruction name and cannot be a label", t.text)
			}
			if _, dup := p.labels[t.text]; dup {
				return nil, p.errAt(t, "label %q defined twice", t.text)
			}
			if p.peek().kind == tEOF {
				return nil, p.errAt(t, "label %q is not followed by an instruction", t.text)
			}
			p.labels[t.text] = len(p.prog)
			continue
		}
		if len(p.prog) >= MaxInstructions {
			return nil, p.errAt(t, "more than %d instructions", MaxInstructions)
		}
		if err := p.instruction(t); err != nil {
			return nil, err
		}
	}
	if len(p.prog) == 0 {
		return nil, syntaxErr(1, 0, "no instructions")
	}
	for _, r := range p.refs {
		target, ok := p.labels[r.tok.text]
		if !ok {
			return nil, p.errAt(r.tok, "undefined label %q", r.tok.text)
		}
		delta := target - r.insn - 1
		if delta < 0 {
			return nil, p.errAt(r.tok, "label %q is not after the jump: classic BPF jumps only forward", r.tok.text)
		}
		switch r.field {
		case 't', 'f':
			if delta > 255 {
				return nil, p.errAt(r.tok, "label %q is %d instructions away; a conditional jump reaches at most 255", r.tok.text, delta)
			}
			if r.field == 't' {
				p.prog[r.insn].Jt = uint8(delta)
			} else {
				p.prog[r.insn].Jf = uint8(delta)
			}
		default:
			p.prog[r.insn].K = uint32(delta)
		}
	}
	return p.prog, nil
}

func (p *asmParser) instruction(t token) error {
	m := strings.ToLower(t.text)
	switch m {
	case "ldb", "ldh", "ld":
		size := map[string]uint16{"ldb": SizeB, "ldh": SizeH, "ld": SizeW}[m]
		if off, ok := p.extension(); ok {
			p.emit(ClassLD|ModeABS|size, adOff+off)
			return nil
		}
		if p.peek().text == "[" {
			return p.packetLoad(ClassLD | size)
		}
		if m != "ld" {
			break
		}
		if p.pktLen() {
			p.emit(OpLDLen, 0)
			return nil
		}
		if p.word("M") {
			return p.memory(OpLDMem)
		}
		if p.punct("#") {
			return p.imm(OpLDImm)
		}
	case "ldi":
		p.punct("#")
		return p.imm(OpLDImm)
	case "ldxi":
		p.punct("#")
		return p.imm(OpLDXImm)
	case "ldx", "ldxb":
		if m == "ldx" {
			if p.pktLen() {
				p.emit(OpLDXLen, 0)
				return nil
			}
			if p.word("M") {
				return p.memory(OpLDXMem)
			}
			if p.punct("#") {
				return p.imm(OpLDXImm)
			}
		}
		return p.msh()
	case "st", "stx":
		if !p.word("M") {
			return p.errAt(p.peek(), "expected M[k] after %s", m)
		}
		return p.memory(map[string]uint16{"st": OpST, "stx": OpSTX}[m])
	case "jmp", "ja":
		p.emit(OpJA, 0)
		p.prog[len(p.prog)-1].K = 0
		return p.label('k')
	case "jeq", "jgt", "jge", "jset", "jneq", "jne", "jlt", "jle":
		return p.jump(m)
	case "add", "sub", "mul", "div", "mod", "and", "or", "xor", "lsh", "rsh":
		op := map[string]uint16{"add": AluADD, "sub": AluSUB, "mul": AluMUL, "div": AluDIV, "mod": AluMOD,
			"and": AluAND, "or": AluOR, "xor": AluXOR, "lsh": AluLSH, "rsh": AluRSH}[m]
		if p.reg("x") {
			p.emit(ClassALU|op|SrcX, 0)
			return nil
		}
		if err := p.expect("#"); err != nil {
			return err
		}
		return p.imm(ClassALU | op)
	case "neg":
		p.emit(OpNeg, 0)
		return nil
	case "tax":
		p.emit(OpTAX, 0)
		return nil
	case "txa":
		p.emit(OpTXA, 0)
		return nil
	case "ret":
		switch {
		case p.reg("a"):
			p.emit(OpRetA, 0)
			return nil
		case p.reg("x"):
			p.emit(OpRetX, 0)
			return nil
		}
		if err := p.expect("#"); err != nil {
			return err
		}
		return p.imm(OpRetK)
	default:
		return p.errAt(t, "unknown instruction %q", t.text)
	}
	n := p.peek()
	return p.errAt(n, "unexpected %s after %s", describe(n), m)
}

func (p *asmParser) imm(op uint16) error {
	k, err := p.number()
	if err != nil {
		return err
	}
	p.emit(op, k)
	return nil
}

// memory reads "[k]" after M.
func (p *asmParser) memory(op uint16) error {
	if err := p.expect("["); err != nil {
		return err
	}
	k, err := p.number()
	if err != nil {
		return err
	}
	p.emit(op, k)
	return p.expect("]")
}

// packetLoad reads "[k]" or "[x + k]".
func (p *asmParser) packetLoad(op uint16) error {
	if err := p.expect("["); err != nil {
		return err
	}
	mode := ModeABS
	if p.reg("x") {
		mode = ModeIND
		if p.peek().text != "]" {
			if err := p.expect("+"); err != nil {
				return err
			}
		}
	}
	var k uint32
	if !(mode == ModeIND && p.peek().text == "]") {
		var err error
		if k, err = p.number(); err != nil {
			return err
		}
	}
	p.emit(op|mode, k)
	return p.expect("]")
}

// msh reads "4*([k]&0xf)".
func (p *asmParser) msh() error {
	start := p.peek()
	four, err := p.number()
	if err != nil {
		return err
	}
	if err := p.expect("*"); err != nil {
		return err
	}
	if err := p.expect("("); err != nil {
		return err
	}
	if err := p.expect("["); err != nil {
		return err
	}
	k, err := p.number()
	if err != nil {
		return err
	}
	if err := p.expect("]"); err != nil {
		return err
	}
	if err := p.expect("&"); err != nil {
		return err
	}
	mask, err := p.number()
	if err != nil {
		return err
	}
	if four != 4 || mask != 0xf {
		return p.errAt(start, "only 4*([k]&0xf) exists")
	}
	p.emit(OpLDXMSH, k)
	return p.expect(")")
}

func (p *asmParser) jump(m string) error {
	op := map[string]uint16{"jeq": JmpJEQ, "jneq": JmpJEQ, "jne": JmpJEQ, "jgt": JmpJGT, "jle": JmpJGT,
		"jge": JmpJGE, "jlt": JmpJGE, "jset": JmpJSET}[m]
	op |= ClassJMP
	var k uint32
	if p.reg("x") {
		op |= SrcX
	} else {
		if err := p.expect("#"); err != nil {
			return err
		}
		var err error
		if k, err = p.number(); err != nil {
			return err
		}
	}
	if err := p.expect(","); err != nil {
		return err
	}
	p.emit(op, k)
	switch m {
	case "jneq", "jne", "jlt", "jle": // the label is where the negated condition goes
		return p.label('f')
	}
	if err := p.label('t'); err != nil {
		return err
	}
	if p.punct(",") {
		return p.label('f')
	}
	return nil
}

// Disassemble returns bpf_asm source for the program, with a label
// "L<index>" on every jump target, that Assemble turns back into the same
// instructions. Instructions bpf_asm cannot express (opcodes Linux does not
// know) are an error.
func Disassemble(prog []Instruction) (string, error) {
	targets := map[int]bool{}
	for n, ins := range prog {
		switch {
		case ins.Op == OpJA:
			t := uint64(n) + 1 + uint64(ins.K)
			if t >= uint64(len(prog)) {
				return "", &InstructionError{Index: n, Insn: ins, Reason: "jump target is outside the program"}
			}
			targets[int(t)] = true
		case ins.IsJump():
			for _, off := range []uint8{ins.Jt, ins.Jf} {
				t := n + 1 + int(off)
				if t >= len(prog) {
					return "", &InstructionError{Index: n, Insn: ins, Reason: "jump target is outside the program"}
				}
				targets[t] = true
			}
		}
	}
	label := func(t int) string { return fmt.Sprintf("L%d", t) }
	var b strings.Builder
	for n, ins := range prog {
		text, err := asmText(ins, n, label)
		if err != nil {
			return "", err
		}
		if targets[n] {
			b.WriteString(label(n) + ":")
		}
		b.WriteString("\t" + text + "\n")
	}
	return b.String(), nil
}

func asmText(ins Instruction, n int, label func(int) string) (string, error) {
	k := ins.K
	sizeName := map[uint16]string{SizeW: "ld", SizeH: "ldh", SizeB: "ldb"}
	switch ins.Op {
	case OpRetK:
		return fmt.Sprintf("ret #%d", k), nil
	case OpRetA:
		return "ret a", nil
	case OpRetX:
		return "ret x", nil
	case OpLDImm:
		return fmt.Sprintf("ld #%#x", k), nil
	case OpLDXImm:
		return fmt.Sprintf("ldx #%#x", k), nil
	case OpLDLen:
		return "ld #len", nil
	case OpLDXLen:
		return "ldx #len", nil
	case OpLDMem:
		return fmt.Sprintf("ld M[%d]", k), nil
	case OpLDXMem:
		return fmt.Sprintf("ldx M[%d]", k), nil
	case OpST:
		return fmt.Sprintf("st M[%d]", k), nil
	case OpSTX:
		return fmt.Sprintf("stx M[%d]", k), nil
	case OpLDXMSH:
		return fmt.Sprintf("ldxb 4*([%d]&0xf)", int32(k)), nil
	case OpTAX:
		return "tax", nil
	case OpTXA:
		return "txa", nil
	case OpNeg:
		return "neg", nil
	case OpJA:
		return "ja " + label(n+1+int(k)), nil
	case ClassLD | ModeABS | SizeW, ClassLD | ModeABS | SizeH, ClassLD | ModeABS | SizeB:
		name := sizeName[ins.Op&0x18]
		if k >= adOff {
			if ext, ok := asmNames[k-adOff]; ok {
				return fmt.Sprintf("%s #%s", name, ext), nil
			}
		}
		return fmt.Sprintf("%s [%d]", name, int32(k)), nil
	case ClassLD | ModeIND | SizeW, ClassLD | ModeIND | SizeH, ClassLD | ModeIND | SizeB:
		return fmt.Sprintf("%s [x + %d]", sizeName[ins.Op&0x18], int32(k)), nil
	}
	if ins.Op <= 0xff && ins.Op&^(0xf0|SrcX) == ClassJMP {
		if name, ok := jumpNames[ins.Op&^SrcX]; ok {
			operand := fmt.Sprintf("#%#x", k)
			if ins.Op&SrcX != 0 {
				operand = "x"
			}
			s := fmt.Sprintf("%s %s, %s", name, operand, label(n+1+int(ins.Jt)))
			if ins.Jf != 0 {
				s += ", " + label(n+1+int(ins.Jf))
			}
			return s, nil
		}
	}
	if ins.Op <= 0xff && ins.Op&^(0xf0|SrcX) == ClassALU {
		if name, ok := aluNames[ins.Op&0xf0]; ok {
			if ins.Op&SrcX != 0 {
				return name + " x", nil
			}
			switch ins.Op & 0xf0 {
			case AluAND, AluOR, AluXOR:
				return fmt.Sprintf("%s #%#x", name, k), nil
			}
			return fmt.Sprintf("%s #%d", name, k), nil
		}
	}
	return "", &InstructionError{Index: n, Insn: ins, Reason: fmt.Sprintf("opcode %#x has no bpf_asm form", ins.Op)}
}
