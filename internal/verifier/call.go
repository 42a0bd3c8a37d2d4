package verifier

import (
	"math"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// mapAllows says whether a helper may take a map of the given type (the
// kernel's check_map_func_compatibility, both directions).
func mapAllows(id int32, m *Map) bool {
	switch m.Type {
	case "prog_array":
		return id == 12
	case "perf_event_array":
		return id == 22 || id == 25 || id == 55 || id == 111 || id == 121
	case "ringbuf":
		return id == 130 || id == 131 || id == 134 || id == 198
	case "stack_trace":
		return id == 27
	case "cgroup_storage", "percpu_cgroup_storage":
		return id == 81
	case "reuseport_sockarray":
		return id == 82 || id == 1 || id == 2 || id == 3
	case "queue", "stack":
		return id == 87 || id == 88 || id == 89
	}
	switch id {
	case 12:
		return m.Type == "prog_array"
	case 25, 22, 55:
		return m.Type == "perf_event_array"
	case 27:
		return m.Type == "stack_trace"
	case 81:
		return m.Type == "cgroup_storage" || m.Type == "percpu_cgroup_storage"
	case 130, 131, 134:
		return m.Type == "ringbuf"
	case 87, 88, 89:
		return m.Type == "queue" || m.Type == "stack"
	case 51:
		return m.Type == "devmap" || m.Type == "devmap_hash" || m.Type == "cpumap" || m.Type == "xskmap"
	case 164:
		switch m.Type {
		case "hash", "lru_hash", "percpu_hash", "lru_percpu_hash", "array", "percpu_array":
			return true
		}
		return false
	case 195:
		return m.Type == "percpu_array" || m.Type == "percpu_hash" || m.Type == "lru_percpu_hash"
	}
	return true
}

var mapTypeNumbers = map[string]int{
	"hash": 1, "array": 2, "prog_array": 3, "perf_event_array": 4, "percpu_hash": 5, "percpu_array": 6,
	"stack_trace": 7, "cgroup_array": 8, "lru_hash": 9, "lru_percpu_hash": 10, "lpm_trie": 11,
	"array_of_maps": 12, "hash_of_maps": 13, "devmap": 14, "sockmap": 15, "cpumap": 16, "xskmap": 17,
	"sockhash": 18, "cgroup_storage": 19, "reuseport_sockarray": 20, "percpu_cgroup_storage": 21,
	"queue": 22, "stack": 23, "sk_storage": 24, "devmap_hash": 25, "struct_ops": 26, "ringbuf": 27,
}

// callMeta collects what the arguments told about the call.
type callMeta struct {
	m        *Map
	memReg   uint8 // register of the memory argument awaiting its size
	memArg   argType
	size     uint64
	refID    uint32 // reference of the released / cast argument
	allocLen uint64
	constKey int64 // the key of an array lookup when known, else -1
	fn       int   // the callback's entry (argFunc), else -1
}

// isCallbackHelper reports whether a helper calls a callback function.
func isCallbackHelper(id int32) bool { return id == 164 || id == 181 }

func (v *verifier) checkHelperCall(in isa.Instruction) error {
	id := in.Imm
	p, ok := helperProtos[id]
	if !ok {
		if id > 0 && id <= maxKernelHelper {
			return v.unsupported("helper #%d is a kernel helper bpfvm has no prototype for yet", id)
		}
		return v.unsafe("invalid func unknown#%d: there is no helper with that number", id)
	}
	if !p.allowed(*v.pt) {
		return v.unsafe("program of this type cannot use helper bpf_%s#%d", p.name, id)
	}
	regs := v.regs()
	meta := callMeta{constKey: -1, fn: -1}
	for i, at := range p.args {
		if at == argNone {
			break
		}
		regno := uint8(i + 1)
		if err := v.checkArg(p, id, regno, at, &meta); err != nil {
			return err
		}
	}
	if meta.fn >= 0 {
		return v.enterCallback(id, &meta)
	}
	if id == 81 { // get_local_storage: flags must be 0
		r := &regs[isa.R2]
		if !r.isConst() || r.VarOff.Value != 0 {
			return v.unsafe("get_local_storage() doesn't support non-zero flags")
		}
	}
	if id == 12 && len(v.cur.refs) > 0 {
		return v.unsafe("tail_call would lead to reference leak: release every reference before a tail call")
	}
	if p.release {
		if !v.cur.releaseRef(meta.refID) {
			return v.unsafe("R1 must be referenced when passed to release function")
		}
		v.cur.forEachReg(func(r *Reg) {
			if r.RefID == meta.refID {
				r.setUnknown()
			}
		})
	}
	// The call clobbers r0-r5.
	regs = v.regs()
	for r := isa.R1; r <= isa.R5; r++ {
		regs[r] = Reg{Type: NotInit}
	}
	r0 := &regs[isa.R0]
	switch p.ret {
	case retInteger:
		r0.setUnknown()
		if id == 45 || id == 114 || id == 115 || id == 67 {
			// Strings/stacks: at most the buffer size, or a negative errno.
			r0.Smax, r0.S32max = int64(meta.size), int32(meta.size)
			r0.Smin, r0.S32min = -4095, -4095
			r0.boundsSync()
		}
	case retVoid:
		*r0 = Reg{Type: NotInit}
	case retMapValueOrNull, retMapValue:
		if id == 1 && (meta.m.Type == "sockmap" || meta.m.Type == "sockhash") {
			// A socket map lookup returns a referenced socket.
			r0.setPointer(PtrToSocket | MaybeNull)
			r0.ID = v.newID()
			r0.RefID = r0.ID
			v.cur.refs = append(v.cur.refs, refState{id: r0.ID, insn: v.idx})
			break
		}
		r0.setPointer(PtrToMapValue)
		r0.Map = meta.m
		elide := id == 1 && (meta.m.Type == "array" || meta.m.Type == "percpu_array") && meta.constKey >= 0 && meta.constKey < int64(meta.m.MaxEntries) && v.isOuterMap(meta.m)
		if p.ret == retMapValueOrNull && !elide {
			r0.Type |= MaybeNull
			r0.ID = v.newID()
		}
	case retSocketOrNull, retSockCommonOrNull, retTCPSockOrNull:
		t := map[retType]RegType{retSocketOrNull: PtrToSocket, retSockCommonOrNull: PtrToSockCommon, retTCPSockOrNull: PtrToTCPSock}[p.ret]
		r0.setPointer(t | MaybeNull)
		r0.ID = v.newID()
		if p.cast {
			r0.RefID = meta.refID
		}
	case retRingbufMemOrNull:
		r0.setPointer(PtrToRingbuf | MaybeNull)
		r0.ID = v.newID()
		r0.MemSize = uint32(meta.allocLen)
	}
	if p.acquire {
		r0.RefID = r0.ID
		v.cur.refs = append(v.cur.refs, refState{id: r0.ID, insn: v.idx})
	}
	if p.changesPkt {
		v.cur.forEachReg(func(r *Reg) {
			if isPktAny(r) {
				r.setUnknown()
			}
		})
	}
	return nil
}

func (v *verifier) checkArg(p *helperProto, id int32, regno uint8, at argType, meta *callMeta) error {
	if err := v.checkReadable(regno); err != nil {
		return err
	}
	r := v.regs()[regno]
	memTypes := "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_"
	isMem := func(t RegType) bool {
		switch t {
		case PtrToStack, PtrToPacket, PtrToPacketMeta, PtrToMapKey, PtrToMapValue, PtrToMem, PtrToRingbuf:
			return true
		}
		return false
	}
	switch at {
	case argAnything:
		return nil
	case argConstMapPtr:
		if r.Type != ConstPtrToMap {
			return v.unsafe("R%d type=%s expected=map_ptr", regno, r.Type)
		}
		if !mapAllows(id, r.Map) {
			return v.unsafe("cannot pass map_type %d into func bpf_%s#%d", mapTypeNumbers[r.Map.Type], p.name, id)
		}
		meta.m = r.Map
		return nil
	case argMapKey, argMapValue:
		if !isMem(r.Type) {
			return v.unsafe("R%d type=%s expected=%s", regno, r.Type, memTypes)
		}
		if meta.m == nil {
			return v.unsafe("invalid map_ptr to access map->key")
		}
		size := meta.m.KeySize
		if at == argMapValue {
			size = meta.m.ValueSize
		} else {
			meta.constKey = v.constMapKey(&r, int(size))
		}
		return v.helperMemAccess(regno, &r, int64(size), false, false, p.pktAccess)
	case argMem, argUninitMem, argMemOrNull:
		if at == argMemOrNull && r.isNull() {
			meta.memReg, meta.memArg = regno, at
			return nil
		}
		if !isMem(r.Type) {
			return v.unsafe("R%d type=%s expected=%s", regno, r.Type, memTypes)
		}
		meta.memReg, meta.memArg = regno, at
		return nil
	case argConstSize, argConstSizeOrZero:
		if r.Type != Scalar {
			return v.unsafe("R%d type=%s expected=scalar", regno, r.Type)
		}
		if r.Smin < 0 {
			return v.unsafe("R%d min value is negative, either use unsigned or 'var &= const'", regno)
		}
		zeroOK := at == argConstSizeOrZero
		if r.Umin == 0 && !zeroOK {
			return v.unsafe("R%d invalid zero-sized read: u64=[%d,%d]", regno, r.Umin, r.Umax)
		}
		if r.Umax >= maxVarSize {
			return v.unsafe("R%d unbounded memory access, use 'var &= const' or 'if (var < const)'", regno)
		}
		meta.size = r.Umax
		mr := v.regs()[meta.memReg]
		if meta.memArg == argMemOrNull && mr.isNull() {
			if r.Umax != 0 {
				return v.unsafe("R%d type=scalar expected=fp: a NULL buffer needs size 0", meta.memReg)
			}
			return nil
		}
		write := meta.memArg == argUninitMem
		if err := v.helperMemAccess(meta.memReg, &mr, int64(r.Umax), write, zeroOK, p.pktAccess); err != nil {
			return err
		}
		return nil
	case argCtx, argCtxOrNull:
		if at == argCtxOrNull && r.isNull() {
			return nil
		}
		if r.Type != PtrToCtx {
			return v.unsafe("R%d type=%s expected=ctx", regno, r.Type)
		}
		if r.Off != 0 || !r.VarOff.IsConst() || r.VarOff.Value != 0 {
			return v.unsafe("dereference of modified ctx ptr R%d off=%d disallowed", regno, r.Off)
		}
		return nil
	case argSockCommonOrNull:
		if r.isNull() {
			return nil
		}
		switch r.Type {
		case PtrToSocket, PtrToSockCommon, PtrToTCPSock:
			return nil
		}
		return v.unsafe("R%d type=%s expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_", regno, r.Type)
	case argSockCommon, argSocket:
		switch r.Type {
		case PtrToSocket, PtrToSockCommon, PtrToTCPSock:
		default:
			return v.unsafe("R%d type=%s expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_", regno, r.Type)
		}
		if at == argSocket {
			if r.RefID == 0 {
				return v.unsafe("R%d must be referenced when passed to release function", regno)
			}
			if r.Off != 0 || !r.VarOff.IsConst() || r.VarOff.Value != 0 {
				return v.unsafe("R%d must have zero offset when passed to release func or trusted arg to kfunc", regno)
			}
		}
		meta.refID = r.RefID
		return nil
	case argRingbufMem:
		if r.Type != PtrToRingbuf {
			return v.unsafe("R%d type=%s expected=ringbuf_mem", regno, r.Type)
		}
		if r.RefID == 0 {
			return v.unsafe("R%d must be referenced when passed to release function", regno)
		}
		if r.Off != 0 || !r.VarOff.IsConst() || r.VarOff.Value != 0 {
			return v.unsafe("R%d must have zero offset when passed to release func or trusted arg to kfunc", regno)
		}
		meta.refID = r.RefID
		return nil
	case argConstAllocSize:
		if r.Type != Scalar || !r.VarOff.IsConst() {
			return v.unsafe("R%d is not a known constant: ringbuf_reserve needs a constant size", regno)
		}
		meta.allocLen = r.VarOff.Value
		return nil
	case argLong, argInt:
		size := int64(8)
		if at == argInt {
			size = 4
		}
		if !isMem(r.Type) {
			return v.unsafe("R%d type=%s expected=%s", regno, r.Type, memTypes)
		}
		if !r.VarOff.Add(TnumConst(uint64(int64(r.Off)))).IsAligned(uint64(size)) {
			return v.unsafe("misaligned access through R%d: the result pointer must be %d-byte aligned", regno, size)
		}
		return v.helperMemAccess(regno, &r, size, true, false, p.pktAccess)
	case argFunc:
		if r.Type != PtrToFunc {
			return v.unsafe("R%d type=%s expected=func: the callback must be a static function's address", regno, r.Type)
		}
		meta.fn = int(r.Subprog)
		return nil
	case argStackOrNull:
		if r.isNull() {
			return nil
		}
		if r.Type != PtrToStack {
			return v.unsafe("R%d type=%s expected=fp: the callback context must be on the stack (or NULL)", regno, r.Type)
		}
		return nil
	case argConstStr:
		// The kernel also reads the frozen map's contents to find the
		// terminating NUL; bpfvm has no contents here, so the helper
		// bounds its reads by the value's end at run time.
		if r.Type != PtrToMapValue {
			return v.unsafe("R%d type=%s expected=map_value: a format string must be in a read-only map (const char fmt[] in .rodata)", regno, r.Type)
		}
		if r.Map.Flags&MapFlagRdonlyProg == 0 {
			return v.unsafe("R%d does not point to a readonly map'", regno)
		}
		if !r.VarOff.IsConst() {
			return v.unsafe("R%d is not a constant address'", regno)
		}
		off := int64(r.Off) + int64(r.VarOff.Value)
		if off < 0 || off >= int64(r.Map.ValueSize) {
			return v.unsafe("R%d: the string at offset %d is outside the %d-byte map value", regno, off, r.Map.ValueSize)
		}
		return nil
	case argSpinLock:
		return v.checkSpinLockArg(id, regno, &r)
	}
	return v.unsupported("helper argument kind %d is not supported", at)
}

// constMapKey returns the key a stack pointer points to when it is a known
// constant (spilled constant or zeroed bytes), else -1.
func (v *verifier) constMapKey(r *Reg, size int) int64 {
	if r.Type != PtrToStack || !r.VarOff.IsConst() || int(r.Frame) >= len(v.cur.frames) {
		return -1
	}
	off := int64(r.Off) + int64(r.VarOff.Value)
	if off >= 0 || off < -isa.StackSize {
		return -1
	}
	f := v.cur.frames[r.Frame]
	spi, b := spiOf(off)
	if spi >= len(f.stack) {
		return -1
	}
	s := &f.stack[spi]
	zero := 0
	for i := b; i >= 0 && s.types[i] == slotZero; i-- {
		zero++
	}
	if zero >= size {
		return 0
	}
	if !s.isSpill() || s.spilled.Type != Scalar {
		return -1
	}
	spill := 0
	for i := b; i >= 0 && s.types[i] == slotSpill; i-- {
		spill++
	}
	if spill != size || !s.spilled.VarOff.IsConst() {
		return -1
	}
	k := s.spilled.VarOff.Value
	if k > math.MaxInt32 {
		return -1
	}
	return int64(k)
}

// isOuterMap reports whether m is one of the program's own maps (not the
// template of an inner map, whose size may differ at run time).
func (v *verifier) isOuterMap(m *Map) bool {
	for _, o := range v.cfg.Maps {
		if o == m {
			return true
		}
	}
	return false
}

// checkSpinLockArg checks the argument of bpf_spin_lock (93) or
// bpf_spin_unlock (94) and takes or releases the lock, as the kernel's
// process_spin_lock: one lock at a time, the lock field of a map value
// with a constant offset, unlocked by the same value's pointer.
func (v *verifier) checkSpinLockArg(id int32, regno uint8, r *Reg) error {
	if r.Type != PtrToMapValue {
		return v.unsafe("R%d type=%s expected=map_value: bpf_spin_lock takes a pointer to the lock in a map value", regno, r.Type)
	}
	if !r.VarOff.IsConst() {
		return v.unsafe("R%d doesn't have constant offset. bpf_spin_lock has to be at the constant offset", regno)
	}
	m := r.Map
	if !m.HasSpinLock {
		return v.unsafe("map '%s' has no valid bpf_spin_lock", m.Name)
	}
	off := int64(r.Off) + int64(r.VarOff.Value)
	if off != int64(m.SpinLockOffset) {
		return v.unsafe("off %d doesn't point to 'struct bpf_spin_lock' that is at %d", off, m.SpinLockOffset)
	}
	held := v.cur.lock
	if id == 93 {
		if held.m != nil {
			return v.unsafe("Locks are not allowed to be nested: bpf_spin_lock is already held")
		}
		v.cur.lock = lockState{m: m, id: r.ID}
		return nil
	}
	if held.m == nil {
		return v.unsafe("bpf_spin_unlock without taking a lock")
	}
	if held.m != m || held.id != r.ID {
		return v.unsafe("bpf_spin_unlock of different lock")
	}
	v.cur.lock = lockState{}
	return nil
}

// enterCallback models a helper that calls a callback any number of
// times, as the kernel does: the helper may return at once (the
// continuation after the call is queued with r0 unknown), or call the
// callback in a new frame, whose exit comes back to the call instruction
// so the next call sees what the previous ones did to the caller's stack.
// Iteration stops when the state at the call repeats (isStateVisited).
func (v *verifier) enterCallback(id int32, meta *callMeta) error {
	st := v.cur
	if len(st.frames) >= isa.MaxCallDepth {
		return v.unsafe("the call stack of %d frames is too deep: a callback counts as a call", len(st.frames)+1)
	}
	caller := st.cur()
	if id == 181 && uint64(caller.cbDepth) >= caller.regs[isa.R1].Umax {
		// As the kernel: bpf_loop calls its callback at most nr_loops
		// times, so no further iteration needs exploring.
		caller.cbDepth = 0
		for r := isa.R1; r <= isa.R5; r++ {
			caller.regs[r] = Reg{Type: NotInit}
		}
		caller.regs[isa.R0].setUnknown()
		return nil
	}
	after, err := v.push(v.idx+1, false)
	if err != nil {
		return err
	}
	af := after.cur()
	af.cbDepth = 0
	for r := isa.R1; r <= isa.R5; r++ {
		af.regs[r] = Reg{Type: NotInit}
	}
	af.regs[isa.R0].setUnknown()
	caller.cbDepth++
	cb := &frame{callsite: v.idx, subprog: v.subprogOf[meta.fn], callback: true}
	for i := range cb.regs {
		cb.regs[i] = Reg{Type: NotInit}
	}
	cb.regs[isa.R10].setPointer(PtrToStack)
	cb.regs[isa.R10].Frame = int32(len(st.frames))
	switch id {
	case 181: // long (*)(u64 index, void *ctx)
		cb.regs[isa.R1].setUnknown()
		cb.regs[isa.R2] = caller.regs[isa.R3]
	case 164: // long (*)(struct bpf_map *map, const void *key, void *value, void *ctx)
		cb.regs[isa.R1].setPointer(ConstPtrToMap)
		cb.regs[isa.R1].Map = meta.m
		cb.regs[isa.R2].setPointer(PtrToMapKey)
		cb.regs[isa.R2].Map = meta.m
		cb.regs[isa.R3].setPointer(PtrToMapValue)
		cb.regs[isa.R3].Map = meta.m
		cb.regs[isa.R4] = caller.regs[isa.R3]
	}
	st.frames = append(st.frames, cb)
	st.insn = meta.fn
	return nil
}

// cbUnroll is how many callback iterations are explored exactly before
// the scalars they change are widened (bpf_loop with a small constant
// count is explored exactly, as the kernel does).
const cbUnroll = 64

// widenScalars forgets the bounds of every scalar (register or spilled)
// of cur that differs from old, the state of an earlier iteration at the
// same callback call: values a callback keeps changing (counters) become
// unknown, so the iteration converges. It only loses precision.
func widenScalars(old, cur *state) {
	if len(old.frames) != len(cur.frames) {
		return
	}
	for fi := range cur.frames {
		of, cf := old.frames[fi], cur.frames[fi]
		for r := range cf.regs {
			if cf.regs[r].Type == Scalar && of.regs[r].Type == Scalar && cf.regs[r] != of.regs[r] {
				cf.regs[r].setUnknown()
			}
		}
		cf.ownStack()
		for spi := range cf.stack {
			if spi >= len(of.stack) {
				break
			}
			cs, os := &cf.stack[spi], &of.stack[spi]
			if cs.isSpill() && os.isSpill() && cs.spilled.Type == Scalar && os.spilled.Type == Scalar && cs.spilled != os.spilled {
				cs.spilled.setUnknown()
			}
		}
	}
}
