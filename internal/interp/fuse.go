package interp

import (
	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// Superinstructions: Load rewrites the op of an instruction that starts a
// frequent pair into one op that runs both (RATIONALE.md, "Superinstructions",
// says how the pairs were chosen). The second instruction keeps its own op in
// its own slot, so a jump to it, an error at it and the driver's handling of
// it are unchanged; the fused op continues at the slot after the pair (or at
// a jump target). The unfused ops stay in Program.plain: the driver and
// stepOne, which run one instruction at a time, use those.
//
// The budget needs no special care: a pair never contains a control
// transfer except as its second half, so both halves lie in one segment,
// paid in full before its first instruction runs. A fused op whose first
// half must go to the driver stops at its own slot without running
// anything; one whose second half must stops at the second slot after
// running the first, so the driver sees exactly the instruction that needs
// it, and a fault names that instruction.

// fuse rewrites code, where plain[n] == code[n] on entry, fusing pairs
// (and the longer groups below); inline are the program's inline maps.
func fuse(code []op, inline []engine.InlineMap) {
	for n := 0; n+1 < len(code); n++ {
		a, b := code[n], code[n+1]
		if a.kind == opLDDW {
			n++ // its second slot is not an instruction
			continue
		}
		if a.kind == opInvalid || b.kind == opInvalid {
			continue
		}
		if g, ok := mapGroup(code, n, inline); ok {
			code[n] = g
			continue
		}
		if c := code[min(n+2, len(code)-1)]; a.kind == opLdxDW && b.kind == opAdd64X && c.kind == opMov64X &&
			b.dst == a.dst && b.src != a.dst && c.dst == b.src && c.src == a.dst {
			// rA = *(u64 *)(rB + off); rA += rC; rC = rA: aux is C.
			a.kind, a.aux = opLdxDWAddMovX, b.src
			code[n] = a
			continue
		}
		if a.kind == opLdAbsB && n+3 < len(code) && isMsh(code[n+1], code[n+2], code[n+3]) {
			a.kind, a.src = opLdAbsBMsh, code[n+3].dst
			code[n] = a
			continue
		}
		if a.kind == opMov64X && b.kind == opAdd64K && a.dst == b.dst && n+2 < len(code) && code[n+2].kind == opLDDW {
			a.kind, a.imm = opMovXAddKLddw, b.imm
			code[n] = a
			continue
		}
		if f, ok := fusePair(a, b, n); ok {
			code[n] = f
		}
	}
}

// fusePair returns the op running a at slot n followed by b, if the pair is
// one of the superinstructions.
func fusePair(a, b op, n int) (op, bool) {
	f := a
	switch {
	case a.kind == opMov64X && b.kind == opAdd64K && a.dst == b.dst:
		f.kind, f.imm = opMovXAddK, b.imm
	case a.kind == opMov32K && b.kind == opStxW:
		f.kind = opMov32KStxW
	case a.kind == opMov64K && b.kind == opStxDW:
		f.kind = opMov64KStxDW
	case a.kind == opMov64X && b.kind == opMov64X:
		f.kind = opMovXMovX
	case a.kind == opMov64X && b.kind == opMov32K:
		f.kind = opMovXMov32K
	case a.kind == opMov64X && b.kind == opMov64K:
		f.kind = opMovXMov64K
	case a.kind == opMov64K && b.kind == opMov64K:
		f.kind = opMov64KMov64K
	case a.kind == opMov32K && b.kind == opMov32K:
		f.kind = opMov32KMov32K
	case a.kind == opLdxDW && b.kind == opAdd64X:
		f.kind = opLdxDWAdd64X
	case a.kind == opAdd64X && b.kind == opMov64X:
		f.kind = opAdd64XMovX
	case a.kind == opMov32K && b.kind == opExit:
		f.kind = opMov32KExit
	case a.kind == opAdd64K:
		cond, x, swap, ok := jump64(b.kind)
		if !ok {
			return a, false
		}
		f.kind = opAdd64KJeqK + 2*cond
		if x {
			f.kind++
		}
		f.imm = uint64(uint32(int32(a.imm))) // Validate: ALU64 K immediates are 32-bit
		f.off, f.imm = targets(f.imm, b.off, n+2, swap)
	case a.kind >= opLdAbsB && a.kind <= opLdIndW:
		cond, swap, ok := jump32K(b)
		if !ok {
			return a, false
		}
		f.kind = opLdAbsBJeq + 4*(a.kind-opLdAbsB) + cond
		f.off, f.imm = targets(uint64(uint32(a.imm)), b.off, n+2, swap)
	default:
		return a, false
	}
	return f, true
}

// targets packs a jump's targets into a fused op: off is where execution
// goes when the op's condition holds, the high half of imm where it goes
// otherwise (low holds the first instruction's 32-bit operand).
// The jump goes to target when its own condition holds, else to next;
// swap says the op tests the negation of the jump's condition.
func targets(low uint64, target int32, next int, swap bool) (int32, uint64) {
	jt, jf := target, int32(next)
	if swap {
		jt, jf = jf, jt
	}
	return jt, low | uint64(uint32(jf))<<32
}

// jump64 classifies a 64-bit unsigned conditional jump as a fused
// condition (0 eq, 1 gt, 2 ge), whether it compares with a register, and
// whether the fused op tests its negation (ne, le, lt).
func jump64(kind uint8) (cond uint8, x, swap, ok bool) {
	switch kind {
	case opJeq64K, opJeq64X:
		cond = 0
	case opJne64K, opJne64X:
		cond, swap = 0, true
	case opJgt64K, opJgt64X:
		cond = 1
	case opJle64K, opJle64X:
		cond, swap = 1, true
	case opJge64K, opJge64X:
		cond = 2
	case opJlt64K, opJlt64X:
		cond, swap = 2, true
	default:
		return 0, false, false, false
	}
	// Each condition's kinds are 64K, 64X, 32K, 32X.
	return cond, (kind-opJeq64K)%4 == 1, swap, true
}

// jump32K classifies a 32-bit conditional jump of r0 against K, the jump
// classic filters translate to, as a fused condition (0 eq, 1 gt, 2 ge,
// 3 set) and whether the fused op tests its negation.
func jump32K(b op) (cond uint8, swap, ok bool) {
	if b.dst != 0 {
		return 0, false, false
	}
	switch b.kind {
	case opJeq32K:
		return 0, false, true
	case opJne32K:
		return 0, true, true
	case opJgt32K:
		return 1, false, true
	case opJle32K:
		return 1, true, true
	case opJge32K:
		return 2, false, true
	case opJlt32K:
		return 2, true, true
	case opJset32K:
		return 3, false, true
	}
	return 0, false, false
}

// isMsh tells whether b, c, d finish classic BPF's ldxb 4*([k]&0xf) after
// a byte load into r0: w0 &= 15; w0 <<= 2; wX = w0.
func isMsh(b, c, d op) bool {
	return b.kind == opAnd32K && b.dst == 0 && uint32(b.imm) == 0xf &&
		c.kind == opLsh32K && c.dst == 0 && uint32(c.imm) == 2 &&
		d.kind == opMov32X && d.src == 0
}

// Map lookup groups. Clang emits every map lookup with a constant key as
// the same eight slots:
//
//	w1 = K                      (or r1 = K for a u64 key)
//	*(u32 *)(r10 - 4) = r1      (or u64)
//	r2 = r10
//	r2 += -4
//	r1 = MAP ll
//	call map_lookup_elem
//	if r0 == 0 goto T           (or !=)
//
// which unfused cost five dispatches (with the pairs above). mapGroup
// turns the first slot into one op running all of them when the call is
// an inline lookup (opMapLookupArray, opMapLookupHash) of the map the
// lddw loads. The op keeps the mov's dst and imm, which a pair ending
// in this slot reads as its second half; src is the map (the lookup
// op's dst), off the store's offset (low 16 bits) and the add's (high
// 16), aux says the store is 64-bit (groupDW) and the jump is taken when
// r0 != 0 (groupJne). The jump's target is read from its own op, seven
// slots on, which no fusion changes (a jump never starts one).
//
// Its effects are exactly the eight instructions': the key register, the
// stack slot (marked dirty), r2, r1 = the handle, r0, and the jump; r3-r5
// keep their values, as after the lookup op. Groups whose store or key
// would lie outside r10's frame are not fused, so the op needs no bounds
// check: r10 is read-only, hence always the end of the live stack. Where
// the lookup needs the driver (a hash hit without preallocation, a hash
// without a table) the op stops at the call's slot having run the
// instructions before it, like a pair whose second half needs the driver.

// Flags in a group op's aux.
const (
	groupDW      = 1  // the key store is 64-bit (rA = K; *(u64 *))
	groupJne     = 2  // the jump is taken when r0 != 0
	groupSameKey = 4  // r2 points at the u32 stored: the key is K
	groupAccum   = 8  // the jump skips just an accumulation of the value (isAccum)
	groupFirst   = 16 // clang's first unrolled lookup: rC = 0, the jump, rC = the value (isFirst)
)

// isFirst tells whether the three slots from m are clang's code after the
// first of unrolled lookups: rC = 0; if r0 == 0 goto m+3;
// rC = *(u64 *)(r0 + off), the load inside a value of valueSize bytes and
// C not r0 (the jump reads it). An array group followed by these runs
// them too (groupFirst): the group is then ten slots, its jump at slot 8.
func isFirst(code []op, m int, valueSize uint32) bool {
	if m+2 >= len(code) {
		return false
	}
	z, j, ld := code[m], code[m+1], code[m+2]
	return z.kind == opMov64K && z.imm == 0 && z.dst != 0 &&
		j.kind == opJeq64K && j.dst == 0 && j.imm == 0 && int(j.off) == m+3 &&
		ld.kind == opLdxDW && ld.src == 0 && ld.dst == z.dst && ld.off >= 0 && int64(ld.off)+8 <= int64(valueSize)
}

// isAccum tells whether the three slots from n add a u64 of the value
// r0 points at to a register, as clang's "if (v) sum += *v" does after a
// lookup's null check: rA = *(u64 *)(r0 + off); rA += rC; rC = rA, with
// A != C and the load inside a value of valueSize bytes. A lookup group
// whose jump skips exactly these runs them too when r0 is not 0 (reading
// A, off and C from their slots, which fusion leaves intact): r0 then
// points at a whole value in memory the VM always may read (a slab), so
// the load needs no check.
func isAccum(code []op, n int, valueSize uint32) bool {
	if n+2 >= len(code) {
		return false
	}
	ld, add, mov := code[n], code[n+1], code[n+2]
	return ld.kind == opLdxDW && ld.src == 0 && ld.off >= 0 && int64(ld.off)+8 <= int64(valueSize) &&
		add.kind == opAdd64X && add.dst == ld.dst && add.src != ld.dst &&
		mov.kind == opMov64X && mov.dst == add.src && mov.src == ld.dst
}

// mapGroup returns the group op for slot n, if the eight slots from n are
// a lookup group (see above).
func mapGroup(code []op, n int, inline []engine.InlineMap) (op, bool) {
	if n+7 >= len(code) {
		return op{}, false
	}
	mov, st, r2, add, ld, call, j := code[n], code[n+1], code[n+2], code[n+3], code[n+4], code[n+6], code[n+7]
	var flags uint8
	switch {
	case mov.kind == opMov32K && st.kind == opStxW:
	case mov.kind == opMov64K && st.kind == opStxDW:
		flags |= groupDW
	default:
		return op{}, false
	}
	if st.dst != 10 || st.src != mov.dst {
		// The op sets the registers in the instructions' order, so a key
		// register the group overwrites later (r0, r1, r2) ends as the
		// later instruction leaves it.
		return op{}, false
	}
	if r2.kind != opMov64X || r2.dst != 2 || r2.src != 10 || add.kind != opAdd64K || add.dst != 2 {
		return op{}, false
	}
	if ld.kind != opLDDW || ld.dst != 1 {
		return op{}, false
	}
	var kind uint8
	switch call.kind {
	case opMapLookupArray:
		kind = opMapGroupArray
	case opMapLookupHash:
		kind = opMapGroupHash
	default:
		return op{}, false
	}
	if int(call.dst) >= len(inline) || inline[call.dst].Handle != ld.imm {
		return op{}, false // r1 would not be the map's handle (not expected: Load chose the map by this lddw)
	}
	// The store and the key lie inside r10's frame, so the op needs no
	// bounds check (elsewhere they are the driver's, or the helper's).
	size := int64(4)
	if flags&groupDW != 0 {
		size = 8
	}
	o1, o2 := int64(st.off), int64(add.imm)
	if o1 < -isa.StackSize || o1 > -size || o2 < -isa.StackSize || o2 > -int64(inline[call.dst].KeySize) {
		return op{}, false
	}
	if o1 == o2 && size == 4 {
		flags |= groupSameKey // the key is K (the u32 just stored)
	}
	if kind == opMapGroupArray && isFirst(code, n+7, inline[call.dst].ValueSize) {
		g := mov
		g.kind, g.src, g.aux = kind, call.dst, flags|groupFirst
		g.off = int32(uint32(uint16(o1)) | uint32(uint16(o2))<<16)
		return g, true
	}
	switch j.kind {
	case opJeq64K:
	case opJne64K:
		flags |= groupJne
	default:
		return op{}, false
	}
	if j.dst != 0 || j.imm != 0 {
		return op{}, false
	}
	if flags&groupJne == 0 && int(j.off) == n+11 && isAccum(code, n+8, inline[call.dst].ValueSize) {
		flags |= groupAccum
	}
	g := mov
	g.kind, g.src, g.aux = kind, call.dst, flags
	g.off = int32(uint32(uint16(o1)) | uint32(uint16(o2))<<16)
	return g, true
}

// chainInfo describes a run of lookup groups that the interpreter may run
// at once (Program.chains; see chainGroups).
type chainInfo struct {
	pc   int    // the group's slot
	n    int    // groups from this one to the end of its chain
	cost uint64 // the accumulation segments of those groups (segs at each group's slot+8)
	// minStore is the lowest frame offset the chain's key stores write
	// (the dirty mark they leave).
	minStore int64
	a, c     uint8 // the accumulation's registers, the same in every group
}

// chainGroups numbers the lookup groups of clang's common shape on inline
// arrays (aux exactly groupSameKey|groupAccum) that may run as a chain and
// returns their chainInfo, index g-1 for the group whose op carries g in
// the high half of imm (a u32 key's group reads only the low half, and so
// do the pairs ending in its slot). A chain is a maximal run of such groups
// one after another (11 slots apart) accumulating into the same register
// C that no group's own writes (r0, r1, r2, the key register) touch: then,
// when every group of the rest of the chain hits and the budget pays all
// of their accumulations, their effects are the key stores in order, the
// last group's r0, r1, r2 and key register, and the sum of the values in
// A and C; inner runs them so, without the state in between (nothing can
// stop inside). segs is the program's segment table.
func chainGroups(code []op, segs []uint32) []chainInfo {
	var out []chainInfo
	member := func(n int) (a, c uint8, ok bool) {
		if n+10 >= len(code) || code[n].kind != opMapGroupArray || code[n].aux != groupSameKey|groupAccum {
			return 0, 0, false
		}
		a, c = code[n+8].dst&15, code[n+9].src&15
		if c <= 2 || c == code[n].dst&15 {
			return 0, 0, false
		}
		return a, c, true
	}
	for n := 0; n < len(code); n++ {
		a, c, ok := member(n)
		if !ok {
			continue
		}
		// The run of members from n with the same A and C.
		end := n
		for {
			a2, c2, ok := member(end + 11)
			if !ok || a2 != a || c2 != c {
				break
			}
			end += 11
		}
		for m := n; m <= end; m += 11 {
			out = append(out, chainInfo{a: a, c: c})
		}
		// Suffix sums, from the chain's last group back.
		cost, minStore := uint64(0), int64(0)
		for m, k := end, len(out)-1; m >= n; m, k = m-11, k-1 {
			cost += uint64(segs[m+8])
			minStore = min(minStore, int64(int16(uint16(code[m].off))))
			out[k].pc, out[k].n, out[k].cost, out[k].minStore = m, (end-m)/11+1, cost, minStore
			code[m].imm = uint64(uint32(code[m].imm)) | uint64(k+1)<<32
		}
		n = end + 10
	}
	return out
}
