package interp

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"unsafe"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// fusionCase is a program with a superinstruction at slot at.
type fusionCase struct {
	name string
	src  string
	at   int
	kind uint8
	want uint64 // r0 of a full run
}

// fusionPacket is the packet the fusion tests run with (legacy loads).
var fusionPacket = []byte{0x81, 0x02, 0xf3, 0x04, 0x05, 0x86, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10}

func fusionCases() []fusionCase {
	cases := []fusionCase{
		{"mov-add", "mov %r1, %r10\nadd %r1, -8\nmov %r0, %r1\nsub %r0, %r10\nexit", 0, opMovXAddK, 0xfffffffffffffff8},
		{"mov-add-lddw", "mov %r2, %r10\nadd %r2, -4\nlddw %r1, 0x123456789\nmov %r0, %r2\nsub %r0, %r10\nadd %r0, %r1\nexit", 0, opMovXAddKLddw, 0x123456785},
		{"mov32-stxw", "mov32 %r1, -7\nstxw [%r10-4], %r1\nldxdw %r0, [%r10-8]\nexit", 0, opMov32KStxW, 0xfffffff900000000},
		{"mov-stxdw", "mov %r1, -3\nstxdw [%r10-8], %r1\nldxdw %r0, [%r10-8]\nexit", 0, opMov64KStxDW, 0xfffffffffffffffd},
		{"mov-mov", "mov %r3, 5\nmov %r4, 6\nmov %r0, %r3\nmov %r5, %r4\nadd %r0, %r5\nexit", 2, opMovXMovX, 11},
		{"mov64k-mov64k", "mov %r3, -5\nmov %r4, 6\nmov %r0, %r3\nmov %r5, %r4\nadd %r0, %r5\nexit", 0, opMov64KMov64K, 1},
		{"mov-mov32", "mov %r3, 5\nneg %r3\nmov %r0, %r3\nmov32 %r4, -1\nadd %r0, %r4\nexit", 2, opMovXMov32K, 0xfffffffa},
		{"mov-mov64", "mov %r3, 5\nneg %r3\nmov %r0, %r3\nmov %r4, -1\nadd %r0, %r4\nexit", 2, opMovXMov64K, 0xfffffffffffffffa},
		{"mov32-mov32", "mov32 %r0, -1\nmov32 %r1, 2\nadd %r0, %r1\nexit", 0, opMov32KMov32K, 0x100000001},
		{"ldxdw-add", "mov %r6, 10\nldxdw %r2, [%r1+8]\nadd %r6, %r2\nmov32 %r0, 0\nadd %r0, %r6\nexit", 1, opLdxDWAdd64X, 10 + 0x100f0e0d0c0b0a09},
		{"add-mov", "mov %r1, 3\nmov %r6, 4\nadd %r1, %r6\nmov %r6, %r1\nmov %r0, %r6\nexit", 2, opAdd64XMovX, 7},
		{"mov32-exit", "mov %r0, -1\nmov32 %r0, 9\nexit", 1, opMov32KExit, 9},
		{"msh", "mov %r7, 9\nldabsb 5\nand32 %r0, 0xf\nlsh32 %r0, 2\nmov32 %r7, %r0\nadd %r0, %r7\nexit", 1, opLdAbsBMsh, 48},
		{"msh-x-is-r3", "mov %r3, 9\nldabsb 5\nand32 %r0, 0xf\nlsh32 %r0, 2\nmov32 %r3, %r0\nadd %r0, %r3\nexit", 1, opLdAbsBMsh, 48},
		{"mov32-exit-callee", "call local f\nadd %r0, 1\nexit\nf:\nmov32 %r0, 5\nexit", 3, opMov32KExit, 6},
	}
	// Loop counters: r1 steps by 3 from 0 until the jump leaves the loop.
	for _, j := range []struct {
		op    string
		kind  uint8
		loops bool // the jump goes back to the loop (else it leaves it)
		cond  func(r1 uint64) bool
	}{
		{"jeq", opAdd64KJeqK, false, func(r uint64) bool { return r == 30 }},
		{"jne", opAdd64KJeqK, true, func(r uint64) bool { return r != 30 }},
		{"jgt", opAdd64KJgtK, false, func(r uint64) bool { return r > 30 }},
		{"jle", opAdd64KJgtK, true, func(r uint64) bool { return r <= 30 }},
		{"jge", opAdd64KJgeK, false, func(r uint64) bool { return r >= 30 }},
		{"jlt", opAdd64KJgeK, true, func(r uint64) bool { return r < 30 }},
	} {
		var want uint64
		for r1 := uint64(0); ; {
			want++
			r1 += 3
			if j.cond(r1) != j.loops {
				break
			}
		}
		for _, x := range []bool{false, true} {
			operand, kind := "30", j.kind
			if x {
				operand, kind = "%r2", kind+1
			}
			body := fmt.Sprintf("loop:\nadd %%r0, 1\nadd %%r1, 3\n%s %%r1, %s, loop\nexit", j.op, operand)
			if !j.loops {
				body = fmt.Sprintf("loop:\nadd %%r0, 1\nadd %%r1, 3\n%s %%r1, %s, done\nja loop\ndone:\nexit", j.op, operand)
			}
			cases = append(cases, fusionCase{fmt.Sprintf("add-%s-%v", j.op, x), "mov %r0, 0\nmov %r1, 0\nmov %r2, 30\n" + body, 4, kind, want})
		}
	}
	// Legacy loads and a 32-bit jump on r0: r0 is the loaded value on the
	// taken path plus r3, which the load must have zeroed.
	for li, l := range []struct{ op, operand string }{
		{"ldabsb", "5"}, {"ldabsh", "1"}, {"ldabsw", "2"},
		{"ldindb", "%r6, 3"}, {"ldindh", "%r6, -1"}, {"ldindw", "%r6, 0"},
	} {
		off, size := []int{5, 1, 2, 5, 1, 2}[li], []int{1, 2, 4}[li%3]
		var v uint64
		for _, b := range fusionPacket[off : off+size] {
			v = v<<8 | uint64(b)
		}
		for ji, j := range []struct {
			op   string
			cond func(v, k uint64) bool
		}{
			{"jeq32", func(v, k uint64) bool { return v == k }},
			{"jne32", func(v, k uint64) bool { return v != k }},
			{"jgt32", func(v, k uint64) bool { return v > k }},
			{"jle32", func(v, k uint64) bool { return v <= k }},
			{"jge32", func(v, k uint64) bool { return v >= k }},
			{"jlt32", func(v, k uint64) bool { return v < k }},
			{"jset32", func(v, k uint64) bool { return v&k != 0 }},
		} {
			cond := []uint8{0, 0, 1, 1, 2, 2, 3}[ji]
			for _, k := range []uint64{v - 1, v, v + 1, 0x80} {
				want := uint64(2)
				if j.cond(v, k) {
					want = v
				}
				src := fmt.Sprintf("mov %%r6, 2\nmov %%r3, 100\n%s %s\n%s %%r0, %#x, yes\nmov32 %%r0, 2\nexit\nyes:\nadd %%r0, %%r3\nexit", l.op, l.operand, j.op, k)
				cases = append(cases, fusionCase{fmt.Sprintf("%s-%s-%#x", l.op, j.op, k), src, 2, opLdAbsBJeq + 4*uint8(li) + cond, want})
			}
		}
	}
	return append(cases, mapGroupCases()...)
}

