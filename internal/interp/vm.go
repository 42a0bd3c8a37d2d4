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
	frames   [isa.MaxCallDepth]frame

	// Other memory the run may access: the input memory, the packet and
	// regions added by helpers. cacheR and cacheW are copies of the regions
	// the last read and write outside the stack used (accesses tend to
	// repeat), checked by the hot loop before it asks for a search; a
	// zero-size cache never matches.
	regions []region
	cacheR  region
	cacheW  region

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

	// stepAll makes exec run every instruction through stepOne, the way it
	// runs the last, partly paid segment of a run; tests compare the two.
	stepAll bool
	scratch [3]op // stepOne's copy of one instruction
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
	return vm
}

// SetBudget sets the number of instructions one run of this VM may execute,
// overriding the program's budget; 0 restores the program's budget.
func (vm *VM) SetBudget(n uint64) { vm.budget = n }

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
}

// Executed returns the number of instructions the last run executed. An
// instruction that failed counts, except the one the budget did not allow.
func (vm *VM) Executed() uint64 { return vm.executed }

// Run runs the program with r1 = the address of mem[0] (0 if mem is empty)
// and r2 = len(mem). The program may read and write mem; legacy packet
// loads (LD_ABS, LD_IND) read mem too. It returns r0. Run-time failures are
// *isa.InstructionError wrapping one of the engine sentinels.
func (vm *VM) Run(mem []byte) (uint64, error) {
	return vm.run(mem, mem)
}

// RunWithPacket is Run, but legacy packet loads (LD_ABS, LD_IND) read
// packet. The program may also read and write packet through pointers.
func (vm *VM) RunWithPacket(mem, packet []byte) (uint64, error) {
	return vm.run(mem, packet)
}

func (vm *VM) run(mem, packet []byte) (r0 uint64, err error) {
	if vm.running {
		return 0, errors.New("interp: VM is already running; a VM is not reentrant, use one per goroutine")
	}
	vm.running = true
	defer func() {
		if r := recover(); r != nil {
			// Never expected: the loop checks everything it touches. Kept
			// as a last line of defence so a bug cannot crash the host.
			r0, err = 0, fmt.Errorf("interp: internal error (please report): %v", r)
		}
		vm.executed = vm.runBudget - vm.remaining - vm.left
		clear(vm.regions) // drop references to the caller's memory
		vm.regions = vm.regions[:0]
		vm.cacheR, vm.cacheW = region{}, region{}
		vm.pktPtr, vm.pktLen = nil, 0
		vm.depth, vm.stackLen = 0, 0
		vm.running = false
		runtime.KeepAlive(mem)
		runtime.KeepAlive(packet)
	}()

	// Each run starts with a zeroed stack, so results never depend on a
	// previous run; only the frames the previous run used are cleared.
	clear(vm.stack[:vm.deepest*isa.StackSize])
	vm.deepest = 0
	vm.cacheR, vm.cacheW = region{}, region{}
	vm.runBudget = vm.budget
	if vm.runBudget == 0 {
		vm.runBudget = vm.prog.budget
	}
	vm.remaining, vm.left = vm.runBudget, 0

	var r1 uint64
	if len(mem) > 0 {
		r1 = vm.addRegion(mem, true)
		// Most programs read and write mem: start with it cached.
		vm.cacheR, vm.cacheW = vm.regions[0], vm.regions[0]
	}
	if len(packet) > 0 {
		vm.pktPtr, vm.pktLen = unsafe.Pointer(&packet[0]), uint64(len(packet))
		if !sameSlice(mem, packet) {
			vm.addRegion(packet, true)
		}
	}
	if vm.cancelled() {
		return 0, &isa.InstructionError{Index: 0, Insn: vm.prog.insns[0], Reason: "run cancelled before it started: " + vm.ctx.Err().Error(), Err: engine.ErrCancelled}
	}
	return vm.exec(0, r1, uint64(len(mem)), 0, 0, 0)
}

func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

func (vm *VM) addRegion(b []byte, writable bool) uint64 {
	p := unsafe.Pointer(&b[0])
	lo := uint64(uintptr(p))
	vm.regions = append(vm.regions, region{lo: lo, size: uint64(len(b)), ptr: p, writable: writable})
	return lo
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
		return unsafe.Add(vm.stackPtr, a)
	}
	return vm.accessRegion(addr, n, write)
}

// accessRegion searches the regions other than the stack and caches the
// one that matches.
func (vm *VM) accessRegion(addr, n uint64, write bool) unsafe.Pointer {
	for i := range vm.regions {
		r := &vm.regions[i]
		if a := addr - r.lo; a < r.size && n <= r.size-a && (r.writable || !write) {
			if write {
				vm.cacheW = *r
			} else {
				vm.cacheR = *r
			}
			return unsafe.Add(r.ptr, a)
		}
	}
	return nil
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
		for _, r := range vm.regions {
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
