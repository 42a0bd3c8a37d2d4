package maps

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/bpfvm/bpfvm/internal/engine"
)

// hashEntry is one element. Its value lives in the map's preallocated
// slabs (or, with BPF_F_NO_PREALLOC, in its own heap allocation), so a
// program's pointer stays valid memory after the entry's removal or
// replacement.
type hashEntry struct {
	key string
	// val is the first byte of the value: for a per-CPU map, CPU 0's,
	// CPU c's following at c*stride (the values of one element are
	// contiguous, so engines find CPU c's with one addition). A replace of
	// a map that is not per-CPU stores another value here, so a program
	// that holds the old one keeps reading it intact, as when the kernel
	// replaces an element; readers load it without locking.
	val        atomic.Pointer[byte]
	prev, next *hashEntry // iteration order (insertion order; LRU rotation)
	ref        atomic.Bool
	// hash and hnext place the entry in the bucket table programs read
	// without locking.
	hash  uint64
	hnext atomic.Pointer[hashEntry]
}

// hashMap implements HASH, PERCPU_HASH, LRU_HASH and LRU_PERCPU_HASH.
//
// Iteration follows a linked list (insertion order), so NextKey is stable
// while other keys come and go. LRU eviction approximates the kernel's
// second-chance lists: a program lookup sets an entry's reference bit; the
// evictor walks from the oldest entry, giving referenced entries a second
// chance (clearing the bit, moving them to the back) and evicting the first
// unreferenced one.
type hashMap struct {
	base
	// wmu serialises the writers and the walks of the iteration list
	// (base.mu is unused: a plain mutex costs half the atomics of a
	// RWMutex's write lock, and lookups take no lock at all).
	wmu sync.Mutex
	// spare is a value buffer no entry uses (the kernel's extra_elems):
	// a replace writes the new value into it, publishes it, and keeps the
	// replaced value as the next spare, so updates allocate nothing. LRU
	// maps have none (a replace takes a free slot).
	spare *byte

	percpu, lru bool
	ncpu        int
	stride      int // bytes between the per-CPU values of an element
	elemSize    int // bytes of an element's values (stride per CPU)

	// Preallocated maps (the default, as in the kernel) keep every value
	// in slabs allocated with the map and owned by it for its whole life:
	// max_entries elements plus the spare. Slots never used yet are taken
	// in order (used counts them); deleted elements' slots go to free and
	// are reused, so a program still holding a deleted element's value
	// may see it reused, as with the kernel's preallocated elements.
	// Engines make the slabs persistent regions, so a lookup hit is just
	// the value's address. nil slabs: BPF_F_NO_PREALLOC (one allocation
	// per value).
	slabs      [][]byte
	perChunk   int // elements per slab
	used       int
	free       []*byte
	count      int // entries
	head, tail *hashEntry

	// buckets index the entries: a fixed table of chains that writers
	// (holding mu) change with atomic stores of fully built entries, so
	// program lookups walk it without a lock, as the kernel's
	// RCU-protected htab buckets are read. An entry leaving a
	// chain keeps its hnext, so a reader standing on it continues safely.
	seed    maphash.Seed
	seed64  uint64 // the seed of short keys (hashOf)
	buckets []atomic.Pointer[hashEntry]
	mask    uint64
}

// maxBuckets bounds the bucket table of one map; larger maps have longer
// chains instead.
const maxBuckets = 1 << 16

// bucketsFor returns the bucket count for maxEntries entries: the next
// power of two, as the kernel sizes htab.
func bucketsFor(maxEntries uint32) int {
	n := 1
	if maxEntries > 1 {
		n = 1 << bits.Len32(maxEntries-1)
	}
	return min(n, maxBuckets)
}

// hashOf hashes a key for the bucket index. Keys of 4 and 8 bytes (the
// common u32/u64 keys) take a seeded splitmix64 finalizer, a few cycles
// against maphash's call; the seed is per map, so chains cannot be
// predicted from outside.
func (m *hashMap) hashOf(key []byte) uint64 {
	var x uint64
	switch len(key) {
	case 4:
		x = uint64(binary.LittleEndian.Uint32(key))
	case 8:
		x = binary.LittleEndian.Uint64(key)
	default:
		return maphash.Bytes(m.seed, key)
	}
	return engine.Mix64(x ^ m.seed64) // the engines' inline lookups hash the same way
}

