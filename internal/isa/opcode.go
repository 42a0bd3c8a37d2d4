// Package isa defines the eBPF instruction set (RFC 9669, version 4, with the
// Linux extensions RFC 9669 registers: pseudo sources for lddw and calls):
// opcode constants, the Instruction type, encoding and decoding, and the
// structural validation every engine relies on.
//
// A program is a slice of Instruction, one element per 8-byte slot, exactly
// as the kernel stores it: a wide lddw occupies two consecutive slots, the
// second holding the upper 32 bits of the immediate. Jump offsets count
// slots, so indices in errors match llvm-objdump and the kernel's verifier.
package isa

// Instruction classes (the low three bits of the opcode).
const (
	ClassLD    uint8 = 0x00
	ClassLDX   uint8 = 0x01
	ClassST    uint8 = 0x02
	ClassSTX   uint8 = 0x03
	ClassALU   uint8 = 0x04
	ClassJMP   uint8 = 0x05
	ClassJMP32 uint8 = 0x06
	ClassALU64 uint8 = 0x07
)

// Source operand (bit 3 of arithmetic and jump opcodes).
const (
	SrcK uint8 = 0x00 // 32-bit immediate
	SrcX uint8 = 0x08 // source register
)

// Arithmetic operations (high four bits of ALU and ALU64 opcodes).
const (
	OpADD  uint8 = 0x00
	OpSUB  uint8 = 0x10
	OpMUL  uint8 = 0x20
	OpDIV  uint8 = 0x30 // offset 1: SDIV
	OpOR   uint8 = 0x40
	OpAND  uint8 = 0x50
	OpLSH  uint8 = 0x60
	OpRSH  uint8 = 0x70
	OpNEG  uint8 = 0x80
	OpMOD  uint8 = 0x90 // offset 1: SMOD
	OpXOR  uint8 = 0xa0
	OpMOV  uint8 = 0xb0 // offset 8/16/32: MOVSX
	OpARSH uint8 = 0xc0
	OpEND  uint8 = 0xd0 // byte swap; ALU: SrcK=to little endian, SrcX=to big endian; ALU64: unconditional
)

// Jump operations (high four bits of JMP and JMP32 opcodes).
const (
	OpJA   uint8 = 0x00
	OpJEQ  uint8 = 0x10
	OpJGT  uint8 = 0x20
	OpJGE  uint8 = 0x30
	OpJSET uint8 = 0x40
	OpJNE  uint8 = 0x50
	OpJSGT uint8 = 0x60
	OpJSGE uint8 = 0x70
	OpCALL uint8 = 0x80
	OpEXIT uint8 = 0x90
	OpJLT  uint8 = 0xa0
	OpJLE  uint8 = 0xb0
	OpJSLT uint8 = 0xc0
	OpJSLE uint8 = 0xd0
)

// Load and store sizes (bits 3-4).
const (
	SizeW  uint8 = 0x00 // 4 bytes
	SizeH  uint8 = 0x08 // 2 bytes
	SizeB  uint8 = 0x10 // 1 byte
	SizeDW uint8 = 0x18 // 8 bytes
)

// Load and store modes (bits 5-7).
const (
	ModeIMM    uint8 = 0x00 // lddw (with SizeDW)
	ModeABS    uint8 = 0x20 // legacy packet access (classic BPF)
	ModeIND    uint8 = 0x40 // legacy packet access (classic BPF)
	ModeMEM    uint8 = 0x60
	ModeMEMSX  uint8 = 0x80 // sign-extending load
	ModeATOMIC uint8 = 0xc0
)

// Atomic operations, in the immediate of an ATOMIC store.
const (
	AtomicADD     int32 = 0x00
	AtomicOR      int32 = 0x40
	AtomicAND     int32 = 0x50
	AtomicXOR     int32 = 0xa0
	AtomicFETCH   int32 = 0x01
	AtomicXCHG    int32 = 0xe0 | AtomicFETCH
	AtomicCMPXCHG int32 = 0xf0 | AtomicFETCH
)

// Pseudo sources of lddw (the src field of the first slot), as the kernel
// defines them in include/uapi/linux/bpf.h.
const (
	PseudoImm64        uint8 = 0 // plain 64-bit immediate
	PseudoMapFD        uint8 = 1 // imm: map file descriptor -> map pointer
	PseudoMapValue     uint8 = 2 // imm: map fd, next imm: offset -> pointer into the map's value
	PseudoBTFID        uint8 = 3 // imm: BTF id of a kernel variable
	PseudoFunc         uint8 = 4 // imm: relative offset of a bpf function -> function pointer
	PseudoMapIdx       uint8 = 5 // imm: index into the program's map array
	PseudoMapIdxValue  uint8 = 6 // like PseudoMapValue, by index
	maxPseudoLDDWSouce uint8 = PseudoMapIdxValue
)

// Call sources (the src field of a CALL).
const (
	CallHelper uint8 = 0 // imm: helper id
	CallLocal  uint8 = 1 // imm: relative offset of the callee, in slots, from the next slot
	CallKfunc  uint8 = 2 // imm: BTF id of a kernel function
)

// Registers.
const (
	R0  uint8 = 0
	R1  uint8 = 1
	R2  uint8 = 2
	R3  uint8 = 3
	R4  uint8 = 4
	R5  uint8 = 5
	R6  uint8 = 6
	R7  uint8 = 7
	R8  uint8 = 8
	R9  uint8 = 9
	R10 uint8 = 10 // frame pointer, read only
	// NumRegisters is the number of architectural registers, r0 to r10.
	NumRegisters = 11
)

// Opcodes used often enough to name.
const (
	OpcodeLDDW  uint8 = ClassLD | ModeIMM | SizeDW // 0x18
	OpcodeCall  uint8 = ClassJMP | OpCALL          // 0x85
	OpcodeCallX uint8 = ClassJMP | OpCALL | SrcX   // 0x8d
	OpcodeExit  uint8 = ClassJMP | OpEXIT          // 0x95
	OpcodeJA    uint8 = ClassJMP | OpJA            // 0x05
	OpcodeJA32  uint8 = ClassJMP32 | OpJA          // 0x06 (gotol: target in imm)
)

// Limits the kernel and bpfvm share.
const (
	StackSize    = 512 // bytes per frame
	MaxCallDepth = 8   // frames, the entry function included
	// MaxInstructions is the largest program the kernel loads for root
	// (BPF_COMPLEXITY_LIMIT_INSNS).
	MaxInstructions = 1_000_000
)
