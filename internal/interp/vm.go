package interp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"unsafe"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// chunk is how much of the budget is handed to the run loop at a time; the
// context is checked whenever the loop needs more.
const chunk = 4096

// VM runs one Program. It owns the stack frames and per-run state and is
// reused from run to run without allocating. A VM must not be used by two
// goroutines at once: give each goroutine its own (Program.NewVM).
//
// VM implements engine.Env for the helpers it calls.
type VM struct {
	prog *Program

	// The stack: MaxCallDepth frames of StackSize bytes in one heap buffer
	// (heap memory never moves, so its address can be handed to programs).
	// Frame k occupies [k*StackSize, (k+1)*StackSize) and its r10 is the
	// end of that range; only the frames of active calls are accessible.
	stack    []byte
	stackPtr unsafe.Pointer
	stackLo  uint64 // address of stack[0]
	stackLen uint64 // bytes of live frames: depth * StackSize
	depth    int    // live frames
	deepest  int    // the most frames live at once during this run
	// dirty is the offset in stack of the lowest byte a run may have
	// written since the stack was last cleared (len(stack) if none):
	// every path that can write the stack lowers it, so the next run
	// clears only stack[dirty : deepest*StackSize].
	dirty  uint64
	frames [isa.MaxCallDepth]frame

	// Other memory the run may access: the input memory (memR), the
	// packet when it is not mem (pktR), persistent regions (kept across
	// runs) and regions added by helpers.
	// cacheR and cacheW are copies of the regions the last read and write
	// outside the stack used (accesses tend to repeat), checked by the hot
	// loop before it asks for a search; a zero-size region never matches.
	memR       region
	pktR       region
	persistent []region
	regions    []region
	cacheR     region
	cacheW     region

	// The packet legacy LD_ABS/LD_IND loads read.
	pktPtr unsafe.Pointer
	pktLen uint64

	budget    uint64 // per-VM budget; 0 means the program's
	runBudget uint64 // the budget of the current run
	remaining uint64 // budget not yet handed out in chunks
	left      uint64 // what is left of the current chunk
	executed  uint64

	ctx  context.Context
	done <-chan struct{}

	running bool
	// calledHelper is set whenever a run calls a helper function (Go
	// code that may keep state about the run, such as the regions it
	// exposed); RunRepeatInline stops after such a run.
	calledHelper bool
	fast         bool // RunWithPacket's fast path for pure programs applies (setFast)
	fastBare     bool // fast, and the program is bare (Program.bare): RunBare applies

	// regs are the registers of the entry function of a run (the fast
	// path's and execute's): kept here so that a run of a program that
	// cannot read a register it did not set (Program.entryClean) needs
	// not clear them first.
	regs [16]uint64

	// stepAll makes exec run every instruction through stepOne, the way it
	// runs the last, partly paid segment of a run; tests compare the two
	// (setStepAll).
	stepAll bool
	scratch [3]op // stepOne's copy of one instruction

	// Inline maps (mapops.go): the VM's view of them, its CPU and the
	// get_prandom_u32 state.
	maps  []vmMap
	mapsP unsafe.Pointer
	// chainVal[g-1] is the value group g of Program.chains finds when it
	// and the rest of its chain all hit, else nil (mapops.go: setChains).
	chainVal []unsafe.Pointer
	cpu      int
	rng      *uint64
}

// frame is what a bpf-to-bpf call saves in its caller.
type frame struct {
	ret   int       // slot to resume at in the caller
	saved [4]uint64 // the caller's r6-r9
}

// region is a block of host memory a run may access.
type region struct {
	lo       uint64 // address of the first byte
	size     uint64
	ptr      unsafe.Pointer
	writable bool
}

// NewVM returns a machine to run p. It allocates the stack once.
func (p *Program) NewVM() *VM {
	vm := &VM{
		prog:    p,
		stack:   make([]byte, isa.MaxCallDepth*isa.StackSize),
		regions: make([]region, 0, 8),
	}
	vm.stackPtr = unsafe.Pointer(&vm.stack[0])
	vm.stackLo = uint64(uintptr(vm.stackPtr))
	vm.dirty = uint64(len(vm.stack))
	vm.initInline()
	vm.setFast()
	return vm
}

