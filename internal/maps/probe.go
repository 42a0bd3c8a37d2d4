package maps

import "unsafe"

// HashTable is a hash map's lock-free bucket table, for engines that look
// keys up without calling the map (a miss in the interpreter's hot loop).
// A reader walks it as find does: the bucket Buckets[hash&Mask] holds the
// first entry of a chain (an atomic pointer); an entry holds its key (a Go
// string: data pointer and length at KeyOffset), its hash (at
// HashOffset) and the next entry (an atomic pointer at NextOffset). The
// hash of a 4-byte (little-endian u32) or 8-byte (u64) key x is
// engine.Mix64(x ^ Seed). The table never moves while the map lives.
//
// Values, for a preallocated map, are the slabs of its values (see
// ValueSlabs): an entry's value address is an atomic pointer at
// ValueOffset; per-CPU maps (NumCPU > 0) keep CPU c's value Stride*c bytes
// after it. LRU maps' entries have a reference bit (a uint32) at
// RefOffset that lookups set.
type HashTable struct {
	Buckets unsafe.Pointer
	Mask    uint64
	Seed    uint64
	Values  [][]byte
	NumCPU  int
	Stride  uint64
	LRU     bool
}

// Offsets in an entry, for HashTable readers.
var (
	KeyOffset   = unsafe.Offsetof(hashEntry{}.key)
	HashOffset  = unsafe.Offsetof(hashEntry{}.hash)
	NextOffset  = unsafe.Offsetof(hashEntry{}.hnext)
	ValueOffset = unsafe.Offsetof(hashEntry{}.val)
	RefOffset   = unsafe.Offsetof(hashEntry{}.ref)
)

// Table returns the bucket table of m when readers may use it: a hash map
// (HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH: a reader deciding that
// a key is absent needs neither the values nor the LRU reference bits)
// with 4- or 8-byte keys.
func Table(m Map) (HashTable, bool) {
	h, ok := m.(*hashMap)
	if !ok || (h.spec.KeySize != 4 && h.spec.KeySize != 8) {
		return HashTable{}, false
	}
	t := HashTable{Buckets: unsafe.Pointer(unsafe.SliceData(h.buckets)), Mask: h.mask, Seed: h.seed64,
		Values: h.slabs, Stride: uint64(h.stride), LRU: h.lru}
	if h.percpu {
		t.NumCPU = h.ncpu
	}
	return t, true
}
