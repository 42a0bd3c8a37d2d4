package verifier

import (
	"math"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// access describes one memory access being checked.
type access struct {
	regno   uint8
	off     int32 // the instruction's offset
	size    int
	write   bool
	val     *Reg   // the stored register, when a register is stored
	imm     *int32 // the stored immediate, for BPF_ST
	atomic  bool
	helper  bool // the access is a helper's, not an instruction's
	signExt bool // a sign-extending load
}

func (v *verifier) checkLoad(in isa.Instruction) error {
	if err := v.checkReadable(in.Src); err != nil {
		return err
	}
	regs := v.regs()
	base := regs[in.Src]
	if err := v.checkPtrTypeMismatch(base.Type); err != nil {
		return err
	}
	val, err := v.checkMemAccess(&base, access{regno: in.Src, off: int32(in.Offset), size: isa.SizeBytes(in.Size()), signExt: in.Mode() == isa.ModeMEMSX})
	if err != nil {
		return err
	}
	if val.Type == Scalar && isa.SizeBytes(in.Size()) < 8 {
		if in.Mode() == isa.ModeMEMSX {
			val.coerceToSizeSX(isa.SizeBytes(in.Size()))
		} else {
			val.coerceToSize(isa.SizeBytes(in.Size()))
		}
	}
	regs = v.regs()
	regs[in.Dst] = val
	return nil
}

// checkPtrTypeMismatch rejects one load/store instruction used with a
// context (or socket) pointer on one path and another pointer on another:
// the kernel rewrites context accesses per instruction.
func (v *verifier) checkPtrTypeMismatch(t RegType) error {
	okMismatch := func(t RegType) bool {
		switch t.Base() {
		case PtrToCtx, PtrToSocket, PtrToSockCommon, PtrToTCPSock, PtrToXDPSock:
			return false
		}
		return true
	}
	prev := v.ptrType[v.idx]
	if prev == NotInit {
		v.ptrType[v.idx] = t
		return nil
	}
	if prev != t && (!okMismatch(t) || !okMismatch(prev)) {
		return v.unsafe("same insn cannot be used with different pointers: it accesses %s on one path and %s on another", prev, t)
	}
	return nil
}

func (v *verifier) checkStore(in isa.Instruction) error {
	if err := v.checkReadable(in.Dst); err != nil {
		return err
	}
	a := access{regno: in.Dst, off: int32(in.Offset), size: isa.SizeBytes(in.Size()), write: true}
	regs := v.regs()
	if in.Class() == isa.ClassSTX {
		if err := v.checkReadable(in.Src); err != nil {
			return err
		}
		val := regs[in.Src]
		a.val = &val
	} else {
		imm := in.Imm
		a.imm = &imm
	}
	base := regs[in.Dst]
	if err := v.checkPtrTypeMismatch(base.Type); err != nil {
		return err
	}
	_, err := v.checkMemAccess(&base, a)
	return err
}

const (
	atomicLoadAcq  = 0x100 // BPF_LOAD_ACQ: dst = load_acquire(src + off)
	atomicStoreRel = 0x110 // BPF_STORE_REL: store_release(dst + off, src)
)

func (v *verifier) checkAtomic(in isa.Instruction) error {
	size := isa.SizeBytes(in.Size())
	switch in.Imm {
	case atomicLoadAcq:
		if err := v.checkReadable(in.Src); err != nil {
			return err
		}
		if in.Dst == isa.R10 {
			return v.unsafe("frame pointer is read only: r10 cannot be written")
		}
		base := v.regs()[in.Src]
		switch base.Type.Base() {
		case PtrToCtx, PtrToPacket, PtrToPacketMeta, PtrToFlowKeys, PtrToSocket, PtrToSockCommon, PtrToTCPSock, PtrToXDPSock:
			return v.unsafe("BPF_ATOMIC loads from R%d %s is not allowed", in.Src, base.Type)
		}
		val, err := v.checkMemAccess(&base, access{regno: in.Src, off: int32(in.Offset), size: size, atomic: true})
		if err != nil {
			return err
		}
		if val.Type == Scalar && size < 8 {
			val.coerceToSize(size)
		}
		v.regs()[in.Dst] = val
		return nil
	case atomicStoreRel:
		if err := v.checkReadable(in.Src); err != nil {
			return err
		}
		if err := v.checkReadable(in.Dst); err != nil {
			return err
		}
		base := v.regs()[in.Dst]
		switch base.Type.Base() {
		case PtrToCtx, PtrToPacket, PtrToPacketMeta, PtrToFlowKeys, PtrToSocket, PtrToSockCommon, PtrToTCPSock, PtrToXDPSock:
			return v.unsafe("BPF_ATOMIC stores into R%d %s is not allowed", in.Dst, base.Type)
		}
		val := v.regs()[in.Src]
		_, err := v.checkMemAccess(&base, access{regno: in.Dst, off: int32(in.Offset), size: size, write: true, atomic: true, val: &val})
		return err
	}
	if size != 4 && size != 8 {
		return v.fail(KindInvalid, "invalid atomic operand size")
	}
	switch in.Imm {
	case isa.AtomicADD, isa.AtomicOR, isa.AtomicAND, isa.AtomicXOR,
		isa.AtomicADD | isa.AtomicFETCH, isa.AtomicOR | isa.AtomicFETCH, isa.AtomicAND | isa.AtomicFETCH, isa.AtomicXOR | isa.AtomicFETCH,
		isa.AtomicXCHG, isa.AtomicCMPXCHG:
	default:
		return v.fail(KindInvalid, "BPF_ATOMIC uses invalid atomic opcode %02x", in.Imm)
	}
	if err := v.checkReadable(in.Src); err != nil {
		return err
	}
	if err := v.checkReadable(in.Dst); err != nil {
		return err
	}
	if in.Imm == isa.AtomicCMPXCHG {
		if err := v.checkReadable(isa.R0); err != nil {
			return err
		}
	} else if in.Imm&isa.AtomicFETCH != 0 && in.Src == isa.R10 {
		return v.unsafe("frame pointer is read only: the fetch would write r10")
	}
	regs := v.regs()
	base := regs[in.Dst]
	switch base.Type.Base() {
	case PtrToCtx, PtrToPacket, PtrToPacketMeta, PtrToFlowKeys, PtrToSocket, PtrToSockCommon, PtrToTCPSock, PtrToXDPSock:
		return v.unsafe("BPF_ATOMIC stores into R%d %s is not allowed: atomic operations work only on stack, map values and memory", in.Dst, base.Type)
	}
	val, err := v.checkMemAccess(&base, access{regno: in.Dst, off: int32(in.Offset), size: size, atomic: true})
	if err != nil {
		return err
	}
	if _, err := v.checkMemAccess(&base, access{regno: in.Dst, off: int32(in.Offset), size: size, write: true, atomic: true}); err != nil {
		return err
	}
	if in.Imm&isa.AtomicFETCH != 0 {
		load := isa.R0
		if in.Imm != isa.AtomicCMPXCHG {
			load = in.Src
		}
		// What the memory held before the operation (a spilled pointer
		// stays a pointer, as in the kernel).
		if val.Type == Scalar && size < 8 {
			val.coerceToSize(size)
		} else if val.Type != Scalar && size < 8 {
			val.setUnknown()
			val.coerceToSize(size)
		}
		v.regs()[load] = val
	}
	return nil
}

// checkMemAccess checks one access through base (a copy of the register)
// and returns the value a load produces.
func (v *verifier) checkMemAccess(base *Reg, a access) (Reg, error) {
	var val Reg
	val.setUnknown()
	if err := v.checkAlignment(base, a); err != nil {
		return val, err
	}
	off := int64(a.off) + int64(base.Off)
	rw := "read from"
	if a.write {
		rw = "write to"
	}
	switch base.Type {
	case PtrToStack:
		return v.stackAccess(base, a)
	case PtrToMapValue:
		m := base.Map
		if a.write && m.Flags&MapFlagRdonlyProg != 0 {
			return val, v.unsafe("write into map forbidden, value_size=%d off=%d size=%d: the map is read-only for programs", m.ValueSize, off, a.size)
		}
		if m.HasSpinLock && base.VarOff.IsConst() {
			lo := off + int64(base.VarOff.Value)
			if lo < int64(m.SpinLockOffset)+4 && lo+int64(a.size) > int64(m.SpinLockOffset) {
				return val, v.unsafe("bpf_spin_lock cannot be accessed directly by load/store (value offset %d)", m.SpinLockOffset)
			}
		} else if m.HasSpinLock && !base.VarOff.IsConst() {
			// A variable offset could reach the lock: the kernel refuses it too.
			return val, v.unsafe("bpf_spin_lock cannot be accessed directly by load/store: a variable offset into a value with a lock")
		}
		if !a.write && m.Flags&MapFlagWronlyProg != 0 {
			return val, v.unsafe("read from map forbidden, value_size=%d off=%d size=%d: the map is write-only for programs", m.ValueSize, off, a.size)
		}
		if err := v.checkRegion(base, a.regno, off, a.size, int64(m.ValueSize), "map value", false); err != nil {
			return val, err
		}
	case PtrToMapKey:
		if a.write {
			return val, v.unsafe("R%d cannot write into %s", a.regno, base.Type)
		}
		if err := v.checkRegion(base, a.regno, off, a.size, int64(base.Map.KeySize), "map key", false); err != nil {
			return val, err
		}
	case PtrToMem, PtrToRingbuf:
		if err := v.checkRegion(base, a.regno, off, a.size, int64(base.MemSize), "memory", false); err != nil {
			return val, err
		}
	case PtrToPacket, PtrToPacketMeta:
		if a.write && !v.pt.pktWrite {
			return val, v.unsafe("cannot write into packet: %s programs may only read it", v.pt.name)
		}
		if !v.pt.pktRead {
			return val, v.unsafe("cannot access packet directly in %s programs", v.pt.name)
		}
		if err := v.checkPacket(base, a.regno, off, a.size, false); err != nil {
			return val, err
		}
	case PtrToCtx:
		if a.signExt {
			return val, v.unsafe("invalid bpf_context access off=%d size=%d: sign-extending loads from the context are not allowed", a.off, a.size)
		}
		return v.ctxAccess(base, a)
	case PtrToSocket, PtrToSockCommon, PtrToTCPSock:
		if a.write {
			return val, v.unsafe("R%d cannot write into %s", a.regno, base.Type)
		}
		if base.Off != 0 || !base.VarOff.IsConst() || base.VarOff.Value != 0 {
			return val, v.unsafe("R%d invalid %s access off=%d size=%d: socket pointers cannot be moved", a.regno, base.Type, off, a.size)
		}
		if !sockAccessOK(base.Type, int(a.off), a.size) {
			return val, v.unsafe("R%d invalid %s access off=%d size=%d", a.regno, base.Type, a.off, a.size)
		}
	case ConstPtrToMap:
		return val, v.unsupported("R%d reads a field of the map structure; map fields need kernel BTF", a.regno)
	case PtrToFlowKeys, PtrToXDPSock:
		return val, v.unsupported("access through %s is not supported", base.Type)
	default:
		hint := ""
		if base.Type.MayBeNull() {
			hint = ": check it against NULL first"
		} else if base.Type == Scalar {
			hint = ": it is not a pointer"
		}
		_ = rw
		return val, v.unsafe("R%d invalid mem access '%s'%s", a.regno, base.Type, hint)
	}
	v.markMemSafe()
	return val, nil
}

func (v *verifier) markMemSafe() {
	if v.facts[v.idx]&factMemUnsafe == 0 {
		v.facts[v.idx] |= FactMemSafe
	}
}

func (v *verifier) checkAlignment(base *Reg, a access) error {
	strict := v.cfg.Flags&FlagStrictAlignment != 0 || a.atomic
	if v.cfg.Flags&FlagAnyAlignment != 0 && !a.atomic {
		strict = false
	}
	desc := ""
	switch base.Type {
	case PtrToPacket, PtrToPacketMeta:
		if !strict || a.size == 1 {
			return nil
		}
		t := base.VarOff.Add(TnumConst(uint64(2 + int64(base.Off) + int64(a.off))))
		if !t.IsAligned(uint64(a.size)) {
			return v.unsafe("misaligned packet access off 2+%s+%d+%d size %d", base.VarOff, base.Off, a.off, a.size)
		}
		return nil
	case PtrToStack:
		desc = "stack "
		strict = true
	case PtrToMapValue:
		desc = "value "
	case PtrToCtx:
		desc = "context "
	case PtrToSocket, PtrToSockCommon, PtrToTCPSock:
		desc = "sock "
	}
	if !strict || a.size == 1 {
		return nil
	}
	t := base.VarOff.Add(TnumConst(uint64(int64(base.Off) + int64(a.off))))
	if !t.IsAligned(uint64(a.size)) {
		return v.unsafe("misaligned %saccess off %s+%d+%d size %d", desc, base.VarOff, base.Off, a.off, a.size)
	}
	return nil
}

// checkRegion checks an access of size bytes at off (plus the register's
// variable part) within a region of memSize bytes.
func (v *verifier) checkRegion(r *Reg, regno uint8, off int64, size int, memSize int64, what string, zeroOK bool) error {
	if r.Smin < 0 && (r.Smin == math.MinInt64 || off+r.Smin != int64(int32(off+r.Smin)) || r.Smin+off < 0) {
		return v.unsafe("R%d min value is negative, either use unsigned index or do a if (index >=0) check.", regno)
	}
	if !memOK(r.Smin+off, size, memSize, zeroOK) {
		return v.unsafe("R%d min value is outside of the allowed memory range: %s access of %d bytes at offset %d, but the %s has %d bytes", regno, what, size, r.Smin+off, what, memSize)
	}
	if r.Umax >= maxVarOff {
		return v.unsafe("R%d unbounded memory access, make sure to bounds check any such access", regno)
	}
	if !memOK(int64(r.Umax)+off, size, memSize, zeroOK) {
		if r.VarOff.IsConst() {
			return v.unsafe("invalid access to %s, value_size=%d off=%d size=%d: the access ends past the end of the %s", what, memSize, off+int64(r.Umax), size, what)
		}
		return v.unsafe("R%d max value is outside of the allowed memory range: the offset can reach %d, and %d bytes from there pass the %d-byte %s; bound it with a comparison first", regno, int64(r.Umax)+off, size, memSize, what)
	}
	return nil
}

func memOK(off int64, size int, memSize int64, zeroOK bool) bool {
	sizeOK := size > 0 || (size == 0 && zeroOK)
	return sizeOK && off >= 0 && int64(size) <= memSize-off
}

func (v *verifier) checkPacket(r *Reg, regno uint8, off int64, size int, zeroOK bool) error {
	if r.Smin < 0 {
		return v.unsafe("R%d min value is negative, either use unsigned index or do a if (index >=0) check.", regno)
	}
	if r.Range < 0 || !memOK(off, size, int64(r.Range), zeroOK) {
		return v.unsafe("R%d offset is outside of the packet: access of %d bytes at offset %d needs a check `data + %d <= data_end` first (proven: %d bytes)", regno, size, off, off+int64(size), max(r.Range, 0))
	}
	return nil
}

func (v *verifier) ctxAccess(base *Reg, a access) (Reg, error) {
	var val Reg
	val.setUnknown()
	if base.Off < 0 {
		return val, v.unsafe("negative offset ctx ptr R%d off=%d disallowed", a.regno, base.Off)
	}
	if base.Off != 0 {
		return val, v.unsafe("dereference of modified ctx ptr R%d off=%d disallowed: access context fields at a constant offset from the original pointer", a.regno, base.Off)
	}
	if !base.VarOff.IsConst() || base.VarOff.Value != 0 {
		return val, v.unsafe("variable ctx access var_off=%s disallowed: context fields must be accessed at constant offsets", base.VarOff)
	}
	ok, t := v.pt.ctxAccess(int(a.off), a.size, a.write, v.cfg.ExpectedAttachType)
	if !ok {
		return val, v.unsafe("invalid bpf_context access off=%d size=%d: %s programs may not %s this context field", a.off, a.size, v.pt.name, map[bool]string{true: "write", false: "read"}[a.write])
	}
	if t == ptrToBTFID && !a.write {
		return val, v.unsupported("context field at offset %d is a BTF-typed kernel pointer; bpfvm does not model those yet", a.off)
	}
	v.markMemSafe()
	if a.write || t == Scalar {
		return val, nil
	}
	val.setPointer(t)
	if t.MayBeNull() {
		val.ID = v.newID()
	}
	return val, nil
}

// sockAccessOK follows bpf_sock_is_valid_access and friends.
func sockAccessOK(t RegType, off, size int) bool {
	if t.Base() == PtrToTCPSock {
		if off < 0 || off >= 112 || off%size != 0 {
			return false
		}
		if off == 80 || off == 88 {
			return size == 8
		}
		return size == 4
	}
	if off < 0 || off >= 80 || off%size != 0 {
		return false
	}
	if t.Base() == PtrToSockCommon && off >= 8 && off < 24 { // type .. priority
		return false
	}
	switch {
	case off == 72, off == 4, off == 8, off == 12, off == 44, off == 76, off >= 24 && off < 44, off >= 52 && off < 72:
		return size <= 4 && size&(size-1) == 0
	case off >= 48 && off < 52:
		fs := 2
		if size == 4 {
			fs = 4
		}
		return size <= fs && size&(size-1) == 0 && off+size <= 48+fs
	}
	return size == 4
}

// ---- stack ----

func (v *verifier) stackAccess(base *Reg, a access) (Reg, error) {
	var val Reg
	val.setUnknown()
	st := v.cur
	if int(base.Frame) >= len(st.frames) {
		return val, v.unsafe("R%d points into a stack frame that has returned", a.regno)
	}
	f := st.frames[base.Frame]
	off := int64(base.Off) + int64(a.off)
	minOff, maxOff, err := v.stackBounds(base, a.regno, off, a.size, a.write, a.helper)
	if err != nil {
		return val, err
	}
	v.depth[f.subprog] = max(v.depth[f.subprog], int(-minOff))
	v.markMemSafe()
	if !base.VarOff.IsConst() {
		if a.write {
			zero := (a.val != nil && a.val.isNull()) || (a.imm != nil && *a.imm == 0)
			v.stackWriteRange(f, minOff, maxOff, zero)
			return val, nil
		}
		return v.stackReadRange(f, minOff, maxOff), nil
	}
	off += int64(base.VarOff.Value)
	if a.write {
		return val, v.stackWriteFixed(f, off, a)
	}
	return v.stackReadFixed(f, off, a)
}

// stackBounds checks an access stays within the 512-byte frame.
func (v *verifier) stackBounds(r *Reg, regno uint8, off int64, size int, write, helper bool) (int64, int64, error) {
	var minOff, maxOff int64
	rw := " read from"
	if write {
		rw = " write to"
	}
	if helper {
		rw = " indirect access to"
	}
	if r.VarOff.IsConst() {
		minOff = int64(r.VarOff.Value) + off
		maxOff = minOff + int64(size)
	} else {
		if r.Smax >= maxVarOff || r.Smin <= -maxVarOff {
			return 0, 0, v.unsafe("invalid unbounded variable-offset%s stack R%d", rw, regno)
		}
		minOff = r.Smin + off
		maxOff = r.Smax + off + int64(size)
	}
	if minOff < -isa.StackSize || minOff > -1 || maxOff > 0 || size < 0 {
		if r.VarOff.IsConst() {
			return 0, 0, v.unsafe("invalid%s stack R%d off=%d size=%d: the stack is fp-%d to fp-1", rw, regno, off, size, isa.StackSize)
		}
		return 0, 0, v.unsafe("invalid variable-offset%s stack R%d var_off=%s off=%d size=%d: the access may leave the stack (fp-%d to fp-1)", rw, regno, r.VarOff, off, size, isa.StackSize)
	}
	return minOff, maxOff, nil
}

func spiOf(off int64) (int, int) { // off < 0 → slot index and byte index within it
	slot := int(-off - 1)
	return slot / 8, slot % 8
}

// scrubSpill is what an ordinary write does to a slot holding a spilled
// register: the register is gone and, as in the kernel, every initialised
// byte of the slot becomes unknown data (zeros included).
func scrubSpill(s *stackSlot) {
	if s.isSpill() {
		for i := range s.types {
			if s.types[i] != slotInvalid {
				s.types[i] = slotMisc
			}
		}
		s.spilled = Reg{}
		return
	}
	for i := range s.types {
		if s.types[i] == slotSpill {
			s.types[i] = slotMisc
		}
	}
}

func (v *verifier) stackWriteRange(f *frame, minOff, maxOff int64, zero bool) {
	for o := minOff; o < maxOff; o++ {
		spi, b := spiOf(o)
		s := f.slot(spi)
		if zero && s.isSpill() && s.spilled.isNull() {
			continue // writing zero over a spilled zero keeps it
		}
		scrubSpill(s)
		t := slotMisc
		if zero && s.types[b] == slotZero {
			t = slotZero
		}
		s.types[b] = t
	}
}

func (v *verifier) stackReadRange(f *frame, minOff, maxOff int64) Reg {
	var r Reg
	zero := true
	for o := minOff; o < maxOff && zero; o++ {
		spi, b := spiOf(o)
		if spi >= len(f.stack) || f.stack[spi].types[b] != slotZero {
			zero = false
		}
	}
	if zero {
		r.setKnown(0)
	} else {
		r.setUnknown()
	}
	return r
}

func regWidth(r *Reg) int { // bits needed for the largest value
	n := 0
	for u := r.Umax; u != 0; u >>= 1 {
		n++
	}
	return n
}

func (v *verifier) stackWriteFixed(f *frame, off int64, a access) error {
	spi, b := spiOf(off)
	s := f.slot(spi)
	// Byte kinds are indexed as the kernel does: index (-addr-1)%8, so
	// index 7 is the slot's lowest address, where a spill starts.
	aligned := (off % 8) == 0
	switch {
	case a.val != nil && aligned && a.val.Type == Scalar:
		// The spill links to the source register (same id), unless it
		// truncates the value.
		src := &v.regs()[v.insns[v.idx].Src]
		var r Reg
		if regWidth(a.val) <= 8*a.size {
			v.assignScalarID(src)
			r = *src
		} else {
			r = *a.val
			r.ID, r.AddConst, r.Off = 0, false, 0
		}
		v.saveSpill(s, &r, a.size)
	case a.val == nil && aligned && a.imm != nil:
		var r Reg
		r.setKnown(uint64(int64(*a.imm)))
		v.saveSpill(s, &r, a.size)
	case a.val != nil && a.val.Type != Scalar:
		if a.size != 8 {
			return v.unsafe("invalid size of register spill: pointers are spilled to the stack whole (8 bytes)")
		}
		if a.val.Type == PtrToStack && f != v.cur.cur() {
			return v.unsafe("cannot spill pointers to stack into stack frame of the caller")
		}
		v.saveSpill(s, a.val, 8)
	default:
		scrubSpill(s)
		t := slotMisc
		if (a.val != nil && a.val.isNull()) || (a.imm != nil && *a.imm == 0) {
			t = slotZero
		}
		for i := 0; i < a.size; i++ {
			ss, bb := spiOf(off + int64(i))
			sl := f.slot(ss)
			if ss != spi {
				scrubSpill(sl)
			}
			sl.types[bb] = t
		}
		_ = b
	}
	return nil
}

// saveSpill stores a register of size bytes at the bottom of slot s.
func (v *verifier) saveSpill(s *stackSlot, r *Reg, size int) {
	s.spilled = *r
	i := 8
	for ; i > 8-size; i-- {
		s.types[i-1] = slotSpill
	}
	for ; i > 0; i-- {
		if s.types[i-1] != slotZero && s.types[i-1] != slotInvalid {
			s.types[i-1] = slotMisc
		}
	}
}

func (v *verifier) stackReadFixed(f *frame, off int64, a access) (Reg, error) {
	var val Reg
	val.setUnknown()
	spi, _ := spiOf(off)
	if spi >= len(f.stack) {
		return val, nil // never written: root reads unknown data
	}
	s := &f.stack[spi]
	if s.isSpill() {
		spillSize := 1
		for i := 7; i > 0 && s.types[i-1] == slotSpill; i-- {
			spillSize++
		}
		r := s.spilled
		if a.size != 8 || spillSize != 8 {
			if r.Type != Scalar {
				return val, v.unsafe("invalid size of register fill: a spilled pointer must be read back whole (8 bytes)")
			}
			if a.size <= spillSize && off%8 == 0 {
				val = r
				if regWidth(&r) > 8*a.size {
					val.ID, val.AddConst, val.Off = 0, false, 0
				}
				return val, nil
			}
			spillCnt, zeroCnt := 0, 0
			for i := 0; i < a.size; i++ {
				ss, bb := spiOf(off + int64(i))
				t := f.slotType(ss, bb)
				switch t {
				case slotSpill:
					spillCnt++
				case slotZero:
					zeroCnt++
				}
			}
			if (spillCnt == a.size && r.VarOff.IsConst() && r.VarOff.Value == 0) || zeroCnt == a.size {
				val.setKnown(0)
			}
			return val, nil
		}
		return r, nil
	}
	zero := true
	for i := 0; i < a.size; i++ {
		ss, bb := spiOf(off + int64(i))
		if f.slotType(ss, bb) != slotZero {
			zero = false
		}
	}
	if zero {
		val.setKnown(0)
	}
	return val, nil
}

// helperMemAccess checks that a helper may access size bytes at the
// pointer in regno (the kernel's check_helper_mem_access).
func (v *verifier) helperMemAccess(regno uint8, r *Reg, size int64, write, zeroOK, pktOK bool) error {
	off := int64(r.Off)
	switch r.Type {
	case PtrToPacket, PtrToPacketMeta:
		if !pktOK {
			return v.unsafe("helper access to the packet is not allowed")
		}
		if write && !v.pt.pktWrite {
			return v.unsafe("cannot write into packet")
		}
		return v.checkPacket(r, regno, off, int(size), zeroOK)
	case PtrToMapKey:
		if write {
			return v.unsafe("R%d cannot write into %s", regno, r.Type)
		}
		return v.checkRegion(r, regno, off, int(size), int64(r.Map.KeySize), "map key", false)
	case PtrToMapValue:
		m := r.Map
		if write && m.Flags&MapFlagRdonlyProg != 0 {
			return v.unsafe("write into map forbidden, value_size=%d off=%d size=%d", m.ValueSize, off, size)
		}
		if !write && m.Flags&MapFlagWronlyProg != 0 {
			return v.unsafe("read from map forbidden, value_size=%d off=%d size=%d", m.ValueSize, off, size)
		}
		return v.checkRegion(r, regno, off, int(size), int64(m.ValueSize), "map value", zeroOK)
	case PtrToMem, PtrToRingbuf:
		return v.checkRegion(r, regno, off, int(size), int64(r.MemSize), "memory", zeroOK)
	case PtrToStack:
		return v.stackRangeAccess(regno, r, off, size, write, zeroOK)
	case PtrToCtx:
		if v.pt.name == "syscall" {
			if size == 0 {
				if zeroOK {
					return nil
				}
				return v.unsafe("R%d invalid zero-sized read", regno)
			}
			_, err := v.ctxAccess(r, access{regno: regno, off: int32(size - 1), size: 1, write: write})
			return err
		}
	}
	if zeroOK && size == 0 && r.isNull() {
		return nil
	}
	return v.unsafe("R%d type=%s expected=fp: helper memory arguments must point to the stack, a map value, the packet or memory", regno, r.Type)
}

// stackRangeAccess is check_stack_range_initialized for root: the bytes
// must lie in the frame; a write makes them unknown data.
func (v *verifier) stackRangeAccess(regno uint8, r *Reg, off, size int64, write, zeroOK bool) error {
	f := v.cur.frames[r.Frame]
	minOff, maxOff, err := v.stackBounds(r, regno, off, int(size), write, true)
	if err != nil {
		return err
	}
	v.depth[f.subprog] = max(v.depth[f.subprog], int(-minOff))
	if write {
		for o := minOff; o < maxOff; o++ {
			spi, b := spiOf(o)
			s := f.slot(spi)
			scrubSpill(s)
			s.types[b] = slotMisc
		}
	}
	return nil
}
