package main

import (
	"encoding/binary"

	"github.com/bpfvm/bpfvm/cbpf"
)

// packetFilter runs a classic program over capture records. Programs are
// pre-decoded into a dense form (one small opcode per instruction, jump
// targets as absolute indexes) so the per-packet loop is a tight switch:
// this is what lets `bpfvm filter -r` outrun tcpdump. Programs using Linux
// ancillary loads (negative offsets) fall back to cbpf.Eval, the reference.
//
// As in libpcap, `len` is the packet's length on the wire while loads are
// bounded by the captured bytes, so truncated captures filter as with
// tcpdump.
type packetFilter struct {
	code     []fastInsn
	fallback []cbpf.Instruction
}

type fastOp uint8

const (
	fRetK fastOp = iota
	fRetA
	fLdImm
	fLdxImm
	fLdLen
	fLdxLen
	fLdMem
	fLdxMem
	fSt
	fStx
	fTax
	fTxa
	fLdW
	fLdH
	fLdB
	fLdIndW
	fLdIndH
	fLdIndB
	fMsh
	fNeg
	fAddK
	fSubK
	fMulK
	fDivK
	fModK
	fAndK
	fOrK
	fXorK
	fLshK
	fRshK
	fAddX
	fSubX
	fMulX
	fDivX
	fModX
	fAndX
	fOrX
	fXorX
	fLshX
	fRshX
	fJa
	fJeqK
	fJgtK
	fJgeK
	fJsetK
	fJeqX
	fJgtX
	fJgeX
	fJsetX
	fFail // anything the checker refuses: the run returns 0

	// A packet load followed by a conditional jump with a constant, fused
	// into one instruction (k2 is the jump's constant, jt and jf its
	// targets): most of what pcap-filter expressions compile to. The jump
	// stays in place for the instructions that jump to it.
	fLdHJeq
	fLdHJgt
	fLdHJge
	fLdHJset
	fLdBJeq
	fLdBJgt
	fLdBJge
	fLdBJset
	fLdWJeq
	fLdWJgt
	fLdWJge
	fLdWJset
	fLdIndHJeq
	fLdIndHJset
	fLdIndBJeq
	fLdIndBJset
)

type fastInsn struct {
	op     fastOp
	jt, jf uint32 // absolute targets
	k      uint32
	k2     uint32 // fused jumps: the constant compared with
}

// fusedLdJmp maps a packet load and a following jump (fJeqK..fJsetK) to
// their fused instruction.
var fusedLdJmp = map[[2]fastOp]fastOp{
	{fLdH, fJeqK}: fLdHJeq, {fLdH, fJgtK}: fLdHJgt, {fLdH, fJgeK}: fLdHJge, {fLdH, fJsetK}: fLdHJset,
	{fLdB, fJeqK}: fLdBJeq, {fLdB, fJgtK}: fLdBJgt, {fLdB, fJgeK}: fLdBJge, {fLdB, fJsetK}: fLdBJset,
	{fLdW, fJeqK}: fLdWJeq, {fLdW, fJgtK}: fLdWJgt, {fLdW, fJgeK}: fLdWJge, {fLdW, fJsetK}: fLdWJset,
	{fLdIndH, fJeqK}: fLdIndHJeq, {fLdIndH, fJsetK}: fLdIndHJset,
	{fLdIndB, fJeqK}: fLdIndBJeq, {fLdIndB, fJsetK}: fLdIndBJset,
}

var aluFast = map[uint16]fastOp{
	cbpf.AluADD: fAddK, cbpf.AluSUB: fSubK, cbpf.AluMUL: fMulK, cbpf.AluDIV: fDivK,
	cbpf.AluMOD: fModK, cbpf.AluAND: fAndK, cbpf.AluOR: fOrK, cbpf.AluXOR: fXorK,
	cbpf.AluLSH: fLshK, cbpf.AluRSH: fRshK,
}