// SetBudget sets the number of instructions one run of this VM may execute,
// overriding the program's budget; 0 restores the program's budget.
func (vm *VM) SetBudget(n uint64) {
	vm.budget = n
	vm.setFast()
}

// setFast decides whether RunWithPacket may take the fast path of pure
// programs: no context to check, a budget that covers every instruction
// (a pure program runs each at most once), and no stepping (stepAll).
func (vm *VM) setFast() {
	n, b := uint64(len(vm.prog.code)), vm.budget
	if b == 0 {
		b = vm.prog.budget
	}
	vm.fast = vm.prog.pure && vm.done == nil && n <= b && !vm.stepAll
	vm.fastBare = vm.fast && vm.prog.bare
}

// setStepAll sets stepAll (tests).
func (vm *VM) setStepAll(on bool) {
	vm.stepAll = on
	vm.setFast()
}

// SetContext makes runs stop with an error wrapping engine.ErrCancelled
// once ctx is done. It is checked when a run starts and then every 4096
// instructions or so (more only inside straight-line code longer than
// that, which runs without a check to its end). A nil ctx removes it.
func (vm *VM) SetContext(ctx context.Context) {
	vm.ctx = ctx
	vm.done = nil
	if ctx != nil {
		vm.done = ctx.Done()
	}
	vm.setFast()
}

// Executed returns the number of instructions the last run executed. An
// instruction that failed counts, except the one the budget did not allow.
func (vm *VM) Executed() uint64 { return vm.executed }

// Run runs the program with r1 = the address of mem[0] (0 if mem is empty)
// and r2 = len(mem). The program may read and write mem; legacy packet
// loads (LD_ABS, LD_IND) read mem too. It returns r0. Run-time failures are
// *isa.InstructionError wrapping one of the engine sentinels.
//
// The VM keeps a reference to mem (and RunWithPacket's packet) until its
// next run, which is cheaper than dropping it at the end of every run;
// the program cannot reach it from another run.
func (vm *VM) Run(mem []byte) (uint64, error) {
	return vm.RunWithPacket(mem, mem)
}

// RunRepeat runs the program n times (at least once) as RunWithPacket(mem,
// packet) would and returns the last run's r0; it stops at the first
// error. Executed counts the last run. Pass packet = mem to repeat Run.
//
// The regions are set up once for all the runs.
func (vm *VM) RunRepeat(mem, packet []byte, n uint32) (uint64, error) {
	if vm.running {
		return 0, errVMRunning
	}
	vm.running = true
	r1 := vm.setRegions(mem, packet)
	r0, err := vm.execute(r1, uint64(len(mem)))
	for i := uint32(1); i < n && err == nil; i++ {
		r0, err = vm.execute(r1, uint64(len(mem)))
	}
	vm.running = false
	runtime.KeepAlive(mem)
	runtime.KeepAlive(packet)
	return r0, err
}

// RunRepeatInline runs the program up to n times (at least once) as
// RunRepeat does, but stops after the first run that calls a helper
// function (helpers are Go code that may keep per-run state: the caller
// resets it before running on) or fails. It returns that run's r0 and
// error and the number of runs made. For a program whose helper calls are
// all inline map operations (HelpersInline) a helper is called only when
// one of them falls back to it, so most repetitions run back to back
// without the caller's per-run helper set-up.
func (vm *VM) RunRepeatInline(mem, packet []byte, n uint32) (r0 uint64, runs uint32, err error) {
	if vm.running {
		return 0, 0, errVMRunning
	}
	vm.running = true
	r1, size := vm.setRegions(mem, packet), uint64(len(mem))
	for {
		vm.calledHelper = false
		r0, err = vm.execute(r1, size)
		runs++
		if err != nil || vm.calledHelper || runs >= n {
			break
		}
	}
	vm.running = false
	runtime.KeepAlive(mem)
	runtime.KeepAlive(packet)
	return r0, runs, err
}

// HelpersInline reports whether every helper call of the program is an
// inline map operation (lookup, update or delete of an inline map: see
// mapops.go), so that the only helpers a run may call are those map
// helpers, when an operation falls back to them. Such runs cannot tail
// call, redirect or otherwise leave helper state behind but for what the
// map helpers expose (RunRepeatInline).
func (vm *VM) HelpersInline() bool { return vm.prog.helpersInline }

