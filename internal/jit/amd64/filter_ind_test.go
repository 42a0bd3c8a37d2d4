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
