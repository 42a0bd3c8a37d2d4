package cbpf

import (
	"encoding/binary"
	"math/bits"
)

// classicProgram is a checked classic program pre-decoded for fast
// execution: one dense operation code per instruction, jump targets
// absolute, ancillary and negative-offset loads split from plain packet
// loads so the common path does no extra tests.
type classicProgram struct {
	code   []cop
	groups []cgroup // cGroup's tests (group.go)
	// whole is the group at instruction 0 when it returns both when
	// it passes and when it fails: then, unless the packet needs the
	// slow path, the program's verdict is one call of whole.run.
	whole *cgroup
}

type cop struct {
	kind   uint8
	jt, jf uint16 // absolute targets of jumps
	m      uint16 // the msh's K in cMshLdInd* operations
	k      uint32
	k2     uint32 // the jump's K in fused operations
}

const (
	cRetK uint8 = iota
	cRetA
	cLdImm
	cLdxImm
	cLdLen
	cLdxLen
	cLdMem
	cLdxMem
	cSt
	cStx
	cTax
	cTxa
	cLdW // absolute, 0 <= k < 2^31
	cLdH
	cLdB
	cLdSlow // absolute at a negative offset (network or link-layer window)
	cLdAnc  // ancillary
	cLdIndW
	cLdIndH
	cLdIndB
	cMsh
	cMshSlow
	cAddK
	cAddX
	cSubK
	cSubX
	cMulK
	cMulX
	cDivK
	cDivX
	cModK
	cModX
	cAndK
	cAndX
	cOrK
	cOrX
	cXorK
	cXorX
	cLshK
	cLshX
	cRshK
	cRshX
	cNeg
	cJa
	cJeqK
	cJeqX
	cJgtK
	cJgtX
	cJgeK
	cJgeX
	cJsetK
	cJsetX
	// Fused: a load into A followed by a conditional jump on A against K.
	cLdWJeq
	cLdWJgt
	cLdWJge
	cLdWJset
	cLdHJeq
	cLdHJgt
	cLdHJge
	cLdHJset
	cLdBJeq
	cLdBJgt
	cLdBJge
	cLdBJset
	// Fused indirect loads and jumps, each preceded by its variant
	// that first runs an ldxb 4*([m]&0xf) (the TCP/UDP port and flags
	// tests), in the order indFused computes.
	cMshLdIndWJeq
	cLdIndWJeq
	cMshLdIndWJgt
	cLdIndWJgt
	cMshLdIndWJge
	cLdIndWJge
	cMshLdIndWJset
	cLdIndWJset
	cMshLdIndHJeq
	cLdIndHJeq
	cMshLdIndHJgt
	cLdIndHJgt
	cMshLdIndHJge
	cLdIndHJge
	cMshLdIndHJset
	cLdIndHJset
	cMshLdIndBJeq
	cLdIndBJeq
	cMshLdIndBJgt
	cLdIndBJgt
	cMshLdIndBJge
	cLdIndBJge
	cMshLdIndBJset
	cLdIndBJset
	// A run of tests checked at once (group.go).
	cGroup
)