// RunWithPacket is Run, but legacy packet loads (LD_ABS, LD_IND) read
// packet. The program may also read and write packet through pointers.
func (vm *VM) RunWithPacket(mem, packet []byte) (uint64, error) {
	// A pure program (Program.pure) runs straight in inner, without the
	// set-up a run needs for memory, calls, the stack and a budget that
	// may run out (vm.fast says the budget covers it and no context is
	// set): it touches nothing but its registers and the packet (pktPtr,
	// pktLen). Anything else, and a pure run that inner stops before its
	// exit (a legacy load outside the packet, which the driver handles),
	// goes the general way: a pure run leaves no trace, so running it again
	// from the start is exact.
	//
	// One flag decides (vm.fast: setFast folds in everything fixed between
	// runs). A run in progress (vm.running) needs no check here: a pure
	// program calls no helper, so nothing runs during its run that could
	// call RunWithPacket again. Neither mem nor packet is needed after
	// inner (the general way is a tail call; the rerun takes r1 and the
	// size), so they are not spilled.
	if !vm.fast {
		return vm.runGeneral(mem, packet)
	}
	p := vm.prog
	n := uint64(len(p.code))
	regs := &vm.regs
	if !p.entryClean {
		*regs = [16]uint64{} // the program may read a register it did not set
	}
	var r1 uint64
	if len(mem) > 0 {
		r1 = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(mem))))
	}
	regs[1], regs[2], regs[10] = r1, uint64(len(mem)), vm.stackLo+isa.StackSize
	// The packet pointer is stored only when it changes: callers
	// tend to pass the same buffer, and a store of a pointer costs a
	// write barrier check.
	var pp unsafe.Pointer
	if len(packet) > 0 {
		pp = unsafe.Pointer(unsafe.SliceData(packet))
	}
	if vm.pktPtr != pp || vm.pktLen != uint64(len(packet)) {
		vm.pktPtr, vm.pktLen = pp, uint64(len(packet))
	}
	// No local calls: the depth stays what it is between runs (0),
	// and the exit of the function at that depth ends the run.
	if _, left, why := vm.inner(regs, p.codeP, p.segsP, 0, n, vm.depth); why == stopExit {
		vm.executed = n - left
		return regs[0], nil
	}
	// Again from the start, in the driver. A pure program accesses
	// no memory but the packet (set above): the regions need no
	// set-up.
	vm.running = true
	r0, err := vm.execute(r1, uint64(len(mem)))
	vm.running = false
	return r0, err
}

// RunBare runs a bare program, one that computes on its registers only
// (no memory, no call, no legacy packet load, no backward jump) and reads
// none before writing it but r10, without input: its result is what
// RunWithPacket(mem, packet) returns for any mem and packet, which it
// cannot see. ok is false, and nothing was run, when the program is not
// bare, a context is set, the budget is below the program's length, or
// inner stopped before the exit; RunWithPacket is then the way (a bare run
// leaves no trace, so running it again is exact). Executed counts the run
// as RunWithPacket's would.
//
// It is RunWithPacket's fast path without what a bare program cannot
// need: no register cleared (it reads none it did not set), r1, r2 and
// the packet not set (it reads neither), no error to build.
func (vm *VM) RunBare() (r0 uint64, ok bool) {
	if !vm.fastBare {
		return 0, false
	}
	p := vm.prog
	n := uint64(len(p.code))
	regs := &vm.regs
	regs[10] = vm.stackLo + isa.StackSize // the program may read r10's value
	if _, left, why := vm.inner(regs, p.codeP, p.segsP, 0, n, vm.depth); why == stopExit {
		vm.executed = n - left
		return regs[0], true
	}
	return 0, false
}

// runGeneral is RunWithPacket's general way: regions, stack, budget,
// context, the driver when inner needs it.
func (vm *VM) runGeneral(mem, packet []byte) (uint64, error) {
	if vm.running {
		return 0, errVMRunning
	}
	vm.running = true
	r0, err := vm.execute(vm.setRegions(mem, packet), uint64(len(mem)))
	vm.running = false
	runtime.KeepAlive(mem)
	runtime.KeepAlive(packet)
	return r0, err
}

