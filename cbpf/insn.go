// Package cbpf is classic BPF, the 1992 packet filter: its instructions, the
// kernel's checker rules, text formats, and translation to eBPF.
package cbpf

// Instruction is one classic BPF instruction, laid out as the kernel's
// struct sock_filter and printed by `tcpdump -dd`.
type Instruction struct {
	Op uint16 // class | size | mode, or class | op | source
	Jt uint8  // jump offset if true
	Jf uint8  // jump offset if false
	K  uint32 // generic field
}

// Classes (Op & 0x07).
const (
	ClassLD   uint16 = 0x00
	ClassLDX  uint16 = 0x01
	ClassST   uint16 = 0x02
	ClassSTX  uint16 = 0x03
	ClassALU  uint16 = 0x04
	ClassJMP  uint16 = 0x05
	ClassRET  uint16 = 0x06
	ClassMISC uint16 = 0x07
)

// Load sizes (Op & 0x18).
const (
	SizeW uint16 = 0x00
	SizeH uint16 = 0x08
	SizeB uint16 = 0x10
)

// Load modes (Op & 0xe0).
const (
	ModeIMM uint16 = 0x00
	ModeABS uint16 = 0x20
	ModeIND uint16 = 0x40
	ModeMEM uint16 = 0x60
	ModeLEN uint16 = 0x80
	ModeMSH uint16 = 0xa0
)

// ALU operations (Op & 0xf0).
const (
	AluADD uint16 = 0x00
	AluSUB uint16 = 0x10
	AluMUL uint16 = 0x20
	AluDIV uint16 = 0x30
	AluOR  uint16 = 0x40
	AluAND uint16 = 0x50
	AluLSH uint16 = 0x60
	AluRSH uint16 = 0x70
	AluNEG uint16 = 0x80
	AluMOD uint16 = 0x90
	AluXOR uint16 = 0xa0
)

// Jump operations (Op & 0xf0).
const (
	JmpJA   uint16 = 0x00
	JmpJEQ  uint16 = 0x10
	JmpJGT  uint16 = 0x20
	JmpJGE  uint16 = 0x30
	JmpJSET uint16 = 0x40
)

// Sources (Op & 0x08) and return values (Op & 0x18).
const (
	SrcK uint16 = 0x00
	SrcX uint16 = 0x08
	RetA uint16 = 0x10
)

// MISC operations (Op & 0xf8).
const (
	MiscTAX uint16 = 0x00
	MiscTXA uint16 = 0x80
)

// Limits from the kernel (include/uapi/linux/filter.h).
const (
	MaxInstructions = 4096 // BPF_MAXINSNS
	MemWords        = 16   // BPF_MEMWORDS: scratch memory M[0..15]
)

// Linux ancillary data: absolute loads at SKF_AD_OFF + n read packet
// metadata instead of packet bytes.
const (
	AncillaryOffset         = -0x1000 // SKF_AD_OFF
	AncillaryProtocol       = 0
	AncillaryPktType        = 4
	AncillaryIfIndex        = 8
	AncillaryNLAttr         = 12
	AncillaryNLAttrNest     = 16
	AncillaryMark           = 20
	AncillaryQueue          = 24
	AncillaryHatype         = 28
	AncillaryRXHash         = 32
	AncillaryCPU            = 36
	AncillaryAlu_XOR_X      = 40
	AncillaryVLANTag        = 44
	AncillaryVLANTagPresent = 48
	AncillaryPayOffset      = 52
	AncillaryRandom         = 56
	AncillaryVLANTPID       = 60
	AncillaryMax            = 64
	// NetOffset and LLOffset address the network and link-layer headers
	// (SKF_NET_OFF, SKF_LL_OFF).
	NetOffset = -0x100000
	LLOffset  = -0x200000
)
