//go:build linux && amd64

package amd64_test

import (
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit/amd64"
)

// TestFusedLoads: a legacy load and the jump on r0 after it, of every
// width, condition and class, with constants at and around the field's
// limits, agree with the interpreter on packets whose field takes values
// around the constant (compareFilter: single and batch runs); fused
// where r0 is dead after the jump and the field can hold the constant.
func TestFusedLoads(t *testing.T) {
	sizes := map[uint8]int{isa.SizeB: 1, isa.SizeH: 2, isa.SizeW: 4}
	ops := []uint8{isa.OpJEQ, isa.OpJNE, isa.OpJSET, isa.OpJGT, isa.OpJGE, isa.OpJLT, isa.OpJLE, isa.OpJSGT, isa.OpJSLE}
	imms := []int32{0, 1, 6, 0x7f, 0x80, 0xff, 0x100, 0x800, 0x7fff, 0x8000, 0xffff, 0x10000, 0x12345678, -1, -0x80000000}
	fusedCount := 0
	for sz, size := range sizes {
		for _, ind := range []bool{false, true} {
			for _, op := range ops {
				for _, class := range []uint8{isa.ClassJMP, isa.ClassJMP32} {
					for _, imm := range imms {
						ld := isa.Instruction{Opcode: isa.ClassLD | isa.ModeABS | sz, Imm: 2}
						if ind {
							ld = isa.Instruction{Opcode: isa.ClassLD | isa.ModeIND | sz, Src: isa.R7, Imm: 1}
						}
						insns := []isa.Instruction{
							{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: isa.R7, Imm: 1},
							ld,
							{Opcode: class | op | isa.SrcK, Dst: isa.R0, Imm: imm, Offset: 2},
							{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: isa.R0, Imm: 1},
							{Opcode: isa.OpcodeExit},
							{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: isa.R0, Imm: 2},
							{Opcode: isa.OpcodeExit},
						}
						fused := amd64.FusedLoads(insns)
						if fused != nil && fused[1] {
							fusedCount++
						}
						var pkts [][]byte
						for _, d := range []int64{-1, 0, 1, 0x100, -0x100} {
							v := uint64(int64(imm) + d)
							pkt := []byte{0xaa, 0xbb, 0, 0, 0, 0, 0xcc}
							for k := range size {
								pkt[2+k] = byte(v >> (8 * (size - 1 - k)))
							}
							pkts = append(pkts, pkt, pkt[:1+size]) // and one byte short
						}
						pkts = append(pkts, []byte{0, 0, 0xff, 0xff, 0xff, 0xff}, []byte{0, 0, 0x80, 0, 0, 0})
						compareFilter(t, insns, nil, pkts)
					}
				}
			}
		}
	}
	if fusedCount < 100 {
		t.Errorf("only %d loads fused", fusedCount)
	}
	t.Logf("%d fused", fusedCount)
	// Not fused: r0 read after the jump, the jump a target, a signed
	// compare, a constant the field cannot hold.
	for _, c := range []struct {
		name  string
		insns []isa.Instruction
	}{
		{"r0 read", []isa.Instruction{
			{Opcode: isa.ClassLD | isa.ModeABS | isa.SizeH, Imm: 2},
			{Opcode: isa.ClassJMP32 | isa.OpJEQ | isa.SrcK, Dst: isa.R0, Imm: 5, Offset: 1},
			{Opcode: isa.OpcodeExit},
			{Opcode: isa.OpcodeExit},
		}},
		{"target", []isa.Instruction{
			{Opcode: isa.ClassJMP | isa.OpJA, Offset: 1},
			{Opcode: isa.ClassLD | isa.ModeABS | isa.SizeH, Imm: 2},
			{Opcode: isa.ClassJMP32 | isa.OpJEQ | isa.SrcK, Dst: isa.R0, Imm: 5, Offset: 1},
			{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: isa.R0, Imm: 1},
			{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: isa.R0, Imm: 2},
			{Opcode: isa.OpcodeExit},
		}},
		{"signed", []isa.Instruction{
			{Opcode: isa.ClassLD | isa.ModeABS | isa.SizeB, Imm: 2},
			{Opcode: isa.ClassJMP32 | isa.OpJSGT | isa.SrcK, Dst: isa.R0, Imm: 5, Offset: 1},
			{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: isa.R0, Imm: 1},
			{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: isa.R0, Imm: 2},
			{Opcode: isa.OpcodeExit},
		}},
		{"too wide", []isa.Instruction{
			{Opcode: isa.ClassLD | isa.ModeABS | isa.SizeH, Imm: 2},
			{Opcode: isa.ClassJMP | isa.OpJNE | isa.SrcK, Dst: isa.R0, Imm: 0x10000, Offset: 1},
			{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: isa.R0, Imm: 1},
			{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: isa.R0, Imm: 2},
			{Opcode: isa.OpcodeExit},
		}},
	} {
		if f := amd64.FusedLoads(c.insns); f != nil {
			t.Errorf("%s: fused %v", c.name, f)
		}
	}
}

// TestIndNonNegative: the negative-offset check of an indirect load is
// left out only where the offset is provably in [0, 2^31), and the
// programs still agree with the interpreter.
func TestIndNonNegative(t *testing.T) {
	for _, c := range []struct {
		src  string
		slot int
		want bool
	}{
		// Classic "ldx 4*([14]&0xf); ldh [x+16]", translated.
		{"ldabsb 14\nand32 %r0, 15\nlsh32 %r0, 2\nmov32 %r7, %r0\nldindh %r7, 16\nexit", 4, true},
		{"ldabsb 14\nmov %r7, %r0\nldindb %r7, 0x7fffff00\nexit", 2, true},
		{"ldabsb 14\nmov %r7, %r0\nldindb %r7, 0x7fffffff\nexit", 2, false}, // 255 + imm overflows
		{"ldabsb 14\nmov %r7, %r0\nldindb %r7, -1\nexit", 2, false},
		{"ldxw %r7, [%r1+0]\nldindb %r7, 0\nexit", 1, false},
		{"ldabsw 14\nmov %r7, %r0\nldindb %r7, 0\nexit", 2, false}, // a word may be negative as an offset
		{"ldabsb 14\nlsh %r0, 30\nmov %r7, %r0\nldindb %r7, 0\nexit", 3, false},
		{"ldabsb 14\nmov %r7, %r0\nldabsb 0\njeq %r0, 1, +1\nmov %r7, -5\nldindb %r7, 0\nexit", 5, false}, // one path negative
		{"ldabsb 14\nmov %r7, %r0\nldabsb 0\njeq %r0, 1, +1\nmov %r7, 5\nldindb %r7, 0\nexit", 5, true},
		{"ldabsb 14\nmov %r1, %r0\nldabsb 0\nldindb %r1, 0\nexit", 3, false}, // r1 clobbered by the load
	} {
		insns := assemble(t, c.src)
		got := amd64.IndNonNegative(insns)
		if (got != nil && got[c.slot]) != c.want {
			t.Errorf("%q: %v, want slot %d %v", c.src, got, c.slot, c.want)
		}
		var pkts [][]byte
		for _, b := range []byte{0, 1, 0x45, 0x4f, 0xff} {
			pkt := make([]byte, 80)
			for k := range pkt {
				pkt[k] = byte(k*7) ^ b
			}
			pkt[0], pkt[14] = b&1, b
			pkts = append(pkts, pkt, pkt[:20])
		}
		compareFilter(t, insns, make([]byte, 8), pkts)
	}
}
