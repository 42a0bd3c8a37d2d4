package cbpf

import (
	"encoding/binary"
	"fmt"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// The translated program's register use, as the kernel's
// bpf_convert_filter: A in r0 (the return register, and where legacy
// packet loads put their result), X in r7, the context pointer in r6 (set
// only if the program reads the context: bpfvm's engines find the packet
// of legacy loads without it), r8 a scratch register that survives packet
// loads, r2 and r3 scratch.
const (
	regA   = isa.R0
	regX   = isa.R7
	regCtx = isa.R6
	regTmp = isa.R8
)

// The context a translated program reads (its r1 on entry): little-endian
// 32-bit words. Ancillary load SKF_AD_OFF+n reads the word at offset n, so
// the first 64 bytes are the ancillary values in kernel order; then the
// network header offset, the packet length and a word the caller may use
// to find its own per-run state from helpers.
const (
	ctxNetOffset = 64
	ctxLen       = 68
	ctxCookie    = 72
	// ContextSize is the size of the context a translated program reads.
	ContextSize = 80
)

// Helper ids the translated program calls for the ancillary loads the
// kernel implements with helper calls: r1 = the context, r2 = A, r3 = X,
// result in r0 (becomes A). Filter provides them.
const (
	HelperRandom     int32 = 0x7c0f0001 // SKF_AD_RANDOM: a random 32-bit number
	HelperNLAttr     int32 = 0x7c0f0002 // SKF_AD_NLATTR: offset of the netlink attribute X in the stream at A
	HelperNLAttrNest int32 = 0x7c0f0003 // SKF_AD_NLATTR_NEST: same, inside the nested attribute at A
)

// PutContext fills ctx (at least ContextSize bytes) with the context a
// translated program expects for a packet of pktLen bytes with metadata md
// (nil: none). cookie is stored for the caller's helpers (ContextCookie).
// Values are normalised exactly as Eval reads them.
func (md *Metadata) PutContext(ctx []byte, pktLen int, cookie uint32) {
	if md == nil {
		md = &noMetadata
	}
	_ = ctx[ContextSize-1]
	// The same values Metadata.ancillary returns (TestPutContext).
	le := binary.LittleEndian
	le.PutUint32(ctx[AncillaryProtocol:], uint32(md.Protocol))
	le.PutUint32(ctx[AncillaryPktType:], uint32(md.PktType&7))
	le.PutUint32(ctx[AncillaryIfIndex:], md.IfIndex)
	le.PutUint32(ctx[AncillaryMark:], md.Mark)
	le.PutUint32(ctx[AncillaryQueue:], uint32(md.Queue))
	le.PutUint32(ctx[AncillaryHatype:], uint32(md.HAType))
	le.PutUint32(ctx[AncillaryRXHash:], md.RXHash)
	le.PutUint32(ctx[AncillaryCPU:], md.CPU)
	le.PutUint32(ctx[AncillaryVLANTag:], uint32(md.VLANTag))
	var present uint32
	if md.VLANPresent {
		present = 1
	}
	le.PutUint32(ctx[AncillaryVLANTagPresent:], present)
	le.PutUint32(ctx[AncillaryPayOffset:], md.PayOffset)
	le.PutUint32(ctx[AncillaryVLANTPID:], uint32(md.VLANTPID))
	le.PutUint32(ctx[ctxNetOffset:], md.NetOffset)
	le.PutUint32(ctx[ctxLen:], uint32(pktLen))
	le.PutUint32(ctx[ctxCookie:], cookie)
}

// contextAncillary are the ancillary values stored in the context; the
// others (random, nla, nlan, xor_x) are computed at run time.
var contextAncillary = []uint32{
	AncillaryProtocol, AncillaryPktType, AncillaryIfIndex, AncillaryMark, AncillaryQueue,
	AncillaryHatype, AncillaryRXHash, AncillaryCPU, AncillaryVLANTag, AncillaryVLANTagPresent,
	AncillaryPayOffset, AncillaryVLANTPID,
}

// ContextCookie returns the cookie PutContext stored in ctx.
func ContextCookie(ctx []byte) uint32 { return binary.LittleEndian.Uint32(ctx[ctxCookie:]) }

func ins(op uint8, dst, src uint8, off int16, imm int32) isa.Instruction {
	return isa.Instruction{Opcode: op, Dst: dst, Src: src, Offset: off, Imm: imm}
}

func alu32K(op uint8, dst uint8, k uint32) isa.Instruction {
	return ins(isa.ClassALU|op|isa.SrcK, dst, 0, 0, int32(k))
}
func alu32X(op uint8, dst, src uint8) isa.Instruction {
	return ins(isa.ClassALU|op|isa.SrcX, dst, src, 0, 0)
}
func mov64X(dst, src uint8) isa.Instruction {
	return ins(isa.ClassALU64|isa.OpMOV|isa.SrcX, dst, src, 0, 0)
}
func exit() isa.Instruction { return ins(isa.OpcodeExit, 0, 0, 0, 0) }

// translator accumulates the eBPF program; jumps to classic indices are
// recorded and patched once every classic instruction's start is known.
type translator struct {
	prog   []Instruction
	out    []isa.Instruction
	start  []int // start[n] = first eBPF slot of classic instruction n
	fix    []jumpFix
	target []bool // target[n]: some jump lands on classic instruction n
	liveA  []bool // liveA[n]: A's value on entry to classic instruction n may be used
}

type jumpFix struct {
	slot   int // eBPF jump to patch
	target int // classic instruction it goes to
}

func (t *translator) emit(i ...isa.Instruction) { t.out = append(t.out, i...) }

// jumpTo emits a jump (opcode with operands) to classic instruction target.
func (t *translator) jumpTo(j isa.Instruction, target int) {
	t.fix = append(t.fix, jumpFix{len(t.out), target})
	t.out = append(t.out, j)
}

// continueIf emits "if !cond { return 0 }": j is a jump (with operands)
// taken when the program must go on.
func (t *translator) continueIf(j isa.Instruction) {
	j.Offset = 2
	t.emit(j, alu32K(isa.OpMOV, regA, 0), exit())
}

// Translate converts a classic program into an eBPF program with the same
// result on every packet, in the spirit of the kernel's bpf_convert_filter:
// A and X live in 32-bit halves of r0 and r7 (zeroed first unless always
// written before they are read), M[] on the stack, packet loads are legacy
// LD_ABS/LD_IND instructions (a load outside
// the packet ends the program with 0, as classic BPF requires), division by
// X = 0 returns 0, comparisons are 32-bit unsigned (JMP32), ancillary loads
// read the context (PutContext) or call the Helper* helpers.
//
// The program must pass Check; Translate returns Check's error otherwise.
// The result runs with r1 = a ContextSize-byte context and the packet as
// the legacy-load packet (interp's RunWithPacket); its r0 is the classic
// program's return value.
func Translate(prog []Instruction) ([]isa.Instruction, error) {
	if err := Check(prog); err != nil {
		return nil, err
	}
	t := &translator{prog: prog, start: make([]int, len(prog)), target: make([]bool, len(prog))}
	for n, c := range prog {
		if c.Op == OpJA {
			t.target[n+1+int(c.K)] = true
		} else if c.IsJump() {
			t.target[n+1+int(c.Jt)] = true
			t.target[n+1+int(c.Jf)] = true
		}
	}
	t.liveA = liveA(prog)
	// The prologue: A = 0, X = 0, r6 = the context. translate drops the
	// parts the program does not need.
	// (Moves rather than the kernel's xors: a xor reads its register.)
	t.emit(
		alu32K(isa.OpMOV, regA, 0),
		alu32K(isa.OpMOV, regX, 0),
		mov64X(regCtx, isa.R1),
	)
	for n, c := range prog {
		t.start[n] = len(t.out)
		t.one(n, c)
	}
	for _, f := range t.fix {
		off := t.start[f.target] - f.slot - 1
		switch {
		case off <= 0x7fff:
			t.out[f.slot].Offset = int16(off)
		case t.out[f.slot].Opcode == isa.OpcodeJA:
			// Beyond a 16-bit offset: gotol, with a 32-bit one.
			t.out[f.slot] = ins(isa.OpcodeJA32, 0, 0, 0, int32(off))
		default:
			// Conditional jumps span at most 255 classic instructions,
			// far less than 2^15 translated ones.
			return nil, fmt.Errorf("cbpf: internal error: a conditional jump spans %d instructions", off)
		}
	}
	return trimPrologue(t.out), nil
}

// trimPrologue drops the instructions of the prologue (the first three)
// whose register the program never reads before writing it on any path:
// most filters load A from the packet first and set X before using it,
// and only ancillary and length loads read the context. Removing them
// from the front leaves every relative jump of the body valid. Whether a
// register is read first is exactly what isa.CheckInitialized decides
// (legacy loads write r0, as in the kernel), so the smallest prologue it
// accepts has the same result on every packet as the full one.
func trimPrologue(out []isa.Instruction) []isa.Instruction {
	body := out[3:]
	best := out
	for mask := 1; mask < 8; mask++ { // bit i set: drop prologue instruction i
		var p []isa.Instruction
		for i := 0; i < 3; i++ {
			if mask&(1<<i) == 0 {
				p = append(p, out[i])
			}
		}
		if len(p) >= len(best)-len(body) {
			continue
		}
		cand := append(p, body...)
		if isa.CheckInitialized(cand, isa.Reg(isa.R1)|isa.Reg(isa.R10)) == nil {
			best = cand
		}
	}
	return best
}

// liveA computes, for each classic instruction, whether the value A holds
// when it starts may be used on some path (backward liveness; classic
// jumps only go forward, so one reverse pass is exact). The translation of
// ldxb 4*([k]&0xf) clobbers A and restores it only where it is live.
func liveA(prog []Instruction) []bool {
	live := make([]bool, len(prog)+1)
	for n := len(prog) - 1; n >= 0; n-- {
		c := prog[n]
		next := func(d uint32) bool { return live[n+1+int(d)] }
		var reads, writes bool
		var after bool // A live after c (through its successors)
		switch c.Class() {
		case ClassRET:
			reads = c.Op == OpRetA
		case ClassLD:
			writes = true
			if c.Op&0xe0 == ModeABS && c.K >= adOff {
				// Ancillary loads that compute with A.
				switch c.K - adOff {
				case AncillaryAlu_XOR_X, AncillaryNLAttr, AncillaryNLAttrNest:
					reads = true
				}
			}
			after = next(0)
		case ClassST, ClassALU:
			reads, after = true, next(0)
		case ClassJMP:
			if c.Op == OpJA {
				after = next(c.K)
			} else {
				reads, after = true, next(uint32(c.Jt)) || next(uint32(c.Jf))
			}
		case ClassMISC:
			reads, writes, after = c.Op == OpTAX, c.Op == OpTXA, next(0)
		default: // LDX, STX: A untouched
			after = next(0)
		}
		live[n] = reads || (!writes && after)
	}
	return live
}

func (t *translator) one(n int, c Instruction) {
	k := c.K
	switch c.Op {
	case OpRetK:
		t.emit(alu32K(isa.OpMOV, isa.R0, k), exit())
	case OpRetA:
		t.emit(exit())
	case OpLDImm:
		t.emit(alu32K(isa.OpMOV, regA, k))
	case OpLDXImm:
		t.emit(alu32K(isa.OpMOV, regX, k))
	case OpLDLen, OpLDXLen:
		dst := regA
		if c.Op == OpLDXLen {
			dst = regX
		}
		t.emit(ins(isa.ClassLDX|isa.ModeMEM|isa.SizeW, dst, regCtx, ctxLen, 0))
	case OpLDMem:
		t.emit(ins(isa.ClassLDX|isa.ModeMEM|isa.SizeW, regA, isa.R10, memOff(k), 0))
	case OpLDXMem:
		t.emit(ins(isa.ClassLDX|isa.ModeMEM|isa.SizeW, regX, isa.R10, memOff(k), 0))
	case OpST:
		t.emit(ins(isa.ClassSTX|isa.ModeMEM|isa.SizeW, isa.R10, regA, memOff(k), 0))
	case OpSTX:
		t.emit(ins(isa.ClassSTX|isa.ModeMEM|isa.SizeW, isa.R10, regX, memOff(k), 0))
	case OpTAX:
		t.emit(alu32X(isa.OpMOV, regX, regA))
	case OpTXA:
		t.emit(alu32X(isa.OpMOV, regA, regX))
	case OpNeg:
		t.emit(alu32K(isa.OpNEG, regA, 0))
	case OpJA:
		t.jumpTo(ins(isa.OpcodeJA, 0, 0, 0, 0), n+1+int(k))
	case ClassLD | ModeABS | SizeW, ClassLD | ModeABS | SizeH, ClassLD | ModeABS | SizeB:
		if k >= adOff {
			t.ancillary(k - adOff)
			return
		}
		t.absLoad(uint8(c.Op&0x18), k)
	case ClassLD | ModeIND | SizeW, ClassLD | ModeIND | SizeH, ClassLD | ModeIND | SizeB:
		if n > 0 && t.prog[n-1].Op == OpLDXMSH && !t.target[n] && k <= 0x7fffffff-60 {
			// Right after ldxb 4*([k]&0xf), X is at most 60: X + k is a
			// plain non-negative offset (the tcpdump idiom for ports).
			t.emit(ins(isa.ClassLD|isa.ModeIND|uint8(c.Op&0x18), 0, regX, 0, int32(k)))
			return
		}
		t.indLoad(uint8(c.Op&0x18), k)
	case OpLDXMSH:
		// The load goes through A (r0): save and restore A around it
		// unless the program overwrites A before using it (tcpdump's
		// port tests follow with a packet load into A).
		keep := t.liveA[n+1]
		if keep {
			t.emit(mov64X(regTmp, regA))
		}
		t.absLoad(isa.SizeB, k)
		t.emit(
			alu32K(isa.OpAND, regA, 0xf),
			alu32K(isa.OpLSH, regA, 2),
			alu32X(isa.OpMOV, regX, regA),
		)
		if keep {
			t.emit(mov64X(regA, regTmp))
		}
	default:
		switch c.Class() {
		case ClassALU:
			op := uint8(c.Op & 0xf0)
			if c.Op&SrcX != 0 {
				if op == isa.OpDIV || op == isa.OpMOD {
					t.continueIf(ins(isa.ClassJMP32|isa.OpJNE|isa.SrcK, regX, 0, 0, 0))
				}
				t.emit(alu32X(op, regA, regX))
			} else {
				t.emit(alu32K(op, regA, k))
			}
		case ClassJMP:
			t.condJump(n, c)
		}
	}
}

// memOff is the stack offset of M[k]: the 64 bytes below r10.
func memOff(k uint32) int16 { return -int16(MemWords*4) + int16(k)*4 }

// absLoad loads size bytes at the absolute offset k into A. Offsets at or
// above 0 and in the link-layer window are legacy LD_ABS loads; the
// network-header window needs the network offset, known only at run time.
func (t *translator) absLoad(size uint8, k uint32) {
	off := int32(k)
	if off >= int32(NetOffset) && off < 0 {
		// r2 = (k - SKF_NET_OFF) + netoff, as a non-negative offset.
		t.emit(
			ins(isa.ClassLDX|isa.ModeMEM|isa.SizeW, isa.R2, regCtx, ctxNetOffset, 0),
			ins(isa.ClassALU64|isa.OpADD|isa.SrcK, isa.R2, 0, 0, off-int32(NetOffset)),
		)
		t.indFromR2(size)
		return
	}
	t.emit(ins(isa.ClassLD|isa.ModeABS|size, 0, 0, 0, off))
}

// indLoad loads size bytes at X + k into A. The 32-bit offset o = X + k
// selects, as in the kernel:
//
//	o >= 0:               the packet at o (LD_IND)
//	SKF_NET_OFF <= o < 0: the packet at netoff + (o - SKF_NET_OFF)
//	o < SKF_NET_OFF:      the link-layer window or nothing (LD_IND decides)
func (t *translator) indLoad(size uint8, k uint32) {
	t.emit(
		alu32X(isa.OpMOV, isa.R2, regX),
		alu32K(isa.OpADD, isa.R2, k),
		ins(isa.ClassJMP32|isa.OpJSGE|isa.SrcK, isa.R2, 0, 7, 0),
		ins(isa.ClassJMP32|isa.OpJSLT|isa.SrcK, isa.R2, 0, 6, int32(NetOffset)),
		alu32K(isa.OpADD, isa.R2, -NetOffset), // o - SKF_NET_OFF
		ins(isa.ClassLDX|isa.ModeMEM|isa.SizeW, isa.R3, regCtx, ctxNetOffset, 0),
		ins(isa.ClassALU64|isa.OpADD|isa.SrcX, isa.R2, isa.R3, 0, 0),
	)
	t.indFromR2(size)
}

// indFromR2 loads size bytes at the non-negative 64-bit offset in r2.
// Offsets of 2^31 and more are outside any packet, and the legacy load
// would read them as negative: end with 0 before.
func (t *translator) indFromR2(size uint8) {
	t.continueIf(ins(isa.ClassJMP|isa.OpJLE|isa.SrcK, isa.R2, 0, 0, 0x7fffffff))
	t.emit(ins(isa.ClassLD|isa.ModeIND|size, 0, isa.R2, 0, 0))
}

func (t *translator) ancillary(off uint32) {
	switch off {
	case AncillaryAlu_XOR_X:
		t.emit(alu32X(isa.OpXOR, regA, regX))
	case AncillaryRandom, AncillaryNLAttr, AncillaryNLAttrNest:
		id := map[uint32]int32{AncillaryRandom: HelperRandom, AncillaryNLAttr: HelperNLAttr, AncillaryNLAttrNest: HelperNLAttrNest}[off]
		t.emit(
			mov64X(isa.R1, regCtx),
			mov64X(isa.R2, regA),
			mov64X(isa.R3, regX),
			ins(isa.OpcodeCall, 0, 0, 0, id),
			alu32X(isa.OpMOV, regA, isa.R0), // helpers return 32-bit values
		)
	default:
		t.emit(ins(isa.ClassLDX|isa.ModeMEM|isa.SizeW, regA, regCtx, int16(off), 0))
	}
}

// condJump maps a classic conditional jump to 32-bit eBPF jumps, as
// bpf_convert_filter does (with JMP32 so immediates need no widening).
func (t *translator) condJump(n int, c Instruction) {
	op := uint8(c.Op & 0xf0)
	src := uint8(isa.SrcK)
	var srcReg uint8
	if c.Op&SrcX != 0 {
		src, srcReg = isa.SrcX, regX
	}
	k := int32(c.K)
	if src == isa.SrcX {
		k = 0
	}
	jt, jf := n+1+int(c.Jt), n+1+int(c.Jf)
	j := func(op uint8) isa.Instruction { return ins(isa.ClassJMP32|op|src, regA, srcReg, 0, k) }
	switch {
	case c.Jt == c.Jf:
		t.jumpTo(ins(isa.OpcodeJA, 0, 0, 0, 0), jt)
	case c.Jf == 0:
		t.jumpTo(j(op), jt)
	case c.Jt == 0 && op != isa.OpJSET:
		neg := map[uint8]uint8{isa.OpJEQ: isa.OpJNE, isa.OpJGT: isa.OpJLE, isa.OpJGE: isa.OpJLT}[op]
		t.jumpTo(j(neg), jf)
	default:
		t.jumpTo(j(op), jt)
		t.jumpTo(ins(isa.OpcodeJA, 0, 0, 0, 0), jf)
	}
}
