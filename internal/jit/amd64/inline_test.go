//go:build linux && amd64

package amd64_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/helpers"
	"github.com/bpfvm/bpfvm/internal/interp"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit/amd64"
	"github.com/bpfvm/bpfvm/internal/maps"
)

// The inline map helpers (engine.Inline) must not change what a program
// does: the same programs run on the interpreter and the JIT, each with
// and without Inline, on fresh but identical maps, and agree on r0, the
// error (kind and instruction), Executed, the maps and the
// get_prandom_u32 state afterwards.

const inlineCPUs = 3

// inlineFixture is one configuration's maps and helper state.
type inlineFixture struct {
	maps    []maps.Map
	handles []uint64
	state   *helpers.State
	inline  engine.Inline
}

// inlineSpecs are the maps of the fixture: array, per-CPU array, hash,
// an array with 5-byte values (padded stride), LRU per-CPU hash, an
// array programs may only read (a store into its values faults), a hash
// with 8-byte keys.
var inlineSpecs = []maps.Spec{
	{Name: "arr", Type: maps.Array, KeySize: 4, ValueSize: 8, MaxEntries: 8},
	{Name: "pcpu", Type: maps.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 5},
	{Name: "hash", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 6},
	{Name: "odd", Type: maps.Array, KeySize: 4, ValueSize: 5, MaxEntries: 5},
	{Name: "lru", Type: maps.LRUPerCPUHash, KeySize: 4, ValueSize: 8, MaxEntries: 5},
	{Name: "ro", Type: maps.Array, KeySize: 4, ValueSize: 8, MaxEntries: 6, Flags: maps.FlagRdonlyProg},
	{Name: "hash8", Type: maps.Hash, KeySize: 8, ValueSize: 8, MaxEntries: 6},
	// Without preallocation hits leave the code (values are heap objects).
	{Name: "nopre", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 6, Flags: maps.FlagNoPrealloc},
	{Name: "lru8", Type: maps.LRUHash, KeySize: 8, ValueSize: 8, MaxEntries: 4},
}

// nopreMap is the index of the hash map without preallocation.
const nopreMap = 7

func newInlineFixture(t testing.TB) *inlineFixture {
	reg := maps.NewRegistry()
	f := &inlineFixture{}
	for i, s := range inlineSpecs {
		s.NumCPU = inlineCPUs
		s.SpinLockOffset = -1
		m, err := maps.New(s)
		if err != nil {
			t.Fatal(err)
		}
		h := maps.Handle(reg.AddMap(m))
		// The same initial contents everywhere (per CPU, different
		// values on each CPU).
		for k := uint32(0); k < 3; k++ {
			v := make([]byte, m.HostValueSize())
			for c := 0; c < len(v); c += 8 {
				v[c] = byte(k*7 + uint32(i) + 1 + uint32(c))
			}
			key := binary.LittleEndian.AppendUint32(nil, k*2)
			if s.KeySize == 8 {
				key = binary.LittleEndian.AppendUint64(nil, uint64(k*2)*0x100000001)
			}
			if err := m.Update(key, v, 0); err != nil {
				t.Fatal(err)
			}
		}
		im, ok := helpers.InlineMap(m, h)
		if !ok {
			t.Fatalf("%s: not inlinable", s.Name)
		}
		f.maps, f.handles = append(f.maps, m), append(f.handles, h)
		f.inline.Maps = append(f.inline.Maps, im)
	}
	f.inline.Prandom = true
	f.inline.Leaf = map[int32]bool{1: true, 2: true, 3: true, 7: true}
	f.state = helpers.NewState(&helpers.Host{Registry: reg, NumCPU: inlineCPUs, Seed: 42}, 0)
	return f
}

