package verifier

import (
	"math"
	"math/bits"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// The kernel's scalar transfer functions (adjust_scalar_min_max_vals):
// given the abstract values of two scalars, the abstract value of the
// result of one ALU operation. Each keeps tnum and all four ranges sound.

func addOverflow64(a, b int64) (int64, bool) {
	s := a + b
	return s, (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0)
}

func subOverflow64(a, b int64) (int64, bool) {
	s := a - b
	return s, (a >= 0 && b < 0 && s < 0) || (a < 0 && b > 0 && s >= 0)
}

func addOverflow32(a, b int32) (int32, bool) {
	s := a + b
	return s, (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0)
}

func subOverflow32(a, b int32) (int32, bool) {
	s := a - b
	return s, (a >= 0 && b < 0 && s < 0) || (a < 0 && b > 0 && s >= 0)
}

func mulOverflow64(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, false
	}
	p := a * b
	if p/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		return p, true
	}
	return p, false
}

func mulOverflow32(a, b int32) (int32, bool) {
	p := int64(a) * int64(b)
	return int32(p), p != int64(int32(p))
}

func scalar32Add(d, s *Reg) {
	var o1, o2 bool
	d.S32min, o1 = addOverflow32(d.S32min, s.S32min)
	d.S32max, o2 = addOverflow32(d.S32max, s.S32max)
	if o1 || o2 {
		d.S32min, d.S32max = math.MinInt32, math.MaxInt32
	}
	nmin, c1 := bits.Add32(d.U32min, s.U32min, 0)
	nmax, c2 := bits.Add32(d.U32max, s.U32max, 0)
	d.U32min, d.U32max = nmin, nmax
	if c1 == 0 && c2 != 0 {
		d.U32min, d.U32max = 0, math.MaxUint32
	}
}

func scalar64Add(d, s *Reg) {
	var o1, o2 bool
	d.Smin, o1 = addOverflow64(d.Smin, s.Smin)
	d.Smax, o2 = addOverflow64(d.Smax, s.Smax)
	if o1 || o2 {
		d.Smin, d.Smax = math.MinInt64, math.MaxInt64
	}
	nmin, c1 := bits.Add64(d.Umin, s.Umin, 0)
	nmax, c2 := bits.Add64(d.Umax, s.Umax, 0)
	d.Umin, d.Umax = nmin, nmax
	if c1 == 0 && c2 != 0 {
		d.Umin, d.Umax = 0, math.MaxUint64
	}
}

func scalar32Sub(d, s *Reg) {
	var o1, o2 bool
	d.S32min, o1 = subOverflow32(d.S32min, s.S32max)
	d.S32max, o2 = subOverflow32(d.S32max, s.S32min)
	if o1 || o2 {
		d.S32min, d.S32max = math.MinInt32, math.MaxInt32
	}
	nmin, b1 := bits.Sub32(d.U32min, s.U32max, 0)
	nmax, b2 := bits.Sub32(d.U32max, s.U32min, 0)
	d.U32min, d.U32max = nmin, nmax
	if b1 != 0 && b2 == 0 {
		d.U32min, d.U32max = 0, math.MaxUint32
	}
}

func scalar64Sub(d, s *Reg) {
	var o1, o2 bool
	d.Smin, o1 = subOverflow64(d.Smin, s.Smax)
	d.Smax, o2 = subOverflow64(d.Smax, s.Smin)
	if o1 || o2 {
		d.Smin, d.Smax = math.MinInt64, math.MaxInt64
	}
	nmin, b1 := bits.Sub64(d.Umin, s.Umax, 0)
	nmax, b2 := bits.Sub64(d.Umax, s.Umin, 0)
	d.Umin, d.Umax = nmin, nmax
	if b1 != 0 && b2 == 0 {
		d.Umin, d.Umax = 0, math.MaxUint64
	}
}

func scalar32Mul(d, s *Reg) {
	hi1, lo1 := bits.Mul32(d.U32max, s.U32max)
	hi2, lo2 := bits.Mul32(d.U32min, s.U32min)
	if hi1 != 0 || hi2 != 0 {
		d.U32min, d.U32max = 0, math.MaxUint32
	} else {
		d.U32min, d.U32max = lo2, lo1
	}
	var p [4]int32
	var o [4]bool
	p[0], o[0] = mulOverflow32(d.S32min, s.S32min)
	p[1], o[1] = mulOverflow32(d.S32min, s.S32max)
	p[2], o[2] = mulOverflow32(d.S32max, s.S32min)
	p[3], o[3] = mulOverflow32(d.S32max, s.S32max)
	if o[0] || o[1] || o[2] || o[3] {
		d.S32min, d.S32max = math.MinInt32, math.MaxInt32
	} else {
		d.S32min = min(p[0], p[1], p[2], p[3])
		d.S32max = max(p[0], p[1], p[2], p[3])
	}
}

