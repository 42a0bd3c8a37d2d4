package verifier

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// RegType is what the verifier knows a register holds.
type RegType uint8

// Register types, following the kernel's enum bpf_reg_type. A type with
// the maybeNull flag may also be zero (the result of a lookup before its
// null check).
const (
	NotInit RegType = iota
	Scalar
	PtrToCtx
	ConstPtrToMap
	PtrToMapValue
	PtrToMapKey
	PtrToStack
	PtrToPacketMeta
	PtrToPacket
	PtrToPacketEnd
	PtrToFlowKeys
	PtrToSocket
	PtrToSockCommon
	PtrToTCPSock
	PtrToMem     // memory of known size (helper results)
	PtrToRingbuf // a ring buffer record (PTR_TO_MEM | MEM_RINGBUF in the kernel)
	PtrToFunc
	PtrToXDPSock
	ptrToBTFID // a BTF-typed kernel pointer: not modelled yet
	numRegTypes
	// MaybeNull is or-ed into a pointer type that may be NULL.
	MaybeNull RegType = 0x80
)

var regTypeNames = [numRegTypes]string{
	NotInit: "?", Scalar: "scalar", PtrToCtx: "ctx", ConstPtrToMap: "map_ptr",
	PtrToMapValue: "map_value", PtrToMapKey: "map_key", PtrToStack: "fp",
	PtrToPacketMeta: "pkt_meta", PtrToPacket: "pkt", PtrToPacketEnd: "pkt_end",
	PtrToFlowKeys: "flow_keys", PtrToSocket: "sock", PtrToSockCommon: "sock_common",
	PtrToTCPSock: "tcp_sock", PtrToMem: "mem", PtrToRingbuf: "ringbuf_mem",
	PtrToFunc: "func", PtrToXDPSock: "xdp_sock", ptrToBTFID: "trusted_ptr_",
}

// Base returns the type without the MaybeNull flag.
func (t RegType) Base() RegType { return t &^ MaybeNull }

// MayBeNull reports whether the flag is set.
func (t RegType) MayBeNull() bool { return t&MaybeNull != 0 }

func (t RegType) String() string {
	b := t.Base()
	name := "invalid"
	if b < numRegTypes {
		name = regTypeNames[b]
	}
	if t.MayBeNull() {
		name += "_or_null"
	}
	return name
}

func (t RegType) isPointer() bool { return t.Base() != NotInit && t.Base() != Scalar }

func (t RegType) isPacket() bool { return t == PtrToPacket || t == PtrToPacketMeta }

// Packet range markers (the kernel's AT_PKT_END / BEYOND_PKT_END) for a
// packet pointer known to be at or past data_end.
const (
	atPktEnd     = -1
	beyondPktEnd = -2
)

// Reg is the abstract value of one register (or one spilled stack slot).
type Reg struct {
	Type RegType
	// Off is the fixed offset of a pointer; VarOff and the bounds below
	// describe its variable part (or the whole value of a scalar).
	Off    int32
	VarOff Tnum
	Smin   int64
	Smax   int64
	Umin   uint64
	Umax   uint64
	S32min int32
	S32max int32
	U32min uint32
	U32max uint32
	// ID links copies: registers with the same ID refine together (null
	// checks, packet ranges, scalar comparisons).
	ID uint32
	// AddConst marks a scalar linked to the others of its ID plus the
	// constant in Off (rX = rY; rX += K), the kernel's BPF_ADD_CONST.
	AddConst bool
	// RefID is the reference (socket, ringbuf record) this pointer holds.
	RefID uint32
	// Range is how many bytes after a packet pointer are proven readable.
	Range int32
	// Map is the map of map pointers and map values.
	Map *Map
	// MemSize is the size of PtrToMem/PtrToRingbuf memory.
	MemSize uint32
	// Frame is the call frame a stack pointer points into.
	Frame int32
	// Subprog is the entry index of a PtrToFunc.
	Subprog int32
}

func (r *Reg) isScalar() bool { return r.Type == Scalar }

func (r *Reg) isConst() bool { return r.Type == Scalar && r.VarOff.IsConst() }

func (r *Reg) isConst32() bool { return r.Type == Scalar && r.VarOff.Subreg().IsConst() }

func (r *Reg) constValue(is32 bool) uint64 {
	if is32 {
		return uint64(uint32(r.VarOff.Value))
	}
	return r.VarOff.Value
}

func (r *Reg) isRegConst(is32 bool) bool {
	if is32 {
		return r.isConst32()
	}
	return r.isConst()
}

