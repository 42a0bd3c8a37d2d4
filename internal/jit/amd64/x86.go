package amd64

import "encoding/binary"

// This file is a small x86-64 encoder: just the instruction forms the code
// generator needs, each written once from the Intel SDM's opcode tables.
// x86_test.go checks every form against GNU as/objdump.

// reg is an x86-64 general purpose register number (the 4-bit encoding).
type reg uint8

const (
	rax reg = iota
	rcx
	rdx
	rbx
	rsp
	rbp
	rsi
	rdi
	r8
	r9
	r10
	r11
	r12
	r13
	r14
	r15
)

var regNames = [16]string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}

func (r reg) String() string { return regNames[r&15] }

// operand is the r/m operand of an instruction: a register or [base+disp].
type operand struct {
	isMem bool
	r     reg   // the register, or the base of a memory operand
	disp  int32 // memory displacement
}

func direct(r reg) operand             { return operand{r: r} }
func mem(base reg, disp int32) operand { return operand{isMem: true, r: base, disp: disp} }

// Condition codes (the low nibble of Jcc/SETcc opcodes).
type cond uint8

const (
	condB  cond = 0x2 // below (CF=1)
	condAE cond = 0x3
	condE  cond = 0x4
	condNE cond = 0x5
	condBE cond = 0x6
	condA  cond = 0x7
	condL  cond = 0xc
	condGE cond = 0xd
	condLE cond = 0xe
	condG  cond = 0xf
)

// Operation sizes in bytes.
const (
	s8  = 1
	s16 = 2
	s32 = 4
	s64 = 8
)

// Two-operand ALU operations: the opcode of the "op r/m, r" form; the
// "op r, r/m" form is opcode+2 and the /digit of the immediate forms is
// opcode>>3.
const (
	aluADD byte = 0x01
	aluOR  byte = 0x09
	aluAND byte = 0x21
	aluSUB byte = 0x29
	aluXOR byte = 0x31
	aluCMP byte = 0x39
)

// Shift /digit values for C1 and D3.
const (
	shROL byte = 0
	shSHL byte = 4
	shSHR byte = 5
	shSAR byte = 7
)

// F7 group /digit values.
const (
	f7TEST byte = 0
	f7NOT  byte = 2
	f7NEG  byte = 3
	f7MUL  byte = 4
	f7DIV  byte = 6
	f7IDIV byte = 7
)

// label names a code position that may not be known yet.
type label int

type fixup struct {
	at  int // offset of the 32-bit field
	lbl label
	abs bool // the field holds the label's offset in the code, not a displacement
}

// encoder accumulates machine code.
type encoder struct {
	b      []byte
	labels []int // offset of each label, -1 while unbound
	fixups []fixup
}

func (e *encoder) newLabel() label {
	e.labels = append(e.labels, -1)
	return label(len(e.labels) - 1)
}

func (e *encoder) bind(l label) { e.labels[l] = len(e.b) }

func (e *encoder) byte1(v ...byte) { e.b = append(e.b, v...) }

func (e *encoder) imm32(v int32) { e.b = binary.LittleEndian.AppendUint32(e.b, uint32(v)) }

func fits8(v int32) bool { return v >= -128 && v <= 127 }

// sizeRex emits the operand-size prefix for size and returns the REX
// byte's W and R bits (for reg field r) over 0x40; the caller adds X and
// B and emits it when needed.
func (e *encoder) sizeRex(size int, r reg) byte {
	if size == s16 {
		e.b = append(e.b, 0x66)
	}
	rex := byte(0x40)
	if size == s64 {
		rex |= 8
	}
	if r&8 != 0 {
		rex |= 4
	}
	return rex
}

// prefix emits the operand-size prefix and REX byte. byteRegs forces a REX
// byte when a byte-sized register operand is spl/bpl/sil/dil (without REX
// those encodings mean ah/ch/dh/bh).
func (e *encoder) prefix(size int, r reg, rm operand, byteRegR, byteRegRM bool) {
	rex := e.sizeRex(size, r)
	if rm.r&8 != 0 {
		rex |= 1
	}
	force := (byteRegR && r >= 4 && r < 8) || (byteRegRM && !rm.isMem && rm.r >= 4 && rm.r < 8)
	if rex != 0x40 || force {
		e.b = append(e.b, rex)
	}
}

