package maps

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Registry numbers maps and programs the way the kernel's id tables do, so
// PROG_ARRAY and map-in-map values (file descriptors in the kernel) can name
// them, and hands out the opaque handles programs hold as map pointers.
// The zero value is not usable: call NewRegistry.
type Registry struct {
	mu    sync.RWMutex
	maps  []Map // by id-1; nil once removed
	progs []any // by id-1
	// snapshot is a copy of maps, replaced on every change, so the
	// helpers' hot path (MapByHandle) reads it without locking.
	snapshot atomic.Pointer[[]Map]
}

func (r *Registry) publish() {
	s := append([]Map(nil), r.maps...)
	r.snapshot.Store(&s)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// handleBase makes map handles non-canonical x86-64/arm64 addresses: a
// program that dereferences one hits the interpreter's bounds checks, never
// real memory.
const handleBase uint64 = 0xbff0_0000_0000_0000

// AddMap registers m and returns its id (never 0).
func (r *Registry) AddMap(m Map) uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maps = append(r.maps, m)
	r.publish()
	return uint32(len(r.maps))
}

// RemoveMap forgets the map with the given id.
func (r *Registry) RemoveMap(id uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id >= 1 && int(id) <= len(r.maps) {
		r.maps[id-1] = nil
		r.publish()
	}
}

// Map returns the map with the given id.
func (r *Registry) Map(id uint32) (Map, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if id < 1 || int(id) > len(r.maps) || r.maps[id-1] == nil {
		return nil, false
	}
	return r.maps[id-1], true
}

// MapID returns the id of a registered map.
func (r *Registry) MapID(m Map) (uint32, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for i, x := range r.maps {
		if x == m {
			return uint32(i + 1), true
		}
	}
	return 0, false
}

// AddProgram registers a program (any value the caller's tail calls can
// run) and returns its id (never 0).
func (r *Registry) AddProgram(p any) uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.progs = append(r.progs, p)
	return uint32(len(r.progs))
}

// RemoveProgram forgets the program with the given id.
func (r *Registry) RemoveProgram(id uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id >= 1 && int(id) <= len(r.progs) {
		r.progs[id-1] = nil
	}
}

// Program returns the program with the given id.
func (r *Registry) Program(id uint32) (any, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if id < 1 || int(id) > len(r.progs) || r.progs[id-1] == nil {
		return nil, false
	}
	return r.progs[id-1], true
}

// Handle returns the value a program holds as the pointer of map id.
func Handle(id uint32) uint64 { return handleBase | uint64(id)<<4 }

// MapByHandle resolves a program's map pointer.
func (r *Registry) MapByHandle(h uint64) (Map, error) {
	if h&^(uint64(0xffff_ffff)<<4) != handleBase {
		return nil, fmt.Errorf("%w: %#x is not a map pointer", ErrInvalid, h)
	}
	id := uint32(h >> 4)
	if sp := r.snapshot.Load(); sp != nil && id >= 1 && int(id) <= len(*sp) {
		if m := (*sp)[id-1]; m != nil {
			return m, nil
		}
	}
	return nil, fmt.Errorf("%w: %#x is not a live map pointer", ErrInvalid, h)
}
