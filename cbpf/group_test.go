package cbpf

import (
	"math/rand/v2"
	"testing"
)

// TestGroupHTTP checks that issue 6's program is one group returning both
// ways (the fast path the benchmark measures) and what it gives.
func TestGroupHTTP(t *testing.T) {
	p := compileClassic(httpProgram)
	if p.whole == nil || len(p.groups) == 0 {
		t.Fatalf("no whole-program group: %+v", p.code)
	}
	g := p.whole
	if !g.msh || g.mshOff != 14 || g.okK != 262144 || g.exitK != 0 {
		t.Fatalf("group %+v", *g)
	}
	for _, c := range []struct {
		pkt  []byte
		want uint32
		res  uint8
	}{
		{tcpFrame(80, 5, 0), 262144, groupDone},
		{tcpFrame(80, 7, 0), 262144, groupDone},
		{tcpFrame(81, 5, 0), 0, groupDone},
		{tcpFrame(80, 5, 0x10), 0, groupDone},
		{tcpFrame(80, 5, 0)[:37], 0, groupSlow}, // too short for the port's window
		{tcpFrame(80, 11, 0), 0, groupSlow},     // the port window passes the end
		{nil, 0, groupSlow},
	} {
		v, _, res := g.run(c.pkt, 0)
		if res != c.res || res == groupDone && v != c.want {
			t.Errorf("run(% x) = %d, %d; want %d, %d", c.pkt, v, res, c.want, c.res)
		}
		if got := p.run(c.pkt, nil); got != Eval(httpProgram, c.pkt, nil) {
			t.Errorf("classic(% x) = %d, Eval %d", c.pkt, got, Eval(httpProgram, c.pkt, nil))
		}
	}
}

// groupProgram returns a random program shaped like libpcap's output:
// tests of packet fields against constants (often the template packet's
// values), absolute ones, then maybe an msh and indirect ones, each going
// on to the next or leaving, mostly for a common target; the targets
// return constants, A or X.
//
// A strict program's tests all go on when equal and leave for the common
// target, and its targets return constants: one group, often.
func groupProgram(r *rand.Rand, tmpl []byte, strict bool) []Instruction {
	type test struct {
		load   Instruction
		msh    bool
		jump   uint16
		k      uint32
		onTrue bool // going on when the condition holds
		exit   int  // where it leaves for: 0 common, 1 ok, 2 other
	}
	field := func(off, size uint32) uint32 {
		var v uint32
		for i := range size {
			v <<= 8
			if int(off+i) < len(tmpl) {
				v |= uint32(tmpl[off+i])
			}
		}
		return v
	}
	var tests []test
	msh := false
	x := uint32(4 * (tmpl[14] & 0xf))
	for range 2 + r.IntN(7) {
		var t test
		size := []uint32{4, 2, 1}[r.IntN(3)]
		sizeOp := map[uint32]uint16{4: SizeW, 2: SizeH, 1: SizeB}[size]
		var off, val uint32
		switch {
		case !msh && r.IntN(4) == 0:
			msh = true
			tests = append(tests, test{load: Stmt(OpLDXMSH, 14), msh: true})
			continue
		case msh && r.IntN(3) > 0:
			off = 12 + uint32(r.IntN(8))
			t.load = Stmt(ClassLD|ModeIND|sizeOp, off)
			val = field(x+off, size)
		default:
			off = 8 + uint32(r.IntN(16)) // groups span at most 16 bytes
			if r.IntN(8) == 0 {
				off = uint32(r.IntN(64))
			}
			t.load = Stmt(ClassLD|ModeABS|sizeOp, off)
			val = field(off, size)
		}
		t.jump = []uint16{JmpJEQ, JmpJEQ, JmpJEQ, JmpJSET, JmpJGT, JmpJGE}[r.IntN(6)]
		switch t.jump {
		case JmpJEQ:
			t.k, t.onTrue = val, r.IntN(10) > 0
			if r.IntN(8) == 0 {
				t.k = r.Uint32() >> (r.IntN(4) * 8)
			}
		case JmpJSET:
			t.k = uint32(1) << r.IntN(int(8*size))
			if r.IntN(2) == 0 {
				t.k = r.Uint32()
			}
			t.onTrue = val&t.k != 0
			if r.IntN(5) == 0 {
				t.onTrue = !t.onTrue
			}
		default:
			t.k, t.onTrue = val-uint32(r.IntN(2)), r.IntN(2) == 0
		}
		t.exit = []int{0, 0, 0, 0, 0, 0, 0, 0, 1, 2}[r.IntN(10)]
		if strict {
			t.jump, t.k, t.onTrue, t.exit = JmpJEQ, val, true, 0
		}
		tests = append(tests, t)
	}
	// Lay out: the tests, then the labels ok, common, other.
	var prog []Instruction
	var fix []func()
	start := make([]int, len(tests)+1)
	for i, t := range tests {
		start[i] = len(prog)
		prog = append(prog, t.load)
		if t.msh {
			continue
		}
		at := len(prog)
		prog = append(prog, Jump(ClassJMP|t.jump, t.k, 0, 0))
		fix = append(fix, func() {
			next := start[i+1]
			exit := start[len(tests)+[]int{1, 0, 2}[t.exit]]
			on, off := next, exit
			if !t.onTrue {
				on, off = exit, next
			}
			prog[at].Jt, prog[at].Jf = uint8(on-at-1), uint8(off-at-1)
		})
	}
	start[len(tests)] = len(prog) // ok
	rets := [][]Instruction{
		{Stmt(OpRetK, 0x40000)}, {Stmt(OpRetA, 0)}, {Stmt(OpTXA, 0), Stmt(OpRetA, 0)}, {Stmt(OpRetK, 0)},
	}
	ret := func() []Instruction {
		if strict {
			return []Instruction{Stmt(OpRetK, r.Uint32N(3))}
		}
		return rets[r.IntN(len(rets))]
	}
	prog = append(prog, ret()...)
	start = append(start, len(prog)) // common
	prog = append(prog, ret()...)
	start = append(start, len(prog)) // other
	prog = append(prog, rets[r.IntN(len(rets))]...)
	for _, f := range fix {
		f()
	}
	return prog
}

