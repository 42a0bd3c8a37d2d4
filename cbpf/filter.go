package cbpf

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/interp"
)

// Engine selects how a Filter runs its program.
type Engine int

const (
	// EngineAuto picks the fastest engine available (today EngineClassic).
	EngineAuto Engine = iota
	// EngineClassic runs the classic program directly on a pre-decoded
	// classic interpreter specialised for it: the fast path.
	EngineClassic
	// EngineInterp runs the eBPF translation (Translate) on bpfvm's eBPF
	// interpreter, exactly as the kernel runs classic filters on its eBPF
	// machinery.
	EngineInterp
	// EngineJIT will run the translation as native code; not available yet.
	EngineJIT
)

func (e Engine) String() string {
	switch e {
	case EngineAuto:
		return "auto"
	case EngineClassic:
		return "classic"
	case EngineInterp:
		return "interp"
	case EngineJIT:
		return "jit"
	}
	return fmt.Sprintf("Engine(%d)", int(e))
}

// ErrEngineUnavailable is returned by NewFilter for engines not built yet.
var ErrEngineUnavailable = errors.New("engine not available")

// Options configure a Filter.
type Options struct {
	Engine Engine
}

// Filter is a checked classic program ready to run on packets. It is safe
// for concurrent use; each goroutine's runs use their own machine.
type Filter struct {
	prog    []Instruction
	engine  Engine
	classic *classicProgram // EngineClassic
	ebpf    *interp.Program // EngineInterp

	// Machines for EngineInterp: free ones, and all of them by cookie so
	// helpers can find the run's packet. There are never more than the
	// most concurrent Match calls so far (unlike a sync.Pool, whose
	// dropped items would leave the registry growing).
	hot     atomic.Pointer[worker] // one free machine, reached without the lock
	mu      sync.Mutex
	free    []*worker
	workers atomic.Pointer[[]*worker]
}

// worker is one goroutine's machine for EngineInterp, with its context
// buffer and the packet and metadata of the run in progress.
type worker struct {
	vm  *interp.VM
	ctx []byte
	pkt []byte
	md  *Metadata
}

// NewFilter checks prog (Check) and prepares it for the chosen engine.
func NewFilter(prog []Instruction, opts Options) (*Filter, error) {
	if err := Check(prog); err != nil {
		return nil, err
	}
	f := &Filter{prog: append([]Instruction(nil), prog...), engine: opts.Engine}
	switch opts.Engine {
	case EngineAuto, EngineClassic:
		f.engine = EngineClassic
		f.classic = compileClassic(f.prog)
	case EngineInterp:
		insns, err := Translate(f.prog)
		if err != nil {
			return nil, err
		}
		f.ebpf, err = interp.Load(insns, interp.Options{Helpers: engine.Helpers{
			HelperRandom:     f.helper(AncillaryRandom),
			HelperNLAttr:     f.helper(AncillaryNLAttr),
			HelperNLAttrNest: f.helper(AncillaryNLAttrNest),
		}})
		if err != nil {
			return nil, fmt.Errorf("cbpf: loading the translated program: %w", err)
		}
	case EngineJIT:
		return nil, fmt.Errorf("cbpf: %w: %v", ErrEngineUnavailable, opts.Engine)
	default:
		return nil, fmt.Errorf("cbpf: unknown engine %v", opts.Engine)
	}
	return f, nil
}

// Engine returns the engine the filter runs on.
func (f *Filter) Engine() Engine { return f.engine }

// Instructions returns a copy of the filter's program.
func (f *Filter) Instructions() []Instruction { return append([]Instruction(nil), f.prog...) }

// getWorker takes a free machine or makes one.
func (f *Filter) getWorker() *worker {
	if w := f.hot.Swap(nil); w != nil {
		return w
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.free); n > 0 {
		w := f.free[n-1]
		f.free = f.free[:n-1]
		return w
	}
	w := &worker{vm: f.ebpf.NewVM(), ctx: make([]byte, ContextSize)}
	var all []*worker
	if p := f.workers.Load(); p != nil {
		all = *p
	}
	noMetadata.PutContext(w.ctx, 0, uint32(len(all)))
	all = append(all[:len(all):len(all)], w) // copy: readers may hold the old slice
	f.workers.Store(&all)
	return w
}

func (f *Filter) putWorker(w *worker) {
	if f.hot.CompareAndSwap(nil, w) {
		return
	}
	f.mu.Lock()
	f.free = append(f.free, w)
	f.mu.Unlock()
}

// helper implements the Helper* call for ancillary offset off, finding the
// run's packet and metadata through the context cookie.
func (f *Filter) helper(off uint32) engine.Helper {
	return func(env engine.Env, r1, r2, r3, _, _ uint64) (uint64, error) {
		ctx, err := env.Memory(r1, ContextSize, false)
		if err != nil {
			return 0, err
		}
		cookie := ContextCookie(ctx)
		var w *worker
		if all := f.workers.Load(); all != nil && int(cookie) < len(*all) {
			w = (*all)[cookie]
		}
		if w == nil {
			return 0, errors.New("cbpf: helper called with an unknown context")
		}
		md := w.md
		if md == nil {
			md = &noMetadata
		}
		return uint64(md.ancillary(off, w.pkt, uint32(r2), uint32(r3))), nil
	}
}

// Match runs the filter on a packet (starting at its link-layer header)
// with its metadata (nil: none) and returns the filter's verdict: the
// number of bytes to keep, 0 to drop. As in the kernel, a verdict larger
// than the packet keeps the whole packet.
//
// The error is non-nil only if the engine failed (never for EngineClassic;
// for EngineInterp, only on an internal error or a helper failure).
func (f *Filter) Match(pkt []byte, md *Metadata) (uint32, error) {
	if f.classic != nil {
		return f.classic.run(pkt, md), nil
	}
	w := f.getWorker()
	v, err := w.match(pkt, md)
	f.putWorker(w)
	return v, err
}

func (w *worker) match(pkt []byte, md *Metadata) (uint32, error) {
	cookie := ContextCookie(w.ctx)
	md.PutContext(w.ctx, len(pkt), cookie)
	w.pkt, w.md = pkt, md
	r0, err := w.vm.RunWithPacket(w.ctx, pkt)
	w.pkt, w.md = nil, nil
	if err != nil {
		return 0, err
	}
	return uint32(r0), nil
}
