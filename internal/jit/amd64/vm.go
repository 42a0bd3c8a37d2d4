//go:build linux && amd64

package amd64

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// budgetQuantum is the most instructions generated code runs before it
// returns to Go, which checks for cancellation: a few tens of microseconds
// even for slow instructions.
const budgetQuantum = 1 << 15

// Program is a compiled program. It is safe for concurrent use by VMs in
// different goroutines. Close must not run while any VM is running (nor from
// a helper): the code it unmaps would be running.
type Program struct {
	insns    []isa.Instruction
	helpers  engine.Helpers
	siteFns  []engine.Helper // per slot: the helper a static call reaches
	sites    []site          // per slot: siteFns and the absolute resume address
	budget   uint64
	comp     *compiled
	mu       sync.Mutex    // serialises Close
	code     []byte        // the executable mapping; nil after Close
	codeAddr atomic.Uint64 // its address; 0 after Close
	cleanup  runtime.Cleanup
	inline   engine.Inline // Options.Inline
	slots    []int         // the inlined arrays (inline.go)
}

// Load validates and compiles a program.
func Load(insns []isa.Instruction, opts Options) (*Program, error) {
	if err := isa.Validate(insns); err != nil {
		return nil, err
	}
	p := &Program{
		insns:   append([]isa.Instruction(nil), insns...),
		helpers: make(engine.Helpers, len(opts.Helpers)), // a private copy: callx reads it during runs
		siteFns: make([]engine.Helper, len(insns)),
		budget:  opts.Budget,
		inline:  opts.Inline,
		slots:   arraySlots(opts.Inline.Maps),
	}
	for id, fn := range opts.Helpers {
		if fn != nil {
			p.helpers[id] = fn
		}
	}
	if p.budget == 0 {
		p.budget = engine.DefaultBudget
	}
	for i := 0; i < len(insns); i++ {
		in := insns[i]
		if in.Opcode == isa.OpcodeCall && in.Src == isa.CallHelper {
			fn, ok := p.helpers[in.Imm]
			if !ok {
				return nil, &isa.InstructionError{Index: i, Insn: in, Reason: fmt.Sprintf("call to unknown helper %d", in.Imm), Err: engine.ErrUnknownHelper}
			}
			p.siteFns[i] = fn
		}
		if in.IsLDDW() {
			i++
		}
	}
	p.specializeSites() // inline.go
	comp, err := compile(p.insns, &opts)
	if err != nil {
		return nil, err
	}
	code, err := mapCode(comp.code)
	if err != nil {
		return nil, err
	}
	p.comp = comp
	p.code = code
	base := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(code))))
	p.sites = make([]site, len(insns))
	for i, fn := range p.siteFns {
		if fn != nil {
			p.sites[i] = site{fn: fn, resume: base + uint64(comp.resume[i])}
		}
	}
	p.codeAddr.Store(base)
	p.cleanup = runtime.AddCleanup(p, unmapCode, code)
	return p, nil
}

// Close releases the program's executable memory. Runs after Close fail
// with ErrClosed. Close is idempotent.
func (p *Program) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.code != nil {
		p.cleanup.Stop()
		unmapCode(p.code)
		p.codeAddr.Store(0)
		p.code = nil
	}
	return nil
}

// CodeSize returns the size of the generated machine code in bytes.
func (p *Program) CodeSize() int { return len(p.comp.code) }

// site is a static helper call: the helper and the absolute address its
// call returns to. One slice of these keeps the hot exit's lookups to one
// cache line.
type site struct {
	fn     engine.Helper
	resume uint64
}

// extraRegion is memory a helper made accessible with Env.AddRegion.
type extraRegion struct {
	lo, hi   uint64
	b        []byte
	writable bool
}

