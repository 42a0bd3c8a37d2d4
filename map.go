package bpfvm

import (
	"fmt"
	"reflect"

	"github.com/bpfvm/bpfvm/internal/maps"
)

// MapType is a map type, numbered as the kernel's (and cilium/ebpf's
// ebpf.MapType).
type MapType = maps.Type

// MapUpdateFlags are the flags of Map.Update.
type MapUpdateFlags uint64

// Update flags, as cilium/ebpf names them.
const (
	UpdateAny     MapUpdateFlags = MapUpdateFlags(maps.UpdateAny)
	UpdateNoExist MapUpdateFlags = MapUpdateFlags(maps.UpdateNoExist)
	UpdateExist   MapUpdateFlags = MapUpdateFlags(maps.UpdateExist)
	UpdateLock    MapUpdateFlags = MapUpdateFlags(maps.UpdateLock)
)

// Map is a map of a Runtime. It is safe for concurrent use by Go code and
// running programs. Keys and values are []byte, fixed-size values
// (integers, arrays, structs of them) encoded little-endian, or
// encoding.BinaryMarshaler/Unmarshaler; per-CPU maps take and return a
// slice with one value per CPU, as cilium/ebpf does.
type Map struct {
	name   string
	m      maps.Map
	id     uint32
	rt     *Runtime
	pinned bool // lives in the runtime's namespace: Close keeps it
}

// Name returns the map's name.
func (m *Map) Name() string { return m.name }

// Type returns the map's type.
func (m *Map) Type() MapType { return m.m.Spec().Type }

// KeySize returns the key size in bytes.
func (m *Map) KeySize() uint32 { return m.m.Spec().KeySize }

// ValueSize returns the value size in bytes.
func (m *Map) ValueSize() uint32 { return m.m.Spec().ValueSize }

// MaxEntries returns the map's capacity.
func (m *Map) MaxEntries() uint32 { return m.m.Spec().MaxEntries }

// Flags returns the map's creation flags.
func (m *Map) Flags() uint32 { return m.m.Spec().Flags }

// ID returns the map's id in its runtime: what ARRAY_OF_MAPS and
// HASH_OF_MAPS values hold (a file descriptor in the kernel).
func (m *Map) ID() uint32 { return m.id }

func (m *Map) String() string { return fmt.Sprintf("%s(%s)#%d", m.Type(), m.name, m.id) }

func (m *Map) perCPU() bool {
	switch m.Type() {
	case maps.PerCPUHash, maps.PerCPUArray, maps.LRUPerCPUHash:
		return true
	}
	return false
}

func (m *Map) key(k any) ([]byte, error) {
	if m.Type() == maps.Queue || m.Type() == maps.Stack {
		if k == nil {
			return nil, nil
		}
	}
	return marshal(k, int(m.KeySize()))
}

