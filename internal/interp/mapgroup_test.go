package interp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/helpers"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/maps"
)

// Handles of the test maps (testMaps): generated programs and the fusion
// cases load them into r1 before a lookup.
const (
	testArrayHandle = 0x7e00_0000_1000
	testHashHandle  = 0x7e00_0000_2000
	testHash8Handle = 0x7e00_0000_3000
	testNopreHandle = 0x7e00_0000_4000
)

// testMaps are inline maps for the interpreter's own tests: an array of 8
// u64 values (value i = 10i+1), a preallocated hash of u32 keys, one of
// u64 keys and one of u32 keys without preallocation (whose hits the
// driver looks up), the hashes holding the even keys below 8 (value
// 10k+1).
type testMaps struct {
	inline engine.Inline
	maps   []maps.Map
}

func newTestMaps(t testing.TB) *testMaps {
	tm := &testMaps{}
	for _, c := range []struct {
		spec   maps.Spec
		handle uint64
	}{
		{maps.Spec{Name: "arr", Type: maps.Array, KeySize: 4, ValueSize: 8, MaxEntries: 8}, testArrayHandle},
		{maps.Spec{Name: "hash", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 8}, testHashHandle},
		{maps.Spec{Name: "hash8", Type: maps.Hash, KeySize: 8, ValueSize: 8, MaxEntries: 8}, testHash8Handle},
		{maps.Spec{Name: "nopre", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 8, Flags: maps.FlagNoPrealloc}, testNopreHandle},
	} {
		c.spec.NumCPU, c.spec.SpinLockOffset = 1, -1
		m, err := maps.New(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		im, ok := helpers.InlineMap(m, c.handle)
		if !ok {
			t.Fatalf("%s: not inlinable", c.spec.Name)
		}
		tm.maps = append(tm.maps, m)
		tm.inline.Maps = append(tm.inline.Maps, im)
	}
	tm.reset()
	return tm
}

// reset restores the maps' contents (programs may write the values).
func (tm *testMaps) reset() {
	for i, m := range tm.maps {
		for k := uint64(0); k < 8; k++ {
			if i > 0 && k%2 == 1 {
				continue
			}
			key := binary.LittleEndian.AppendUint32(nil, uint32(k))
			if m.Spec().KeySize == 8 {
				key = binary.LittleEndian.AppendUint64(nil, k)
			}
			if err := m.Update(key, binary.LittleEndian.AppendUint64(nil, 10*k+1), 0); err != nil {
				panic(err)
			}
		}
	}
}

// errHelper1 is what helper 1 returns in the fusion tests: inline lookups
// of keys on the stack must never call it.
var errHelper1 = errors.New("helper 1 called")

func fusionOptions(t testing.TB) Options {
	return Options{
		Helpers: engine.Helpers{1: func(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) { return 0, errHelper1 }},
		Inline:  newTestMaps(t).inline,
	}
}

// mapGroupSrc is a program with clang's lookup at slot 1: r6 = 100, then
// the value of key (stored by store, "stxw" or "stxdw", through register
// kreg at r10+so, r2 = r10+ao) added to r6 if found; jump is "jeq" or
// "jne" (the latter with the branches the other way round).
func mapGroupSrc(handle uint64, key int, kreg, store string, so, ao int, jump string) string {
	mov := "mov32"
	if store == "stxdw" {
		mov = "mov"
	}
	head := fmt.Sprintf("mov %%r6, 100\n%s %%%s, %d\n%s [%%r10%+d], %%%s\nmov %%r2, %%r10\nadd %%r2, %d\nlddw %%r1, %#x\ncall 1\n",
		mov, kreg, key, store, so, kreg, ao, handle)
	use := "ldxdw %r1, [%r0+0]\nadd %r1, %r6\nmov %r6, %r1\n"
	if jump == "jeq" {
		return head + "jeq %r0, 0, +3\n" + use + "mov %r0, %r6\nexit"
	}
	return head + "jne %r0, 0, +2\nmov %r0, %r6\nexit\n" + use + "mov %r0, %r6\nexit"
}

// mapGroupCases are fusion cases of the lookup groups.
func mapGroupCases() []fusionCase {
	var cases []fusionCase
	for _, c := range []struct {
		name   string
		handle uint64
		kind   uint8
		key    int
		want   uint64
	}{
		{"array-hit", testArrayHandle, opMapGroupArray, 3, 131},
		{"array-out-of-range", testArrayHandle, opMapGroupArray, 8, 100},
		{"hash-hit", testHashHandle, opMapGroupHash, 4, 141},
		{"hash-absent", testHashHandle, opMapGroupHash, 5, 100},
	} {
		for _, jump := range []string{"jeq", "jne"} {
			for _, st := range []string{"stxw", "stxdw"} {
				for _, kreg := range []string{"r1", "r7", "r0", "r2"} {
					src := mapGroupSrc(c.handle, c.key, kreg, st, -8, -8, jump)
					cases = append(cases, fusionCase{fmt.Sprintf("group-%s-%s-%s-%s", c.name, jump, st, kreg), src, 1, c.kind, c.want})
				}
			}
		}
	}
	// Pairs whose second half is the group's first slot read its mov
	// from the group op (opMov32KMov32K, opMovXMov32K, opMovXMov64K).
	for _, st := range []string{"stxw", "stxdw"} {
		src := mapGroupSrc(testArrayHandle, 2, "r1", st, -8, -8, "jeq")
		cases = append(cases,
			fusionCase{"group-after-mov32-" + st, strings.Replace(src, "mov %r6, 100", "mov32 %r6, 100", 1), 1, opMapGroupArray, 121},
			fusionCase{"group-after-movx-" + st, strings.Replace(src, "mov %r6, 100", "mov %r6, 100\nmov %r9, %r6", 1), 2, opMapGroupArray, 121})
	}
	// Unrolled lookups, as bench_maps.c's: each group's accumulation runs
	// into the next group (opMapGroupArray chains them); the last misses.
	unrolled := "mov %r6, 100\n"
	for _, k := range []int{1, 2, 7, 9, 3} {
		unrolled += fmt.Sprintf("mov32 %%r1, %d\nstxw [%%r10-4], %%r1\nmov %%r2, %%r10\nadd %%r2, -4\nlddw %%r1, %#x\ncall 1\njeq %%r0, 0, +3\nldxdw %%r1, [%%r0+0]\nadd %%r1, %%r6\nmov %%r6, %%r1\n", k, uint64(testArrayHandle))
	}
	cases = append(cases, fusionCase{"group-array-unrolled", unrolled + "mov %r0, %r6\nexit", 1, opMapGroupArray, 100 + 11 + 21 + 71 + 31})
	hashed := strings.ReplaceAll(unrolled, fmt.Sprintf("%#x", uint64(testArrayHandle)), fmt.Sprintf("%#x", uint64(testHashHandle)))
	cases = append(cases, fusionCase{"group-hash-unrolled", hashed + "mov %r0, %r6\nexit", 1, opMapGroupHash, 100 + 21})
	// clang's first unrolled lookup (groupFirst: r6 = 0, then r6 = the
	// value on a hit) followed by groups; r6's 100 is overwritten.
	for _, c := range []struct {
		name string
		keys []int
		want uint64
	}{{"hit", []int{1, 2, 7, 9, 3}, 11 + 21 + 71 + 31}, {"miss", []int{8, 2, 3}, 21 + 31}} {
		src := "mov %r6, 100\n"
		for i, k := range c.keys {
			src += fmt.Sprintf("mov32 %%r1, %d\nstxw [%%r10-4], %%r1\nmov %%r2, %%r10\nadd %%r2, -4\nlddw %%r1, %#x\ncall 1\n", k, uint64(testArrayHandle))
			if i == 0 {
				src += "mov %r6, 0\njeq %r0, 0, +1\nldxdw %r6, [%r0+0]\n"
			} else {
				src += "jeq %r0, 0, +3\nldxdw %r1, [%r0+0]\nadd %r1, %r6\nmov %r6, %r1\n"
			}
		}
		cases = append(cases, fusionCase{"group-array-first-" + c.name, src + "mov %r0, %r6\nexit", 1, opMapGroupArray, c.want})
	}
	// The key stored apart from where r2 points: r2's slot is zero (key 0).
	cases = append(cases,
		fusionCase{"group-array-other-slot", mapGroupSrc(testArrayHandle, 5, "r1", "stxw", -4, -16, "jeq"), 1, opMapGroupArray, 101},
		fusionCase{"group-hash8", mapGroupSrc(testHash8Handle, 6, "r1", "stxdw", -8, -8, "jeq"), 1, opMapGroupHash, 161},
		fusionCase{"ldx-add-mov", "mov %r6, 10\nldxdw %r2, [%r1+8]\nadd %r2, %r6\nmov %r6, %r2\nmov %r0, %r6\nexit", 1, opLdxDWAddMovX, 10 + 0x100f0e0d0c0b0a09},
	)
	return cases
}

// TestMapGroupAccum: the groups of mapGroupCases whose null check skips
// just "sum += *v" run it too (jeq), the others do not (jne).
func TestMapGroupAccum(t *testing.T) {
	n := 0
	for _, c := range mapGroupCases() {
		if c.kind != opMapGroupArray && c.kind != opMapGroupHash {
			continue
		}
		p, _ := loadFusion(t, c.src)
		if strings.HasPrefix(c.name, "group-array-first-") {
			// The first group is the groupFirst variant, not an accumulation.
			if aux := p.code[c.at].aux; aux&(groupFirst|groupAccum) != groupFirst {
				t.Errorf("%s: aux %#x, want groupFirst without groupAccum", c.name, aux)
			}
			continue
		}
		want := strings.Contains(c.src, "jeq %r0, 0, +3\nldxdw %r1, [%r0+0]")
		if got := p.code[c.at].aux&groupAccum != 0; got != want {
			t.Errorf("%s: accumulation fused %v, want %v", c.name, got, want)
		}
		if want {
			n++
		}
	}
	if n == 0 {
		t.Error("no case fuses the accumulation")
	}
	// Not when the load may leave the value (8-byte values).
	src := strings.Replace(mapGroupSrc(testArrayHandle, 1, "r1", "stxw", -4, -4, "jeq"), "[%r0+0]", "[%r0+4]", 1)
	if p, _ := loadFusion(t, src); p.code[1].aux&groupAccum != 0 {
		t.Error("accumulation fused with a load past the value")
	} else {
		checkAgainstStepping(t, p, nil)
	}
}

// TestMapGroupNotFused: near misses of the lookup group stay unfused
// (each instruction keeps its own op, with the existing pairs).
func TestMapGroupNotFused(t *testing.T) {
	for _, src := range []string{
		// r1 is not the map's handle (not an inline map).
		"mov32 %r1, 1\nstxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, 0x1234\ncall 1\njeq %r0, 0, +0\nexit",
		// The stored register is not the one set.
		"mov32 %r1, 1\nstxw [%r10-4], %r3\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, 0x7e0000001000\ncall 1\njeq %r0, 0, +0\nexit",
		// The store is not to r10.
		"mov32 %r1, 1\nstxw [%r1-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, 0x7e0000001000\ncall 1\njeq %r0, 0, +0\nexit",
		// The key pointer is not r2 = r10 + K.
		"mov32 %r1, 1\nstxw [%r10-4], %r1\nmov %r3, %r10\nadd %r3, -4\nlddw %r1, 0x7e0000001000\ncall 1\njeq %r0, 0, +0\nexit",
		// The jump tests another register or value.
		"mov32 %r1, 1\nstxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, 0x7e0000001000\ncall 1\njeq %r0, 1, +0\nexit",
		"mov32 %r1, 1\nstxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, 0x7e0000001000\ncall 1\njeq %r1, 0, +0\nexit",
		// A size mismatch between the mov and the store.
		"mov32 %r1, 1\nstxdw [%r10-8], %r1\nmov %r2, %r10\nadd %r2, -8\nlddw %r1, 0x7e0000001000\ncall 1\njeq %r0, 0, +0\nexit",
		// Not a lookup.
		"mov32 %r1, 1\nstxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, 0x7e0000001000\ncall 3\njeq %r0, 0, +0\nexit",
	} {
		insns, err := asm.Assemble(src)
		if err != nil {
			t.Fatal(err)
		}
		opts := fusionOptions(t)
		opts.Helpers[3] = opts.Helpers[1]
		p, err := Load(insns, opts)
		if err != nil {
			t.Fatal(err)
		}
		if k := p.code[0].kind; k == opMapGroupArray || k == opMapGroupHash {
			t.Errorf("fused:\n%s", isa.FormatProgram(insns))
		}
	}
}

// TestMapGroupDriver: a lookup group the hot loop cannot finish (a hit
// in a hash without preallocation) stops at the call, having run the
// instructions before it, and the driver looks the key up; groups whose
// store or key lie outside r10's frame are not fused and fail as the
// instructions do.
func TestMapGroupDriver(t *testing.T) {
	for _, c := range []struct {
		name  string
		src   string
		fused bool
		r0    uint64
		index int // of the error, if err
		err   error
		text  string
	}{
		{"nopre-hit", mapGroupSrc(testNopreHandle, 2, "r1", "stxw", -4, -4, "jeq"), true, 121, 0, nil, ""},
		{"nopre-hit-jne", mapGroupSrc(testNopreHandle, 6, "r7", "stxdw", -8, -8, "jne"), true, 161, 0, nil, ""},
		{"nopre-absent", mapGroupSrc(testNopreHandle, 3, "r1", "stxw", -4, -4, "jeq"), true, 100, 0, nil, ""},
		{"store-above-frame", mapGroupSrc(testArrayHandle, 1, "r1", "stxw", 8, -8, "jeq"), false, 0, 2, engine.ErrOutOfBounds, "write of 4 bytes"},
		{"store-above-frame-hash", mapGroupSrc(testHashHandle, 1, "r1", "stxdw", 8, -8, "jeq"), false, 0, 2, engine.ErrOutOfBounds, "write of 8 bytes"},
		// A key outside the stack: the driver finds no memory for it and
		// calls the helper, as the lookup op alone does.
		{"key-outside-array", mapGroupSrc(testArrayHandle, 1, "r1", "stxw", -8, 8, "jeq"), false, 0, 7, engine.ErrHelperFailed, "helper 1 called"},
		{"key-outside-hash", mapGroupSrc(testHashHandle, 1, "r1", "stxw", -8, 8, "jne"), false, 0, 7, engine.ErrHelperFailed, "helper 1 called"},
		{"key-straddles-frame", mapGroupSrc(testArrayHandle, 1, "r1", "stxw", -8, -2, "jne"), false, 0, 7, engine.ErrHelperFailed, "helper 1 called"},
	} {
		t.Run(c.name, func(t *testing.T) {
			insns, err := asm.Assemble(c.src)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Load(insns, fusionOptions(t))
			if err != nil {
				t.Fatal(err)
			}
			if k := p.code[1].kind; (k == opMapGroupArray || k == opMapGroupHash) != c.fused {
				t.Fatalf("slot 1 has kind %d; fused should be %v", k, c.fused)
			}
			vm := p.NewVM()
			r0, err := vm.Run(fusionMem())
			if c.err == nil {
				if err != nil || r0 != c.r0 {
					t.Fatalf("r0 = %d, %v; want %d", r0, err, c.r0)
				}
			} else {
				checkErr(t, err, c.err, c.index, c.text)
				// Slots before the failing one, the lddw counted once.
				want := uint64(c.index + 1)
				if c.index > 5 {
					want--
				}
				if vm.Executed() != want {
					t.Errorf("executed %d, want %d", vm.Executed(), want)
				}
			}
			checkAgainstStepping(t, p, nil)
		})
	}
}

// chainSrc is a program of unrolled array lookups as clang emits them
// (the keys, stored through kreg at r10+so each), accumulating into c
// through a, followed by code folding every register and the stack slots
// the keys use into r0, so that any difference in state shows.
// With first, the first lookup has the shape clang gives the first of
// unrolled lookups (c = 0, then c = the value on a hit: groupFirst), ten
// slots instead of eleven.
func chainSrc(keys []int, kreg, a, c string, so []int, first bool) string {
	var b strings.Builder
	// The stack as the run finds it (zero: the VM clears what runs wrote,
	// which the chain's dirty mark must cover).
	b.WriteString("mov %r9, 9007\n")
	for _, o := range []int{-4, -8, -12, -16} {
		fmt.Fprintf(&b, "ldxw %%r3, [%%r10%+d]\nmul %%r9, 7\nadd %%r9, %%r3\n", o)
	}
	for r := 3; r <= 8; r++ {
		fmt.Fprintf(&b, "mov %%r%d, %d\n", r, 1000*r+7)
	}
	for i, k := range keys {
		o := so[i%len(so)]
		if first && i == 0 {
			fmt.Fprintf(&b, "mov32 %%%s, %d\nstxw [%%r10%+d], %%%s\nmov %%r2, %%r10\nadd %%r2, %d\nlddw %%r1, %#x\ncall 1\nmov %%%s, 0\njeq %%r0, 0, +1\nldxdw %%%s, [%%r0+0]\n",
				kreg, k, o, kreg, o, uint64(testArrayHandle), c, c)
			continue
		}
		fmt.Fprintf(&b, "mov32 %%%s, %d\nstxw [%%r10%+d], %%%s\nmov %%r2, %%r10\nadd %%r2, %d\nlddw %%r1, %#x\ncall 1\njeq %%r0, 0, +3\nldxdw %%%s, [%%r0+0]\nadd %%%s, %%%s\nmov %%%s, %%%s\n",
			kreg, k, o, kreg, o, uint64(testArrayHandle), a, a, c, c, a)
	}
	b.WriteString("sub %r0, %r10\nsub %r2, %r10\n") // stack addresses as offsets
	for r := 1; r <= 9; r++ {
		fmt.Fprintf(&b, "mul %%r0, 31\nadd %%r0, %%r%d\n", r)
	}
	for _, o := range []int{-4, -8, -12, -16} {
		fmt.Fprintf(&b, "ldxw %%r3, [%%r10%+d]\nmul %%r0, 31\nadd %%r0, %%r3\n", o)
	}
	b.WriteString("exit")
	return b.String()
}

// TestMapGroupChain: runs of lookup groups on an array that inner runs
// as one chain (chainGroups, VM.chainVal) leave exactly the state of the
// instructions one at a time, with budgets ending anywhere, misses at any
// place and groups that cannot chain (an accumulator the group writes).
func TestMapGroupChain(t *testing.T) {
	for _, c := range []struct {
		name       string
		keys       []int
		kreg, a, c string
		so         []int
		chained    int // groups in chains
		first      bool
	}{
		{"hits", []int{1, 2, 7, 0, 3}, "r1", "r1", "r6", []int{-4}, 5, false},
		{"one", []int{5}, "r1", "r1", "r6", []int{-4}, 1, false},
		{"last-misses", []int{1, 2, 7, 9}, "r1", "r1", "r6", []int{-4}, 4, false},
		{"first-misses", []int{8, 2, 7, 1}, "r1", "r1", "r6", []int{-4}, 4, false},
		{"middle-misses", []int{1, 2, 100, 3, 4}, "r1", "r1", "r6", []int{-4}, 5, false},
		{"slots", []int{1, 2, 3, 4, 5, 6}, "r3", "r7", "r8", []int{-4, -12, -8, -16}, 6, false},
		{"key-in-accumulator", []int{1, 2, 3}, "r6", "r1", "r6", []int{-4}, 0, false},
		{"accumulator-r0", []int{1, 2, 3}, "r1", "r7", "r0", []int{-4}, 0, false},
		{"a-is-r0", []int{1, 2, 3}, "r1", "r0", "r9", []int{-8}, 3, false},
		{"key-r0", []int{4, 5, 6}, "r0", "r4", "r5", []int{-4}, 3, false},
		// clang's first lookup (groupFirst), then a chain.
		{"first-hits", []int{1, 2, 7, 0, 3}, "r1", "r1", "r6", []int{-4}, 4, true},
		{"first-shape-misses", []int{8, 2, 7}, "r1", "r1", "r6", []int{-4}, 2, true},
		{"first-then-miss", []int{1, 9, 7}, "r1", "r1", "r6", []int{-4}, 2, true},
		{"first-alone", []int{5}, "r1", "r1", "r6", []int{-4}, 0, true},
		{"first-alone-miss", []int{8}, "r1", "r1", "r6", []int{-4}, 0, true},
		{"first-slots", []int{1, 2, 3, 4}, "r3", "r7", "r8", []int{-12, -8, -16}, 3, true},
		{"first-key-in-c", []int{1, 2, 3}, "r6", "r1", "r6", []int{-4}, 0, true},
		{"first-c-r1", []int{4, 5}, "r1", "r7", "r1", []int{-4}, 0, true},
		{"first-c-r2", []int{4, 5}, "r1", "r7", "r2", []int{-4}, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, insns := loadFusion(t, chainSrc(c.keys, c.kreg, c.a, c.c, c.so, c.first))
			if len(p.chains) != c.chained {
				t.Fatalf("%d groups in chains, want %d\n%s", len(p.chains), c.chained, isa.FormatProgram(insns))
			}
			if g := p.code[7+4*3]; c.first && (g.kind != opMapGroupArray || g.aux&groupFirst == 0) {
				t.Fatalf("first lookup not fused as groupFirst: kind %d aux %#x", g.kind, g.aux)
			}
			full := checkAgainstStepping(t, p, nil)
			if full.err != "" {
				t.Fatal(full.err)
			}
			// Entered at each group but the first, by a jump, and with
			// the first shape at each of its slots but the lddw's second.
			var entries []int
			if c.first {
				for s := 1; s < 10; s++ {
					if s != 5 {
						entries = append(entries, 7+4*3+s)
					}
				}
			}
			for g := 1; g < len(c.keys); g++ {
				at := 7 + 4*3 + 11*g
				if c.first {
					at--
				}
				entries = append(entries, at)
			}
			for _, at := range entries {
				jumped := append([]isa.Instruction{{Opcode: isa.OpcodeJA, Offset: int16(at)}}, insns...)
				pj, err := Load(jumped, fusionOptions(t))
				if err != nil {
					t.Fatal(err)
				}
				checkAgainstStepping(t, pj, nil)
			}
		})
	}
}

