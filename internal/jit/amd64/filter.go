//go:build linux && amd64

package amd64

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// FilterProgram is a program compiled for the filter entry: the cheapest
// way to run a short program that needs none of a VM's machinery, such as
// a classic BPF filter's translation. LoadFilter accepts only programs
// whose runs are bounded by their length: no helper or kfunc calls, no
// callx, no bpf-to-bpf calls, no backward jumps, and an instruction
// budget at least the program's length. So the code counts no
// instructions (FilterVM has no Executed), checks no budget or context,
// and never exits to Go before the end of the run. Every memory access
// not proven by Options.Proven is still bounds-checked.
//
// It is safe for concurrent use by FilterVMs in different goroutines.
type FilterProgram struct {
	insns []isa.Instruction
	comp  *compiled
	// fv is the func value the VMs call: the code's entry, or after
	// Close closedFilter's.
	fv funcval
	// The batch entry (filterbatch.go): its code and func value.
	bcomp    *compiled
	bcode    []byte
	bfv      funcval
	bcleanup runtime.Cleanup
	// errs are the errors of the run statuses: filterClosed,
	// filterTooLarge, then per slot the access there failing.
	errs []error
	// reentrant: see Reentrant.
	reentrant bool
	mu        sync.Mutex
	code      []byte
	cleanup   runtime.Cleanup
}

// Run statuses besides 0 (the program returned): the error is
// FilterProgram.errs[status-1].
const (
	filterClosed   = 1 // closedFilter: the program is closed
	filterTooLarge = 2 // the packet is 2 GiB or more
	filterFault    = 3 // + the instruction index: an access outside the memory and the stack
)

// closedFilter is what VMs of a closed FilterProgram call.
func closedFilter(unsafe.Pointer, uint64, *runContext, uint64) (r0, status uint64) {
	return 0, filterClosed
}

// ErrNotFilter is wrapped by LoadFilter's errors for programs the filter
// entry cannot run (they load with Load).
var ErrNotFilter = errors.New("the program cannot run on the filter entry")

// filterable says why the filter entry cannot run insns (nil if it can).
func filterable(insns []isa.Instruction, budget uint64) error {
	if budget == 0 {
		budget = engine.DefaultBudget
	}
	if uint64(len(insns)) > budget {
		return fmt.Errorf("%w: %d instructions, more than the budget of %d", ErrNotFilter, len(insns), budget)
	}
	for i := 0; i < len(insns); i++ {
		in := insns[i]
		if in.IsLDDW() {
			i++
			continue
		}
		cl := in.Class()
		if cl != isa.ClassJMP && cl != isa.ClassJMP32 {
			continue
		}
		if in.Op() == isa.OpCALL {
			return &isa.InstructionError{Index: i, Insn: in, Reason: "a call needs the VM's exits", Err: ErrNotFilter}
		}
		if t, ok := isa.Target(insns, i); ok && t <= i {
			return &isa.InstructionError{Index: i, Insn: in, Reason: "a backward jump needs the budget", Err: ErrNotFilter}
		}
	}
	return nil
}

