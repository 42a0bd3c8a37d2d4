package bpfvm

import (
	"fmt"
	"sync"
)

// Hook is an attachment point a host program declares for embedding:
// programs of its type attach to it, and Fire runs each on a context and
// reports every verdict, in attachment order.
type Hook struct {
	name  string
	typ   ProgramType
	mu    sync.RWMutex
	progs []*Program
}

// Verdict is one program's answer to a Fire.
type Verdict struct {
	Program *Program
	Retval  uint32
	Err     error
}

// NewHook declares a hook for programs of type typ (for instance
// XDP for packets, or a tracing type whose context is whatever
// bytes the host passes).
func NewHook(name string, typ ProgramType) *Hook { return &Hook{name: name, typ: typ} }

// Attach adds p to the hook.
func (h *Hook) Attach(p *Program) error {
	if p.Type() != h.typ {
		return fmt.Errorf("%w: hook %s takes %s programs, %s is %s", ErrInvalidArgument, h.name, h.typ, p.Name(), p.Type())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, q := range h.progs {
		if q == p {
			return fmt.Errorf("%w: %s is already attached to hook %s", ErrInvalidArgument, p.Name(), h.name)
		}
	}
	h.progs = append(h.progs, p)
	return nil
}

// Detach removes p from the hook.
func (h *Hook) Detach(p *Program) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, q := range h.progs {
		if q == p {
			h.progs = append(h.progs[:i:i], h.progs[i+1:]...)
			return
		}
	}
}

// Programs returns the attached programs.
func (h *Hook) Programs() []*Program {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return append([]*Program(nil), h.progs...)
}

// Fire runs every attached program on the packet data (networking types)
// and the context ctx (a []byte or fixed-size value; for tracing types the
// context the program reads through r1), and returns their verdicts.
// Programs share nothing but maps: each sees the input as given.
func (h *Hook) Fire(data []byte, ctx any) []Verdict {
	progs := h.Programs()
	out := make([]Verdict, len(progs))
	for i, p := range progs {
		ret, err := p.Run(&RunOptions{Data: data, Context: ctx})
		out[i] = Verdict{Program: p, Retval: ret, Err: err}
	}
	return out
}
