package verifier

import (
	"math"
	"math/bits"

	"github.com/bpfvm/bpfvm/internal/isa"
)

func (v *verifier) checkJump(in isa.Instruction) error {
	switch in.Op() {
	case isa.OpJA:
		t, _ := isa.Target(v.insns, v.idx)
		v.cur.insn = t
		v.jmps++
		return nil
	case isa.OpEXIT:
		return v.checkExit()
	case opJCOND:
		// may_goto: the jump is taken once the run's loop budget is spent.
		// Follow the jump now and explore the fall-through one level deeper.
		v.jmps++
		t, _ := isa.Target(v.insns, v.idx)
		other, err := v.push(v.idx+1, false)
		if err != nil {
			return err
		}
		other.mayGotoDepth++
		v.cur.path = &pathNode{idx: v.idx, taken: true, prev: v.cur.path}
		v.cur.insn = t
		v.facts[v.idx] |= FactBranchTaken | FactBranchNotTaken
		return nil
	case isa.OpCALL:
		v.jmps++
		if in.Source() == isa.SrcX {
			return v.unsupported("callx (indirect call) is not supported by the verifier")
		}
		if v.cur.lock.m != nil && !(in.Src == 0 && in.Imm == 94) {
			return v.unsafe("function calls are not allowed while holding a lock: call bpf_spin_unlock first")
		}
		switch in.Src {
		case isa.CallLocal:
			return v.checkLocalCall(in)
		case isa.CallKfunc:
			return v.unsupported("calls to kernel functions (kfuncs) need kernel BTF")
		}
		if err := v.checkHelperCall(in); err != nil {
			return err
		}
		if v.cur.insn == v.idx { // (a callback call moved to the callback)
			v.cur.insn++
		}
		return nil
	}
	v.jmps++
	return v.checkCondJump(in)
}

func (v *verifier) checkExit() error {
	if v.cur.lock.m != nil {
		return v.unsafe("bpf_spin_unlock is missing: the program exits holding a bpf_spin_lock")
	}
	st := v.cur
	f := st.cur()
	if len(st.frames) > 1 {
		r0 := f.regs[isa.R0]
		if r0.Type == PtrToStack {
			return v.unsafe("cannot return stack pointer to the caller: its frame ends with the call")
		}
		if f.callback {
			if err := v.checkReadable(isa.R0); err != nil {
				return err
			}
			if r0.Type != Scalar || r0.Smin < 0 || r0.Smax > 1 {
				return v.unsafe("At callback return the register R0 has %s, should have been in [0, 1]: a callback returns 0 (continue) or 1 (stop)", r0.String())
			}
			// Back to the helper call: the callback may run again.
			st.frames = st.frames[:len(st.frames)-1]
			st.insn = f.callsite
			return nil
		}
		st.frames = st.frames[:len(st.frames)-1]
		caller := st.cur()
		caller.regs[isa.R0] = r0
		st.insn = f.callsite + 1
		return nil
	}
	if len(st.refs) > 0 {
		return v.unsafe("BPF_EXIT instruction in main prog would lead to reference leak: the reference acquired at insn %d is never released", st.refs[0].insn)
	}
	if err := v.checkReadable(isa.R0); err != nil {
		return err
	}
	if err := v.checkReturn(); err != nil {
		return err
	}
	v.endPath()
	return nil
}

// checkReturn checks r0 against the program type's return range.
func (v *verifier) checkReturn() error {
	lo, hi, has := v.pt.retMin, v.pt.retMax, v.pt.hasRet
	if v.pt.name == "cgroup_skb" && v.cfg.ExpectedAttachType == 1 { // BPF_CGROUP_INET_EGRESS
		hi = 3
	}
	if v.pt.name == "cgroup_sock_addr" {
		switch v.cfg.ExpectedAttachType {
		case attachUDP4Recvmsg, attachUDP6Recvmsg, attachInet4Getpeer, attachInet6Getpeer, attachInet4Getsock, attachInet6Getsock,
			attachUnixRecvmsg, attachUnixGetpeer, attachUnixGetsock:
			lo = 1
		case attachInet4Bind, attachInet6Bind:
			hi = 3
		}
	}
	if !has {
		return nil
	}
	r0 := &v.regs()[isa.R0]
	if r0.Type != Scalar {
		return v.unsafe("At program exit the register R0 is not a known value (%s)", r0.Type)
	}
	if r0.Smin < lo || r0.Smax > hi {
		if r0.VarOff.IsUnknown() {
			return v.unsafe("At program exit the register R0 has unknown scalar value should have been in [%d, %d]", lo, hi)
		}
		return v.unsafe("At program exit the register R0 has smin=%d smax=%d should have been in [%d, %d]", r0.Smin, r0.Smax, lo, hi)
	}
	return nil
}

