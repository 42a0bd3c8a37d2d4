package cbpf

import (
	"encoding/binary"
	"math/rand/v2"
)

// genOptions shape random programs: which loads they may use.
type genOptions struct {
	ancillary []uint32 // ancillary offsets allowed (nil: none)
	negative  bool     // SKF_NET_OFF / SKF_LL_OFF loads
	maxOff    uint32   // packet offsets are mostly below this
}

var allAncillary = []uint32{
	AncillaryProtocol, AncillaryPktType, AncillaryIfIndex, AncillaryNLAttr, AncillaryNLAttrNest,
	AncillaryMark, AncillaryQueue, AncillaryHatype, AncillaryRXHash, AncillaryCPU, AncillaryAlu_XOR_X,
	AncillaryVLANTag, AncillaryVLANTagPresent, AncillaryPayOffset, AncillaryRandom, AncillaryVLANTPID,
}

// randomProgram returns a program of about n instructions that passes
// Check: scratch cells are written in a prologue before any jump, jumps go
// forward inside the program, and it ends with a return.
func randomProgram(r *rand.Rand, n int, o genOptions) []Instruction {
	var prog []Instruction
	written := []uint32{}
	for range r.IntN(3) {
		k := uint32(r.IntN(MemWords))
		prog = append(prog, Stmt(OpLDImm, r.Uint32()), Stmt([]uint16{OpST, OpSTX}[r.IntN(2)], k))
		written = append(written, k)
	}
	off := func() uint32 {
		switch r.IntN(10) {
		case 0:
			return r.Uint32()
		case 1:
			return o.maxOff + uint32(r.IntN(8)) - 4
		}
		return uint32(r.IntN(int(o.maxOff)))
	}
	smallK := func() uint32 {
		if r.IntN(4) == 0 {
			return r.Uint32()
		}
		return uint32(r.IntN(64))
	}
	body := n - len(prog)
	if body < 2 {
		body = 2
	}
	for i := 0; i < body-1; i++ {
		left := body - 1 - i // instructions after this one, the final ret included
		var ins Instruction
		switch r.IntN(16) {
		case 0, 1:
			size := []uint16{SizeW, SizeH, SizeB}[r.IntN(3)]
			ins = Stmt(ClassLD|ModeABS|size, off())
			if o.negative && r.IntN(6) == 0 {
				base := []int64{NetOffset, LLOffset}[r.IntN(2)]
				ins.K = uint32(base + int64(r.IntN(int(o.maxOff))))
			}
		case 2:
			size := []uint16{SizeW, SizeH, SizeB}[r.IntN(3)]
			ins = Stmt(ClassLD|ModeIND|size, off())
			if o.negative && r.IntN(6) == 0 {
				base := []int64{NetOffset, LLOffset}[r.IntN(2)]
				ins.K = uint32(base + int64(r.IntN(int(o.maxOff))))
			}
		case 3:
			if len(o.ancillary) > 0 {
				size := []uint16{SizeW, SizeH, SizeB}[r.IntN(3)]
				ins = Stmt(ClassLD|ModeABS|size, adOff+o.ancillary[r.IntN(len(o.ancillary))])
			} else {
				ins = Stmt(OpLDLen, 0)
			}
		case 4:
			ins = Stmt(OpLDXMSH, off())
		case 5:
			ins = Stmt([]uint16{OpLDImm, OpLDXImm, OpLDLen, OpLDXLen, OpTAX, OpTXA}[r.IntN(6)], smallK())
		case 6:
			if len(written) > 0 {
				ins = Stmt([]uint16{OpLDMem, OpLDXMem}[r.IntN(2)], written[r.IntN(len(written))])
			} else {
				ins = Stmt(OpNeg, 0)
			}
		case 7:
			if len(written) > 0 {
				ins = Stmt([]uint16{OpST, OpSTX}[r.IntN(2)], written[r.IntN(len(written))])
			} else {
				ins = Stmt(OpTAX, 0)
			}
		case 8, 9, 10:
			op := []uint16{AluADD, AluSUB, AluMUL, AluDIV, AluMOD, AluAND, AluOR, AluXOR, AluLSH, AluRSH}[r.IntN(10)]
			if r.IntN(2) == 0 {
				ins = Stmt(ClassALU|op|SrcX, 0)
			} else {
				k := smallK()
				if (op == AluDIV || op == AluMOD) && k == 0 {
					k = 1
				}
				if op == AluLSH || op == AluRSH {
					k %= 32
				}
				ins = Stmt(ClassALU|op, k)
			}
		case 11:
			ins = Stmt(OpNeg, 0)
		case 12, 13, 14:
			op := []uint16{JmpJEQ, JmpJGT, JmpJGE, JmpJSET}[r.IntN(4)]
			maxJ := min(left-1, 255)
			ins = Jump(ClassJMP|op, smallK(), uint8(r.IntN(maxJ+1)), uint8(r.IntN(maxJ+1)))
			if r.IntN(3) == 0 {
				ins.Op |= SrcX
				ins.K = 0
			}
			if r.IntN(4) == 0 {
				ins.K = uint32(r.IntN(3)) // often true or false
			}
		default:
			if r.IntN(2) == 0 {
				ins = Stmt(OpJA, uint32(r.IntN(left)))
			} else {
				ins = Stmt([]uint16{OpRetK, OpRetA}[r.IntN(2)], []uint32{0, 1, 14, 60, 0xffff, 0xffffffff, r.Uint32()}[r.IntN(7)])
			}
		}
		prog = append(prog, ins)
	}
	prog = append(prog, Stmt([]uint16{OpRetK, OpRetA}[r.IntN(2)], []uint32{0, 1, 20, 0xffffffff, r.Uint32()}[r.IntN(5)]))
	return prog
}

// randomPacket returns a packet that often looks like Ethernet/IPv4/TCP so
// that filters take interesting paths, sometimes random or truncated.
func randomPacket(r *rand.Rand) []byte {
	n := r.IntN(100)
	if r.IntN(10) == 0 {
		n = r.IntN(1500)
	}
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.IntN(256))
		if r.IntN(3) == 0 {
			p[i] = byte(r.IntN(4))
		}
	}
	if n >= 14 && r.IntN(2) == 0 {
		binary.BigEndian.PutUint16(p[12:], []uint16{0x0800, 0x86dd, 0x0806, 0x8100}[r.IntN(4)])
	}
	if n >= 24 && r.IntN(2) == 0 {
		p[14] = 0x45
		p[23] = []byte{6, 17, 1}[r.IntN(3)]
	}
	return p
}

// randomMetadata returns metadata whose Random is deterministic from seed,
// so two runs see the same "random" numbers.
func randomMetadata(r *rand.Rand) func() *Metadata {
	md := Metadata{
		Protocol: uint16(r.Uint32()), PktType: uint8(r.IntN(8)), IfIndex: r.Uint32() % 8, Mark: r.Uint32(),
		Queue: uint16(r.Uint32()), HAType: uint16(r.Uint32()), RXHash: r.Uint32(), CPU: uint32(r.IntN(4)),
		VLANTag: uint16(r.Uint32()), VLANTPID: uint16(r.Uint32()), VLANPresent: r.IntN(2) == 0,
		PayOffset: uint32(r.IntN(80)), NetOffset: uint32([]int{14, 0, 18, 3}[r.IntN(4)]),
		WireLen: []uint32{0, 0, r.Uint32() % 200, 1500}[r.IntN(4)],
	}
	seed := r.Uint64()
	return func() *Metadata {
		m := md
		rng := rand.New(rand.NewPCG(seed, 1))
		m.Random = rng.Uint32
		return &m
	}
}