// TestGroupsAgree: libpcap-shaped random programs on packets near a
// template (which their tests mostly match) give Eval's verdict on the
// classic engine, through every entry, and most of them make groups.
func TestGroupsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	programs, grouped, whole := 3000, 0, 0
	if testing.Short() {
		programs = 300
	}
	for range programs {
		tmpl := randomPacket(r)
		for len(tmpl) < 64 {
			tmpl = append(tmpl, byte(r.IntN(256)))
		}
		tmpl[14] = byte(r.IntN(16)) // X = 4*(tmpl[14]&0xf) <= 60
		prog := groupProgram(r, tmpl, r.IntN(3) == 0)
		if err := Check(prog); err != nil {
			t.Fatalf("generator: %v\n%s", err, FormatListing(prog))
		}
		p := compileClassic(prog)
		if len(p.groups) > 0 {
			grouped++
		}
		if p.whole != nil {
			whole++
		}
		f, err := NewFilter(prog, Options{Engine: EngineClassic})
		if err != nil {
			t.Fatal(err)
		}
		m := f.NewMatcher()
		var pkts [][]byte
		for k := range 12 {
			pkt := append([]byte(nil), tmpl...)
			switch k % 4 {
			case 1:
				pkt[r.IntN(len(pkt))] ^= byte(1 << r.IntN(8))
			case 2:
				pkt = pkt[:r.IntN(len(pkt)+1)]
			case 3:
				pkt[14] = byte(r.IntN(256))
			}
			pkts = append(pkts, pkt)
			want := Eval(prog, pkt, nil)
			if got := p.run(pkt, nil); got != want {
				t.Fatalf("classic = %#x, Eval %#x\npacket % x\n%s", got, want, pkt, FormatListing(prog))
			}
			if got, err := m.Match(pkt, nil); err != nil || got != want {
				t.Fatalf("Matcher.Match = %#x, %v; Eval %#x\npacket % x\n%s", got, err, want, pkt, FormatListing(prog))
			}
			md := &Metadata{WireLen: 1500}
			if got, err := f.Match(pkt, md); err != nil || got != Eval(prog, pkt, md) {
				t.Fatalf("Filter.Match = %#x, %v; Eval %#x\npacket % x\n%s", got, err, Eval(prog, pkt, md), pkt, FormatListing(prog))
			}
		}
		checkBatch(t, prog, f, m, pkts, make([]uint32, len(pkts)))
		m.Close()
	}
	if grouped < programs/4 || whole < programs/10 {
		t.Fatalf("%d of %d programs have groups, %d a whole-program group", grouped, programs, whole)
	}
	t.Logf("%d of %d programs have groups, %d a whole-program group", grouped, programs, whole)
}

// FuzzGroups runs libpcap-shaped programs (groupProgram, from the seed)
// on the fuzzer's packet and on the template the programs were made for,
// on the classic engine and Eval.
func FuzzGroups(f *testing.F) {
	f.Add(uint64(1), false, tcpFrame(80, 5, 0))
	f.Add(uint64(2), true, tcpFrame(80, 7, 0))
	f.Add(uint64(3), true, tcpFrame(80, 5, 0)[:30])
	f.Add(uint64(4), false, []byte{})
	f.Fuzz(func(t *testing.T, seed uint64, strict bool, pkt []byte) {
		r := rand.New(rand.NewPCG(seed, 0))
		tmpl := append([]byte(nil), pkt...)
		for len(tmpl) < 64 {
			tmpl = append(tmpl, byte(r.IntN(256)))
		}
		tmpl[14] &= 0xf
		prog := groupProgram(r, tmpl, strict)
		p := compileClassic(prog)
		for _, pk := range [][]byte{pkt, tmpl} {
			if got, want := p.run(pk, nil), Eval(prog, pk, nil); got != want {
				t.Fatalf("classic = %#x, Eval %#x\npacket % x\n%s", got, want, pk, FormatListing(prog))
			}
		}
	})
}
