//go:build linux && amd64

package amd64

import (
	"bytes"
	"fmt"
	"testing"
)

// indexedCases covers the indexed encoders over bases and indexes that
// stress REX.X/REX.B and the SIB special cases (rbp/r13 bases that need a
// displacement, rsp/r12 bases, r12 as an index, no base at all), every
// scale and displacement width, and immediates of each width.
func indexedCases() []encCase {
	var cs []encCase
	add := func(text string, f func(e *encoder)) { cs = append(cs, encCase{text, f}) }
	sizeName := map[int]string{1: "BYTE", 2: "WORD", 4: "DWORD", 8: "QWORD"}
	reg32 := func(r reg) string {
		if r >= r8 {
			return regNames[r] + "d"
		}
		return "e" + regNames[r][1:]
	}
	addr := func(m sibOperand) string {
		s := "["
		if !m.noBase {
			s += regNames[m.base] + "+"
		}
		s += fmt.Sprintf("%s*%d", regNames[m.index], m.scale)
		if m.disp != 0 || m.noBase {
			s += fmt.Sprintf("%+d", m.disp)
		}
		return s + "]"
	}
	var ops []sibOperand
	for _, base := range []reg{rax, rsp, rbp, r10, r12, r13} {
		for _, index := range []reg{rcx, r11, r12, rbp} {
			for _, disp := range []int32{0, 16, -300} {
				ops = append(ops, sibOperand{base: base, index: index, scale: 1, disp: disp})
			}
		}
	}
	for _, scale := range []uint8{1, 2, 4, 8} {
		ops = append(ops, sibOperand{base: r10, index: rax, scale: scale, disp: 4})
		for _, index := range []reg{rax, r13} {
			for _, disp := range []int32{0, 16, -70000} {
				ops = append(ops, sibOperand{index: index, scale: scale, disp: disp, noBase: true})
			}
		}
	}
	for _, m := range ops {
		a := addr(m)
		for _, dst := range []reg{rax, r11} {
			add(fmt.Sprintf("lea %s, %s", reg32(dst), a), func(e *encoder) { e.leaIdx(s32, dst, m) })
			add(fmt.Sprintf("lea %s, %s", regNames[dst], a), func(e *encoder) { e.leaIdx(s64, dst, m) })
			add(fmt.Sprintf("movzx %s, BYTE PTR %s", reg32(dst), a), func(e *encoder) { e.loadIdx(s8, dst, m) })
			add(fmt.Sprintf("movzx %s, WORD PTR %s", reg32(dst), a), func(e *encoder) { e.loadIdx(s16, dst, m) })
			add(fmt.Sprintf("mov %s, DWORD PTR %s", reg32(dst), a), func(e *encoder) { e.loadIdx(s32, dst, m) })
		}
		for _, size := range []int{1, 2, 4} {
			mask := int64(1)<<(8*size) - 1
			for _, imm := range []int32{0, 5, 0x50, 0xff, 0x5000, 0x1fff, -1, 0x12345678} {
				v := int64(uint32(imm)) & mask
				add(fmt.Sprintf("cmp %s PTR %s, %d", sizeName[size], a, v), func(e *encoder) { e.cmpImmNIdx(size, m, imm) })
				add(fmt.Sprintf("test %s PTR %s, %d", sizeName[size], a, v), func(e *encoder) { e.testImmNIdx(size, m, imm) })
			}
		}
	}
	return cs
}

// TestIndexedEncoderAgainstGNUAs cross-checks the indexed encoders as
// TestEncoderAgainstGNUAs does the others.
func TestIndexedEncoderAgainstGNUAs(t *testing.T) {
	crossCheckWithGNUAs(t, indexedCases())
}

// TestIndexedEncoderGolden pins encodings checked by hand against the
// SDM, for machines without binutils.
func TestIndexedEncoderGolden(t *testing.T) {
	for _, c := range []struct {
		emit func(e *encoder)
		want []byte
	}{
		// cmp word [r10+r11], 0x5000
		{func(e *encoder) { e.cmpImmNIdx(s16, memIdx(r10, r11, 0), 0x5000) }, []byte{0x66, 0x43, 0x81, 0x3c, 0x1a, 0x00, 0x50}},
		// lea r11d, [rax*4+16]
		{func(e *encoder) { e.leaIdx(s32, r11, sibOperand{index: rax, scale: 4, disp: 16, noBase: true}) }, []byte{0x44, 0x8d, 0x1c, 0x85, 0x10, 0, 0, 0}},
		// movzx eax, byte [r13+rcx] (r13 needs a displacement)
		{func(e *encoder) { e.loadIdx(s8, rax, memIdx(r13, rcx, 0)) }, []byte{0x41, 0x0f, 0xb6, 0x44, 0x0d, 0x00}},
	} {
		var e encoder
		c.emit(&e)
		if !bytes.Equal(e.b, c.want) {
			t.Errorf("got % x, want % x", e.b, c.want)
		}
	}
}
