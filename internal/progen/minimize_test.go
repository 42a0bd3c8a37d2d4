package progen

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/kerneltest"
)

// nopOut replaces about a third of the removable instructions of p with
// no-operations, as Minimize does, sparing immediate moves (which
// re-initialise registers after calls) so the kernel still accepts it.
func nopOut(p *Program, seed uint64) *Program {
	r := rand.New(rand.NewPCG(seed, 1))
	body := slices.Clone(p.Body)
	unitAt := map[int]int{}
	for _, u := range p.units {
		unitAt[u[0]] = u[1] - u[0]
	}
	for n := 1; n < len(body); n++ {
		i := body[n]
		removable := !p.setup[n] && i.Class() != isa.ClassJMP && i.Class() != isa.ClassJMP32 && !p.isEpilogueStore(i) &&
			!i.IsLDDW() && i.Op() != isa.OpMOV
		width := 1
		if i.IsLDDW() {
			width = 2
		}
		if w := unitAt[n]; w > 0 {
			// Not a call: its callee would become unreachable.
			removable, width = body[n+w-1].Opcode != isa.OpcodeCall, w
		}
		if removable && r.IntN(3) == 0 {
			for k := n; k < n+width; k++ {
				body[k] = nop
			}
		}
		n += width - 1
	}
	return p.withBody(body)
}

func TestCompactStructure(t *testing.T) {
	for seed := int64(0); seed < 200; seed++ {
		p, err := Generate(seed, Options{Loops: seed%2 == 1}) // loops: backward jumps
		if err != nil {
			t.Fatal(err)
		}
		q := nopOut(p, uint64(seed))
		c := Compact(q.Body)
		nops := 0
		for _, i := range q.Body {
			if isNop(i) {
				nops++
			}
		}
		if len(c) != len(q.Body)-nops {
			t.Fatalf("seed %d: %d slots with %d no-operations compacted to %d", seed, len(q.Body), nops, len(c))
		}
		if err := isa.Validate(c); err != nil {
			t.Fatalf("seed %d: compacted program invalid: %v", seed, err)
		}
		// Every jump must land on the instruction its original target
		// (or the first instruction after the no-operations there) became.
		var kept []int // kept[k] = original index of compacted slot k
		for n := 0; n < len(q.Body); n++ {
			if !isNop(q.Body[n]) {
				kept = append(kept, n)
			}
		}
		for k := range c {
			n := kept[k]
			tq, ok := isa.Target(q.Body, n)
			if !ok {
				continue
			}
			for tq < len(q.Body) && isNop(q.Body[tq]) {
				tq++
			}
			tc, _ := isa.Target(c, k)
			if kept[tc] != tq {
				t.Fatalf("seed %d: slot %d (was %d) jumps to %d (was %d), want the slot that was %d", seed, k, n, tc, kept[tc], tq)
			}
		}
	}
	if got := Compact([]isa.Instruction{nop, {Opcode: isa.OpcodeJA32}, {Opcode: isa.OpcodeExit}}); len(got) != 1 {
		t.Errorf("Compact left %v", got)
	}
}

// TestCompactKernel checks on the kernel that compacting changes nothing.
func TestCompactKernel(t *testing.T) {
	kerneltest.Require(t)
	for seed := int64(0); seed < 100; seed++ {
		p, err := Generate(seed, Options{Loops: seed%2 == 1}) // loops: backward jumps
		if err != nil {
			t.Fatal(err)
		}
		q := nopOut(p, uint64(seed))
		c := q.withBody(Compact(q.Body))
		var outs [2][]byte
		for k, prog := range []*Program{q, c} {
			ret, out, _, err := kerneltest.RunXDP(prog.Kernel, prog.Memory, 1)
			if err != nil {
				t.Fatalf("seed %d program %d: %v", seed, k, err)
			}
			outs[k] = append(out, byte(ret), byte(ret>>8), byte(ret>>16), byte(ret>>24))
		}
		if !bytes.Equal(outs[0], outs[1]) {
			t.Fatalf("seed %d: compacting changed the outcome", seed)
		}
	}
}

// TestMinimize shrinks programs against an artificial "bug": a 64-bit
// multiplication by a register that the kernel accepts.
func TestMinimize(t *testing.T) {
	kerneltest.Require(t)
	isMul := func(i isa.Instruction) bool { return i.Opcode == isa.ClassALU64|isa.OpMUL|isa.SrcX }
	found := 0
	for seed := int64(0); seed < 40 && found < 5; seed++ {
		// Without calls, which stay with the re-initialisations after them.
		p, err := Generate(seed, Options{NoCalls: true})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(p.Body, isMul) {
			continue
		}
		found++
		calls := 0
		fails := func(c *Program) bool {
			calls++
			prog, err := kerneltest.Load(ebpf.XDP, c.Kernel)
			if err != nil {
				return false
			}
			prog.Close()
			return slices.ContainsFunc(c.Body, isMul)
		}
		before := slices.Clone(p.Body)
		m := Minimize(p, fails, 2000)
		if !slices.Equal(p.Body, before) {
			t.Fatal("Minimize modified its argument")
		}
		if !fails(m) {
			t.Fatalf("seed %d: the minimised program no longer fails", seed)
		}
		// What must stay: the set-up, at most a few mul with their
		// enclosing jumps, the epilogue and the exits.
		setup := 0
		for _, s := range p.setup {
			if s {
				setup++
			}
		}
		if limit := setup + 10 + 10; len(m.Body) > limit {
			t.Errorf("seed %d: minimised to %d slots (from %d), want at most %d:\n%s", seed, len(m.Body), len(p.Body), limit, listing(m.Body))
		}
		if calls > 2001 {
			t.Errorf("seed %d: %d calls of fails, more than the limit", seed, calls)
		}
		t.Logf("seed %d: %d slots minimised to %d with %d trials", seed, len(p.Body), len(m.Body), calls)
	}
	if found == 0 {
		t.Fatal("no program with a 64-bit register multiplication")
	}
}

// TestMinimizeKeepsPrograms minimises programs with calls, pointer
// arguments and loops against "the kernel accepts it and it still has a
// 64-bit register multiplication": every candidate Minimize settles on must
// load, and it must be smaller.
func TestMinimizeKeepsPrograms(t *testing.T) {
	kerneltest.Require(t)
	isMul := func(i isa.Instruction) bool { return i.Opcode == isa.ClassALU64|isa.OpMUL|isa.SrcX }
	accepts := func(c *Program) bool {
		prog, err := kerneltest.Load(ebpf.XDP, c.Kernel)
		if err != nil {
			return false
		}
		prog.Close()
		return true
	}
	done := 0
	for seed := int64(0); seed < 60 && done < 6; seed++ {
		p, err := Generate(seed, Options{Insns: 128, Loops: true})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(p.Body, isMul) || !slices.ContainsFunc(p.Body, func(i isa.Instruction) bool { return i.Opcode == isa.OpcodeCall }) {
			continue
		}
		done++
		m := Minimize(p, func(c *Program) bool { return slices.ContainsFunc(c.Body, isMul) && accepts(c) }, 3000)
		if !accepts(m) || !slices.ContainsFunc(m.Body, isMul) {
			t.Fatalf("seed %d: the minimised program lost the property", seed)
		}
		if len(m.Body) >= len(p.Body) {
			t.Errorf("seed %d: not minimised (%d slots)", seed, len(p.Body))
		}
		if err := checkStructure(m); err != nil {
			t.Errorf("seed %d: the minimised program breaks the generator's invariants: %v", seed, err)
		}
	}
	if done == 0 {
		t.Fatal("no program with both a call and a 64-bit register multiplication")
	}
}
