package bpfvm

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/helpers"
	"github.com/bpfvm/bpfvm/internal/interp"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit"
	"github.com/bpfvm/bpfvm/internal/jit/amd64"
	"github.com/bpfvm/bpfvm/internal/loader"
	"github.com/bpfvm/bpfvm/internal/ppool"
	"github.com/bpfvm/bpfvm/internal/progtype"
)

// ProgramType is a program type, numbered as the kernel's (and
// cilium/ebpf's ebpf.ProgramType).
type ProgramType = progtype.Type

// Program is a loaded program. It is safe for concurrent use: each Run
// takes a machine from a pool.
type Program struct {
	name    string
	typ     ProgramType
	section string
	insns   []isa.Instruction // as run: linked, context accesses rewritten
	direct  []loader.DirectRegion
	lines   []string // source line per slot
	rt      *Runtime
	id      uint32
	// proven marks the accesses the verifier proved in bounds (slots of
	// insns): the JIT compiles them without a bounds check. nil: all
	// checked.
	proven []uint64
	// plain: the program calls no helper (nor tail-calls), so repeated
	// runs need no helper state reset between them (see runPlain).
	plain bool
	// observes: the program may see its context or packet
	// (progtype.Observes); when not, runs that want no output skip
	// filling them.
	observes bool
	// bare: plain and not observes. A run of such a program that asks
	// for no output is the engine's run alone (runLean).
	bare bool
	// short: plain, and every run is short (runsBounded, at most
	// maxPinnedRun slots): runs without output may be made pinned to the
	// P (runPinned).
	short bool
	// inline is what the engines may run without calling helpers (the
	// program's array and hash maps, get_prandom_u32).
	inline engine.Inline
	// filter is the program compiled for the JIT's filter entry, for
	// bare runs of a short bare program that addresses no global data
	// (see instance.fvm); nil otherwise.
	filter *amd64.FilterProgram
	// shared runs a filter program that touches no memory
	// (FilterProgram.Reentrant) from any goroutine, without an
	// instance; sharedLen is a packet length a prepare without context
	// and output passed (-1: none yet), which every such prepare of a
	// packet of that length passes (the input checks depend only on the
	// type, the length and the context).
	shared    *amd64.FilterVM
	sharedLen atomic.Int64
	// interpBare: bare and short, on the interpreter (every instance's
	// bareRun.ivm is set): Run runs it pinned on the interpreter's bare
	// entry (interp.VM.RunBare).
	interpBare bool
	pool       ppool.Pool[instance] // idle instances (internal/ppool)
	cpu        sync.Mutex
	nextCPU    int
	// closed: Close was called; Runners refuse to run (their machine's
	// code may be gone).
	closed atomic.Bool
}

// instance is one machine for a program: its helper state, VM and the
// test-run buffers (context, packet) its runs reuse.
type instance struct {
	vm jit.VM
	// bare is what a bare run on this instance needs (runLean, runPinned).
	bare bareRun
	// fullLen is the packet length of the last successful prepare of
	// run without context, or -1: a prepare of another packet of that
	// length without context passes the same checks (they depend on the
	// type, the length and the context only) in the same buffers.
	fullLen int
	state   *helpers.State
	prog    jit.Program
	run     *progtype.Run
	// inlineRep is the VM when its program's helper calls are all inline
	// map operations and it can repeat runs until one calls a helper
	// (runInlineRepeat); nil otherwise.
	inlineRep inlineRepeater
	owner     *Program
}

// inlineRepeater is what the interpreter's VM offers for repeating runs
// of a program whose helper calls are all inline map operations (see
// interp.VM.RunRepeatInline).
type inlineRepeater interface {
	HelpersInline() bool
	RunRepeatInline(mem, packet []byte, n uint32) (r0 uint64, runs uint32, err error)
}

// bareRun is what a bare run (runLean, runPinned) needs: the machine and
// the buffers its instance's run is prepared for, kept together (one
// cache line).
type bareRun struct {
	// fvm, when not nil, runs the program on the JIT's filter entry: one
	// indirect call, none of the VM's per-run checks and set-up (see
	// runBare).
	fvm *amd64.FilterVM
	vm  jit.VM
	// ivm is vm when it is the interpreter's: held as its type, bare
	// runs call it directly (no interface call; interp.VM.RunBare).
	ivm *interp.VM
	// n is the packet length the run is prepared for, for a run without
	// context and output (progtype.Run.Prepared), or -1; ctx and ld are
	// then its memory and what legacy packet loads read.
	n       int
	ctx, ld []byte
}

