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
