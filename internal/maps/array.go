package maps

import (
	"encoding/binary"
	"fmt"
)

// maxArrayBytes bounds the memory one array map may take (per CPU).
const maxArrayBytes = 1 << 31

// arrayMap implements ARRAY and PERCPU_ARRAY: values live in one slab per
// CPU, each element padded to 8 bytes, and are updated in place.
type arrayMap struct {
	base
	unsupported
	percpu bool
	stride int
	slabs  [][]byte // one per CPU (one for ARRAY)
}

func newArray(spec Spec) (Map, error) {
	if err := checkSizes(&spec, false); err != nil {
		return nil, err
	}
	if spec.KeySize != 4 {
		return nil, fmt.Errorf("%w: %s map needs 4-byte keys, not %d", ErrInvalid, spec.Type, spec.KeySize)
	}
	if err := checkFlags(&spec, FlagNumaNode|FlagMmapable|FlagInnerMap); err != nil {
		return nil, err
	}
	percpu := spec.Type == PerCPUArray
	if percpu {
		spec.SpinLockOffset = -1
		if spec.Flags&FlagMmapable != 0 {
			return nil, fmt.Errorf("%w: per-CPU array cannot be mmapable", ErrInvalid)
		}
		if spec.ValueSize > 32<<10 {
			return nil, fmt.Errorf("%w: per-CPU value size %d exceeds 32 KiB", ErrMapFull, spec.ValueSize)
		}
	}
	stride := roundUp8(spec.ValueSize)
	if uint64(stride)*uint64(spec.MaxEntries) > maxArrayBytes {
		return nil, fmt.Errorf("%w: %d entries of %d bytes", ErrNoMemory, spec.MaxEntries, stride)
	}
	m := &arrayMap{base: base{spec: spec}, percpu: percpu, stride: stride}
	n := 1
	if percpu {
		n = spec.numCPU()
	}
	m.slabs = make([][]byte, n)
	for i := range m.slabs {
		m.slabs[i] = make([]byte, stride*int(spec.MaxEntries))
	}
	return m, nil
}

func (m *arrayMap) HostValueSize() int {
	if m.percpu {
		return m.stride * len(m.slabs)
	}
	return int(m.spec.ValueSize)
}

func (m *arrayMap) elem(cpu int, i uint32) []byte {
	off := int(i) * m.stride
	return m.slabs[cpu][off : off+int(m.spec.ValueSize) : off+int(m.spec.ValueSize)]
}

// index decodes a key (host byte order is little-endian for eBPF).
func index(key []byte) uint32 { return binary.LittleEndian.Uint32(key) }

func (m *arrayMap) Lookup(key, value []byte, flags uint64) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	if err := checkValue(m, value); err != nil {
		return err
	}
	if err := checkLookupFlags(&m.spec, flags); err != nil {
		return err
	}
	i := index(key)
	if i >= m.spec.MaxEntries {
		return ErrKeyNotExist
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.percpu {
		loadValue(value, m.elem(0, i))
		return nil
	}
	for c := range m.slabs {
		out := value[c*m.stride : (c+1)*m.stride]
		loadValue(out, m.slabs[c][int(i)*m.stride:(int(i)+1)*m.stride])
	}
	return nil
}

func (m *arrayMap) Update(key, value []byte, flags uint64) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	if err := checkValue(m, value); err != nil {
		return err
	}
	// The bpf() syscall checks BPF_F_LOCK before the map does.
	if flags&UpdateLock != 0 && m.spec.SpinLockOffset < 0 {
		return fmt.Errorf("%w: BPF_F_LOCK on a value without a bpf_spin_lock", ErrInvalid)
	}
	return m.update(key, value, flags, -1)
}

func (m *arrayMap) ProgUpdate(key, value []byte, flags uint64, cpu int) error {
	if len(key) != 4 || len(value) != int(m.spec.ValueSize) {
		return fmt.Errorf("%w: key or value size", ErrInvalid)
	}
	return m.update(key, value, flags, cpu)
}

