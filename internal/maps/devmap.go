package maps

import (
	"encoding/binary"
	"fmt"
)

// redirectMap implements DEVMAP, CPUMAP, XSKMAP and CGROUP_ARRAY: arrays
// whose slots are empty or hold a target (an ifindex, a CPU's queue size,
// a socket id, a cgroup id standing for the kernel's cgroup fd).
// Programs use them through bpf_redirect_map, which records the target in
// the run's result; the host decides what a redirect means.
type redirectMap struct {
	base
	unsupported
	slots [][]byte // nil: empty
}

func newRedirectMap(spec Spec) (Map, error) {
	if err := checkSizes(&spec, false); err != nil {
		return nil, err
	}
	if spec.KeySize != 4 {
		return nil, fmt.Errorf("%w: %s map needs 4-byte keys", ErrInvalid, spec.Type)
	}
	switch {
	case (spec.Type == XSKMap || spec.Type == CgroupArray) && spec.ValueSize != 4,
		spec.ValueSize != 4 && spec.ValueSize != 8:
		return nil, fmt.Errorf("%w: %s map with %d-byte values", ErrInvalid, spec.Type, spec.ValueSize)
	}
	if err := checkFlags(&spec, FlagNumaNode); err != nil {
		return nil, err
	}
	if spec.MaxEntries > 1<<20 {
		return nil, fmt.Errorf("%w: %d entries", ErrNoMemory, spec.MaxEntries)
	}
	spec.SpinLockOffset = -1
	return &redirectMap{base: base{spec: spec}, slots: make([][]byte, spec.MaxEntries)}, nil
}

func (m *redirectMap) HostValueSize() int { return int(m.spec.ValueSize) }

func (m *redirectMap) Lookup(key, value []byte, flags uint64) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	if err := checkValue(m, value); err != nil {
		return err
	}
	i := index(key)
	if i >= m.spec.MaxEntries {
		return ErrKeyNotExist
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.slots[i] == nil {
		return ErrKeyNotExist
	}
	copy(value, m.slots[i])
	return nil
}

// Update stores a target. An ifindex (DEVMAP) or queue size (CPUMAP) of 0
// empties the slot, as in the kernel. bpfvm has no devices: any ifindex is
// accepted (the kernel wants an existing one).
func (m *redirectMap) Update(key, value []byte, flags uint64) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	if err := checkValue(m, value); err != nil {
		return err
	}
	if flags > UpdateExist {
		return fmt.Errorf("%w: update flags %#x", ErrInvalid, flags)
	}
	i := index(key)
	if i >= m.spec.MaxEntries {
		return fmt.Errorf("%w: index %d, max_entries %d", ErrMapFull, i, m.spec.MaxEntries)
	}
	if flags == UpdateNoExist {
		return ErrKeyExist
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if binary.LittleEndian.Uint32(value) == 0 && (m.spec.Type == DevMap || m.spec.Type == CPUMap) {
		m.slots[i] = nil
		return nil
	}
	m.slots[i] = append([]byte(nil), value...)
	return nil
}

func (m *redirectMap) Delete(key []byte) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	i := index(key)
	if i >= m.spec.MaxEntries {
		return fmt.Errorf("%w: index %d, max_entries %d", ErrInvalid, i, m.spec.MaxEntries)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// The kernel's devmap delete succeeds on an empty slot too.
	m.slots[i] = nil
	return nil
}

func (m *redirectMap) NextKey(key, next []byte) error { return arrayNextKey(&m.spec, key, next) }

// ProgLookup returns the slot's value (programs may read DEVMAP entries).
func (m *redirectMap) ProgLookup(key []byte, cpu int) []byte {
	if len(key) != 4 {
		return nil
	}
	i := index(key)
	if i >= m.spec.MaxEntries {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.slots[i]
}

func (m *redirectMap) ProgUpdate(key, value []byte, flags uint64, cpu int) error {
	return fmt.Errorf("%w: programs cannot update a %s map", ErrNotSupported, m.spec.Type)
}

func (m *redirectMap) ProgDelete(key []byte) error {
	return fmt.Errorf("%w: programs cannot delete from a %s map", ErrNotSupported, m.spec.Type)
}

// RedirectTarget is implemented by the redirect maps: whether a
// bpf_redirect_map through key has a target.
type RedirectTarget interface {
	HasTarget(key uint32) bool
}

func (m *redirectMap) HasTarget(key uint32) bool {
	var k [4]byte
	binary.LittleEndian.PutUint32(k[:], key)
	return m.ProgLookup(k[:], 0) != nil
}

// devMapHash is DEVMAP_HASH: a hash of ifindex targets.
type devMapHash struct{ *hashMap }

func newDevMapHash(spec Spec) (Map, error) {
	if spec.KeySize != 4 || (spec.ValueSize != 4 && spec.ValueSize != 8) {
		return nil, fmt.Errorf("%w: devmap_hash needs 4-byte keys and 4- or 8-byte values", ErrInvalid)
	}
	if err := checkFlags(&spec, FlagNumaNode); err != nil {
		return nil, err
	}
	hs := spec
	hs.Type = Hash
	hs.SpinLockOffset = -1
	h, err := newHash(hs)
	if err != nil {
		return nil, err
	}
	hm := h.(*hashMap)
	hm.spec.Type = DevMapHash
	return &devMapHash{hm}, nil
}

func (m *devMapHash) ProgUpdate(key, value []byte, flags uint64, cpu int) error {
	return fmt.Errorf("%w: programs cannot update a devmap_hash", ErrNotSupported)
}

func (m *devMapHash) ProgDelete(key []byte) error {
	return fmt.Errorf("%w: programs cannot delete from a devmap_hash", ErrNotSupported)
}

func (m *devMapHash) LookupAndDelete(key, value []byte, flags uint64) error {
	return fmt.Errorf("%w: lookup-and-delete", ErrNotSupported)
}

func (m *devMapHash) HasTarget(key uint32) bool {
	var k [4]byte
	binary.LittleEndian.PutUint32(k[:], key)
	return m.hashMap.ProgLookup(k[:], 0) != nil
}