// LoadFilter validates and compiles a program for the filter entry. It
// fails with an error wrapping ErrNotFilter for programs the entry cannot
// run (see FilterProgram). opts.Helpers is not used (no calls).
func LoadFilter(insns []isa.Instruction, opts Options) (*FilterProgram, error) {
	if err := isa.Validate(insns); err != nil {
		return nil, err
	}
	if err := filterable(insns, opts.Budget); err != nil {
		return nil, err
	}
	p := &FilterProgram{insns: append([]isa.Instruction(nil), insns...)}
	comp, err := compileMode(p.insns, &opts, true)
	if err != nil {
		return nil, err
	}
	code, err := mapCode(comp.code)
	if err != nil {
		return nil, err
	}
	p.comp, p.code = comp, code
	p.fv.fn = uintptr(unsafe.Pointer(unsafe.SliceData(code))) + uintptr(comp.freshEntry)
	p.errs = make([]error, filterFault-1+len(insns))
	p.errs[filterClosed-1] = ErrClosed
	p.errs[filterTooLarge-1] = fmt.Errorf("jit: packet of 2 GiB or more: too large")
	for i, in := range p.insns {
		if i > 0 && p.insns[i-1].IsLDDW() {
			continue
		}
		if err := accessError(i, in); err != nil {
			p.errs[filterFault-1+i] = err
		}
	}
	p.reentrant = !touchesMemory(p.insns)
	p.cleanup = runtime.AddCleanup(p, unmapCode, code)
	if err := p.loadBatch(&opts); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// accessError is the error of a run whose access at slot i failed (nil
// for instructions that access no memory). It is built at load time so
// that a run only picks it: the failing address is not in it.
func accessError(i int, in isa.Instruction) error {
	cl := in.Class()
	if cl != isa.ClassLDX && cl != isa.ClassST && cl != isa.ClassSTX {
		return nil
	}
	size := isa.SizeBytes(in.Size())
	reason := fmt.Sprintf("read of %d bytes outside the stack and the memory of the run", size)
	switch {
	case cl == isa.ClassSTX && in.Mode() == isa.ModeATOMIC:
		reason = fmt.Sprintf("atomic access of %d bytes outside the stack and the memory of the run, or not aligned to %d bytes", size, size)
	case cl != isa.ClassLDX:
		reason = fmt.Sprintf("write of %d bytes outside the stack and the memory of the run", size)
	}
	return &isa.InstructionError{Index: i, Insn: in, Reason: reason, Err: engine.ErrOutOfBounds}
}

// Close releases the program's executable memory; runs after it fail with
// ErrClosed. It must not run while a FilterVM of the program is running.
// Close is idempotent.
func (p *FilterProgram) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.code != nil {
		closed := closedFilter
		atomic.StoreUintptr(&p.fv.fn, **(**uintptr)(unsafe.Pointer(&closed)))
		p.cleanup.Stop()
		unmapCode(p.code)
		p.code = nil
	}
	if p.bcode != nil {
		closed := closedBatch
		atomic.StoreUintptr(&p.bfv.fn, **(**uintptr)(unsafe.Pointer(&closed)))
		p.bcleanup.Stop()
		unmapCode(p.bcode)
		p.bcode = nil
	}
	return nil
}

// CodeSize returns the size of the generated machine code in bytes.
func (p *FilterProgram) CodeSize() int { return len(p.comp.code) }

// Reentrant reports whether the program's runs touch no memory of their
// FilterVM: no load, store or atomic and no use of r10, so no stack to
// use or clear; a run writes only registers and its caller's frame, and
// reads its VM's fixed r1 and r2. One FilterVM of such a program may then
// run it from any number of goroutines at once (an exception to
// FilterVM's one goroutine at a time).
func (p *FilterProgram) Reentrant() bool { return p.reentrant }

// touchesMemory reports whether insns may access memory (other than the
// packet Run is given, through legacy loads, which a reentrant run may
// not have either: kept simple) or use the stack pointer.
func touchesMemory(insns []isa.Instruction) bool {
	for i, in := range insns {
		if i > 0 && insns[i-1].IsLDDW() {
			continue // an lddw's second slot
		}
		switch in.Class() {
		case isa.ClassLDX, isa.ClassST, isa.ClassSTX:
			return true
		case isa.ClassLD:
			if !in.IsLDDW() {
				return true // a legacy packet load
			}
		}
		if in.Dst == isa.R10 || in.Src == isa.R10 {
			return true
		}
	}
	return false
}

// FilterVM runs a FilterProgram over packets: r1 = the address of the
// memory given to NewVM (0 if empty), r2 = its length, every run; legacy
// packet loads (LD_ABS, LD_IND) read the packet given to Run, which is not
// otherwise accessible. The program may read and write the memory and its
// stack. A FilterVM must be used by one goroutine at a time.
type FilterVM struct {
	call  filterFunc
	batch filterBatchFunc
	ctx   *runContext
	errs  []error
	p     *FilterProgram
	words []uint64
	stack []byte
	mem   []byte
}

