package progtype

import (
	"github.com/bpfvm/bpfvm/internal/isa"
)

// Context accesses are found by a small forward data-flow analysis: which
// registers (and 8-byte stack slots) hold the context pointer plus a known
// constant, at each instruction. It is what the kernel's verifier learns
// for convert_ctx_access, without the rest of the verifier.

type valKind uint8

const (
	vUnknown valKind = iota
	vCtx             // context pointer + off
	vFP              // frame pointer + off
)

type absVal struct {
	kind valKind
	off  int64
}

var unknown = absVal{}

// absState is the abstract state at one instruction: registers and the
// spilled context/frame pointers of the current frame's stack, by slot
// (offset from r10, divided by 8).
type absState struct {
	regs  [11]absVal
	slots map[int64]absVal
}

func (s *absState) clone() *absState {
	c := &absState{regs: s.regs, slots: make(map[int64]absVal, len(s.slots))}
	for k, v := range s.slots {
		c.slots[k] = v
	}
	return c
}

// join merges o into s and reports whether s changed.
func (s *absState) join(o *absState) bool {
	changed := false
	for i := range s.regs {
		if s.regs[i] != o.regs[i] && s.regs[i] != unknown {
			s.regs[i] = unknown
			changed = true
		}
	}
	for k, v := range s.slots {
		if ov, ok := o.slots[k]; !ok || ov != v {
			delete(s.slots, k)
			changed = true
		}
	}
	return changed
}

// Access is a load or store through the context pointer.
type Access struct {
	Index int   // instruction slot
	Off   int64 // offset in the context
	Size  int   // bytes
	Store bool
}

// FindContextAccesses returns the context accesses of a validated program
// whose r1 holds the context at entry.
func FindContextAccesses(insns []isa.Instruction) []Access {
	states := make([]*absState, len(insns))
	entry := &absState{slots: map[int64]absVal{}}
	entry.regs[1] = absVal{vCtx, 0}
	entry.regs[10] = absVal{vFP, 0}
	states[0] = entry
	work := []int{0}
	inWork := make([]bool, len(insns))
	inWork[0] = true
	found := map[int]Access{}

	flow := func(to int, st *absState) {
		if to < 0 || to >= len(insns) {
			return
		}
		if states[to] == nil {
			states[to] = st.clone()
		} else if !states[to].join(st) {
			return
		}
		if !inWork[to] {
			inWork[to] = true
			work = append(work, to)
		}
	}

	for len(work) > 0 {
		pc := work[len(work)-1]
		work = work[:len(work)-1]
		inWork[pc] = false
		in := states[pc]
		st := in.clone()
		// The last visit of pc sees its final state: only it decides.
		delete(found, pc)
		i := insns[pc]
		next := pc + 1
		switch i.Class() {
		case isa.ClassALU64:
			v := &st.regs[i.Dst&0xf]
			switch {
			case i.Op() == isa.OpMOV && i.Source() == isa.SrcX && i.Offset == 0:
				*v = st.regs[i.Src&0xf]
			case (i.Op() == isa.OpADD || i.Op() == isa.OpSUB) && i.Source() == isa.SrcK && v.kind != vUnknown:
				d := int64(i.Imm)
				if i.Op() == isa.OpSUB {
					d = -d
				}
				v.off += d
			default:
				*v = unknown
			}
		case isa.ClassALU:
			st.regs[i.Dst&0xf] = unknown
		case isa.ClassLD:
			if i.IsLDDW() {
				st.regs[i.Dst&0xf] = unknown
				next = pc + 2
			} else {
				// Legacy packet loads clobber r0-r5.
				for r := 0; r <= 5; r++ {
					st.regs[r] = unknown
				}
			}
		case isa.ClassLDX:
			base := st.regs[i.Src&0xf]
			size := isa.SizeBytes(i.Size())
			switch base.kind {
			case vCtx:
				found[pc] = Access{Index: pc, Off: base.off + int64(i.Offset), Size: size}
				st.regs[i.Dst&0xf] = unknown
			case vFP:
				off := base.off + int64(i.Offset)
				if v, ok := st.slots[off]; ok && size == 8 && off%8 == 0 && i.Mode() == isa.ModeMEM {
					st.regs[i.Dst&0xf] = v
				} else {
					st.regs[i.Dst&0xf] = unknown
				}
			default:
				st.regs[i.Dst&0xf] = unknown
			}
		case isa.ClassST, isa.ClassSTX:
			base := st.regs[i.Dst&0xf]
			size := isa.SizeBytes(i.Size())
			atomic := i.Mode() == isa.ModeATOMIC
			switch base.kind {
			case vCtx:
				found[pc] = Access{Index: pc, Off: base.off + int64(i.Offset), Size: size, Store: true}
			case vFP:
				off := base.off + int64(i.Offset)
				for k := range st.slots {
					if k < off+int64(size) && off < k+8 {
						delete(st.slots, k)
					}
				}
				if i.Class() == isa.ClassSTX && !atomic && size == 8 && off%8 == 0 {
					if v := st.regs[i.Src&0xf]; v.kind != vUnknown {
						st.slots[off] = v
					}
				}
			}
			if atomic {
				// Fetching atomics write a register (src, or r0 for cmpxchg).
				st.regs[i.Src&0xf] = unknown
				st.regs[0] = unknown
			}
		case isa.ClassJMP, isa.ClassJMP32:
			switch {
			case i.Opcode == isa.OpcodeExit:
				continue
			case i.Opcode == isa.OpcodeCall && i.Src == isa.CallLocal:
				callee := &absState{slots: map[int64]absVal{}}
				copy(callee.regs[1:6], st.regs[1:6])
				callee.regs[10] = absVal{vFP, 0}
				for r := 1; r <= 5; r++ {
					if callee.regs[r].kind == vFP {
						callee.regs[r] = unknown // the caller's frame
					}
				}
				flow(pc+1+int(i.Imm), callee)
				for r := 0; r <= 5; r++ {
					st.regs[r] = unknown
				}
			case i.Opcode == isa.OpcodeCall || i.Opcode == isa.OpcodeCall|isa.SrcX:
				for r := 0; r <= 5; r++ {
					st.regs[r] = unknown
				}
			default:
				if t, ok := isa.Target(insns, pc); ok {
					flow(t, st)
				}
				if i.Op() == isa.OpJA {
					continue
				}
			}
		}
		flow(next, st)
	}
	out := make([]Access, 0, len(found))
	for pc := range insns {
		if a, ok := found[pc]; ok {
			out = append(out, a)
		}
	}
	return out
}