// VM runs a Program. It is reusable and allocation-free per run, but a VM
// must be used by one goroutine at a time.
type VM struct {
	p        *Program
	ctx      *runContext
	stack    []byte
	budget   uint64
	reserve  uint64 // budget not yet handed to the code
	executed uint64
	done     <-chan struct{}
	goCtx    context.Context

	mem, pkt []byte
	extra    []extraRegion
	// persistent are the regions of AddPersistentRegion: searched
	// after extra, kept across runs.
	persistent []extraRegion
	running    bool
	base       uint64   // the code's address during a run
	stackLo    uint64   // address of the stack
	words      []uint64 // the stack and the shadow call stack
	regionKey  regionKey
	uncounted  uint64 // instructions of the failing block that did not run

	// For Run's fast path: the budget slice of a run's first entry, the
	// fresh entry's address, the buffer the inline regions describe if
	// they are those of Run(mem) (runMemLen -1 if not), and the bytes of
	// stack a run must clear.
	slice      uint64
	fresh      uintptr
	runMem     uint64
	runMemLen  int
	clearBytes int

	cpu int     // the CPU of the inline array lookups (inline.go)
	rng *uint64 // get_prandom_u32's state (inline.go)
	// ktimeStack is the stack of inline ktime_get_ns's vDSO call
	// (ktime.go); the context holds only its address.
	ktimeStack []uint64
}

// describeRegions points the inline checks and legacy loads at the run's
// buffers.
func (vm *VM) describeRegions(mem, pkt, ld []byte) {
	c := vm.ctx
	memAddr, pktAddr, ldAddr := addrOf(mem), addrOf(pkt), addrOf(ld)
	vm.regionKey = regionKey{memAddr, len(mem), pktAddr, len(pkt), ldAddr, len(ld)}
	vm.runMem, vm.runMemLen = 0, -1
	if pktAddr == 0 && ldAddr == memAddr && len(ld) == len(mem) {
		vm.runMem, vm.runMemLen = memAddr, len(mem)
	}
	setRegion(&c.regions[regionMem], memAddr, memAddr+uint64(len(mem)))
	setRegion(&c.regions[regionPacket], pktAddr, pktAddr+uint64(len(pkt)))
	c.ldBase = ldAddr
	n := int64(len(ld))
	c.ldEnd = [3]int64{n - 1, n - 2, n - 4}
}

// regionKey identifies the buffers the inline regions describe.
type regionKey struct {
	mem    uint64
	memLen int
	pkt    uint64
	pktLen int
	ld     uint64
	ldLen  int
}

// NewVM returns a machine for running the program.
func (p *Program) NewVM() *VM {
	vm := &VM{p: p, ctx: new(runContext), budget: p.budget, extra: make([]extraRegion, 0, 4)}
	// One buffer: the eBPF stack, then the shadow call stack.
	vm.words = make([]uint64, 2*stackBytes/8)
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&vm.words[0])), 2*stackBytes)
	vm.stack = buf[:stackBytes:stackBytes]
	c := vm.ctx
	vm.stackLo = addrOf(vm.stack)
	c.fpBase = vm.stackLo + isa.StackSize
	c.fpLimit = vm.stackLo + stackBytes
	setRegion(&c.regions[regionStack], vm.stackLo, vm.stackLo+isa.StackSize)
	setRegion(&c.regions[regionExtraW], 0, 0)
	setRegion(&c.regions[regionExtraR], 0, 0)
	vm.regionKey = regionKey{mem: 1} // no buffers described yet
	vm.runMemLen = -1
	vm.slice = min(vm.budget, budgetQuantum)
	vm.fresh = uintptr(p.codeAddr.Load()) + uintptr(p.comp.freshEntry)
	vm.clearBytes = p.comp.stackFrames * isa.StackSize
	vm.initInline()
	return vm
}

// SetBudget overrides the program's instruction budget for this VM's runs
// (0 restores the program's).
func (vm *VM) SetBudget(n uint64) {
	if n == 0 {
		n = vm.p.budget
	}
	vm.budget = n
	vm.slice = min(n, budgetQuantum)
}

// SetContext makes runs stop with engine.ErrCancelled once ctx is done
// (checked whenever the code returns to Go, at least every budgetQuantum
// instructions). nil removes it.
func (vm *VM) SetContext(ctx context.Context) {
	vm.goCtx = ctx
	vm.done = nil
	if ctx != nil {
		vm.done = ctx.Done()
	}
}

// Executed returns the number of instructions the last run executed. It is
// exact for runs that succeed; a failed run reports at least the
// instructions before the failing block.
func (vm *VM) Executed() uint64 { return vm.executed }