// compileClassic decodes a program that passed Check.
func compileClassic(prog []Instruction) *classicProgram {
	code := make([]cop, len(prog))
	for n, ins := range prog {
		c := cop{k: ins.K, jt: uint16(n + 1 + int(ins.Jt)), jf: uint16(n + 1 + int(ins.Jf))}
		switch ins.Op {
		case OpRetK:
			c.kind = cRetK
		case OpRetA:
			c.kind = cRetA
		case OpLDImm:
			c.kind = cLdImm
		case OpLDXImm:
			c.kind = cLdxImm
		case OpLDLen:
			c.kind = cLdLen
		case OpLDXLen:
			c.kind = cLdxLen
		case OpLDMem:
			c.kind = cLdMem
		case OpLDXMem:
			c.kind = cLdxMem
		case OpST:
			c.kind = cSt
		case OpSTX:
			c.kind = cStx
		case OpTAX:
			c.kind = cTax
		case OpTXA:
			c.kind = cTxa
		case OpNeg:
			c.kind = cNeg
		case OpJA:
			c.kind = cJa
			c.jt = uint16(n + 1 + int(ins.K))
		case ClassLD | ModeABS | SizeW, ClassLD | ModeABS | SizeH, ClassLD | ModeABS | SizeB:
			switch {
			case ins.K >= adOff:
				c.kind, c.k = cLdAnc, ins.K-adOff
			case int32(ins.K) < 0:
				c.kind = cLdSlow
				c.jt = uint16(loadSize[(ins.Op&0x18)>>3]) // the size
			default:
				c.kind = map[uint16]uint8{SizeW: cLdW, SizeH: cLdH, SizeB: cLdB}[ins.Op&0x18]
			}
		case ClassLD | ModeIND | SizeW:
			c.kind = cLdIndW
		case ClassLD | ModeIND | SizeH:
			c.kind = cLdIndH
		case ClassLD | ModeIND | SizeB:
			c.kind = cLdIndB
		case OpLDXMSH:
			c.kind = cMsh
			if int32(ins.K) < 0 {
				c.kind = cMshSlow
			}
		default:
			x := ins.Op&SrcX != 0
			pick := func(k, xk uint8) uint8 {
				if x {
					return xk
				}
				return k
			}
			switch ins.Class() {
			case ClassALU:
				c.kind = map[uint16][2]uint8{
					AluADD: {cAddK, cAddX}, AluSUB: {cSubK, cSubX}, AluMUL: {cMulK, cMulX},
					AluDIV: {cDivK, cDivX}, AluMOD: {cModK, cModX}, AluAND: {cAndK, cAndX},
					AluOR: {cOrK, cOrX}, AluXOR: {cXorK, cXorX}, AluLSH: {cLshK, cLshX}, AluRSH: {cRshK, cRshX},
				}[ins.Op&0xf0][b2i(x)]
			case ClassJMP:
				switch ins.Op & 0xf0 {
				case JmpJEQ:
					c.kind = pick(cJeqK, cJeqX)
				case JmpJGT:
					c.kind = pick(cJgtK, cJgtX)
				case JmpJGE:
					c.kind = pick(cJgeK, cJgeX)
				case JmpJSET:
					c.kind = pick(cJsetK, cJsetX)
				}
			}
		}
		code[n] = c
	}
	// Fuse "load into A; conditional jump on A against K" pairs, the bulk
	// of what libpcap generates. The jump keeps its own slot, so jumps to
	// it still work; the fused load jumps straight to its targets.
	for n := 0; n+1 < len(prog); n++ {
		j := prog[n+1]
		if !j.IsJump() || j.Op&SrcX != 0 {
			continue
		}
		cond := map[uint16]int{JmpJEQ: 0, JmpJGT: 1, JmpJGE: 2, JmpJSET: 3}[j.Op&0xf0]
		var base uint8
		switch code[n].kind {
		case cLdW:
			base = cLdWJeq
		case cLdH:
			base = cLdHJeq
		case cLdB:
			base = cLdBJeq
		case cLdIndW, cLdIndH, cLdIndB:
			code[n].kind = indFused(int(code[n].kind-cLdIndW), cond, false)
			code[n].k2 = j.K
			code[n].jt, code[n].jf = code[n+1].jt, code[n+1].jf
			continue
		default:
			continue
		}
		code[n].kind = base + uint8(cond)
		code[n].k2 = j.K
		code[n].jt, code[n].jf = code[n+1].jt, code[n+1].jf
	}
	// Fuse "ldxb 4*([m]&0xf)" with a following fused indirect load and
	// jump. The indirect load keeps its slot for jumps to it.
	for n := 0; n+1 < len(prog); n++ {
		next := code[n+1].kind
		if code[n].kind != cMsh || code[n].k > 0xffff || next < cMshLdIndWJeq || next > cLdIndBJset || (next-cMshLdIndWJeq)%2 == 0 {
			continue
		}
		m := uint16(code[n].k)
		code[n] = code[n+1]
		code[n].kind--
		code[n].m = m
	}
	code, groups := buildGroups(code)
	p := &classicProgram{code: code, groups: groups}
	if code[0].kind == cGroup {
		if g := &groups[code[0].k]; g.okRet && g.exitRet {
			p.whole = g
		}
	}
	return p
}

