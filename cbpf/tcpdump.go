package cbpf

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// adOff is SKF_AD_OFF as the unsigned k of an absolute load.
const adOff uint32 = 0xfffff000

// mnemonic returns the operation name and operand text libpcap's
// bpf_image prints for the instruction at index n (n matters only for ja,
// whose operand is its absolute target).
func (i Instruction) mnemonic(n int) (op, operand string) {
	k := i.K
	sk := int32(k) // libpcap prints most operands with %d of an int
	switch i.Op {
	case OpRetK:
		return "ret", fmt.Sprintf("#%d", sk)
	case OpRetA:
		return "ret", ""
	case ClassLD | ModeABS | SizeW:
		return "ld", absOperand(k)
	case ClassLD | ModeABS | SizeH:
		return "ldh", absOperand(k)
	case ClassLD | ModeABS | SizeB:
		return "ldb", absOperand(k)
	case OpLDLen:
		return "ld", "#pktlen"
	// libpcap 1.10 prints ldx #len (0x81) as "unimp": so do we.
	case ClassLD | ModeIND | SizeW:
		return "ld", fmt.Sprintf("[x + %d]", sk)
	case ClassLD | ModeIND | SizeH:
		return "ldh", fmt.Sprintf("[x + %d]", sk)
	case ClassLD | ModeIND | SizeB:
		return "ldb", fmt.Sprintf("[x + %d]", sk)
	case OpLDImm:
		return "ld", fmt.Sprintf("#0x%x", k)
	case OpLDXImm:
		return "ldx", fmt.Sprintf("#0x%x", k)
	case OpLDXMSH:
		return "ldxb", fmt.Sprintf("4*([%d]&0xf)", sk)
	case OpLDMem:
		return "ld", fmt.Sprintf("M[%d]", sk)
	case OpLDXMem:
		return "ldx", fmt.Sprintf("M[%d]", sk)
	case OpST:
		return "st", fmt.Sprintf("M[%d]", sk)
	case OpSTX:
		return "stx", fmt.Sprintf("M[%d]", sk)
	case OpJA:
		return "ja", fmt.Sprintf("%d", int32(uint32(n)+1+k))
	case OpNeg:
		return "neg", ""
	case OpTAX:
		return "tax", ""
	case OpTXA:
		return "txa", ""
	}
	if name, ok := jumpNames[i.Op&^SrcX]; ok && i.Class() == ClassJMP {
		if i.Op&SrcX != 0 {
			return name, "x"
		}
		return name, fmt.Sprintf("#0x%x", k)
	}
	if i.Class() == ClassALU && i.Op <= 0xff {
		name, ok := aluNames[i.Op&0xf0]
		if ok && i.Op&^(0xf0|SrcX) == ClassALU {
			if i.Op&SrcX != 0 {
				return name, "x"
			}
			switch i.Op & 0xf0 {
			case AluAND, AluOR, AluXOR:
				return name, fmt.Sprintf("#0x%x", k)
			}
			return name, fmt.Sprintf("#%d", sk)
		}
	}
	return "unimp", fmt.Sprintf("0x%x", i.Op)
}

var jumpNames = map[uint16]string{
	ClassJMP | JmpJEQ: "jeq", ClassJMP | JmpJGT: "jgt", ClassJMP | JmpJGE: "jge", ClassJMP | JmpJSET: "jset",
}

var aluNames = map[uint16]string{
	AluADD: "add", AluSUB: "sub", AluMUL: "mul", AluDIV: "div", AluMOD: "mod",
	AluAND: "and", AluOR: "or", AluXOR: "xor", AluLSH: "lsh", AluRSH: "rsh",
}

func absOperand(k uint32) string {
	if k >= adOff {
		if name, ok := ancillaryNames[k-adOff]; ok {
			return "[" + name + "]"
		}
	}
	return fmt.Sprintf("[%d]", int32(k))
}

// image is libpcap's bpf_image: the line `tcpdump -d` prints for the
// instruction at index n.
func (i Instruction) image(n int) string {
	op, operand := i.mnemonic(n)
	if i.Class() == ClassJMP && i.Op&0xf0 != JmpJA {
		return fmt.Sprintf("(%03d) %-8s %-16s jt %d\tjf %d", n, op, operand, n+1+int(i.Jt), n+1+int(i.Jf))
	}
	return fmt.Sprintf("(%03d) %-8s %s", n, op, operand)
}

