//go:build linux && amd64

package amd64

import "github.com/bpfvm/bpfvm/internal/isa"

// indNonNegative returns, per slot, whether the legacy indirect load
// there has an offset (src + imm, 32-bit) known to lie in [0, 2^31): then
// the filter entry leaves out the negative-offset (SKF_*_OFF) check.
// Classic filters' "ldx 4*([k]&0xf)" makes X an IP header length in
// 0..60 by construction, which a small forward analysis of upper bounds
// sees: loads, moves of constants and registers, "and" with a constant,
// shifts by a constant. insns must pass filterable (jumps only forward).
// nil when no slot qualifies.
func indNonNegative(insns []isa.Instruction) []bool {
	const unknown = -1
	type bounds [isa.NumRegisters]int64 // per register: 0 <= value <= bound, or unknown
	var all bounds
	for r := range all {
		all[r] = unknown
	}
	n := len(insns)
	in := make([]bounds, n)
	reached := make([]bool, n)
	in[0], reached[0] = all, true
	merge := func(t int, b *bounds) {
		if t < 0 || t >= n {
			return
		}
		if !reached[t] {
			reached[t], in[t] = true, *b
			return
		}
		for r := range b {
			if in[t][r] == unknown || b[r] == unknown {
				in[t][r] = unknown
			} else {
				in[t][r] = max(in[t][r], b[r])
			}
		}
	}
	var out []bool
	for i := 0; i < n; i++ {
		ins := insns[i]
		if !reached[i] {
			if ins.IsLDDW() {
				i++
			}
			continue
		}
		b := in[i]
		cl := ins.Class()
		set := func(v int64) {
			if v > 1<<31-1 {
				v = unknown
			}
			b[ins.Dst] = v
		}
		switch {
		case ins.IsLDDW():
			b[ins.Dst] = unknown
			merge(i+2, &b)
			i++
			continue
		case cl == isa.ClassLD:
			if ins.Mode() == isa.ModeIND && ins.Imm >= 0 && b[ins.Src] != unknown && b[ins.Src]+int64(ins.Imm) < 1<<31 {
				if out == nil {
					out = make([]bool, n)
				}
				out[i] = true
			}
			for r := isa.R1; r <= isa.R5; r++ {
				b[r] = unknown
			}
			b[isa.R0] = int64(1)<<(8*isa.SizeBytes(ins.Size())) - 1
		case cl == isa.ClassALU || cl == isa.ClassALU64:
			src := int64(unknown)
			if ins.Source() == isa.SrcX {
				src = b[ins.Src]
			} else if ins.Imm >= 0 {
				src = int64(ins.Imm)
			}
			switch {
			case ins.Op() == isa.OpMOV && ins.Offset == 0:
				set(src)
			case ins.Op() == isa.OpAND && ins.Source() == isa.SrcK && ins.Imm >= 0:
				set(int64(ins.Imm))
			case ins.Op() == isa.OpLSH && ins.Source() == isa.SrcK && b[ins.Dst] != unknown && ins.Imm >= 0 && ins.Imm < 32:
				set(b[ins.Dst] << ins.Imm)
			default:
				b[ins.Dst] = unknown
			}
		case cl == isa.ClassLDX:
			b[ins.Dst] = unknown
		case cl == isa.ClassSTX && ins.Mode() == isa.ModeATOMIC:
			b[ins.Src], b[isa.R0] = unknown, unknown
		}
		switch {
		case ins.Opcode == isa.OpcodeExit:
		case (cl == isa.ClassJMP || cl == isa.ClassJMP32) && ins.Op() == isa.OpJA:
			t, _ := isa.Target(insns, i)
			merge(t, &b)
		case cl == isa.ClassJMP || cl == isa.ClassJMP32:
			t, _ := isa.Target(insns, i)
			merge(t, &b)
			merge(i+1, &b)
		default:
			merge(i+1, &b)
		}
	}
	return out
}
