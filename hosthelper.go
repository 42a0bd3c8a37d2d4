package bpfvm

import (
	"github.com/bpfvm/bpfvm/internal/engine"
)

// Memory is the view a host helper has of the running program's memory.
type Memory interface {
	// Bytes returns the n bytes at program address addr (the stack, the
	// context, the packet, map values the run looked up), writable if
	// write is set, or an error if the program may not access them.
	Bytes(addr, n uint64, write bool) ([]byte, error)
}

// HelperFunc is a helper the host provides: it receives r1-r5 and returns
// r0. An error aborts the run (the program cannot catch it).
type HelperFunc func(mem Memory, r1, r2, r3, r4, r5 uint64) (uint64, error)

type envMemory struct{ env engine.Env }

func (m *envMemory) Bytes(addr, n uint64, write bool) ([]byte, error) {
	return m.env.Memory(addr, n, write)
}

// WithHelper registers a host helper under id: programs call it with
// `call id` (in C, `static long (*fn)(...) = (void *)id;`). Ids of kernel
// helpers are replaced; pick ids above 0x10000 for new ones.
func WithHelper(id int32, fn HelperFunc) Option {
	return func(r *Runtime) {
		if r.hostHelpers == nil {
			r.hostHelpers = map[int32]HelperFunc{}
		}
		r.hostHelpers[id] = fn
	}
}
