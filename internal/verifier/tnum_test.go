package verifier

import (
	"math/rand"
	"testing"
)

// allTnums4 enumerates every tnum over the low 4 bits (3^4 = 81).
func allTnums4() []Tnum {
	var out []Tnum
	for v := uint64(0); v < 16; v++ {
		for m := uint64(0); m < 16; m++ {
			if v&m == 0 {
				out = append(out, Tnum{v, m})
			}
		}
	}
	return out
}

func members(t Tnum) []uint64 {
	var out []uint64
	for x := uint64(0); x < 16; x++ {
		if t.Contains(x) {
			out = append(out, x)
		}
	}
	return out
}

// TestTnumSoundness checks every binary operation against brute force:
// the abstract result must contain every concrete result.
func TestTnumSoundness(t *testing.T) {
	ops := map[string]struct {
		abs  func(a, b Tnum) Tnum
		conc func(x, y uint64) uint64
	}{
		"add": {Tnum.Add, func(x, y uint64) uint64 { return x + y }},
		"sub": {Tnum.Sub, func(x, y uint64) uint64 { return x - y }},
		"and": {Tnum.And, func(x, y uint64) uint64 { return x & y }},
		"or":  {Tnum.Or, func(x, y uint64) uint64 { return x | y }},
		"xor": {Tnum.Xor, func(x, y uint64) uint64 { return x ^ y }},
		"mul": {Tnum.Mul, func(x, y uint64) uint64 { return x * y }},
	}
	all := allTnums4()
	for name, op := range ops {
		for _, a := range all {
			for _, b := range all {
				r := op.abs(a, b)
				if r.Value&r.Mask != 0 {
					t.Fatalf("%s(%v, %v) = %v is malformed", name, a, b, r)
				}
				for _, x := range members(a) {
					for _, y := range members(b) {
						if z := op.conc(x, y); !r.Contains(z) {
							t.Fatalf("%s(%v, %v) = %v does not contain %s(%d, %d) = %d", name, a, b, r, name, x, y, z)
						}
					}
				}
			}
		}
	}
}

func TestTnumShiftsAndCasts(t *testing.T) {
	for _, a := range allTnums4() {
		for s := uint8(0); s < 8; s++ {
			l, r := a.Lsh(s), a.Rsh(s)
			for _, x := range members(a) {
				if !l.Contains(x<<s) || !r.Contains(x>>s) {
					t.Fatalf("shift %v by %d: %v / %v miss %d", a, s, l, r, x)
				}
				// Sign-extend the 4-bit value into 64 bits to test arsh.
				sa := Tnum{uint64(int64(a.Value<<60) >> 60), uint64(int64(a.Mask<<60) >> 60)}
				sx := uint64(int64(x<<60) >> 60)
				if !sa.Arsh(s, 64).Contains(uint64(int64(sx) >> s)) {
					t.Fatalf("arsh %v by %d misses %d", sa, s, sx)
				}
			}
		}
		n := a.Neg()
		for _, x := range members(a) {
			if !n.Contains(-x) {
				t.Fatalf("neg %v misses -%d", a, x)
			}
			if !a.Cast(1).Contains(x & 0xff) {
				t.Fatal("cast")
			}
		}
	}
}

func TestTnumRangeInIntersect(t *testing.T) {
	for lo := uint64(0); lo < 16; lo++ {
		for hi := lo; hi < 16; hi++ {
			r := TnumRange(lo, hi)
			for x := lo; x <= hi; x++ {
				if !r.Contains(x) {
					t.Fatalf("TnumRange(%d, %d) = %v misses %d", lo, hi, r, x)
				}
			}
		}
	}
	if !TnumRange(0, ^uint64(0)).IsUnknown() {
		t.Fatal("full range is not unknown")
	}
	all := allTnums4()
	for _, a := range all {
		for _, b := range all {
			in := a.In(b)
			sub := true
			for _, x := range members(b) {
				if !a.Contains(x) {
					sub = false
				}
			}
			if in != sub {
				t.Fatalf("%v.In(%v) = %v, brute force says %v", a, b, in, sub)
			}
			i := a.Intersect(b)
			for x := uint64(0); x < 16; x++ {
				if a.Contains(x) && b.Contains(x) && !i.Contains(x) {
					t.Fatalf("intersect %v %v = %v misses %d", a, b, i, x)
				}
			}
		}
	}
	if !TnumConst(8).IsAligned(8) || TnumConst(4).IsAligned(8) || !(Tnum{0, 0xf0}).IsAligned(16) {
		t.Fatal("IsAligned")
	}
}