// modrm emits the ModRM byte (plus SIB and displacement) for reg field r
// (a register or a /digit) and operand rm.
func (e *encoder) modrm(r reg, rm operand) {
	if !rm.isMem {
		e.b = append(e.b, 0xc0|byte(r&7)<<3|byte(rm.r&7))
		return
	}
	base := byte(rm.r & 7)
	var mod byte
	switch {
	case rm.disp == 0 && base != 5: // rbp/r13 have no disp-less form
		mod = 0
	case fits8(rm.disp):
		mod = 1
	default:
		mod = 2
	}
	e.b = append(e.b, mod<<6|byte(r&7)<<3|base)
	if base == 4 { // rsp/r12 need a SIB byte: no index, same base
		e.b = append(e.b, 0x24)
	}
	switch mod {
	case 1:
		e.b = append(e.b, byte(int8(rm.disp)))
	case 2:
		e.imm32(rm.disp)
	}
}

// op emits prefixes, opcode bytes and ModRM for a reg/rm instruction.
func (e *encoder) op(size int, opcode []byte, r reg, rm operand) {
	e.prefix(size, r, rm, size == s8, size == s8)
	e.b = append(e.b, opcode...)
	e.modrm(r, rm)
}

// aluStore emits "op rm, src" (ADD/OR/AND/SUB/XOR/CMP, or 0x89 MOV, 0x85 TEST).
func (e *encoder) aluStore(opc byte, size int, rm operand, src reg) {
	if size == s8 {
		opc-- // the byte forms are one below
	}
	e.op(size, []byte{opc}, src, rm)
}

// aluLoad emits "op dst, rm" (ADD/OR/AND/SUB/XOR/CMP opcode as in aluStore,
// or 0x89 for MOV).
func (e *encoder) aluLoad(opc byte, size int, dst reg, rm operand) {
	e.op(size, []byte{opc + 2}, dst, rm)
}

// aluImm emits "op rm, imm" for ADD/OR/AND/SUB/XOR/CMP (imm sign-extended
// to 64 bits in the 64-bit form).
func (e *encoder) aluImm(opc byte, size int, rm operand, imm int32) {
	digit := reg(opc >> 3)
	if fits8(imm) {
		e.op(size, []byte{0x83}, digit, rm)
		e.b = append(e.b, byte(int8(imm)))
		return
	}
	e.op(size, []byte{0x81}, digit, rm)
	e.imm32(imm)
}

// mov emits "mov dst, src" between registers.
func (e *encoder) mov(size int, dst, src reg) { e.aluStore(0x89, size, direct(dst), src) }

// movImm32 emits "mov r32, imm32", which zero-extends into the 64-bit register.
func (e *encoder) movImm32(dst reg, imm uint32) {
	e.prefix(s32, 0, direct(dst), false, false)
	e.b = append(e.b, 0xb8|byte(dst&7))
	e.imm32(int32(imm))
}

// movImm64 loads a 64-bit constant with the shortest encoding.
func (e *encoder) movImm64(dst reg, imm uint64) {
	switch {
	case imm>>32 == 0:
		e.movImm32(dst, uint32(imm))
	case int64(imm) == int64(int32(imm)):
		e.op(s64, []byte{0xc7}, 0, direct(dst))
		e.imm32(int32(imm))
	default:
		e.prefix(s64, 0, direct(dst), false, false)
		e.b = append(e.b, 0xb8|byte(dst&7))
		e.b = binary.LittleEndian.AppendUint64(e.b, imm)
	}
}

// storeImm emits "mov size [m], imm" (imm sign-extended for 8 bytes).
func (e *encoder) storeImm(size int, m operand, imm int32) {
	switch size {
	case s8:
		e.op(s8, []byte{0xc6}, 0, m)
		e.b = append(e.b, byte(imm))
	case s16:
		e.op(s16, []byte{0xc7}, 0, m)
		e.b = append(e.b, byte(imm), byte(imm>>8))
	default:
		e.op(size, []byte{0xc7}, 0, m)
		e.imm32(imm)
	}
}

