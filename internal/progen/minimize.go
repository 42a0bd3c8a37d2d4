package progen

import (
	"slices"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// nop is the no-operation Minimize puts in place of removed instructions: it
// keeps every slot index, so jump offsets stay valid.
var nop = isa.Instruction{Opcode: isa.OpcodeJA}

func isNop(i isa.Instruction) bool {
	return (i.Opcode == isa.OpcodeJA && i.Offset == 0) || (i.Opcode == isa.OpcodeJA32 && i.Imm == 0)
}

// Minimize shrinks a program that exposes a difference between engines.
// fails reports whether a candidate still exposes it; it must return false
// for candidates the kernel refuses (Minimize removes instructions blindly
// and lets fails judge). It never removes the set-up of registers and stack
// at the start of each function of a Generate or Wrap program, the
// epilogue, or exits: without them a program could read registers or stack
// the kernel leaves undefined (or holding pointers), which engines need not
// agree on. At most maxTrials candidates are tried. The result
// has the no-operations left by removed instructions compacted away when
// the compacted program still fails; p itself is not modified.
func Minimize(p *Program, fails func(*Program) bool, maxTrials int) *Program {
	best := p.withBody(slices.Clone(p.Body))
	trials := 0
	try := func(c *Program) bool {
		if trials >= maxTrials {
			return false
		}
		trials++
		return fails(c)
	}
	// Removable units: single slots, both slots of an lddw, or the
	// indivisible ranges the generator recorded. Slot 0 (r9 = r1), the
	// set-up, the epilogue's stores to the register area and exits stay;
	// everything else is fair game.
	type unit struct{ start, n int }
	var units []unit
	unitAt := map[int]int{}
	for _, u := range p.units {
		unitAt[u[0]] = u[1] - u[0]
	}
	for n := 1; n < len(best.Body); n++ {
		i := best.Body[n]
		switch {
		case unitAt[n] > 0:
			units = append(units, unit{n, unitAt[n]})
			n += unitAt[n] - 1
		case n < len(p.setup) && p.setup[n]:
			if i.IsLDDW() {
				n++
			}
		case i.IsLDDW():
			units = append(units, unit{n, 2})
			n++
		case i.Opcode != isa.OpcodeExit && !isNop(i) && !p.isEpilogueStore(i):
			units = append(units, unit{n, 1})
		}
	}
	// Delta debugging over chunks of units, halving the chunk size.
	for chunk := max(1, len(units)/2); ; chunk /= 2 {
		for start := 0; start < len(units); start += chunk {
			body := slices.Clone(best.Body)
			changed := false
			for _, u := range units[start:min(len(units), start+chunk)] {
				for k := u.start; k < u.start+u.n; k++ {
					if !isNop(body[k]) {
						body[k], changed = nop, true
					}
				}
			}
			if changed {
				if c := best.withBody(body); try(c) {
					best = c
				}
			}
		}
		if chunk == 1 || trials >= maxTrials {
			break
		}
	}
	if c := best.withBody(Compact(best.Body)); len(c.Body) < len(best.Body) {
		c.setup, c.units = nil, nil
		// Compact removes exactly the no-operations: never set-up slots,
		// and units only whole.
		newIndex := make([]int, len(best.Body)+1)
		kept := 0
		for n, i := range best.Body {
			newIndex[n] = kept
			if !isNop(i) {
				kept++
				if len(best.setup) == len(best.Body) {
					c.setup = append(c.setup, best.setup[n])
				}
			}
		}
		newIndex[len(best.Body)] = kept
		for _, u := range best.units {
			if a, b := newIndex[u[0]], newIndex[u[1]]; b > a {
				c.units = append(c.units, [2]int{a, b})
			}
		}
		if fails(c) {
			best = c
		}
	}
	return best
}

// withBody returns a copy of p running body instead.
func (p *Program) withBody(body []isa.Instruction) *Program {
	c := *p
	c.Body = body
	c.Kernel = append(slices.Clone(p.Kernel[:p.PrologueLen]), body...)
	c.Memory = slices.Clone(p.Memory)
	return &c
}

// Compact removes the no-operation jumps (ja +0, gotol +0) from a valid
// program and adjusts the offsets of the jumps, calls and function
// references that span them.
func Compact(insns []isa.Instruction) []isa.Instruction {
	// newIndex[n] is the index slot n gets, or for a removed slot the index
	// of the next kept one, where control flows on.
	newIndex := make([]int, len(insns)+1)
	removed := make([]bool, len(insns))
	kept := 0
	for n := 0; n < len(insns); n++ {
		newIndex[n] = kept
		if insns[n].IsLDDW() {
			newIndex[n+1] = kept + 1
			kept += 2
			n++
			continue
		}
		if isNop(insns[n]) {
			removed[n] = true
			continue
		}
		kept++
	}
	newIndex[len(insns)] = kept
	out := make([]isa.Instruction, 0, kept)
	for n := 0; n < len(insns); n++ {
		i := insns[n]
		if removed[n] {
			continue
		}
		if t, ok := isa.Target(insns, n); ok && t >= 0 && t <= len(insns) {
			rel := newIndex[t] - (newIndex[n] + 1)
			switch {
			case i.IsLDDW(), i.Opcode == isa.OpcodeCall, i.Opcode == isa.OpcodeJA32:
				i.Imm = int32(rel)
			default:
				i.Offset = int16(rel)
			}
		}
		out = append(out, i)
		if i.IsLDDW() && n+1 < len(insns) {
			out = append(out, insns[n+1])
			n++
		}
	}
	return out
}

// isEpilogueStore reports whether i stores a register into the register
// area, which only the epilogue does.
func (p *Program) isEpilogueStore(i isa.Instruction) bool {
	return i.Opcode == isa.ClassSTX|isa.ModeMEM|isa.SizeDW && i.Dst == regMem && int(i.Offset) >= p.RegsOffset
}