// chainLink returns the pointer that points at e in its bucket's chain.
// The caller holds mu; e is in the table.
func (m *hashMap) chainLink(e *hashEntry) *atomic.Pointer[hashEntry] {
	link := &m.buckets[e.hash&m.mask]
	for cur := link.Load(); cur != e; cur = link.Load() {
		link = &cur.hnext
	}
	return link
}

func newHash(spec Spec) (Map, error) {
	if err := checkSizes(&spec, false); err != nil {
		return nil, err
	}
	allowed := FlagNoPrealloc | FlagNumaNode | FlagZeroSeed
	lru := spec.Type == LRUHash || spec.Type == LRUPerCPUHash
	if lru {
		// The kernel rejects BPF_F_NO_PREALLOC on LRU maps.
		allowed = FlagNoCommonLRU | FlagNumaNode | FlagZeroSeed
	}
	if err := checkFlags(&spec, allowed); err != nil {
		return nil, err
	}
	percpu := spec.Type == PerCPUHash || spec.Type == LRUPerCPUHash
	if percpu && spec.SpinLockOffset >= 0 {
		spec.SpinLockOffset = -1
	}
	if spec.KeySize > 512 {
		return nil, fmt.Errorf("%w: key size %d exceeds 512 bytes", ErrInvalid, spec.KeySize)
	}
	nb := bucketsFor(spec.MaxEntries)
	seed := maphash.MakeSeed()
	m := &hashMap{
		base:    base{spec: spec},
		percpu:  percpu,
		lru:     lru,
		ncpu:    spec.numCPU(),
		seed:    seed,
		seed64:  maphash.Comparable(seed, spec.MaxEntries),
		buckets: make([]atomic.Pointer[hashEntry], nb),
		mask:    uint64(nb - 1),
		stride:  roundUp8(spec.ValueSize),
	}
	m.elemSize = m.stride
	if percpu {
		m.elemSize *= m.ncpu
	}
	if lru || spec.Flags&FlagNoPrealloc == 0 {
		if err := m.prealloc(); err != nil {
			return nil, err
		}
		if !percpu && !lru {
			// The spare exists from the start, apart from the free
			// list, as the kernel's extra_elems: a replace never takes
			// a deleted element's value (a program may still hold it).
			// LRU maps have none: a replace takes a free element.
			m.spare = m.take()
		}
	}
	return m, nil
}

// Slab sizing: one slab holds at most maxSlabBytes (larger maps take
// several, so no single allocation is giant), and a map's slabs at most
// maxPreallocBytes in all (beyond, creation fails with ENOMEM, as the
// kernel's would where memory runs out).
const maxPreallocBytes = 16 << 30

var maxSlabBytes uint64 = 64 << 20

// SetSlabLimit makes the hash maps created afterwards use slabs of at
// most n bytes (at least one element each) and returns what restores the
// limit: tests use it to spread a small map's values over several slabs.
// Not for concurrent use with map creation.
func SetSlabLimit(n uint64) (restore func()) {
	old := maxSlabBytes
	maxSlabBytes = max(n, 1)
	return func() { maxSlabBytes = old }
}

// prealloc allocates the value slabs: max_entries elements, plus the
// spare a replace writes into for maps that are not per-CPU (the kernel's
// extra_elems; per-CPU values are updated in place). The memory is
// zeroed pages the OS maps in as they are first written.
func (m *hashMap) prealloc() error {
	n := uint64(m.spec.MaxEntries)
	if !m.percpu {
		n++
	}
	es := uint64(m.elemSize)
	if n*es > maxPreallocBytes {
		return fmt.Errorf("%w: preallocating %d elements of %d bytes", ErrNoMemory, n, es)
	}
	m.perChunk = int(max(1, maxSlabBytes/es))
	for n > 0 {
		k := min(n, uint64(m.perChunk))
		m.slabs = append(m.slabs, make([]byte, k*es))
		n -= k
	}
	return nil
}

