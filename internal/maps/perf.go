package maps

import (
	"fmt"
	"sync"
	"time"
)

// Perf event output flags (BPF_F_INDEX_MASK, BPF_F_CURRENT_CPU,
// BPF_F_CTXLEN_MASK).
const (
	PerfIndexMask  uint64 = 0xffffffff
	PerfCurrentCPU uint64 = 0xffffffff
	PerfCtxLenMask uint64 = 0xfffff << 32
)

// PerfRecord is one sample (or a count of lost samples) read from a
// PERF_EVENT_ARRAY, like cilium/ebpf's perf.Record.
type PerfRecord struct {
	CPU         int
	RawSample   []byte
	LostSamples uint64
}

// PerfEvents is implemented by PERF_EVENT_ARRAY maps: the producer side of
// bpf_perf_event_output.
type PerfEvents interface {
	// Output writes a sample to the event at index (flags & PerfIndexMask,
	// or the current CPU for PerfCurrentCPU) from a program on cpu.
	Output(cpu int, flags uint64, data []byte) error
}

// perfBuffer is one event's ring: its byte capacity is accounted as the
// kernel's perf ring (an 8-byte header, a 4-byte size and the data, padded
// to 8), and a sample that does not fit is counted as lost.
type perfBuffer struct {
	size, used uint64
	samples    [][]byte
	lost       uint64
}

type perfEventArray struct {
	base
	unsupported
	bufs   []*perfBuffer // by index; nil: no event open
	notify chan struct{}
}

func newPerfEventArray(spec Spec) (Map, error) {
	if spec.MaxEntries == 0 {
		// libbpf sizes an unsized PERF_EVENT_ARRAY to the CPU count.
		spec.MaxEntries = uint32(spec.numCPU())
	}
	if spec.KeySize != 4 || spec.ValueSize != 4 {
		return nil, fmt.Errorf("%w: perf_event_array needs 4-byte keys and values", ErrInvalid)
	}
	if spec.Flags&(FlagRdonlyProg|FlagWronlyProg) != 0 {
		return nil, fmt.Errorf("%w: perf_event_array does not take program access flags", ErrInvalid)
	}
	if err := checkFlags(&spec, FlagNumaNode|FlagPreserveElem); err != nil {
		return nil, err
	}
	if spec.MaxEntries > 1<<20 {
		return nil, fmt.Errorf("%w: %d entries", ErrNoMemory, spec.MaxEntries)
	}
	spec.SpinLockOffset = -1
	return &perfEventArray{base: base{spec: spec}, bufs: make([]*perfBuffer, spec.MaxEntries), notify: make(chan struct{}, 1)}, nil
}

func (m *perfEventArray) HostValueSize() int { return 4 }

func (m *perfEventArray) errHost() error {
	return fmt.Errorf("%w: perf_event_array slots are opened by a perf reader", ErrNotSupported)
}