// notePrepared records in inst.bare whether its run is prepared for a
// run of type t on an n-byte packet without context and output.
// Whatever prepares the run calls it afterwards.
func (inst *instance) notePrepared(t ProgramType, n int) {
	r, b := inst.run, &inst.bare
	if !r.Prepared(t, n) {
		b.n, b.ctx, b.ld = -1, nil, nil
		return
	}
	b.n, b.ctx, b.ld = n, r.Ctx, r.LDPacket
	if r.Packet == nil {
		b.ld = r.Ctx // as Run: legacy packet loads read the context
	}
	if p := inst.owner; p.shared != nil && p.sharedLen.Load() != int64(n) {
		p.sharedLen.Store(int64(n))
	}
}

// Name returns the program's name.
func (p *Program) Name() string { return p.name }

// Type returns the program's type.
func (p *Program) Type() ProgramType { return p.typ }

// Engine returns the engine the program runs on (the interpreter when the
// JIT was asked for but is unavailable here).
func (p *Program) Engine() Engine {
	inst, err := p.get()
	if err != nil {
		return p.rt.engine
	}
	defer p.pool.Put(inst)
	return inst.prog.Engine()
}

// SectionName returns the ELF section the program came from.
func (p *Program) SectionName() string { return p.section }

// ID returns the program's id in its runtime (what PROG_ARRAY values
// hold).
func (p *Program) ID() uint32 { return p.id }

// Instructions returns the program as bpfvm runs it.
func (p *Program) Instructions() []isa.Instruction {
	return append([]isa.Instruction(nil), p.insns...)
}

func (p *Program) String() string { return fmt.Sprintf("%s(%s)#%d", p.typ, p.name, p.id) }

// newProgram prepares a linked program: context accesses rewritten and a
// first machine built (which checks it loads). proven are the accesses the
// verifier proved in bounds, by slot of linked.Insns (nil: none).
func newProgram(rt *Runtime, spec *ebpf.ProgramSpec, linked *loader.Linked, proven []uint64) (*Program, error) {
	typ := ProgramType(spec.Type)
	if err := progtype.CheckHelpers(typ, linked.Insns); err != nil {
		return nil, fmt.Errorf("program %s: %w", spec.Name, err)
	}
	insns, err := progtype.Rewrite(typ, linked.Insns)
	if err != nil {
		return nil, fmt.Errorf("program %s: %w", spec.Name, err)
	}
	p := &Program{name: spec.Name, typ: typ, section: spec.SectionName, direct: linked.Direct, rt: rt, lines: linked.Lines}
	p.insns = insns
	p.plain = !callsHelpers(insns)
	p.observes = progtype.Observes(insns)
	p.bare = p.plain && !p.observes
	p.short = p.plain && len(insns) <= maxPinnedRun && runsBounded(insns)
	if !p.plain {
		p.inline = rt.inlineFor(insns)
	}
	p.proven = proven
	if p.bare && p.short && len(p.direct) == 0 {
		// A failure here is not the program's (Load compiled it): its
		// runs take the VM's entry instead.
		if fp, err := jit.LoadFilter(rt.engine, insns, jit.Options{Budget: rt.budget, Proven: proven}); err == nil && fp != nil {
			p.filter = fp
			if fp.Reentrant() {
				p.shared = fp.NewVM(nil)
			}
		}
	}
	p.sharedLen.Store(-1)
	p.pool.Init()
	inst, err := p.newInstance()
	if err != nil {
		if p.filter != nil {
			p.filter.Close()
		}
		return nil, p.fixError(err)
	}
	// Every instance runs on the engine the first one does.
	p.interpBare = p.bare && p.short && inst.bare.ivm != nil
	p.pool.Put(inst)
	return p, nil
}