// format is a compact one-line form for error messages: with index n known,
// jump targets are absolute; otherwise they are relative (+jt, +jf).
func (i Instruction) format(n int, relative bool) string {
	op, operand := i.mnemonic(n)
	s := op
	if operand != "" {
		s += " " + operand
	}
	if i.Op == OpJA && relative {
		s = fmt.Sprintf("ja +%d", i.K)
	}
	if i.Class() == ClassJMP && i.Op&0xf0 != JmpJA {
		if relative {
			s += fmt.Sprintf(" jt +%d jf +%d", i.Jt, i.Jf)
		} else {
			s += fmt.Sprintf(" jt %d jf %d", n+1+int(i.Jt), n+1+int(i.Jf))
		}
	}
	return s
}

// String formats the instruction as tcpdump does, with jump offsets
// relative to the next instruction since the index is unknown.
func (i Instruction) String() string { return i.format(0, true) }

// FormatListing returns the program as `tcpdump -d` prints it (libpcap's
// bpf_dump with option 1): one bpf_image line per instruction.
func FormatListing(prog []Instruction) string {
	var b strings.Builder
	for n, ins := range prog {
		b.WriteString(ins.image(n))
		b.WriteByte('\n')
	}
	return b.String()
}

// FormatC returns the program as `tcpdump -dd` prints it: a C array body.
func FormatC(prog []Instruction) string {
	var b strings.Builder
	for _, ins := range prog {
		fmt.Fprintf(&b, "{ 0x%x, %d, %d, 0x%08x },\n", ins.Op, ins.Jt, ins.Jf, ins.K)
	}
	return b.String()
}

// FormatDecimal returns the program as `tcpdump -ddd` prints it: the
// instruction count, then one "op jt jf k" line per instruction. This is
// also the format iptables' xt_bpf and `bpfc` use.
func FormatDecimal(prog []Instruction) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d\n", len(prog))
	for _, ins := range prog {
		fmt.Fprintf(&b, "%d %d %d %d\n", ins.Op, ins.Jt, ins.Jf, ins.K)
	}
	return b.String()
}

// Format names one of the textual program formats.
type Format int

// The formats Detect recognises.
const (
	FormatUnknown  Format = iota
	FormatAsm             // bpf_asm source
	FormatTcpdumpD        // tcpdump -d listing
	FormatTcpdumpC        // tcpdump -dd C array (also bpf_asm -c)
	FormatTcpdumpN        // tcpdump -ddd decimal (also bpf_asm's "n,op jt jf k," line)
)

func (f Format) String() string {
	switch f {
	case FormatAsm:
		return "bpf_asm"
	case FormatTcpdumpD:
		return "tcpdump -d"
	case FormatTcpdumpC:
		return "tcpdump -dd"
	case FormatTcpdumpN:
		return "tcpdump -ddd"
	}
	return "unknown"
}

// SyntaxError is an error at a position in program text.
type SyntaxError struct {
	Line, Col int // 1-based; Col 0 when the whole line is at fault
	Msg       string
}

func (e *SyntaxError) Error() string {
	if e.Col > 0 {
		return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("%d: %s", e.Line, e.Msg)
}

func syntaxErr(line, col int, format string, args ...any) error {
	return &SyntaxError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// Detect guesses the format of program text from its first significant
// line.
func Detect(text string) Format {
	for _, line := range strings.Split(text, "\n") {
		l := strings.TrimSpace(line)
		if l == "" {
			continue
		}
		switch {
		case strings.HasPrefix(l, "{"):
			return FormatTcpdumpC
		case strings.HasPrefix(l, "("):
			return FormatTcpdumpD
		case l[0] >= '0' && l[0] <= '9':
			return FormatTcpdumpN
		case strings.HasPrefix(l, "/*"), strings.HasPrefix(l, ";"), strings.HasPrefix(l, "#"):
			continue // bpf_asm comments
		}
		return FormatAsm
	}
	return FormatUnknown
}

// Parse reads a program in any format Detect recognises.
func Parse(text string) ([]Instruction, error) {
	switch Detect(text) {
	case FormatTcpdumpC:
		return ParseC(text)
	case FormatTcpdumpD:
		return ParseListing(text)
	case FormatTcpdumpN:
		return ParseDecimal(text)
	case FormatAsm:
		return Assemble(text)
	}
	return nil, errors.New("empty program text")
}

// ParseC reads `tcpdump -dd` output (or bpf_asm -c, or any C initializer
// list of { code, jt, jf, k } entries; numbers in C syntax).
func ParseC(text string) ([]Instruction, error) {
	var prog []Instruction
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for ln := 1; sc.Scan(); ln++ {
		line := sc.Text()
		rest := strings.TrimSpace(line)
		for rest != "" {
			if !strings.HasPrefix(rest, "{") {
				return nil, syntaxErr(ln, col(line, rest), "expected '{'")
			}
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return nil, syntaxErr(ln, col(line, rest), "missing '}'")
			}
			fields := strings.Split(rest[1:end], ",")
			if len(fields) != 4 {
				return nil, syntaxErr(ln, col(line, rest), "expected 4 fields { code, jt, jf, k }, found %d", len(fields))
			}
			var v [4]uint64
			limits := [4]uint64{0xffff, 0xff, 0xff, 0xffffffff}
			for f, s := range fields {
				n, err := strconv.ParseUint(strings.TrimSpace(s), 0, 64)
				if err != nil || n > limits[f] {
					return nil, syntaxErr(ln, col(line, strings.TrimSpace(s)), "field %d: %q is not a number in 0..%#x", f+1, strings.TrimSpace(s), limits[f])
				}
				v[f] = n
			}
			prog = append(prog, Instruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])})
			rest = strings.TrimSpace(rest[end+1:])
			rest = strings.TrimSpace(strings.TrimPrefix(rest, ","))
		}
	}
	if len(prog) == 0 {
		return nil, errors.New("no instructions found")
	}
	return prog, nil
}

