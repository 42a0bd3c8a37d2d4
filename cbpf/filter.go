package cbpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/interp"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit"
	"github.com/bpfvm/bpfvm/internal/jit/amd64"
	"github.com/bpfvm/bpfvm/internal/ppool"
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
	// EngineJIT runs the eBPF translation as native code (bpfvm's amd64
	// JIT; linux/amd64 only, elsewhere NewFilter fails with
	// ErrEngineUnavailable). Programs without the ancillary loads that
	// need a helper (#rand, #nla, #nlan) run on the JIT's filter entry,
	// which costs little more than the program's own instructions.
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

// ErrEngineUnavailable is returned by NewFilter for an engine that cannot
// run on this platform.
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
	ebpf    jit.Program     // EngineInterp, EngineJIT with helpers
	fast    *amd64.FilterProgram
	// readsLen: the program has len loads, so runs must write the
	// packet length into the context.
	readsLen bool
	// callsHelpers: the translated program calls helpers, which find the
	// run's packet and metadata in its worker (worker.pkt, worker.md).
	callsHelpers bool

	// pinned: runs may use the caller's P's idle machine in place, the
	// goroutine pinned to its P (ppool.Pool.Pin): the run is short and
	// bounded (the filter entry, or a short translation without helper
	// calls on the interpreter).
	pinned bool

	// Machines for the eBPF engines: the idle ones (a per-P pool; never
	// more than one per P besides the most concurrent Match calls so
	// far, unlike a sync.Pool, whose dropped items would leave the
	// registry growing), and all of them by cookie so helpers can find
	// the run's packet (made under mu).
	pool    ppool.Pool[worker]
	mu      sync.Mutex
	workers atomic.Pointer[[]*worker]
}

// worker is one goroutine's machine for the eBPF engines, with its context
// buffer and the packet and metadata of the run in progress.
type worker struct {
	vm  jit.VM
	ivm *interp.VM      // vm's concrete machine on EngineInterp: a direct call
	fvm *amd64.FilterVM // instead of vm, for Filter.fast
	ctx []byte
	pkt []byte
	md  *Metadata
	// readsLen and callsHelpers are the filter's: what a run must set up.
	readsLen, callsHelpers bool
	// zeroCtx: the context's metadata words are those of nil metadata, so
	// a run without metadata only needs the packet length written.
	zeroCtx bool
}

// NewFilter checks prog (Check) and prepares it for the chosen engine.
func NewFilter(prog []Instruction, opts Options) (*Filter, error) {
	if err := Check(prog); err != nil {
		return nil, err
	}
	f := &Filter{prog: append([]Instruction(nil), prog...), engine: opts.Engine}
	var insns []isa.Instruction // the translation (eBPF engines)
	for _, ins := range prog {
		if ins.Op == OpLDLen || ins.Op == OpLDXLen {
			f.readsLen = true
		}
	}
	switch opts.Engine {
	case EngineAuto, EngineClassic:
		f.engine = EngineClassic
		f.classic = compileClassic(f.prog)
	case EngineInterp, EngineJIT:
		var err error
		insns, err = Translate(f.prog)
		if err != nil {
			return nil, err
		}
		for _, ins := range insns {
			if ins.Opcode == isa.OpcodeCall {
				f.callsHelpers = true
			}
		}
		kind := jit.Interpreter
		if opts.Engine == EngineJIT {
			if err := jit.Available(); err != nil {
				return nil, fmt.Errorf("cbpf: %w: %v", ErrEngineUnavailable, err)
			}
			kind = jit.JIT
			// The filter entry, unless the program calls helpers.
			f.fast, err = amd64.LoadFilter(insns, amd64.Options{})
			if err == nil {
				break
			}
			if !errors.Is(err, amd64.ErrNotFilter) {
				return nil, fmt.Errorf("cbpf: loading the translated program: %w", err)
			}
		}
		f.ebpf, _, err = jit.Load(kind, insns, jit.Options{Helpers: engine.Helpers{
			HelperRandom:     f.helper(AncillaryRandom),
			HelperNLAttr:     f.helper(AncillaryNLAttr),
			HelperNLAttrNest: f.helper(AncillaryNLAttrNest),
		}})
		if err != nil {
			return nil, fmt.Errorf("cbpf: loading the translated program: %w", err)
		}
	default:
		return nil, fmt.Errorf("cbpf: unknown engine %v", opts.Engine)
	}
	f.pool.Init()
	f.pinned = f.fast != nil || opts.Engine == EngineInterp && !f.callsHelpers && len(insns) <= maxPinnedRun
	return f, nil
}

