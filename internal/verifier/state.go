package verifier

import (
	"fmt"
	"strings"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// slotType is what one byte of a stack slot holds.
type slotType uint8

const (
	slotInvalid slotType = iota // never written
	slotSpill                   // part of a spilled register
	slotMisc                    // written with unknown data
	slotZero                    // written with zero
)

// stackSlot is one 8-byte stack slot: its bytes' kinds and, when they hold
// a spilled register, that register's abstract value.
type stackSlot struct {
	spilled Reg
	types   [8]slotType
}

func (s *stackSlot) isSpill() bool { return s.types[7] == slotSpill }

// frame is one function's registers and stack.
type frame struct {
	regs     [isa.NumRegisters]Reg
	stack    []stackSlot // stack[spi] covers fp-8*(spi+1) .. fp-8*spi-1
	callsite int         // the caller's call instruction (-1 for the entry)
	subprog  int
	// callback: the frame is a callback of the helper call at callsite
	// (bpf_loop, for_each_map_elem); its exit returns to that call.
	callback bool
	// cbDepth counts the callback iterations this frame's current
	// callback call has explored (the kernel's callback_depth).
	cbDepth int
	// stackShared: stack's array may be shared with copies of the frame
	// (copy on write: states are copied at every branch and stored state,
	// and most paths never write the stack after the copy).
	stackShared bool
}

func (f *frame) copy() *frame {
	n := *f
	f.stackShared, n.stackShared = true, true
	return &n
}

// ownStack gives the frame its own copy of a shared stack before a write.
func (f *frame) ownStack() {
	if f.stackShared {
		f.stack = append([]stackSlot(nil), f.stack...)
		f.stackShared = false
	}
}

// slotType reads the type of byte b of slot spi without writing.
func (f *frame) slotType(spi, b int) slotType {
	if spi >= len(f.stack) {
		return slotInvalid
	}
	return f.stack[spi].types[b]
}

// slot returns the stack slot spi for writing, growing the stack as needed.
func (f *frame) slot(spi int) *stackSlot {
	f.ownStack()
	for len(f.stack) <= spi {
		f.stack = append(f.stack, stackSlot{})
	}
	return &f.stack[spi]
}

type refState struct {
	id   uint32
	insn int
}

// pathNode records one branch decision; states share their history.
type pathNode struct {
	idx   int
	taken bool
	prev  *pathNode
}

// state is one abstract machine state: the call frames, the references it
// holds, and the bookkeeping pruning needs.
type state struct {
	frames   []*frame
	refs     []refState
	lock     lockState // the bpf_spin_lock held, if any
	regsHash uint64    // of a stored state: regsHash at storing time
	insn     int
	parent   *state // the last stored state on this path
	branches int    // paths still being explored below this stored state
	path     *pathNode
	// hits and misses count pruning attempts against a stored state.
	hits, misses int
	// mayGotoDepth counts the may_goto fall-throughs taken on this path.
	mayGotoDepth int
}

// lockState names a held bpf_spin_lock: the map value (by register id,
// 0 for a global value) and the map.
type lockState struct {
	m  *Map
	id uint32
}

func (s *state) cur() *frame { return s.frames[len(s.frames)-1] }

func (s *state) copy() *state {
	n := &state{insn: s.insn, parent: s.parent, path: s.path, mayGotoDepth: s.mayGotoDepth}
	n.frames = make([]*frame, len(s.frames))
	for i, f := range s.frames {
		n.frames[i] = f.copy()
	}
	n.refs = append([]refState(nil), s.refs...)
	return n
}

// forEachReg visits every register and spilled register of every frame.
func (s *state) forEachReg(fn func(r *Reg)) {
	for _, f := range s.frames {
		for i := range f.regs {
			fn(&f.regs[i])
		}
		owned := false
		for i := range f.stack {
			if f.stack[i].isSpill() {
				if !owned {
					f.ownStack() // fn may change the spilled register
					owned = true
				}
				fn(&f.stack[i].spilled)
			}
		}
	}
}

func (s *state) String() string {
	var b strings.Builder
	for fi, f := range s.frames {
		if len(s.frames) > 1 {
			fmt.Fprintf(&b, "frame%d: ", fi)
		}
		first := true
		for i := range f.regs {
			if f.regs[i].Type == NotInit {
				continue
			}
			if !first {
				b.WriteByte(' ')
			}
			first = false
			fmt.Fprintf(&b, "R%d=%s", i, f.regs[i].String())
		}
		for spi := range f.stack {
			sl := &f.stack[spi]
			if sl.isSpill() {
				fmt.Fprintf(&b, " fp%d=%s", -8*(spi+1), sl.spilled.String())
				continue
			}
			var t [8]byte
			any := false
			for i := 0; i < 8; i++ {
				t[i] = "?rm0"[sl.types[i]]
				any = any || sl.types[i] != slotInvalid
			}
			if any {
				fmt.Fprintf(&b, " fp%d=%s", -8*(spi+1), string(t[:]))
			}
		}
		if fi < len(s.frames)-1 {
			b.WriteString(" ")
		}
	}
	return b.String()
}

// idMap pairs the ids of an old and a current state, for pruning.
type idMap struct {
	old, cur []uint32
	tmp      uint32
}

func (m *idMap) check(o, c uint32) bool {
	if (o == 0) != (c == 0) {
		return false
	}
	if o == 0 {
		return true
	}
	for i := range m.old {
		if m.old[i] == o {
			return m.cur[i] == c
		}
		if m.cur[i] == c {
			return false
		}
	}
	m.old = append(m.old, o)
	m.cur = append(m.cur, c)
	return true
}

func (m *idMap) checkScalar(o, c uint32) bool {
	if o == 0 {
		return true
	}
	if c == 0 {
		m.tmp++
		c = 1<<31 | m.tmp
	}
	return m.check(o, c)
}

func rangeWithin(o, c *Reg) bool {
	return o.Umin <= c.Umin && o.Umax >= c.Umax && o.Smin <= c.Smin && o.Smax >= c.Smax &&
		o.U32min <= c.U32min && o.U32max >= c.U32max && o.S32min <= c.S32min && o.S32max >= c.S32max
}

func regsExact(o, c *Reg, m *idMap) bool {
	oo, cc := *o, *c
	oo.ID, cc.ID, oo.RefID, cc.RefID = 0, 0, 0, 0
	return oo == cc && m.check(o.ID, c.ID) && m.check(o.RefID, c.RefID)
}

// regSafe reports whether every concrete value cur may hold is one old
// allowed for (the kernel's regsafe). All scalars count as precise.
func regSafe(o, c *Reg, m *idMap, exact bool) bool {
	if exact {
		return regsExact(o, c, m)
	}
	if o.Type == NotInit {
		return true
	}
	if o.Type != c.Type {
		return false
	}
	switch o.Type.Base() {
	case Scalar:
		if o.AddConst != c.AddConst || (o.AddConst && o.Off != c.Off) {
			return false
		}
		return m.checkScalar(o.ID, c.ID) && rangeWithin(o, c) && o.VarOff.In(c.VarOff)
	case PtrToMapValue, PtrToMapKey, PtrToMem, PtrToRingbuf:
		return o.Off == c.Off && o.Map == c.Map && o.MemSize == c.MemSize && rangeWithin(o, c) && o.VarOff.In(c.VarOff) &&
			m.check(o.ID, c.ID) && m.check(o.RefID, c.RefID)
	case PtrToPacket, PtrToPacketMeta:
		if o.Range > c.Range || o.Off != c.Off || !m.check(o.ID, c.ID) {
			return false
		}
		return rangeWithin(o, c) && o.VarOff.In(c.VarOff)
	case PtrToStack:
		return regsExact(o, c, m) && o.Frame == c.Frame
	default:
		return regsExact(o, c, m)
	}
}

// spillAsScalar returns the register a stack slot reads back as when it
// is a scalar: the spilled scalar, or an unknown scalar for all-misc.
func spillAsScalar(s *stackSlot) (Reg, bool) {
	if s.isSpill() && s.spilled.Type == Scalar {
		return s.spilled, true
	}
	for _, t := range s.types {
		if t != slotMisc {
			return Reg{}, false
		}
	}
	var r Reg
	r.setUnknown()
	return r, true
}

func stackSafe(o, c *frame, m *idMap, exact bool) bool {
	for spi := range o.stack {
		os := &o.stack[spi]
		var cs *stackSlot
		if spi < len(c.stack) {
			cs = &c.stack[spi]
		} else {
			cs = &stackSlot{}
		}
		if exact {
			if os.types != cs.types {
				return false
			}
			if os.isSpill() && !regsExact(&os.spilled, &cs.spilled, m) {
				return false
			}
			continue
		}
		if or, ok := spillAsScalar(os); ok {
			if cr, ok := spillAsScalar(cs); ok {
				if !regSafe(&or, &cr, m, false) {
					return false
				}
				continue
			}
		}
		for i := 0; i < 8; i++ {
			ot, ct := os.types[i], cs.types[i]
			// Root may read uninitialised stack, so invalid and misc bytes
			// in the old state read as unknown data: anything matches.
			if ot == slotInvalid || ot == slotMisc {
				continue
			}
			if ot != ct {
				return false
			}
		}
		if os.isSpill() && !regSafe(&os.spilled, &cs.spilled, m, false) {
			return false
		}
	}
	return true
}
