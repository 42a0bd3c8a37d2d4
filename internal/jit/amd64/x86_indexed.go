//go:build linux && amd64

package amd64

// Encoders for memory operands with an index register (base + index*scale
// + disp, or index*scale + disp32 without a base), which the filter entry's
// indirect legacy loads use to address the packet without adding the
// offset to its base first.

// sibOperand is a memory operand with an index: base + index*scale + disp,
// or index*scale + disp (a 32-bit displacement) when noBase. The index is
// never rsp (that encoding means "no index"); scale is 1, 2, 4 or 8.
type sibOperand struct {
	base, index reg
	scale       uint8
	disp        int32
	noBase      bool
}

// memIdx returns the operand base + index (scale 1).
func memIdx(base, index reg, disp int32) sibOperand {
	return sibOperand{base: base, index: index, scale: 1, disp: disp}
}

// scaleBits is the SIB byte's scale field of a scale.
func scaleBits(scale uint8) byte {
	switch scale {
	case 2:
		return 1
	case 4:
		return 2
	case 8:
		return 3
	}
	return 0
}

// prefixIdx emits the operand-size prefix and REX byte for reg field r
// (a register or a /digit) and indexed operand m.
func (e *encoder) prefixIdx(size int, r reg, m sibOperand) {
	rex := e.sizeRex(size, r)
	if m.index&8 != 0 {
		rex |= 2
	}
	if !m.noBase && m.base&8 != 0 {
		rex |= 1
	}
	if rex != 0x40 {
		e.b = append(e.b, rex)
	}
}

// modrmIdx emits the ModRM byte, the SIB byte and the displacement.
func (e *encoder) modrmIdx(r reg, m sibOperand) {
	sib := scaleBits(m.scale)<<6 | byte(m.index&7)<<3
	if m.noBase {
		// mod 00 with SIB base 101: no base, a 32-bit displacement.
		e.b = append(e.b, byte(r&7)<<3|4, sib|5)
		e.imm32(m.disp)
		return
	}
	base := byte(m.base & 7)
	var mod byte
	switch {
	case m.disp == 0 && base != 5: // rbp/r13 have no disp-less form
		mod = 0
	case fits8(m.disp):
		mod = 1
	default:
		mod = 2
	}
	e.b = append(e.b, mod<<6|byte(r&7)<<3|4, sib|base)
	switch mod {
	case 1:
		e.b = append(e.b, byte(int8(m.disp)))
	case 2:
		e.imm32(m.disp)
	}
}

// opIdx emits prefixes, opcode bytes and ModRM/SIB for a reg/rm
// instruction on an indexed operand.
func (e *encoder) opIdx(size int, opcode []byte, r reg, m sibOperand) {
	e.prefixIdx(size, r, m)
	e.b = append(e.b, opcode...)
	e.modrmIdx(r, m)
}

// leaIdx emits "lea dst, m" with an operation size of 4 or 8 bytes (4:
// the address computed modulo 2^32, zero-extended).
func (e *encoder) leaIdx(size int, dst reg, m sibOperand) { e.opIdx(size, []byte{0x8d}, dst, m) }

// loadIdx emits a zero-extending load of size bytes (1, 2 or 4) into dst.
func (e *encoder) loadIdx(size int, dst reg, m sibOperand) {
	switch size {
	case s8:
		e.opIdx(s32, []byte{0x0f, 0xb6}, dst, m)
	case s16:
		e.opIdx(s32, []byte{0x0f, 0xb7}, dst, m)
	default:
		e.opIdx(s32, []byte{0x8b}, dst, m)
	}
}

// cmpImmNIdx is cmpImmN on an indexed operand: "cmp m, imm" of 1, 2 or
// 4 bytes, the immediate of the same width.
func (e *encoder) cmpImmNIdx(size int, m sibOperand, imm int32) {
	digit := reg(aluCMP >> 3)
	switch size {
	case s8:
		e.opIdx(s8, []byte{0x80}, digit, m)
		e.b = append(e.b, byte(imm))
	case s16:
		if v := int32(int16(imm)); fits8(v) {
			e.opIdx(s16, []byte{0x83}, digit, m)
			e.b = append(e.b, byte(int8(v)))
			return
		}
		e.opIdx(s16, []byte{0x81}, digit, m)
		e.b = append(e.b, byte(imm), byte(imm>>8))
	default:
		if fits8(imm) {
			e.opIdx(s32, []byte{0x83}, digit, m)
			e.b = append(e.b, byte(int8(imm)))
			return
		}
		e.opIdx(s32, []byte{0x81}, digit, m)
		e.imm32(imm)
	}
}

// testImmNIdx is testImmN on an indexed operand.
func (e *encoder) testImmNIdx(size int, m sibOperand, imm int32) {
	switch size {
	case s8:
		e.opIdx(s8, []byte{0xf6}, reg(f7TEST), m)
		e.b = append(e.b, byte(imm))
	case s16:
		e.opIdx(s16, []byte{0xf7}, reg(f7TEST), m)
		e.b = append(e.b, byte(imm), byte(imm>>8))
	default:
		e.opIdx(s32, []byte{0xf7}, reg(f7TEST), m)
		e.imm32(imm)
	}
}