func (m *Map) value(v any) ([]byte, error) {
	if !m.perCPU() {
		return marshal(v, int(m.ValueSize()))
	}
	if b, ok := v.([]byte); ok {
		if len(b) != m.m.HostValueSize() {
			return nil, fmt.Errorf("%w: per-CPU value of %d bytes, want %d", ErrInvalidArgument, len(b), m.m.HostValueSize())
		}
		return b, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice || rv.Len() != m.rt.numCPU {
		return nil, fmt.Errorf("%w: a per-CPU map takes a slice of %d values, got %T", ErrInvalidArgument, m.rt.numCPU, v)
	}
	stride := (int(m.ValueSize()) + 7) &^ 7
	out := make([]byte, stride*rv.Len())
	for c := 0; c < rv.Len(); c++ {
		b, err := marshal(rv.Index(c).Interface(), int(m.ValueSize()))
		if err != nil {
			return nil, err
		}
		copy(out[c*stride:], b)
	}
	return out, nil
}

func (m *Map) setValue(out any, b []byte) error {
	if !m.perCPU() {
		return unmarshal(out, b)
	}
	switch x := out.(type) {
	case []byte, *[]byte:
		return unmarshal(x, b)
	}
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Slice {
		return fmt.Errorf("%w: a per-CPU lookup needs a pointer to a slice, got %T", ErrInvalidArgument, out)
	}
	sl := rv.Elem()
	stride := (int(m.ValueSize()) + 7) &^ 7
	n := len(b) / stride
	sl.Set(reflect.MakeSlice(sl.Type(), n, n))
	for c := 0; c < n; c++ {
		if err := unmarshal(sl.Index(c).Addr().Interface(), b[c*stride:c*stride+int(m.ValueSize())]); err != nil {
			return err
		}
	}
	return nil
}

// Lookup reads the value of key into valueOut (a pointer, or a []byte of
// the value size).
func (m *Map) Lookup(key, valueOut any) error {
	return m.LookupWithFlags(key, valueOut, 0)
}

// LookupWithFlags is Lookup with flags (UpdateLock).
func (m *Map) LookupWithFlags(key, valueOut any, flags MapUpdateFlags) error {
	k, err := m.key(key)
	if err != nil {
		return err
	}
	n := m.m.HostValueSize()
	if b, ok := valueOut.([]byte); ok && len(b) == n {
		// The map copies into the caller's buffer directly (only on
		// success): no intermediate value.
		if err := m.m.Lookup(k, b, uint64(flags)); err != nil {
			return fmt.Errorf("lookup in %s: %w", m, err)
		}
		return nil
	}
	v := make([]byte, n)
	if err := m.m.Lookup(k, v, uint64(flags)); err != nil {
		return fmt.Errorf("lookup in %s: %w", m, err)
	}
	return m.setValue(valueOut, v)
}

// LookupBytes returns the value of key, or nil if the key does not exist.
func (m *Map) LookupBytes(key any) ([]byte, error) {
	v := make([]byte, m.m.HostValueSize())
	err := m.Lookup(key, v)
	if Errno(err) == int(maps.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

// LookupAndDelete reads and removes key (for queues and stacks, pass a
// nil key: pop).
func (m *Map) LookupAndDelete(key, valueOut any) error {
	k, err := m.key(key)
	if err != nil {
		return err
	}
	v := make([]byte, m.m.HostValueSize())
	if err := m.m.LookupAndDelete(k, v, 0); err != nil {
		return fmt.Errorf("lookup and delete in %s: %w", m, err)
	}
	return m.setValue(valueOut, v)
}

// Update stores value under key (for queues and stacks, a nil key: push).
func (m *Map) Update(key, value any, flags MapUpdateFlags) error {
	k, err := m.key(key)
	if err != nil {
		return err
	}
	var v []byte
	switch m.Type() {
	case maps.ProgArray:
		v, err = m.rt.progValue(value)
	case maps.ArrayOfMaps, maps.HashOfMaps:
		v, err = m.rt.mapValue(value)
	default:
		v, err = m.value(value)
	}
	if err != nil {
		return err
	}
	if err := m.m.Update(k, v, uint64(flags)); err != nil {
		return fmt.Errorf("update of %s: %w", m, err)
	}
	return nil
}

// Put is Update with UpdateAny.
func (m *Map) Put(key, value any) error { return m.Update(key, value, UpdateAny) }

// Delete removes key.
func (m *Map) Delete(key any) error {
	k, err := m.key(key)
	if err != nil {
		return err
	}
	if err := m.m.Delete(k); err != nil {
		return fmt.Errorf("delete from %s: %w", m, err)
	}
	return nil
}

// NextKey writes the key following key (nil: the first key) into
// nextKeyOut; it returns ErrKeyNotExist after the last key.
func (m *Map) NextKey(key, nextKeyOut any) error {
	var k []byte
	if key != nil {
		var err error
		if k, err = m.key(key); err != nil {
			return err
		}
	}
	next := make([]byte, m.KeySize())
	if err := m.m.NextKey(k, next); err != nil {
		return fmt.Errorf("next key in %s: %w", m, err)
	}
	return unmarshal(nextKeyOut, next)
}

// Iterate returns an iterator over the map's entries.
func (m *Map) Iterate() *MapIterator { return &MapIterator{m: m} }

// MapIterator walks a map with NextKey and Lookup, as cilium/ebpf's does:
// entries deleted meanwhile are skipped.
type MapIterator struct {
	m    *Map
	prev []byte
	done bool
	err  error
	n    int
}

// Next decodes the next entry into keyOut and valueOut and reports
// whether there was one.
func (it *MapIterator) Next(keyOut, valueOut any) bool {
	if it.done || it.err != nil {
		return false
	}
	for tries := 0; ; tries++ {
		next := make([]byte, it.m.KeySize())
		err := it.m.m.NextKey(it.prev, next)
		if Errno(err) == int(maps.ENOENT) {
			it.done = true
			return false
		}
		if err != nil {
			it.err = err
			return false
		}
		it.prev = next
		it.n++
		if it.n > int(it.m.MaxEntries())*4+16 {
			it.err = fmt.Errorf("iteration of %s does not end (entries change faster than it advances)", it.m)
			return false
		}
		v := make([]byte, it.m.m.HostValueSize())
		if err := it.m.m.Lookup(next, v, 0); err != nil {
			if Errno(err) == int(maps.ENOENT) {
				continue // deleted meanwhile
			}
			it.err = err
			return false
		}
		if err := unmarshal(keyOut, next); err != nil {
			it.err = err
			return false
		}
		if err := it.m.setValue(valueOut, v); err != nil {
			it.err = err
			return false
		}
		return true
	}
}

// Err returns the error that stopped the iteration, if any.
func (it *MapIterator) Err() error { return it.err }

// BatchLookup copies up to len(keysOut) entries after cursor (nil: from
// the start) into keysOut and valuesOut ([]byte buffers of n*size bytes)
// and returns how many it copied and the cursor to continue from;
// ErrKeyNotExist means the map is exhausted.
func (m *Map) BatchLookup(cursor []byte, keysOut, valuesOut []byte) (int, []byte, error) {
	ks, vs := int(m.KeySize()), m.m.HostValueSize()
	if ks == 0 || len(keysOut)%ks != 0 || len(valuesOut) != len(keysOut)/ks*vs {
		return 0, nil, fmt.Errorf("%w: batch buffers of %d and %d bytes for %d-byte keys and %d-byte values", ErrInvalidArgument, len(keysOut), len(valuesOut), ks, vs)
	}
	n := 0
	prev := cursor
	for n < len(keysOut)/ks {
		next := make([]byte, ks)
		if err := m.m.NextKey(prev, next); err != nil {
			if Errno(err) == int(maps.ENOENT) {
				return n, prev, ErrKeyNotExist
			}
			return n, prev, err
		}
		prev = next
		if err := m.m.Lookup(next, valuesOut[n*vs:(n+1)*vs], 0); err != nil {
			continue
		}
		copy(keysOut[n*ks:], next)
		n++
	}
	return n, prev, nil
}

// Close releases the map; it stays usable by programs that hold it. A map
// pinned by name stays in its runtime for other collections.
func (m *Map) Close() error {
	if !m.pinned {
		m.rt.registry.RemoveMap(m.id)
	}
	return nil
}

// RingBufReader returns a reader of a RINGBUF map, like cilium/ebpf's
// ringbuf.NewReader.
func (m *Map) RingBufReader() (*RingBufReader, error) { return maps.NewRingReader(m.m) }

// PerfReader opens an event on every CPU slot of a PERF_EVENT_ARRAY map
// with a buffer of perCPUBuffer bytes, like cilium/ebpf's perf.NewReader.
func (m *Map) PerfReader(perCPUBuffer int) (*PerfReader, error) {
	return maps.NewPerfReader(m.m, perCPUBuffer)
}

// TypedMap is a Map with Go types for keys and values.
type TypedMap[K comparable, V any] struct{ *Map }

// NewTypedMap wraps m.
func NewTypedMap[K comparable, V any](m *Map) TypedMap[K, V] { return TypedMap[K, V]{m} }

// Lookup returns the value of k.
func (t TypedMap[K, V]) Lookup(k K) (V, error) {
	var v V
	err := t.Map.Lookup(k, &v)
	return v, err
}

// Update stores v under k.
func (t TypedMap[K, V]) Update(k K, v V, flags MapUpdateFlags) error {
	return t.Map.Update(k, v, flags)
}

// Delete removes k.
func (t TypedMap[K, V]) Delete(k K) error { return t.Map.Delete(k) }

// All returns every entry (a snapshot through iteration).
func (t TypedMap[K, V]) All() (map[K]V, error) {
	out := map[K]V{}
	it := t.Iterate()
	var k K
	var v V
	for it.Next(&k, &v) {
		out[k] = v
	}
	return out, it.Err()
}

// BatchUpdate stores n entries from keys and values (n*size bytes each)
// with flags, stopping at the first error; it returns how many it stored.
func (m *Map) BatchUpdate(keys, values []byte, flags MapUpdateFlags) (int, error) {
	ks, vs := int(m.KeySize()), m.m.HostValueSize()
	if ks == 0 || len(keys)%ks != 0 || len(values) != len(keys)/ks*vs {
		return 0, fmt.Errorf("%w: batch buffers of %d and %d bytes for %d-byte keys and %d-byte values", ErrInvalidArgument, len(keys), len(values), ks, vs)
	}
	for i := 0; i < len(keys)/ks; i++ {
		if err := m.m.Update(keys[i*ks:(i+1)*ks], values[i*vs:(i+1)*vs], uint64(flags)); err != nil {
			return i, fmt.Errorf("batch update of %s, entry %d: %w", m, i, err)
		}
	}
	return len(keys) / ks, nil
}

// BatchDelete removes the n keys in keys (n*size bytes), stopping at the
// first error; it returns how many it removed.
func (m *Map) BatchDelete(keys []byte) (int, error) {
	ks := int(m.KeySize())
	if ks == 0 || len(keys)%ks != 0 {
		return 0, fmt.Errorf("%w: batch of %d bytes for %d-byte keys", ErrInvalidArgument, len(keys), ks)
	}
	for i := 0; i < len(keys)/ks; i++ {
		if err := m.m.Delete(keys[i*ks : (i+1)*ks]); err != nil {
			return i, fmt.Errorf("batch delete from %s, entry %d: %w", m, i, err)
		}
	}
	return len(keys) / ks, nil
}