// col returns the 1-based column of sub (a substring slice of line).
func col(line, sub string) int {
	i := strings.Index(line, sub)
	if i < 0 {
		return 1
	}
	return i + 1
}

// ParseDecimal reads `tcpdump -ddd` output: a count line, then one
// "code jt jf k" line per instruction. The comma-separated single-line
// form bpf_asm and iptables use ("4,40 0 0 12,21 0 1 2048,...") is also
// accepted.
func ParseDecimal(text string) ([]Instruction, error) {
	type item struct {
		s         string
		line, col int
	}
	var items []item
	for ln, line := range strings.Split(text, "\n") {
		pos := 0
		for _, part := range strings.Split(line, ",") {
			if t := strings.TrimSpace(part); t != "" {
				items = append(items, item{t, ln + 1, pos + strings.Index(part, t) + 1})
			}
			pos += len(part) + 1
		}
	}
	if len(items) == 0 {
		return nil, errors.New("no instructions found")
	}
	count, err := strconv.ParseUint(items[0].s, 10, 32)
	if err != nil {
		return nil, syntaxErr(items[0].line, items[0].col, "expected the instruction count, found %q", items[0].s)
	}
	if count == 0 {
		return nil, syntaxErr(items[0].line, items[0].col, "the program has no instructions")
	}
	if int(count) != len(items)-1 {
		return nil, syntaxErr(items[0].line, items[0].col, "the count says %d instructions but %d follow", count, len(items)-1)
	}
	prog := make([]Instruction, 0, count)
	limits := [4]uint64{0xffff, 0xff, 0xff, 0xffffffff}
	for _, it := range items[1:] {
		f := strings.Fields(it.s)
		if len(f) != 4 {
			return nil, syntaxErr(it.line, it.col, "expected 4 numbers \"code jt jf k\", found %d", len(f))
		}
		var v [4]uint64
		for j, s := range f {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil || n > limits[j] {
				return nil, syntaxErr(it.line, it.col, "field %d: %q is not a decimal number in 0..%d", j+1, s, limits[j])
			}
			v[j] = n
		}
		prog = append(prog, Instruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])})
	}
	return prog, nil
}

// ParseListing reads `tcpdump -d` output back into instructions. Every
// line must be exactly what FormatListing prints for the instruction it
// describes (the listing is not a language: "unimp" lines cannot be
// parsed back, since they lose the k field).
func ParseListing(text string) ([]Instruction, error) {
	var prog []Instruction
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for ln, line := range lines {
		n := len(prog)
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		ins, err := parseListingLine(line, n)
		if err != nil {
			return nil, syntaxErr(ln+1, 0, "%v", err)
		}
		prog = append(prog, ins)
	}
	if len(prog) == 0 {
		return nil, errors.New("no instructions found")
	}
	return prog, nil
}

func parseListingLine(line string, n int) (Instruction, error) {
	var idx int
	if len(line) < 6 || line[0] != '(' {
		return Instruction{}, fmt.Errorf("expected \"(%03d)\" at the start of the line", n)
	}
	end := strings.IndexByte(line, ')')
	if end < 0 {
		return Instruction{}, errors.New("missing ')' after the instruction index")
	}
	idx, err := strconv.Atoi(line[1:end])
	if err != nil || idx != n {
		return Instruction{}, fmt.Errorf("instruction index %q, expected %03d", line[1:end], n)
	}
	fields := strings.Fields(line[end+1:])
	if len(fields) == 0 {
		return Instruction{}, errors.New("missing operation")
	}
	op, args := fields[0], fields[1:]
	var jt, jf int
	if len(args) >= 4 && args[len(args)-4] == "jt" && args[len(args)-2] == "jf" {
		t, err1 := strconv.Atoi(args[len(args)-3])
		f, err2 := strconv.Atoi(args[len(args)-1])
		if err1 != nil || err2 != nil || t <= n || f <= n || t-n-1 > 255 || f-n-1 > 255 {
			return Instruction{}, errors.New("bad jump targets")
		}
		jt, jf = t-n-1, f-n-1
		args = args[:len(args)-4]
	}
	operand := strings.Join(args, " ")
	ins, ok := listingInstruction(op, operand, n)
	if !ok {
		return Instruction{}, fmt.Errorf("cannot parse %q", strings.TrimSpace(line[end+1:]))
	}
	ins.Jt, ins.Jf = uint8(jt), uint8(jf)
	// The listing is canonical: the only accepted text is the exact image.
	if got := ins.image(n); got != line {
		return Instruction{}, fmt.Errorf("line is not in tcpdump's format: expected %q", got)
	}
	return ins, nil
}