var jmpFast = map[uint16]fastOp{cbpf.JmpJEQ: fJeqK, cbpf.JmpJGT: fJgtK, cbpf.JmpJGE: fJgeK, cbpf.JmpJSET: fJsetK}

func newPacketFilter(prog []cbpf.Instruction) *packetFilter {
	f := &packetFilter{code: make([]fastInsn, len(prog))}
	for i, ins := range prog {
		fi := fastInsn{op: fFail, k: ins.K}
		next := uint32(i + 1)
		switch ins.Op {
		case cbpf.ClassRET | cbpf.SrcK:
			fi.op = fRetK
		case cbpf.ClassRET | cbpf.RetA:
			fi.op = fRetA
		case cbpf.ClassLD | cbpf.ModeIMM:
			fi.op = fLdImm
		case cbpf.ClassLDX | cbpf.ModeIMM:
			fi.op = fLdxImm
		case cbpf.ClassLD | cbpf.ModeLEN:
			fi.op = fLdLen
		case cbpf.ClassLDX | cbpf.ModeLEN:
			fi.op = fLdxLen
		case cbpf.ClassLD | cbpf.ModeMEM:
			fi.op = fLdMem
		case cbpf.ClassLDX | cbpf.ModeMEM:
			fi.op = fLdxMem
		case cbpf.ClassST:
			fi.op = fSt
		case cbpf.ClassSTX:
			fi.op = fStx
		case cbpf.ClassMISC | cbpf.MiscTAX:
			fi.op = fTax
		case cbpf.ClassMISC | cbpf.MiscTXA:
			fi.op = fTxa
		case cbpf.ClassLD | cbpf.ModeABS | cbpf.SizeW, cbpf.ClassLD | cbpf.ModeABS | cbpf.SizeH, cbpf.ClassLD | cbpf.ModeABS | cbpf.SizeB:
			if ins.K >= 0x80000000 {
				// Ancillary and negative-offset loads need the reference.
				return &packetFilter{fallback: prog}
			}
			fi.op = [...]fastOp{fLdW, fLdH, fLdB}[(ins.Op&0x18)>>3]
		case cbpf.ClassLD | cbpf.ModeIND | cbpf.SizeW, cbpf.ClassLD | cbpf.ModeIND | cbpf.SizeH, cbpf.ClassLD | cbpf.ModeIND | cbpf.SizeB:
			fi.op = [...]fastOp{fLdIndW, fLdIndH, fLdIndB}[(ins.Op&0x18)>>3]
		case cbpf.ClassLDX | cbpf.ModeMSH | cbpf.SizeB:
			if ins.K >= 0x80000000 {
				return &packetFilter{fallback: prog}
			}
			fi.op = fMsh
		case cbpf.ClassALU | cbpf.AluNEG:
			fi.op = fNeg
		case cbpf.ClassJMP | cbpf.JmpJA:
			fi.op = fJa
			fi.jt = next + ins.K
		default:
			switch ins.Op & 0x07 {
			case cbpf.ClassALU:
				if op, ok := aluFast[ins.Op&0xf0]; ok && ins.Op&^(0xf0|cbpf.SrcX) == cbpf.ClassALU {
					if ins.Op&cbpf.SrcX != 0 {
						op += fAddX - fAddK
					} else if (op == fLshK || op == fRshK) && ins.K >= 32 {
						op = fFail
					}
					fi.op = op
				}
			case cbpf.ClassJMP:
				if op, ok := jmpFast[ins.Op&0xf0]; ok && ins.Op&^(0xf0|cbpf.SrcX) == cbpf.ClassJMP {
					if ins.Op&cbpf.SrcX != 0 {
						op += fJeqX - fJeqK
					}
					fi.op = op
					fi.jt, fi.jf = next+uint32(ins.Jt), next+uint32(ins.Jf)
				}
			}
		}
		if (fi.op == fLdMem || fi.op == fLdxMem || fi.op == fSt || fi.op == fStx) && ins.K >= cbpf.MemWords {
			fi.op = fFail
		}
		f.code[i] = fi
	}
	for i := 0; i+1 < len(f.code); i++ {
		ld, jmp := &f.code[i], f.code[i+1]
		if op, ok := fusedLdJmp[[2]fastOp{ld.op, jmp.op}]; ok {
			ld.op, ld.k2, ld.jt, ld.jf = op, jmp.k, jmp.jt, jmp.jf
		}
	}
	return f
}