func (v *verifier) checkLocalCall(in isa.Instruction) error {
	st := v.cur
	if len(st.frames) >= isa.MaxCallDepth {
		return v.unsafe("the call stack of %d frames is too deep: bpf-to-bpf calls may nest %d deep", len(st.frames)+1, isa.MaxCallDepth)
	}
	t, _ := isa.Target(v.insns, v.idx)
	caller := st.cur()
	callee := &frame{callsite: v.idx, subprog: v.subprogOf[t]}
	for i := range callee.regs {
		callee.regs[i] = Reg{Type: NotInit}
	}
	for r := isa.R1; r <= isa.R5; r++ {
		callee.regs[r] = caller.regs[r]
	}
	callee.regs[isa.R10].setPointer(PtrToStack)
	callee.regs[isa.R10].Frame = int32(len(st.frames))
	for r := isa.R0; r <= isa.R5; r++ {
		caller.regs[r] = Reg{Type: NotInit}
	}
	st.frames = append(st.frames, callee)
	st.insn = t
	return nil
}

// ---- conditional jumps ----

func flipOp(op uint8) uint8 {
	switch op {
	case isa.OpJGT:
		return isa.OpJLT
	case isa.OpJLT:
		return isa.OpJGT
	case isa.OpJGE:
		return isa.OpJLE
	case isa.OpJLE:
		return isa.OpJGE
	case isa.OpJSGT:
		return isa.OpJSLT
	case isa.OpJSLT:
		return isa.OpJSGT
	case isa.OpJSGE:
		return isa.OpJSLE
	case isa.OpJSLE:
		return isa.OpJSGE
	}
	return op
}

const opJSETNot = 0xff // the false side of JSET

func revOp(op uint8) uint8 {
	switch op {
	case isa.OpJEQ:
		return isa.OpJNE
	case isa.OpJNE:
		return isa.OpJEQ
	case isa.OpJSET:
		return opJSETNot
	case isa.OpJGT:
		return isa.OpJLE
	case isa.OpJLE:
		return isa.OpJGT
	case isa.OpJGE:
		return isa.OpJLT
	case isa.OpJLT:
		return isa.OpJGE
	case isa.OpJSGT:
		return isa.OpJSLE
	case isa.OpJSLE:
		return isa.OpJSGT
	case isa.OpJSGE:
		return isa.OpJSLT
	case isa.OpJSLT:
		return isa.OpJSGE
	}
	return op
}

func notNull(r *Reg) bool {
	if r.Type.MayBeNull() {
		return false
	}
	switch r.Type {
	case PtrToSocket, PtrToTCPSock, PtrToMapValue, PtrToMapKey, PtrToSockCommon, PtrToMem, PtrToRingbuf, ConstPtrToMap:
		return true
	}
	return false
}

