package maps

import (
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"
)

// Ring buffer constants (include/uapi/linux/bpf.h, kernel/bpf/ringbuf.c).
const (
	RingBufHeaderSize = 8 // BPF_RINGBUF_HDR_SZ
	ringBufPageSize   = 4096

	RBNoWakeup    uint64 = 1 // BPF_RB_NO_WAKEUP
	RBForceWakeup uint64 = 2 // BPF_RB_FORCE_WAKEUP

	RBAvailData uint64 = 0 // BPF_RB_AVAIL_DATA
	RBRingSize  uint64 = 1 // BPF_RB_RING_SIZE
	RBConsPos   uint64 = 2 // BPF_RB_CONS_POS
	RBProdPos   uint64 = 3 // BPF_RB_PROD_POS
)

// ErrClosed is returned by readers after Close.
var ErrClosed = errors.New("reader closed")

// ErrTimeout is returned by a reader's Read when its deadline passes.
var ErrTimeout = errors.New("read deadline exceeded")

// RingBuffer is implemented by RINGBUF maps: the producer side programs use
// through the ringbuf helpers.
type RingBuffer interface {
	// Reserve returns size bytes of zeroed record memory, or nil when the
	// ring has no room (or flags is not 0), as bpf_ringbuf_reserve.
	Reserve(size uint64, flags uint64) []byte
	// Commit submits (discard false) or discards the reserved record whose
	// first byte is at address addr.
	Commit(addr uint64, discard bool, flags uint64) error
	// Output copies data into a new record (bpf_ringbuf_output).
	Output(data []byte, flags uint64) error
	// Query answers bpf_ringbuf_query.
	Query(flags uint64) uint64
}

type ringRecord struct {
	data      []byte
	pos       uint64 // producer position of the header
	len       uint64 // header + data, rounded to 8
	busy      bool
	discarded bool
}

// ringBuf models the kernel's ring buffer with its byte accounting (so
// reservations fail exactly when the kernel's would) while keeping each
// record in its own allocation: consumers see records in reservation
// order, and an unsubmitted record holds back the ones after it.
type ringBuf struct {
	base
	size       uint64
	cons, prod uint64
	records    []*ringRecord // reserved, not yet consumed, in order
	notify     chan struct{}
}

func newRingBuf(spec Spec) (Map, error) {
	if spec.KeySize != 0 || spec.ValueSize != 0 {
		return nil, fmt.Errorf("%w: ringbuf takes key and value size 0", ErrInvalid)
	}
	n := spec.MaxEntries
	if n == 0 || n&(n-1) != 0 || n%ringBufPageSize != 0 {
		return nil, fmt.Errorf("%w: ringbuf size %d is not a power of 2 multiple of the page size", ErrInvalid, n)
	}
	if spec.Flags&^FlagNumaNode != 0 {
		return nil, fmt.Errorf("%w: ringbuf flags %#x", ErrInvalid, spec.Flags)
	}
	spec.SpinLockOffset = -1
	return &ringBuf{base: base{spec: spec}, size: uint64(n), notify: make(chan struct{}, 1)}, nil
}

func (m *ringBuf) HostValueSize() int { return 0 }

func (m *ringBuf) errNotSupported() error {
	return fmt.Errorf("%w: ringbuf maps have no elements; use a reader", ErrNotSupported)
}

func (m *ringBuf) Lookup(key, value []byte, flags uint64) error          { return m.errNotSupported() }
func (m *ringBuf) Update(key, value []byte, flags uint64) error          { return m.errNotSupported() }
func (m *ringBuf) Delete(key []byte) error                               { return m.errNotSupported() }
func (m *ringBuf) NextKey(key, next []byte) error                        { return m.errNotSupported() }
func (m *ringBuf) LookupAndDelete(key, value []byte, flags uint64) error { return m.errNotSupported() }
func (m *ringBuf) ProgLookup(key []byte, cpu int) []byte                 { return nil }
func (m *ringBuf) ProgUpdate(key, value []byte, flags uint64, cpu int) error {
	return m.errNotSupported()
}
func (m *ringBuf) ProgDelete(key []byte) error { return m.errNotSupported() }

// maxRecord is RINGBUF_MAX_RECORD_SZ.
const maxRecord = (1 << 28) - 1

