package maps

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
)

// StackStorer is implemented by STACK_TRACE maps: what bpf_get_stackid
// does with a stack.
type StackStorer interface {
	// StoreStack stores ips (already skipped and truncated) and returns
	// its id; reuse replaces a different stack in the same bucket
	// (BPF_F_REUSE_STACKID), else that is ErrKeyExist.
	StoreStack(ips []uint64, reuse bool) (uint32, error)
}

// stackTrace implements STACK_TRACE: buckets (max_entries rounded up to a
// power of two) indexed by a hash of the stack, each holding one stack of
// up to value_size/8 instruction pointers.
type stackTrace struct {
	base
	unsupported
	buckets [][]uint64 // nil: empty
}

func newStackTrace(spec Spec) (Map, error) {
	if spec.KeySize != 4 || spec.ValueSize < 8 || spec.ValueSize%8 != 0 || spec.ValueSize/8 > 127 || spec.MaxEntries == 0 {
		return nil, fmt.Errorf("%w: stack_trace needs 4-byte keys and values of 1 to 127 u64s", ErrInvalid)
	}
	if err := checkFlags(&spec, FlagNumaNode|FlagStackBuildID); err != nil {
		return nil, err
	}
	if spec.MaxEntries > 1<<20 {
		return nil, fmt.Errorf("%w: %d entries", ErrNoMemory, spec.MaxEntries)
	}
	n := uint32(1)
	for n < spec.MaxEntries {
		n <<= 1
	}
	spec.SpinLockOffset = -1
	return &stackTrace{base: base{spec: spec}, buckets: make([][]uint64, n)}, nil
}

func (m *stackTrace) HostValueSize() int { return int(m.spec.ValueSize) }

func (m *stackTrace) StoreStack(ips []uint64, reuse bool) (uint32, error) {
	if len(ips) > int(m.spec.ValueSize/8) {
		ips = ips[:m.spec.ValueSize/8]
	}
	h := fnv.New32a()
	var b [8]byte
	for _, ip := range ips {
		binary.LittleEndian.PutUint64(b[:], ip)
		h.Write(b[:])
	}
	id := h.Sum32() & uint32(len(m.buckets)-1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.buckets[id]; old != nil {
		same := len(old) == len(ips)
		for i := 0; same && i < len(ips); i++ {
			same = old[i] == ips[i]
		}
		if same {
			return id, nil
		}
		if !reuse {
			return 0, ErrKeyExist
		}
	}
	m.buckets[id] = append([]uint64(nil), ips...)
	return id, nil
}

func (m *stackTrace) Lookup(key, value []byte, flags uint64) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	if err := checkValue(m, value); err != nil {
		return err
	}
	id := index(key)
	m.mu.RLock()
	defer m.mu.RUnlock()
	if id >= uint32(len(m.buckets)) || m.buckets[id] == nil {
		return ErrKeyNotExist
	}
	clear(value)
	for i, ip := range m.buckets[id] {
		binary.LittleEndian.PutUint64(value[8*i:], ip)
	}
	return nil
}

// Update from the host is refused, as the kernel refuses it.
func (m *stackTrace) Update(key, value []byte, flags uint64) error {
	return fmt.Errorf("%w: stack_trace maps are filled by bpf_get_stackid", ErrInvalid)
}

func (m *stackTrace) Delete(key []byte) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	id := index(key)
	m.mu.Lock()
	defer m.mu.Unlock()
	if id >= uint32(len(m.buckets)) || m.buckets[id] == nil {
		return ErrKeyNotExist
	}
	m.buckets[id] = nil
	return nil
}

// NextKey walks the non-empty buckets in id order.
func (m *stackTrace) NextKey(key, next []byte) error {
	if len(next) != 4 {
		return fmt.Errorf("%w: next key buffer", ErrInvalid)
	}
	start := uint32(0)
	if key != nil {
		if err := checkKey(&m.spec, key); err != nil {
			return err
		}
		if id := index(key); id < uint32(len(m.buckets)) {
			start = id + 1
		}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	for id := start; id < uint32(len(m.buckets)); id++ {
		if m.buckets[id] != nil {
			binary.LittleEndian.PutUint32(next, id)
			return nil
		}
	}
	return ErrKeyNotExist
}

func (m *stackTrace) ProgLookup(key []byte, cpu int) []byte { return nil }
func (m *stackTrace) ProgUpdate(key, value []byte, flags uint64, cpu int) error {
	return fmt.Errorf("%w: programs cannot update a stack_trace map", ErrNotSupported)
}
func (m *stackTrace) ProgDelete(key []byte) error { return m.Delete(key) }