func (m *perfEventArray) Lookup(key, value []byte, flags uint64) error { return m.errHost() }
func (m *perfEventArray) Update(key, value []byte, flags uint64) error { return m.errHost() }
func (m *perfEventArray) Delete(key []byte) error {
	if err := checkKey(&m.spec, key); err != nil {
		return err
	}
	i := index(key)
	if i >= m.spec.MaxEntries {
		return ErrMapFull
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bufs[i] == nil {
		return ErrKeyNotExist
	}
	m.bufs[i] = nil
	return nil
}
func (m *perfEventArray) NextKey(key, next []byte) error        { return arrayNextKey(&m.spec, key, next) }
func (m *perfEventArray) ProgLookup(key []byte, cpu int) []byte { return nil }
func (m *perfEventArray) ProgUpdate(key, value []byte, flags uint64, cpu int) error {
	return m.errHost()
}
func (m *perfEventArray) ProgDelete(key []byte) error { return m.errHost() }

// Output follows bpf_perf_event_output's checks: flags, index range
// (E2BIG), an open event (ENOENT), the event's CPU (EOPNOTSUPP), room
// (ENOSPC, counted as lost).
func (m *perfEventArray) Output(cpu int, flags uint64, data []byte) error {
	if flags&^(PerfIndexMask|PerfCtxLenMask) != 0 {
		return fmt.Errorf("%w: perf output flags %#x", ErrInvalid, flags)
	}
	idx := flags & PerfIndexMask
	if idx == PerfCurrentCPU {
		idx = uint64(cpu)
	}
	if idx >= uint64(m.spec.MaxEntries) {
		return fmt.Errorf("%w: perf event index %d, max_entries %d", ErrMapFull, idx, m.spec.MaxEntries)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.bufs[idx]
	if b == nil {
		return fmt.Errorf("%w: no perf event open at index %d", ErrKeyNotExist, idx)
	}
	if idx != uint64(cpu) {
		return &mapError{"perf event belongs to another CPU", EOPNOTSUPP}
	}
	need := (8 + 4 + uint64(len(data)) + 7) &^ 7
	if b.used+need > b.size {
		b.lost++
		return &mapError{"perf buffer full", ENOSPC}
	}
	b.used += need
	b.samples = append(b.samples, append([]byte(nil), data...))
	select {
	case m.notify <- struct{}{}:
	default:
	}
	return nil
}

// PerfReader reads the samples of a PERF_EVENT_ARRAY, like cilium/ebpf's
// perf.Reader: creating it opens one event per slot (one per CPU).
type PerfReader struct {
	m        *perfEventArray
	closed   chan struct{}
	once     sync.Once
	mu       sync.Mutex
	deadline time.Time
	next     int // round-robin start
}

// NewPerfReader opens an event with a buffer of perCPUBuffer bytes at
// every slot of m (a PERF_EVENT_ARRAY) and returns a reader of them.
func NewPerfReader(m Map, perCPUBuffer int) (*PerfReader, error) {
	pm, ok := m.(*perfEventArray)
	if !ok {
		return nil, fmt.Errorf("%w: %s map is not a perf event array", ErrInvalid, m.Spec().Type)
	}
	if perCPUBuffer <= 0 {
		return nil, fmt.Errorf("%w: perf buffer size %d", ErrInvalid, perCPUBuffer)
	}
	pm.mu.Lock()
	for i := range pm.bufs {
		pm.bufs[i] = &perfBuffer{size: uint64(perCPUBuffer)}
	}
	pm.mu.Unlock()
	return &PerfReader{m: pm, closed: make(chan struct{})}, nil
}

// SetDeadline makes Read give up with ErrTimeout at t (zero: never).
func (r *PerfReader) SetDeadline(t time.Time) {
	r.mu.Lock()
	r.deadline = t
	r.mu.Unlock()
}

// TryRead returns the next record without blocking: a lost-samples count
// first if samples were lost on a CPU, else the oldest sample of the next
// CPU in round-robin order.
func (r *PerfReader) TryRead() (PerfRecord, bool) {
	m := r.m
	m.mu.Lock()
	defer m.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(m.bufs)
	for k := 0; k < n; k++ {
		i := (r.next + k) % n
		b := m.bufs[i]
		if b == nil {
			continue
		}
		if b.lost > 0 {
			lost := b.lost
			b.lost = 0
			r.next = i
			return PerfRecord{CPU: i, LostSamples: lost}, true
		}
		if len(b.samples) > 0 {
			s := b.samples[0]
			b.samples[0] = nil
			b.samples = b.samples[1:]
			b.used -= (8 + 4 + uint64(len(s)) + 7) &^ 7
			r.next = (i + 1) % n
			return PerfRecord{CPU: i, RawSample: s}, true
		}
	}
	return PerfRecord{}, false
}

// Read blocks until a record is available, the reader is closed
// (ErrClosed) or the deadline passes (ErrTimeout).
func (r *PerfReader) Read() (PerfRecord, error) {
	for {
		select {
		case <-r.closed:
			return PerfRecord{}, ErrClosed
		default:
		}
		if rec, ok := r.TryRead(); ok {
			return rec, nil
		}
		r.mu.Lock()
		deadline := r.deadline
		r.mu.Unlock()
		var timer *time.Timer
		var timeout <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return PerfRecord{}, ErrTimeout
			}
			timer = time.NewTimer(d)
			timeout = timer.C
		}
		select {
		case <-r.closed:
		case <-r.m.notify:
		case <-timeout:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// Close closes the events (program output then fails with ENOENT) and
// stops the reader.
func (r *PerfReader) Close() error {
	r.once.Do(func() {
		close(r.closed)
		r.m.mu.Lock()
		clear(r.m.bufs)
		r.m.mu.Unlock()
	})
	return nil
}