func (p *Program) newInstance() (*instance, error) {
	p.cpu.Lock()
	cpu := p.nextCPU % p.rt.numCPU
	p.nextCPU++
	p.cpu.Unlock()
	st := helpers.NewState(p.rt.host, cpu)
	hs := st.Helpers()
	if len(p.rt.hostHelpers) > 0 {
		withRegions := make(engine.Helpers, len(hs)+len(p.rt.hostHelpers))
		for id, h := range hs {
			withRegions[id] = h
		}
		// One adapter per instance (an instance runs on one goroutine at
		// a time): wrapping env in a new Memory value per call would
		// allocate on every host helper call.
		mem := &envMemory{}
		for id, fn := range p.rt.hostHelpers {
			withRegions[id] = func(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
				mem.env = env
				return fn(mem, r1, r2, r3, r4, r5)
			}
		}
		hs = withRegions
	}
	prog, _, err := jit.Load(p.rt.engine, p.insns, jit.Options{Helpers: hs, Budget: p.rt.budget, Proven: p.proven, Inline: p.inline})
	if err != nil {
		return nil, err
	}
	vm := prog.NewVM()
	vm.SetCPU(cpu)
	vm.SetPrandom(st.PrandomState())
	// Global data stays where it is for the program's life: the VM
	// checks accesses to it without a per-run setup.
	for _, d := range p.direct {
		if err := vm.AddPersistentRegion(d.Data, d.Writable); err != nil {
			prog.Close()
			return nil, err
		}
	}
	inst := &instance{state: st, vm: vm, prog: prog, run: progtype.NewRun(), bare: bareRun{vm: vm, n: -1}, fullLen: -1, owner: p}
	if iv, ok := vm.(*interp.VM); ok {
		inst.bare.ivm = iv
	}
	if r, ok := vm.(inlineRepeater); ok && !p.plain && r.HelpersInline() {
		inst.inlineRep = r
	}
	if p.filter != nil {
		// The program reads neither r1 nor r2 (it is bare): the entry's
		// memory is none.
		inst.bare.fvm = p.filter.NewVM(nil)
	}
	p.pool.Track(inst)
	return inst, nil
}

func (p *Program) get() (*instance, error) {
	if inst := p.pool.Get(); inst != nil {
		return inst, nil
	}
	inst, err := p.newInstance()
	return inst, p.fixError(err)
}

// fixError names the program (and the source line of the failing
// instruction) in err.
func (p *Program) fixError(err error) error {
	if err == nil {
		return nil
	}
	var ie *isa.InstructionError
	if errors.As(err, &ie) && ie.Index >= 0 {
		if idx := ie.Index; idx < len(p.lines) && p.lines[idx] != "" {
			return fmt.Errorf("program %s: %w (source %s)", p.name, err, p.lines[idx])
		}
	}
	return fmt.Errorf("program %s: %w", p.name, err)
}

// clockBase is the origin of Run's durations: time.Since of a time with a
// monotonic reading reads only the monotonic clock, half the cost of
// time.Now, which also reads the wall clock.
var clockBase = time.Now()

// RunOptions are the inputs and outputs of Run, as cilium/ebpf's
// RunOptions and BPF_PROG_TEST_RUN have them.
type RunOptions struct {
	// Data is the packet (networking program types).
	Data []byte
	// DataOut receives the packet after the run; Run shortens it to the
	// output's length (an error if it is too short).
	DataOut []byte
	// Context is the context struct (__sk_buff, xdp_md, or the raw
	// context bytes of tracing types): []byte or a fixed-size value.
	Context any
	// ContextOut receives the context after the run (a pointer or []byte).
	ContextOut any
	// Repeat runs the program this many times; Duration is the mean.
	// 0 runs it once without measuring Duration (left 0): the call an
	// embedding makes per event, which two clock reads would slow down
	// by more than a short program's run (as cilium/ebpf's Run, which
	// reports no duration). 1 runs it once and measures.
	Repeat uint32
	// CPU is the CPU the run reports (bpf_get_smp_processor_id and
	// per-CPU map values).
	CPU uint32
	// AttachCookie is what bpf_get_attach_cookie returns, as if the
	// program ran from an attachment with this cookie (kernel:
	// bpf_link_create's perf_event.bpf_cookie, kprobe_multi cookies).
	AttachCookie uint64
	// FuncIP is what bpf_get_func_ip returns: the address of the
	// function the program is attached to (kprobe, fentry/fexit).
	FuncIP uint64

	// Duration is set by Run: the mean time of one repetition, measured
	// (with the monotonic clock) around the repetitions only, as the
	// kernel's test run measures it around its loop; 0 when Repeat is 0.
	Duration time.Duration
	// Redirect is set by Run when the program redirected the packet
	// (bpf_redirect, bpf_redirect_map).
	Redirect *Redirect
}