// load emits a zero-extending load of size bytes into dst.
func (e *encoder) load(size int, dst reg, m operand) {
	switch size {
	case s8:
		e.op(s32, []byte{0x0f, 0xb6}, dst, m)
	case s16:
		e.op(s32, []byte{0x0f, 0xb7}, dst, m)
	case s32:
		e.op(s32, []byte{0x8b}, dst, m)
	default:
		e.op(s64, []byte{0x8b}, dst, m)
	}
}

// loadSX emits a sign-extending load (or register move) of size bytes
// into dst, extended to dstSize (4 or 8) bytes.
func (e *encoder) loadSX(size, dstSize int, dst reg, rm operand) {
	switch size {
	case s8:
		e.prefix(dstSize, dst, rm, false, true)
		e.b = append(e.b, 0x0f, 0xbe)
		e.modrm(dst, rm)
	case s16:
		e.op(dstSize, []byte{0x0f, 0xbf}, dst, rm)
	default: // movsxd
		e.op(s64, []byte{0x63}, dst, rm)
	}
}

// movZX emits a zero-extending register move from the low size bytes.
func (e *encoder) movZX(size int, dst, src reg) {
	switch size {
	case s8:
		e.prefix(s32, dst, direct(src), false, true)
		e.b = append(e.b, 0x0f, 0xb6)
		e.modrm(dst, direct(src))
	case s16:
		e.op(s32, []byte{0x0f, 0xb7}, dst, direct(src))
	default:
		e.mov(s32, dst, src)
	}
}

// store emits "mov size [m], src".
func (e *encoder) store(size int, m operand, src reg) { e.aluStore(0x89, size, m, src) }

// lea emits "lea dst, [m]".
func (e *encoder) lea(dst reg, m operand) { e.op(s64, []byte{0x8d}, dst, m) }

// leaLabel emits "lea dst, [rip+label]".
func (e *encoder) leaLabel(dst reg, l label) {
	e.prefix(s64, dst, direct(0), false, false)
	e.b = append(e.b, 0x8d, 0x05|byte(dst&7)<<3)
	e.rel32(l)
}

// leaSize emits "lea dst, [m]" with a 4- or 8-byte result; the 4-byte form
// zero-extends into the 64-bit register, as every 32-bit operation does.
func (e *encoder) leaSize(size int, dst reg, m operand) { e.op(size, []byte{0x8d}, dst, m) }

// shiftX emits the BMI2 shift "shlx/shrx/sarx dst, src, count" (digit
// shSHL, shSHR or shSAR). Unlike the legacy shifts it takes its count in
// any register (masked to 5 or 6 bits, as cl is), writes a destination
// other than its source, leaves the flags alone and always writes (so
// zero-extends) a 32-bit result, also for a count of 0.
func (e *encoder) shiftX(digit byte, size int, dst, src, count reg) {
	var pp byte // the implied prefix selects the shift: 66 shlx, f3 sarx, f2 shrx
	switch digit {
	case shSHL:
		pp = 1
	case shSAR:
		pp = 2
	default:
		pp = 3
	}
	// Three-byte VEX: inverted R, X, B; map 0F38; W (64-bit), inverted
	// vvvv (the count), L=0, pp.
	b1 := byte(0x40 | 0x02)
	if dst&8 == 0 {
		b1 |= 0x80
	}
	if src&8 == 0 {
		b1 |= 0x20
	}
	b2 := (^byte(count)&15)<<3 | pp
	if size == s64 {
		b2 |= 0x80
	}
	e.b = append(e.b, 0xc4, b1, b2, 0xf7, 0xc0|byte(dst&7)<<3|byte(src&7))
}

// imul emits "imul dst, src".
func (e *encoder) imul(size int, dst, src reg) { e.op(size, []byte{0x0f, 0xaf}, dst, direct(src)) }