// NewVM returns a machine running the program on mem (see FilterVM). The
// caller may change mem's contents between runs, and keeps it alive and
// unmoved while the VM is in use.
func (p *FilterProgram) NewVM(mem []byte) *FilterVM {
	vm := &FilterVM{p: p, ctx: new(runContext), errs: p.errs, mem: mem, words: make([]uint64, isa.StackSize/8)}
	// vm.mem keeps the memory alive; the context holds its address for
	// the code (r1), the stack's too.
	vm.stack = unsafe.Slice((*byte)(unsafe.Pointer(&vm.words[0])), isa.StackSize)
	c := vm.ctx
	lo := addrOf(vm.stack)
	c.fpBase = lo + isa.StackSize
	c.fpLimit = c.fpBase
	setRegion(&c.regions[regionStack], lo, lo+isa.StackSize)
	setSliceRegion(&c.regions[regionMem], mem)
	setRegion(&c.regions[regionPacket], 0, 0)
	setRegion(&c.regions[regionExtraW], 0, 0)
	setRegion(&c.regions[regionExtraR], 0, 0)
	c.regs[1], c.regs[2] = addrOf(mem), uint64(len(mem))
	fv := &p.fv
	vm.call = *(*filterFunc)(unsafe.Pointer(&fv))
	bfv := &p.bfv
	vm.batch = *(*filterBatchFunc)(unsafe.Pointer(&bfv))
	return vm
}

// Run runs the program on pkt (see FilterVM) and returns r0. The only
// run-time failure is an access outside the memory and the stack
// (engine.ErrOutOfBounds, in an *isa.InstructionError naming the
// instruction); a legacy load outside the packet ends the run with r0 =
// 0, as in the kernel.
func (vm *FilterVM) Run(pkt []byte) (uint64, error) {
	r0, status := vm.RunStatus(pkt)
	if status != 0 {
		return 0, vm.StatusError(status)
	}
	return r0, nil
}

// RunStatus is Run for the hottest callers: small enough to be inlined,
// so that a run is one indirect call into the code. Status 0 is success;
// any other status is a failed run, whose error StatusError gives.
// Everything a run needs checked (the program not closed, the packet's
// size, a stack to clear) is done by the code's first instructions.
func (vm *FilterVM) RunStatus(pkt []byte) (r0, status uint64) {
	// No runtime.KeepAlive(pkt) is needed after the call: the code has
	// no safe point, so the collector can neither scan this goroutine's
	// stack nor finish a cycle until it has returned.
	return vm.call(unsafe.Pointer(unsafe.SliceData(pkt)), uint64(len(pkt)), vm.ctx, 0)
}

// StatusError returns the error of a run that ended with status (nil for
// 0).
func (vm *FilterVM) StatusError(status uint64) error {
	if status == 0 || status > uint64(len(vm.errs)) {
		if status == 0 {
			return nil
		}
		return fmt.Errorf("jit: internal error: filter run status %d", status)
	}
	return vm.errs[status-1]
}

// filterFunc is the type FilterVM calls its program's code as: a Go
// function under Go's internal register ABI (cmd/compile/abi-internal.md),
// so a run is one indirect call, with no assembly trampoline (an ABI0
// call passes its arguments through memory and makes the caller reload g
// and clear X15 afterwards: it cost as much as the whole filter). The
// code keeps what the ABI requires: it restores r14 (g) before returning,
// never touches rbp, rsp (beyond the return address) or the X registers,
// and uses only its caller's argument spill area above the return
// address (four words, hence the unused fourth argument). Everything else
// is the code's to clobber: the ABI has no other callee-saved registers.
// The code never calls Go and has no safe point, so the goroutine is
// neither preempted nor has its stack moved or scanned while it runs.
type filterFunc func(pkt unsafe.Pointer, n uint64, ctx *runContext, _ uint64) (r0, status uint64)

// funcval is the runtime's layout of a func value: a pointer to this,
// whose first word is the code's address.
type funcval struct{ fn uintptr }

