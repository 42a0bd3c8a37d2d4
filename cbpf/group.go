package cbpf

import (
	"encoding/binary"
	"math/bits"
)

// Test groups: libpcap's filters are mostly runs of loads compared with
// constants where every test either goes on to the next one or leaves for
// one common target: `ip and tcp and dst port 80` checks the ethertype,
// the protocol and the fragment offset, loads the IP header length into X
// (ldxb 4*([14]&0xf)) and checks the port at X+16, every failure leaving
// for the same `ret #0`. When going on means "these packet bits equal
// these constants" (jeq going on when true, jset going on when false, a
// one-bit jset going on when true), such a run is a few 64-bit masked
// compares: two 8-byte windows at fixed offsets for the absolute loads,
// one at X plus a constant for the indirect loads after the msh. The
// classic engine runs the run as one operation, cGroup, instead of a
// dispatch per instruction, and returns at once when the run ends, or
// fails, at a `ret #k`.
//
// The group's instructions keep their operations, so jumps into the
// middle of a group still work. A packet too short for the group's
// windows, or failing a test when the common target is not `ret #k`
// (whose result may then depend on which test failed, through A), runs
// the original operations from the group's first test instead: every path
// gives exactly what the tests one by one give.

// cgroup is a group's windows of the packet, read little-endian, with
// the bits the tests look at and the values they must have.
type cgroup struct {
	// The fields every run reads first, in the first cache line.
	w1, w2 uint32 // the absolute windows' offsets (0 and 0 without absolute tests)
	m1, v1 uint64
	m2, v2 uint64
	// A after the group is the last test's load: window aWin's
	// (1, 2, 3) bytes swapped, shifted right by aShift, masked by aMask;
	// aWin 0: A is dead where the group goes on, not worth computing.
	aWin   uint8
	aShift uint8
	msh    bool // the indirect part below runs
	// The verdicts when the group passes (okRet) or fails (exitRet) at a
	// `ret #k`.
	okRet, exitRet bool
	// exitDead: the tests' common target overwrites A before reading it,
	// so a failing packet goes straight there whichever test failed (X
	// is known: the msh's after it ran, else unchanged).
	exitDead bool
	exit     uint16
	aMask    uint32
	okK      uint32
	exitK    uint32
	// The indirect part, if msh: X = 4*([mshOff]&0xf), then the window
	// at X+xw.
	mshOff uint32
	xw     uint32
	m3, v3 uint64
}

// maxGroupSpan is the widest run of packet bytes a group's absolute tests
// cover: two 8-byte windows (its indirect tests: one).
const maxGroupSpan = 16

// maxGroupTests bounds the tests of a group, and so the work of building
// groups at every instruction of a long run of tests.
const maxGroupTests = 16

// maxGroupIndOff bounds the K of a grouped indirect load so that X+K
// (X at most 60 after an msh) never wraps or turns negative.
const maxGroupIndOff = 1 << 16

// groupTest is a fused load and jump as a masked equality: going on to
// next means (load & mask) == val; otherwise the run goes to exit.
type groupTest struct {
	off, size  uint32
	mask, val  uint32
	next, exit int
	indirect   bool
	msh        bool   // an msh runs first (cMshLdInd*)
	mshOff     uint32 // its K
}

// asGroupTest returns the fused operation at c as a group test, or ok
// false.
func asGroupTest(c *cop) (t groupTest, ok bool) {
	var d int // size index * 4 + condition
	switch {
	case c.kind >= cLdWJeq && c.kind <= cLdBJset:
		d = int(c.kind - cLdWJeq)
	case c.kind >= cMshLdIndWJeq && c.kind <= cLdIndBJset:
		i := int(c.kind - cMshLdIndWJeq)
		d = i/8*4 + i%8/2
		t.indirect, t.msh, t.mshOff = true, i%2 == 0, uint32(c.m)
		if c.k >= maxGroupIndOff {
			return t, false
		}
	default:
		return t, false
	}
	t.off, t.size = c.k, [3]uint32{4, 2, 1}[d/4]
	full := ^uint32(0) >> (32 - 8*t.size)
	jt, jf := int(c.jt), int(c.jf)
	switch k := c.k2; d % 4 {
	case 0: // jeq: goes on when equal
		if k&^full != 0 {
			return t, false
		}
		t.mask, t.val, t.next, t.exit = full, k, jt, jf
	case 3: // jset
		if b := k & full; b != 0 && b&(b-1) == 0 && jt < jf {
			// One bit: going on when set is also an equality; going on
			// along the fall-through path is what libpcap means.
			t.mask, t.val, t.next, t.exit = b, b, jt, jf
		} else {
			t.mask, t.val, t.next, t.exit = k&full, 0, jf, jt
		}
	default:
		return t, false
	}
	return t, jt != jf
}