func scalar64Mul(d, s *Reg) {
	hi1, lo1 := bits.Mul64(d.Umax, s.Umax)
	hi2, lo2 := bits.Mul64(d.Umin, s.Umin)
	if hi1 != 0 || hi2 != 0 {
		d.Umin, d.Umax = 0, math.MaxUint64
	} else {
		d.Umin, d.Umax = lo2, lo1
	}
	var p [4]int64
	var o [4]bool
	p[0], o[0] = mulOverflow64(d.Smin, s.Smin)
	p[1], o[1] = mulOverflow64(d.Smin, s.Smax)
	p[2], o[2] = mulOverflow64(d.Smax, s.Smin)
	p[3], o[3] = mulOverflow64(d.Smax, s.Smax)
	if o[0] || o[1] || o[2] || o[3] {
		d.Smin, d.Smax = math.MinInt64, math.MaxInt64
	} else {
		d.Smin = min(p[0], p[1], p[2], p[3])
		d.Smax = max(p[0], p[1], p[2], p[3])
	}
}

func (r *Reg) update32Bounds() {
	v := r.VarOff.Subreg()
	r.S32min = max(r.S32min, int32(uint32(v.Value|(v.Mask&0x80000000))))
	r.S32max = min(r.S32max, int32(uint32(v.Value|(v.Mask&0x7fffffff))))
	r.U32min = max(r.U32min, uint32(v.Value))
	r.U32max = min(r.U32max, uint32(v.Value|v.Mask))
}

// bitwise computes the ranges of and/or/xor from the already computed tnum.
func scalar32Bitwise(d, s *Reg, op uint8) {
	v := d.VarOff.Subreg()
	if v.IsConst() && s.VarOff.Subreg().IsConst() {
		d.setKnown32(uint32(v.Value))
		return
	}
	switch op {
	case isa.OpAND:
		d.U32min = uint32(v.Value)
		d.U32max = min(d.U32max, s.U32max)
	case isa.OpOR:
		d.U32min = max(d.U32min, s.U32min)
		d.U32max = uint32(v.Value | v.Mask)
	case isa.OpXOR:
		d.U32min = uint32(v.Value)
		d.U32max = uint32(v.Value | v.Mask)
	}
	if int32(d.U32min) <= int32(d.U32max) {
		d.S32min, d.S32max = int32(d.U32min), int32(d.U32max)
	} else {
		d.S32min, d.S32max = math.MinInt32, math.MaxInt32
	}
	d.update32Bounds()
}

func scalar64Bitwise(d, s *Reg, op uint8) {
	v := d.VarOff
	if v.IsConst() && s.VarOff.IsConst() {
		d.setKnownValue(v.Value)
		return
	}
	switch op {
	case isa.OpAND:
		d.Umin = v.Value
		d.Umax = min(d.Umax, s.Umax)
	case isa.OpOR:
		d.Umin = max(d.Umin, s.Umin)
		d.Umax = v.Value | v.Mask
	case isa.OpXOR:
		d.Umin = v.Value
		d.Umax = v.Value | v.Mask
	}
	if int64(d.Umin) <= int64(d.Umax) {
		d.Smin, d.Smax = int64(d.Umin), int64(d.Umax)
	} else {
		d.Smin, d.Smax = math.MinInt64, math.MaxInt64
	}
	d.updateBounds()
}

func scalar32LshBounds(d *Reg, umin, umax uint64) {
	d.S32min, d.S32max = math.MinInt32, math.MaxInt32
	if umax > 31 || uint64(d.U32max) > uint64(1)<<(31-umax) {
		d.U32min, d.U32max = 0, math.MaxUint32
	} else {
		d.U32min <<= umin
		d.U32max <<= umax
	}
}

func scalar64Lsh(d *Reg, umin, umax uint64) {
	if umin == 32 && umax == 32 && d.S32max >= 0 {
		d.Smax = int64(d.S32max) << 32
	} else {
		d.Smax = math.MaxInt64
	}
	if umin == 32 && umax == 32 && d.S32min >= 0 {
		d.Smin = int64(d.S32min) << 32
	} else {
		d.Smin = math.MinInt64
	}
	if d.Umax > uint64(1)<<(63-umax) {
		d.Umin, d.Umax = 0, math.MaxUint64
	} else {
		d.Umin <<= umin
		d.Umax <<= umax
	}
	scalar32LshBounds(d, umin, umax)
	d.VarOff = d.VarOff.Lsh(uint8(umin))
	d.updateBounds()
}

