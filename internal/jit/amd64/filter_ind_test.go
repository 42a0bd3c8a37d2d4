//go:build linux && amd64

package amd64_test

import (
	"fmt"
	"testing"

	"github.com/bpfvm/bpfvm/internal/jit/amd64"
)

// TestIndexedLoads: which indirect loads are indexed and which slots
// before them fold into them, and every case runs as on the interpreter
// (packets of every header length, short ones, out of bounds offsets).
func TestIndexedLoads(t *testing.T) {
	const msh = "ldabsb 14\nand32 %r0, 15\n"
	for _, c := range []struct {
		src    string
		elided string // the elided slots, as fmt prints a []int
		scales string // slot:scale of the indexed loads
	}{
		// Classic "ldx 4*([14]&0xf); ldh [x+16]; jeq #80", translated.
		{msh + "lsh32 %r0, 2\nmov32 %r7, %r0\nldindh %r7, 16\njne %r0, 0x50, +2\nmov32 %r0, 1\nexit\nmov32 %r0, 0\nexit", "[2 3]", "4:4"},
		{msh + "lsh32 %r0, 2\nmov32 %r7, %r0\nldindh %r7, 16\nexit", "[2 3]", "4:4"},
		{msh + "lsh %r0, 3\nmov %r7, %r0\nldindw %r7, 2\nexit", "[2 3]", "4:8"},
		{msh + "lsh32 %r0, 0\nmov32 %r7, %r0\nldindb %r7, 2\nexit", "[2 3]", "4:1"},
		// A shift by 4 is no scale: only the copy folds.
		{msh + "lsh32 %r0, 4\nmov32 %r7, %r0\nldindb %r7, 2\nexit", "[3]", "4:1"},
		// X read after the load: nothing folds, the load is indexed.
		{msh + "lsh32 %r0, 2\nmov32 %r7, %r0\nldindh %r7, 16\nadd %r0, %r7\nexit", "[]", "4:1"},
		// A jump to the copy skips the shift: only the copy folds.
		{msh + "jeq %r0, 3, +1\nlsh32 %r0, 2\nmov32 %r7, %r0\nldindb %r7, 2\nexit", "[4]", "5:1"},
		// A jump to the load: nothing folds (and r7, unset on that path,
		// is not known non-negative: the general path).
		{msh + "jeq %r0, 3, +2\nlsh32 %r0, 2\nmov32 %r7, %r0\nldindb %r7, 2\nexit", "[]", ""},
		{msh + "mov32 %r7, 1\njeq %r0, 3, +2\nlsh32 %r0, 2\nmov32 %r7, %r0\nldindb %r7, 2\nexit", "[]", "6:1"},
		// The copy is from another register: nothing folds.
		{msh + "mov %r6, %r0\nlsh32 %r0, 2\nmov32 %r7, %r6\nldindb %r7, 2\nexit", "[]", "5:1"},
		// The offset may be negative: not indexed (the general path).
		{"ldabsw 14\nmov %r7, %r0\nldindb %r7, 0\nexit", "[]", ""},
	} {
		insns := assemble(t, c.src)
		elided, scale := amd64.IndexedLoads(insns)
		var el []int
		scales := ""
		for i := range insns {
			if elided[i] {
				el = append(el, i)
			}
			if scale[i] != 0 {
				scales += fmt.Sprintf("%d:%d", i, scale[i])
			}
		}
		if fmt.Sprint(el) != c.elided && !(len(el) == 0 && c.elided == "[]") || scales != c.scales {
			t.Errorf("%q: elided %v, indexed %q; want %s, %q", c.src, el, scales, c.elided, c.scales)
		}
		var pkts [][]byte
		for _, b := range []byte{0, 1, 3, 0x45, 0x4f, 0xff} {
			pkt := make([]byte, 100)
			for k := range pkt {
				pkt[k] = byte(k*7) ^ b
			}
			pkt[14] = b
			pkts = append(pkts, pkt, pkt[:20], pkt[:30], pkt[:36], pkt[:37], pkt[:80])
		}
		compareFilter(t, insns, make([]byte, 8), pkts)
	}
}

// TestLenBounds: programs whose bounds checks compare with the packet
// length itself (lenBounds) and programs that keep the per-size bounds
// (r6 named, a negative absolute offset, an indirect load not indexed or
// with a large immediate) answer as the interpreter, at the edges of
// every length, with offsets near 2^31 too.
func TestLenBounds(t *testing.T) {
	const msh = "ldabsb 14\nand32 %r0, 15\nlsh32 %r0, 2\nmov32 %r7, %r0\n"
	for _, src := range []string{
		msh + "ldindh %r7, 16\njne %r0, 0x50, +1\nldabsw 30\nexit",
		msh + "ldindw %r7, 20\nexit",
		msh + "ldindb %r7, 0x3fffffff\nexit",
		msh + "ldindb %r7, 0x40000001\nexit", // large immediate: per-size bounds
		"ldabsw 0x7ffffffc\nexit",
		"ldabsw 0x7ffffffe\nexit", // its end passes 2^31
		"ldabsb 0x7fffffff\nexit",
		"ldabsh 2\nldabsb 40\nldabsw 36\nexit",
		"ldabsh 2\nmov %r6, %r0\nldabsw 36\nadd %r0, %r6\nexit", // r6 named
		"ldabsb -2097150\nexit",                                 // SKF_LL_OFF
		"ldabsb 14\nmov %r7, %r0\nldabsw 0\nldindb %r7, 0\nexit",
		"ldxw %r7, [%r1+0]\nldindb %r7, 0\nexit", // not known non-negative
	} {
		insns := assemble(t, src)
		var pkts [][]byte
		for _, b := range []byte{0, 5, 0x45, 0x4f, 0xff} {
			pkt := make([]byte, 100)
			for k := range pkt {
				pkt[k] = byte(k*11) ^ b
			}
			pkt[14] = b
			for _, n := range []int{0, 1, 3, 4, 13, 15, 17, 18, 19, 20, 21, 23, 24, 31, 34, 35, 36, 37, 39, 40, 41, 60, 79, 80, 81, 100} {
				pkts = append(pkts, pkt[:n])
			}
		}
		compareFilter(t, insns, []byte{1, 2, 3, 4, 5, 6, 7, 8}, pkts)
	}
}