// groupBytes is the bits a group's tests look at (mask) and the values
// they must have (val), byte i for offset lo+i.
type groupBytes struct {
	lo, hi    uint32
	mask, val [maxGroupSpan]byte
	any       bool
}

// add merges test t into b if the bytes then span at most span bytes and
// t does not contradict them; else it returns false, changing nothing.
func (b *groupBytes) add(t groupTest, span uint32) bool {
	nb := groupBytes{lo: t.off, hi: t.off + t.size, any: true}
	if b.any {
		nb.lo, nb.hi = min(b.lo, nb.lo), max(b.hi, nb.hi)
	}
	if nb.hi-nb.lo > span {
		return false
	}
	if b.any {
		copy(nb.mask[b.lo-nb.lo:], b.mask[:b.hi-b.lo])
		copy(nb.val[b.lo-nb.lo:], b.val[:b.hi-b.lo])
	}
	for i := range t.size {
		sh := 8 * (t.size - 1 - i)
		bm, bv := byte(t.mask>>sh), byte(t.val>>sh)
		p := t.off - nb.lo + i
		if common := nb.mask[p] & bm; nb.val[p]&common != bv&common {
			return false
		}
		nb.mask[p] |= bm
		nb.val[p] |= bv & bm
	}
	*b = nb
	return true
}

// window returns the mask and value of the 8 bytes at offset w, read
// little-endian.
func (b *groupBytes) window(w uint32) (m, v uint64) {
	for o := max(w, b.lo); o < min(w+8, b.hi); o++ {
		m |= uint64(b.mask[o-b.lo]) << (8 * (o - w))
		v |= uint64(b.val[o-b.lo]) << (8 * (o - w))
	}
	return m, v
}

// buildGroups replaces the heads of test groups in code (after the pair
// and msh fusions) with cGroup operations and returns the code, longer by
// a slot per group (the head's own operation, for the slow path), and
// the groups.
func buildGroups(code []cop) ([]cop, []cgroup) {
	n := len(code)
	var groups []cgroup
	for head := 0; head < n; head++ {
		t, ok := asGroupTest(&code[head])
		if !ok || t.indirect && !t.msh {
			continue // X before the group is unknown
		}
		var abs, ind groupBytes
		var tests []groupTest
		g := cgroup{}
		for ok && t.exit == tests0exit(tests, t) && len(tests) < maxGroupTests {
			switch {
			case !t.indirect:
				if g.msh || !abs.add(t, maxGroupSpan) {
					ok = false
				}
			case t.msh:
				if g.msh || !ind.add(t, 8) {
					ok = false
				} else {
					g.msh, g.mshOff = true, t.mshOff
				}
			default:
				if !g.msh || !ind.add(t, 8) {
					ok = false
				}
			}
			if !ok {
				break
			}
			tests = append(tests, t)
			t, ok = asGroupTest(&code[t.next])
		}
		if len(tests) < 2 {
			continue
		}
		last := tests[len(tests)-1]
		// Two absolute tests going on to more of the program cost about
		// what their two fused operations cost (the group's operation
		// does more work; over varied traffic it measured slower).
		if len(tests) == 2 && !g.msh && code[last.next].kind != cRetK {
			continue
		}
		// Windows [w1, w1+8) and [w2, w2+8) cover [abs.lo, abs.hi)
		// (at most 16 bytes), within the first abs.hi bytes (or 8).
		g.w2 = max(abs.hi, 8) - 8
		g.w1 = min(abs.lo, g.w2)
		g.m1, g.v1 = abs.window(g.w1)
		g.m2, g.v2 = abs.window(g.w2)
		if g.msh {
			g.xw = ind.lo
			g.m3, g.v3 = ind.window(ind.lo)
		}
		// A: the last test's bytes, at position p of a window, are bits
		// 8*(7-p) down of the window's byte swap.
		var p uint32
		switch {
		case deadA(code, last.next):
			g.aWin = 0
		case last.indirect:
			g.aWin, p = 3, last.off-g.xw
		case last.off+last.size <= g.w1+8:
			g.aWin, p = 1, last.off-g.w1
		case last.off >= g.w2:
			g.aWin, p = 2, last.off-g.w2
		default:
			// The last test's bytes straddle the two windows (w1 holds
			// its start, w2 its end) and A is read after the group: no
			// window gives it, so the tests run one by one.
			continue
		}
		if g.aWin != 0 {
			g.aShift = uint8(8 * (8 - p - last.size))
			g.aMask = ^uint32(0) >> (32 - 8*last.size)
		}
		if e := &code[last.exit]; e.kind == cRetK {
			g.exitRet, g.exitK = true, e.k
		}
		g.exit, g.exitDead = uint16(last.exit), deadA(code, last.exit)
		if e := &code[last.next]; e.kind == cRetK {
			g.okRet, g.okK = true, e.k
		}
		code = append(code, code[head])
		code[head] = cop{kind: cGroup, k: uint32(len(groups)), jt: uint16(last.next), jf: uint16(len(code) - 1)}
		groups = append(groups, g)
	}
	return code, groups
}