// abstractOf builds the abstract register for a set of concrete values.
func abstractOf(vals []uint64) Reg {
	var r Reg
	r.setKnown(vals[0])
	for _, v := range vals[1:] {
		var k Reg
		k.setKnown(v)
		join(&r, &k)
	}
	return r
}

// join widens r to also describe k (a sound hull of both).
func join(r, k *Reg) {
	r.Umin, r.Umax = min(r.Umin, k.Umin), max(r.Umax, k.Umax)
	r.Smin, r.Smax = min(r.Smin, k.Smin), max(r.Smax, k.Smax)
	r.U32min, r.U32max = min(r.U32min, k.U32min), max(r.U32max, k.U32max)
	r.S32min, r.S32max = min(r.S32min, k.S32min), max(r.S32max, k.S32max)
	mu := r.VarOff.Mask | k.VarOff.Mask | (r.VarOff.Value ^ k.VarOff.Value)
	r.VarOff = Tnum{r.VarOff.Value &^ mu, mu}
}

func contains(r *Reg, x uint64) bool {
	return r.VarOff.Contains(x) && r.Umin <= x && x <= r.Umax && r.Smin <= int64(x) && int64(x) <= r.Smax &&
		r.U32min <= uint32(x) && uint32(x) <= r.U32max && r.S32min <= int32(x) && int32(x) <= r.S32max
}

func randValue(rng *rand.Rand) uint64 {
	switch rng.Intn(6) {
	case 0:
		return uint64(rng.Intn(16))
	case 1:
		return uint64(-int64(rng.Intn(16)))
	case 2:
		return 1<<31 + uint64(rng.Intn(4)) - 2
	case 3:
		return 1<<63 + uint64(rng.Intn(4)) - 2
	case 4:
		return uint64(rng.Uint32())
	}
	return rng.Uint64()
}

func concreteALU(op uint8, x, y uint64, alu32 bool) uint64 {
	if alu32 {
		a, b := uint32(x), uint32(y)
		switch op {
		case 0x00:
			return uint64(a + b)
		case 0x10:
			return uint64(a - b)
		case 0x20:
			return uint64(a * b)
		case 0x40:
			return uint64(a | b)
		case 0x50:
			return uint64(a & b)
		case 0x60:
			return uint64(a << (b & 31))
		case 0x70:
			return uint64(a >> (b & 31))
		case 0x80:
			return uint64(-a)
		case 0xa0:
			return uint64(a ^ b)
		case 0xc0:
			return uint64(uint32(int32(a) >> (b & 31)))
		}
	}
	switch op {
	case 0x00:
		return x + y
	case 0x10:
		return x - y
	case 0x20:
		return x * y
	case 0x40:
		return x | y
	case 0x50:
		return x & y
	case 0x60:
		return x << (y & 63)
	case 0x70:
		return x >> (y & 63)
	case 0x80:
		return -x
	case 0xa0:
		return x ^ y
	case 0xc0:
		return uint64(int64(x) >> (y & 63))
	}
	panic("op")
}

// TestScalarALUSoundness: for random sets of concrete operands, the
// abstract result of every ALU operation contains every concrete result.
func TestScalarALUSoundness(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	ops := []uint8{0x00, 0x10, 0x20, 0x40, 0x50, 0x60, 0x70, 0x80, 0xa0, 0xc0}
	for iter := 0; iter < 20000; iter++ {
		op := ops[rng.Intn(len(ops))]
		alu32 := rng.Intn(2) == 0
		xs := make([]uint64, 1+rng.Intn(4))
		for i := range xs {
			xs[i] = randValue(rng)
		}
		ys := make([]uint64, 1+rng.Intn(3))
		for i := range ys {
			ys[i] = randValue(rng)
			if op == 0x60 || op == 0x70 || op == 0xc0 {
				ys[i] = uint64(rng.Intn(64))
				if alu32 {
					ys[i] &= 31
				}
			}
		}
		d, s := abstractOf(xs), abstractOf(ys)
		d.boundsSync()
		s.boundsSync()
		r := d
		scalarALU(&r, s, op, alu32)
		for _, x := range xs {
			for _, y := range ys {
				if !contains(&d, x) || !contains(&s, y) {
					t.Fatalf("abstractOf lost a member")
				}
				z := concreteALU(op, x, y, alu32)
				if !contains(&r, z) {
					t.Fatalf("op %#x alu32=%v: %s op %s = %s misses %#x op %#x = %#x", op, alu32, d.String(), s.String(), r.String(), x, y, z)
				}
			}
		}
	}
}