func (m *ringBuf) reserve(size uint64) *ringRecord {
	if size > maxRecord {
		return nil
	}
	l := (size + RingBufHeaderSize + 7) &^ 7
	if l > m.size {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.prod+l-m.cons > m.size-1 {
		return nil
	}
	alloc := (size + 7) &^ 7
	if alloc == 0 {
		alloc = 8
	}
	r := &ringRecord{data: make([]byte, size, alloc), pos: m.prod, len: l, busy: true}
	m.prod += l
	m.records = append(m.records, r)
	return r
}

func (m *ringBuf) Reserve(size uint64, flags uint64) []byte {
	if flags != 0 {
		return nil
	}
	if r := m.reserve(size); r != nil {
		return r.data
	}
	return nil
}

func addrOf(b []byte) uint64 { return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

func (m *ringBuf) Commit(addr uint64, discard bool, flags uint64) error {
	m.mu.Lock()
	var found bool
	for _, r := range m.records {
		if r.busy && addrOf(r.data) == addr {
			r.busy, r.discarded, found = false, discard, true
			break
		}
	}
	m.mu.Unlock()
	if !found {
		return fmt.Errorf("%w: %#x is not a reserved ring buffer record", ErrInvalid, addr)
	}
	m.wake()
	return nil
}

func (m *ringBuf) wake() {
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

func (m *ringBuf) Output(data []byte, flags uint64) error {
	if flags&^(RBNoWakeup|RBForceWakeup) != 0 {
		return fmt.Errorf("%w: ringbuf output flags %#x", ErrInvalid, flags)
	}
	r := m.reserve(uint64(len(data)))
	if r == nil {
		return &mapError{"ring buffer full", EAGAIN}
	}
	copy(r.data, data)
	m.mu.Lock()
	r.busy = false
	m.mu.Unlock()
	m.wake()
	return nil
}

func (m *ringBuf) Query(flags uint64) uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	switch flags {
	case RBAvailData:
		return m.prod - m.cons
	case RBRingSize:
		return m.size
	case RBConsPos:
		return m.cons
	case RBProdPos:
		return m.prod
	}
	return 0
}

// next pops the first committed record, skipping discarded ones; ok is
// false when the ring is empty or its first record is still reserved.
func (m *ringBuf) next() (data []byte, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.records) > 0 {
		r := m.records[0]
		if r.busy {
			return nil, false
		}
		m.records[0] = nil
		m.records = m.records[1:]
		m.cons = r.pos + r.len
		if !r.discarded {
			return r.data, true
		}
	}
	return nil, false
}

// RingReader reads the records of a RINGBUF map, like cilium/ebpf's
// ringbuf.Reader. It is safe for concurrent use.
type RingReader struct {
	rb       *ringBuf
	closed   chan struct{}
	once     sync.Once
	mu       sync.Mutex
	deadline time.Time
}

// NewRingReader returns a reader of m, which must be a RINGBUF map.
func NewRingReader(m Map) (*RingReader, error) {
	rb, ok := m.(*ringBuf)
	if !ok {
		return nil, fmt.Errorf("%w: %s map is not a ring buffer", ErrInvalid, m.Spec().Type)
	}
	return &RingReader{rb: rb, closed: make(chan struct{})}, nil
}

// SetDeadline makes Read give up with ErrTimeout at t (zero: never).
func (r *RingReader) SetDeadline(t time.Time) {
	r.mu.Lock()
	r.deadline = t
	r.mu.Unlock()
}

// Read blocks until a record is available and returns its data, or fails
// with ErrClosed after Close or ErrTimeout after the deadline.
func (r *RingReader) Read() ([]byte, error) {
	for {
		select {
		case <-r.closed:
			return nil, ErrClosed
		default:
		}
		if d, ok := r.rb.next(); ok {
			// A record consumed while others wait: keep the signal
			// for the next reader.
			r.rb.wake()
			return d, nil
		}
		r.mu.Lock()
		deadline := r.deadline
		r.mu.Unlock()
		var timer *time.Timer
		var timeout <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return nil, ErrTimeout
			}
			timer = time.NewTimer(d)
			timeout = timer.C
		}
		select {
		case <-r.closed:
		case <-r.rb.notify:
		case <-timeout:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// TryRead returns the next record without blocking.
func (r *RingReader) TryRead() ([]byte, bool) { return r.rb.next() }

// AvailableBytes reports the bytes produced and not yet consumed.
func (r *RingReader) AvailableBytes() uint64 { return r.rb.Query(RBAvailData) }

// Close stops the reader; blocked Reads return ErrClosed.
func (r *RingReader) Close() error {
	r.once.Do(func() { close(r.closed) })
	return nil
}