var errVMRunning = errors.New("interp: VM is already running; a VM is not reentrant, use one per goroutine")

// setRegions makes mem and packet the run's regions and returns r1.
func (vm *VM) setRegions(mem, packet []byte) uint64 {
	// The regions of the run replace those of the previous run, which
	// stay referenced until then (clearing them when a run ends cost a
	// sixth of a trivial run). Stores are skipped where the value is
	// already right: they are most of a short run's fixed cost. Equal lo
	// and size mean equal regions here: a cache holding another region
	// with mem's bounds can only be mem (cacheW holds writable regions
	// only; cacheR's writable flag is not used).
	var r1 uint64
	if len(mem) > 0 {
		p := unsafe.Pointer(unsafe.SliceData(mem))
		r1 = uint64(uintptr(p))
		m := region{lo: r1, size: uint64(len(mem)), ptr: p, writable: true}
		// Most programs read and write mem: start with it cached. Callers
		// often pass the same mem run after run.
		if vm.memR.lo != m.lo || vm.memR.size != m.size {
			vm.memR = m
		}
		if vm.cacheR.lo != m.lo || vm.cacheR.size != m.size {
			vm.cacheR = m
		}
		if vm.cacheW.lo != m.lo || vm.cacheW.size != m.size {
			vm.cacheW = m
		}
	} else if vm.memR.size|vm.cacheR.size|vm.cacheW.size != 0 {
		vm.memR, vm.cacheR, vm.cacheW = region{}, region{}, region{}
	}
	if len(packet) > 0 {
		p := unsafe.Pointer(unsafe.SliceData(packet))
		vm.pktPtr, vm.pktLen = p, uint64(len(packet))
		if !sameSlice(mem, packet) {
			if vm.pktR.ptr != p || vm.pktR.size != vm.pktLen {
				vm.pktR = region{lo: uint64(uintptr(p)), size: vm.pktLen, ptr: p, writable: true}
			}
		} else if vm.pktR.size != 0 {
			vm.pktR = region{}
		}
	} else if vm.pktLen != 0 { // pktR is set only with a packet
		vm.pktPtr, vm.pktLen, vm.pktR = nil, 0, region{}
	}
	return r1
}

// execute runs the program once, with the regions set, from a zeroed
// stack, r1 and r2 = size.
func (vm *VM) execute(r1, size uint64) (uint64, error) {
	// Each run starts with a zeroed stack, so results never depend on a
	// previous run. Only what earlier runs may have written is cleared:
	// from the lowest byte written to the end of the deepest frame used
	// (nothing for a program that never writes its stack).
	if end := uint64(vm.deepest) * isa.StackSize; vm.dirty < end {
		clear(vm.stack[vm.dirty:end])
	}
	vm.dirty = uint64(len(vm.stack))
	vm.runBudget = vm.budget
	if vm.runBudget == 0 {
		vm.runBudget = vm.prog.budget
	}
	// The first chunk of the budget is handed out here (the context is
	// checked below), so a short run never needs topUp.
	left := min(vm.runBudget, chunk)
	vm.remaining = vm.runBudget - left

	var r0 uint64
	var err error
	if vm.done != nil && vm.cancelled() {
		err = vm.cancelledAtStart()
		vm.remaining, left = vm.runBudget, 0 // nothing executed
	} else {
		// The entry function's frame, as exec sets up a call's: most runs
		// end in inner, without the driver (and its deferred recover).
		vm.depth, vm.deepest, vm.stackLen = 1, 1, isa.StackSize
		// The VM's register file, as the fast path's (nothing else uses
		// it during a run: a nested Env.Call has its own), cleared only
		// if the program may read a register it did not set.
		regs := &vm.regs
		if !vm.prog.entryClean {
			*regs = [16]uint64{}
		}
		regs[1], regs[2], regs[10] = r1, size, vm.stackLo+isa.StackSize
		why := stopNone
		if !vm.stepAll {
			var pc int
			pc, left, why = vm.inner(regs, vm.prog.codeP, vm.prog.segsP, 0, left, 1)
			if why != stopExit {
				vm.left = left
				r0, err = vm.drive(regs, pc, why)
				left = vm.left
			}
		} else {
			vm.left = left
			r0, err = vm.drive(regs, 0, why)
			left = vm.left
		}
		if err == nil {
			r0 = regs[0]
		}
	}

	// End of the run: count, and drop the regions helpers added (the
	// next run replaces mem and the packet).
	vm.executed = vm.runBudget - vm.remaining - left
	if len(vm.regions) > 0 {
		clear(vm.regions)
		vm.regions = vm.regions[:0]
		vm.cacheR, vm.cacheW = region{}, region{} // they may hold one
	}
	vm.depth, vm.stackLen = 0, 0
	return r0, err
}

