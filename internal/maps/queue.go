package maps

import "fmt"

// PushPopper is implemented by QUEUE and STACK maps (and is what the
// map_push_elem, map_pop_elem and map_peek_elem helpers use).
type PushPopper interface {
	// Push adds value; when the map is full it fails with ErrMapFull
	// unless flags is UpdateExist, which drops the oldest element.
	Push(value []byte, flags uint64) error
	// Pop copies the next element (the oldest for a queue, the newest for
	// a stack) into value and removes it.
	Pop(value []byte) error
	// Peek copies the next element into value.
	Peek(value []byte) error
}

// queueMap implements QUEUE and STACK as the kernel does: a circular
// buffer of max_entries+1 slots between tail (oldest) and head.
type queueMap struct {
	base
	stack      bool
	buf        []byte
	size       uint32 // slots
	head, tail uint32
}

func newQueue(spec Spec) (Map, error) {
	if spec.MaxEntries == 0 || spec.KeySize != 0 || spec.ValueSize == 0 {
		return nil, fmt.Errorf("%w: %s map needs key size 0, a value size and max_entries", ErrInvalid, spec.Type)
	}
	if err := checkFlags(&spec, FlagNumaNode); err != nil {
		return nil, err
	}
	if uint64(spec.MaxEntries+1)*uint64(spec.ValueSize) > maxArrayBytes {
		return nil, fmt.Errorf("%w: %d entries of %d bytes", ErrNoMemory, spec.MaxEntries, spec.ValueSize)
	}
	spec.SpinLockOffset = -1
	size := spec.MaxEntries + 1
	return &queueMap{
		base:  base{spec: spec},
		stack: spec.Type == Stack,
		buf:   make([]byte, uint64(size)*uint64(spec.ValueSize)),
		size:  size,
	}, nil
}

func (m *queueMap) HostValueSize() int { return int(m.spec.ValueSize) }

func (m *queueMap) slot(i uint32) []byte {
	vs := m.spec.ValueSize
	return m.buf[i*vs : (i+1)*vs]
}

func (m *queueMap) Push(value []byte, flags uint64) error {
	if len(value) != int(m.spec.ValueSize) {
		return fmt.Errorf("%w: value is %d bytes, want %d", ErrInvalid, len(value), m.spec.ValueSize)
	}
	if flags&UpdateNoExist != 0 || flags > UpdateExist {
		return fmt.Errorf("%w: push flags %#x", ErrInvalid, flags)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if (m.head+1)%m.size == m.tail {
		if flags != UpdateExist {
			return ErrMapFull
		}
		m.tail = (m.tail + 1) % m.size
	}
	copy(m.slot(m.head), value)
	m.head = (m.head + 1) % m.size
	return nil
}

func (m *queueMap) take(value []byte, remove bool) error {
	if len(value) != int(m.spec.ValueSize) {
		return fmt.Errorf("%w: value is %d bytes, want %d", ErrInvalid, len(value), m.spec.ValueSize)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.head == m.tail {
		return ErrKeyNotExist
	}
	if m.stack {
		i := (m.head + m.size - 1) % m.size
		copy(value, m.slot(i))
		if remove {
			m.head = i
		}
		return nil
	}
	copy(value, m.slot(m.tail))
	if remove {
		m.tail = (m.tail + 1) % m.size
	}
	return nil
}

func (m *queueMap) Pop(value []byte) error  { return m.take(value, true) }
func (m *queueMap) Peek(value []byte) error { return m.take(value, false) }

// Lookup from the host peeks, as BPF_MAP_LOOKUP_ELEM does on these maps.
func (m *queueMap) Lookup(key, value []byte, flags uint64) error {
	if len(key) != 0 {
		return fmt.Errorf("%w: %s maps take no key", ErrInvalid, m.spec.Type)
	}
	if flags != 0 {
		return fmt.Errorf("%w: lookup flags %#x", ErrInvalid, flags)
	}
	return m.Peek(value)
}

// Update from the host pushes.
func (m *queueMap) Update(key, value []byte, flags uint64) error {
	if len(key) != 0 {
		return fmt.Errorf("%w: %s maps take no key", ErrInvalid, m.spec.Type)
	}
	return m.Push(value, flags)
}

// LookupAndDelete from the host pops.
func (m *queueMap) LookupAndDelete(key, value []byte, flags uint64) error {
	if len(key) != 0 {
		return fmt.Errorf("%w: %s maps take no key", ErrInvalid, m.spec.Type)
	}
	if flags != 0 {
		return fmt.Errorf("%w: flags %#x", ErrInvalid, flags)
	}
	return m.Pop(value)
}

func (m *queueMap) Delete(key []byte) error {
	return fmt.Errorf("%w: cannot delete from a %s map", ErrInvalid, m.spec.Type)
}

func (m *queueMap) NextKey(key, next []byte) error {
	return fmt.Errorf("%w: %s maps have no keys", ErrInvalid, m.spec.Type)
}

func (m *queueMap) ProgLookup(key []byte, cpu int) []byte { return nil }
func (m *queueMap) ProgUpdate(key, value []byte, flags uint64, cpu int) error {
	return fmt.Errorf("%w: update on a %s map", ErrInvalid, m.spec.Type)
}
func (m *queueMap) ProgDelete(key []byte) error { return m.Delete(key) }