// readsUnwrittenStack reports whether a run of insns (which passed
// filterable: jumps only forward, no calls) may read a stack byte it has
// not written before, or let anything else read the stack (r10 copied,
// an atomic on it): then each run must start with a zeroed stack, so
// that nothing of an earlier run shows through. Classic filters' scratch
// memory M[] is written before it is read on every path (cbpf.Check), so
// their runs need no clearing.
func readsUnwrittenStack(insns []isa.Instruction) bool {
	const words = isa.StackSize / 64
	type bits [words]uint64
	n := len(insns)
	if n > 1<<16 {
		return true // the analysis would take n*64 bytes: just clear
	}
	// in[i]: the stack bytes written on every path to slot i (all ones
	// until a path reaches it); reached[i]: some path does.
	in := make([]bits, n)
	reached := make([]bool, n)
	reached[0] = true
	span := func(off int16, size int) (lo, hi int, ok bool) {
		lo = isa.StackSize + int(off)
		hi = lo + size
		return lo, hi, lo >= 0 && hi <= isa.StackSize
	}
	merge := func(t int, s *bits) {
		if t < 0 || t >= n {
			return
		}
		if !reached[t] {
			reached[t], in[t] = true, *s
			return
		}
		for k := range s {
			in[t][k] &= s[k]
		}
	}
	for i := 0; i < n; i++ {
		in0 := insns[i]
		if !reached[i] {
			if in0.IsLDDW() {
				i++
			}
			continue
		}
		s := in[i]
		cl := in0.Class()
		if in0.Src == isa.R10 && cl != isa.ClassLDX || in0.Dst == isa.R10 && cl != isa.ClassST && cl != isa.ClassSTX {
			return true // r10 copied, compared or written: it may escape
		}
		switch {
		case cl == isa.ClassLDX && in0.Src == isa.R10:
			lo, hi, ok := span(in0.Offset, isa.SizeBytes(in0.Size()))
			if !ok {
				return true
			}
			for b := lo; b < hi; b++ {
				if s[b/64]>>(b%64)&1 == 0 {
					return true
				}
			}
		case (cl == isa.ClassST || cl == isa.ClassSTX) && in0.Dst == isa.R10:
			if cl == isa.ClassSTX && in0.Mode() == isa.ModeATOMIC {
				return true // reads the stack too
			}
			lo, hi, ok := span(in0.Offset, isa.SizeBytes(in0.Size()))
			if !ok {
				return true
			}
			for b := lo; b < hi; b++ {
				s[b/64] |= 1 << (b % 64)
			}
		}
		next := i + 1
		if in0.IsLDDW() {
			next = i + 2
		}
		switch {
		case in0.Opcode == isa.OpcodeExit:
			continue
		case (cl == isa.ClassJMP || cl == isa.ClassJMP32) && in0.Op() == isa.OpJA:
			t, _ := isa.Target(insns, i)
			merge(t, &s)
			continue
		case cl == isa.ClassJMP || cl == isa.ClassJMP32:
			t, _ := isa.Target(insns, i)
			merge(t, &s)
		}
		merge(next, &s)
		if in0.IsLDDW() {
			i++
		}
	}
	return false
}

// knownPacketLen returns, per slot, a length the packet is known to have
// when the run gets there: absolute legacy loads that passed their bounds
// check on every path to it prove the packet holds their bytes (a load out
// of bounds ends the run). The filter entry then omits checks those prove.
// insns must pass filterable (jumps only forward).
//
// A check emitted at an absolute load tests the length zeroBelow gives
// there (at least the load's own end), so later loads it covers need none.
func knownPacketLen(insns []isa.Instruction, zero []int64) []int64 {
	n := len(insns)
	known := make([]int64, n)
	reached := make([]bool, n)
	reached[0] = true
	merge := func(t int, v int64) {
		if t < 0 || t >= n {
			return
		}
		if !reached[t] {
			reached[t], known[t] = true, v
			return
		}
		known[t] = min(known[t], v)
	}
	for i := 0; i < n; i++ {
		in := insns[i]
		if in.IsLDDW() {
			if reached[i] {
				merge(i+2, known[i])
			}
			i++
			continue
		}
		if !reached[i] {
			continue
		}
		v := known[i]
		cl := in.Class()
		if cl == isa.ClassLD && in.Mode() == isa.ModeABS && in.Imm >= 0 {
			if end := int64(in.Imm) + int64(isa.SizeBytes(in.Size())); end > v {
				v = max(end, zero[i]) // the check emitted here
			}
		}
		switch {
		case in.Opcode == isa.OpcodeExit:
		case (cl == isa.ClassJMP || cl == isa.ClassJMP32) && in.Op() == isa.OpJA:
			t, _ := isa.Target(insns, i)
			merge(t, v)
		case cl == isa.ClassJMP || cl == isa.ClassJMP32:
			t, _ := isa.Target(insns, i)
			merge(t, v)
			merge(i+1, v)
		default:
			merge(i+1, v)
		}
	}
	return known
}