// Run runs the program with r1 = the address of mem[0] (0 if mem is empty)
// and r2 = len(mem). The program may read and write mem; legacy packet loads
// read mem. It returns r0.
func (vm *VM) Run(mem []byte) (uint64, error) {
	// The fast path: the regions already describe mem and no context is
	// set. Most of what run sets up is only needed once the code exits
	// to Go for something else than the end of the run, so finish does
	// it then.
	memPtr := unsafe.Pointer(unsafe.SliceData(mem))
	if vm.p.codeAddr.Load() == 0 || vm.running || vm.done != nil || uint64(uintptr(memPtr)) != vm.runMem || len(mem) != vm.runMemLen {
		return vm.run(mem, nil, mem)
	}
	if n := vm.clearBytes; n != 0 {
		clear(vm.stack[:n])
	}
	c, slice := vm.ctx, vm.slice
	enterFresh(c, vm.fresh, memPtr, uint64(len(mem)), slice)
	if c.exit == exitDone<<24 {
		vm.executed = slice - c.budget
		return c.regs[0], nil
	}
	return vm.finish(mem, nil)
}

// RunWithPacket is Run, with legacy packet loads (LD_ABS, LD_IND) reading
// packet, which is also accessible to the program.
func (vm *VM) RunWithPacket(mem, packet []byte) (uint64, error) {
	// The fast path, as Run's: the regions already describe mem and a
	// packet distinct from it, and no context is set.
	memAddr, pktAddr := addrOf(mem), addrOf(packet)
	if k := &vm.regionKey; vm.p.codeAddr.Load() == 0 || vm.running || vm.done != nil ||
		k.mem != memAddr || k.memLen != len(mem) || k.pkt != pktAddr || k.pktLen != len(packet) || k.ld != pktAddr || k.ldLen != len(packet) {
		return vm.run(mem, packet, packet)
	}
	if n := vm.clearBytes; n != 0 {
		clear(vm.stack[:n])
	}
	c, slice := vm.ctx, vm.slice
	enterFresh(c, vm.fresh, unsafe.Pointer(unsafe.SliceData(mem)), uint64(len(mem)), slice)
	if c.exit == exitDone<<24 {
		vm.executed = slice - c.budget
		runtime.KeepAlive(packet)
		return c.regs[0], nil
	}
	return vm.finish(mem, packet)
}

// RunRepeat runs the program n times (at least once) as RunWithPacket(mem,
// packet) would, on the same buffers, and returns the last run's r0; it
// stops at the first error. Executed counts the last run. Pass packet =
// mem to repeat Run. What RunWithPacket checks and sets up about the
// buffers is done once, so a repetition costs about a bare run.
func (vm *VM) RunRepeat(mem, packet []byte, n uint32) (uint64, error) {
	r0, err := vm.run(mem, packet, packet)
	if n <= 1 || err != nil {
		return r0, err
	}
	// The first run checked the VM (open, not running, packet size) and
	// described the buffers: both hold for the next runs, which cannot
	// change them (Close and SetBudget must not race with a run).
	pkt := packet
	if len(pkt) > 0 && len(mem) > 0 && &pkt[0] == &mem[0] {
		pkt = nil
	}
	memPtr := unsafe.Pointer(unsafe.SliceData(mem))
	c, slice := vm.ctx, vm.slice
	for i := uint32(1); i < n; i++ {
		if cb := vm.clearBytes; cb != 0 {
			clear(vm.stack[:cb])
		}
		if vm.done != nil && isDone(vm.done) {
			vm.executed = 0
			return 0, vm.cancelled(0)
		}
		enterFresh(c, vm.fresh, memPtr, uint64(len(mem)), slice)
		if c.exit == exitDone<<24 {
			vm.executed = slice - c.budget
			r0 = c.regs[0]
			continue
		}
		if r0, err = vm.finish(mem, pkt); err != nil {
			return r0, err
		}
	}
	runtime.KeepAlive(mem)
	runtime.KeepAlive(packet)
	return r0, nil
}

var errVMRunning = errors.New("jit: VM is already running; a VM is not reentrant, use one per goroutine")

