package cbpf

// Test groups: libpcap's filters start with a run of absolute loads
// compared with constants where every test either goes on to the next one
// or leaves for one common target ("ip and tcp and not a fragment": the
// ethertype, the protocol, the fragment offset, all leaving for the same
// `ret #0`). When each test going on means "these packet bits equal these
// constants" (jeq going on when true, jset going on when false, a one-bit
// jset going on when true), the whole run is two 64-bit masked compares
// on the packet: one operation, cGroup, instead of one dispatch per test.
//
// The group's instructions keep their operations, so jumps into the
// middle of a group still work. A packet too short for the group's two
// words, or failing a test when the common target is not `ret #k` (which
// may then depend on which test failed, through A), goes through the
// original operations from the group's first test instead: every path
// gives exactly what the tests one by one give.

// cgroup is a group's two 8-byte windows of the packet, little-endian,
// with the bits each test looks at and the values they must have.
type cgroup struct {
	w1, w2 uint32 // the windows' offsets
	need   uint32 // the packet length both windows need
	m1, v1 uint64
	m2, v2 uint64
	// A after the group: the last test's load, read from window 2 if
	// aWin2, else 1: (bswap(w) >> aShift) & aMask.
	aShift uint8
	aWin2  bool
	aMask  uint32
	// A failing packet's verdict when the common target is `ret #k`.
	exitRet bool
	exitK   uint32
}

// maxGroupSpan is the widest run of packet bytes a group covers: two
// 8-byte windows.
const maxGroupSpan = 16

// maxGroupTests bounds the tests of a group, and so the work of building
// groups at every instruction of a long run of tests.
const maxGroupTests = 16

// groupTest is a fused absolute load and jump as a masked equality:
// going on to next means (load & mask) == val; otherwise the run goes to
// exit.
type groupTest struct {
	off, size  uint32
	mask, val  uint32
	next, exit int
}

// asGroupTest returns the fused operation at c as a group test, or ok
// false.
func asGroupTest(c *cop) (t groupTest, ok bool) {
	if c.kind < cLdWJeq || c.kind > cLdBJset {
		return t, false
	}
	d := int(c.kind - cLdWJeq)
	t.off, t.size = c.k, [3]uint32{4, 2, 1}[d/4]
	full := uint32(1)<<(8*t.size) - 1 // 0 for words: fixed below
	if t.size == 4 {
		full = ^uint32(0)
	}
	jt, jf := int(c.jt), int(c.jf)
	switch k := c.k2; d % 4 {
	case 0: // jeq: goes on when equal
		if k&^full != 0 {
			return t, false
		}
		t.mask, t.val, t.next, t.exit = full, k, jt, jf
	case 3: // jset
		if k&full != 0 && k&full&(k&full-1) == 0 && k&^full == 0 {
			// One bit: going on when set is also an equality. Prefer
			// going on along the fall-through path.
			if jt < jf {
				t.mask, t.val, t.next, t.exit = k, k, jt, jf
				return t, true
			}
		}
		t.mask, t.val, t.next, t.exit = k&full, 0, jf, jt
	default:
		return t, false
	}
	return t, jt != jf
}

// buildGroups replaces the heads of test groups in code (after pair
// fusion) with cGroup operations and returns the code, longer by a slot
// per group (the head's own operation, for the slow path), and the
// groups.
func buildGroups(code []cop) ([]cop, []cgroup) {
	n := len(code)
	var groups []cgroup
	for head := 0; head < n; head++ {
		t, ok := asGroupTest(&code[head])
		if !ok {
			continue
		}
		var mask, val [maxGroupSpan]byte // byte i is the packet's lo+i
		lo, hi := t.off, t.off
		exit := t.exit
		var tests []groupTest
		for ok && t.exit == exit && len(tests) < maxGroupTests {
			nlo, nhi := min(lo, t.off), max(hi, t.off+t.size)
			if nhi-nlo > maxGroupSpan || !merge(&mask, &val, lo, nlo, t) {
				break
			}
			lo, hi = nlo, nhi
			tests = append(tests, t)
			t, ok = asGroupTest(&code[t.next])
		}
		if len(tests) < 2 {
			continue
		}
		last := tests[len(tests)-1]
		need := max(hi, 8)
		w2 := need - 8
		w1 := min(lo, w2)
		g := cgroup{w1: w1, w2: w2, need: need}
		for i := range hi - lo {
			o := lo + i
			if o >= w1 && o < w1+8 {
				g.m1 |= uint64(mask[i]) << (8 * (o - w1))
				g.v1 |= uint64(val[i]) << (8 * (o - w1))
			}
			if o >= w2 && o < w2+8 {
				g.m2 |= uint64(mask[i]) << (8 * (o - w2))
				g.v2 |= uint64(val[i]) << (8 * (o - w2))
			}
		}
		w := w1
		if last.off+last.size > w1+8 {
			w, g.aWin2 = w2, true
		}
		// Byte last.off-w of the window is bits 8*(7-p) of its byte
		// swap; the value's low byte is its last.
		g.aShift = uint8(8 * (8 - (last.off - w) - last.size))
		g.aMask = uint32(uint64(1)<<(8*last.size) - 1)
		if e := &code[exit]; e.kind == cRetK {
			g.exitRet, g.exitK = true, e.k
		}
		code = append(code, code[head])
		code[head] = cop{kind: cGroup, k: uint32(len(groups)), jt: uint16(last.next), jf: uint16(len(code) - 1)}
		groups = append(groups, g)
	}
	return code, groups
}

// merge adds test t to a group's bytes (byte i at packet offset lo+i),
// rebasing them from lo to nlo <= lo first; false, changing nothing, if t
// contradicts them.
func merge(mask, val *[maxGroupSpan]byte, lo, nlo uint32, t groupTest) bool {
	var m2, v2 [maxGroupSpan]byte
	d := lo - nlo
	copy(m2[d:], mask[:])
	copy(v2[d:], val[:])
	for i := range t.size {
		sh := 8 * (t.size - 1 - i)
		bm, bv := byte(t.mask>>sh), byte(t.val>>sh)
		p := t.off - nlo + i
		if common := m2[p] & bm; v2[p]&common != bv&common {
			return false
		}
		m2[p] |= bm
		v2[p] |= bv & bm
	}
	*mask, *val = m2, v2
	return true
}