// fusionMem is the memory the fusion tests run with: bytes 1..16.
func fusionMem() []byte {
	m := make([]byte, 16)
	for i := range m {
		m[i] = byte(i + 1)
	}
	return m
}

// checkAgainstStepping runs p with every budget from 1 to one past what a
// full run executes (up to 300, then the last ten) and compares each run, fused, with stepping through
// the unfused instructions one at a time. It returns the full run.
func checkAgainstStepping(t *testing.T, p *Program, pkt []byte) runOutcome {
	t.Helper()
	vm := p.NewVM()
	mem := fusionMem()
	buf := make([]byte, len(mem))
	run := func(budget uint64, step bool) runOutcome {
		vm.SetBudget(budget)
		vm.setStepAll(step)
		copy(buf, mem)
		r0, err := vm.RunWithPacket(buf, pkt)
		o := runOutcome{r0: r0, executed: vm.Executed(), mem: append([]byte(nil), buf...)}
		if err != nil {
			o.err = err.Error()
		}
		return o
	}
	defer func() { vm.setStepAll(false); vm.SetBudget(0) }()
	// A jump into the middle of a loop may make it endless: the budget
	// ends it.
	full := run(3000, false)
	if s := run(3000, true); !sameOutcome(full, s) {
		t.Fatalf("full run: fused %+v, stepped %+v", full, s)
	}
	for budget := uint64(1); budget <= full.executed+1; budget++ {
		if budget > 300 && budget < full.executed-10 {
			budget = full.executed - 10
		}
		a, b := run(budget, false), run(budget, true)
		if !sameOutcome(a, b) {
			t.Fatalf("budget %d: fused %+v, stepped %+v", budget, a, b)
		}
		if budget < full.executed && a.executed != budget {
			t.Fatalf("budget %d: executed %d", budget, a.executed)
		}
	}
	return full
}