// imulImm emits "imul dst, src, imm".
func (e *encoder) imulImm(size int, dst, src reg, imm int32) {
	if fits8(imm) {
		e.op(size, []byte{0x6b}, dst, direct(src))
		e.b = append(e.b, byte(int8(imm)))
		return
	}
	e.op(size, []byte{0x69}, dst, direct(src))
	e.imm32(imm)
}

// shiftImm emits a shift or rotate of r by a constant.
func (e *encoder) shiftImm(digit byte, size int, r reg, n uint8) {
	e.op(size, []byte{0xc1}, reg(digit), direct(r))
	e.b = append(e.b, n)
}

// shiftCL emits a shift of r by cl.
func (e *encoder) shiftCL(digit byte, size int, r reg) {
	e.op(size, []byte{0xd3}, reg(digit), direct(r))
}

// unary emits an F7-group instruction (not, neg, div, idiv) on rm.
func (e *encoder) unary(digit byte, size int, rm operand) { e.op(size, []byte{0xf7}, reg(digit), rm) }

// testImm emits "test rm, imm" (imm sign-extended for 8 bytes).
func (e *encoder) testImm(size int, rm operand, imm int32) {
	e.op(size, []byte{0xf7}, reg(f7TEST), rm)
	e.imm32(imm)
}

// test emits "test a, b".
func (e *encoder) test(size int, a, b reg) { e.aluStore(0x85, size, direct(a), b) }

// signExtendAX emits cdq (size 4) or cqo (size 8).
func (e *encoder) signExtendAX(size int) {
	if size == s64 {
		e.b = append(e.b, 0x48)
	}
	e.b = append(e.b, 0x99)
}

// bswap emits "bswap r" (4 or 8 bytes).
func (e *encoder) bswap(size int, r reg) {
	e.prefix(size, 0, direct(r), false, false)
	e.b = append(e.b, 0x0f, 0xc8|byte(r&7))
}

// xchgMem emits "xchg [m], r" (implicitly locked).
func (e *encoder) xchgMem(size int, m operand, r reg) { e.op(size, []byte{0x87}, r, m) }

// lockXadd emits "lock xadd [m], r".
func (e *encoder) lockXadd(size int, m operand, r reg) {
	e.b = append(e.b, 0xf0)
	e.op(size, []byte{0x0f, 0xc1}, r, m)
}

// lockCmpxchg emits "lock cmpxchg [m], r".
func (e *encoder) lockCmpxchg(size int, m operand, r reg) {
	e.b = append(e.b, 0xf0)
	e.op(size, []byte{0x0f, 0xb1}, r, m)
}

// lockALU emits "lock op [m], r".
func (e *encoder) lockALU(opc byte, size int, m operand, r reg) {
	e.b = append(e.b, 0xf0)
	e.aluStore(opc, size, m, r)
}

// rel32 emits a 32-bit displacement to l, relative to the end of the field.
func (e *encoder) rel32(l label) {
	e.fixups = append(e.fixups, fixup{at: len(e.b), lbl: l})
	e.b = append(e.b, 0, 0, 0, 0)
}

// storeLabelOffset emits "mov qword [m], offset of l" (the offset of l in
// the code, sign-extended).
func (e *encoder) storeLabelOffset(m operand, l label) {
	e.op(s64, []byte{0xc7}, 0, m)
	e.fixups = append(e.fixups, fixup{at: len(e.b), lbl: l, abs: true})
	e.b = append(e.b, 0, 0, 0, 0)
}

// jmp emits "jmp label".
func (e *encoder) jmp(l label) {
	e.b = append(e.b, 0xe9)
	e.rel32(l)
}

// jcc emits "jcc label".
func (e *encoder) jcc(c cond, l label) {
	e.b = append(e.b, 0x0f, 0x80|byte(c))
	e.rel32(l)
}

// jmpIndirect emits "jmp rm".
func (e *encoder) jmpIndirect(rm operand) { e.op(s32, []byte{0xff}, 4, rm) }

// push emits "push r" (64-bit).
func (e *encoder) push(r reg) {
	if r&8 != 0 {
		e.b = append(e.b, 0x41)
	}
	e.b = append(e.b, 0x50|byte(r&7))
}

