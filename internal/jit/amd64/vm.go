//go:build linux && amd64

package amd64

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// budgetQuantum is the most instructions generated code runs before it
// returns to Go, which checks for cancellation: a few tens of microseconds
// even for slow instructions.
const budgetQuantum = 1 << 15

// stackBytes is the eBPF stack of one VM: one frame per call depth.
const stackBytes = isa.StackSize * isa.MaxCallDepth

// Program is a compiled program. It is safe for concurrent use by VMs in
// different goroutines; Close must not run while any VM is running.
type Program struct {
	insns    []isa.Instruction
	helpers  engine.Helpers
	siteFns  []engine.Helper // per slot: the helper a static call reaches
	budget   uint64
	comp     *compiled
	mu       sync.Mutex // guards code against Close
	code     []byte     // the executable mapping; nil after Close
	codeAddr uint64
	cleanup  runtime.Cleanup
}

// Load validates and compiles a program.
func Load(insns []isa.Instruction, opts Options) (*Program, error) {
	if err := isa.Validate(insns); err != nil {
		return nil, err
	}
	p := &Program{
		insns:   append([]isa.Instruction(nil), insns...),
		helpers: opts.Helpers,
		siteFns: make([]engine.Helper, len(insns)),
		budget:  opts.Budget,
	}
	if p.budget == 0 {
		p.budget = engine.DefaultBudget
	}
	for i := 0; i < len(insns); i++ {
		in := insns[i]
		if in.Opcode == isa.OpcodeCall && in.Src == isa.CallHelper {
			fn, ok := opts.Helpers[in.Imm]
			if !ok || fn == nil {
				return nil, &isa.InstructionError{Index: i, Insn: in, Reason: fmt.Sprintf("call to unknown helper %d", in.Imm), Err: engine.ErrUnknownHelper}
			}
			p.siteFns[i] = fn
		}
		if in.IsLDDW() {
			i++
		}
	}
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
	p.codeAddr = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(code))))
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
		p.code = nil
		p.codeAddr = 0
	}
	return nil
}

// CodeSize returns the size of the generated machine code in bytes.
func (p *Program) CodeSize() int { return len(p.comp.code) }

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
	depth    int // Env.Call nesting
}

// NewVM returns a machine for running the program.
func (p *Program) NewVM() *VM {
	vm := &VM{p: p, ctx: new(runContext), stack: make([]byte, stackBytes), budget: p.budget}
	c := vm.ctx
	c.shadowBase = uint64(uintptr(unsafe.Pointer(&c.shadow[0])))
	c.shadowLimit = c.shadowBase + uint64(len(c.shadow))*8
	return vm
}