// dump describes every map's contents on every CPU.
func (f *inlineFixture) dump() string {
	var b strings.Builder
	for i, m := range f.maps {
		s := inlineSpecs[i]
		fmt.Fprintf(&b, "%s:", s.Name)
		var keys [][]byte
		if s.Type == maps.Array || s.Type == maps.PerCPUArray {
			for k := uint32(0); k < s.MaxEntries; k++ {
				keys = append(keys, binary.LittleEndian.AppendUint32(nil, k))
			}
		} else {
			var prev []byte
			for {
				next := make([]byte, s.KeySize)
				if m.NextKey(prev, next) != nil {
					break
				}
				keys, prev = append(keys, next), next
			}
		}
		for _, k := range keys {
			fmt.Fprintf(&b, " %x=", k)
			for c := 0; c < inlineCPUs; c++ {
				fmt.Fprintf(&b, "%x/", m.ProgLookup(k, c))
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "prandom %#x\n", *f.state.PrandomState())
	return b.String()
}

var hostAddr = regexp.MustCompile(`0x[0-9a-f]{8,}`)

// inlineRun is one run's observable outcome.
type inlineRun struct {
	r0       uint64
	err      string // kind and instruction: the same on every engine
	msg      string // the error's message: the same with and without Inline
	executed uint64
}

// runInlineConfig runs insns on a fresh fixture: on the JIT or the
// interpreter, with or without Inline, once per CPU in cpus.
func runInlineConfig(t testing.TB, insns []isa.Instruction, jit, inline, blind bool, budget uint64, cpus []int) ([]inlineRun, string, error) {
	f := newInlineFixture(t)
	var inl engine.Inline
	if inline {
		inl = f.inline
	}
	type vmT interface {
		Run([]byte) (uint64, error)
		Executed() uint64
		SetCPU(int)
		SetPrandom(*uint64)
	}
	var vm vmT
	if jit {
		p, err := amd64.Load(insns, amd64.Options{Helpers: f.state.Helpers(), Budget: budget, Inline: inl, BlindConstants: blind})
		if err != nil {
			return nil, "", err
		}
		defer p.Close()
		vm = p.NewVM()
	} else {
		p, err := interp.Load(insns, interp.Options{Helpers: f.state.Helpers(), Budget: budget, Inline: inl})
		if err != nil {
			return nil, "", err
		}
		vm = p.NewVM()
	}
	vm.SetPrandom(f.state.PrandomState())
	var runs []inlineRun
	mem := make([]byte, 64)
	for _, cpu := range cpus {
		f.state.CPU = cpu
		vm.SetCPU(cpu)
		r0, err := vm.Run(mem)
		f.state.EndRun()
		f.state.Reset()
		msg := ""
		if err != nil {
			// Heap addresses differ from fixture to fixture.
			msg = hostAddr.ReplaceAllString(err.Error(), "ADDR")
		}
		runs = append(runs, inlineRun{r0, errKind(err), msg, vm.Executed()})
	}
	return runs, f.dump() + fmt.Sprintf("mem %x\n", mem), nil
}

// compareInline runs insns in the four configurations and reports the
// first difference. With and without Inline, an engine must agree on
// everything, error messages included; the two engines agree on results,
// error kinds and instructions, Executed and, unless a budget ran out
// (the JIT stops at the start of the block the budget cannot pay for,
// the interpreter inside it), the state.
func compareInline(t testing.TB, insns []isa.Instruction, budget uint64, cpus []int, blind bool) string {
	type result struct {
		runs  []inlineRun
		state string
	}
	var res [4]result
	names := []string{"interp", "interp+inline", "jit", "jit+inline"}
	for k := range res {
		jit, inline := k >= 2, k%2 == 1
		runs, state, err := runInlineConfig(t, insns, jit, inline, blind && jit, budget, cpus)
		if err != nil {
			return fmt.Sprintf("%s: load: %v", names[k], err)
		}
		res[k] = result{runs, state}
	}
	for _, k := range []int{1, 3} {
		base := res[k-1]
		for i := range base.runs {
			if res[k].runs[i] != base.runs[i] {
				return fmt.Sprintf("run %d on cpu %d: %s %+v, %s %+v", i, cpus[i], names[k], res[k].runs[i], names[k-1], base.runs[i])
			}
		}
		if res[k].state != base.state {
			return fmt.Sprintf("state after the runs:\n%s:\n%s%s:\n%s", names[k], res[k].state, names[k-1], base.state)
		}
	}
	budgetOut := false
	for i, a := range res[0].runs {
		b := res[2].runs[i]
		a.msg, b.msg = "", ""
		if a.err != "ok" {
			a.r0, b.r0 = 0, 0
		}
		if a != b {
			return fmt.Sprintf("run %d on cpu %d: jit %+v, interp %+v", i, cpus[i], b, a)
		}
		budgetOut = budgetOut || strings.Contains(a.err, engine.ErrBudgetExhausted.Error())
	}
	if !budgetOut && res[0].state != res[2].state {
		return fmt.Sprintf("state after the runs:\njit:\n%sinterp:\n%s", res[2].state, res[0].state)
	}
	return ""
}

// inlineProgram generates a map-heavy program from seed: lookups (values
// read and written), updates with every flag, deletes and get_prandom_u32
// on the fixture's maps, with keys in and out of range, on the stack or
// in the input memory, now and then an r1 the engines cannot tie to the
// call statically, an invalid key pointer, or a handle that is no map.
func inlineProgram(seed uint64, handles []uint64) []isa.Instruction {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var b strings.Builder
	b.WriteString("mov %r6, 0\nmov %r7, 0\nmov %r8, 0\nmov %r9, %r1\n")
	const reread = "ldxw %r3, [%r9]\njeq %r8, 0, +2\nldxdw %r3, [%r8]\nadd %r6, %r3\n"
	// key stores a key for map m (4 or 8 bytes) and points r2 at it.
	key := func(m int) {
		k := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xffffffff, 0x80000000, 0x7fffffff}[r.IntN(13)]
		st := "stw"
		if inlineSpecs[m].KeySize == 8 {
			st = "stdw"
		}
		if st == "stdw" && r.IntN(2) == 0 {
			// A key with high bits: built in r3.
			k = []int64{0x200000002, 0x400000004, 0x400000005, 0x100000000}[r.IntN(4)]
			fmt.Fprintf(&b, "lddw %%r3, %#x\nstxdw [%%r10-8], %%r3\nmov %%r2, %%r10\nadd %%r2, -8\n", k)
			return
		}
		switch r.IntN(16) {
		case 0:
			b.WriteString("mov %r2, 0\n") // faults in the helper
		case 1, 2, 3, 4:
			off := 8 * r.IntN(8)
			fmt.Fprintf(&b, "%s [%%r9+%d], %d\nmov %%r2, %%r9\nadd %%r2, %d\n", st, off, int32(k), off)
		case 5, 6, 7, 8:
			// As clang emits it (the interpreter fuses it with the lddw,
			// the call and the null check that follow).
			mov := map[string]string{"stw": "mov32", "stdw": "mov"}[st]
			fmt.Fprintf(&b, "%s %%r1, %d\nstx%s [%%r10-8], %%r1\nmov %%r2, %%r10\nadd %%r2, -8\n", mov, int32(k), st[2:])
		default:
			fmt.Fprintf(&b, "%s [%%r10-8], %d\nmov %%r2, %%r10\nadd %%r2, -8\n", st, int32(k))
		}
	}
	// mapArg loads map m's handle into r1.
	mapArg := func(m int) {
		h := handles[m]
		if r.IntN(40) == 0 {
			h = 0x1234 // not a map: the helper fails
		}
		fmt.Fprintf(&b, "lddw %%r1, %#x\n", h)
		if r.IntN(5) == 0 {
			b.WriteString("ja +0\n") // a block boundary: r1 unknown at the call
		}
	}
	for n := 4 + r.IntN(20); n > 0; n-- {
		switch r.IntN(7) {
		case 0, 1, 2: // lookup
			m := r.IntN(len(handles))
			key(m)
			mapArg(m)
			b.WriteString("call 1\n")
			if inlineSpecs[m].ValueSize == 8 {
				// r8 keeps the value for a later access (reread).
				b.WriteString("jeq %r0, 0, +4\nmov %r8, %r0\nldxdw %r3, [%r0]\nadd %r6, %r3\nstxdw [%r0], %r6\n")
			} else {
				b.WriteString("jeq %r0, 0, +3\nldxw %r3, [%r0]\nadd %r6, %r3\nstxw [%r0], %r6\n")
			}
			b.WriteString("add %r6, 1\n")
		case 3: // update
			m := r.IntN(len(handles))
			key(m)
			fmt.Fprintf(&b, "stdw [%%r10-16], %d\nmov %%r3, %%r10\nadd %%r3, -16\nmov %%r4, %d\n", r.IntN(1000), []int{0, 1, 2, 5}[r.IntN(4)])
			mapArg(m)
			b.WriteString("call 2\nadd %r6, %r0\n")
		case 4: // delete
			m := r.IntN(len(handles))
			key(m)
			mapArg(m)
			b.WriteString("call 3\nadd %r6, %r0\n")
		case 5:
			b.WriteString("call 7\nadd %r7, %r0\n")
		case 6: // reread: the input memory, then a value looked up earlier
			b.WriteString(reread)
		}
	}
	b.WriteString(reread + "mov %r0, %r6\nadd %r0, %r7\nexit\n")
	insns, err := asm.Assemble(b.String())
	if err != nil {
		panic(fmt.Sprintf("generated program does not assemble: %v\n%s", err, b.String()))
	}
	return insns
}

func TestInlineMapsAgree(t *testing.T) {
	handles := newInlineFixture(t).handles
	n := uint64(300)
	if testing.Short() {
		n = 40
	}
	for seed := uint64(0); seed < n; seed++ {
		insns := inlineProgram(seed, handles)
		budget := uint64(100000)
		if seed%4 == 3 {
			budget = 1 + seed%150 // ends anywhere, also at an inlined call
		}
		cpus := []int{int(seed % inlineCPUs), int(seed/3) % inlineCPUs, 2}
		if d := compareInline(t, insns, budget, cpus, seed%2 == 1); d != "" {
			t.Fatalf("seed %d: %s\n%s", seed, d, listing(insns))
		}
	}
}

// TestInlineMapsChunkedSlabs runs the random programs with the hash maps'
// values spread over slabs of two values or fewer: hits in the slabs after
// the first take the engines' region searches (the JIT installs only the
// first slab inline), with the same results on every configuration.
func TestInlineMapsChunkedSlabs(t *testing.T) {
	defer maps.SetSlabLimit(16)()
	f := newInlineFixture(t)
	for k, s := range inlineSpecs {
		if s.Type == maps.Hash && s.Flags&maps.FlagNoPrealloc == 0 {
			if n := len(maps.ValueSlabs(f.maps[k])); n < 3 {
				t.Fatalf("%s: %d value slabs, want 3 or more", s.Name, n)
			}
		}
	}
	for seed := uint64(1000); seed < 1100; seed++ {
		insns := inlineProgram(seed, f.handles)
		cpus := []int{int(seed % inlineCPUs), 1, 2}
		if d := compareInline(t, insns, 100000, cpus, false); d != "" {
			t.Fatalf("seed %d: %s\n%s", seed, d, listing(insns))
		}
	}
}

// TestInlineMapsCallbackEntry enters a function (through bpf_loop) right
// at an inlined lookup, where r1 is the loop index, not the map the lddw
// before the call loaded: the run-time guard must send the call to the
// helper (which refuses the pointer) on every engine.
func TestInlineMapsCallbackEntry(t *testing.T) {
	f := newInlineFixture(t)
	// The loop's context (the callback's r2) points to a key on the
	// stack, so only r1 tells the lookup it must not run inline.
	src := fmt.Sprintf(`stw [%%r10-8], 1
mov %%r3, %%r10
add %%r3, -8
mov %%r1, 2
lddw %%r2, %#x
mov %%r4, 0
call 181
exit
stw [%%r10-8], 1
mov %%r2, %%r10
add %%r2, -8
lddw %%r1, %#x
call 1
exit
`, helpers.FuncPointer(14), f.handles[0])
	insns, err := asm.Assemble(src)
	if err != nil {
		t.Fatal(err)
	}
	if insns[14].Opcode != isa.OpcodeCall {
		t.Fatalf("slot 14 is %v, not the call", insns[14])
	}
	if d := compareInline(t, insns, 1000, []int{0}, false); d != "" {
		t.Fatalf("%s\n%s", d, listing(insns))
	}
	for _, jit := range []bool{false, true} {
		runs, _, _ := runInlineConfig(t, insns, jit, true, false, 1000, []int{0})
		if !strings.Contains(runs[0].err, "helper failed at 7") || !strings.Contains(runs[0].msg, "not a map pointer") {
			t.Fatalf("jit %v: want bpf_loop's failure at 7, from the lookup's refusing r1, got %+v", jit, runs[0])
		}
	}
}

// TestInlinePrandomSequence checks that get_prandom_u32 inline gives the
// helper's own sequence for a seed.
func TestInlinePrandomSequence(t *testing.T) {
	insns, err := asm.Assemble("call 7\nmov %r6, %r0\ncall 7\nlsh %r0, 32\nor %r0, %r6\nexit\n")
	if err != nil {
		t.Fatal(err)
	}
	f := newInlineFixture(t)
	st := *f.state.PrandomState()
	a, b := engine.PrandomNext(&st), engine.PrandomNext(&st)
	runs, _, err := runInlineConfig(t, insns, true, true, false, 100, []int{0})
	if err != nil {
		t.Fatal(err)
	}
	if want := b<<32 | a; runs[0].r0 != want {
		t.Fatalf("jit inline: %#x, want %#x", runs[0].r0, want)
	}
}

// FuzzInlineMaps is TestInlineMapsAgree on the fuzzer's seeds and budgets.
func FuzzInlineMaps(f *testing.F) {
	for _, s := range []uint64{0, 3, 17, 99} {
		f.Add(s, uint16(0), uint8(0))
	}
	f.Add(uint64(5), uint16(37), uint8(7))
	handles := newInlineFixture(f).handles
	f.Fuzz(func(t *testing.T, seed uint64, budget uint16, cpus uint8) {
		b := uint64(budget)
		if b == 0 {
			b = 100000
		}
		c := []int{int(cpus % inlineCPUs), int(cpus/3) % inlineCPUs}
		insns := inlineProgram(seed, handles)
		if d := compareInline(t, insns, b, c, cpus&0x80 != 0); d != "" {
			t.Fatalf("%s\n%s", d, listing(insns))
		}
	})
}

// TestInlineStaleValue keeps a hash value's address (from a lookup) in an
// array value and dereferences it in the next run. A value of a map
// without preallocation was exposed for its run only, so that access
// fails on every engine, with and without Inline. A preallocated map's
// values live in slabs the map owns for its life, which Inline makes
// persistent regions of the VM: there the access reads the value (the
// verifier rejects such programs; the point is that both engines agree).
func TestInlineStaleValue(t *testing.T) {
	for _, hm := range []int{2, nopreMap} {
		staleValue(t, hm, hm != nopreMap)
	}
}

func staleValue(t *testing.T, hm int, prealloc bool) {
	f := newInlineFixture(t)
	src := fmt.Sprintf(`stw [%%r10-8], 1
mov %%r2, %%r10
add %%r2, -8
lddw %%r1, %#x
call 1
jeq %%r0, 0, +14
mov %%r6, %%r0
ldxdw %%r1, [%%r6]
jeq %%r1, 0, +2
ldxdw %%r0, [%%r1]
exit
stw [%%r10-8], 2
mov %%r2, %%r10
add %%r2, -8
lddw %%r1, %#x
call 1
jeq %%r0, 0, +2
stxdw [%%r6], %%r0
mov %%r0, 1
exit
`, f.handles[0], f.handles[hm])
	insns, err := asm.Assemble(src)
	if err != nil {
		t.Fatal(err)
	}
	// (The maps then hold a heap address: compareInline's state
	// comparison does not apply.)
	for k := 0; k < 4; k++ {
		jit, inline := k >= 2, k%2 == 1
		runs, _, err := runInlineConfig(t, insns, jit, inline, false, 1000, []int{0, 0})
		if err != nil {
			t.Fatal(err)
		}
		if prealloc && inline {
			// The value of key 2 (k = 1 in newInlineFixture).
			if want := uint64(1*7 + hm + 1); runs[0].err != "ok" || runs[0].r0 != 1 || runs[1].err != "ok" || runs[1].r0 != want {
				t.Fatalf("map %d, jit %v, inline: want a run that stores the address and one that reads %d, got %+v", hm, jit, want, runs)
			}
			continue
		}
		if runs[0].err != "ok" || runs[0].r0 != 1 || runs[1].err != engine.ErrOutOfBounds.Error()+" at 10" {
			t.Fatalf("map %d, jit %v, inline %v: want a run that stores the address and one that faults at 10, got %+v", hm, jit, inline, runs)
		}
	}
}

// TestInlineLeafStackZeroed: with only leaf helpers (Inline.Leaf) the JIT
// clears just the frames the program's own calls use, and every run still
// starts with a zeroed stack.
func TestInlineLeafStackZeroed(t *testing.T) {
	insns, err := asm.Assemble("ldxdw %r6, [%r10-8]\nstdw [%r10-8], 0x55\nstdw [%r10-512], 0x66\ncall 7\nmov %r0, %r6\nldxdw %r1, [%r10-512]\nadd %r0, %r1\nexit\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, inline := range []bool{false, true} {
		runs, _, err := runInlineConfig(t, insns, true, inline, false, 100, []int{0, 1, 0})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range runs {
			if r.err != "ok" || r.r0 != 0x66 {
				t.Fatalf("inline %v, run %d: %+v, want r0 0x66 (a zeroed stack at entry)", inline, i, r)
			}
		}
	}
}