// ValueSlabs returns the slabs holding a preallocated hash map's values
// (nil for BPF_F_NO_PREALLOC or another map type): they never move and
// hold only values and padding, so engines may expose them whole.
func ValueSlabs(mp Map) [][]byte {
	if m, ok := mp.(*hashMap); ok {
		return m.slabs
	}
	return nil
}

// take returns a zeroed element's values: a slot of the slabs (free ones
// first), or a fresh allocation for BPF_F_NO_PREALLOC. The caller holds
// wmu. nil: the slabs are exhausted (not reached: count bounds them).
func (m *hashMap) take() *byte { return m.takeSlot(true) }

// takeSlot is take; with zero false a reused slot keeps its old bytes,
// for a caller that overwrites the whole value at once (the padding
// after a value is never written, so it is still zero).
func (m *hashMap) takeSlot(zero bool) *byte {
	if m.slabs == nil {
		return unsafe.SliceData(make([]byte, m.elemSize))
	}
	if n := len(m.free); n > 0 {
		p := m.free[n-1]
		m.free = m.free[:n-1]
		if zero {
			// Word by word atomically: a program may still read the
			// element it looked up before the delete (slots are 8-byte
			// aligned and sized).
			for off := 0; off < m.elemSize; off += 8 {
				atomic.StoreUint64((*uint64)(unsafe.Add(unsafe.Pointer(p), off)), 0)
			}
		}
		return p
	}
	if m.used/m.perChunk >= len(m.slabs) {
		return nil
	}
	p := &m.slabs[m.used/m.perChunk][(m.used%m.perChunk)*m.elemSize]
	m.used++
	return p
}

// release returns a removed element's values to the free list. The
// caller holds wmu.
func (m *hashMap) release(p *byte) {
	if m.slabs != nil && p != nil {
		m.free = append(m.free, p)
	}
}

func (m *hashMap) HostValueSize() int {
	if m.percpu {
		return m.elemSize
	}
	return int(m.spec.ValueSize)
}

func (m *hashMap) link(e *hashEntry) {
	e.prev, e.next = m.tail, nil
	if m.tail != nil {
		m.tail.next = e
	} else {
		m.head = e
	}
	m.tail = e
}

func (m *hashMap) unlink(e *hashEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		m.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		m.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (m *hashMap) remove(e *hashEntry) {
	m.unlink(e)
	m.count--
	m.chainLink(e).Store(e.hnext.Load())
	m.release(e.val.Load())
}

// evict removes one entry to make room in a full LRU map.
func (m *hashMap) evict() {
	for n := 0; m.head != nil; n++ {
		e := m.head
		// After a full lap every bit is clear: evict unconditionally.
		if e.ref.Load() && n < m.count {
			e.ref.Store(false)
			m.unlink(e)
			m.link(e)
			continue
		}
		m.remove(e)
		return
	}
}

func (m *hashMap) cpu(cpu int) int {
	if cpu < 0 || cpu >= m.ncpu {
		return ((cpu % m.ncpu) + m.ncpu) % m.ncpu
	}
	return cpu
}

func (m *hashMap) Lookup(key, value []byte, flags uint64) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	if err := checkValue(m, value); err != nil {
		return err
	}
	if err := checkLookupFlags(&m.spec, flags); err != nil {
		return err
	}
	// No lock, as the kernel's lookups under RCU: the index is read
	// lock-free and values are copied word by word atomically. A
	// BPF_F_LOCK lookup excludes the writers, whose in-place copies of
	// such values it must not see half done.
	if flags&UpdateLock != 0 {
		m.wmu.Lock()
		defer m.wmu.Unlock()
	}
	e := m.find(key)
	if e == nil {
		return ErrKeyNotExist
	}
	m.copyOut(e, value)
	return nil
}

func checkLookupFlags(spec *Spec, flags uint64) error {
	if flags&^UpdateLock != 0 {
		return fmt.Errorf("%w: lookup flags %#x", ErrInvalid, flags)
	}
	if flags&UpdateLock != 0 && spec.SpinLockOffset < 0 {
		return fmt.Errorf("%w: BPF_F_LOCK on a value without a bpf_spin_lock", ErrInvalid)
	}
	return nil
}