func (r *Reg) isNull() bool { return r.Type == Scalar && r.VarOff.IsConst() && r.VarOff.Value == 0 }

// markUnbounded forgets all bounds.
func (r *Reg) markUnbounded() {
	r.Smin, r.Smax = math.MinInt64, math.MaxInt64
	r.Umin, r.Umax = 0, math.MaxUint64
	r.S32min, r.S32max = math.MinInt32, math.MaxInt32
	r.U32min, r.U32max = 0, math.MaxUint32
}

func (r *Reg) mark32Unbounded() {
	r.S32min, r.S32max = math.MinInt32, math.MaxInt32
	r.U32min, r.U32max = 0, math.MaxUint32
}

func (r *Reg) mark64Unbounded() {
	r.Smin, r.Smax = math.MinInt64, math.MaxInt64
	r.Umin, r.Umax = 0, math.MaxUint64
}

// setUnknown makes r an unknown scalar.
func (r *Reg) setUnknown() {
	*r = Reg{Type: Scalar, VarOff: tnumUnknown}
	r.markUnbounded()
}

// setKnown makes r the scalar constant v.
func (r *Reg) setKnown(v uint64) {
	*r = Reg{Type: Scalar}
	r.setKnownValue(v)
}

func (r *Reg) setKnownValue(v uint64) {
	r.VarOff = TnumConst(v)
	r.Smin, r.Smax = int64(v), int64(v)
	r.Umin, r.Umax = v, v
	r.S32min, r.S32max = int32(v), int32(v)
	r.U32min, r.U32max = uint32(v), uint32(v)
}

func (r *Reg) setKnown32(v uint32) {
	r.VarOff = r.VarOff.ConstSubreg(v)
	r.S32min, r.S32max = int32(v), int32(v)
	r.U32min, r.U32max = v, v
}

// setPointer makes r a pointer of type t with zero offset.
func (r *Reg) setPointer(t RegType) {
	*r = Reg{Type: t}
	r.setKnownValue(0)
}

func (r *Reg) updateBounds() {
	v := r.VarOff.Subreg()
	r.S32min = max(r.S32min, int32(uint32(v.Value|(v.Mask&0x80000000))))
	r.S32max = min(r.S32max, int32(uint32(v.Value|(v.Mask&0x7fffffff))))
	r.U32min = max(r.U32min, uint32(v.Value))
	r.U32max = min(r.U32max, uint32(v.Value|v.Mask))
	t := r.VarOff
	r.Smin = max(r.Smin, int64(t.Value|(t.Mask&(1<<63))))
	r.Smax = min(r.Smax, int64(t.Value|(t.Mask&math.MaxInt64)))
	r.Umin = max(r.Umin, t.Value)
	r.Umax = min(r.Umax, t.Value|t.Mask)
}

func (r *Reg) deduce32() {
	if r.Umin>>32 == r.Umax>>32 {
		r.U32min = max(r.U32min, uint32(r.Umin))
		r.U32max = min(r.U32max, uint32(r.Umax))
		if int32(r.Umin) <= int32(r.Umax) {
			r.S32min = max(r.S32min, int32(r.Umin))
			r.S32max = min(r.S32max, int32(r.Umax))
		}
	}
	if r.Smin>>32 == r.Smax>>32 {
		r.U32min = max(r.U32min, uint32(r.Smin))
		r.U32max = min(r.U32max, uint32(r.Smax))
		if int32(r.Smin) <= int32(r.Smax) {
			r.S32min = max(r.S32min, int32(r.Smin))
			r.S32max = min(r.S32max, int32(r.Smax))
		}
	}
	if uint32(r.Umin>>32)+1 == uint32(r.Umax>>32) && int32(r.Umin) < 0 && int32(r.Umax) >= 0 {
		r.S32min = max(r.S32min, int32(r.Umin))
		r.S32max = min(r.S32max, int32(r.Umax))
	}
	if uint32(r.Smin>>32)+1 == uint32(r.Smax>>32) && int32(r.Smin) < 0 && int32(r.Smax) >= 0 {
		r.S32min = max(r.S32min, int32(r.Smin))
		r.S32max = min(r.S32max, int32(r.Smax))
	}
	if int32(r.U32min) <= int32(r.U32max) {
		r.S32min = max(r.S32min, int32(r.U32min))
		r.S32max = min(r.S32max, int32(r.U32max))
	}
	if uint32(r.S32min) <= uint32(r.S32max) {
		r.U32min = max(r.U32min, uint32(r.S32min))
		r.U32max = min(r.U32max, uint32(r.S32max))
	}
}

