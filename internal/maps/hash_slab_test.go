package maps

import (
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"
)

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// inSlabs reports whether the n bytes at p lie in one of slabs.
func inSlabs(slabs [][]byte, p unsafe.Pointer, n int) bool {
	a := uintptr(p)
	for _, s := range slabs {
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
		if a >= lo && a+uintptr(n) <= lo+uintptr(len(s)) {
			return true
		}
	}
	return false
}

func TestHashPreallocSlabs(t *testing.T) {
	restore := SetSlabLimit(64) // 8 values of 8 bytes per slab
	defer restore()
	m, err := New(Spec{Type: Hash, KeySize: 4, ValueSize: 5, MaxEntries: 20, SpinLockOffset: -1})
	if err != nil {
		t.Fatal(err)
	}
	slabs := ValueSlabs(m)
	total := 0
	for _, s := range slabs {
		total += len(s)
	}
	// max_entries plus the spare, 8 bytes each (5 rounded up).
	if len(slabs) != 3 || total != 21*8 {
		t.Fatalf("%d slabs of %d bytes in all, want 3 and %d", len(slabs), total, 21*8)
	}
	tab, ok := Table(m)
	if !ok || tab.Values == nil || tab.NumCPU != 0 {
		t.Fatalf("Table: %+v %v", tab, ok)
	}
	live := map[unsafe.Pointer]uint32{}
	for k := uint32(0); k < 20; k++ {
		if err := m.Update(u32(k), []byte{byte(k), 1, 2, 3, 4}, UpdateAny); err != nil {
			t.Fatal(err)
		}
		p := unsafe.Pointer(unsafe.SliceData(m.ProgLookup(u32(k), 0)))
		if !inSlabs(slabs, p, 5) {
			t.Fatalf("key %d: value %p outside the slabs", k, p)
		}
		if o, dup := live[p]; dup {
			t.Fatalf("keys %d and %d share a value", o, k)
		}
		live[p] = k
	}
	if err := m.Update(u32(99), make([]byte, 5), UpdateAny); !errors.Is(err, ErrMapFull) {
		t.Fatalf("insert into a full map: %v, want E2BIG", err)
	}
	// A deleted element's value is reused by the next insert, cleared
	// first, as the kernel's free list hands elements out again.
	old := m.ProgLookup(u32(7), 0)
	if err := m.Delete(u32(7)); err != nil {
		t.Fatal(err)
	}
	if err := m.Update(u32(50), []byte{9, 9}[:0:0], UpdateAny); err == nil {
		t.Fatal("a short value was accepted")
	}
	if err := m.Update(u32(50), []byte{50, 0, 0, 0, 0}, UpdateAny); err != nil {
		t.Fatal(err)
	}
	if v := m.ProgLookup(u32(50), 0); &v[0] != &old[0] || old[0] != 50 || old[1] != 0 {
		t.Fatalf("new element at %p (%v), want the deleted one's value %p rewritten", &v[0], v, &old[0])
	}
	// Replaces go through the spare and never run out, however many.
	for i := 0; i < 100; i++ {
		k := uint32(i % 20)
		if k == 7 {
			continue
		}
		if err := m.Update(u32(k), []byte{byte(i), 0, 0, 0, 0}, UpdateExist); err != nil {
			t.Fatalf("replace %d: %v", i, err)
		}
		if v := m.ProgLookup(u32(k), 0); !inSlabs(slabs, unsafe.Pointer(&v[0]), 5) || v[0] != byte(i) {
			t.Fatalf("replace %d: %v", i, v)
		}
	}
}

// TestHashPreallocReplaceSpare: a held value survives the first replace
// and receives the second, as testdata/hash_replace.c shows the kernel.
func TestHashPreallocReplaceSpare(t *testing.T) {
	m, err := New(Spec{Type: Hash, KeySize: 4, ValueSize: 8, MaxEntries: 4, SpinLockOffset: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Update(u32(1), u64(100), UpdateAny); err != nil {
		t.Fatal(err)
	}
	p := m.ProgLookup(u32(1), 0)
	for _, c := range []struct{ v, held uint64 }{{200, 100}, {300, 300}} {
		if err := m.Update(u32(1), u64(c.v), UpdateAny); err != nil {
			t.Fatal(err)
		}
		if got := binary.LittleEndian.Uint64(p); got != c.held {
			t.Fatalf("after storing %d the held value reads %d, want %d", c.v, got, c.held)
		}
	}
}

func TestHashPerCPUPreallocLayout(t *testing.T) {
	m, err := New(Spec{Type: PerCPUHash, KeySize: 8, ValueSize: 4, MaxEntries: 3, NumCPU: 3, SpinLockOffset: -1})
	if err != nil {
		t.Fatal(err)
	}
	host := []byte{1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0}
	if err := m.Update(u64(5), host, UpdateAny); err != nil {
		t.Fatal(err)
	}
	tab, _ := Table(m)
	if tab.NumCPU != 3 || tab.Stride != 8 {
		t.Fatalf("Table: NumCPU %d, Stride %d, want 3 and 8", tab.NumCPU, tab.Stride)
	}
	base := unsafe.Pointer(&m.ProgLookup(u64(5), 0)[0])
	for c := 0; c < 3; c++ {
		v := m.ProgLookup(u64(5), c)
		if unsafe.Pointer(&v[0]) != unsafe.Add(base, 8*c) || v[0] != byte(c+1) {
			t.Fatalf("CPU %d: value %v at %p, want %d at base+%d", c, v, &v[0], c+1, 8*c)
		}
	}
	// A program's insert on CPU 1 leaves the other CPUs zeroed, also in
	// a reused element.
	if err := m.Delete(u64(5)); err != nil {
		t.Fatal(err)
	}
	if err := m.ProgUpdate(u64(6), []byte{7, 7, 7, 7}, UpdateAny, 1); err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 24)
	if err := m.Lookup(u64(6), out, 0); err != nil {
		t.Fatal(err)
	}
	if want := []byte{0, 0, 0, 0, 0, 0, 0, 0, 7, 7, 7, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}; string(out) != string(want) {
		t.Fatalf("values %v, want %v", out, want)
	}
}

func TestHashNoPreallocHasNoSlabs(t *testing.T) {
	m, err := New(Spec{Type: Hash, KeySize: 4, ValueSize: 8, MaxEntries: 1 << 30, Flags: FlagNoPrealloc, SpinLockOffset: -1})
	if err != nil {
		t.Fatal(err)
	}
	if ValueSlabs(m) != nil {
		t.Fatal("BPF_F_NO_PREALLOC map has value slabs")
	}
	if tab, _ := Table(m); tab.Values != nil {
		t.Fatal("BPF_F_NO_PREALLOC map's table has values")
	}
	if err := m.Update(u32(3), u64(3), UpdateAny); err != nil {
		t.Fatal(err)
	}
	// Preallocating as much is refused.
	if _, err := New(Spec{Type: Hash, KeySize: 4, ValueSize: 64, MaxEntries: 1 << 30, SpinLockOffset: -1}); !errors.Is(err, ErrNoMemory) {
		t.Fatalf("preallocating 64 GiB: %v, want ENOMEM", err)
	}
}