// Redirect is where a program redirected its packet.
type Redirect struct {
	Ifindex uint32 // bpf_redirect's target
	Map     *Map   // bpf_redirect_map's map (nil for bpf_redirect)
	Key     uint32
	Flags   uint64
}

// Run runs the program once (or Repeat times) on the given input, the way
// BPF_PROG_TEST_RUN does, and returns the program's return value.
func (p *Program) Run(opts *RunOptions) (uint32, error) {
	if fvm := p.shared; fvm != nil && opts != nil && opts.bare() && int64(len(opts.Data)) == p.sharedLen.Load() {
		// No instance, no pinning: the code touches no memory of its
		// VM. A failed run goes on as below.
		if r0, status := fvm.RunStatus(nil); status == 0 {
			opts.clearResults()
			return uint32(r0), nil
		}
	}
	if p.filter != nil && opts != nil && opts.bare() {
		// runPinned on the filter entry, written out here: a call less
		// is a tenth of such a run. A failed run goes on as below (the
		// VM runs it again for its error).
		inst := p.pool.Pin()
		if inst != nil && inst.bare.n == len(opts.Data) {
			r0, status := inst.bare.fvm.RunStatus(nil)
			ppool.Unpin()
			if status == 0 {
				opts.clearResults()
				return uint32(r0), nil
			}
		} else {
			ppool.Unpin()
		}
	}
	if p.interpBare && opts != nil && opts.bare() {
		// runPinned on the interpreter, written out here as above: the VM
		// held as its type, its bare entry (no input to set) or else
		// its RunWithPacket (a program that uses its stack, or the
		// error). An instance not prepared for this length goes on as
		// below.
		inst := p.pool.Pin()
		if inst != nil && inst.bare.n == len(opts.Data) {
			if r0, ok := inst.bare.ivm.RunBare(); ok {
				ppool.Unpin()
				opts.clearResults()
				return uint32(r0), nil
			}
			ret, err := p.runVMPinned(inst)
			opts.clearResults()
			return ret, err
		}
		ppool.Unpin()
	}
	if p.plain && opts != nil && opts.bare() {
		if p.short {
			if ret, ok, err := p.runPinned(opts.Data); ok {
				opts.clearResults()
				return ret, err
			}
		}
		inst, err := p.get()
		if err != nil {
			return 0, err
		}
		ret, ok, err := p.runLean(inst, opts.Data)
		if ok {
			opts.clearResults()
		} else {
			ret, err = p.runOn(inst, opts, nil)
		}
		p.pool.Put(inst)
		return ret, err
	}
	opts, ctxIn, err := runArgs(opts)
	if err != nil {
		return 0, err
	}
	inst, err := p.get()
	if err != nil {
		return 0, err
	}
	ret, err := p.runOn(inst, opts, ctxIn)
	p.pool.Put(inst)
	return ret, err
}

// bare reports whether the options ask for one untimed run without a
// context and without outputs: for a plain program (Program.plain), such
// a run needs only the engine's run once the input is prepared
// (runLean).
func (o *RunOptions) bare() bool {
	return o.Context == nil && o.DataOut == nil && o.ContextOut == nil && o.Repeat == 0
}

// clearResults sets what Run reports for an untimed run that did not
// redirect (written only when needed: the caller's memory).
func (o *RunOptions) clearResults() {
	if o.Duration != 0 || o.Redirect != nil {
		o.Duration, o.Redirect = 0, nil
	}
}

// runLean runs a plain program (Program.plain) on inst for bare options
// (RunOptions.bare) with packet data, if inst is known to take a packet
// of this length without error (ok false otherwise: nothing was run, and
// runOn is the way). The program calls no helper and nothing is to be
// collected, so the run is the engine's run on the prepared input and
// nothing else: no helper state, CPU, cookie, redirect or Finish. A bare
// program's run needs no prepare once prepared for the length
// (instance.bare); one that sees its input is prepared as runOn would,
// if its last prepare without context was of that length
// (instance.fullLen): the input checks depend only on the type, the
// length and the context, so that prepare cannot fail, and its buffers
// exist, so it allocates nothing.
func (p *Program) runLean(inst *instance, data []byte) (ret uint32, ok bool, err error) {
	if p.bare {
		if inst.bare.n != len(data) {
			return 0, false, nil
		}
		r0, err := inst.bare.run()
		if err != nil {
			return 0, true, p.fixError(err)
		}
		return uint32(r0), true, nil
	}
	if inst.fullLen != len(data) {
		return 0, false, nil
	}
	run := inst.run
	if err := run.Prepare(p.typ, progtype.Request{Data: data}); err != nil {
		inst.fullLen = -1 // not expected (see above)
		return 0, true, fmt.Errorf("program %s: %w", p.name, err)
	}
	// A full prepare leaves the run unprepared for a bare run: inst.bare
	// (n -1) stays right.
	ld := run.LDPacket
	if run.Packet == nil {
		ld = run.Ctx // as Run: legacy packet loads read the context
	}
	r0, err := inst.vm.RunWithPacket(run.Ctx, ld)
	if err != nil {
		return 0, true, p.fixError(err)
	}
	return uint32(r0), true, nil
}