// listingInstruction decodes one operation and operand of a listing line.
func listingInstruction(op, operand string, n int) (Instruction, bool) {
	num := func(s string, hex bool) (uint32, bool) {
		if hex {
			if !strings.HasPrefix(s, "0x") {
				return 0, false
			}
			v, err := strconv.ParseUint(s[2:], 16, 32)
			return uint32(v), err == nil
		}
		v, err := strconv.ParseInt(s, 10, 32)
		return uint32(v), err == nil
	}
	between := func(s, pre, suf string) (string, bool) {
		if strings.HasPrefix(s, pre) && strings.HasSuffix(s, suf) && len(s) >= len(pre)+len(suf) {
			return s[len(pre) : len(s)-len(suf)], true
		}
		return "", false
	}
	sizes := map[string]uint16{"ld": SizeW, "ldh": SizeH, "ldb": SizeB}
	switch {
	case op == "ret" && operand == "":
		return Stmt(OpRetA, 0), true
	case op == "ret":
		v, ok := between(operand, "#", "")
		k, ok2 := num(v, false)
		return Stmt(OpRetK, k), ok && ok2
	case op == "neg" && operand == "":
		return Stmt(OpNeg, 0), true
	case op == "tax" && operand == "":
		return Stmt(OpTAX, 0), true
	case op == "txa" && operand == "":
		return Stmt(OpTXA, 0), true
	case op == "ja":
		t, err := strconv.ParseInt(operand, 10, 64)
		return Stmt(OpJA, uint32(t-int64(n)-1)), err == nil
	case op == "ld" && operand == "#pktlen":
		return Stmt(OpLDLen, 0), true
	case op == "ldxb":
		v, ok := between(operand, "4*([", "]&0xf)")
		k, ok2 := num(v, false)
		return Stmt(OpLDXMSH, k), ok && ok2
	case op == "st" || op == "stx":
		v, ok := between(operand, "M[", "]")
		k, ok2 := num(v, false)
		if op == "st" {
			return Stmt(OpST, k), ok && ok2
		}
		return Stmt(OpSTX, k), ok && ok2
	}
	if op == "ld" || op == "ldx" {
		if v, ok := between(operand, "M[", "]"); ok {
			k, ok := num(v, false)
			if op == "ld" {
				return Stmt(OpLDMem, k), ok
			}
			return Stmt(OpLDXMem, k), ok
		}
		if v, ok := between(operand, "#", ""); ok {
			k, ok := num(v, true)
			if op == "ld" {
				return Stmt(OpLDImm, k), ok
			}
			return Stmt(OpLDXImm, k), ok
		}
	}
	if size, isLoad := sizes[op]; isLoad {
		if v, ok := between(operand, "[x + ", "]"); ok {
			k, ok := num(v, false)
			return Stmt(ClassLD|ModeIND|size, k), ok
		}
		if v, ok := between(operand, "[", "]"); ok {
			for off, name := range ancillaryNames {
				if name == v {
					return Stmt(ClassLD|ModeABS|size, adOff+off), true
				}
			}
			k, ok := num(v, false)
			return Stmt(ClassLD|ModeABS|size, k), ok
		}
	}
	for code, name := range jumpNames {
		if name == op {
			if operand == "x" {
				return Instruction{Op: code | SrcX}, true
			}
			v, ok := between(operand, "#", "")
			k, ok2 := num(v, true)
			return Instruction{Op: code, K: k}, ok && ok2
		}
	}
	for code, name := range aluNames {
		if name == op {
			if operand == "x" {
				return Stmt(ClassALU|code|SrcX, 0), true
			}
			v, ok := between(operand, "#", "")
			hex := code == AluAND || code == AluOR || code == AluXOR
			k, ok2 := num(v, hex)
			return Stmt(ClassALU|code, k), ok && ok2
		}
	}
	return Instruction{}, false
}