// cancelledAtStart is the error of a run cancelled before it started.
func (vm *VM) cancelledAtStart() error {
	return &isa.InstructionError{Index: 0, Insn: vm.prog.insns[0], Reason: "run cancelled before it started: " + vm.ctx.Err().Error(), Err: engine.ErrCancelled}
}

// drive runs the entry function on from slot pc in the driver (loop),
// after inner stopped there for why, and turns a panic into an error.
func (vm *VM) drive(regs *[16]uint64, pc int, why stop) (r0 uint64, err error) {
	defer func() {
		if r := recover(); r != nil {
			// Never expected: the loop checks everything it touches. Kept
			// as a last line of defence so a bug (or a panicking helper)
			// cannot crash the host. What the stack holds is unknown:
			// the next run clears all of it.
			r0, err = 0, fmt.Errorf("interp: internal error (please report): %v", r)
			vm.dirty, vm.deepest = 0, isa.MaxCallDepth
		}
	}()
	return vm.loop(regs, pc, why, 1)
}

func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

func (vm *VM) addRegion(b []byte, writable bool) {
	p := unsafe.Pointer(&b[0])
	vm.regions = append(vm.regions, region{lo: uint64(uintptr(p)), size: uint64(len(b)), ptr: p, writable: writable})
}

func (vm *VM) cancelled() bool {
	if vm.done == nil {
		return false
	}
	select {
	case <-vm.done:
		return true
	default:
		return false
	}
}

// access returns a pointer to the n bytes at addr if they lie within one
// region the run may access (writable, if write is set), or nil.
func (vm *VM) access(addr, n uint64, write bool) unsafe.Pointer {
	// The stack is the most frequent target: one compare decides it
	// (stackLen is at least one frame, larger than any n here).
	if a := addr - vm.stackLo; a <= vm.stackLen-n {
		vm.dirty = min(vm.dirty, a)
		return unsafe.Add(vm.stackPtr, a)
	}
	return vm.accessRegion(addr, n, write)
}

// accessRegion searches the regions other than the stack and caches the
// one that matches.
func (vm *VM) accessRegion(addr, n uint64, write bool) unsafe.Pointer {
	if p := vm.tryRegion(&vm.memR, addr, n, write); p != nil {
		return p
	}
	if p := vm.tryRegion(&vm.pktR, addr, n, write); p != nil {
		return p
	}
	for i := range vm.persistent {
		if p := vm.tryRegion(&vm.persistent[i], addr, n, write); p != nil {
			return p
		}
	}
	for i := range vm.regions {
		if p := vm.tryRegion(&vm.regions[i], addr, n, write); p != nil {
			return p
		}
	}
	return nil
}

// tryRegion returns a pointer to the n bytes at addr if they lie in r (and
// r is writable, for a write), and caches r.
func (vm *VM) tryRegion(r *region, addr, n uint64, write bool) unsafe.Pointer {
	a := addr - r.lo
	if a >= r.size || n > r.size-a || (write && !r.writable) {
		return nil
	}
	if write {
		vm.cacheW = *r
	} else {
		vm.cacheR = *r
	}
	return unsafe.Add(r.ptr, a)
}