// maxPinnedRun bounds the length (in slots) of the programs runPinned
// runs: a short program's run is not preemptible, so it must be short.
// Each instruction runs at most once (no backward jump, no call), so a
// run takes at most a few microseconds, about as long as the runtime's
// own non-preemptible stretches.
const maxPinnedRun = 1024

// maxPinnedPacket bounds the packets runPinned prepares (copies) for a
// program that sees its input, for the same reason.
const maxPinnedPacket = 4096

// runPinned is runLean for a short program (Program.short) on its idle
// instance of the caller's P, without taking it: the goroutine stays
// pinned to its P for the run (ppool.Pool.Pin), so nothing else can
// use the instance meanwhile. This spares the pool's Get and Put (two
// pins and two slot writes), a third of a trivial run. ok is false (and
// nothing was run) when the P has no idle instance or runLean's
// conditions do not hold. An error is built pinned (it allocates, which
// a pinned goroutine may: the runtime only skips GC assists meanwhile).
func (p *Program) runPinned(data []byte) (ret uint32, ok bool, err error) {
	if fvm := p.shared; fvm != nil && int64(len(data)) == p.sharedLen.Load() {
		// As Run: no instance, no pin (hooks come this way).
		if r0, status := fvm.RunStatus(nil); status == 0 {
			return uint32(r0), true, nil
		}
	}
	if !p.bare && len(data) > maxPinnedPacket {
		return 0, false, nil
	}
	inst := p.pool.Pin()
	if inst == nil {
		ppool.Unpin()
		return 0, false, nil
	}
	if !p.bare {
		ret, ok, err = p.runLean(inst, data)
		ppool.Unpin()
		return ret, ok, err
	}
	if inst.bare.n != len(data) {
		ppool.Unpin()
		return 0, false, nil
	}
	if r0, ok := inst.bare.filterRun(); ok {
		ppool.Unpin()
		return uint32(r0), true, nil
	}
	r0, err := inst.bare.vmRun()
	ppool.Unpin()
	if err != nil {
		return 0, true, p.fixError(err)
	}
	return uint32(r0), true, nil
}

// runVMPinned runs a bare program on inst's VM (its RunWithPacket) and
// unpins: what Run's interpreter path does for a run RunBare declines.
// Kept out of Run so that its frame and layout stay those of the JIT's
// paths above.
func (p *Program) runVMPinned(inst *instance) (uint32, error) {
	r0, err := inst.bare.ivm.RunWithPacket(inst.bare.ctx, inst.bare.ld)
	ppool.Unpin()
	if err != nil {
		return 0, p.fixError(err)
	}
	return uint32(r0), nil
}

// run is the engine's run of a bare program (Program.bare) on the input
// its instance is prepared for (n): on the filter entry if the program
// has one, else (or if that run failed) on the VM.
func (b *bareRun) run() (uint64, error) {
	if r0, ok := b.filterRun(); ok {
		return r0, nil
	}
	return b.vmRun()
}

// vmRun is the run on the VM: on the interpreter, its bare entry if it
// takes the run, else its RunWithPacket called directly (the error, or a
// program that uses its stack); on the JIT, the VM's RunWithPacket.
func (b *bareRun) vmRun() (uint64, error) {
	if iv := b.ivm; iv != nil {
		if r0, ok := iv.RunBare(); ok {
			return r0, nil
		}
		return iv.RunWithPacket(b.ctx, b.ld)
	}
	return b.vm.RunWithPacket(b.ctx, b.ld)
}