// scalarALU applies op to the scalar d with the scalar source s. alu32
// selects the 32-bit form (whose result is zero-extended).
func scalarALU(d *Reg, s Reg, op uint8, alu32 bool) {
	width := uint64(64)
	srcConst := s.VarOff.IsConst() && s.Smin == s.Smax && s.Umin == s.Umax
	if alu32 {
		width = 32
		srcConst = s.VarOff.Subreg().IsConst() && s.S32min == s.S32max && s.U32min == s.U32max
	}
	switch op {
	case isa.OpADD, isa.OpSUB, isa.OpNEG, isa.OpAND, isa.OpOR, isa.OpXOR, isa.OpMUL:
	case isa.OpLSH, isa.OpRSH, isa.OpARSH:
		shift := s.Umax
		if alu32 {
			shift = uint64(s.U32max)
		}
		if !srcConst || shift >= width {
			d.setUnknown()
			return
		}
	default:
		d.setUnknown()
		return
	}
	switch op {
	case isa.OpADD:
		scalar32Add(d, &s)
		scalar64Add(d, &s)
		d.VarOff = d.VarOff.Add(s.VarOff)
	case isa.OpSUB:
		scalar32Sub(d, &s)
		scalar64Sub(d, &s)
		d.VarOff = d.VarOff.Sub(s.VarOff)
	case isa.OpNEG:
		old := *d
		d.setKnownValue(0)
		scalar32Sub(d, &old)
		scalar64Sub(d, &old)
		d.VarOff = old.VarOff.Neg()
	case isa.OpMUL:
		d.VarOff = d.VarOff.Mul(s.VarOff)
		scalar32Mul(d, &s)
		scalar64Mul(d, &s)
	case isa.OpAND:
		d.VarOff = d.VarOff.And(s.VarOff)
		scalar32Bitwise(d, &s, op)
		scalar64Bitwise(d, &s, op)
	case isa.OpOR:
		d.VarOff = d.VarOff.Or(s.VarOff)
		scalar32Bitwise(d, &s, op)
		scalar64Bitwise(d, &s, op)
	case isa.OpXOR:
		d.VarOff = d.VarOff.Xor(s.VarOff)
		scalar32Bitwise(d, &s, op)
		scalar64Bitwise(d, &s, op)
	case isa.OpLSH:
		if alu32 {
			sub := d.VarOff.Subreg()
			scalar32LshBounds(d, uint64(s.U32min), uint64(s.U32max))
			d.VarOff = sub.Lsh(uint8(s.U32min)).Subreg()
			d.mark64Unbounded()
			d.update32Bounds()
		} else {
			scalar64Lsh(d, s.Umin, s.Umax)
		}
	case isa.OpRSH:
		if alu32 {
			sub := d.VarOff.Subreg()
			d.S32min, d.S32max = math.MinInt32, math.MaxInt32
			d.VarOff = sub.Rsh(uint8(s.U32min))
			d.U32min >>= s.U32max
			d.U32max >>= s.U32min
			d.mark64Unbounded()
			d.update32Bounds()
		} else {
			d.Smin, d.Smax = math.MinInt64, math.MaxInt64
			d.VarOff = d.VarOff.Rsh(uint8(s.Umin))
			d.Umin >>= s.Umax
			d.Umax >>= s.Umin
			d.mark32Unbounded()
			d.updateBounds()
		}
	case isa.OpARSH:
		if alu32 {
			sh := uint8(s.U32min)
			d.S32min >>= sh
			d.S32max >>= sh
			d.VarOff = d.VarOff.Subreg().Arsh(sh, 32)
			d.U32min, d.U32max = 0, math.MaxUint32
			d.mark64Unbounded()
			d.update32Bounds()
		} else {
			sh := uint8(s.Umin)
			d.Smin >>= sh
			d.Smax >>= sh
			d.VarOff = d.VarOff.Arsh(sh, 64)
			d.Umin, d.Umax = 0, math.MaxUint64
			d.mark32Unbounded()
			d.updateBounds()
		}
	}
	if alu32 {
		d.zext32()
	}
	d.boundsSync()
	if d.boundsInvalid() {
		// Only reachable on a path the analysis could not prove dead;
		// forgetting everything is always sound.
		d.setUnknown()
	}
}

// coerceToSize truncates a scalar to size bytes (zero-extending), as a
// narrow load or a 32-bit move does.
func (r *Reg) coerceToSize(size int) {
	if size >= 8 {
		return
	}
	mask := uint64(1)<<(size*8) - 1
	if r.Umax > mask {
		// The value may change: it no longer equals its linked copies.
		r.ID, r.AddConst, r.Off = 0, false, 0
	}
	r.VarOff = r.VarOff.Cast(uint8(size))
	if r.Umin&^mask == r.Umax&^mask {
		r.Umin &= mask
		r.Umax &= mask
	} else {
		r.Umin, r.Umax = 0, mask
	}
	r.Smin, r.Smax = int64(r.Umin), int64(r.Umax)
	if size < 4 {
		r.mark32Unbounded()
	}
	r.boundsSync()
	if r.boundsInvalid() {
		r.setUnknown()
		r.coerceToSize(size)
	}
}

// coerceToSizeSX truncates to size bytes and sign-extends to 64 bits.
func (r *Reg) coerceToSizeSX(size int) {
	if size >= 8 {
		return
	}
	nbits := uint(size * 8)
	half := uint64(1) << (nbits - 1)
	if r.VarOff.IsConst() {
		v := r.VarOff.Value << (64 - nbits)
		r.setKnownValue(uint64(int64(v) >> (64 - nbits)))
		return
	}
	if r.Umax < half {
		// Non-negative in the narrow width: sign extension changes nothing
		// beyond truncation.
		r.coerceToSize(size)
		return
	}
	r.setUnknown()
	r.Smin, r.Smax = -int64(half), int64(half-1)
	r.S32min, r.S32max = -int32(half>>1)*2, int32(half-1)
	if size == 4 {
		r.S32min = math.MinInt32
	}
	r.boundsSync()
}
