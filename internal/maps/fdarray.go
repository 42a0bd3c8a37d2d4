package maps

import (
	"encoding/binary"
	"fmt"
)

// EBADF is the errno for an id (a file descriptor in the kernel) that
// names no object of the right kind.
const EBADF Errno = 9

// ErrBadFD reports an id that names no suitable program or map.
var ErrBadFD error = &mapError{"bad file descriptor", EBADF}

// ProgramArray is implemented by PROG_ARRAY maps: the program a tail call
// through index i jumps to.
type ProgramArray interface {
	ProgramAt(i uint32) (any, bool)
}

// MapOfMaps is implemented by ARRAY_OF_MAPS and HASH_OF_MAPS: the inner map
// a program's lookup of key yields, with its registry id.
type MapOfMaps interface {
	InnerMapAt(key []byte) (Map, uint32, bool)
}

// fdArray implements PROG_ARRAY and ARRAY_OF_MAPS: 4-byte slots holding the
// registry id (the kernel's fd on update, id on lookup) of a program or map.
type fdArray struct {
	base
	unsupported
	ids  []uint32
	objs []any
}

func newFDArray(spec Spec) (Map, error) {
	if err := checkSizes(&spec, false); err != nil {
		return nil, err
	}
	if spec.KeySize != 4 || spec.ValueSize != 4 {
		return nil, fmt.Errorf("%w: %s map needs 4-byte keys and values", ErrInvalid, spec.Type)
	}
	if spec.Flags&(FlagRdonlyProg|FlagWronlyProg) != 0 {
		return nil, fmt.Errorf("%w: %s map does not take program access flags", ErrInvalid, spec.Type)
	}
	if err := checkFlags(&spec, FlagNumaNode|FlagPreserveElem|FlagInnerMap); err != nil {
		return nil, err
	}
	if spec.Registry == nil {
		return nil, fmt.Errorf("%w: %s map needs a registry", ErrInvalid, spec.Type)
	}
	if spec.Type == ArrayOfMaps {
		if err := checkInnerSpec(&spec); err != nil {
			return nil, err
		}
	}
	if spec.MaxEntries > 1<<26 {
		return nil, fmt.Errorf("%w: %d entries", ErrNoMemory, spec.MaxEntries)
	}
	spec.SpinLockOffset = -1
	return &fdArray{
		base: base{spec: spec},
		ids:  make([]uint32, spec.MaxEntries),
		objs: make([]any, spec.MaxEntries),
	}, nil
}

func checkInnerSpec(spec *Spec) error {
	in := spec.InnerMap
	if in == nil {
		return fmt.Errorf("%w: %s map without an inner map template", ErrInvalid, spec.Type)
	}
	switch in.Type {
	case ProgArray, ArrayOfMaps, HashOfMaps, PerfEventArray, CgroupArray, StructOps:
		return fmt.Errorf("%w: %s cannot be an inner map", ErrInvalid, in.Type)
	}
	return nil
}

// compatible is bpf_map_meta_equal: an inner map must match the template
// in type, key and value size and flags, and in max_entries unless the
// template has BPF_F_INNER_MAP.
func compatible(tmpl *Spec, m Map) bool {
	s := m.Spec()
	return s.Type == tmpl.Type && s.KeySize == tmpl.KeySize && s.ValueSize == tmpl.ValueSize &&
		s.Flags == tmpl.Flags && (tmpl.Flags&FlagInnerMap != 0 || s.MaxEntries == tmpl.MaxEntries)
}

// resolve turns an id into the object the map holds.
func resolve(spec *Spec, id uint32) (any, error) {
	switch spec.Type {
	case ProgArray:
		p, ok := spec.Registry.Program(id)
		if !ok {
			return nil, fmt.Errorf("%w: no program with id %d", ErrBadFD, id)
		}
		return p, nil
	default:
		m, ok := spec.Registry.Map(id)
		if !ok {
			return nil, fmt.Errorf("%w: no map with id %d", ErrBadFD, id)
		}
		if !compatible(spec.InnerMap, m) {
			return nil, fmt.Errorf("%w: map %d does not match the inner map template", ErrInvalid, id)
		}
		return m, nil
	}
}

func (m *fdArray) HostValueSize() int { return 4 }

func (m *fdArray) Lookup(key, value []byte, flags uint64) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	if err := checkValue(m, value); err != nil {
		return err
	}
	if flags != 0 {
		return fmt.Errorf("%w: lookup flags %#x", ErrInvalid, flags)
	}
	i := index(key)
	if i >= m.spec.MaxEntries {
		return ErrKeyNotExist
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ids[i] == 0 {
		return ErrKeyNotExist
	}
	binary.LittleEndian.PutUint32(value, m.ids[i])
	return nil
}