func pktBranchTaken(d, s *Reg, op uint8) int {
	var pkt *Reg
	if s.Type == PtrToPacketEnd {
		pkt = d
	} else if d.Type == PtrToPacketEnd {
		pkt = s
		op = flipOp(op)
	} else {
		return -1
	}
	if pkt.Range >= 0 {
		return -1
	}
	switch op {
	case isa.OpJLE, isa.OpJGT:
		if pkt.Range == beyondPktEnd {
			return b2i(op == isa.OpJGT)
		}
	case isa.OpJLT, isa.OpJGE:
		if pkt.Range == beyondPktEnd || pkt.Range == atPktEnd {
			return b2i(op == isa.OpJGE)
		}
	}
	return -1
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func isPktAny(r *Reg) bool {
	return r.Type == PtrToPacket || r.Type == PtrToPacketMeta || r.Type == PtrToPacketEnd
}

// branchTaken: 1 always taken, 0 never, -1 unknown.
func branchTaken(r1, r2 *Reg, op uint8, is32 bool) int {
	if isPktAny(r1) && isPktAny(r2) && !is32 {
		return pktBranchTaken(r1, r2, op)
	}
	if r1.Type != Scalar || r2.Type != Scalar {
		if !r2.isRegConst(is32) || r2.Type != Scalar {
			op = flipOp(op)
			r1, r2 = r2, r1
		}
		if r2.Type != Scalar || !r2.isRegConst(is32) {
			return -1
		}
		if !notNull(r1) || r2.constValue(is32) != 0 {
			return -1
		}
		switch op {
		case isa.OpJEQ:
			return 0
		case isa.OpJNE:
			return 1
		}
		return -1
	}
	return scalarBranchTaken(r1, r2, op, is32)
}

func scalarBranchTaken(r1, r2 *Reg, op uint8, is32 bool) int {
	t1, t2 := r1.VarOff, r2.VarOff
	umin1, umax1, umin2, umax2 := r1.Umin, r1.Umax, r2.Umin, r2.Umax
	smin1, smax1, smin2, smax2 := r1.Smin, r1.Smax, r2.Smin, r2.Smax
	if is32 {
		t1, t2 = t1.Subreg(), t2.Subreg()
		umin1, umax1, umin2, umax2 = uint64(r1.U32min), uint64(r1.U32max), uint64(r2.U32min), uint64(r2.U32max)
		smin1, smax1, smin2, smax2 = int64(r1.S32min), int64(r1.S32max), int64(r2.S32min), int64(r2.S32max)
	}
	switch op {
	case isa.OpJEQ, isa.OpJNE:
		eq := -1
		if t1.IsConst() && t2.IsConst() {
			eq = b2i(t1.Value == t2.Value)
		} else if umin1 > umax2 || umax1 < umin2 || smin1 > smax2 || smax1 < smin2 {
			eq = 0
		} else if !is32 && (r1.U32min > r2.U32max || r1.U32max < r2.U32min || r1.S32min > r2.S32max || r1.S32max < r2.S32min) {
			eq = 0
		} else if t1.Value&^t2.Mask != t2.Value&^t1.Mask { // a known bit differs
			eq = 0
		}
		if eq < 0 {
			return -1
		}
		if op == isa.OpJEQ {
			return eq
		}
		return 1 - eq
	case isa.OpJSET:
		if !r2.isRegConst(is32) {
			r1, r2 = r2, r1
			t1, t2 = t2, t1
		}
		if !r2.isRegConst(is32) {
			return -1
		}
		if t1.Value&t2.Value != 0 {
			return 1
		}
		if (t1.Mask|t1.Value)&t2.Value == 0 {
			return 0
		}
	case isa.OpJGT:
		if umin1 > umax2 {
			return 1
		} else if umax1 <= umin2 {
			return 0
		}
	case isa.OpJSGT:
		if smin1 > smax2 {
			return 1
		} else if smax1 <= smin2 {
			return 0
		}
	case isa.OpJLT:
		if umax1 < umin2 {
			return 1
		} else if umin1 >= umax2 {
			return 0
		}
	case isa.OpJSLT:
		if smax1 < smin2 {
			return 1
		} else if smin1 >= smax2 {
			return 0
		}
	case isa.OpJGE:
		if umin1 >= umax2 {
			return 1
		} else if umax1 < umin2 {
			return 0
		}
	case isa.OpJSGE:
		if smin1 >= smax2 {
			return 1
		} else if smax1 < smin2 {
			return 0
		}
	case isa.OpJLE:
		if umax1 <= umin2 {
			return 1
		} else if umin1 > umax2 {
			return 0
		}
	case isa.OpJSLE:
		if smax1 <= smin2 {
			return 1
		} else if smin1 > smax2 {
			return 0
		}
	}
	return -1
}

// refine narrows two scalars compared with op, on the side where the
// comparison holds (the kernel's regs_refine_cond_op).
func refine(r1, r2 *Reg, op uint8, is32 bool) {
	switch op {
	case isa.OpJGE, isa.OpJGT, isa.OpJSGE, isa.OpJSGT:
		op = flipOp(op)
		r1, r2 = r2, r1
	}
	switch op {
	case isa.OpJEQ:
		if is32 {
			r1.U32min = max(r1.U32min, r2.U32min)
			r1.U32max = min(r1.U32max, r2.U32max)
			r1.S32min = max(r1.S32min, r2.S32min)
			r1.S32max = min(r1.S32max, r2.S32max)
			r2.U32min, r2.U32max, r2.S32min, r2.S32max = r1.U32min, r1.U32max, r1.S32min, r1.S32max
			t := r1.VarOff.Subreg().Intersect(r2.VarOff.Subreg())
			r1.VarOff = r1.VarOff.WithSubreg(t)
			r2.VarOff = r2.VarOff.WithSubreg(t)
		} else {
			r1.Umin = max(r1.Umin, r2.Umin)
			r1.Umax = min(r1.Umax, r2.Umax)
			r1.Smin = max(r1.Smin, r2.Smin)
			r1.Smax = min(r1.Smax, r2.Smax)
			r2.Umin, r2.Umax, r2.Smin, r2.Smax = r1.Umin, r1.Umax, r1.Smin, r1.Smax
			r1.VarOff = r1.VarOff.Intersect(r2.VarOff)
			r2.VarOff = r1.VarOff
		}
	case isa.OpJNE:
		if !r2.isRegConst(is32) {
			r1, r2 = r2, r1
		}
		if !r2.isRegConst(is32) {
			return
		}
		val := r2.constValue(is32)
		if is32 {
			if r1.U32min == uint32(val) {
				r1.U32min++
			}
			if r1.U32max == uint32(val) {
				r1.U32max--
			}
			if r1.S32min == int32(val) {
				r1.S32min++
			}
			if r1.S32max == int32(val) {
				r1.S32max--
			}
		} else {
			if r1.Umin == val {
				r1.Umin++
			}
			if r1.Umax == val {
				r1.Umax--
			}
			if r1.Smin == int64(val) {
				r1.Smin++
			}
			if r1.Smax == int64(val) {
				r1.Smax--
			}
		}
	case isa.OpJSET:
		if !r2.isRegConst(is32) {
			r1, r2 = r2, r1
		}
		if !r2.isRegConst(is32) {
			return
		}
		val := r2.constValue(is32)
		if bits.OnesCount64(val) != 1 {
			return
		}
		if is32 {
			r1.VarOff = r1.VarOff.WithSubreg(r1.VarOff.Subreg().Or(TnumConst(val)))
		} else {
			r1.VarOff = r1.VarOff.Or(TnumConst(val))
		}
	case opJSETNot:
		if !r2.isRegConst(is32) {
			r1, r2 = r2, r1
		}
		if !r2.isRegConst(is32) {
			return
		}
		val := r2.constValue(is32)
		r1.markUnbounded()
		if is32 {
			r1.VarOff = r1.VarOff.WithSubreg(r1.VarOff.Subreg().And(TnumConst(^val)))
		} else {
			r1.VarOff = r1.VarOff.And(TnumConst(^val))
		}
	case isa.OpJLE:
		if is32 {
			r1.U32max = min(r1.U32max, r2.U32max)
			r2.U32min = max(r1.U32min, r2.U32min)
		} else {
			r1.Umax = min(r1.Umax, r2.Umax)
			r2.Umin = max(r1.Umin, r2.Umin)
		}
	case isa.OpJLT:
		if is32 {
			r1.U32max = min(r1.U32max, r2.U32max-1)
			r2.U32min = max(r1.U32min+1, r2.U32min)
		} else {
			r1.Umax = min(r1.Umax, r2.Umax-1)
			r2.Umin = max(r1.Umin+1, r2.Umin)
		}
	case isa.OpJSLE:
		if is32 {
			r1.S32max = min(r1.S32max, r2.S32max)
			r2.S32min = max(r1.S32min, r2.S32min)
		} else {
			r1.Smax = min(r1.Smax, r2.Smax)
			r2.Smin = max(r1.Smin, r2.Smin)
		}
	case isa.OpJSLT:
		if is32 {
			r1.S32max = min(r1.S32max, r2.S32max-1)
			r2.S32min = max(r1.S32min+1, r2.S32min)
		} else {
			r1.Smax = min(r1.Smax, r2.Smax-1)
			r2.Smin = max(r1.Smin+1, r2.Smin)
		}
	}
}

// refineSide refines the registers of one side of a branch; false means
// the side is impossible (its ranges became empty).
func refineSide(r1, r2 *Reg, op uint8, is32 bool) bool {
	if r1.Type != Scalar || r2.Type != Scalar {
		return true
	}
	refine(r1, r2, op, is32)
	r1.boundsSync()
	r2.boundsSync()
	return !r1.boundsInvalid() && !r2.boundsInvalid()
}

func (v *verifier) checkCondJump(in isa.Instruction) error {
	if err := v.checkReadable(in.Dst); err != nil {
		return err
	}
	op := in.Op()
	is32 := in.Class() == isa.ClassJMP32
	regs := v.regs()
	var src Reg
	if in.Source() == isa.SrcX {
		if err := v.checkReadable(in.Src); err != nil {
			return err
		}
		src = regs[in.Src]
	} else {
		src.setKnown(uint64(int64(in.Imm)))
	}
	dst := regs[in.Dst]
	target, _ := isa.Target(v.insns, v.idx)
	pred := branchTaken(&dst, &src, op, is32)

	if pred == 1 {
		v.facts[v.idx] |= FactBranchTaken
		v.cur.path = &pathNode{idx: v.idx, taken: true, prev: v.cur.path}
		v.cur.insn = target
		return nil
	}
	if pred == 0 {
		v.facts[v.idx] |= FactBranchNotTaken
		v.cur.path = &pathNode{idx: v.idx, taken: false, prev: v.cur.path}
		v.cur.insn++
		return nil
	}
	other, err := v.push(target, true)
	if err != nil {
		return err
	}
	this := v.cur
	this.path = &pathNode{idx: v.idx, taken: false, prev: this.path}
	this.insn++
	oregs := &other.cur().regs
	tregs := &this.cur().regs

	// Scalar refinement on both sides.
	takenOK, fallOK := true, true
	if in.Source() == isa.SrcX {
		takenOK = refineSide(&oregs[in.Dst], &oregs[in.Src], op, is32)
		fallOK = refineSide(&tregs[in.Dst], &tregs[in.Src], revOp(op), is32)
	} else {
		k1, k2 := src, src
		takenOK = refineSide(&oregs[in.Dst], &k1, op, is32)
		fallOK = refineSide(&tregs[in.Dst], &k2, revOp(op), is32)
	}
	if in.Source() == isa.SrcX && oregs[in.Src].Type == Scalar && oregs[in.Src].ID != 0 {
		syncLinked(other, &oregs[in.Src])
		syncLinked(this, &tregs[in.Src])
	}
	if oregs[in.Dst].Type == Scalar && oregs[in.Dst].ID != 0 {
		syncLinked(other, &oregs[in.Dst])
		syncLinked(this, &tregs[in.Dst])
	}
	// A maybe-null pointer compared with a non-null one.
	if !is32 && in.Source() == isa.SrcX && dst.Type.isPointer() && src.Type.isPointer() &&
		dst.Type.MayBeNull() != src.Type.MayBeNull() {
		var eq *[isa.NumRegisters]Reg
		switch op {
		case isa.OpJEQ:
			eq = oregs
		case isa.OpJNE:
			eq = tregs
		}
		if eq != nil {
			r := in.Dst
			if src.Type.MayBeNull() {
				r = in.Src
			}
			eq[r].Type &^= MaybeNull
		}
	}
	if !is32 && in.Source() == isa.SrcK && in.Imm == 0 && (op == isa.OpJEQ || op == isa.OpJNE) && dst.Type.MayBeNull() {
		v.markPtrOrNull(this, dst.ID, op == isa.OpJNE)
		v.markPtrOrNull(other, dst.ID, op == isa.OpJEQ)
	} else {
		v.matchPktPointers(in, &dst, &src, this, other)
	}
	if !takenOK {
		// The jump cannot be taken: drop the queued state.
		v.pending = v.pending[:len(v.pending)-1]
		v.curStates--
		if other.parent != nil {
			other.parent.branches--
		}
		v.facts[v.idx] |= FactBranchNotTaken
	} else {
		v.facts[v.idx] |= FactBranchTaken
	}
	if !fallOK {
		v.endPath()
		return nil
	}
	v.facts[v.idx] |= FactBranchNotTaken
	return nil
}

// syncLinked copies the refined value of a scalar to every register that
// shares its id (copies made by register moves), adjusting by the
// constants recorded for rX += K links.
func syncLinked(st *state, known *Reg) {
	k := *known
	st.forEachReg(func(r *Reg) {
		if r == known || r.Type != Scalar || r.ID != k.ID {
			return
		}
		if (!r.AddConst && !k.AddConst) || r.Off == k.Off {
			id, ac, off := r.ID, r.AddConst, r.Off
			*r = k
			r.ID, r.AddConst, r.Off = id, ac, off
			return
		}
		var delta Reg
		delta.setKnown(uint64(int64(r.Off) - int64(k.Off)))
		id, ac, off := r.ID, r.AddConst, r.Off
		*r = k
		r.ID, r.AddConst, r.Off = id, ac, off
		scalar32Add(r, &delta)
		scalar64Add(r, &delta)
		r.VarOff = r.VarOff.Add(delta.VarOff)
		r.boundsSync()
		if r.boundsInvalid() {
			r.setUnknown()
			r.ID, r.AddConst, r.Off = id, ac, off
		}
	})
}

// markPtrOrNull resolves a null check of the pointer with the given id in
// one branch: every copy becomes NULL (a scalar 0) or non-null.
func (v *verifier) markPtrOrNull(st *state, id uint32, isNull bool) {
	if id == 0 {
		return
	}
	var refID uint32
	st.forEachReg(func(r *Reg) {
		if r.ID != id || !r.Type.MayBeNull() {
			return
		}
		if isNull {
			if r.RefID != 0 {
				refID = r.RefID
			}
			r.setKnown(0)
			return
		}
		r.Type &^= MaybeNull
		if r.Type == PtrToMapValue && r.Map != nil && r.Map.Inner != nil {
			r.Type = ConstPtrToMap
			r.Map = r.Map.Inner
		}
	})
	if isNull && refID != 0 && refID == id {
		st.releaseRef(refID)
	}
}

func (st *state) releaseRef(id uint32) bool {
	for i, r := range st.refs {
		if r.id == id {
			st.refs = append(st.refs[:i], st.refs[i+1:]...)
			return true
		}
	}
	return false
}

func initPkt(r *Reg, t RegType) bool {
	return r.Type == t && r.ID == 0 && r.Off == 0 && r.VarOff.IsConst() && r.VarOff.Value == 0
}

// matchPktPointers learns packet ranges from comparisons with data_end
// (the kernel's try_match_pkt_pointers). this is the fall-through side.
func (v *verifier) matchPktPointers(in isa.Instruction, d, s *Reg, this, other *state) {
	if in.Source() != isa.SrcX || in.Class() == isa.ClassJMP32 {
		return
	}
	left := (d.Type == PtrToPacket && s.Type == PtrToPacketEnd) || (d.Type == PtrToPacketMeta && initPkt(s, PtrToPacket))
	right := (d.Type == PtrToPacketEnd && s.Type == PtrToPacket) || (initPkt(d, PtrToPacket) && s.Type == PtrToPacketMeta)
	switch in.Op() {
	case isa.OpJGT:
		if left {
			findGoodPkt(this, d, false)
			markPktEnd(other, in.Dst, true)
		} else if right {
			findGoodPkt(other, s, true)
			markPktEnd(this, in.Src, false)
		}
	case isa.OpJLT:
		if left {
			findGoodPkt(other, d, true)
			markPktEnd(this, in.Dst, false)
		} else if right {
			findGoodPkt(this, s, false)
			markPktEnd(other, in.Src, true)
		}
	case isa.OpJGE:
		if left {
			findGoodPkt(this, d, true)
			markPktEnd(other, in.Dst, false)
		} else if right {
			findGoodPkt(other, s, false)
			markPktEnd(this, in.Src, true)
		}
	case isa.OpJLE:
		if left {
			findGoodPkt(other, d, false)
			markPktEnd(this, in.Dst, true)
		} else if right {
			findGoodPkt(this, s, true)
			markPktEnd(other, in.Src, false)
		}
	}
}

func findGoodPkt(st *state, p *Reg, rightOpen bool) {
	if p.Off < 0 || (p.Off == 0 && rightOpen) {
		return
	}
	if p.Umax > maxPacketOff || p.Umax+uint64(p.Off) > maxPacketOff {
		return
	}
	nr := p.Off
	if rightOpen {
		nr++
	}
	t, id := p.Type, p.ID
	st.forEachReg(func(r *Reg) {
		if r.Type == t && r.ID == id {
			r.Range = max(r.Range, nr)
		}
	})
}

func markPktEnd(st *state, regno uint8, open bool) {
	r := &st.cur().regs[regno]
	if r.Type != PtrToPacket {
		return
	}
	if open {
		r.Range = beyondPktEnd
	} else {
		r.Range = atPktEnd
	}
}

var _ = math.MaxInt64
