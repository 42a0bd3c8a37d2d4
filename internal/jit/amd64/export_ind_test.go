//go:build linux && amd64

package amd64

import "github.com/bpfvm/bpfvm/internal/isa"

// IndexedLoads exposes findIndexedLoads to tests: per slot, whether it is
// elided, and the scale of the indexed loads (0: not indexed).
func IndexedLoads(insns []isa.Instruction) (elided []bool, scale []uint8) {
	c := &compiler{insns: insns, opts: &Options{}, nonNegative: indNonNegative(insns)}
	r := c.findIndexedLoads()
	elided, scale = make([]bool, len(insns)), make([]uint8, len(insns))
	if r != nil {
		copy(elided, r.elided)
		for i, l := range r.load {
			if l.ok {
				scale[i] = l.scale
			}
		}
	}
	return elided, scale
}

// WritesR8 exposes writesR8 to tests.
var WritesR8 = writesR8