func (r *Reg) deduce64() {
	if int64(r.Umin) <= int64(r.Umax) {
		r.Smin = max(r.Smin, int64(r.Umin))
		r.Smax = min(r.Smax, int64(r.Umax))
	}
	if uint64(r.Smin) <= uint64(r.Smax) {
		r.Umin = max(r.Umin, uint64(r.Smin))
		r.Umax = min(r.Umax, uint64(r.Smax))
	} else {
		// The signed range crosses the sign boundary: it is split between
		// both ends of the unsigned domain.
		if r.Umax < uint64(r.Smin) {
			r.Smin = int64(r.Umin)
			r.Umax = min(r.Umax, uint64(r.Smax))
		} else if uint64(r.Smax) < r.Umin {
			r.Smax = int64(r.Umax)
			r.Umin = max(r.Umin, uint64(r.Smin))
		}
	}
}

func (r *Reg) deduceMixed() {
	const lo = uint64(0xffffffff)
	nUmin := r.Umin&^lo | uint64(r.U32min)
	nUmax := r.Umax&^lo | uint64(r.U32max)
	r.Umin = max(r.Umin, nUmin)
	r.Umax = min(r.Umax, nUmax)
	nSmin := int64(uint64(r.Smin)&^lo | uint64(r.U32min))
	nSmax := int64(uint64(r.Smax)&^lo | uint64(r.U32max))
	r.Smin = max(r.Smin, nSmin)
	r.Smax = min(r.Smax, nSmax)
	if r.S32min >= 0 && r.Smin >= math.MinInt32 && r.Smax <= math.MaxInt32 {
		r.Smin, r.Smax = int64(r.S32min), int64(r.S32max)
		r.Umin, r.Umax = uint64(r.S32min), uint64(r.S32max)
		r.VarOff = r.VarOff.Intersect(TnumRange(uint64(r.Smin), uint64(r.Smax)))
	}
}

func (r *Reg) deduceBounds() {
	r.deduce32()
	r.deduce64()
	r.deduceMixed()
}

func (r *Reg) boundOffset() {
	v64 := r.VarOff.Intersect(TnumRange(r.Umin, r.Umax))
	v32 := v64.Subreg().Intersect(TnumRange(uint64(r.U32min), uint64(r.U32max)))
	r.VarOff = v64.ClearSubreg().Or(v32)
	r.refineFewUnknownBits()
}

// refineFewUnknownBits: with at most four unknown bits, the members of the
// tnum can be listed; those outside the ranges are impossible, so the tnum
// shrinks to the hull of the rest (x = (x | 0xe1) & 0xf1 is 0xe1 or 0xf1,
// and x != 0xf1 makes it 0xe1).
func (r *Reg) refineFewUnknownBits() {
	m := r.VarOff.Mask
	n := bits.OnesCount64(m)
	if n == 0 || n > 4 {
		return
	}
	var pos [4]uint
	k := 0
	for b := uint(0); b < 64 && k < n; b++ {
		if m&(1<<b) != 0 {
			pos[k] = b
			k++
		}
	}
	var value, mask uint64
	found := false
	for sel := 0; sel < 1<<n; sel++ {
		x := r.VarOff.Value
		for i := 0; i < n; i++ {
			if sel&(1<<i) != 0 {
				x |= 1 << pos[i]
			}
		}
		if x < r.Umin || x > r.Umax || int64(x) < r.Smin || int64(x) > r.Smax ||
			uint32(x) < r.U32min || uint32(x) > r.U32max || int32(x) < r.S32min || int32(x) > r.S32max {
			continue
		}
		if !found {
			value, found = x, true
			continue
		}
		mask |= value ^ x
	}
	if found {
		r.VarOff = Tnum{value &^ mask, mask}
	}
}

// boundsSync is the kernel's reg_bounds_sync: make tnum and the four
// ranges agree with each other as tightly as the rules allow.
func (r *Reg) boundsSync() {
	r.updateBounds()
	r.deduceBounds()
	r.deduceBounds()
	r.boundOffset()
	r.updateBounds()
}

