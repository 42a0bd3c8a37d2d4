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

// Opcodes that are not built from a single class constant, named for
// readability where the kernel's checker lists them.
const (
	OpLDImm  = ClassLD | ModeIMM          // ld #k  (0x00)
	OpLDMem  = ClassLD | ModeMEM          // ld M[k] (0x60)
	OpLDLen  = ClassLD | SizeW | ModeLEN  // ld #len (0x80)
	OpLDXImm = ClassLDX | ModeIMM         // ldx #k (0x01)
	OpLDXMem = ClassLDX | ModeMEM         // ldx M[k] (0x61)
	OpLDXLen = ClassLDX | SizeW | ModeLEN // ldx #len (0x81)
	OpLDXMSH = ClassLDX | SizeB | ModeMSH // ldxb 4*([k]&0xf) (0xb1)
	OpST     = ClassST                    // st M[k] (0x02)
	OpSTX    = ClassSTX                   // stx M[k] (0x03)
	OpRetK   = ClassRET | SrcK            // ret #k (0x06)
	OpRetA   = ClassRET | RetA            // ret a (0x16)
	OpRetX   = ClassRET | SrcX            // ret x (0x0e): BSD only, Linux rejects it
	OpTAX    = ClassMISC | MiscTAX        // tax (0x07)
	OpTXA    = ClassMISC | MiscTXA        // txa (0x87)
	OpJA     = ClassJMP | JmpJA           // ja k (0x05)
	OpNeg    = ClassALU | AluNEG          // neg (0x84)
)

// Stmt returns a non-jump instruction, like the C macro BPF_STMT.
func Stmt(op uint16, k uint32) Instruction { return Instruction{Op: op, K: k} }

// Jump returns a jump instruction, like the C macro BPF_JUMP. jt and jf
// count instructions to skip after this one.
func Jump(op uint16, k uint32, jt, jf uint8) Instruction {
	return Instruction{Op: op, Jt: jt, Jf: jf, K: k}
}

// Class returns the instruction class (Op & 0x07).
func (i Instruction) Class() uint16 { return i.Op & 0x07 }

// IsJump reports whether the instruction is a conditional jump (one with
// true and false targets).
func (i Instruction) IsJump() bool { return i.Class() == ClassJMP && i.Op&0xf0 != JmpJA }
