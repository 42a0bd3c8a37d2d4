package bpfvm

import (
	"runtime"
	"sync"
	"sync/atomic"
	_ "unsafe" // go:linkname
)

// instancePool keeps a program's idle instances. Unlike a sync.Pool it
// never drops them (a garbage collection would lose every JIT program
// made, and the next runs would compile again), so every engine program
// it created can be closed and the number of instances stays bounded.
//
// Taking and giving back an instance was most of a short run's fixed
// cost, so the common case avoids atomic read-modify-write instructions
// (locked operations, ~8 ns each here; Get and Put cost 13 ns instead of
// 25 with an atomic swap and compare-and-swap, BenchmarkRunSteps/*/pool;
// a sync.Pool measured in between): every P (GOMAXPROCS slot of the Go
// scheduler) has a slot of its own, read and written with plain loads and
// stores while the goroutine is pinned to its P (the runtime's procPin,
// which sync.Pool's per-P private slots use too): no other goroutine can
// run on that P meanwhile, and a P changes threads only through the
// scheduler's own synchronisation. Behind the slots: one atomic "hot"
// slot, then a mutex-guarded list.
//
// The trade-off: up to one idle instance per P besides those the peak
// concurrency needs (a goroutine that moves to another P between Get and
// Put leaves the instance in the new P's slot, and the old P's next Get
// misses), so up to GOMAXPROCS more instances are made; instances are
// never lost. Slots of Ps beyond a later, smaller GOMAXPROCS keep their
// instance idle (still closed by closeAll). Under the race detector the
// slots are off (it cannot see the scheduler's synchronisation, as for
// sync.Pool, which it disables).
type instancePool struct {
	local []poolSlot // one per P at init; nil under the race detector
	// hot is the instance a single caller takes and returns with one
	// atomic swap and one compare-and-swap, when its P's slot misses.
	hot  atomic.Pointer[instance]
	mu   sync.Mutex
	free []*instance
	all  []*instance
}

// poolSlot is one P's idle instance, alone on its cache lines (Ps
// writing neighbouring slots would otherwise slow each other down).
// (Keeping a copy of the instance's bareRun here saved a pinned run one
// dependent load, ~1 ns, but made every Get and Put copy it, ~10 ns.)
type poolSlot struct {
	inst *instance
	_    [120]byte
}

// procPin pins the calling goroutine to its P (no preemption, no other
// goroutine on the P) and returns the P's id; procUnpin ends it. They
// are the runtime's, which keeps them for linkname users ("Do not remove
// or change the type signature", go.dev/issue/67401).
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// init makes the per-P slots.
func (pp *instancePool) init() {
	if !raceEnabled {
		pp.local = make([]poolSlot, runtime.GOMAXPROCS(0))
	}
}

// Get takes an idle instance, or returns nil if there is none.
func (pp *instancePool) Get() *instance {
	if pid := procPin(); pid < len(pp.local) {
		if s := &pp.local[pid]; s.inst != nil {
			inst := s.inst
			s.inst = nil
			procUnpin()
			return inst
		}
	}
	procUnpin()
	if inst := pp.hot.Swap(nil); inst != nil {
		return inst
	}
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if n := len(pp.free); n > 0 {
		inst := pp.free[n-1]
		pp.free = pp.free[:n-1]
		return inst
	}
	return nil
}

// Put gives an instance back.
func (pp *instancePool) Put(inst *instance) {
	if pid := procPin(); pid < len(pp.local) {
		if s := &pp.local[pid]; s.inst == nil {
			s.inst = inst
			procUnpin()
			return
		}
	}
	procUnpin()
	if pp.hot.CompareAndSwap(nil, inst) {
		return
	}
	pp.mu.Lock()
	pp.free = append(pp.free, inst)
	pp.mu.Unlock()
}

func (pp *instancePool) track(inst *instance) {
	pp.mu.Lock()
	pp.all = append(pp.all, inst)
	pp.mu.Unlock()
}

// closeAll closes every instance made. No Get or Put may run meanwhile.
func (pp *instancePool) closeAll() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for _, inst := range pp.all {
		inst.prog.Close()
	}
	pp.all, pp.free = nil, nil
	pp.hot.Store(nil)
	clear(pp.local)
}
