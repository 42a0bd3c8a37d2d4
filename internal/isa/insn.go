package isa

import (
	"encoding/binary"
	"fmt"
)

// InstructionSize is the size of one encoded instruction slot.
const InstructionSize = 8

// Instruction is one 8-byte instruction slot.
type Instruction struct {
	Opcode uint8
	Dst    uint8 // 4 bits
	Src    uint8 // 4 bits
	Offset int16
	Imm    int32
}

// Class returns the instruction class.
func (i Instruction) Class() uint8 { return i.Opcode & 0x07 }

// Op returns the arithmetic or jump operation (high four bits).
func (i Instruction) Op() uint8 { return i.Opcode & 0xf0 }

// Source returns SrcK or SrcX.
func (i Instruction) Source() uint8 { return i.Opcode & 0x08 }

// Size returns the load/store size bits.
func (i Instruction) Size() uint8 { return i.Opcode & 0x18 }

// Mode returns the load/store mode bits.
func (i Instruction) Mode() uint8 { return i.Opcode & 0xe0 }

// IsLDDW reports whether the slot is the first half of a 16-byte lddw.
func (i Instruction) IsLDDW() bool { return i.Opcode == OpcodeLDDW }

// SizeBytes converts load/store size bits to a byte count.
func SizeBytes(size uint8) int {
	switch size & 0x18 {
	case SizeB:
		return 1
	case SizeH:
		return 2
	case SizeW:
		return 4
	default:
		return 8
	}
}

// Encode appends the little-endian encoding of the instruction to b.
func (i Instruction) Encode(b []byte) []byte {
	return append(b, i.Opcode, i.Dst&0x0f|i.Src<<4,
		byte(i.Offset), byte(uint16(i.Offset)>>8),
		byte(i.Imm), byte(uint32(i.Imm)>>8), byte(uint32(i.Imm)>>16), byte(uint32(i.Imm)>>24))
}

// Uint64 returns the instruction as one 64-bit little-endian word, the form
// the conformance suite's raw sections use.
func (i Instruction) Uint64() uint64 {
	var b [8]byte
	i.Encode(b[:0])
	return binary.LittleEndian.Uint64(b[:])
}

// FromUint64 is the inverse of Uint64.
func FromUint64(w uint64) Instruction {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], w)
	return decodeSlot(b[:])
}

func decodeSlot(b []byte) Instruction {
	return Instruction{
		Opcode: b[0],
		Dst:    b[1] & 0x0f,
		Src:    b[1] >> 4,
		Offset: int16(binary.LittleEndian.Uint16(b[2:])),
		Imm:    int32(binary.LittleEndian.Uint32(b[4:])),
	}
}

// Decode splits little-endian bytecode into instruction slots. It checks
// only the length; Validate checks the instructions.
func Decode(code []byte) ([]Instruction, error) {
	if len(code)%InstructionSize != 0 {
		return nil, fmt.Errorf("bytecode is %d bytes long, not a multiple of %d: the last instruction is truncated", len(code), InstructionSize)
	}
	insns := make([]Instruction, len(code)/InstructionSize)
	for n := range insns {
		insns[n] = decodeSlot(code[n*InstructionSize:])
	}
	return insns, nil
}

// Encode returns the little-endian bytecode of a program.
func Encode(insns []Instruction) []byte {
	b := make([]byte, 0, len(insns)*InstructionSize)
	for _, i := range insns {
		b = i.Encode(b)
	}
	return b
}

// Imm64 returns the 64-bit immediate of the lddw starting at slot n.
// The caller must have validated the program.
func Imm64(insns []Instruction, n int) uint64 {
	return uint64(uint32(insns[n].Imm)) | uint64(uint32(insns[n+1].Imm))<<32
}

// LDDW returns the two slots of `lddw dst, imm`.
func LDDW(dst uint8, imm uint64) [2]Instruction {
	return [2]Instruction{
		{Opcode: OpcodeLDDW, Dst: dst, Imm: int32(uint32(imm))},
		{Imm: int32(uint32(imm >> 32))},
	}
}