// pop emits "pop r" (64-bit).
func (e *encoder) pop(r reg) {
	if r&8 != 0 {
		e.b = append(e.b, 0x41)
	}
	e.b = append(e.b, 0x58|byte(r&7))
}

// callIndirect emits "call r".
func (e *encoder) callIndirect(r reg) { e.op(s32, []byte{0xff}, 2, direct(r)) }

// within32 emits f (a jump, or a flag-setting instruction and the
// conditional jump it macro-fuses with) so that it neither crosses nor
// ends on a 32-byte boundary, padding with NOPs up to the boundary if it
// would: on Skylake-derived cores (this Cascade Lake) the microcode that
// fixes the JCC erratum keeps such jumps out of the decoded-uop cache, so
// every pass through that 32-byte chunk is decoded again. f must only
// append code and fixups (labels it uses already exist).
func (e *encoder) within32(f func()) {
	start, nfix := len(e.b), len(e.fixups)
	f()
	if end := len(e.b); start/32 == (end-1)/32 && end%32 != 0 {
		return
	}
	e.b = e.b[:start]
	e.fixups = e.fixups[:nfix]
	e.align(32)
	f()
}

// ret emits "ret".
func (e *encoder) ret() { e.b = append(e.b, 0xc3) }

// nops are the recommended multi-byte NOP encodings, by length.
var nops = [10][]byte{
	nil,
	{0x90},
	{0x66, 0x90},
	{0x0f, 0x1f, 0x00},
	{0x0f, 0x1f, 0x40, 0x00},
	{0x0f, 0x1f, 0x44, 0x00, 0x00},
	{0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00},
	{0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00},
	{0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
	{0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
}

// align pads the code with NOPs to a multiple of n bytes (a power of two).
func (e *encoder) align(n int) {
	pad := (n - len(e.b)%n) % n
	for pad > 0 {
		k := min(pad, len(nops)-1)
		e.b = append(e.b, nops[k]...)
		pad -= k
	}
}

// resolve patches every fixup; it reports the first unbound label.
func (e *encoder) resolve() (label, bool) {
	for _, f := range e.fixups {
		to := e.labels[f.lbl]
		if to < 0 {
			return f.lbl, false
		}
		v := to - (f.at + 4)
		if f.abs {
			v = to
		}
		binary.LittleEndian.PutUint32(e.b[f.at:], uint32(int32(v)))
	}
	return 0, true
}

// cmpImmN emits "cmp rm, imm" for an rm of 1, 2 or 4 bytes with an
// immediate of the same width (the low bits of imm; the short
// sign-extended imm8 form where it gives the same value), as the filter
// entry's fused legacy loads compare packet bytes in place.
func (e *encoder) cmpImmN(size int, rm operand, imm int32) {
	digit := reg(aluCMP >> 3)
	switch size {
	case s8:
		e.prefix(s8, 0, rm, false, true)
		e.b = append(e.b, 0x80)
		e.modrm(digit, rm)
		e.b = append(e.b, byte(imm))
	case s16:
		if v := int32(int16(imm)); fits8(v) {
			e.op(s16, []byte{0x83}, digit, rm)
			e.b = append(e.b, byte(int8(v)))
			return
		}
		e.op(s16, []byte{0x81}, digit, rm)
		e.b = append(e.b, byte(imm), byte(imm>>8))
	default:
		e.aluImm(aluCMP, s32, rm, imm)
	}
}

// testImmN emits "test rm, imm" for an rm of 1, 2 or 4 bytes with an
// immediate of the same width (the low bits of imm).
func (e *encoder) testImmN(size int, rm operand, imm int32) {
	switch size {
	case s8:
		e.prefix(s8, 0, rm, false, true)
		e.b = append(e.b, 0xf6)
		e.modrm(reg(f7TEST), rm)
		e.b = append(e.b, byte(imm))
	case s16:
		e.op(s16, []byte{0xf7}, reg(f7TEST), rm)
		e.b = append(e.b, byte(imm), byte(imm>>8))
	default:
		e.testImm(s32, rm, imm)
	}
}