func loadFusion(t *testing.T, src string) (*Program, []isa.Instruction) {
	t.Helper()
	insns, err := asm.Assemble(src)
	if err != nil {
		t.Fatalf("assemble: %v\n%s", err, src)
	}
	p, err := Load(insns, fusionOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	return p, insns
}

// TestFusedPairs runs every superinstruction: the result of a full run,
// budgets ending anywhere (inside the pair too), and a jump straight to
// the pair's second instruction, each against unfused stepping.
func TestFusedPairs(t *testing.T) {
	seen := map[uint8]bool{}
	for _, c := range fusionCases() {
		t.Run(c.name, func(t *testing.T) {
			p, insns := loadFusion(t, c.src)
			if got := p.code[c.at].kind; got != c.kind {
				t.Fatalf("slot %d has kind %d, want %d (not fused?)\n%s", c.at, got, c.kind, isa.FormatProgram(insns))
			}
			seen[c.kind] = true
			full := checkAgainstStepping(t, p, fusionPacket)
			if full.err != "" || full.r0 != c.want {
				t.Fatalf("r0 = %#x, %s; want %#x", full.r0, full.err, c.want)
			}

			// The same program entered by a jump to the pair's second
			// instruction: the first must not run.
			jumped := append([]isa.Instruction{{Opcode: isa.OpcodeJA, Offset: int16(c.at + 1)}}, insns...)
			pj, err := Load(jumped, fusionOptions(t))
			if err != nil {
				t.Fatal(err)
			}
			if pj.code[c.at+1].kind != c.kind {
				t.Fatalf("the shifted program is not fused at %d", c.at+1)
			}
			checkAgainstStepping(t, pj, fusionPacket)
		})
	}
	for k := opMovXAddK; k < numOps; k++ {
		if !seen[k] {
			t.Errorf("no test runs superinstruction kind %d", k)
		}
	}
}

// TestFusedFaults checks errors inside superinstructions: they name the
// instruction that failed (the second of the pair when it is the store)
// and count what ran, and leave the first half's effect behind.
func TestFusedFaults(t *testing.T) {
	for _, c := range []struct {
		name  string
		src   string
		kind  uint8
		index int
		text  string
	}{
		{"mov32-stxw-second", "mov %r0, 0\nmov32 %r1, 1\nstxw [%r10+4], %r1\nexit", opMov32KStxW, 2, "write of 4 bytes"},
		{"mov-stxdw-second", "mov %r0, 0\nmov %r1, 1\nstxdw [%r1+0], %r1\nexit", opMov64KStxDW, 2, "null or near-null"},
		{"ldxdw-add-first", "mov %r0, 0\nldxdw %r2, [%r1+9]\nadd %r0, %r2\nexit", opLdxDWAdd64X, 1, "read of 8 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, _ := loadFusion(t, c.src)
			if p.code[1].kind != c.kind {
				t.Fatalf("slot 1 is not fused")
			}
			vm := p.NewVM()
			_, err := vm.Run(fusionMem())
			checkErr(t, err, engine.ErrOutOfBounds, c.index, c.text)
			if vm.Executed() != uint64(c.index+1) {
				t.Errorf("executed %d, want %d", vm.Executed(), c.index+1)
			}
			checkAgainstStepping(t, p, nil)
		})
	}
	// A legacy load outside the packet ends the program with 0, fused or not.
	for _, src := range []string{
		"mov %r0, 7\nldabsh 15\njeq32 %r0, 1, +1\nexit\nmov %r0, 3\nexit",
		"mov %r6, 14\nldindw %r6, -1\njne32 %r0, 1, +1\nexit\nmov %r0, 3\nexit",
		"mov %r0, 7\nldabsb 16\nand32 %r0, 0xf\nlsh32 %r0, 2\nmov32 %r7, %r0\nexit",
	} {
		p, _ := loadFusion(t, src)
		if k := p.code[1].kind; k < opLdAbsBJeq {
			t.Fatalf("%q: slot 1 is not fused", src)
		}
		full := checkAgainstStepping(t, p, fusionPacket)
		if full.r0 != 0 || full.err != "" || full.executed != 2 {
			t.Errorf("%q: %+v, want r0 0 after 2 instructions", src, full)
		}
	}
}

