package progen

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/kerneltest"
)

func TestDeterministic(t *testing.T) {
	for seed := int64(0); seed < 20; seed++ {
		a, err := Generate(seed, Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Generate(seed, Options{})
		if !slices.Equal(a.Kernel, b.Kernel) || !bytes.Equal(a.Memory, b.Memory) {
			t.Fatalf("seed %d: two generations differ", seed)
		}
	}
	a, _ := Generate(1, Options{})
	b, _ := Generate(2, Options{})
	if slices.Equal(a.Body, b.Body) {
		t.Error("seeds 1 and 2 give the same program")
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, o := range []Options{
		{Insns: -1}, {Insns: maxInsns + 1}, {BufSize: 12}, {BufSize: 4}, {BufSize: 4096},
		{StackSize: 7}, {StackSize: 8}, {StackSize: 512}, {MaxDepth: -1},
	} {
		if _, err := Generate(0, o); !errors.Is(err, ErrOptions) {
			t.Errorf("Generate(%+v) error = %v, want ErrOptions", o, err)
		}
	}
}

// checkStructure verifies, independently of the generator's code, the
// properties the package documentation promises.
func checkStructure(p *Program) error {
	if err := isa.Validate(p.Body); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	if err := isa.Validate(p.Kernel); err != nil {
		return fmt.Errorf("kernel program: %w", err)
	}
	if !slices.Equal(p.Kernel[p.PrologueLen:], p.Body) {
		return errors.New("Kernel does not end with Body")
	}
	if len(p.Memory) != p.BufSize+8*NumSavedRegisters || p.RegsOffset != p.BufSize {
		return fmt.Errorf("memory %d bytes, buffer %d, register area at %d", len(p.Memory), p.BufSize, p.RegsOffset)
	}
	b := p.Body
	if b[0] != movX(isa.ClassALU64, isa.R9, isa.R1) {
		return fmt.Errorf("body starts with %v, not r9 = r1", b[0])
	}
	// ptr[n] marks the slots of pointer units, which checkPointerUnit
	// checks instead.
	ptr := map[int]bool{}
	for _, u := range p.units {
		if err := checkPointerUnit(b[u[0]:u[1]]); err != nil {
			return fmt.Errorf("slots %d..%d: %w", u[0], u[1]-1, err)
		}
		if b[u[0]].Opcode == isa.ClassALU64|isa.OpMOV|isa.SrcX {
			for n := u[0]; n < u[1]; n++ {
				ptr[n] = true
			}
		}
	}
	inCallee := false // after the main function's exit, r1 may be a pointer
	for n := 1; n < len(b); n++ {
		i := b[n]
		if i.Opcode == isa.OpcodeExit {
			inCallee = true
		}
		if t, ok := isa.Target(b, n); ok && t <= n {
			if err := checkLoop(b, t, n); err != nil {
				return fmt.Errorf("slot %d (%v) jumps backwards to %d: %w", n, i, t, err)
			}
		}
		if i.IsLDDW() {
			n++
		}
		if ptr[n] {
			continue
		}
		switch i.Class() {
		case isa.ClassALU, isa.ClassALU64, isa.ClassLD, isa.ClassLDX:
			if i.Dst > isa.R8 {
				return fmt.Errorf("slot %d (%v) writes r%d", n, i, i.Dst)
			}
			if i.Class() == isa.ClassLDX {
				if err := checkAccess(p, i, inCallee); err != nil {
					return fmt.Errorf("slot %d (%v): %w", n, i, err)
				}
			} else if i.Source() == isa.SrcX && i.Src > isa.R8 && i.Class() != isa.ClassLD {
				return fmt.Errorf("slot %d (%v) computes on r%d", n, i, i.Src)
			}
		case isa.ClassST, isa.ClassSTX:
			if err := checkAccess(p, i, inCallee); err != nil {
				return fmt.Errorf("slot %d (%v): %w", n, i, err)
			}
			if i.Class() == isa.ClassSTX && i.Src > isa.R8 {
				return fmt.Errorf("slot %d (%v) stores r%d", n, i, i.Src)
			}
			if i.Mode() == isa.ModeATOMIC && i.Dst != isa.R10 {
				return fmt.Errorf("slot %d (%v): atomic outside the stack", n, i)
			}
		}
	}
	return nil
}

// checkLoop checks that the backward jump at slot latch to slot start
// closes a counted loop: counter = 1..4 just before start, counter += -1
// and `if counter != 0` at the end, and no write to the counter in between
// (calls preserve it: it is one of r6..r8).
func checkLoop(b []isa.Instruction, start, latch int) error {
	j := b[latch]
	c := j.Dst
	if j.Opcode != isa.ClassJMP|isa.OpJNE|isa.SrcK || j.Imm != 0 || c < isa.R6 || c > isa.R8 {
		return errors.New("not a loop latch: if r6..r8 != 0")
	}
	if start < 1 || b[start-1] != movK(isa.ClassALU64, c, b[start-1].Imm) || b[start-1].Imm < 1 || b[start-1].Imm > 4 {
		return errors.New("the counter is not set to 1..4 before the loop")
	}
	if b[latch-1] != aluK(isa.ClassALU64, isa.OpADD, c, -1) {
		return errors.New("the counter is not decremented before the latch")
	}
	for n := start; n < latch-1; n++ {
		i := b[n]
		writes := false
		switch i.Class() {
		case isa.ClassALU, isa.ClassALU64, isa.ClassLD, isa.ClassLDX:
			writes = i.Dst == c
		case isa.ClassSTX:
			writes = i.Mode() == isa.ModeATOMIC && i.Imm&isa.AtomicFETCH != 0 && (i.Src == c || (i.Imm == isa.AtomicCMPXCHG && c == isa.R0))
		case isa.ClassJMP, isa.ClassJMP32:
			if t, ok := isa.Target(b, n); ok && (t <= start || t >= latch) && i.Opcode != isa.OpcodeCall {
				return fmt.Errorf("slot %d jumps out of the loop body or backwards", n)
			}
		}
		if writes {
			return fmt.Errorf("slot %d (%v) writes the counter r%d", n, i, c)
		}
		if i.IsLDDW() {
			n++
		}
	}
	return nil
}

// checkPointerUnit checks a multi-instruction leaf: either an atomic
// compare-and-exchange unit, or a pointer computed from r9 or r10 into
// scratch registers, used as a load or store base, after which no register
// r0..r8 may hold an address. It tracks which registers hold pointers.
func checkPointerUnit(u []isa.Instruction) error {
	if slices.ContainsFunc(u, func(i isa.Instruction) bool { return i.Mode() == isa.ModeATOMIC && i.Class() == isa.ClassSTX }) {
		return checkCmpxchgUnit(u)
	}
	if u[len(u)-1].Opcode == isa.OpcodeCall {
		// A call passing a pointer to the caller's stack in r1.
		if len(u) != 3 || u[0] != movX(isa.ClassALU64, isa.R1, isa.R10) || u[1] != aluK(isa.ClassALU64, isa.OpADD, isa.R1, u[1].Imm) ||
			u[1].Imm > 0 || u[1].Imm%8 != 0 || u[2].Src != isa.CallLocal {
			return fmt.Errorf("unit %v is not r1 = r10 + k; call", u)
		}
		return nil
	}
	isPtr := map[uint8]bool{isa.R9: true, isa.R10: true}
	used := false
	for _, i := range u {
		switch {
		case i.Opcode == isa.ClassALU64|isa.OpMOV|isa.SrcX:
			isPtr[i.Dst] = isPtr[i.Src]
		case i.Opcode == isa.ClassALU64|isa.OpADD|isa.SrcX:
			if isPtr[i.Dst] && isPtr[i.Src] {
				return fmt.Errorf("unit %v adds two pointers", u)
			}
			isPtr[i.Dst] = isPtr[i.Dst] || isPtr[i.Src]
		case i.Class() == isa.ClassALU64 && i.Source() == isa.SrcK && (i.Op() == isa.OpADD || i.Op() == isa.OpAND || i.Op() == isa.OpMOV):
			if isPtr[i.Dst] && i.Op() != isa.OpADD {
				if i.Op() != isa.OpMOV {
					return fmt.Errorf("unit %v masks a pointer", u)
				}
			}
			if i.Op() == isa.OpMOV {
				isPtr[i.Dst] = false
			}
		case i.Class() == isa.ClassLDX:
			if !isPtr[i.Src] {
				return fmt.Errorf("unit %v loads through a number", u)
			}
			isPtr[i.Dst], used = false, true
		case i.Class() == isa.ClassST || i.Class() == isa.ClassSTX:
			if !isPtr[i.Dst] || i.Mode() != isa.ModeMEM {
				return fmt.Errorf("unit %v stores through a number", u)
			}
			if i.Class() == isa.ClassSTX && isPtr[i.Src] {
				return fmt.Errorf("unit %v stores a pointer", u)
			}
			used = true
		default:
			return fmt.Errorf("unit %v: unexpected %v", u, i)
		}
	}
	for r := isa.R0; r <= isa.R8; r++ {
		if isPtr[r] {
			return fmt.Errorf("unit %v leaves a pointer in r%d", u, r)
		}
	}
	if !used {
		return fmt.Errorf("unit %v accesses no memory", u)
	}
	return nil
}

// checkCmpxchgUnit checks a compare-and-exchange unit: optionally a load
// of r0 from the exchanged word, the cmpxchg, and for the 32-bit form a
// 64-bit use of r0 right after (see gen.atomic).
func checkCmpxchgUnit(u []isa.Instruction) error {
	if len(u) > 0 && u[0].Class() == isa.ClassLDX {
		if u[0].Dst != isa.R0 || u[0].Src != isa.R10 {
			return fmt.Errorf("unit %v: the load before cmpxchg is not r0 from the stack", u)
		}
		u = u[1:]
	}
	if len(u) == 0 || u[0].Mode() != isa.ModeATOMIC || u[0].Imm != isa.AtomicCMPXCHG {
		return fmt.Errorf("unit %v has no cmpxchg", u)
	}
	w32 := u[0].Size() == isa.SizeW
	switch {
	case w32 && len(u) == 2 && u[1] == aluK(isa.ClassALU64, isa.OpADD, isa.R0, u[1].Imm):
	case !w32 && len(u) == 1:
	default:
		return fmt.Errorf("unit %v: a 32-bit cmpxchg must be followed by exactly a 64-bit use of r0", u)
	}
	return nil
}

// checkAccess checks the base and offset of a load or store; in a called
// function r1 may point into the caller's stack.
func checkAccess(p *Program, i isa.Instruction, inCallee bool) error {
	base := i.Dst
	if i.Class() == isa.ClassLDX {
		base = i.Src
	}
	n := isa.SizeBytes(i.Size())
	off := int(i.Offset)
	switch base {
	case isa.R9:
		if off < 0 || off+n > len(p.Memory) {
			return fmt.Errorf("memory access [%d, %d) outside [0, %d)", off, off+n, len(p.Memory))
		}
	case isa.R1:
		if !inCallee || off%n != 0 || off < -maxStackSize || off+n > maxStackSize {
			return fmt.Errorf("access through r1 at %d of %d bytes outside a called function or misaligned", off, n)
		}
	case isa.R10:
		if off < -maxStackSize || off+n > 0 || off%n != 0 {
			return fmt.Errorf("stack access at %d of %d bytes is out of range or misaligned", off, n)
		}
	default:
		return fmt.Errorf("memory access based on r%d", base)
	}
	return nil
}

func TestStructure(t *testing.T) {
	opts := []Options{{}, {Insns: 300, BufSize: 8, StackSize: 16}, {Insns: 1, MaxDepth: 0, NoCalls: true}, {Insns: maxInsns, BufSize: maxBufSize, StackSize: maxStackSize, MaxDepth: 8},
		{Loops: true}, {Insns: 300, Loops: true, MaxDepth: 6}}
	for _, o := range opts {
		for seed := int64(0); seed < 200; seed++ {
			p, err := Generate(seed, o)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkStructure(p); err != nil {
				t.Fatalf("options %+v seed %d: %v", o, seed, err)
			}
		}
	}
}

// variant names an instruction form for the coverage test.
func variant(i isa.Instruction) string {
	switch i.Class() {
	case isa.ClassALU, isa.ClassALU64:
		switch i.Op() {
		case isa.OpNEG:
			return fmt.Sprintf("%#02x", i.Opcode)
		case isa.OpEND:
			return fmt.Sprintf("%#02x/%d", i.Opcode, i.Imm)
		}
		return fmt.Sprintf("%#02x/off%d", i.Opcode, i.Offset)
	case isa.ClassSTX:
		if i.Mode() == isa.ModeATOMIC {
			return fmt.Sprintf("%#02x/%#x", i.Opcode, i.Imm)
		}
	case isa.ClassJMP:
		if i.Opcode == isa.OpcodeCall {
			return fmt.Sprintf("%#02x/src%d", i.Opcode, i.Src)
		}
	}
	return fmt.Sprintf("%#02x", i.Opcode)
}

// allVariants lists every instruction form of the v4 instruction set that
// an XDP program can use without helpers.
func allVariants() []string {
	var v []string
	for _, class := range []uint8{isa.ClassALU, isa.ClassALU64} {
		for _, op := range aluOps {
			switch op {
			case isa.OpNEG:
				v = append(v, variant(isa.Instruction{Opcode: class | op}))
			case isa.OpEND:
				for _, w := range []int32{16, 32, 64} {
					v = append(v, variant(isa.Instruction{Opcode: class | op, Imm: w}))
					if class == isa.ClassALU {
						v = append(v, variant(isa.Instruction{Opcode: class | op | isa.SrcX, Imm: w}))
					}
				}
			default:
				for _, src := range []uint8{isa.SrcK, isa.SrcX} {
					v = append(v, variant(isa.Instruction{Opcode: class | op | src}))
					if op == isa.OpDIV || op == isa.OpMOD {
						v = append(v, variant(isa.Instruction{Opcode: class | op | src, Offset: 1}))
					}
				}
				if op == isa.OpMOV {
					offs := []int16{8, 16}
					if class == isa.ClassALU64 {
						offs = append(offs, 32)
					}
					for _, o := range offs {
						v = append(v, variant(isa.Instruction{Opcode: class | op | isa.SrcX, Offset: o}))
					}
				}
			}
		}
	}
	for _, class := range []uint8{isa.ClassJMP, isa.ClassJMP32} {
		for _, op := range jumpOps {
			v = append(v, variant(isa.Instruction{Opcode: class | op}), variant(isa.Instruction{Opcode: class | op | isa.SrcX}))
		}
	}
	v = append(v, variant(isa.Instruction{Opcode: isa.OpcodeJA}), variant(isa.Instruction{Opcode: isa.OpcodeJA32}),
		variant(isa.Instruction{Opcode: isa.OpcodeCall, Src: isa.CallLocal}), variant(isa.Instruction{Opcode: isa.OpcodeExit}),
		variant(isa.Instruction{Opcode: isa.OpcodeLDDW}))
	for _, size := range sizes {
		v = append(v, variant(isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEM | size}),
			variant(isa.Instruction{Opcode: isa.ClassST | isa.ModeMEM | size}),
			variant(isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | size}))
		if size != isa.SizeDW {
			v = append(v, variant(isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEMSX | size}))
		}
	}
	for _, size := range []uint8{isa.SizeW, isa.SizeDW} {
		for _, op := range atomicOps {
			v = append(v, variant(isa.Instruction{Opcode: isa.ClassSTX | isa.ModeATOMIC | size, Imm: op}))
		}
	}
	return v
}