func concreteCmp(op uint8, x, y uint64, is32 bool) bool {
	if is32 {
		x, y = uint64(uint32(x)), uint64(uint32(y))
		switch op {
		case 0x60:
			return int32(x) > int32(y)
		case 0x70:
			return int32(x) >= int32(y)
		case 0xc0:
			return int32(x) < int32(y)
		case 0xd0:
			return int32(x) <= int32(y)
		}
	}
	switch op {
	case 0x10:
		return x == y
	case 0x50:
		return x != y
	case 0x20:
		return x > y
	case 0x30:
		return x >= y
	case 0xa0:
		return x < y
	case 0xb0:
		return x <= y
	case 0x40:
		return x&y != 0
	case 0x60:
		return int64(x) > int64(y)
	case 0x70:
		return int64(x) >= int64(y)
	case 0xc0:
		return int64(x) < int64(y)
	case 0xd0:
		return int64(x) <= int64(y)
	}
	panic("op")
}

// TestBranchSoundness: branch prediction never excludes a side some
// concrete pair takes, and refinement keeps every pair that takes a side.
func TestBranchSoundness(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	ops := []uint8{0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0}
	for iter := 0; iter < 20000; iter++ {
		op := ops[rng.Intn(len(ops))]
		is32 := rng.Intn(3) == 0
		xs := make([]uint64, 1+rng.Intn(4))
		for i := range xs {
			xs[i] = randValue(rng)
		}
		ys := make([]uint64, 1+rng.Intn(2))
		for i := range ys {
			ys[i] = randValue(rng)
			if rng.Intn(3) == 0 {
				ys[i] = xs[rng.Intn(len(xs))]
			}
		}
		d, s := abstractOf(xs), abstractOf(ys)
		d.boundsSync()
		s.boundsSync()
		pred := branchTaken(&d, &s, op, is32)
		td, ts := d, s
		okT := refineSide(&td, &ts, op, is32)
		fd, fs := d, s
		okF := refineSide(&fd, &fs, revOp(op), is32)
		for _, x := range xs {
			for _, y := range ys {
				taken := concreteCmp(op, x, y, is32)
				if pred == 1 && !taken || pred == 0 && taken {
					t.Fatalf("op %#x is32=%v: predicted %d but %#x vs %#x goes the other way (%s vs %s)", op, is32, pred, x, y, d.String(), s.String())
				}
				if taken && (!okT || !contains(&td, x) || !contains(&ts, y)) {
					t.Fatalf("op %#x is32=%v taken: refined %s / %s lost %#x / %#x (from %s / %s)", op, is32, td.String(), ts.String(), x, y, d.String(), s.String())
				}
				if !taken && (!okF || !contains(&fd, x) || !contains(&fs, y)) {
					t.Fatalf("op %#x is32=%v not taken: refined %s / %s lost %#x / %#x (from %s / %s)", op, is32, fd.String(), fs.String(), x, y, d.String(), s.String())
				}
			}
		}
	}
}

// TestLinkedScalarsSoundness: r2 = r1 + K (linked); a comparison refines
// r2 and syncLinked carries it to r1; every concrete r1 taking the branch
// must stay in r1's refined value.
func TestLinkedScalarsSoundness(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	ops := []uint8{0x10, 0x20, 0x30, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0}
	for iter := 0; iter < 20000; iter++ {
		xs := make([]uint64, 1+rng.Intn(5))
		for i := range xs {
			xs[i] = randValue(rng)
		}
		k := int32(rng.Intn(200) - 100)
		if rng.Intn(4) == 0 {
			k = int32(rng.Uint32())
		}
		c := randValue(rng)
		op := ops[rng.Intn(len(ops))]
		r1 := abstractOf(xs)
		r1.boundsSync()
		r1.ID = 1
		r2 := r1
		var kr Reg
		kr.setKnown(uint64(int64(k)))
		scalarALU(&r2, kr, 0x00, false)
		r2.ID, r2.AddConst, r2.Off = 1, true, k
		st := &state{frames: []*frame{{}}}
		f := st.frames[0]
		f.regs[1], f.regs[2] = r1, r2
		var cr Reg
		cr.setKnown(c)
		possible := refineSide(&f.regs[2], &cr, op, false)
		if possible {
			syncLinked(st, &f.regs[2])
		}
		for _, x := range xs {
			y := x + uint64(int64(k))
			if !concreteCmp(op, y, c, false) {
				continue
			}
			if !possible {
				t.Fatalf("r2 = r1 %+d, r2 op %#x %#x: side ruled out but r1 = %#x takes it", k, op, c, x)
			}
			if !contains(&f.regs[1], x) {
				t.Fatalf("r2 = r1 %+d, r2 op %#x %#x: r1 = %#x lost; r1 became %s (r2 %s)", k, op, c, x, f.regs[1].String(), f.regs[2].String())
			}
		}
	}
}