// valueOf returns the live value of e for cpu (the value, for maps that
// are not per-CPU).
func (m *hashMap) valueOf(e *hashEntry, cpu int) []byte {
	p := e.val.Load()
	if m.percpu {
		p = (*byte)(unsafe.Add(unsafe.Pointer(p), m.cpu(cpu)*m.stride))
	}
	return unsafe.Slice(p, m.spec.ValueSize)
}

func (m *hashMap) copyOut(e *hashEntry, value []byte) {
	if !m.percpu {
		loadValue(value, m.valueOf(e, 0))
		return
	}
	stride := m.stride
	for c := range m.ncpu {
		out := value[c*stride : (c+1)*stride]
		v := m.valueOf(e, c)
		loadValue(out, v)
		clear(out[len(v):])
	}
}

func (m *hashMap) Update(key, value []byte, flags uint64) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	if err := checkValue(m, value); err != nil {
		return err
	}
	return m.update(key, value, flags, -1)
}

func (m *hashMap) ProgUpdate(key, value []byte, flags uint64, cpu int) error {
	if len(key) != int(m.spec.KeySize) || len(value) != int(m.spec.ValueSize) {
		return fmt.Errorf("%w: key or value size", ErrInvalid)
	}
	return m.update(key, value, flags, m.cpu(cpu))
}

// update stores value; cpu < 0 means the host's all-CPU layout.
//
// The common case, a replace of an existing key with BPF_ANY or
// BPF_EXIST, is kept short: flags are validated in full only when they
// are unusual, the key is hashed once (outside the lock), and the lock is
// released without a defer (nothing below can panic: the callers checked
// the sizes).
func (m *hashMap) update(key, value []byte, flags uint64, cpu int) error {
	if flags > UpdateExist {
		if err := checkUpdateFlags(&m.spec, flags); err != nil {
			return err
		}
	}
	h := m.hashOf(key)
	m.wmu.Lock()
	err := m.updateLocked(key, value, flags, cpu, h)
	m.wmu.Unlock()
	return err
}

// updateLocked is update with wmu held and h the hash of key.
func (m *hashMap) updateLocked(key, value []byte, flags uint64, cpu int, h uint64) error {
	old := m.findHashed(key, h)
	switch {
	case old != nil && flags&3 == UpdateNoExist:
		return ErrKeyExist
	case old == nil && flags&3 == UpdateExist:
		return ErrKeyNotExist
	}
	if old != nil && (m.percpu || flags&UpdateLock != 0) {
		// Per-CPU values and BPF_F_LOCK updates are copied in place, as
		// the kernel does (pcpu_copy_value, copy_map_value_locked).
		m.fill(old, value, cpu)
		return nil
	}
	if old != nil {
		// Replace: the new value is built in full in other memory and then
		// published, so a program holding the old value keeps it intact
		// (until the next replace reuses it, as in the kernel). For LRU
		// maps the element becomes the most recent, as a new kernel
		// element would.
		p := m.spare
		if p == nil || m.lru {
			// An LRU map's replace takes a free element and frees the
			// old one (the kernel's prealloc_lru_pop, htab_lru_push_free).
			// Not zeroed: the value is overwritten whole just below,
			// except a spin lock word, which copyValue keeps (zero it).
			if p = m.takeSlot(m.spec.SpinLockOffset >= 0); p == nil {
				return ErrNoMemory
			}
		}
		v := unsafe.Slice(p, m.spec.ValueSize)
		if m.spec.SpinLockOffset < 0 {
			// No reader can be mid-way through the spare's value except
			// a program still holding it from before an earlier replace,
			// which (as in the kernel) may see the new bytes: plain word
			// stores, which Go never tears, suffice (storeWords).
			storeWords(v, value)
		} else {
			copyValue(&m.spec, v, value)
		}
		prev := old.val.Swap(p)
		if m.lru {
			m.release(prev)
			old.ref.Store(false)
			m.unlink(old)
			m.link(old)
			return nil
		}
		// The replaced value becomes the spare, as the kernel's per-CPU
		// extra element takes the old element's place: the next replace
		// writes into it. Without preallocation, values with a spin lock
		// are never recycled (a fresh value starts unlocked); preallocated
		// ones are, as the kernel's (copyValue keeps the lock word).
		m.spare = nil
		if m.slabs != nil || m.spec.SpinLockOffset < 0 {
			m.spare = prev
		}
		return nil
	}
	if m.count >= int(m.spec.MaxEntries) {
		if !m.lru {
			return ErrMapFull
		}
		m.evict()
	}
	p := m.take()
	if p == nil {
		return ErrNoMemory
	}
	e := &hashEntry{key: string(key), hash: h}
	e.val.Store(p)
	m.fill(e, value, cpu)
	// Built in full before it is published to lock-free readers.
	b := &m.buckets[e.hash&m.mask]
	e.hnext.Store(b.Load())
	b.Store(e)
	m.link(e)
	m.count++
	return nil
}