// update follows array_map_update_elem's order of checks.
func (m *arrayMap) update(key, value []byte, flags uint64, cpu int) error {
	if flags&^UpdateLock > UpdateExist {
		return fmt.Errorf("%w: update flags %#x", ErrInvalid, flags)
	}
	i := index(key)
	if i >= m.spec.MaxEntries {
		return fmt.Errorf("%w: index %d, max_entries %d", ErrMapFull, i, m.spec.MaxEntries)
	}
	if flags&3 == UpdateNoExist {
		return ErrKeyExist
	}
	if flags&UpdateLock != 0 && m.spec.SpinLockOffset < 0 {
		return fmt.Errorf("%w: BPF_F_LOCK on a value without a bpf_spin_lock", ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case !m.percpu:
		copyValue(&m.spec, m.elem(0, i), value)
	case cpu >= 0:
		storeValue(m.elem(cpu%len(m.slabs), i), value)
	default:
		for c := range m.slabs {
			storeValue(m.elem(c, i), value[c*m.stride:])
		}
	}
	return nil
}

// Delete is not possible on arrays: the kernel answers EINVAL.
func (m *arrayMap) Delete(key []byte) error {
	return fmt.Errorf("%w: cannot delete from an array map", ErrInvalid)
}

func (m *arrayMap) ProgDelete(key []byte) error { return m.Delete(key) }

func (m *arrayMap) NextKey(key, next []byte) error {
	return arrayNextKey(&m.spec, key, next)
}

// arrayNextKey is array_map_get_next_key: an absent or out-of-range key
// restarts at 0; the last index ends the iteration.
func arrayNextKey(spec *Spec, key, next []byte) error {
	if key != nil {
		if err := checkKey(spec, key); err != nil {
			return err
		}
	}
	if len(next) != 4 {
		return fmt.Errorf("%w: next key buffer is %d bytes, want 4", ErrInvalid, len(next))
	}
	if key == nil || index(key) >= spec.MaxEntries {
		binary.LittleEndian.PutUint32(next, 0)
		return nil
	}
	i := index(key)
	if i == spec.MaxEntries-1 {
		return ErrKeyNotExist
	}
	binary.LittleEndian.PutUint32(next, i+1)
	return nil
}

func (m *arrayMap) ProgLookup(key []byte, cpu int) []byte {
	if len(key) != 4 {
		return nil
	}
	i := index(key)
	if i >= m.spec.MaxEntries {
		return nil
	}
	if !m.percpu {
		return m.elem(0, i)
	}
	return m.elem(int(uint(cpu)%uint(len(m.slabs))), i)
}

// Slab implements Slabbed.
func (m *arrayMap) Slab(cpu int) []byte {
	if !m.percpu {
		return m.slabs[0]
	}
	return m.slabs[int(uint(cpu)%uint(len(m.slabs)))]
}

// Layout implements Slabbed.
func (m *arrayMap) Layout() (slabs [][]byte, stride int) { return m.slabs, m.stride }

// Slabbed is implemented by maps whose values live in a few large slabs
// (ARRAY, PERCPU_ARRAY). The helpers make the slab holding a value
// accessible to the program once per run instead of each value: a run
// that touches many elements then has one memory region to search, not
// one per element. The slab holds only values (and their padding), so
// host memory stays out of reach.
type Slabbed interface {
	// Slab returns the memory holding every value ProgLookup returns for
	// cpu.
	Slab(cpu int) []byte
	// Layout returns the slabs (one per CPU, or one) and the distance
	// between values: value i of a CPU's slab starts at i*stride. With
	// the key size 4 and the spec's MaxEntries and ValueSize, it lets the
	// lookup helper find a value without calling the map.
	Layout() (slabs [][]byte, stride int)
}

// Value returns the live memory of element i (CPU 0 for per-CPU arrays):
// global data sections (.data, .bss, .rodata) are one-element arrays whose
// value programs address directly.
func (m *arrayMap) Value(i uint32) []byte {
	if i >= m.spec.MaxEntries {
		return nil
	}
	return m.elem(0, i)
}

// DirectValue is implemented by maps whose values programs may address
// directly through lddw's map-value pseudo sources (ARRAY).
type DirectValue interface {
	Value(i uint32) []byte
}