func (m *fdArray) Update(key, value []byte, flags uint64) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	if err := checkValue(m, value); err != nil {
		return err
	}
	if flags != UpdateAny {
		return fmt.Errorf("%w: update flags %#x (only BPF_ANY)", ErrInvalid, flags)
	}
	i := index(key)
	if i >= m.spec.MaxEntries {
		return fmt.Errorf("%w: index %d, max_entries %d", ErrMapFull, i, m.spec.MaxEntries)
	}
	id := binary.LittleEndian.Uint32(value)
	obj, err := resolve(&m.spec, id)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ids[i], m.objs[i] = id, obj
	return nil
}

func (m *fdArray) Delete(key []byte) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	i := index(key)
	if i >= m.spec.MaxEntries {
		return fmt.Errorf("%w: index %d, max_entries %d", ErrMapFull, i, m.spec.MaxEntries)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ids[i] == 0 {
		return ErrKeyNotExist
	}
	m.ids[i], m.objs[i] = 0, nil
	return nil
}

func (m *fdArray) NextKey(key, next []byte) error { return arrayNextKey(&m.spec, key, next) }

// ProgLookup is not how programs read these maps: tail calls use
// ProgramAt, map-in-map lookups InnerMapAt.
func (m *fdArray) ProgLookup(key []byte, cpu int) []byte { return nil }

// ProgUpdate: programs cannot store file descriptors (the verifier
// refuses); the kernel's helper would answer EOPNOTSUPP-like errors.
func (m *fdArray) ProgUpdate(key, value []byte, flags uint64, cpu int) error {
	return fmt.Errorf("%w: programs cannot update a %s map", ErrNotSupported, m.spec.Type)
}

func (m *fdArray) ProgDelete(key []byte) error {
	if m.spec.Type == ProgArray {
		return fmt.Errorf("%w: programs cannot delete from a prog_array", ErrNotSupported)
	}
	if len(key) != 4 {
		return ErrInvalid
	}
	return m.Delete(key)
}

func (m *fdArray) ProgramAt(i uint32) (any, bool) {
	if m.spec.Type != ProgArray || i >= m.spec.MaxEntries {
		return nil, false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	p := m.objs[i]
	return p, p != nil
}

func (m *fdArray) InnerMapAt(key []byte) (Map, uint32, bool) {
	if m.spec.Type != ArrayOfMaps || len(key) != 4 {
		return nil, 0, false
	}
	i := index(key)
	if i >= m.spec.MaxEntries {
		return nil, 0, false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	inner, ok := m.objs[i].(Map)
	return inner, m.ids[i], ok
}

// hashOfMaps implements HASH_OF_MAPS on a hash map of 4-byte ids.
type hashOfMaps struct {
	*hashMap
}

func newHashOfMaps(spec Spec) (Map, error) {
	if spec.ValueSize != 4 {
		return nil, fmt.Errorf("%w: hash_of_maps needs 4-byte values", ErrInvalid)
	}
	if spec.Registry == nil {
		return nil, fmt.Errorf("%w: hash_of_maps needs a registry", ErrInvalid)
	}
	if spec.Flags&(FlagRdonlyProg|FlagWronlyProg) != 0 {
		return nil, fmt.Errorf("%w: hash_of_maps does not take program access flags", ErrInvalid)
	}
	if err := checkInnerSpec(&spec); err != nil {
		return nil, err
	}
	spec.SpinLockOffset = -1
	hs := spec
	hs.Type = Hash
	h, err := newHash(hs)
	if err != nil {
		return nil, err
	}
	hm := h.(*hashMap)
	hm.spec.Type = HashOfMaps
	return &hashOfMaps{hm}, nil
}

func (m *hashOfMaps) Update(key, value []byte, flags uint64) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	if err := checkValue(m, value); err != nil {
		return err
	}
	if flags&UpdateLock != 0 {
		return fmt.Errorf("%w: BPF_F_LOCK on a hash_of_maps", ErrInvalid)
	}
	if _, err := resolve(&m.spec, binary.LittleEndian.Uint32(value)); err != nil {
		return err
	}
	return m.hashMap.Update(key, value, flags)
}

func (m *hashOfMaps) ProgLookup(key []byte, cpu int) []byte { return nil }

func (m *hashOfMaps) ProgUpdate(key, value []byte, flags uint64, cpu int) error {
	return fmt.Errorf("%w: programs cannot update a hash_of_maps", ErrNotSupported)
}

func (m *hashOfMaps) LookupAndDelete(key, value []byte, flags uint64) error {
	return fmt.Errorf("%w: lookup-and-delete", ErrNotSupported)
}

func (m *hashOfMaps) InnerMapAt(key []byte) (Map, uint32, bool) {
	v := m.hashMap.ProgLookup(key, 0)
	if v == nil {
		return nil, 0, false
	}
	id := binary.LittleEndian.Uint32(v)
	inner, ok := m.spec.Registry.Map(id)
	return inner, id, ok
}