func addrOf(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// setRegion describes [lo, hi) to the inline checks (nothing if empty).
func setRegion(r *region, lo, hi uint64) {
	if hi <= lo {
		*r = region{loPlus: [4]uint64{math.MaxUint64, math.MaxUint64, math.MaxUint64, math.MaxUint64}}
		return
	}
	r.loPlus = [4]uint64{lo + 1, lo + 2, lo + 4, lo + 8}
	r.hi = hi
}

func setSliceRegion(r *region, b []byte) {
	lo := addrOf(b)
	setRegion(r, lo, lo+uint64(len(b)))
}

func (vm *VM) run(mem, pkt, ld []byte) (uint64, error) {
	if vm.p.codeAddr.Load() == 0 {
		return 0, ErrClosed
	}
	if vm.running {
		return 0, errVMRunning
	}
	if len(ld) > math.MaxInt32 {
		return 0, fmt.Errorf("jit: packet of %d bytes is too large", len(ld))
	}
	// Each run starts with a zeroed stack, as in the interpreter; a
	// program that cannot write its stack never dirties it.
	if n := vm.clearBytes; n != 0 {
		clear(vm.stack[:n])
	}
	if len(pkt) > 0 && len(mem) > 0 && &pkt[0] == &mem[0] {
		pkt = nil // Run: the memory is the packet, one region
	}
	// The regions only change when the caller passes other buffers.
	memAddr := addrOf(mem)
	if k := &vm.regionKey; k.mem != memAddr || k.memLen != len(mem) || k.pkt != addrOf(pkt) || k.pktLen != len(pkt) || k.ld != addrOf(ld) || k.ldLen != len(ld) {
		vm.describeRegions(mem, pkt, ld)
	}
	if vm.done != nil && isDone(vm.done) {
		vm.executed = 0
		return 0, vm.cancelled(0)
	}
	c, slice := vm.ctx, vm.slice
	enterFresh(c, vm.fresh, unsafe.Pointer(unsafe.SliceData(mem)), uint64(len(mem)), slice)
	if c.exit == exitDone<<24 {
		vm.executed = slice - c.budget
		runtime.KeepAlive(pkt)
		return c.regs[0], nil
	}
	return vm.finish(mem, pkt)
}

// finish continues a run whose code exited to Go before the end: it makes
// the run's buffers known to Env.Memory and handles exits until the
// program returns or fails.
func (vm *VM) finish(mem, pkt []byte) (uint64, error) {
	c := vm.ctx
	vm.running = true
	vm.base = vm.p.codeAddr.Load()
	vm.reserve = vm.budget - vm.slice
	vm.uncounted = 0
	vm.mem, vm.pkt = mem, pkt
	r0, err := vm.loop(false, true)
	vm.executed = vm.budget - (vm.reserve + c.budget) - vm.uncounted
	vm.mem, vm.pkt = nil, nil
	if len(vm.extra) > 0 {
		clear(vm.extra) // drop references to helpers' memory
		vm.extra = vm.extra[:0]
		setRegion(&c.regions[regionExtraW], 0, 0)
		setRegion(&c.regions[regionExtraR], 0, 0)
	}
	vm.running = false
	runtime.KeepAlive(mem)
	runtime.KeepAlive(pkt)
	return r0, err
}

func isDone(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// fail builds the error for a failure at slot idx and makes Executed
// exact: the instruction counts as executed, the rest of its block not.
func (vm *VM) fail(idx int, sentinel error, reason string) error {
	comp := vm.p.comp
	l := comp.blockOf[idx]
	// Added, not set: a failure inside Env.Call is reported again by the
	// helper's call instruction, which ends its block (adds 0).
	vm.uncounted += uint64(comp.blockLen[l] - comp.pos[idx] - 1)
	return &isa.InstructionError{Index: idx, Insn: vm.p.insns[idx], Reason: reason, Err: sentinel}
}

func (vm *VM) cancelled(idx int) error {
	reason := "run cancelled"
	if vm.goCtx != nil && vm.goCtx.Err() != nil {
		reason += ": " + vm.goCtx.Err().Error()
	}
	return &isa.InstructionError{Index: idx, Insn: vm.p.insns[idx], Reason: reason, Err: engine.ErrCancelled}
}

// errDoneInCallback unwinds Env.Call when a legacy packet load ends the
// whole program inside a callback.
var errDoneInCallback = errors.New("program ended inside a callback")

// loop enters the code until the program (or, nested, the function run by
// Env.Call) returns; exited says the code has just exited (to be handled
// before entering again).
func (vm *VM) loop(nested, exited bool) (uint64, error) {
	p, c := vm.p, vm.ctx
	entry := uintptr(vm.base) + uintptr(p.comp.entry)
	for {
		if !exited {
			enter(c, entry)
		}
		exited = false
		// The hot exit: static helper calls that succeed, without a
		// context to check; kept in a loop of their own with as little
		// state as possible live across enter.
		if c.exit>>24 == exitHelper && vm.done == nil {
			if err := vm.helperLoop(); err != nil {
				return 0, err
			}
		}
		code, idx := int(c.exit>>24), int(c.exit&0xffffff)
		switch code {
		case exitDone:
			if nested {
				return c.regs[0], errDoneInCallback
			}
			return c.regs[0], nil
		case exitCallbackDone:
			if !nested {
				return 0, fmt.Errorf("jit: internal error: callback return outside a callback")
			}
			return c.regs[0], nil
		case exitHelper:
			if err := vm.callHelper(idx, p.siteFns[idx], p.insns[idx].Imm); err != nil {
				return 0, err
			}
		case exitCallx:
			in := p.insns[idx]
			id := c.regs[in.Dst]
			var fn engine.Helper
			if uint64(int64(int32(id))) == id {
				fn = p.helpers[int32(id)]
			}
			if fn == nil {
				return 0, vm.fail(idx, engine.ErrUnknownHelper, fmt.Sprintf("callx: r%d = %d is not a known helper id", in.Dst, int64(id)))
			}
			if err := vm.callHelper(idx, fn, int32(id)); err != nil {
				return 0, err
			}
		case exitBudget:
			if err := vm.refill(idx); err != nil {
				return 0, err
			}
		case exitRegion:
			if err := vm.checkExtra(idx); err != nil {
				return 0, err
			}
		case exitCallDepth:
			return 0, vm.fail(idx, engine.ErrCallDepth, fmt.Sprintf("the call would make frame %d; the limit is %d frames", isa.MaxCallDepth+1, isa.MaxCallDepth))
		default:
			return 0, fmt.Errorf("jit: internal error: unknown exit code %d at instruction %d", code, idx)
		}
	}
}

// helperLoop runs the static helper calls the code exits for, re-entering
// it after each (right at the call's resume point, which reloads the
// registers), until an exit of another kind (left in the context for loop)
// or a failing helper.
func (vm *VM) helperLoop() error {
	c, sites := vm.ctx, vm.p.sites
	for {
		idx := int(c.exit & 0xffffff)
		if idx >= len(sites) || sites[idx].fn == nil {
			return fmt.Errorf("jit: internal error: helper exit at instruction %d, which calls no helper", idx)
		}
		s := &sites[idx]
		r0, err := s.fn(vm, c.regs[1], c.regs[2], c.regs[3], c.regs[4], c.regs[5])
		if err != nil {
			return vm.helperFailed(idx, err)
		}
		c.regs[0] = r0
		enter(c, uintptr(s.resume))
		if c.exit>>24 != exitHelper {
			return nil
		}
	}
}

func (vm *VM) helperFailed(idx int, err error) error {
	return vm.fail(idx, fmt.Errorf("%w: %w", engine.ErrHelperFailed, err), fmt.Sprintf("helper %d failed: %v", vm.p.insns[idx].Imm, err))
}

func (vm *VM) callHelper(idx int, fn engine.Helper, id int32) error {
	c := vm.ctx
	if vm.done != nil && isDone(vm.done) {
		return vm.fail(idx, engine.ErrCancelled, "run cancelled before a helper call: "+vm.goCtx.Err().Error())
	}
	r0, err := fn(vm, c.regs[1], c.regs[2], c.regs[3], c.regs[4], c.regs[5])
	if err != nil {
		return vm.fail(idx, fmt.Errorf("%w: %w", engine.ErrHelperFailed, err), fmt.Sprintf("helper %d failed: %v", id, err))
	}
	c.regs[0] = r0
	c.resume = vm.base + uint64(vm.p.comp.resume[idx])
	return nil
}

// refill hands the code another budget slice before the block at idx, or
// fails the run when the budget cannot cover the block.
func (vm *VM) refill(idx int) error {
	c, p := vm.ctx, vm.p
	if vm.done != nil && isDone(vm.done) {
		return vm.cancelled(idx)
	}
	if err := vm.charge(idx, uint64(p.comp.blockLen[idx])); err != nil {
		return err
	}
	c.resume = vm.base + uint64(p.comp.insnOff[idx])
	return nil
}

// charge takes need instructions, those of the block (or rest of a block)
// starting at slot idx, from the budget, leaving the code a slice that
// covers them. If the budget is too small, the run fails where the
// interpreter would: after running what is left of the budget.
func (vm *VM) charge(idx int, need uint64) error {
	c, p := vm.ctx, vm.p
	total := vm.reserve + c.budget
	if total < need {
		at := idx
		for k := uint64(0); k < total; k++ {
			if p.insns[at].IsLDDW() {
				at++
			}
			at++
		}
		c.budget, vm.reserve = 0, 0
		return &isa.InstructionError{Index: at, Insn: p.insns[at], Reason: fmt.Sprintf("the run reached its budget of %d instructions", vm.budget), Err: engine.ErrBudgetExhausted}
	}
	// The block's own check subtracts need again when the code resumes.
	slice := max(min(total, budgetQuantum), need)
	c.budget = slice
	vm.reserve = total - slice
	return nil
}

// checkExtra handles an access the inline checks did not place: it resumes
// the access if a helper-added region holds it.
func (vm *VM) checkExtra(idx int) error {
	c, p := vm.ctx, vm.p
	in := p.insns[idx]
	size := uint64(isa.SizeBytes(in.Size()))
	write := in.Class() != isa.ClassLDX
	addr := c.scratch - size
	atomic := in.Class() == isa.ClassSTX && in.Mode() == isa.ModeATOMIC
	if b, _ := vm.Memory(addr, size, write); b != nil {
		if atomic && addr&(size-1) != 0 {
			return vm.fail(idx, engine.ErrOutOfBounds, fmt.Sprintf("atomic access of %d bytes at %#x is not aligned to %d bytes", size, addr, size))
		}
		vm.cacheExtra(addr, size, write)
		c.resume = vm.base + uint64(p.comp.resume[idx])
		return nil
	}
	kind := "read"
	if write {
		kind = "write"
	}
	reason := fmt.Sprintf("%s of %d bytes at %#x is outside the stack and every memory region of the run", kind, size, addr)
	if addr < 4096 {
		reason = fmt.Sprintf("%s of %d bytes at %#x: null or near-null pointer", kind, size, addr)
	}
	return vm.fail(idx, engine.ErrOutOfBounds, reason)
}

// cacheExtra makes the helper-added region holding an access the code
// just exited for checkable inline (until another region takes its
// place): a writable one for every access, a read-only one for loads.
func (vm *VM) cacheExtra(addr, n uint64, write bool) {
	if !vm.cacheIn(vm.extra, addr, n, write) {
		vm.cacheIn(vm.persistent, addr, n, write)
	}
}

func (vm *VM) cacheIn(regions []extraRegion, addr, n uint64, write bool) bool {
	for _, r := range regions {
		if addr >= r.lo && addr < r.hi && n <= r.hi-addr && (r.writable || !write) {
			slot := regionExtraR
			if r.writable {
				slot = regionExtraW
			}
			setRegion(&vm.ctx.regions[slot], r.lo, r.hi)
			return true
		}
	}
	return false
}

// Memory implements engine.Env.
func (vm *VM) Memory(addr, n uint64, write bool) ([]byte, error) {
	if !vm.running {
		return nil, fmt.Errorf("%w: the VM is not running", engine.ErrOutOfBounds)
	}
	if n == 0 {
		return []byte{}, nil
	}
	try := func(b []byte, writable bool) []byte {
		lo := addrOf(b)
		if len(b) == 0 || addr < lo || n > uint64(len(b)) || addr-lo > uint64(len(b))-n || (write && !writable) {
			return nil
		}
		return b[addr-lo : addr-lo+n : addr-lo+n]
	}
	// The live frames only: those below the current frame pointer.
	if b := try(vm.stack[:vm.ctx.fp-addrOf(vm.stack)], true); b != nil {
		return b, nil
	}
	if b := try(vm.mem, true); b != nil {
		return b, nil
	}
	if b := try(vm.pkt, true); b != nil {
		return b, nil
	}
	for _, r := range vm.extra {
		if b := try(r.b, r.writable); b != nil {
			return b, nil
		}
	}
	for _, r := range vm.persistent {
		if b := try(r.b, r.writable); b != nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: %d bytes at %#x", engine.ErrOutOfBounds, n, addr)
}

// AddRegion implements engine.Env.
func (vm *VM) AddRegion(b []byte, writable bool) {
	if !vm.running || len(b) == 0 {
		return
	}
	lo := addrOf(b)
	vm.extra = append(vm.extra, extraRegion{lo: lo, hi: lo + uint64(len(b)), b: b, writable: writable})
	// The newest region is the likeliest to be used next (a map lookup's
	// value): check it inline from now on.
	slot := regionExtraR
	if writable {
		slot = regionExtraW
	}
	setRegion(&vm.ctx.regions[slot], lo, lo+uint64(len(b)))
}

// AddPersistentRegion makes b accessible to the program in every run of
// this VM until ResetPersistentRegions (global data, map value blocks):
// unlike Env.AddRegion, no per-run call is needed. The caller keeps b
// alive and unmoved until then. It must not be called during a run.
func (vm *VM) AddPersistentRegion(b []byte, writable bool) error {
	if vm.running {
		return errVMRunning
	}
	if len(b) > 0 {
		lo := addrOf(b)
		vm.persistent = append(vm.persistent, extraRegion{lo: lo, hi: lo + uint64(len(b)), b: b, writable: writable})
	}
	return nil
}

// ResetPersistentRegions removes the regions AddPersistentRegion added
// (and drops the VM's references to them). It must not be called during
// a run.
func (vm *VM) ResetPersistentRegions() error {
	if vm.running {
		return errVMRunning
	}
	clear(vm.persistent)
	vm.persistent = vm.persistent[:0]
	// The inline checks may hold one.
	setRegion(&vm.ctx.regions[regionExtraW], 0, 0)
	setRegion(&vm.ctx.regions[regionExtraR], 0, 0)
	vm.addSlabRegions() // inline lookups hand them out
	return nil
}

// Call implements engine.Env: it runs the function at pc on a new frame,
// against the run's budget and call depth, and returns its r0.
func (vm *VM) Call(pc int, args ...uint64) (uint64, error) {
	p, c := vm.p, vm.ctx
	if !vm.running {
		return 0, errors.New("jit: Call outside a run")
	}
	if len(args) > 5 {
		return 0, fmt.Errorf("jit: Call with %d arguments; a bpf function takes at most 5", len(args))
	}
	if pc < 0 || pc >= len(p.insns) || p.comp.insnOff[pc] < 0 {
		return 0, fmt.Errorf("jit: Call target %d is not an instruction of the program (0..%d)", pc, len(p.insns)-1)
	}
	if c.fp >= c.fpLimit {
		return 0, fmt.Errorf("%w: a callback at %d would be frame %d, the limit is %d", engine.ErrCallDepth, pc, isa.MaxCallDepth+1, isa.MaxCallDepth)
	}
	saved := *c // registers, frame pointer, resume point of the helper's caller
	// Entering in the middle of a block skips its budget check: charge
	// the rest of the block here.
	if !p.comp.leader[pc] {
		l := p.comp.blockOf[pc]
		need := uint64(p.comp.blockLen[l] - p.comp.pos[pc])
		if err := vm.charge(pc, need); err != nil {
			return 0, err
		}
		c.budget -= need
	}
	// Push a shadow frame whose return point exits back to Go.
	// (Go restores every register itself when the callback returns.)
	k := (c.fp - vm.stackLo + shadowOffset) / 8
	vm.words[k] = vm.base + uint64(p.comp.callbackRet)
	c.fp += isa.StackSize
	c.regions[regionStack].hi = c.fp
	// A callback starts as the interpreter's: the arguments, the other
	// registers zero (not the caller's, whatever the helper exit saved).
	c.regs = [10]uint64{}
	copy(c.regs[1:6], args)
	c.resume = vm.base + uint64(p.comp.insnOff[pc])
	r0, err := vm.loop(true, false)
	if err != nil {
		return 0, err
	}
	budget := c.budget
	*c = saved
	c.budget = budget
	return r0, nil
}