// describeFault explains why access(addr, n, write) failed; operand is the
// address as the instruction writes it (r1+8), or "" for a helper's access.
func (vm *VM) describeFault(addr, n uint64, write bool, operand string) string {
	what := fmt.Sprintf("read of %d bytes at %#x", n, addr)
	if write {
		what = fmt.Sprintf("write of %d bytes at %#x", n, addr)
	}
	if operand != "" {
		what += " (" + operand + ")"
	}
	if write {
		for _, r := range append(append([]region{vm.memR, vm.pktR}, vm.persistent...), vm.regions...) {
			if a := addr - r.lo; a < r.size && n <= r.size-a {
				return what + ": the memory is read-only"
			}
		}
	}
	if addr < 4096 {
		return what + ": null or near-null pointer"
	}
	if addr-(vm.stackLo-isa.StackSize) < vm.stackLen+2*isa.StackSize {
		fp := vm.stackLo + vm.stackLen
		return what + fmt.Sprintf(": outside the stack frames of the active calls (at r10%+d of the current frame)", int64(addr-fp))
	}
	return what + ": outside the stack and every memory region of the run"
}

// Memory implements engine.Env: it returns the n bytes at addr if they lie
// within one region the run may access, writable if write is set.
func (vm *VM) Memory(addr uint64, n uint64, write bool) ([]byte, error) {
	if !vm.running {
		return nil, fmt.Errorf("%w: the VM is not running", engine.ErrOutOfBounds)
	}
	if n == 0 {
		return []byte{}, nil
	}
	if n > math.MaxInt32 {
		return nil, fmt.Errorf("%w: %d bytes at %#x is larger than any region", engine.ErrOutOfBounds, n, addr)
	}
	var p unsafe.Pointer
	if a := addr - vm.stackLo; a < vm.stackLen && n <= vm.stackLen-a {
		// Counted as written even for a read: the helper holds a slice.
		vm.dirty = min(vm.dirty, a)
		p = unsafe.Add(vm.stackPtr, a)
	} else {
		p = vm.accessRegion(addr, n, write)
	}
	if p == nil {
		return nil, fmt.Errorf("%w: %s", engine.ErrOutOfBounds, vm.describeFault(addr, n, write, ""))
	}
	return unsafe.Slice((*byte)(p), int(n)), nil
}

// AddRegion implements engine.Env: b becomes accessible to the program
// until the run ends. The caller keeps b alive and unmoved until then.
func (vm *VM) AddRegion(b []byte, writable bool) {
	if !vm.running || len(b) == 0 {
		return
	}
	vm.addRegion(b, writable)
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
		p := unsafe.Pointer(unsafe.SliceData(b))
		vm.persistent = append(vm.persistent, region{lo: uint64(uintptr(p)), size: uint64(len(b)), ptr: p, writable: writable})
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
	vm.cacheR, vm.cacheW = region{}, region{} // they may hold one
	vm.addSlabRegions()                       // inline lookups hand them out
	return nil
}

// Call implements engine.Env: it runs the bpf function starting at slot pc
// with args in r1-r5 on a new stack frame, against the run's budget and
// call depth, and returns its r0.
func (vm *VM) Call(pc int, args ...uint64) (uint64, error) {
	if !vm.running {
		return 0, errors.New("interp: Call outside a run")
	}
	if len(args) > 5 {
		return 0, fmt.Errorf("interp: Call with %d arguments; a bpf function takes at most 5", len(args))
	}
	if pc < 0 || pc >= len(vm.prog.code) || vm.prog.code[pc].kind == opInvalid {
		return 0, fmt.Errorf("interp: Call target %d is not an instruction of the program (0..%d)", pc, len(vm.prog.code)-1)
	}
	if vm.depth >= isa.MaxCallDepth {
		return 0, fmt.Errorf("%w: a callback at %d would be frame %d, the limit is %d", engine.ErrCallDepth, pc, vm.depth+1, isa.MaxCallDepth)
	}
	var a [5]uint64
	copy(a[:], args)
	depth := vm.depth
	r0, err := vm.exec(pc, a[0], a[1], a[2], a[3], a[4])
	vm.depth, vm.stackLen = depth, uint64(depth)*isa.StackSize
	return r0, err
}

// fault builds the error for the instruction at slot pc.
func (vm *VM) fault(pc int, sentinel error, reason string) error {
	return &isa.InstructionError{Index: pc, Insn: vm.prog.insns[pc], Reason: reason, Err: sentinel}
}
