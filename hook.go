package bpfvm

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Hook is an attachment point a host program declares for embedding:
// programs of its type attach to it, and Fire runs each on a context and
// reports every verdict, in attachment order.
//
// As a kernel attach point, a hook may stand for a function (SetFuncIP:
// what bpf_get_func_ip returns to its programs) and each attachment may
// carry a cookie (AttachWithCookie: what bpf_get_attach_cookie returns to
// that program, as bpf_link_create's perf_event.bpf_cookie or a
// kprobe_multi cookie).
//
// Fire takes no lock: the attachments are an immutable list replaced
// whole by Attach and Detach, so firing is safe from any number of
// goroutines, concurrently with attaching and detaching (a Fire runs the
// list as it was when it started).
type Hook struct {
	name   string
	typ    ProgramType
	funcIP atomic.Uint64
	mu     sync.Mutex // serialises Attach and Detach
	atts   atomic.Pointer[[]hookAttachment]
}

// hookAttachment is one program attached to a hook.
type hookAttachment struct {
	prog   *Program
	cookie uint64
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

// SetFuncIP declares the address of the function the hook stands for:
// bpf_get_func_ip returns it to the hook's programs (0, the default, as
// for a program run outside an attachment).
func (h *Hook) SetFuncIP(addr uint64) { h.funcIP.Store(addr) }

// FuncIP returns the address SetFuncIP declared.
func (h *Hook) FuncIP() uint64 { return h.funcIP.Load() }

// Attach adds p to the hook, without a cookie (bpf_get_attach_cookie
// returns 0 to it).
func (h *Hook) Attach(p *Program) error { return h.AttachWithCookie(p, 0) }

// AttachWithCookie adds p to the hook with a cookie: bpf_get_attach_cookie
// returns it to p when this hook fires it.
func (h *Hook) AttachWithCookie(p *Program, cookie uint64) error {
	if p == nil {
		return fmt.Errorf("%w: nil program attached to hook %s", ErrInvalidArgument, h.name)
	}
	if p.Type() != h.typ {
		return fmt.Errorf("%w: hook %s takes %s programs, %s is %s", ErrInvalidArgument, h.name, h.typ, p.Name(), p.Type())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.list()
	for _, a := range old {
		if a.prog == p {
			return fmt.Errorf("%w: %s is already attached to hook %s", ErrInvalidArgument, p.Name(), h.name)
		}
	}
	atts := append(old[:len(old):len(old)], hookAttachment{prog: p, cookie: cookie})
	h.atts.Store(&atts)
	return nil
}

// Detach removes p from the hook.
func (h *Hook) Detach(p *Program) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.list()
	for i, a := range old {
		if a.prog == p {
			atts := append(old[:i:i], old[i+1:]...)
			h.atts.Store(&atts)
			return
		}
	}
}

// list returns the current attachments (not to be modified).
func (h *Hook) list() []hookAttachment {
	if l := h.atts.Load(); l != nil {
		return *l
	}
	return nil
}

// Programs returns the attached programs.
func (h *Hook) Programs() []*Program {
	atts := h.list()
	out := make([]*Program, len(atts))
	for i, a := range atts {
		out[i] = a.prog
	}
	return out
}

// Cookie returns the cookie p was attached with, and whether it is
// attached.
func (h *Hook) Cookie(p *Program) (uint64, bool) {
	for _, a := range h.list() {
		if a.prog == p {
			return a.cookie, true
		}
	}
	return 0, false
}

// Fire runs every attached program on the packet data (networking types)
// and the context ctx (a []byte or fixed-size value; for tracing types the
// context the program reads through r1), and returns their verdicts.
// Programs share nothing but maps: each sees the input as given. A
// program's redirect is delivered as Program.Run delivers it.
func (h *Hook) Fire(data []byte, ctx any) []Verdict {
	return h.FireAppend(make([]Verdict, 0, len(h.list())), data, ctx)
}

// FireAppend is Fire appending the verdicts to out: with a reused out, a
// Fire allocates nothing (for a []byte or nil ctx).
func (h *Hook) FireAppend(out []Verdict, data []byte, ctx any) []Verdict {
	atts := h.list()
	var ctxIn []byte
	var ctxErr error
	if ctx != nil {
		ctxIn, ctxErr = marshal(ctx, -1) // once for every program
	}
	funcIP := h.funcIP.Load()
	for _, a := range atts {
		if p := a.prog; ctx == nil && p.short {
			// The common embedding: a short program on a packet, run on
			// its P's idle instance (Program.runPinned).
			if ret, ok, err := p.runPinned(data); ok {
				out = append(out, Verdict{Program: p, Retval: ret, Err: err})
				continue
			}
		}
		v := Verdict{Program: a.prog, Err: ctxErr}
		if ctxErr == nil {
			v.Retval, v.Err = a.prog.fire(data, ctxIn, a.cookie, funcIP)
		}
		out = append(out, v)
	}
	return out
}

// fire is one program's run from a hook: Run with no outputs, not timed.
func (p *Program) fire(data, ctxIn []byte, cookie, funcIP uint64) (uint32, error) {
	inst, err := p.get()
	if err != nil {
		return 0, err
	}
	var ret uint32
	ok := false
	if p.plain && ctxIn == nil {
		ret, ok, err = p.runLean(inst, data) // what runOn would do, without building its options
	}
	if !ok {
		opts := RunOptions{Data: data, AttachCookie: cookie, FuncIP: funcIP}
		ret, err = p.runOn(inst, &opts, ctxIn)
	}
	p.pool.Put(inst)
	return ret, err
}