// TestFusedRegionMiss: a fused load whose address lies in a region the
// hot loop has not cached goes through the driver and then runs fused.
func TestFusedRegionMiss(t *testing.T) {
	other := make([]byte, 8)
	binary.LittleEndian.PutUint64(other, 40)
	helpers := engine.Helpers{1: func(env engine.Env, _, _, _, _, _ uint64) (uint64, error) {
		env.AddRegion(other, false)
		return uint64(addrOf(other)), nil
	}}
	for _, c := range []struct {
		src  string
		kind uint8
	}{
		{"mov %r6, 2\ncall 1\nldxdw %r1, [%r0+0]\nadd %r6, %r1\nmov %r0, %r6\nexit", opLdxDWAdd64X},
		{"mov %r6, 2\ncall 1\nldxdw %r1, [%r0+0]\nadd %r1, %r6\nmov %r6, %r1\nmov %r0, %r6\nexit", opLdxDWAddMovX},
	} {
		insns, err := asm.Assemble(c.src)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Load(insns, Options{Helpers: helpers})
		if err != nil {
			t.Fatal(err)
		}
		if p.code[2].kind != c.kind {
			t.Fatal("slot 2 is not fused")
		}
		vm := p.NewVM()
		want := uint64(len(insns))
		if r0, err := vm.Run(fusionMem()); r0 != 42 || err != nil || vm.Executed() != want {
			t.Fatalf("%q: r0 = %d, %v, executed %d; want 42 after %d", c.src, r0, err, vm.Executed(), want)
		}
	}
}

// TestHTTPFilterFused: the translated classic filter the issue measures
// runs its packet loads fused with their jumps.
func TestHTTPFilterFused(t *testing.T) {
	for _, prog := range [][]isa.Instruction{httpFilter, httpFilterTrimmed} {
		checkHTTPFused(t, prog)
	}
}