// TestMapGroupChainCPU: a chain on a per-CPU array reads the slab of the
// VM's CPU, also after SetCPU.
func TestMapGroupChainCPU(t *testing.T) {
	m, err := maps.New(maps.Spec{Name: "pcpu", Type: maps.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 4, NumCPU: 2, SpinLockOffset: -1})
	if err != nil {
		t.Fatal(err)
	}
	for k := uint32(0); k < 4; k++ {
		vals := binary.LittleEndian.AppendUint64(nil, uint64(k+1))
		vals = binary.LittleEndian.AppendUint64(vals, uint64(100*(k+1)))
		if err := m.Update(binary.LittleEndian.AppendUint32(nil, k), vals, 0); err != nil {
			t.Fatal(err)
		}
	}
	im, ok := helpers.InlineMap(m, testArrayHandle)
	if !ok {
		t.Fatal("per-CPU array not inlinable")
	}
	src := "mov %r6, 0\n"
	for _, k := range []int{0, 1, 3} {
		src += fmt.Sprintf("mov32 %%r1, %d\nstxw [%%r10-4], %%r1\nmov %%r2, %%r10\nadd %%r2, -4\nlddw %%r1, %#x\ncall 1\njeq %%r0, 0, +3\nldxdw %%r1, [%%r0+0]\nadd %%r1, %%r6\nmov %%r6, %%r1\n", k, uint64(testArrayHandle))
	}
	insns, err := asm.Assemble(src + "mov %r0, %r6\nexit")
	if err != nil {
		t.Fatal(err)
	}
	opts := fusionOptions(t)
	opts.Inline = engine.Inline{Maps: []engine.InlineMap{im}}
	p, err := Load(insns, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.chains) != 3 {
		t.Fatalf("%d groups in chains, want 3", len(p.chains))
	}
	vm := p.NewVM()
	for _, c := range []struct {
		cpu  int
		want uint64
	}{{0, 1 + 2 + 4}, {1, 100 + 200 + 400}, {0, 7}, {3, 700}} {
		vm.SetCPU(c.cpu)
		if r0, err := vm.Run(nil); err != nil || r0 != c.want {
			t.Errorf("cpu %d: r0 = %d, %v; want %d", c.cpu, r0, err, c.want)
		}
	}
}
