package engine

import (
	"unsafe"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// Helper ids engines may run inline (the kernel's numbers).
const (
	HelperMapLookupElem int32 = 1
	HelperMapUpdateElem int32 = 2
	HelperMapDeleteElem int32 = 3
	HelperKtimeGetNs    int32 = 5
	HelperGetPrandomU32 int32 = 7
)

// MapKind says how an engine may run the helpers of an InlineMap.
type MapKind uint8

// Kinds of inline maps.
const (
	// MapArray is ARRAY or PERCPU_ARRAY: values live in slabs, a lookup is
	// an address computation.
	MapArray MapKind = iota + 1
	// MapHash is a hash map (HASH, PERCPU_HASH, LRU_HASH,
	// LRU_PERCPU_HASH): a lookup walks Table or calls Lookup directly,
	// without the generic helper's dispatch.
	MapHash
)

// InlineMap describes one map a program references statically (an lddw
// loads its handle), so engines can run map_lookup_elem, map_update_elem
// and map_delete_elem on it without the generic helper call. Engines must
// produce exactly what the helpers would (results, errors, exposed
// memory): wherever an inline path cannot decide (r1 is not Handle at run
// time, the key or value is not in memory the engine checks quickly), it
// calls the helper instead.
type InlineMap struct {
	// Handle is the value programs hold as the map's pointer.
	Handle uint64
	Kind   MapKind
	// KeySize and ValueSize are the map's sizes in bytes.
	KeySize, ValueSize uint32
	// Writable says programs may write the values (no BPF_F_RDONLY_PROG).
	Writable bool

	// MapArray: Slabs holds one slab per CPU (one for ARRAY); value i of
	// CPU c starts at Slabs[c%len(Slabs)][i*Stride]; keys are u32 indices
	// below MaxEntries. The slabs never move and hold only values and
	// padding: engines make them persistent regions of every VM.
	Slabs      [][]byte
	Stride     uint64
	MaxEntries uint32

	// Lookup returns the live value of key for cpu (nil: absent), as the
	// lookup helper finds it (MapHash only). The engine makes the value
	// accessible to the program until the run ends, as Env.AddRegion.
	Lookup func(key []byte, cpu int) []byte
	// Table, for a MapHash whose Buckets is not nil, lets an engine
	// decide that a key is absent without calling the map (see
	// HashTable), and, when HitInline, find a present key's value
	// without calling it either; other lookups call Lookup.
	Table HashTable
	// Update and Delete return the helper's r0 (0 or -errno) for key (and
	// value, flags) on cpu. Both kinds.
	Update func(key, value []byte, flags uint64, cpu int) uint64
	Delete func(key []byte) uint64
}

// HashTable is a hash map's lock-free bucket table (maps.HashTable): the
// bucket Buckets[h&Mask] is an atomic pointer to the first entry of a
// chain; an entry holds its key as a Go string (data pointer, length) at
// KeyOffset, its hash at HashOffset and the next entry (an atomic
// pointer) at NextOffset. The hash of a KeySize 4 (little-endian u32) or
// 8 (u64) key x is Mix64(x ^ Seed). The table never moves.
//
// When Values is not nil (a preallocated map), every value lives for the
// map's whole life in those slabs (engines make them persistent regions)
// and a lookup that finds the key may return the value's address itself:
// an entry holds the address (an atomic pointer) at ValueOffset; for a
// per-CPU map (NumCPU > 0) CPU c's value is at that address plus
// (c mod NumCPU)*Stride. For an LRU map, a hit also sets the entry's
// reference bit (a uint32 at RefOffset) when it is clear, as the helper
// does.
type HashTable struct {
	Buckets                           unsafe.Pointer
	Mask, Seed                        uint64
	KeyOffset, HashOffset, NextOffset uintptr

	Values      [][]byte
	ValueOffset uintptr
	NumCPU      int
	Stride      uint64
	LRU         bool
	RefOffset   uintptr
}

// HitInline reports whether engines may return a hit's value address
// without calling Lookup (see HashTable).
func (t *HashTable) HitInline() bool { return t.Buckets != nil && t.Values != nil }

// Mix64 is the splitmix64 finalizer: the hash of HashTable keys and the
// output step of get_prandom_u32.
func Mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Inline is what engines may run inline instead of calling helpers.
type Inline struct {
	// Maps are the maps the program references; at most 255 (the rest go
	// through the helpers).
	Maps []InlineMap
	// Prandom says get_prandom_u32 (helper 7) may run inline on the state
	// a VM is given (SetPrandom), with exactly the helper's sequence (see
	// PrandomNext).
	Prandom bool
	// Ktime says ktime_get_ns (helper 5) may run inline: the helper
	// returns CLOCK_MONOTONIC minus KtimeBase nanoseconds, so an engine
	// may read the clock itself (the JIT calls the vDSO's clock_gettime).
	Ktime     bool
	KtimeBase int64
	// Leaf holds helper ids whose functions never call Env.Call: a program
	// calling no other helper needs no frames for callbacks (the JIT then
	// clears only the frames its own calls use, and an exit of the entry
	// function ends the run directly). A wrong entry breaks callbacks.
	Leaf map[int32]bool
}

// MaxInlineMaps bounds Inline.Maps: engines index them with a byte.
const MaxInlineMaps = 255

// PrandomNext advances a get_prandom_u32 state and returns the helper's
// result: a splitmix64 step, truncated to 32 bits. The helper and every
// engine that inlines it use this sequence, so a seeded run produces the
// same numbers on every engine.
func PrandomNext(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	return uint64(uint32(Mix64(*state)))
}

// StaticMapArg returns the index in maps of the map whose handle r1 holds
// at the helper call in slot call, when an lddw of that handle into r1 in
// the same basic block reaches the call (as the kernel's verifier tracks a
// CONST_PTR_TO_MAP), or -1. insns must be valid (isa.Validate). Engines
// still compare r1 with the handle at run time, so this only picks the
// candidate: a wrong guess costs speed, never correctness.
func StaticMapArg(insns []isa.Instruction, targets []bool, call int, maps []InlineMap) int {
	for j := call - 1; j >= 0; j-- {
		if targets[j+1] {
			return -1 // another path may reach the call with another r1
		}
		if j > 0 && insns[j-1].IsLDDW() {
			j-- // the second slot of an lddw: look at its first
		}
		in := insns[j]
		cl := in.Class()
		if cl == isa.ClassJMP || cl == isa.ClassJMP32 {
			// A jump or call ends the block (a jump falling through would
			// also do, but r1 may be a helper's clobbered argument in the
			// kernel's model): unknown.
			return -1
		}
		if !writesReg(in, isa.R1) {
			continue
		}
		if !in.IsLDDW() || in.Src != isa.PseudoImm64 {
			return -1
		}
		h := isa.Imm64(insns, j)
		for k := range maps {
			if k < MaxInlineMaps && maps[k].Handle == h {
				return k
			}
		}
		return -1
	}
	return -1
}

// JumpTargets marks the slots of insns that a jump or local call can
// reach other than by falling through (for StaticMapArg), with one extra
// entry at len(insns).
func JumpTargets(insns []isa.Instruction) []bool {
	t := make([]bool, len(insns)+1)
	for i := 0; i < len(insns); i++ {
		if tg, ok := isa.Target(insns, i); ok && tg >= 0 && tg < len(insns) {
			t[tg] = true
		}
		if insns[i].IsLDDW() {
			i++
		}
	}
	return t
}

// writesReg reports whether in may write register r (conservatively:
// true for anything it cannot rule out).
func writesReg(in isa.Instruction, r uint8) bool {
	switch in.Class() {
	case isa.ClassALU, isa.ClassALU64, isa.ClassLDX:
		return in.Dst == r
	case isa.ClassLD:
		// lddw writes dst; legacy packet loads clobber r1-r5 (and r0).
		return in.IsLDDW() && in.Dst == r || !in.IsLDDW()
	case isa.ClassST:
		return false
	case isa.ClassSTX:
		// Atomics with FETCH write src (cmpxchg writes r0).
		return in.Mode() == isa.ModeATOMIC && (in.Src == r || r == isa.R0)
	}
	return true
}