// Close releases what the engine holds (the JIT's executable memory; the
// garbage collector also does it eventually). The filter must not be used
// afterwards.
func (f *Filter) Close() error {
	if f.fast != nil {
		return f.fast.Close()
	}
	if f.ebpf != nil {
		return f.ebpf.Close()
	}
	return nil
}

// Engine returns the engine the filter runs on.
func (f *Filter) Engine() Engine { return f.engine }

// Instructions returns a copy of the filter's program.
func (f *Filter) Instructions() []Instruction { return append([]Instruction(nil), f.prog...) }

// maxPinnedRun bounds the translations (in slots) whose interpreter
// runs are made pinned to the P (Filter.pinned): such a run is not
// preemptible, so it must be short. Translations have no backward jump,
// so a run takes at most a few microseconds, about as long as the
// runtime's own non-preemptible stretches.
const maxPinnedRun = 1024

// getWorker takes a free machine or makes one.
func (f *Filter) getWorker() *worker {
	if w := f.pool.Get(); w != nil {
		return w
	}
	w := &worker{ctx: make([]byte, ContextSize), readsLen: f.readsLen, callsHelpers: f.callsHelpers}
	if f.fast != nil {
		w.fvm = f.fast.NewVM(w.ctx)
	} else {
		w.vm = f.ebpf.NewVM()
		w.ivm, _ = w.vm.(*interp.VM)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []*worker
	if p := f.workers.Load(); p != nil {
		all = *p
	}
	noMetadata.PutContext(w.ctx, 0, uint32(len(all)))
	w.zeroCtx = true
	all = append(all[:len(all):len(all)], w) // copy: readers may hold the old slice
	f.workers.Store(&all)
	return w
}

func (f *Filter) putWorker(w *worker) { f.pool.Put(w) }

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
// for the eBPF engines, only on an internal error or a helper failure).
func (f *Filter) Match(pkt []byte, md *Metadata) (uint32, error) {
	if f.classic != nil {
		return f.classic.run(pkt, md), nil
	}
	if f.pinned {
		// On the P's idle machine in place: no atomic, no slot write.
		if w := f.pool.Pin(); w != nil {
			if vm := w.fvm; vm != nil && md == nil && w.zeroCtx && !w.readsLen {
				// The filter entry's path without calls but the run's:
				// nothing to write into a context that holds nil
				// metadata.
				r0, status := vm.RunStatus(pkt)
				ppool.Unpin()
				if status != 0 {
					return 0, vm.StatusError(status) // errs never change
				}
				return uint32(r0), nil
			}
			v, err := w.match(pkt, md)
			ppool.Unpin()
			return v, err
		}
		ppool.Unpin()
	}
	w := f.getWorker()
	v, err := w.match(pkt, md)
	f.putWorker(w)
	return v, err
}

func (w *worker) match(pkt []byte, md *Metadata) (uint32, error) {
	if md == nil && w.zeroCtx {
		// The length word is read only by len loads.
		if w.readsLen {
			binary.LittleEndian.PutUint32(w.ctx[ctxLen:], uint32(len(pkt)))
		}
	} else {
		md.PutContext(w.ctx, int(packetLen(pkt, md)), ContextCookie(w.ctx))
		w.zeroCtx = md == nil
	}
	if w.fvm != nil {
		r0, status := w.fvm.RunStatus(pkt)
		if status != 0 {
			return 0, w.fvm.StatusError(status)
		}
		return uint32(r0), nil
	}
	if w.ivm != nil && !w.callsHelpers {
		r0, err := w.ivm.RunWithPacket(w.ctx, pkt)
		if err != nil {
			return 0, err
		}
		return uint32(r0), nil
	}
	w.pkt, w.md = pkt, md
	r0, err := w.vm.RunWithPacket(w.ctx, pkt)
	w.pkt, w.md = nil, nil
	if err != nil {
		return 0, err
	}
	return uint32(r0), nil
}

// Matcher runs a Filter from a single goroutine without any
// synchronisation: the fastest way to filter a stream of packets. Give each
// goroutine its own (Filter.NewMatcher) and Close it when done.
type Matcher struct {
	// fast is fvm while the context holds nil metadata (w.zeroCtx): a
	// run without metadata is then the filter entry's call and nothing
	// else. It comes first, and Match tests it first, so that the JIT's
	// path costs one load and a test before the call.
	fast    *amd64.FilterVM
	f       *Filter
	classic *classicProgram // f.classic, one load closer
	// st is the classic engine's state, reused without clearing: Check
	// proves every M[k] is written before it is read, and a fresh run
	// starts with A, X and the program counter at 0.
	st classicState
	w  *worker // nil for EngineClassic, which needs no machine
	// fvm is w.fvm when runs without metadata need nothing written into
	// the context (the program has no len loads).
	fvm *amd64.FilterVM
	// ivm is w.ivm under the same condition, for a program that also
	// calls no helpers (which would need the run's packet in w).
	ivm *interp.VM
	// bmd is the metadata of MatchBatch's runs with wire lengths on the
	// classic engine.
	bmd Metadata
}

// NewMatcher returns a Matcher for the filter.
func (f *Filter) NewMatcher() *Matcher {
	m := &Matcher{f: f, classic: f.classic}
	if f.classic != nil {
		m.st.groups = f.classic.groups
	} else {
		m.w = f.getWorker()
		if m.w.fvm != nil && !f.readsLen {
			m.fvm = m.w.fvm
		}
		if m.w.ivm != nil && !f.readsLen && !f.callsHelpers {
			m.ivm = m.w.ivm
		}
		m.syncFast()
	}
	return m
}

// syncFast sets m.fast after a run that may have changed the context.
func (m *Matcher) syncFast() {
	m.fast = nil
	if m.w.zeroCtx {
		m.fast = m.fvm
	}
}

// Match is Filter.Match. It must not be called after Close.
func (m *Matcher) Match(pkt []byte, md *Metadata) (uint32, error) {
	if vm := m.fast; vm != nil && md == nil {
		r0, status := vm.RunStatus(pkt) // inlined: the only call
		if status != 0 {
			return 0, vm.StatusError(status)
		}
		return uint32(r0), nil
	}
	if c := m.classic; c != nil {
		if g := c.whole; g != nil {
			if v, _, res := g.run(pkt, 0); res == groupDone {
				return v, nil
			}
		}
		if v, done := c.exec(pkt, md, &m.st, true); done {
			return v, nil
		}
		return c.finish(pkt, md, &m.st), nil
	}
	return m.match(pkt, md)
}

// match is Match on an eBPF engine's machine, past the filter entry's
// fast path.
func (m *Matcher) match(pkt []byte, md *Metadata) (uint32, error) {
	if m.ivm != nil && md == nil && m.w.zeroCtx {
		r0, err := m.ivm.RunWithPacket(m.w.ctx, pkt)
		if err != nil {
			return 0, err
		}
		return uint32(r0), nil
	}
	v, err := m.w.match(pkt, md)
	m.syncFast()
	return v, err
}

// Close gives the matcher's machine back to its filter.
func (m *Matcher) Close() {
	if m.w != nil {
		m.f.putWorker(m.w)
		m.w, m.fvm, m.ivm, m.fast = nil, nil, nil, nil
	}
}