// fill copies a value into e: the host layout (one padded value per CPU)
// when cpu < 0, else value goes to that CPU and, for a new element, the
// other CPUs start zeroed.
func (m *hashMap) fill(e *hashEntry, value []byte, cpu int) {
	if !m.percpu {
		copyValue(&m.spec, m.valueOf(e, 0), value)
		return
	}
	if cpu >= 0 {
		// In place, as the kernel's pcpu_copy_value: a reader may see
		// some words old and some new, never a torn word (storeWords).
		storeWords(m.valueOf(e, cpu), value)
		return
	}
	for c := range m.ncpu {
		storeValue(m.valueOf(e, c), value[c*m.stride:])
	}
}

func (m *hashMap) Delete(key []byte) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	return m.ProgDelete(key)
}

func (m *hashMap) ProgDelete(key []byte) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	e := m.find(key)
	if e == nil {
		return ErrKeyNotExist
	}
	m.remove(e)
	return nil
}

func (m *hashMap) NextKey(key, next []byte) error {
	if key != nil {
		if err := checkKey(&m.spec, key); err != nil {
			return err
		}
	}
	if len(next) != int(m.spec.KeySize) {
		return fmt.Errorf("%w: next key buffer is %d bytes, want %d", ErrInvalid, len(next), m.spec.KeySize)
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	var e *hashEntry
	if key != nil {
		e = m.find(key)
	}
	if e == nil {
		// The kernel restarts from the first element when the key is
		// absent.
		e = m.head
	} else {
		e = e.next
	}
	if e == nil {
		return ErrKeyNotExist
	}
	copy(next, e.key)
	return nil
}

func (m *hashMap) LookupAndDelete(key, value []byte, flags uint64) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	if err := checkValue(m, value); err != nil {
		return err
	}
	if err := checkLookupFlags(&m.spec, flags); err != nil {
		return err
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	e := m.find(key)
	if e == nil {
		return ErrKeyNotExist
	}
	m.copyOut(e, value)
	m.remove(e)
	return nil
}

func (m *hashMap) ProgLookup(key []byte, cpu int) []byte {
	e := m.find(key)
	if e == nil {
		return nil
	}
	if m.lru && !e.ref.Load() {
		e.ref.Store(true)
	}
	return m.valueOf(e, cpu)
}

// find returns the entry of key without locking (see buckets), or nil.
func (m *hashMap) find(key []byte) *hashEntry {
	return m.findHashed(key, m.hashOf(key))
}

// findHashed is find with h the hash of key. Keys of 4 and 8 bytes are
// compared as words rather than through the string comparison's call
// (every key of a map has the map's key size).
func (m *hashMap) findHashed(key []byte, h uint64) *hashEntry {
	e := m.buckets[h&m.mask].Load()
	switch len(key) {
	case 4:
		k := binary.LittleEndian.Uint32(key)
		for ; e != nil; e = e.hnext.Load() {
			if e.hash == h && len(e.key) == 4 && binary.LittleEndian.Uint32(unsafe.Slice(unsafe.StringData(e.key), 4)) == k {
				return e
			}
		}
	case 8:
		k := binary.LittleEndian.Uint64(key)
		for ; e != nil; e = e.hnext.Load() {
			if e.hash == h && len(e.key) == 8 && binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(e.key), 8)) == k {
				return e
			}
		}
	default:
		for ; e != nil; e = e.hnext.Load() {
			if e.hash == h && e.key == string(key) {
				return e
			}
		}
	}
	return nil
}