// TestCoverage checks that a few hundred programs use every instruction
// form, so a differential test over them exercises the whole instruction set.
func TestCoverage(t *testing.T) {
	want := allVariants()
	if len(want) < 150 {
		t.Fatalf("only %d variants listed", len(want))
	}
	seen := map[string]int{}
	for seed := int64(0); seed < 300; seed++ {
		p, err := Generate(seed, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(p.Body); n++ {
			seen[variant(p.Body[n])]++
			if i := p.Body[n]; (i.Class() == isa.ClassLDX && i.Src == isa.R1) || ((i.Class() == isa.ClassST || i.Class() == isa.ClassSTX) && i.Dst == isa.R1) {
				seen["access to the caller's stack"]++
			}
			if i := p.Body[n]; i.Opcode == isa.ClassALU64|isa.OpADD|isa.SrcX && i.Src != isa.R10 && n >= 2 && p.Body[n-1].Src == isa.R10 {
				seen["variable stack offset"]++
			}
			if p.Body[n].IsLDDW() {
				n++
			}
		}
	}
	for _, v := range append(want, "access to the caller's stack", "variable stack offset") {
		if seen[v] == 0 {
			t.Errorf("no program uses %s", v)
		}
	}
	t.Logf("%d instruction forms, all used", len(want))
}

// TestKernelAccepts loads generated programs into the kernel and runs them:
// every one must be accepted (a refusal is a generator bug) and its return
// value must be the low half of the r0 the epilogue stored.
func TestKernelAccepts(t *testing.T) {
	kerneltest.Require(t)
	n := 300
	if testing.Short() {
		n = 50
	}
	configs := []struct {
		opts  Options
		seeds int
	}{
		{Options{}, n},
		{Options{Insns: 200, BufSize: 128, StackSize: 128, MaxDepth: 5}, n},
		{Options{Insns: 16, BufSize: 8, StackSize: 16}, n},
		// The largest programs the options allow.
		{Options{Insns: maxInsns, BufSize: maxBufSize, StackSize: maxStackSize, MaxDepth: 8}, n / 10},
		{Options{Insns: maxInsns, MaxDepth: 3}, n / 10},
		{Options{Loops: true}, n},
		{Options{Insns: 200, BufSize: 128, StackSize: 128, MaxDepth: 5, Loops: true}, n / 2},
		{Options{Insns: maxInsns, BufSize: maxBufSize, StackSize: maxStackSize, MaxDepth: 8, Loops: true}, n / 10},
	}
	start := time.Now()
	var ran, maxLen int
	for ci, c := range configs {
		o := c.opts
		for seed := int64(0); seed < int64(c.seeds); seed++ {
			p, err := Generate(seed, o)
			if err != nil {
				t.Fatal(err)
			}
			maxLen = max(maxLen, len(p.Kernel))
			prog, err := kerneltest.Load(ebpf.XDP, p.Kernel)
			if err != nil {
				t.Fatalf("config %d seed %d: the kernel refused a generated program:\n%v\nprogram:\n%s", ci, seed, err, listing(p.Kernel))
			}
			res, err := prog.Run(kerneltest.RunInput{Data: p.Memory})
			prog.Close()
			if err != nil {
				t.Fatalf("config %d seed %d: %v", ci, seed, err)
			}
			regs, err := p.Registers(res.Data)
			if err != nil {
				t.Fatalf("config %d seed %d: %v", ci, seed, err)
			}
			if res.Retval != uint32(regs[0]) {
				t.Fatalf("config %d seed %d: retval %#x, stored r0 %#x", ci, seed, res.Retval, regs[0])
			}
			ran++
		}
	}
	t.Logf("kernel accepted and ran %d/%d generated programs (longest %d slots) in %v", ran, ran, maxLen, time.Since(start))
}

func FuzzGenerate(f *testing.F) {
	f.Add(int64(0), 64, 64, 64, 3, false, false)
	f.Add(int64(-1), 1, 8, 16, 0, true, false)
	f.Add(int64(1<<40), 512, 256, 256, 8, false, true)
	f.Add(int64(7), 513, 64, 64, 3, false, false)
	f.Add(int64(9), 100, 32, 32, 4, false, true)
	f.Fuzz(func(t *testing.T, seed int64, insns, buf, stack, depth int, noCalls, loops bool) {
		o := Options{Insns: insns, BufSize: buf, StackSize: stack, MaxDepth: depth, NoCalls: noCalls, Loops: loops}
		p, err := Generate(seed, o)
		if err != nil {
			if !errors.Is(err, ErrOptions) {
				t.Fatalf("Generate(%+v) = %v, not an options error", o, err)
			}
			return
		}
		if err := checkStructure(p); err != nil {
			t.Fatalf("options %+v seed %d: %v", o, seed, err)
		}
	})
}

// listing formats a program as the kernel's verifier log does.
func listing(insns []isa.Instruction) string { return isa.FormatProgram(insns) }

func BenchmarkGenerate(b *testing.B) {
	for n := 0; b.Loop(); n++ {
		if _, err := Generate(int64(n), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