// indFused returns the kind of a fused indirect load of size index sz
// (0 W, 1 H, 2 B) and jump condition cond (0 jeq, 1 jgt, 2 jge, 3 jset),
// with a leading msh or not.
func indFused(sz, cond int, msh bool) uint8 {
	k := cMshLdIndWJeq + uint8(8*sz+2*cond)
	if !msh {
		k++
	}
	return k
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// classicState is a run's machine state between exec and slowStep.
type classicState struct {
	a, x uint32
	pc   uint
	mem  [MemWords]uint32
	// groups is the program's (set by whoever makes the state): exec
	// reaches them through st, which its loop keeps in a register anyway,
	// rather than through the program, which would take one more (and
	// the loop's values would then be spilled at every dispatch).
	groups []cgroup
}

// run executes the program. Jumps only go forward and every path ends in a
// return (Check), so it always ends. exec runs everything that needs no
// call; the few instructions that do (ancillary and negative-offset loads,
// indirect loads outside the packet) go through slowStep. Keeping calls out
// of exec's loop keeps its registers from being spilled at every dispatch.
func (p *classicProgram) run(pkt []byte, md *Metadata) uint32 {
	if g := p.whole; g != nil {
		if v, _, res := g.run(pkt, 0); res == groupDone {
			return v
		}
	}
	st := classicState{groups: p.groups}
	if v, done := p.exec(pkt, md, &st, true); done {
		return v
	}
	return p.finish(pkt, md, &st)
}

// finish continues a run that exec handed over to slowStep.
func (p *classicProgram) finish(pkt []byte, md *Metadata, st *classicState) uint32 {
	for {
		if v, done := p.slowStep(pkt, md, st); done {
			return v
		}
		if v, done := p.exec(pkt, md, st, false); done {
			return v
		}
	}
}

// exec runs from st.pc until the program returns (done) or reaches an
// instruction for slowStep (not done; st holds the state before it).
// A fresh run starts at instruction 0 with A = X = 0 without reading st
// (whose stores would be on the run's critical path).
func (p *classicProgram) exec(pkt []byte, md *Metadata, st *classicState, fresh bool) (v uint32, done bool) {
	var a, x uint32
	var pc uint
	if !fresh {
		a, x, pc = st.a, st.x, st.pc
	}
	mem := &st.mem
	// cap = len: slicing pkt (cGroup) then needs no register of its own.
	pkt = pkt[:len(pkt):len(pkt)]
	code := p.code
	// The loop condition lets the compiler drop the bounds check on
	// code[pc].
	for pc < uint(len(code)) {
		in := &code[pc]
		pc++
		switch in.kind {
		case cRetK:
			return in.k, true
		case cRetA:
			return a, true
		case cLdImm:
			a = in.k
		case cLdxImm:
			x = in.k
		case cLdLen:
			a = packetLen(pkt, md)
		case cLdxLen:
			x = packetLen(pkt, md)
		case cLdMem:
			a = mem[in.k&(MemWords-1)]
		case cLdxMem:
			x = mem[in.k&(MemWords-1)]
		case cSt:
			mem[in.k&(MemWords-1)] = a
		case cStx:
			mem[in.k&(MemWords-1)] = x
		case cTax:
			x = a
		case cTxa:
			a = x
		case cLdW:
			k := int(in.k)
			if k+4 > len(pkt) {
				return 0, true
			}
			a = uint32(pkt[k])<<24 | uint32(pkt[k+1])<<16 | uint32(pkt[k+2])<<8 | uint32(pkt[k+3])
		case cLdH:
			k := int(in.k)
			if k+2 > len(pkt) {
				return 0, true
			}
			a = uint32(pkt[k])<<8 | uint32(pkt[k+1])
		case cLdB:
			k := int(in.k)
			if k >= len(pkt) {
				return 0, true
			}
			a = uint32(pkt[k])
		case cGroup:
			// cgroup.run, inline (a call here would have the loop's
			// registers spilled at every dispatch), written to need few
			// registers at once.
			g := &st.groups[in.k]
			pc = uint(in.jf) // the tests one by one, unless decided here
			w1, w2 := uint(g.w1), uint(g.w2)
			if w1+8 > uint(len(pkt)) || w2+8 > uint(len(pkt)) {
				continue
			}
			w := binary.LittleEndian.Uint64(pkt[w1 : w1+8])
			fail := w&g.m1 ^ g.v1
			v2 := binary.LittleEndian.Uint64(pkt[w2 : w2+8])
			fail |= v2&g.m2 ^ g.v2
			if g.aWin == 2 {
				w = v2
			}
			if fail == 0 && g.msh {
				m := uint(g.mshOff)
				if m >= uint(len(pkt)) {
					continue
				}
				gx := uint32(pkt[m]&0xf) << 2
				o := uint(gx) + uint(g.xw)
				if o+8 > uint(len(pkt)) {
					continue
				}
				x = gx
				w3 := binary.LittleEndian.Uint64(pkt[o : o+8])
				fail = w3&g.m3 ^ g.v3
				if g.aWin == 3 {
					w = w3
				}
			}
			switch {
			case fail == 0 && g.okRet:
				return g.okK, true
			case fail == 0:
				if g.aWin != 0 {
					a = uint32(bits.ReverseBytes64(w)>>g.aShift) & g.aMask
				}
				pc = uint(in.jt)
			case g.exitRet:
				return g.exitK, true
			case g.exitDead:
				pc = uint(g.exit)
			}
		case cLdSlow, cLdAnc, cMshSlow:
			st.a, st.x, st.pc = a, x, pc-1
			return 0, false
		case cLdWJeq:
			k := int(in.k)
			if k+4 > len(pkt) {
				return 0, true
			}
			a = uint32(pkt[k])<<24 | uint32(pkt[k+1])<<16 | uint32(pkt[k+2])<<8 | uint32(pkt[k+3])
			if a == in.k2 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cLdWJgt:
			k := int(in.k)
			if k+4 > len(pkt) {
				return 0, true
			}
			a = uint32(pkt[k])<<24 | uint32(pkt[k+1])<<16 | uint32(pkt[k+2])<<8 | uint32(pkt[k+3])
			if a > in.k2 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cLdWJge:
			k := int(in.k)
			if k+4 > len(pkt) {
				return 0, true
			}
			a = uint32(pkt[k])<<24 | uint32(pkt[k+1])<<16 | uint32(pkt[k+2])<<8 | uint32(pkt[k+3])
			if a >= in.k2 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cLdWJset:
			k := int(in.k)
			if k+4 > len(pkt) {
				return 0, true
			}
			a = uint32(pkt[k])<<24 | uint32(pkt[k+1])<<16 | uint32(pkt[k+2])<<8 | uint32(pkt[k+3])
			if a&in.k2 != 0 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cLdHJeq:
			k := int(in.k)
			if k+2 > len(pkt) {
				return 0, true
			}
			a = uint32(pkt[k])<<8 | uint32(pkt[k+1])
			if a == in.k2 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cLdHJgt:
			k := int(in.k)
			if k+2 > len(pkt) {
				return 0, true
			}
			a = uint32(pkt[k])<<8 | uint32(pkt[k+1])
			if a > in.k2 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cLdHJge:
			k := int(in.k)
			if k+2 > len(pkt) {
				return 0, true
			}
			a = uint32(pkt[k])<<8 | uint32(pkt[k+1])
			if a >= in.k2 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cLdHJset:
			k := int(in.k)
			if k+2 > len(pkt) {
				return 0, true
			}
			a = uint32(pkt[k])<<8 | uint32(pkt[k+1])
			if a&in.k2 != 0 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cLdBJeq:
			k := int(in.k)
			if k+1 > len(pkt) {
				return 0, true
			}
			a = uint32(pkt[k])
			if a == in.k2 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cLdBJgt:
			k := int(in.k)
			if k+1 > len(pkt) {
				return 0, true
			}
			a = uint32(pkt[k])
			if a > in.k2 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cLdBJge:
			k := int(in.k)
			if k+1 > len(pkt) {
				return 0, true
			}
			a = uint32(pkt[k])
			if a >= in.k2 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cLdBJset:
			k := int(in.k)
			if k+1 > len(pkt) {
				return 0, true
			}
			a = uint32(pkt[k])
			if a&in.k2 != 0 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cMshLdIndWJeq:
			if m := uint(in.m); m < uint(len(pkt)) {
				x = uint32(pkt[m]&0xf) << 2
			} else {
				return 0, true
			}
			fallthrough
		case cLdIndWJeq:
			off := x + in.k
			if o := int(off); int32(off) >= 0 && o+4 <= len(pkt) {
				a = uint32(pkt[o])<<24 | uint32(pkt[o+1])<<16 | uint32(pkt[o+2])<<8 | uint32(pkt[o+3])
			} else {
				st.a, st.x, st.pc = a, x, pc-1
				return 0, false
			}
			if a == in.k2 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cMshLdIndWJgt:
			if m := uint(in.m); m < uint(len(pkt)) {
				x = uint32(pkt[m]&0xf) << 2
			} else {
				return 0, true
			}
			fallthrough
		case cLdIndWJgt:
			off := x + in.k
			if o := int(off); int32(off) >= 0 && o+4 <= len(pkt) {
				a = uint32(pkt[o])<<24 | uint32(pkt[o+1])<<16 | uint32(pkt[o+2])<<8 | uint32(pkt[o+3])
			} else {
				st.a, st.x, st.pc = a, x, pc-1
				return 0, false
			}
			if a > in.k2 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cMshLdIndWJge:
			if m := uint(in.m); m < uint(len(pkt)) {
				x = uint32(pkt[m]&0xf) << 2
			} else {
				return 0, true
			}
			fallthrough
		case cLdIndWJge:
			off := x + in.k
			if o := int(off); int32(off) >= 0 && o+4 <= len(pkt) {
				a = uint32(pkt[o])<<24 | uint32(pkt[o+1])<<16 | uint32(pkt[o+2])<<8 | uint32(pkt[o+3])
			} else {
				st.a, st.x, st.pc = a, x, pc-1
				return 0, false
			}
			if a >= in.k2 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cMshLdIndWJset:
			if m := uint(in.m); m < uint(len(pkt)) {
				x = uint32(pkt[m]&0xf) << 2
			} else {
				return 0, true
			}
			fallthrough
		case cLdIndWJset:
			off := x + in.k
			if o := int(off); int32(off) >= 0 && o+4 <= len(pkt) {
				a = uint32(pkt[o])<<24 | uint32(pkt[o+1])<<16 | uint32(pkt[o+2])<<8 | uint32(pkt[o+3])
			} else {
				st.a, st.x, st.pc = a, x, pc-1
				return 0, false
			}
			if a&in.k2 != 0 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cMshLdIndHJeq:
			if m := uint(in.m); m < uint(len(pkt)) {
				x = uint32(pkt[m]&0xf) << 2
			} else {
				return 0, true
			}
			fallthrough
		case cLdIndHJeq:
			off := x + in.k
			if o := int(off); int32(off) >= 0 && o+2 <= len(pkt) {
				a = uint32(pkt[o])<<8 | uint32(pkt[o+1])
			} else {
				st.a, st.x, st.pc = a, x, pc-1
				return 0, false
			}
			if a == in.k2 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cMshLdIndHJgt:
			if m := uint(in.m); m < uint(len(pkt)) {
				x = uint32(pkt[m]&0xf) << 2
			} else {
				return 0, true
			}
			fallthrough
		case cLdIndHJgt:
			off := x + in.k
			if o := int(off); int32(off) >= 0 && o+2 <= len(pkt) {
				a = uint32(pkt[o])<<8 | uint32(pkt[o+1])
			} else {
				st.a, st.x, st.pc = a, x, pc-1
				return 0, false
			}
			if a > in.k2 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cMshLdIndHJge:
			if m := uint(in.m); m < uint(len(pkt)) {
				x = uint32(pkt[m]&0xf) << 2
			} else {
				return 0, true
			}
			fallthrough
		case cLdIndHJge:
			off := x + in.k
			if o := int(off); int32(off) >= 0 && o+2 <= len(pkt) {
				a = uint32(pkt[o])<<8 | uint32(pkt[o+1])
			} else {
				st.a, st.x, st.pc = a, x, pc-1
				return 0, false
			}
			if a >= in.k2 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cMshLdIndHJset:
			if m := uint(in.m); m < uint(len(pkt)) {
				x = uint32(pkt[m]&0xf) << 2
			} else {
				return 0, true
			}
			fallthrough
		case cLdIndHJset:
			off := x + in.k
			if o := int(off); int32(off) >= 0 && o+2 <= len(pkt) {
				a = uint32(pkt[o])<<8 | uint32(pkt[o+1])
			} else {
				st.a, st.x, st.pc = a, x, pc-1
				return 0, false
			}
			if a&in.k2 != 0 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cMshLdIndBJeq:
			if m := uint(in.m); m < uint(len(pkt)) {
				x = uint32(pkt[m]&0xf) << 2
			} else {
				return 0, true
			}
			fallthrough
		case cLdIndBJeq:
			off := x + in.k
			if o := int(off); int32(off) >= 0 && o+1 <= len(pkt) {
				a = uint32(pkt[o])
			} else {
				st.a, st.x, st.pc = a, x, pc-1
				return 0, false
			}
			if a == in.k2 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cMshLdIndBJgt:
			if m := uint(in.m); m < uint(len(pkt)) {
				x = uint32(pkt[m]&0xf) << 2
			} else {
				return 0, true
			}
			fallthrough
		case cLdIndBJgt:
			off := x + in.k
			if o := int(off); int32(off) >= 0 && o+1 <= len(pkt) {
				a = uint32(pkt[o])
			} else {
				st.a, st.x, st.pc = a, x, pc-1
				return 0, false
			}
			if a > in.k2 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cMshLdIndBJge:
			if m := uint(in.m); m < uint(len(pkt)) {
				x = uint32(pkt[m]&0xf) << 2
			} else {
				return 0, true
			}
			fallthrough
		case cLdIndBJge:
			off := x + in.k
			if o := int(off); int32(off) >= 0 && o+1 <= len(pkt) {
				a = uint32(pkt[o])
			} else {
				st.a, st.x, st.pc = a, x, pc-1
				return 0, false
			}
			if a >= in.k2 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cMshLdIndBJset:
			if m := uint(in.m); m < uint(len(pkt)) {
				x = uint32(pkt[m]&0xf) << 2
			} else {
				return 0, true
			}
			fallthrough
		case cLdIndBJset:
			off := x + in.k
			if o := int(off); int32(off) >= 0 && o+1 <= len(pkt) {
				a = uint32(pkt[o])
			} else {
				st.a, st.x, st.pc = a, x, pc-1
				return 0, false
			}
			if a&in.k2 != 0 {
				pc = uint(in.jt)
			} else {
				pc = uint(in.jf)
			}
		case cLdIndW:
			off := x + in.k
			if o := int(off); int32(off) >= 0 && o+4 <= len(pkt) {
				a = uint32(pkt[o])<<24 | uint32(pkt[o+1])<<16 | uint32(pkt[o+2])<<8 | uint32(pkt[o+3])
			} else {
				st.a, st.x, st.pc = a, x, pc-1
				return 0, false
			}
		case cLdIndH:
			off := x + in.k
			if o := int(off); int32(off) >= 0 && o+2 <= len(pkt) {
				a = uint32(pkt[o])<<8 | uint32(pkt[o+1])
			} else {
				st.a, st.x, st.pc = a, x, pc-1
				return 0, false
			}
		case cLdIndB:
			off := x + in.k
			if o := int(off); int32(off) >= 0 && o+1 <= len(pkt) {
				a = uint32(pkt[o])
			} else {
				st.a, st.x, st.pc = a, x, pc-1
				return 0, false
			}
		case cMsh:
			k := int(in.k)
			if k >= len(pkt) {
				return 0, true
			}
			x = uint32(pkt[k]&0xf) << 2
		case cAddK:
			a += in.k
		case cAddX:
			a += x
		case cSubK:
			a -= in.k
		case cSubX:
			a -= x
		case cMulK:
			a *= in.k
		case cMulX:
			a *= x
		case cDivK:
			a /= in.k // Check refuses k = 0
		case cDivX:
			if x == 0 {
				return 0, true
			}
			a /= x
		case cModK:
			a %= in.k
		case cModX:
			if x == 0 {
				return 0, true
			}
			a %= x
		case cAndK:
			a &= in.k
		case cAndX:
			a &= x
		case cOrK:
			a |= in.k
		case cOrX:
			a |= x
		case cXorK:
			a ^= in.k
		case cXorX:
			a ^= x
		case cLshK:
			a <<= in.k & 31
		case cLshX:
			a <<= x & 31
		case cRshK:
			a >>= in.k & 31
		case cRshX:
			a >>= x & 31
		case cNeg:
			a = -a
		case cJa:
			pc = uint(in.jt)
		case cJeqK:
			pc = pick(a == in.k, in)
		case cJeqX:
			pc = pick(a == x, in)
		case cJgtK:
			pc = pick(a > in.k, in)
		case cJgtX:
			pc = pick(a > x, in)
		case cJgeK:
			pc = pick(a >= in.k, in)
		case cJgeX:
			pc = pick(a >= x, in)
		case cJsetK:
			pc = pick(a&in.k != 0, in)
		case cJsetX:
			pc = pick(a&x != 0, in)
		}
	}
	return 0, true // not reached (Check)
}

// slowStep executes the instruction at st.pc that exec handed over.
func (p *classicProgram) slowStep(pkt []byte, md *Metadata, st *classicState) (v uint32, done bool) {
	if md == nil {
		md = &noMetadata
	}
	in := &p.code[st.pc]
	st.pc++
	switch k := in.kind; {
	case k == cLdAnc:
		st.a = md.ancillary(in.k, pkt, st.a, st.x)
	case k == cLdSlow:
		v, ok := load(pkt, md, int32(in.k), int(in.jt))
		if !ok {
			return 0, true
		}
		st.a = v
	case k == cMshSlow:
		v, ok := load(pkt, md, int32(in.k), 1)
		if !ok {
			return 0, true
		}
		st.x = (v & 0xf) << 2
	default: // an indirect load, maybe fused with a jump on A
		size, cond := indirectLoad(k)
		v, ok := load(pkt, md, int32(st.x+in.k), size)
		if !ok {
			return 0, true
		}
		st.a = v
		if cond >= 0 {
			st.pc = uint(in.jf)
			if cond == 0 && v == in.k2 || cond == 1 && v > in.k2 || cond == 2 && v >= in.k2 || cond == 3 && v&in.k2 != 0 {
				st.pc = uint(in.jt)
			}
		}
	}
	return 0, false
}

// indirectLoad returns the size of an indirect load kind and, for those
// fused with a jump, its condition (0 jeq, 1 jgt, 2 jge, 3 jset; -1 none).
func indirectLoad(k uint8) (size, cond int) {
	switch {
	case k == cLdIndW:
		return 4, -1
	case k == cLdIndH:
		return 2, -1
	case k == cLdIndB:
		return 1, -1
	default: // cMshLdIndWJeq..cLdIndBJset
		d := int(k - cMshLdIndWJeq)
		return [3]int{4, 2, 1}[d/8], d % 8 / 2
	}
}

func pick(cond bool, in *cop) uint {
	if cond {
		return uint(in.jt)
	}
	return uint(in.jf)
}