// filterRun is the run on the filter entry (inlined: one indirect call);
// ok is false if there is none or the run failed (an access out of
// bounds, or the program was closed). The VM then runs the program again
// for its own error, which names the address: a bare program without
// global data changes nothing outside its run, so that run goes as this
// one did.
func (b *bareRun) filterRun() (r0 uint64, ok bool) {
	if b.fvm == nil {
		return 0, false
	}
	r0, status := b.fvm.RunStatus(nil)
	return r0, status == 0
}

// runsBounded reports whether every run of insns executes each
// instruction at most once: no backward jump (nor one to itself), no
// call of any kind.
func runsBounded(insns []isa.Instruction) bool {
	for n, i := range insns {
		if n > 0 && insns[n-1].IsLDDW() {
			continue // second slot of an lddw: not an instruction
		}
		if c := i.Class(); (c == isa.ClassJMP || c == isa.ClassJMP32) && i.Op() == isa.OpCALL { // call, callx
			return false
		}
		if i.IsLDDW() {
			continue // a function pointer's target is not a jump
		}
		if t, ok := isa.Target(insns, n); ok && t <= n {
			return false
		}
	}
	return true
}

// runArgs returns the options of a run (nil: none) and its context
// bytes.
func runArgs(opts *RunOptions) (*RunOptions, []byte, error) {
	if opts == nil {
		return &RunOptions{}, nil, nil
	}
	if opts.Context == nil {
		return opts, nil, nil
	}
	ctxIn, err := marshal(opts.Context, -1)
	return opts, ctxIn, err
}

// attachment is what an attachment gives a run (bpf_get_attach_cookie,
// bpf_get_func_ip), and the CPU the run reports.
type attachment struct {
	cookie, funcIP uint64
	cpu            int
}

// runOn is Run on an instance the caller holds.
func (p *Program) runOn(inst *instance, opts *RunOptions, ctxIn []byte) (uint32, error) {
	run := inst.run
	// Nothing of the prepared memory can be seen when the program cannot
	// observe it and no output is asked for (a redirect, which wants the
	// output packet, needs a helper call: the program observes).
	wantOut := opts.DataOut != nil || opts.ContextOut != nil
	unobserved := !p.observes && !wantOut
	if !unobserved || ctxIn != nil || !run.Prepared(p.typ, len(opts.Data)) {
		req := progtype.Request{Data: opts.Data, Context: ctxIn, WantContextOut: opts.ContextOut != nil, Unobserved: unobserved}
		err := run.Prepare(p.typ, req)
		if p.plain { // what runLean needs to know
			inst.notePrepared(p.typ, len(opts.Data))
			inst.fullLen = -1
			if err == nil && ctxIn == nil && !req.Unobserved {
				inst.fullLen = len(opts.Data)
			}
		}
		if err != nil {
			return 0, fmt.Errorf("program %s: %w", p.name, err)
		}
	}
	var ret uint64
	var err error
	var redirect helpers.RedirectInfo
	at := attachment{cookie: opts.AttachCookie, funcIP: opts.FuncIP, cpu: int(opts.CPU)}
	if at.cpu >= p.rt.numCPU {
		at.cpu %= p.rt.numCPU // a division only when needed: it is slow
	}
	if opts.Repeat == 0 {
		// One run, not timed (see RunOptions.Repeat).
		opts.Duration = 0
		if p.plain {
			ret, err = p.runPlain(inst, run, 1)
		} else {
			ret, err = p.runOnce(inst, run, at, &redirect)
		}
		if err != nil {
			return 0, err
		}
	} else {
		repeat := opts.Repeat
		start := time.Since(clockBase)
		if p.plain {
			if ret, err = p.runPlain(inst, run, repeat); err != nil {
				return 0, err
			}
		} else if inst.inlineRep != nil && repeat > 1 {
			if ret, err = p.runInlineRepeat(inst, run, at, repeat); err != nil {
				return 0, err
			}
		} else {
			for i := uint32(0); i < repeat; i++ {
				if ret, err = p.runOnce(inst, run, at, &redirect); err != nil {
					return 0, err
				}
			}
		}
		opts.Duration = time.Since(clockBase) - start
		if repeat > 1 {
			opts.Duration /= time.Duration(repeat)
		}
	}
	opts.Redirect = nil
	if !redirect.Set && !wantOut {
		return uint32(ret), nil // nothing to collect (Finish)
	}
	if redirect.Set {
		r := &Redirect{Ifindex: redirect.Ifindex, Key: redirect.Key, Flags: redirect.Flags}
		if redirect.Map != nil {
			if id, ok := p.rt.registry.MapID(redirect.Map); ok {
				r.Map = &Map{m: redirect.Map, id: id, rt: p.rt, name: redirect.Map.Spec().Name}
			}
		}
		opts.Redirect = r
	}
	res := run.Finish()
	p.rt.deliverRedirect(p.typ, opts.Redirect, uint32(ret), res.DataOut)
	if opts.DataOut != nil {
		if len(opts.DataOut) < len(res.DataOut) {
			return uint32(ret), fmt.Errorf("program %s: DataOut holds %d bytes, the output has %d: %w", p.name, len(opts.DataOut), len(res.DataOut), io.ErrShortBuffer)
		}
		opts.DataOut = opts.DataOut[:copy(opts.DataOut, res.DataOut)]
	}
	if opts.ContextOut != nil && res.ContextOut != nil {
		if b, ok := opts.ContextOut.([]byte); ok && len(b) != len(res.ContextOut) {
			copy(b, res.ContextOut)
		} else if err := unmarshal(opts.ContextOut, res.ContextOut); err != nil {
			return uint32(ret), err
		}
	}
	return uint32(ret), nil
}

