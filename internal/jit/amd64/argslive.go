//go:build linux && amd64

package amd64

import "github.com/bpfvm/bpfvm/internal/isa"

// argRegs are r1-r5 as a register mask (bit r for register r).
const argRegs = 1<<isa.R1 | 1<<isa.R2 | 1<<isa.R3 | 1<<isa.R4 | 1<<isa.R5

// allRegs are r0-r10 as a register mask.
const allRegs = 1<<(isa.R10+1) - 1

// liveness is a backward liveness analysis of the registers over the whole
// program, iterated to a fixed point, so it holds for any control flow;
// what it does not model (calls) counts as reading every register
// involved. It reports, per slot, whether the legacy packet load there
// must clear r1-r5 (as the kernel's and the interpreter's do): only if the
// program may read one of them before writing it (a classic filter's
// translation never does, so its loads skip five instructions each); and
// the registers live on entry to each slot (a mask per slot; live[0]:
// the registers the program may read before writing them, the only ones
// a run must start with zeroed). singleFrame says an exit ends the run
// or a callback (no local calls: Go keeps only r0 of a callback, and a
// callback starts with r0 and r6-r9 zeroed, as in the interpreter);
// otherwise an exit may hand registers to a caller and counts as reading
// them all.
func liveness(insns []isa.Instruction, singleFrame bool) (keepArgs []bool, live []uint16) {
	n := len(insns)
	keep := make([]bool, n)
	live = make([]uint16, n+1)  // live[i]: registers live on entry to slot i
	out := func(i int) uint16 { // live after slot i
		in := insns[i]
		next := i + 1
		if in.IsLDDW() {
			next = i + 2
		}
		var m uint16
		switch cl := in.Class(); {
		case in.Opcode == isa.OpcodeExit:
			return 0
		case (cl == isa.ClassJMP || cl == isa.ClassJMP32) && in.Op() == isa.OpJA:
			if t, ok := isa.Target(insns, i); ok && t >= 0 && t < n {
				return live[t]
			}
			return allRegs
		case (cl == isa.ClassJMP || cl == isa.ClassJMP32) && in.Op() != isa.OpCALL:
			if t, ok := isa.Target(insns, i); ok && t >= 0 && t < n {
				m = live[t]
			} else {
				m = allRegs
			}
		}
		if next < n {
			m |= live[next]
		}
		return m
	}
	reg := func(r uint8) uint16 { return 1 << r & allRegs }
	for changed := true; changed; {
		changed = false
		for i := n - 1; i >= 0; i-- {
			if i > 0 && insns[i-1].IsLDDW() {
				continue // second half of an lddw
			}
			in := insns[i]
			after := out(i)
			var use, def uint16
			switch cl := in.Class(); cl {
			case isa.ClassALU, isa.ClassALU64:
				switch {
				case in.Op() == isa.OpMOV && in.Source() == isa.SrcX:
					use = reg(in.Src)
				case in.Op() == isa.OpMOV:
				case (in.Op() == isa.OpXOR || in.Op() == isa.OpSUB) && in.Source() == isa.SrcX && in.Src == in.Dst:
					// zero whatever the register held
				case in.Op() == isa.OpNEG || in.Op() == isa.OpEND || in.Source() == isa.SrcK:
					use = reg(in.Dst)
				default:
					use = reg(in.Dst) | reg(in.Src)
				}
				def = reg(in.Dst)
			case isa.ClassLDX:
				use, def = reg(in.Src), reg(in.Dst)
			case isa.ClassST:
				use = reg(in.Dst)
			case isa.ClassSTX:
				use = reg(in.Dst) | reg(in.Src)
				switch {
				case in.Mode() != isa.ModeATOMIC:
				case in.Imm == isa.AtomicCMPXCHG:
					use |= reg(isa.R0)
					def = reg(isa.R0)
				case in.Imm&isa.AtomicFETCH != 0:
					def = reg(in.Src)
				}
			case isa.ClassLD:
				if in.IsLDDW() {
					def = reg(in.Dst)
					break
				}
				if in.Mode() == isa.ModeIND {
					use = reg(in.Src)
				}
				keep[i] = after&argRegs != 0
				def = argRegs | reg(isa.R0) // cleared (when keep says so) or dead
			case isa.ClassJMP, isa.ClassJMP32:
				switch {
				case in.Opcode == isa.OpcodeExit:
					use = reg(isa.R0)
					if !singleFrame {
						use = allRegs // a caller may read them
					}
				case in.Op() == isa.OpCALL && in.Src == isa.CallLocal && in.Source() == isa.SrcK:
					use = allRegs
				case in.Op() == isa.OpCALL:
					use = argRegs | reg(in.Dst) // arguments (callx: and the id)
				case in.Op() == isa.OpJA:
				default:
					use = reg(in.Dst)
					if in.Source() == isa.SrcX {
						use |= reg(in.Src)
					}
				}
			}
			v := use | after&^def
			if v != live[i] {
				live[i] = v
				changed = true
			}
		}
	}
	return keep, live
}