func checkHTTPFused(t *testing.T, prog []isa.Instruction) {
	p, err := Load(prog, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fused, msh := 0, 0
	for n, o := range p.code {
		if o.kind >= opLdAbsBJeq && o.kind <= opLdIndWJset {
			fused++
		}
		if o.kind == opLdAbsBMsh {
			msh++
		}
		if o.kind != p.plain[n].kind && o.kind < opMovXAddK {
			t.Errorf("slot %d: fused kind %d is not a superinstruction", n, o.kind)
		}
	}
	if fused != 4 || msh != 1 {
		t.Errorf("%d legacy loads fused with their jump, want 4; %d ldxb 4*([k]&0xf) fused, want 1", fused, msh)
	}
	for _, port := range []uint16{80, 81} {
		full := checkAgainstStepping(t, p, tcpFrame(port))
		if want := map[uint16]uint64{80: 262144, 81: 0}[port]; full.r0 != want || full.err != "" {
			t.Errorf("port %d: %+v, want r0 %d", port, full, want)
		}
	}
}

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// TestPureRuns: programs that only compute on registers and read the
// packet run without the run set-up (VM.run) and give what the general
// path gives (a context that is never cancelled forces it), including
// Executed, a legacy load outside the packet (the fast path gives up and the run
// starts again) and a budget too small for the program.
func TestPureRuns(t *testing.T) {
	for _, c := range []struct {
		src  string
		pure bool
	}{
		{"mov %r0, 2\nexit", true},
		{"ldabsh 12\njne32 %r0, 0x800, +2\nmov32 %r0, 1\nexit\nmov32 %r0, 0\nexit", true},
		{"lddw %r0, 0x123456789\nldindb %r1, 3\nexit", true},
		{"mov %r0, 0\nloop:\nadd %r0, 1\njlt %r0, 5, loop\nexit", false}, // a loop
		{"ldxb %r0, [%r1]\nexit", false},
		{"stb [%r10-1], 1\nmov %r0, 0\nexit", false},
		{"call 1\nexit", false},
		{"call local f\nexit\nf:\nmov %r0, 1\nexit", false},
	} {
		insns, err := asm.Assemble(c.src)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Load(insns, Options{Helpers: engine.Helpers{1: func(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) { return 0, nil }}})
		if err != nil {
			t.Fatal(err)
		}
		if p.pure != c.pure {
			t.Errorf("%q: pure = %v, want %v", c.src, p.pure, c.pure)
		}
		ctx, cancel := context.WithCancel(context.Background())
		for _, pkt := range [][]byte{tcpFrame(80), {0x08}, nil} {
			for _, budget := range []uint64{0, 1, 2, 3} {
				fast, general := p.NewVM(), p.NewVM()
				fast.SetBudget(budget)
				general.SetBudget(budget)
				general.SetContext(ctx)
				mem := fusionMem()
				r0, err := fast.RunWithPacket(mem, pkt)
				gr0, gerr := general.RunWithPacket(mem, pkt)
				if r0 != gr0 || fmt.Sprint(err) != fmt.Sprint(gerr) || fast.Executed() != general.Executed() {
					t.Errorf("%q, packet % x, budget %d: %#x, %v after %d; general path %#x, %v after %d",
						c.src, pkt, budget, r0, err, fast.Executed(), gr0, gerr, general.Executed())
				}
			}
		}
		cancel()
	}
	// The HTTP filter runs pure on a frame, and falls back on a short one.
	p, err := Load(httpFilter, Options{})
	if err != nil || !p.pure {
		t.Fatalf("httpFilter: pure %v, %v", p != nil && p.pure, err)
	}
	vm := p.NewVM()
	if r0, err := vm.RunWithPacket(nil, tcpFrame(80)); r0 != 262144 || err != nil || vm.Executed() != 19 {
		t.Errorf("frame: %d, %v after %d", r0, err, vm.Executed())
	}
	if r0, err := vm.RunWithPacket(nil, make([]byte, 13)); r0 != 0 || err != nil || vm.Executed() != 4 {
		t.Errorf("short frame: %d, %v after %d", r0, err, vm.Executed())
	}
}