// callsHelpers reports whether insns may call a helper (or kfunc): any
// call other than a bpf-to-bpf one. Tail calls are helper calls.
func callsHelpers(insns []isa.Instruction) bool {
	for n, i := range insns {
		if n > 0 && insns[n-1].IsLDDW() {
			continue // second slot of an lddw: not an instruction
		}
		if i.Opcode == isa.OpcodeCallX || i.Opcode == isa.OpcodeCall && i.Src != isa.CallLocal {
			return true
		}
	}
	return false
}

// runPlain runs a program that calls no helper repeat times on owner.
// Nothing reads or changes the helper state during such a run (no
// helper, no tail call), so it is left alone: a repetition costs only the
// engine's run.
func (p *Program) runPlain(owner *instance, run *progtype.Run, repeat uint32) (uint64, error) {
	ld := run.LDPacket
	if run.Packet == nil {
		ld = run.Ctx // as Run: legacy packet loads read the context
	}
	var ret uint64
	var err error
	if repeat == 1 {
		// The same run; RunWithPacket has fast paths RunRepeat lacks
		// (the interpreter's for pure programs, such as legacy filters).
		ret, err = owner.vm.RunWithPacket(run.Ctx, ld)
	} else {
		ret, err = owner.vm.RunRepeat(run.Ctx, ld, repeat)
	}
	if err != nil {
		return ret, p.fixError(err)
	}
	return ret, nil
}

// runInlineRepeat runs repeat times a program whose helper calls are all
// inline map operations (instance.inlineRep). Such a program cannot tail
// call or redirect (the only helpers it may call are the map helpers,
// when an inline operation falls back to them), and a run that calls no
// helper leaves the helper state as it found it: the state is set up as
// runOnce does, then the VM repeats runs back to back until one calls a
// helper; only then is the state ended and reset, as after every runOnce
// run, and set up again for the rest.
func (p *Program) runInlineRepeat(inst *instance, run *progtype.Run, at attachment, repeat uint32) (uint64, error) {
	ld := run.LDPacket
	if run.Packet == nil {
		ld = run.Ctx // as runOnce: Run(ctx) reads the context
	}
	st := inst.state
	inst.vm.SetCPU(at.cpu)
	var ret uint64
	for repeat > 0 {
		st.Packet = run.Packet
		st.CPU = at.cpu
		st.TailCalls = 0
		st.AttachCookie, st.FuncIP = at.cookie, at.funcIP
		r0, runs, err := inst.inlineRep.RunRepeatInline(run.Ctx, ld, repeat)
		st.EndRun()
		st.Reset()
		if err != nil {
			return 0, p.fixError(err)
		}
		ret, repeat = r0, repeat-min(runs, repeat)
	}
	return ret, nil
}