// zeroBelow returns, per slot, a length L such that a run from there on
// a packet shorter than L returns 0 on every path, with no other effect:
// a legacy load's bounds check there may then test the packet against L
// instead of its own end (failing, it returns 0 too), and so cover the
// checks of loads further on. Classic filters reject with 0, so the
// check of the first load covers the whole path up to the longest load
// before the accept. Only paths of ALU instructions, jumps, legacy loads
// (out of bounds they return 0) and "r0 = 0; exit" count; any other
// instruction (a memory access could fail instead) ends the claim (0).
// The lengths stay below 2^31 (packets are shorter). insns must pass
// filterable (jumps only forward).
func zeroBelow(insns []isa.Instruction) []int64 {
	const most = 1<<31 - 1
	n := len(insns)
	z := make([]int64, n+2)
	at := func(t int) int64 {
		if t < 0 || t >= n {
			return 0
		}
		return z[t]
	}
	for i := n - 1; i >= 0; i-- {
		in := insns[i]
		if i > 0 && insns[i-1].IsLDDW() {
			continue // the second slot of an lddw
		}
		cl := in.Class()
		switch {
		case in.IsLDDW():
			z[i] = at(i + 2)
		case (in.Opcode == isa.ClassALU|isa.OpMOV|isa.SrcK || in.Opcode == isa.ClassALU64|isa.OpMOV|isa.SrcK) &&
			in.Dst == isa.R0 && in.Imm == 0 && in.Offset == 0 && i+1 < n && insns[i+1].Opcode == isa.OpcodeExit:
			z[i] = most
		case cl == isa.ClassALU || cl == isa.ClassALU64:
			z[i] = at(i + 1)
		case cl == isa.ClassLD:
			v := at(i + 1)
			if in.Mode() == isa.ModeABS && in.Imm >= 0 {
				v = max(v, int64(in.Imm)+int64(isa.SizeBytes(in.Size())))
			}
			z[i] = min(v, most)
		case in.Opcode == isa.OpcodeExit:
			z[i] = 0
		case (cl == isa.ClassJMP || cl == isa.ClassJMP32) && in.Op() != isa.OpCALL && in.Op() != isa.OpEXIT:
			t, ok := isa.Target(insns, i)
			if !ok {
				z[i] = 0
				break
			}
			if in.Op() == isa.OpJA {
				z[i] = at(t)
			} else {
				z[i] = min(at(t), at(i+1))
			}
		default:
			z[i] = 0
		}
	}
	return z[:n]
}

// changesG reports whether the filter entry's code may change r14, Go's
// g, so that it must save g and restore it: the batch entry (its state),
// a bound of the legacy loads placed there (allocLdEnds), or a program
// naming r8 (writesR8). Classic filters' translations are none of these
// mostly, and skip a store and a load per run.
func (c *compiler) changesG() bool {
	if c.batch || writesR8(c.insns) {
		return true
	}
	for _, m := range c.ldEnd {
		if !m.isMem && m.r == r14 {
			return true
		}
	}
	return false
}

// writesR8 reports whether a run of insns (which passed filterable: no
// calls) may change r14, where the filter entry keeps eBPF r8 and Go
// keeps g: only then must the code save g and restore it (a store and a
// load per run saved for classic filters' translations, which name r0,
// r7 and r10 only). Any instruction naming r8 counts: a read of r8 before
// a write makes the run start by zeroing it (emitFilterRunStart), and
// fetching atomics write their source register. (Legacy loads write r0
// and clobber r1-r5 only.)
func writesR8(insns []isa.Instruction) bool {
	for i := 0; i < len(insns); i++ {
		in := insns[i]
		if in.Dst == isa.R8 || in.Src == isa.R8 {
			return true
		}
		if in.IsLDDW() {
			i++
		}
	}
	return false
}