// SetBudget overrides the program's instruction budget for this VM's runs
// (0 restores the program's).
func (vm *VM) SetBudget(n uint64) {
	if n == 0 {
		n = vm.p.budget
	}
	vm.budget = n
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
func (vm *VM) Run(mem []byte) (uint64, error) { return vm.run(mem, nil, mem) }

// RunWithPacket is Run, with legacy packet loads (LD_ABS, LD_IND) reading
// packet, which is also accessible to the program.
func (vm *VM) RunWithPacket(mem, packet []byte) (uint64, error) {
	return vm.run(mem, packet, packet)
}

func addrOf(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// setRegion describes b to the inline checks.
func setRegion(r *region, b []byte, writable bool) {
	*r = region{lo: math.MaxUint64}
	if len(b) == 0 {
		return
	}
	lo := addrOf(b)
	r.lo = lo
	for k, size := range [4]uint64{1, 2, 4, 8} {
		if uint64(len(b)) < size {
			continue // ends stay 0: lo > 0, so nothing matches
		}
		r.endR[k] = lo + uint64(len(b)) - size
		if writable {
			r.endW[k] = r.endR[k]
		}
	}
}

func (vm *VM) run(mem, pkt, ld []byte) (uint64, error) {
	p := vm.p
	p.mu.Lock()
	base := p.codeAddr
	p.mu.Unlock()
	if base == 0 {
		return 0, ErrClosed
	}
	if vm.depth != 0 {
		return 0, errors.New("jit: VM.Run called from a helper of the same VM")
	}
	if len(ld) > math.MaxInt32 {
		return 0, fmt.Errorf("jit: packet of %d bytes is too large", len(ld))
	}
	c := vm.ctx
	vm.mem, vm.pkt = mem, pkt
	vm.extra = vm.extra[:0]
	setRegion(&c.regions[regionMem], mem, true)
	setRegion(&c.regions[regionStack], vm.stack, true)
	setRegion(&c.regions[regionPacket], pkt, true)
	c.ldBase = addrOf(ld)
	for k, size := range [3]int64{1, 2, 4} {
		c.ldEnd[k] = int64(len(ld)) - size
	}
	c.regs = [10]uint64{}
	c.regs[1] = addrOf(mem)
	c.regs[2] = uint64(len(mem))
	c.fp = addrOf(vm.stack) + stackBytes
	c.scratch = 0
	c.codeBase = base
	c.shadowSP = c.shadowBase
	slice := min(vm.budget, budgetQuantum)
	c.budget = slice
	vm.reserve = vm.budget - slice
	c.resume = base + uint64(p.comp.insnOff[0])

	var r0 uint64
	var err error
	if vm.done != nil && isDone(vm.done) {
		err = vm.cancelled(0)
	} else {
		r0, err = vm.loop(false)
	}
	vm.executed = vm.budget - (vm.reserve + c.budget)
	if errors.Is(err, engine.ErrBudgetExhausted) {
		vm.executed = vm.budget
	}
	vm.mem, vm.pkt = nil, nil
	clear(vm.extra)
	vm.extra = vm.extra[:0]
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
// Env.Call) returns.
func (vm *VM) loop(nested bool) (uint64, error) {
	p, c := vm.p, vm.ctx
	entry := uintptr(p.codeAddr) + uintptr(p.comp.entry)
	for {
		enter(c, entry)
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
			if id <= math.MaxInt32 {
				fn = p.helpers[int32(id)]
			}
			if fn == nil {
				return 0, &isa.InstructionError{Index: idx, Insn: in, Reason: fmt.Sprintf("callx to unknown helper %d", id), Err: engine.ErrUnknownHelper}
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
			return 0, &isa.InstructionError{Index: idx, Insn: p.insns[idx], Reason: fmt.Sprintf("local call exceeds the call depth limit of %d frames", isa.MaxCallDepth), Err: engine.ErrCallDepth}
		default:
			return 0, fmt.Errorf("jit: internal error: unknown exit code %d at instruction %d", code, idx)
		}
	}
}

func (vm *VM) callHelper(idx int, fn engine.Helper, id int32) error {
	c := vm.ctx
	vm.depth++
	r0, err := fn(vm, c.regs[1], c.regs[2], c.regs[3], c.regs[4], c.regs[5])
	vm.depth--
	if err != nil {
		if errors.Is(err, errDoneInCallback) || isRunError(err) {
			return err // a failure inside Env.Call: already names its instruction
		}
		return &isa.InstructionError{Index: idx, Insn: vm.p.insns[idx], Reason: fmt.Sprintf("helper %d failed: %v", id, err), Err: fmt.Errorf("%w: %w", engine.ErrHelperFailed, err)}
	}
	c.regs[0] = r0
	c.resume = vm.p.codeAddr + uint64(vm.p.comp.resume[idx])
	return nil
}

// isRunError reports whether err is a run-time failure of this engine
// (returned by Env.Call and passed on by a helper).
func isRunError(err error) bool {
	var ie *isa.InstructionError
	if !errors.As(err, &ie) {
		return false
	}
	for _, s := range []error{engine.ErrOutOfBounds, engine.ErrBudgetExhausted, engine.ErrUnknownHelper, engine.ErrCallDepth, engine.ErrHelperFailed, engine.ErrCancelled} {
		if errors.Is(ie.Err, s) {
			return true
		}
	}
	return false
}

// refill hands the code another budget slice before the block at idx, or
// fails the run when the budget cannot cover the block.
func (vm *VM) refill(idx int) error {
	c, p := vm.ctx, vm.p
	if vm.done != nil && isDone(vm.done) {
		return vm.cancelled(idx)
	}
	need := uint64(p.comp.blockLen[idx])
	total := vm.reserve + c.budget
	if total < need {
		// The interpreter runs the first total instructions of the block
		// and stops at the next one.
		at := idx
		for k := uint64(0); k < total; k++ {
			if p.insns[at].IsLDDW() {
				at++
			}
			at++
		}
		c.budget, vm.reserve = 0, 0
		return &isa.InstructionError{Index: at, Insn: p.insns[at], Reason: fmt.Sprintf("instruction budget of %d exhausted", vm.budget), Err: engine.ErrBudgetExhausted}
	}
	slice := max(min(total, budgetQuantum), need)
	c.budget = slice
	vm.reserve = total - slice
	c.resume = p.codeAddr + uint64(p.comp.insnOff[idx])
	return nil
}

// accessOf returns the size and direction of the memory access at idx.
func accessOf(in isa.Instruction) (size uint64, write bool) {
	return uint64(isa.SizeBytes(in.Size())), in.Class() != isa.ClassLDX
}

// checkExtra handles an access the inline checks did not place: it resumes
// the access if a helper-added region holds it.
func (vm *VM) checkExtra(idx int) error {
	c, p := vm.ctx, vm.p
	in := p.insns[idx]
	size, write := accessOf(in)
	addr := c.scratch
	for _, r := range vm.extra {
		if addr >= r.lo && addr <= r.hi-size && r.hi-r.lo >= size && (r.writable || !write) {
			c.resume = p.codeAddr + uint64(p.comp.resume[idx])
			return nil
		}
	}
	kind := "read"
	if write {
		kind = "write"
	}
	return &isa.InstructionError{Index: idx, Insn: in, Reason: fmt.Sprintf("%d-byte %s at address %#x is outside the memory the program may access", size, kind, addr), Err: engine.ErrOutOfBounds}
}

// Memory implements engine.Env.
func (vm *VM) Memory(addr, n uint64, write bool) ([]byte, error) {
	try := func(b []byte, writable bool) []byte {
		lo := addrOf(b)
		if len(b) == 0 || addr < lo || n > uint64(len(b)) || addr-lo > uint64(len(b))-n || (write && !writable) {
			return nil
		}
		return b[addr-lo : addr-lo+n : addr-lo+n]
	}
	if b := try(vm.stack, true); b != nil {
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
	if n == 0 {
		return nil, nil
	}
	return nil, fmt.Errorf("%w: %d bytes at %#x", engine.ErrOutOfBounds, n, addr)
}

// AddRegion implements engine.Env.
func (vm *VM) AddRegion(b []byte, writable bool) {
	if len(b) == 0 {
		return
	}
	lo := addrOf(b)
	vm.extra = append(vm.extra, extraRegion{lo: lo, hi: lo + uint64(len(b)), b: b, writable: writable})
}

// Call implements engine.Env: it runs the function at pc on a new frame.
func (vm *VM) Call(pc int, args ...uint64) (uint64, error) {
	p, c := vm.p, vm.ctx
	if pc < 0 || pc >= len(p.insns) || p.comp.insnOff[pc] < 0 || !p.comp.leader[pc] {
		return 0, fmt.Errorf("jit: Env.Call: instruction %d is not the start of a function", pc)
	}
	if len(args) > 5 {
		return 0, fmt.Errorf("jit: Env.Call: %d arguments, at most 5", len(args))
	}
	if c.shadowSP >= c.shadowLimit {
		return 0, fmt.Errorf("jit: Env.Call: %w", engine.ErrCallDepth)
	}
	saved := *c // registers, fp, resume, exit of the helper's caller
	// Push a shadow frame whose return point exits back to Go.
	k := (c.shadowSP - c.shadowBase) / 8
	c.shadow[k] = uint64(p.comp.callbackRet)
	copy(c.shadow[k+1:k+5], c.regs[6:10])
	c.shadowSP += 8 * shadowFrameWords
	c.fp -= isa.StackSize
	for r := 1; r <= 5; r++ {
		c.regs[r] = 0
		if r <= len(args) {
			c.regs[r] = args[r-1]
		}
	}
	c.resume = p.codeAddr + uint64(p.comp.insnOff[pc])
	r0, err := vm.loop(true)
	if err != nil {
		return 0, err
	}
	budget := c.budget
	*c = saved
	c.budget = budget
	return r0, nil
}
