// Package ppool is a pool of reusable items (VM instances, machines) with
// a slot per P (GOMAXPROCS slot of the Go scheduler) taken and given back
// without atomic read-modify-write instructions.
//
// Unlike a sync.Pool it never drops items (a garbage collection would
// lose every JIT program made, and the next runs would compile again), so
// every item it holds can be released and the number of items stays
// bounded.
//
// Taking and giving back an item was most of a short run's fixed cost, so
// the common case avoids locked operations (~8 ns each here; Get and Put
// cost 13 ns instead of 25 with an atomic swap and compare-and-swap, the
// root package's BenchmarkRunSteps/*/pool; a sync.Pool measured in
// between): every P has a slot of its own, read and written with plain
// loads and stores while the goroutine is pinned to its P (the runtime's
// procPin, which sync.Pool's per-P private slots use too): no other
// goroutine can run on that P meanwhile, and a P changes threads only
// through the scheduler's own synchronisation. Behind the slots: one
// atomic "hot" slot, then a mutex-guarded list.
//
// The trade-off: up to one idle item per P besides those the peak
// concurrency needs (a goroutine that moves to another P between Get and
// Put leaves the item in the new P's slot, and the old P's next Get
// misses), so up to GOMAXPROCS more items are made; items are never lost.
// Slots of Ps beyond a later, larger GOMAXPROCS do not exist (those Ps use
// the hot slot and the list); slots of Ps beyond a later, smaller
// GOMAXPROCS keep their item idle (still reached by Reset). Under the race
// detector the slots are off (it cannot see the scheduler's
// synchronisation, as for sync.Pool, which it disables).
package ppool

import (
	"runtime"
	"sync"
	"sync/atomic"
	_ "unsafe" // go:linkname
)

// Pool keeps idle *T. The zero Pool works without per-P slots; Init
// adds them. Its methods are safe for concurrent use (except Init and
// Reset, see there).
type Pool[T any] struct {
	local []slot[T] // one per P at Init; nil under the race detector
	// hot is the item a single caller takes and returns with one atomic
	// swap and one compare-and-swap, when its P's slot misses.
	hot  atomic.Pointer[T]
	mu   sync.Mutex
	free []*T
	all  []*T // Track's
}

// slot is one P's idle item, alone on its cache lines (Ps writing
// neighbouring slots would otherwise slow each other down).
type slot[T any] struct {
	item *T
	_    [120]byte
}

// procPin pins the calling goroutine to its P (no preemption, no other
// goroutine on the P) and returns the P's id; procUnpin ends it. They are
// the runtime's, which keeps them for linkname users ("Do not remove or
// change the type signature", go.dev/issue/67401).
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// Init makes the per-P slots (one per P of the current GOMAXPROCS). It
// must run before the pool is shared.
func (p *Pool[T]) Init() {
	if !raceEnabled {
		p.local = make([]slot[T], runtime.GOMAXPROCS(0))
	}
}

// Slots returns the number of per-P slots (0 before Init or under the
// race detector).
func (p *Pool[T]) Slots() int { return len(p.local) }

// Get takes an idle item, or returns nil if there is none.
func (p *Pool[T]) Get() *T {
	if pid := procPin(); pid < len(p.local) {
		if s := &p.local[pid]; s.item != nil {
			x := s.item
			s.item = nil
			procUnpin()
			return x
		}
	}
	procUnpin()
	if x := p.hot.Swap(nil); x != nil {
		return x
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		x := p.free[n-1]
		p.free = p.free[:n-1]
		return x
	}
	return nil
}

// Put gives an item back (x must not be nil).
func (p *Pool[T]) Put(x *T) {
	if pid := procPin(); pid < len(p.local) {
		if s := &p.local[pid]; s.item == nil {
			s.item = x
			procUnpin()
			return
		}
	}
	procUnpin()
	if p.hot.CompareAndSwap(nil, x) {
		return
	}
	p.mu.Lock()
	p.free = append(p.free, x)
	p.mu.Unlock()
}

// Pin pins the goroutine to its P and returns that P's idle item without
// taking it (nil if the slot is empty or the slots are off). Until Unpin
// the caller may use the item as its own: nothing else runs on the P, so
// no Get can take it. Meanwhile the caller must not block, call Get or
// Put, or run for long (the goroutine cannot be preempted); it may
// allocate.
func (p *Pool[T]) Pin() *T {
	if pid := procPin(); pid < len(p.local) {
		return p.local[pid].item
	}
	return nil
}

// Unpin ends Pin.
func Unpin() { procUnpin() }

// Track records x among the items Reset hands over (typically every item
// made, idle or not).
func (p *Pool[T]) Track(x *T) {
	p.mu.Lock()
	p.all = append(p.all, x)
	p.mu.Unlock()
}

// Tracked returns the number of items Track recorded since the last
// Reset.
func (p *Pool[T]) Tracked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.all)
}

// Reset calls release (if not nil) on every tracked item and empties the
// pool: no item is idle or tracked afterwards. No Get, Put or Pin may run
// meanwhile.
func (p *Pool[T]) Reset(release func(*T)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if release != nil {
		for _, x := range p.all {
			release(x)
		}
	}
	p.all, p.free = nil, nil
	p.hot.Store(nil)
	clear(p.local)
}