// deadA reports whether A's value at pc is never read: every path from
// pc overwrites it first (a conservative look at the next few
// instructions). code is the program after fusion; group heads there
// overwrite A too, whatever happens.
func deadA(code []cop, pc int) bool {
	for range 8 {
		switch k := code[pc].kind; {
		case k == cRetK, k == cLdImm, k == cLdLen, k == cLdMem, k == cTxa,
			k == cLdW, k == cLdH, k == cLdB, k == cLdSlow, k == cLdIndW, k == cLdIndH, k == cLdIndB,
			k >= cLdWJeq && k <= cLdBJset, k >= cMshLdIndWJeq && k <= cLdIndBJset, k == cGroup:
			return true
		case k == cLdxImm, k == cLdxLen, k == cLdxMem, k == cStx, k == cMsh, k == cMshSlow:
			pc++
		case k == cJa:
			pc = int(code[pc].jt)
		default:
			return false // reads A, or might (ancillary loads: a^x)
		}
	}
	return false
}

// tests0exit is the common exit of a group's tests: the first one's
// (t's when there is none yet).
func tests0exit(tests []groupTest, t groupTest) int {
	if len(tests) == 0 {
		return t.exit
	}
	return tests[0].exit
}

// What cgroup.run found.
const (
	groupPass uint8 = iota // every test passed: A and X are set
	groupSlow              // run the tests one by one
	groupDone              // the program returned: the verdict is in A
	groupExit              // a test failed: go on at the exit with X set, A dead
)

// run runs the group's tests on pkt, with X = x before them. It is
// classicProgram.exec's cGroup operation, which has it inline, as a
// function for a program that is a single group (classicProgram.whole).
func (g *cgroup) run(pkt []byte, x uint32) (a, nx uint32, res uint8) {
	n := uint(len(pkt))
	w1, w2 := uint(g.w1), uint(g.w2)
	if w1+8 > n || w2+8 > n {
		return 0, 0, groupSlow
	}
	v1 := binary.LittleEndian.Uint64(pkt[w1 : w1+8])
	v2 := binary.LittleEndian.Uint64(pkt[w2 : w2+8])
	if (v1&g.m1^g.v1)|(v2&g.m2^g.v2) != 0 {
		if g.exitRet {
			return g.exitK, 0, groupDone
		}
		if g.exitDead {
			return 0, x, groupExit
		}
		return 0, 0, groupSlow
	}
	w := v1
	if g.aWin == 2 {
		w = v2
	}
	if g.msh {
		m := uint(g.mshOff)
		if m >= n {
			return 0, 0, groupSlow
		}
		x = uint32(pkt[m]&0xf) << 2
		o := uint(x) + uint(g.xw)
		if o+8 > n {
			return 0, 0, groupSlow
		}
		v3 := binary.LittleEndian.Uint64(pkt[o : o+8])
		if v3&g.m3^g.v3 != 0 {
			if g.exitRet {
				return g.exitK, 0, groupDone
			}
			if g.exitDead {
				return 0, x, groupExit
			}
			return 0, 0, groupSlow
		}
		if g.aWin == 3 {
			w = v3
		}
	}
	if g.okRet {
		return g.okK, 0, groupDone
	}
	if g.aWin == 0 {
		return 0, x, groupPass // A is dead
	}
	return uint32(bits.ReverseBytes64(w)>>g.aShift) & g.aMask, x, groupPass
}
