package verifier

import (
	"fmt"
	"math/bits"
)

// Tnum is a tristate number: each bit is known 0, known 1 or unknown.
// Value holds the known-1 bits, Mask the unknown bits; a bit is never set
// in both. This is the kernel's tnum (kernel/bpf/tnum.c), reimplemented.
type Tnum struct {
	Value, Mask uint64
}

// Tnums used often.
var (
	tnumUnknown = Tnum{0, ^uint64(0)}
)

// TnumConst returns the tnum of a known value.
func TnumConst(v uint64) Tnum { return Tnum{v, 0} }

// TnumRange returns the smallest tnum containing every value in [min, max].
func TnumRange(min, max uint64) Tnum {
	chi := min ^ max
	b := bits.Len64(chi)
	if b > 63 {
		return tnumUnknown
	}
	delta := uint64(1)<<b - 1
	return Tnum{min &^ delta, delta}
}

// IsConst reports whether every bit is known.
func (a Tnum) IsConst() bool { return a.Mask == 0 }

// IsUnknown reports whether no bit is known.
func (a Tnum) IsUnknown() bool { return a.Mask == ^uint64(0) }

// Contains reports whether the concrete value v is a member of a.
func (a Tnum) Contains(v uint64) bool { return v&^a.Mask == a.Value }

// In reports whether every member of b is a member of a.
func (a Tnum) In(b Tnum) bool {
	if b.Mask&^a.Mask != 0 {
		return false
	}
	return a.Value == b.Value&^a.Mask
}

// Lsh shifts left by a constant.
func (a Tnum) Lsh(s uint8) Tnum { return Tnum{a.Value << s, a.Mask << s} }

// Rsh shifts right (logically) by a constant.
func (a Tnum) Rsh(s uint8) Tnum { return Tnum{a.Value >> s, a.Mask >> s} }

// Arsh shifts right arithmetically by a constant, treating a as insnBits wide.
func (a Tnum) Arsh(s uint8, insnBits int) Tnum {
	if insnBits == 32 {
		return Tnum{uint64(uint32(int32(uint32(a.Value)) >> s)), uint64(uint32(int32(uint32(a.Mask)) >> s))}
	}
	return Tnum{uint64(int64(a.Value) >> s), uint64(int64(a.Mask) >> s)}
}

// Add is abstract addition.
func (a Tnum) Add(b Tnum) Tnum {
	sm := a.Mask + b.Mask
	sv := a.Value + b.Value
	sigma := sm + sv
	chi := sigma ^ sv
	mu := chi | a.Mask | b.Mask
	return Tnum{sv &^ mu, mu}
}

// Sub is abstract subtraction.
func (a Tnum) Sub(b Tnum) Tnum {
	dv := a.Value - b.Value
	alpha := dv + a.Mask
	beta := dv - b.Mask
	chi := alpha ^ beta
	mu := chi | a.Mask | b.Mask
	return Tnum{dv &^ mu, mu}
}

// Neg is abstract negation.
func (a Tnum) Neg() Tnum { return TnumConst(0).Sub(a) }

// And is abstract bitwise and.
func (a Tnum) And(b Tnum) Tnum {
	alpha := a.Value | a.Mask
	beta := b.Value | b.Mask
	v := a.Value & b.Value
	return Tnum{v, alpha & beta &^ v}
}

// Or is abstract bitwise or.
func (a Tnum) Or(b Tnum) Tnum {
	v := a.Value | b.Value
	mu := a.Mask | b.Mask
	return Tnum{v, mu &^ v}
}

// Xor is abstract bitwise exclusive or.
func (a Tnum) Xor(b Tnum) Tnum {
	v := a.Value ^ b.Value
	mu := a.Mask | b.Mask
	return Tnum{v &^ mu, mu}
}

// Mul is abstract multiplication (the kernel's half-multiply algorithm).
func (a Tnum) Mul(b Tnum) Tnum {
	accV := a.Value * b.Value
	accM := Tnum{0, 0}
	for a.Value != 0 || a.Mask != 0 {
		if a.Value&1 != 0 {
			accM = accM.Add(Tnum{0, b.Mask})
		} else if a.Mask&1 != 0 {
			accM = accM.Add(Tnum{0, b.Value | b.Mask})
		}
		a = a.Rsh(1)
		b = b.Lsh(1)
	}
	return TnumConst(accV).Add(accM)
}

// Intersect returns the tnum of values that are members of both a and b
// (both must describe the same concrete value).
func (a Tnum) Intersect(b Tnum) Tnum {
	v := a.Value | b.Value
	mu := a.Mask & b.Mask
	return Tnum{v &^ mu, mu}
}

// Cast truncates a to size bytes.
func (a Tnum) Cast(size uint8) Tnum {
	if size >= 8 {
		return a
	}
	m := uint64(1)<<(size*8) - 1
	return Tnum{a.Value & m, a.Mask & m}
}

// Subreg returns the low 32 bits.
func (a Tnum) Subreg() Tnum { return a.Cast(4) }

// ClearSubreg clears the low 32 bits.
func (a Tnum) ClearSubreg() Tnum { return a.Rsh(32).Lsh(32) }

// WithSubreg replaces the low 32 bits of a by those of b.
func (a Tnum) WithSubreg(b Tnum) Tnum { return a.ClearSubreg().Or(b.Subreg()) }

// ConstSubreg sets the low 32 bits to the known value v.
func (a Tnum) ConstSubreg(v uint32) Tnum { return a.WithSubreg(TnumConst(uint64(v))) }

// IsAligned reports whether a is a multiple of size for every member.
func (a Tnum) IsAligned(size uint64) bool {
	if size == 0 {
		return true
	}
	return (a.Value|a.Mask)&(size-1) == 0
}

// Umin is the smallest member, as unsigned.
func (a Tnum) Umin() uint64 { return a.Value }

// Umax is the largest member, as unsigned.
func (a Tnum) Umax() uint64 { return a.Value | a.Mask }

// String formats a tnum as the kernel's log does: (value; mask).
func (a Tnum) String() string { return fmt.Sprintf("(%#x; %#x)", a.Value, a.Mask) }