// boundsInvalid reports an empty range, which only a dead path produces.
func (r *Reg) boundsInvalid() bool {
	if r.Umin > r.Umax || r.Smin > r.Smax || r.U32min > r.U32max || r.S32min > r.S32max {
		return true
	}
	if r.VarOff.Value&r.VarOff.Mask != 0 {
		return true
	}
	if r.VarOff.IsConst() {
		v := r.VarOff.Value
		if v != r.Umin || v != r.Umax || int64(v) != r.Smin || int64(v) != r.Smax {
			return true
		}
	}
	return false
}

// zext32 zero-extends the 32-bit subregister into the full register.
func (r *Reg) zext32() {
	r.VarOff = r.VarOff.Subreg()
	r.Umin, r.Umax = uint64(r.U32min), uint64(r.U32max)
	// Zero extension makes the 64-bit value equal to the unsigned 32-bit one.
	r.Smin, r.Smax = int64(r.U32min), int64(r.U32max)
}

func (r *Reg) bounds32From64() {
	// A 64-bit range entirely within [0, U32_MAX] / [S32_MIN, S32_MAX]
	// gives the 32-bit range directly.
	if r.Umax <= math.MaxUint32 {
		r.U32min, r.U32max = uint32(r.Umin), uint32(r.Umax)
	} else {
		r.U32min, r.U32max = 0, math.MaxUint32
	}
	if r.Smin >= math.MinInt32 && r.Smax <= math.MaxInt32 {
		r.S32min, r.S32max = int32(r.Smin), int32(r.Smax)
	} else {
		r.S32min, r.S32max = math.MinInt32, math.MaxInt32
	}
}

// String formats the register as the kernel's log does (abridged).
func (r *Reg) String() string {
	switch r.Type {
	case NotInit:
		return "?"
	case Scalar:
		if r.VarOff.IsConst() {
			return fmt.Sprintf("%d", int64(r.VarOff.Value))
		}
		return "scalar(" + r.boundsString() + ")"
	}
	var parts []string
	if r.ID != 0 {
		parts = append(parts, fmt.Sprintf("id=%d", r.ID))
	}
	if r.RefID != 0 {
		parts = append(parts, fmt.Sprintf("ref_obj_id=%d", r.RefID))
	}
	if r.Off != 0 {
		parts = append(parts, fmt.Sprintf("off=%d", r.Off))
	}
	if r.Type.isPacket() {
		parts = append(parts, fmt.Sprintf("r=%d", r.Range))
	}
	if r.Map != nil && (r.Type.Base() == PtrToMapValue || r.Type.Base() == ConstPtrToMap) {
		parts = append(parts, fmt.Sprintf("ks=%d,vs=%d", r.Map.KeySize, r.Map.ValueSize))
	}
	if r.Type.Base() == PtrToMem || r.Type.Base() == PtrToRingbuf {
		parts = append(parts, fmt.Sprintf("sz=%d", r.MemSize))
	}
	if !r.VarOff.IsConst() || r.VarOff.Value != 0 {
		parts = append(parts, r.boundsString())
	}
	if r.Type == PtrToStack {
		return fmt.Sprintf("fp%d", r.Off) + map[bool]string{true: "", false: "(" + strings.Join(parts, ",") + ")"}[len(parts) == 0 || (len(parts) == 1 && r.Off != 0)]
	}
	return r.Type.String() + "(" + strings.Join(parts, ",") + ")"
}

func (r *Reg) boundsString() string {
	var p []string
	if r.Smin != math.MinInt64 {
		p = append(p, fmt.Sprintf("smin=%d", r.Smin))
	}
	if r.Smax != math.MaxInt64 {
		p = append(p, fmt.Sprintf("smax=%d", r.Smax))
	}
	if r.Umin != 0 {
		p = append(p, fmt.Sprintf("umin=%d", r.Umin))
	}
	if r.Umax != math.MaxUint64 {
		p = append(p, fmt.Sprintf("umax=%d", r.Umax))
	}
	if r.S32min != math.MinInt32 {
		p = append(p, fmt.Sprintf("smin32=%d", r.S32min))
	}
	if r.S32max != math.MaxInt32 {
		p = append(p, fmt.Sprintf("smax32=%d", r.S32max))
	}
	if r.U32min != 0 {
		p = append(p, fmt.Sprintf("umin32=%d", r.U32min))
	}
	if r.U32max != math.MaxUint32 {
		p = append(p, fmt.Sprintf("umax32=%d", r.U32max))
	}
	if !r.VarOff.IsUnknown() && !r.VarOff.IsConst() {
		p = append(p, "var_off="+r.VarOff.String())
	}
	return strings.Join(p, ",")
}