// run returns the program's verdict for a packet of wireLen bytes of which
// data were captured.
func (f *packetFilter) run(data []byte, wireLen uint32) uint32 {
	if f.fallback != nil {
		return cbpf.Eval(f.fallback, data, nil)
	}
	code := f.code
	n := uint64(len(data))
	var a, x uint32
	var mem [cbpf.MemWords]uint32
	pc := uint32(0)
	for int(pc) < len(code) {
		in := &code[pc]
		pc++
		switch in.op {
		case fRetK:
			return in.k
		case fRetA:
			return a
		case fLdImm:
			a = in.k
		case fLdxImm:
			x = in.k
		case fLdLen:
			a = wireLen
		case fLdxLen:
			x = wireLen
		case fLdMem:
			a = mem[in.k&(cbpf.MemWords-1)]
		case fLdxMem:
			x = mem[in.k&(cbpf.MemWords-1)]
		case fSt:
			mem[in.k&(cbpf.MemWords-1)] = a
		case fStx:
			mem[in.k&(cbpf.MemWords-1)] = x
		case fTax:
			x = a
		case fTxa:
			a = x
		case fLdW:
			if uint64(in.k)+4 > n {
				return 0
			}
			a = binary.BigEndian.Uint32(data[in.k:])
		case fLdH:
			if uint64(in.k)+2 > n {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(data[in.k:]))
		case fLdB:
			if uint64(in.k) >= n {
				return 0
			}
			a = uint32(data[in.k])
		case fLdIndW, fLdIndH, fLdIndB:
			off := x + in.k
			if off >= 0x80000000 {
				var ok bool
				if off, ok = negativeOffset(off); !ok {
					return 0
				}
			}
			switch in.op {
			case fLdIndW:
				if uint64(off)+4 > n {
					return 0
				}
				a = binary.BigEndian.Uint32(data[off:])
			case fLdIndH:
				if uint64(off)+2 > n {
					return 0
				}
				a = uint32(binary.BigEndian.Uint16(data[off:]))
			default:
				if uint64(off) >= n {
					return 0
				}
				a = uint32(data[off])
			}
		case fLdHJeq:
			if uint64(in.k)+2 > n {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(data[in.k:]))
			if a == in.k2 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fLdHJgt:
			if uint64(in.k)+2 > n {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(data[in.k:]))
			if a > in.k2 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fLdHJge:
			if uint64(in.k)+2 > n {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(data[in.k:]))
			if a >= in.k2 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fLdHJset:
			if uint64(in.k)+2 > n {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(data[in.k:]))
			if a&in.k2 != 0 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fLdBJeq:
			if uint64(in.k) >= n {
				return 0
			}
			a = uint32(data[in.k])
			if a == in.k2 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fLdBJgt:
			if uint64(in.k) >= n {
				return 0
			}
			a = uint32(data[in.k])
			if a > in.k2 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fLdBJge:
			if uint64(in.k) >= n {
				return 0
			}
			a = uint32(data[in.k])
			if a >= in.k2 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fLdBJset:
			if uint64(in.k) >= n {
				return 0
			}
			a = uint32(data[in.k])
			if a&in.k2 != 0 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fLdWJeq:
			if uint64(in.k)+4 > n {
				return 0
			}
			a = binary.BigEndian.Uint32(data[in.k:])
			if a == in.k2 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fLdWJgt:
			if uint64(in.k)+4 > n {
				return 0
			}
			a = binary.BigEndian.Uint32(data[in.k:])
			if a > in.k2 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fLdWJge:
			if uint64(in.k)+4 > n {
				return 0
			}
			a = binary.BigEndian.Uint32(data[in.k:])
			if a >= in.k2 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fLdWJset:
			if uint64(in.k)+4 > n {
				return 0
			}
			a = binary.BigEndian.Uint32(data[in.k:])
			if a&in.k2 != 0 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fLdIndHJeq:
			off := x + in.k
			if off >= 0x80000000 {
				var ok bool
				if off, ok = negativeOffset(off); !ok {
					return 0
				}
			}
			if uint64(off)+2 > n {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(data[off:]))
			if a == in.k2 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fLdIndHJset:
			off := x + in.k
			if off >= 0x80000000 {
				var ok bool
				if off, ok = negativeOffset(off); !ok {
					return 0
				}
			}
			if uint64(off)+2 > n {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(data[off:]))
			if a&in.k2 != 0 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fLdIndBJeq:
			off := x + in.k
			if off >= 0x80000000 {
				var ok bool
				if off, ok = negativeOffset(off); !ok {
					return 0
				}
			}
			if uint64(off) >= n {
				return 0
			}
			a = uint32(data[off])
			if a == in.k2 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fLdIndBJset:
			off := x + in.k
			if off >= 0x80000000 {
				var ok bool
				if off, ok = negativeOffset(off); !ok {
					return 0
				}
			}
			if uint64(off) >= n {
				return 0
			}
			a = uint32(data[off])
			if a&in.k2 != 0 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fMsh:
			if uint64(in.k) >= n {
				return 0
			}
			x = uint32(data[in.k]&0xf) << 2
		case fNeg:
			a = -a
		case fAddK:
			a += in.k
		case fSubK:
			a -= in.k
		case fMulK:
			a *= in.k
		case fDivK:
			if in.k == 0 {
				return 0
			}
			a /= in.k
		case fModK:
			if in.k == 0 {
				return 0
			}
			a %= in.k
		case fAndK:
			a &= in.k
		case fOrK:
			a |= in.k
		case fXorK:
			a ^= in.k
		case fLshK:
			a <<= in.k
		case fRshK:
			a >>= in.k
		case fAddX:
			a += x
		case fSubX:
			a -= x
		case fMulX:
			a *= x
		case fDivX:
			if x == 0 {
				return 0
			}
			a /= x
		case fModX:
			if x == 0 {
				return 0
			}
			a %= x
		case fAndX:
			a &= x
		case fOrX:
			a |= x
		case fXorX:
			a ^= x
		case fLshX:
			a <<= x & 31
		case fRshX:
			a >>= x & 31
		case fJa:
			pc = in.jt
		case fJeqK:
			if a == in.k {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fJgtK:
			if a > in.k {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fJgeK:
			if a >= in.k {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fJsetK:
			if a&in.k != 0 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fJeqX:
			if a == x {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fJgtX:
			if a > x {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fJgeX:
			if a >= x {
				pc = in.jt
			} else {
				pc = in.jf
			}
		case fJsetX:
			if a&x != 0 {
				pc = in.jt
			} else {
				pc = in.jf
			}
		default:
			return 0
		}
	}
	return 0
}

// negativeOffset maps a negative offset of an indirect load: the kernel
// reads relative to the link-layer or network header (SKF_LL_OFF,
// SKF_NET_OFF); both start at the first byte here, as in cbpf.Eval. ok is
// false for other negative offsets, which fail the load.
func negativeOffset(off uint32) (uint32, bool) {
	switch o := int32(off); {
	case o >= cbpf.NetOffset:
		return uint32(o - cbpf.NetOffset), true
	case o >= cbpf.LLOffset:
		return uint32(o - cbpf.LLOffset), true
	}
	return 0, false
}