// runOnce runs the program (on owner, an instance the caller holds) and
// the programs it tail-calls (on instances borrowed from their pools).
// It stores where the run redirected the packet in *redirect (written
// only when it changes: copying it every run is measurable).
func (p *Program) runOnce(owner *instance, run *progtype.Run, at attachment, redirect *helpers.RedirectInfo) (uint64, error) {
	cur, inst := p, owner
	giveBack := func() {
		if inst != owner {
			cur.pool.Put(inst)
		}
	}
	tailCalls := 0
	for {
		st := inst.state
		st.Packet = run.Packet
		st.CPU = at.cpu
		st.TailCalls = tailCalls
		// A tail call keeps the run context, hence the cookie and the
		// function (the kernel's bpf_run_ctx belongs to the attachment).
		st.AttachCookie, st.FuncIP = at.cookie, at.funcIP
		inst.vm.SetCPU(at.cpu) // the inline map operations' CPU, as the helpers'
		var ret uint64
		var err error
		if run.Packet != nil {
			ret, err = inst.vm.RunWithPacket(run.Ctx, run.LDPacket)
		} else {
			ret, err = inst.vm.Run(run.Ctx)
		}
		if st.Redirect.Set || redirect.Set {
			*redirect = st.Redirect
		}
		tailCalls = st.TailCalls
		st.EndRun()
		st.Reset()
		tc := tailCall(err)
		if tc == nil {
			err = cur.fixError(err)
			giveBack()
			return ret, err
		}
		next, ok := tc.Program.(*Program)
		if !ok {
			giveBack()
			return 0, fmt.Errorf("program %s: tail call to a %T", cur.name, tc.Program)
		}
		giveBack()
		cur = next
		if cur == p {
			inst = owner
		} else if inst, err = cur.get(); err != nil {
			inst = owner // nothing borrowed
			return 0, err
		}
	}
}

// tailCall returns the tail call a run ended with, if any.
func tailCall(err error) *helpers.TailCallRequest {
	if err == nil {
		return nil
	}
	var tc *helpers.TailCallRequest
	if errors.As(err, &tc) {
		return tc
	}
	return nil
}

// Close releases the program (and the JIT's code memory). It must not be
// running.
func (p *Program) Close() error {
	p.closed.Store(true)
	p.rt.registry.RemoveProgram(p.id)
	p.pool.Reset(func(inst *instance) { inst.prog.Close() })
	if p.filter != nil {
		p.filter.Close()
	}
	return nil
}

// Runner runs a program on a machine of its own: what Run does, without
// taking a pooled machine and giving it back on every call (two atomic
// operations, a good part of a short program's run). A Runner is for one
// goroutine at a time (an embedding's worker, say); Close gives its
// machine back to the program.
type Runner struct {
	p    *Program
	inst *instance
}

// NewRunner returns a Runner for p.
func (p *Program) NewRunner() (*Runner, error) {
	if p.closed.Load() {
		return nil, fmt.Errorf("program %s: %w", p.name, ErrClosed)
	}
	inst, err := p.get()
	if err != nil {
		return nil, err
	}
	return &Runner{p: p, inst: inst}, nil
}

// Run is Program.Run on the Runner's machine.
func (r *Runner) Run(opts *RunOptions) (uint32, error) {
	if r.inst == nil || r.p.closed.Load() {
		return 0, fmt.Errorf("program %s: runner: %w", r.p.name, ErrClosed)
	}
	if r.p.plain && opts != nil && opts.bare() {
		if b := &r.inst.bare; b.fvm != nil && b.n == len(opts.Data) {
			if r0, status := b.fvm.RunStatus(nil); status == 0 {
				opts.clearResults()
				return uint32(r0), nil
			}
		}
		// The interpreter's bare entry, called directly (as Run).
		if b := &r.inst.bare; b.ivm != nil && r.p.bare && b.n == len(opts.Data) {
			if r0, ok := b.ivm.RunBare(); ok {
				opts.clearResults()
				return uint32(r0), nil
			}
		}
		ret, ok, err := r.p.runLean(r.inst, opts.Data)
		if !ok {
			return r.p.runOn(r.inst, opts, nil)
		}
		opts.clearResults()
		return ret, err
	}
	opts, ctxIn, err := runArgs(opts)
	if err != nil {
		return 0, err
	}
	return r.p.runOn(r.inst, opts, ctxIn)
}

// Close gives the Runner's machine back to its program; the Runner is
// unusable afterwards. Closing twice is harmless.
func (r *Runner) Close() error {
	if r.inst != nil && !r.p.closed.Load() { // a closed program's machines are gone
		r.p.pool.Put(r.inst)
	}
	r.inst = nil
	return nil
}
