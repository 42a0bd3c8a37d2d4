//go:build linux && amd64

package amd64

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"unsafe"

	"golang.org/x/sys/cpu"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// useBMI2 selects the BMI2 shifts (shlx, shrx, sarx), which take their
// count in any register; without them a shift by a register goes through
// cl. A variable so that tests can compile the fallback too.
var useBMI2 = cpu.X86.HasBMI2

// xreg maps eBPF registers r0-r10 to x86 registers.
var xreg = [isa.NumRegisters]reg{rax, rdi, rsi, rdx, rcx, r8, rbx, r13, r14, r15, r12}

// Registers the generated code reserves.
const (
	ctxReg     = r9  // *runContext
	budgetReg  = r10 // remaining budget slice
	scratchReg = r11
)

// Field offsets in runContext.
var (
	offRegs     = int32(unsafe.Offsetof(runContext{}.regs))
	offFP       = int32(unsafe.Offsetof(runContext{}.fp))
	offBudget   = int32(unsafe.Offsetof(runContext{}.budget))
	offScratch  = int32(unsafe.Offsetof(runContext{}.scratch))
	offResume   = int32(unsafe.Offsetof(runContext{}.resume))
	offExit     = int32(unsafe.Offsetof(runContext{}.exit))
	offFPBase   = int32(unsafe.Offsetof(runContext{}.fpBase))
	offFPLimit  = int32(unsafe.Offsetof(runContext{}.fpLimit))
	offSpill    = int32(unsafe.Offsetof(runContext{}.spill))
	offRegions  = int32(unsafe.Offsetof(runContext{}.regions))
	offLdBase   = int32(unsafe.Offsetof(runContext{}.ldBase))
	offLdEnd    = int32(unsafe.Offsetof(runContext{}.ldEnd))
	sizeRegion  = int32(unsafe.Sizeof(region{}))
	offRegionHi = int32(unsafe.Offsetof(region{}.hi))
	offStackHi  = offRegions + regionStack*sizeRegion + offRegionHi
)

func ctxField(off int32) operand { return mem(ctxReg, off) }

func sizeIndex(size int) int32 {
	switch size {
	case 1:
		return 0
	case 2:
		return 1
	case 4:
		return 2
	}
	return 3
}

// compiled is the output of compile, before the code is mapped.
type compiled struct {
	code        []byte
	entry       int      // offset of the entry stub
	freshEntry  int      // offset of the entry stub for the start of a run
	callbackRet int      // return point of functions run through Env.Call
	insnOff     []int32  // per slot: offset of the instruction's code (-1 for lddw second halves)
	resume      []int32  // per slot: resume offset after a helper exit or region exit
	blockLen    []uint32 // per leader: instructions in its block
	leader      []bool
	blockOf     []int32  // per slot: the leader of its block
	pos         []uint32 // per slot: instructions before it in its block
	// stackFrames is how many stack frames a run may dirty: 0 when the
	// program can never write its stack, so runs need not clear it; else
	// the depth of its call graph (all frames if it is recursive or calls
	// helpers, which may call back on new frames).
	stackFrames int
}

type compiler struct {
	e      encoder
	insns  []isa.Instruction
	opts   *Options
	bmi2   bool // use the BMI2 shifts (useBMI2 when compiling started)
	insn   []label
	leader []bool
	// loopHead marks targets of backward jumps.
	loopHead []bool
	out      compiled
	resume   []label        // per slot: where Go resumes after an exit, or -1
	writes   map[int]uint16 // per call target: the callee-saved registers it may write
	callees  map[int][]int  // per function start: the functions it calls
	cold     []func()       // out-of-line code, emitted after the body

	exitCommon, bpfReturn, ldOOB, callbackRet label
	// runEnd ends the run with r0; an exit jumps straight there when the
	// program has a single frame (no local calls, and no helpers, which
	// could call back into it through Env.Call).
	runEnd      label
	singleFrame bool
	localCalls  bool // the program has bpf-to-bpf calls
	// callsBounded: no local call can exceed the call depth limit (no
	// helpers, a call graph shallower than the limit), so calls do not
	// check it.
	callsBounded bool

	// filter compiles for FilterVM (filter.go): no budget counting, the
	// packet base in r10, its length minus 1, 2 and 4 in the caller's
	// argument spill area, a run's end or failure a plain return to Go
	// (emitFilterStubs).
	filter bool
	// batch (with filter) compiles FilterProgram's batch entry
	// (filterbatch.go): a run's end stores its verdict and starts the
	// next packet's run instead of returning.
	batch bool
	// keepArgs[i]: the legacy load at slot i must clear r1-r5 (as the
	// kernel's do) because the program may read one of them afterwards.
	keepArgs []bool
	// entryLive: the registers the program may read before writing
	// them (FilterVM's entry sets only those).
	entryLive uint16
	// live[i]: the registers live on entry to slot i (liveness).
	live []uint16
	// packetLen[i]: a length the packet is known to have at slot i
	// (FilterVM: knownPacketLen).
	packetLen []int64
	// zeroBelow[i] (FilterVM): the length a bounds check at slot i may
	// test (zeroBelow in filter.go).
	zeroBelow []int64
	// ldEnd[k] (FilterVM): where the packet length minus 1, 2, 4 is kept
	// (filterLdEnd, or a register the program never uses).
	ldEnd [3]operand
	// fused[i] (FilterVM): the legacy load at slot i and the jump after
	// it are one compare of the packet bytes (fuse.go).
	fused []bool
	// batchState (batch entry): where the loop keeps its packet cursor,
	// the end of the packets and its verdict cursor (filterbatch.go).
	batchState [3]operand
	batchNext  label // the next packet's start
	batchBody  label // after its test that packets remain
	batchDone  label // the return when none remain
	// nonNegative[i] (FilterVM): the indirect legacy load at slot i has
	// an offset known to be non-negative (ranges.go).
	nonNegative []bool
	// indexed (FilterVM): the indirect legacy loads addressed with an
	// index register, and the slots folded into them (filter_ind.go).
	indexed *indexedLoads
	// ldLen (FilterVM): the legacy loads' bounds checks compare with the
	// packet length in rbx itself, not with ldEnd (filter_ind.go).
	ldLen bool
	// savesG (FilterVM): the code may change r14 (eBPF r8, or the batch
	// entry's state), so it saves g there and restores it (filter.go).
	savesG bool
	// For inline helpers (inline.go): jump targets and array slots,
	// computed at the first call that may use them.
	targets []bool
	slots   []int
	proven  int // allProven: 0 unknown, 1 yes, -1 no
}

// exitCodeImm packs an exit code and instruction index for one 32-bit store.
func exitCodeImm(code, idx int) int32 { return int32(code<<24 | idx) }

// compile translates a validated program to machine code.
func compile(insns []isa.Instruction, opts *Options) (*compiled, error) {
	return compileMode(insns, opts, false)
}

// compileMode is compile, for FilterVM's entry when filter is set (the
// program must pass filterable).
func compileMode(insns []isa.Instruction, opts *Options, filter bool) (*compiled, error) {
	return compileModes(insns, opts, filter, false)
}

// compileModes is compileMode, for the filter's batch entry when batch is
// set too.
func compileModes(insns []isa.Instruction, opts *Options, filter, batch bool) (*compiled, error) {
	n := len(insns)
	c := &compiler{insns: insns, opts: opts, filter: filter, batch: filter && batch, bmi2: useBMI2}
	c.out.insnOff = make([]int32, n)
	c.out.resume = make([]int32, n)
	c.out.blockLen = make([]uint32, n)
	c.insn = make([]label, n)
	c.resume = make([]label, n)
	for i := range c.insn {
		c.insn[i] = c.e.newLabel()
		c.resume[i] = -1
	}
	c.exitCommon = c.e.newLabel()
	c.bpfReturn = c.e.newLabel()
	c.runEnd = c.e.newLabel()
	c.ldOOB = c.e.newLabel()
	c.callbackRet = c.e.newLabel()
	c.findBlocks()
	// An exit reads only r0 unless it may return to a bpf caller: a run's
	// end, or a callback's (Env.Call), whose registers Go drops.
	keep, live := liveness(insns, !c.localCalls)
	c.keepArgs, c.entryLive, c.live = keep, live[0], live

	if filter {
		c.zeroBelow = zeroBelow(insns)
		c.packetLen = knownPacketLen(insns, c.zeroBelow)
		c.nonNegative = indNonNegative(insns)
		c.allocLdEnds()
		c.fused = c.findFusedLoads()
		c.indexed = c.findIndexedLoads()
		c.savesG = c.changesG()
		c.emitFilterStubs()
	} else {
		c.emitStubs()
	}
	for i := 0; i < n; i++ {
		if c.loopHead[i] {
			// Loop bodies start on a 32-byte boundary, so a small loop
			// sits in as few decoded-instruction cache lines as possible.
			c.e.align(32)
		}
		c.e.bind(c.insn[i])
		if c.leader[i] && !filter {
			c.emitBudgetCheck(i)
		}
		if c.emitPair(i) {
			i++
			continue
		}
		if err := c.emitInsn(i); err != nil {
			return nil, err
		}
		if c.fused != nil && c.fused[i] {
			i++
			c.e.bind(c.insn[i]) // emitted with the load
			continue
		}
		if insns[i].IsLDDW() {
			i++
			c.insn[i] = c.insn[i-1] // never a target: Validate refuses that
		}
	}
	for k := 0; k < len(c.cold); k++ {
		c.cold[k]()
	}
	if l, ok := c.e.resolve(); !ok {
		return nil, fmt.Errorf("jit: internal error: label %d never bound", l)
	}
	for i := range c.insn {
		c.out.insnOff[i] = int32(c.e.labels[c.insn[i]])
		if i > 0 && insns[i-1].IsLDDW() && c.insn[i] == c.insn[i-1] {
			c.out.insnOff[i] = -1
		}
	}
	for i, r := range c.resume {
		c.out.resume[i] = -1
		if r >= 0 {
			c.out.resume[i] = int32(c.e.labels[r])
		}
	}
	c.out.code = c.e.b
	c.out.callbackRet = c.e.labels[c.callbackRet]
	c.out.leader = c.leader
	return &c.out, nil
}

// findBlocks marks basic block leaders and counts each block's instructions.
func (c *compiler) findBlocks() {
	insns := c.insns
	n := len(insns)
	c.leader = make([]bool, n)
	c.out.blockOf = make([]int32, n)
	c.out.pos = make([]uint32, n)
	c.leader[0] = true
	c.loopHead = make([]bool, n)
	helpers, stackWrites, calls := false, false, false
	for i := 0; i < n; i++ {
		in := insns[i]
		if t, ok := isa.Target(insns, i); ok && t >= 0 && t < n {
			c.leader[t] = true
			if t <= i && in.Opcode != isa.OpcodeCall {
				c.loopHead[t] = true // the target of a backward jump
			}
		}
		if in.IsLDDW() {
			i++
			continue
		}
		// A block ends after every jump, call and exit, and after legacy
		// loads (which may return from the function).
		cl := in.Class()
		if (cl == isa.ClassJMP || cl == isa.ClassJMP32 || cl == isa.ClassLD) && i+1 < n {
			c.leader[i+1] = true
		}
		if in.Opcode == isa.OpcodeCallX || in.Opcode == isa.OpcodeCall && in.Src != isa.CallLocal && !c.opts.Inline.Leaf[in.Imm] {
			helpers = true // helpers may add frames through Env.Call
		}
		if in.Opcode == isa.OpcodeCall && in.Src == isa.CallLocal {
			calls = true
		}
		// The stack can only be written through r10 as a store's base or
		// through a copy of r10 (any other use of it as a source).
		if (cl == isa.ClassST || cl == isa.ClassSTX) && in.Dst == isa.R10 || in.Src == isa.R10 && cl != isa.ClassLDX {
			stackWrites = true
		}
	}
	c.singleFrame = !helpers && !calls
	c.localCalls = calls
	if calls && !helpers {
		// Without helpers nothing adds frames but the program's own
		// calls (Env.Call comes from helpers): when its static call
		// graph is shallower than the limit, no call can exceed it.
		if c.writes == nil {
			c.computeWrites()
		}
		c.callsBounded = c.frames(0, map[int]int{}, map[int]bool{}) < isa.MaxCallDepth
	}
	switch {
	case !stackWrites:
		c.out.stackFrames = 0
	case helpers:
		c.out.stackFrames = isa.MaxCallDepth
	default:
		c.computeWrites()
		c.out.stackFrames = c.frames(0, map[int]int{}, map[int]bool{})
	}
	start := 0
	for i := 0; i < n; i++ {
		if c.leader[i] {
			start = i
		}
		c.out.blockOf[i] = int32(start)
		c.out.pos[i] = c.out.blockLen[start]
		c.out.blockLen[start]++ // an lddw counts as one instruction, as in the interpreter
		if insns[i].IsLDDW() {
			i++
			c.out.blockOf[i] = int32(start)
			c.out.pos[i] = c.out.pos[i-1]
		}
	}
}

// emitStubs emits the code shared by the whole program.
func (c *compiler) emitStubs() {
	e := &c.e
	// Entry: load the eBPF registers from the context and jump to the
	// resume point.
	c.out.entry = len(e.b)
	e.load(s64, scratchReg, ctxField(offScratch))
	for r := 0; r < 10; r++ {
		e.load(s64, xreg[r], ctxField(offRegs+int32(8*r)))
	}
	e.load(s64, xreg[isa.R10], ctxField(offFP))
	e.load(s64, budgetReg, ctxField(offBudget))
	e.jmpIndirect(ctxField(offResume))

	// Exit: save them and return to the trampoline. The exit code is
	// already stored.
	e.bind(c.exitCommon)
	for r := 0; r < 10; r++ {
		e.store(s64, ctxField(offRegs+int32(8*r)), xreg[r])
	}
	e.store(s64, ctxField(offFP), xreg[isa.R10])
	e.store(s64, ctxField(offBudget), budgetReg)
	e.store(s64, ctxField(offScratch), scratchReg)
	e.ret()

	// Return from a function: pop a shadow frame or, in the entry
	// function, end the run.
	e.bind(c.bpfReturn)
	final := c.runEnd
	fp := xreg[isa.R10]
	c.branch(func() {
		e.aluLoad(aluCMP, s64, fp, ctxField(offFPBase))
		e.jcc(condE, final)
	})
	e.aluImm(aluSUB, s64, direct(fp), isa.StackSize)
	e.store(s64, ctxField(offStackHi), fp)
	// The return point restores the r6-r9 the callee may have changed.
	c.branch(func() { e.jmpIndirect(mem(fp, shadowOffset)) })
	e.bind(final)
	// The run is over: Go only reads r0 and the budget left.
	e.store(s64, ctxField(offRegs), rax)
	e.store(s64, ctxField(offBudget), budgetReg)
	e.storeImm(s64, ctxField(offExit), exitCodeImm(exitDone, 0))
	e.ret()

	// A legacy packet load out of bounds returns 0 from the function, with
	// r1-r5 cleared as after every legacy load.
	e.bind(c.ldOOB)
	e.aluStore(aluXOR, s32, direct(rax), rax)
	c.clearArgs()
	e.jmp(c.bpfReturn)

	// Where functions called from Go (Env.Call) return to.
	e.bind(c.callbackRet)
	e.storeImm(s64, ctxField(offExit), exitCodeImm(exitCallbackDone, 0))
	e.jmp(c.exitCommon)

	// The first entry of a run (enterFresh): r1, r2 and the budget slice
	// arrive in their registers, the other registers start at zero (as in
	// the interpreter), and the frame pointer is the entry function's,
	// also for the inline stack check. It falls through to instruction 0,
	// emitted next. A program with a single frame (no helpers, so no
	// callbacks, which would start with the caller's registers) only
	// needs zeroed those it may read before writing them.
	c.out.freshEntry = len(e.b)
	for r := 0; r < 10; r++ {
		if r != 1 && r != 2 && (!c.singleFrame || c.entryLive&(1<<r) != 0) {
			e.aluStore(aluXOR, s32, direct(xreg[r]), xreg[r])
		}
	}
	e.load(s64, xreg[isa.R10], ctxField(offFPBase))
	e.store(s64, ctxField(offStackHi), xreg[isa.R10])
	e.aluStore(aluXOR, s32, direct(scratchReg), scratchReg)
}

// emitFilterStubs emits the shared code of a FilterVM program: its entry
// and its end. FilterVM calls the entry as a Go function (filterFunc,
// filter.go) under Go's internal ABI: the packet's address in rax, its
// length in rbx, the run context in rcx; the results r0 in rax and the
// status in rbx (0: the program returned; else the exit code and
// instruction, see exitTo). The four words of the caller's argument
// spill area, above the return address, hold the packet length minus 1,
// 2 and 4 (the legacy loads' bounds) and Go's g register (r14, which the
// code uses as eBPF r8 and must give back). r1 and r2 come from the
// context (fixed per VM), the other registers start at zero as in the
// interpreter, r10 is the frame pointer of the single frame. The entry
// falls through to instruction 0.
func (c *compiler) emitFilterStubs() {
	if c.batch {
		c.emitBatchStubs()
		return
	}
	e := &c.e
	e.bind(c.runEnd)
	c.filterEnd()
	e.bind(c.ldOOB)
	e.aluStore(aluXOR, s32, direct(rax), rax)
	e.jmp(c.runEnd)
	tooLarge := e.newLabel()
	c.cold = append(c.cold, func() {
		e.bind(tooLarge)
		e.movImm32(rbx, filterTooLarge)
		e.ret()
	})
	c.out.freshEntry = len(e.b)
	// Packets are at most 2^31-1 bytes, as in the VM (len is 32-bit).
	e.aluImm(aluCMP, s64, direct(rbx), 0x7fffffff)
	e.jcc(condA, tooLarge)
	e.mov(s64, ctxReg, rcx)
	e.mov(s64, budgetReg, rax)
	if c.savesG {
		e.store(s64, filterG, r14)
	}
	c.emitFilterRunStart()
}

// emitFilterRunStart emits what starts a FilterVM run once the packet's
// address is in budgetReg and its length in rbx: the stack cleared if
// needed, the legacy loads' bounds, the registers the program reads.
func (c *compiler) emitFilterRunStart() {
	e := &c.e
	if readsUnwrittenStack(c.insns) {
		// Each run starts with a zeroed stack, as in the interpreter.
		e.load(s64, scratchReg, ctxField(offFPBase))
		e.aluStore(aluXOR, s32, direct(rax), rax)
		for off := int32(-isa.StackSize); off < 0; off += 8 {
			e.store(s64, mem(scratchReg, off), rax)
		}
	}
	// The bounds of the load sizes the program's checks use.
	sizes := c.boundSizes()
	for k, size := range []int32{1, 2, 4} {
		if sizes[k] && !c.ldLen {
			if m := c.ldEnd[k]; !m.isMem {
				e.lea(m.r, mem(rbx, -size))
			} else {
				e.lea(scratchReg, mem(rbx, -size))
				e.store(s64, m, scratchReg)
			}
		}
	}
	// Only the registers the program may read before writing them need
	// their initial values (r1 and r2 from the context, the others zero,
	// the frame pointer): the rest are never observed.
	for r := uint8(0); r <= isa.R10; r++ {
		if c.entryLive&(1<<r) == 0 {
			continue
		}
		switch r {
		case isa.R1, isa.R2:
			e.load(s64, xreg[r], ctxField(offRegs+8*int32(r)))
		case isa.R10:
			e.load(s64, xreg[r], ctxField(offFPBase))
		default:
			e.aluStore(aluXOR, s32, direct(xreg[r]), xreg[r])
		}
	}
}

// filterEnd ends a FilterVM run with r0: g back, status 0.
func (c *compiler) filterEnd() {
	if c.batch {
		c.batchEnd()
		return
	}
	if c.savesG {
		c.e.load(s64, r14, filterG)
	}
	c.e.aluStore(aluXOR, s32, direct(rbx), rbx)
	c.e.ret()
}

// The FilterVM code's words in its caller's argument spill area.
var filterG = mem(rsp, 8+24)

func filterLdEnd(sizeIdx int) operand { return mem(rsp, 8+8*int32(sizeIdx)) }

// clearArgs zeroes r1-r5 (the kernel's legacy loads clobber them).
func (c *compiler) clearArgs() {
	for r := isa.R1; r <= isa.R5; r++ {
		c.e.aluStore(aluXOR, s32, direct(xreg[r]), xreg[r])
	}
}

// exitTo emits an exit to Go with the given code.
func (c *compiler) exitTo(code, idx int) {
	if c.filter {
		// FilterVM: g back, and the status as the second result (the
		// only exit filterable leaves is exitRegion).
		if c.batch {
			// Which packet failed (first: the cursor may be in r14).
			c.e.load(s64, rax, c.batchState[bVerdict])
		}
		if c.savesG {
			c.e.load(s64, r14, filterG)
		}
		c.e.movImm32(rbx, uint32(filterFault+idx))
		c.e.ret()
		return
	}
	// A full 64-bit store: Go reads the field as a uint64, and a narrower
	// store would make that load miss store forwarding.
	c.e.storeImm(s64, ctxField(offExit), exitCodeImm(code, idx))
	c.e.jmp(c.exitCommon)
}

// coldExit returns a label of out-of-line code that exits to Go.
func (c *compiler) coldExit(code, idx int) label {
	l := c.e.newLabel()
	c.cold = append(c.cold, func() {
		c.e.bind(l)
		c.exitTo(code, idx)
	})
	return l
}

func (c *compiler) emitBudgetCheck(i int) {
	e := &c.e
	n := int32(c.out.blockLen[i])
	stub := e.newLabel()
	c.branch(func() {
		e.aluImm(aluSUB, s64, direct(budgetReg), n)
		e.jcc(condB, stub)
	})
	c.cold = append(c.cold, func() {
		e.bind(stub)
		e.aluImm(aluADD, s64, direct(budgetReg), n) // Go resumes at the block start
		c.exitTo(exitBudget, i)
	})
}

// emitPair emits instructions i and i+1 together when a cheaper x86
// sequence does the work of both, and reports whether it did. (A copy then
// a shift by a constant stays two instructions: the copy costs no latency
// (move elimination), and a BMI2 shlx from the source, with the count
// loaded into the scratch register, measured slower on xorshift.) The second
// instruction is never a jump target (it would start a block), but
// Env.Call may still enter there: its label gets a cold copy of it alone,
// which then joins the code after the pair.
func (c *compiler) emitPair(i int) bool {
	insns := c.insns
	if i+1 >= len(insns) || c.leader[i+1] || insns[i].IsLDDW() {
		return false
	}
	a, b := insns[i], insns[i+1]
	e := &c.e
	switch {
	case a.Opcode == isa.ClassALU64|isa.OpMOV|isa.SrcX || a.Opcode == isa.ClassALU|isa.OpMOV|isa.SrcX:
		if a.Offset != 0 || b.Class() != a.Class() || b.Dst != a.Dst || b.Source() != isa.SrcK || c.opts.BlindConstants {
			return false
		}
		size := s32
		if a.Class() == isa.ClassALU64 {
			size = s64
		}
		// dst = src ± imm in one lea instead of a move and an add.
		disp := b.Imm
		switch {
		case b.Op() == isa.OpSUB && disp != math.MinInt32:
			disp = -disp
		case b.Op() != isa.OpADD:
			return false
		}
		e.leaSize(size, xreg[a.Dst], mem(xreg[a.Src], disp))
	case c.batch && !c.batchState[bVerdict].isMem && !c.opts.BlindConstants && a.Dst == isa.R0 && a.Offset == 0 &&
		(a.Opcode == isa.ClassALU|isa.OpMOV|isa.SrcK || a.Opcode == isa.ClassALU64|isa.OpMOV|isa.SrcK) &&
		b.Opcode == isa.OpcodeExit:
		// The batch entry's "return imm": the verdict (r0's low 32
		// bits) stored straight from the immediate; r0 is dead after it
		// (each run starts afresh).
		v := c.batchState[bVerdict]
		e.storeImm(s32, mem(v.r, 0), a.Imm)
		c.batchAdvance()
	case (a.Class() == isa.ClassSTX || a.Class() == isa.ClassST && !c.opts.BlindConstants) && a.Mode() == isa.ModeMEM && a.Dst == isa.R10:
		// A load of the stack slot just stored: the store stays, the
		// load becomes a register move, which keeps the value's
		// dependency chain off store forwarding (about 5 cycles).
		size := isa.SizeBytes(a.Size())
		if b.Class() != isa.ClassLDX || b.Src != isa.R10 || b.Offset != a.Offset || b.Size() != a.Size() ||
			int(a.Offset) < -isa.StackSize || int(a.Offset)+size > 0 {
			return false
		}
		if err := c.emitInsn(i); err != nil {
			return false // cannot happen: a stack store always compiles
		}
		dst := xreg[b.Dst]
		sx := b.Mode() == isa.ModeMEMSX
		if a.Class() == isa.ClassSTX {
			src := xreg[a.Src]
			switch {
			case sx:
				e.loadSX(size, s64, dst, direct(src))
			case size == s64:
				e.mov(s64, dst, src)
			default:
				e.movZX(size, dst, src)
			}
		} else {
			v := uint64(int64(a.Imm))
			switch size {
			case s8:
				v = uint64(uint8(v))
				if sx {
					v = uint64(int64(int8(v)))
				}
			case s16:
				v = uint64(uint16(v))
				if sx {
					v = uint64(int64(int16(v)))
				}
			case s32:
				v = uint64(uint32(v))
				if sx {
					v = uint64(int64(int32(v)))
				}
			}
			e.movImm64(dst, v)
		}
	default:
		return false
	}
	after := e.newLabel()
	e.bind(after)
	entry := c.insn[i+1]
	c.cold = append(c.cold, func() {
		e.bind(entry)
		c.emitInsn(i + 1) // an ALU operation or a stack load: always compiles
		e.jmp(after)
	})
	return true
}

var shiftDigit = map[uint8]byte{isa.OpLSH: shSHL, isa.OpRSH: shSHR, isa.OpARSH: shSAR}

func (c *compiler) emitInsn(i int) error {
	if c.elided(i) {
		return nil // folded into an indexed load (filter_ind.go)
	}
	in := c.insns[i]
	switch in.Class() {
	case isa.ClassALU, isa.ClassALU64:
		c.emitALU(i, in)
	case isa.ClassJMP, isa.ClassJMP32:
		return c.emitJump(i, in)
	case isa.ClassLD:
		return c.emitLD(i, in)
	case isa.ClassLDX:
		size := isa.SizeBytes(in.Size())
		dst := xreg[in.Dst]
		c.emitAccess(i, in.Src, in.Offset, size, false, func(m operand) {
			if in.Mode() == isa.ModeMEMSX {
				c.e.loadSX(size, s64, dst, m)
			} else {
				c.e.load(size, dst, m)
			}
		})
	case isa.ClassST:
		size := isa.SizeBytes(in.Size())
		if c.opts.BlindConstants {
			// r11 may hold the address: build the value in r10 (the
			// budget), saved around the store.
			c.emitAccess(i, in.Dst, in.Offset, size, true, func(m operand) {
				c.e.store(s64, ctxField(offSpill), budgetReg)
				c.blindedImm(s64, budgetReg, in.Imm)
				c.e.store(size, m, budgetReg)
				c.e.load(s64, budgetReg, ctxField(offSpill))
			})
			break
		}
		c.emitAccess(i, in.Dst, in.Offset, size, true, func(m operand) { c.e.storeImm(size, m, in.Imm) })
	case isa.ClassSTX:
		size := isa.SizeBytes(in.Size())
		if in.Mode() == isa.ModeATOMIC {
			c.emitAtomic(i, in, size)
			break
		}
		src := xreg[in.Src]
		c.emitAccess(i, in.Dst, in.Offset, size, true, func(m operand) { c.e.store(size, m, src) })
	}
	return nil
}

func (c *compiler) emitALU(i int, in isa.Instruction) {
	e := &c.e
	size := s32
	if in.Class() == isa.ClassALU64 {
		size = s64
	}
	dst, src := xreg[in.Dst], xreg[in.Src]
	k := in.Source() == isa.SrcK
	switch op := in.Op(); op {
	case isa.OpADD, isa.OpSUB, isa.OpOR, isa.OpAND, isa.OpXOR:
		opc := map[uint8]byte{isa.OpADD: aluADD, isa.OpSUB: aluSUB, isa.OpOR: aluOR, isa.OpAND: aluAND, isa.OpXOR: aluXOR}[op]
		if k && c.opts.BlindConstants {
			c.blindedImm(size, scratchReg, in.Imm)
			e.aluStore(opc, size, direct(dst), scratchReg)
		} else if k {
			e.aluImm(opc, size, direct(dst), in.Imm)
		} else {
			e.aluStore(opc, size, direct(dst), src)
		}
	case isa.OpMOV:
		switch {
		case k && c.opts.BlindConstants:
			c.blindedImm(size, dst, in.Imm)
		case k && size == s64:
			e.movImm64(dst, uint64(int64(in.Imm)))
		case k:
			e.movImm32(dst, uint32(in.Imm))
		case in.Offset == 0:
			e.mov(size, dst, src)
		default: // movsx: sign-extend the low 8, 16 or 32 bits
			e.loadSX(int(in.Offset)/8, size, dst, direct(src))
		}
	case isa.OpMUL:
		if k && c.opts.BlindConstants {
			c.blindedImm(size, scratchReg, in.Imm)
			e.imul(size, dst, scratchReg)
		} else if k {
			e.imulImm(size, dst, dst, in.Imm)
		} else {
			e.imul(size, dst, src)
		}
	case isa.OpNEG:
		e.unary(f7NEG, size, direct(dst))
	case isa.OpLSH, isa.OpRSH, isa.OpARSH:
		digit := shiftDigit[op]
		if k && c.opts.BlindConstants {
			// As the kernel's blinding does: the count goes through a
			// register, so the shift takes it from there.
			c.blindedImm(s32, scratchReg, in.Imm)
			c.emitShiftBy(digit, size, dst, scratchReg)
			return
		}
		if k {
			n := uint8(in.Imm) & uint8(size*8-1)
			if n == 0 {
				if size == s32 {
					e.mov(s32, dst, dst) // still zero-extends
				}
				return
			}
			e.shiftImm(digit, size, dst, n)
			return
		}
		c.emitShiftBy(digit, size, dst, src)
	case isa.OpDIV, isa.OpMOD:
		c.emitDivMod(i, in, size)
	case isa.OpEND:
		switch {
		case in.Class() == isa.ClassALU && in.Source() == isa.SrcK: // to little endian: truncate
			switch in.Imm {
			case 16:
				e.movZX(s16, dst, dst)
			case 32:
				e.mov(s32, dst, dst)
			}
		default: // to big endian, or bswap: swap
			switch in.Imm {
			case 16:
				e.shiftImm(shROL, s16, dst, 8)
				e.movZX(s16, dst, dst)
			case 32:
				e.bswap(s32, dst)
			case 64:
				e.bswap(s64, dst)
			}
		}
	}
}

// key returns a fresh non-zero blinding key.
func (c *compiler) key() int32 {
	for {
		if k := int32(rand.Uint32()); k != 0 {
			return k
		}
	}
}

// blindedImm loads imm (sign-extended to 64 bits for size 8, zero-extended
// from 32 bits for size 4) into r without the constant appearing in the
// code: it loads imm^key and xors key back in, with a fresh random key.
// This keeps attacker-chosen constants from forming useful instruction
// sequences in executable memory (JIT spraying).
func (c *compiler) blindedImm(size int, r reg, imm int32) {
	k := c.key()
	if size == s64 {
		c.e.movImm64(r, uint64(int64(imm^k)))
	} else {
		c.e.movImm32(r, uint32(imm^k))
	}
	c.e.aluImm(aluXOR, size, direct(r), k)
}

// emitShiftBy shifts dst by the count in register src (an eBPF register's,
// or the scratch register).
func (c *compiler) emitShiftBy(digit byte, size int, dst, src reg) {
	e := &c.e
	if c.bmi2 {
		// One instruction, which also zero-extends a 32-bit result.
		e.shiftX(digit, size, dst, dst, src)
		return
	}
	// The legacy shifts want the count in cl (eBPF r4's register).
	switch {
	case src == rcx:
		e.shiftCL(digit, size, dst)
	case src == scratchReg && dst == rcx:
		// Both the value and the count need rcx's place: go through
		// the spill slot.
		e.store(s64, ctxField(offSpill), scratchReg)
		e.mov(s64, scratchReg, rcx)
		e.load(s64, rcx, ctxField(offSpill))
		e.shiftCL(digit, size, scratchReg)
		e.mov(s64, rcx, scratchReg)
	case src == scratchReg:
		e.store(s64, ctxField(offSpill), rcx)
		e.mov(s64, rcx, scratchReg)
		e.shiftCL(digit, size, dst)
		e.load(s64, rcx, ctxField(offSpill))
	case dst == rcx:
		e.mov(s64, scratchReg, rcx)
		e.mov(s64, rcx, src)
		e.shiftCL(digit, size, scratchReg)
		e.mov(s64, rcx, scratchReg)
	default:
		e.mov(s64, scratchReg, rcx)
		e.mov(s64, rcx, src)
		e.shiftCL(digit, size, dst)
		e.mov(s64, rcx, scratchReg)
	}
	if size == s32 {
		// A shift by zero leaves the register as it was; eBPF still
		// zero-extends the 32-bit result.
		e.mov(s32, dst, dst)
	}
}

// emitDivMod implements div, mod, sdiv and smod (instruction i) with the
// ISA's results for division by zero (quotient 0, remainder the dividend)
// and for INT_MIN / -1 (quotient INT_MIN, remainder 0), which would trap
// on x86.
//
// x86's div wants the dividend in rdx:rax, eBPF r0 and r3: they are saved
// around it only when live afterwards (c.live), so `r4 %= r2` with r3 dead
// costs one save and restore, not two. An unsigned 64-bit division whose
// operands both fit in 32 bits (tested in the code) runs the 32-bit div,
// several times faster on Intel cores before Ice Lake (div r64 is 35-88
// cycles there, div r32 about 26) with the same result; a constant divisor
// that is a power of two is a shift or an and. The rare cases (zero and -1
// divisors, 64-bit operands) are out of line.
func (c *compiler) emitDivMod(i int, in isa.Instruction, size int) {
	e := &c.e
	dst := xreg[in.Dst]
	signed := in.Offset == 1
	isMod := in.Op() == isa.OpMOD
	zeroResult := func() {
		if isMod {
			if size == s32 {
				e.mov(s32, dst, dst)
			}
		} else {
			e.aluStore(aluXOR, s32, direct(dst), dst)
		}
	}
	negOneResult := func() {
		if isMod {
			e.aluStore(aluXOR, s32, direct(dst), dst)
		} else {
			e.unary(f7NEG, size, direct(dst))
		}
	}
	k := in.Source() == isa.SrcK
	if k {
		switch {
		case in.Imm == 0:
			zeroResult()
			return
		case signed && in.Imm == -1:
			negOneResult()
			return
		case !signed && !c.opts.BlindConstants && in.Imm > 0 && in.Imm&(in.Imm-1) == 0:
			// A power of two (the same value at both sizes, as it is
			// positive): the shift or mask also zero-extends ALU32.
			if isMod {
				e.aluImm(aluAND, size, direct(dst), in.Imm-1)
			} else if n := uint8(bits.TrailingZeros32(uint32(in.Imm))); n > 0 {
				e.shiftImm(shSHR, size, dst, n)
			} else if size == s32 {
				e.mov(s32, dst, dst)
			}
			return
		}
	}
	if k && !signed && !c.opts.BlindConstants && (size == s32 || in.Imm > 0) {
		c.emitDivConst(i, in, size)
		return
	}
	done := e.newLabel()
	if !k {
		divisor := xreg[in.Src]
		zero := e.newLabel()
		e.test(size, divisor, divisor)
		e.jcc(condE, zero)
		c.cold = append(c.cold, func() { e.bind(zero); zeroResult(); e.jmp(done) })
		if signed {
			negOne := e.newLabel()
			e.aluImm(aluCMP, size, direct(divisor), -1)
			e.jcc(condE, negOne)
			c.cold = append(c.cold, func() { e.bind(negOne); negOneResult(); e.jmp(done) })
		}
	}
	// A 64-bit unsigned division of operands below 2^32 runs as a 32-bit
	// one; a negative constant is a divisor of at least 2^63.
	narrow := size == s64 && !signed && (!k || in.Imm > 0)
	var wide label
	if narrow {
		wide = e.newLabel()
		e.mov(s64, scratchReg, dst)
		if !k {
			e.aluStore(aluOR, s64, direct(scratchReg), xreg[in.Src])
		}
		e.shiftImm(shSHR, s64, scratchReg, 32)
		e.jcc(condNE, wide)
	}
	spill := c.divSpill(i, dst)
	spill.save(e)
	// divide emits the division proper at one size, the dividend moved
	// into rax and the divisor in a register other than rax and rdx.
	divide := func(size int) {
		var divisor reg
		switch {
		case !k && xreg[in.Src] != rax && xreg[in.Src] != rdx:
			divisor = xreg[in.Src]
		case !k:
			e.mov(s64, scratchReg, xreg[in.Src])
			divisor = scratchReg
		case c.opts.BlindConstants:
			c.blindedImm(size, scratchReg, in.Imm)
			divisor = scratchReg
		case size == s64:
			e.movImm64(scratchReg, uint64(int64(in.Imm)))
			divisor = scratchReg
		default:
			e.movImm32(scratchReg, uint32(in.Imm))
			divisor = scratchReg
		}
		if dst != rax {
			e.mov(s64, rax, dst)
		}
		if signed {
			e.signExtendAX(size)
			e.unary(f7IDIV, size, direct(divisor))
		} else {
			e.aluStore(aluXOR, s32, direct(rdx), rdx)
			e.unary(f7DIV, size, direct(divisor))
		}
	}
	divided := e.newLabel()
	if narrow {
		divide(s32) // both halves' upper 32 bits are zero: so are the results'
		c.cold = append(c.cold, func() {
			e.bind(wide)
			spill.save(e)
			divide(s64)
			e.jmp(divided)
		})
	} else {
		divide(size)
	}
	e.bind(divided)
	result := rax
	if isMod {
		result = rdx
	}
	if dst != result {
		e.mov(size, dst, result)
	}
	spill.restore(e)
	e.bind(done)
}

// emitDivConst divides unsigned by a constant d (neither 0 nor a power of
// two below 2^31: emitDivMod handles those; for ALU32 the divisor is the
// immediate's 32 bits, for ALU64 a positive immediate) by multiplication,
// as compilers do (Granlund and Montgomery, "Division by invariant
// integers using multiplication", 1994, figure 4.1, which holds for every
// 64-bit dividend): with l = ceil(log2 d) and m = floor(2^64 (2^l - d) / d)
// + 1, t = the high half of m*n, q = (t + (n - t) >> 1) >> (l - 1); the
// remainder is n - q*d. A mul and a few one-cycle operations instead of
// a div (26 cycles at 32 bits, 35-88 at 64 on this Xeon); the kernel's JIT
// always divides. An ALU32 dividend is the zero-extended low half, also a
// valid 64-bit dividend.
func (c *compiler) emitDivConst(i int, in isa.Instruction, size int) {
	e := &c.e
	dst := xreg[in.Dst]
	d := uint64(uint32(in.Imm))
	if size == s64 {
		d = uint64(int64(in.Imm))
	}
	l := uint(bits.Len64(d - 1)) // ceil(log2 d): d >= 3 here
	m, _ := bits.Div64(1<<l-d, 0, d)
	m++
	spill := c.divSpill(i, dst)
	spill.save(e)
	e.mov(size, scratchReg, dst) // n (zero-extended for ALU32)
	e.movImm64(rax, m)
	e.unary(f7MUL, s64, direct(scratchReg)) // rdx = t
	e.mov(s64, rax, scratchReg)
	e.aluStore(aluSUB, s64, direct(rax), rdx)
	e.shiftImm(shSHR, s64, rax, 1)
	e.aluStore(aluADD, s64, direct(rax), rdx)
	if l > 1 {
		e.shiftImm(shSHR, s64, rax, uint8(l-1)) // rax = q
	}
	if in.Op() == isa.OpMOD {
		// n - q*d: at 32 bits the low halves suffice (the remainder is
		// below d < 2^32); at 64, d < 2^31 fits imul's immediate.
		e.imulImm(size, rax, rax, in.Imm)
		e.aluStore(aluSUB, size, direct(scratchReg), rax)
		e.mov(size, dst, scratchReg)
	} else {
		e.mov(size, dst, rax)
	}
	spill.restore(e)
}

// divSpill says which of rax and rdx (eBPF r0 and r3), which a division
// clobbers, must survive it: those read afterwards, unless the division
// writes its result there.
type divSpill struct{ ax, dx bool }

func (c *compiler) divSpill(i int, dst reg) divSpill {
	after := c.live[i+1] // div is never the last instruction: Validate
	return divSpill{
		ax: dst != rax && after&(1<<isa.R0) != 0,
		dx: dst != rdx && after&(1<<isa.R3) != 0,
	}
}

func (s divSpill) save(e *encoder) {
	if s.ax {
		e.store(s64, ctxField(offSpill), rax)
	}
	if s.dx {
		e.store(s64, ctxField(offSpill+8), rdx)
	}
}

func (s divSpill) restore(e *encoder) {
	if s.ax {
		e.load(s64, rax, ctxField(offSpill))
	}
	if s.dx {
		e.load(s64, rdx, ctxField(offSpill+8))
	}
}

var jumpCond = map[uint8]cond{
	isa.OpJEQ: condE, isa.OpJNE: condNE, isa.OpJSET: condNE,
	isa.OpJGT: condA, isa.OpJGE: condAE, isa.OpJLT: condB, isa.OpJLE: condBE,
	isa.OpJSGT: condG, isa.OpJSGE: condGE, isa.OpJSLT: condL, isa.OpJSLE: condLE,
}

func (c *compiler) emitJump(i int, in isa.Instruction) error {
	e := &c.e
	size := s64
	if in.Class() == isa.ClassJMP32 {
		size = s32
	}
	switch op := in.Op(); op {
	case isa.OpJA:
		t, _ := isa.Target(c.insns, i)
		if t != i+1 {
			c.branch(func() { e.jmp(c.insn[t]) })
		}
	case isa.OpEXIT:
		if c.filter {
			// The end of a FilterVM run, inline: three instructions
			// instead of a jump to them.
			c.filterEnd()
			break
		}
		if c.singleFrame {
			c.branch(func() { e.jmp(c.runEnd) })
		} else {
			c.branch(func() { e.jmp(c.bpfReturn) })
		}
	case isa.OpCALL:
		switch {
		case in.Source() == isa.SrcX:
			c.exitTo(exitCallx, i)
			c.resume[i] = c.insn[i+1]
		case in.Src == isa.CallHelper:
			if !c.emitInlineCall(i) {
				c.emitHelperCall(i)
			}
		case in.Src == isa.CallLocal:
			t, _ := isa.Target(c.insns, i)
			c.emitLocalCall(i, t)
		default:
			return &isa.InstructionError{Index: i, Insn: in, Reason: fmt.Sprintf("kfunc calls (call src %d) must be resolved by a loader; the JIT cannot compile them", in.Src), Err: ErrUnsupported}
		}
	default:
		t, _ := isa.Target(c.insns, i)
		if in.Source() == isa.SrcK && c.opts.BlindConstants {
			c.blindedImm(size, scratchReg, in.Imm)
		}
		c.branch(func() { c.emitCondJump(op, size, in, c.insn[t]) })
	}
	return nil
}

// branch emits f within32 (the JCC erratum: RATIONALE.md), in the VM's
// code and the filter flavour's alike.
func (c *compiler) branch(f func()) {
	c.e.within32(f)
}

// emitCondJump emits the compare (or test) and the conditional jump of a
// conditional jump instruction; with constant blinding the constant is
// already in the scratch register.
func (c *compiler) emitCondJump(op uint8, size int, in isa.Instruction, target label) {
	e := &c.e
	dst, src := xreg[in.Dst], xreg[in.Src]
	if in.Source() == isa.SrcK && c.opts.BlindConstants {
		if op == isa.OpJSET {
			e.test(size, dst, scratchReg)
		} else {
			e.aluStore(aluCMP, size, direct(dst), scratchReg)
		}
	} else if in.Source() == isa.SrcK {
		switch {
		case op == isa.OpJSET:
			e.testImm(size, direct(dst), in.Imm)
		case in.Imm == 0:
			// Shorter, and sets the flags as cmp with 0 does
			// (CF and OF clear).
			e.test(size, dst, dst)
		default:
			e.aluImm(aluCMP, size, direct(dst), in.Imm)
		}
	} else {
		if op == isa.OpJSET {
			e.test(size, dst, src)
		} else {
			e.aluStore(aluCMP, size, direct(dst), src)
		}
	}
	e.jcc(jumpCond[op], target)
}

// emitHelperCall emits a static helper call: an exit to Go that saves only
// what Go needs and the call leaves live (the arguments r1-r5, those of
// r6-r9 read afterwards, the frame pointer, the budget; r0 is the result
// and the scratch register is dead), and right after it the point Go
// re-enters the code at (enter jumps there directly), which loads back
// the result and the registers read afterwards (c.live). Inline, so
// neither direction takes an extra jump. Go keeps the context's
// registers across the call (Env.Call restores them after a callback), so
// a register not reloaded here is one no path reads before writing it.
func (c *compiler) emitHelperCall(i int) {
	e := &c.e
	after := c.live[i+1] // a call is never the last instruction: Validate
	e.storeImm(s64, ctxField(offExit), exitCodeImm(exitHelper, i))
	for r := 1; r < 10; r++ {
		if r <= 5 || after&(1<<r) != 0 {
			e.store(s64, ctxField(offRegs+int32(8*r)), xreg[r])
		}
	}
	e.store(s64, ctxField(offFP), xreg[isa.R10])
	e.store(s64, ctxField(offBudget), budgetReg)
	e.ret()
	back := e.newLabel()
	e.bind(back)
	for r := 0; r < 10; r++ {
		if r == 0 || after&(1<<r) != 0 {
			e.load(s64, xreg[r], ctxField(offRegs+int32(8*r)))
		}
	}
	e.load(s64, xreg[isa.R10], ctxField(offFP))
	e.load(s64, budgetReg, ctxField(offBudget))
	c.resume[i] = back
}

// emitLocalCall pushes a shadow frame (return address, and those of r6-r9
// the callee may change), moves the frame pointer up one frame (frames
// grow upwards, as in the interpreter) and jumps to the callee. The return
// point, right after, restores the saved registers.
func (c *compiler) emitLocalCall(i, target int) {
	e := &c.e
	fp := xreg[isa.R10]
	saved := c.calleeSaved(target)
	if !c.callsBounded {
		e.aluLoad(aluCMP, s64, fp, ctxField(offFPLimit))
		e.jcc(condAE, c.coldExit(exitCallDepth, i))
	}
	ret := e.newLabel()
	e.leaLabel(scratchReg, ret)
	e.store(s64, mem(fp, shadowOffset), scratchReg)
	for k, r := range []uint8{isa.R6, isa.R7, isa.R8, isa.R9} {
		if saved&(1<<r) != 0 {
			e.store(s64, mem(fp, shadowOffset+int32(8+8*k)), xreg[r])
		}
	}
	e.aluImm(aluADD, s64, direct(fp), isa.StackSize)
	e.store(s64, ctxField(offStackHi), fp)
	c.branch(func() { e.jmp(c.insn[target]) })
	e.bind(ret)
	for k, r := range []uint8{isa.R6, isa.R7, isa.R8, isa.R9} {
		if saved&(1<<r) != 0 {
			e.load(s64, xreg[r], mem(fp, shadowOffset+int32(8+8*k)))
		}
	}
}

// frames returns how many stack frames a run of function f may use: one,
// plus the most its callees use; a recursive call graph may use them all.
func (c *compiler) frames(f int, memo map[int]int, active map[int]bool) int {
	if d, ok := memo[f]; ok {
		return d
	}
	if active[f] {
		return isa.MaxCallDepth
	}
	active[f] = true
	d := 1
	for _, callee := range c.callees[f] {
		d = max(d, 1+c.frames(callee, memo, active))
	}
	active[f] = false
	d = min(d, isa.MaxCallDepth)
	memo[f] = d
	return d
}

// calleeSaved returns the set (bit r for register r) of r6-r9 that the
// function at target, or a function it calls, may write: only those need
// saving around a call to it. Saving a register that never changes would
// put a store-load round trip on its dependency chain for nothing.
func (c *compiler) calleeSaved(target int) uint16 {
	if c.writes == nil {
		c.computeWrites()
	}
	return c.writes[target]
}

// computeWrites finds, for every local call target, the callee-saved
// registers the code reachable from it writes, through calls too.
func (c *compiler) computeWrites() {
	insns := c.insns
	n := len(insns)
	c.writes = map[int]uint16{0: 0}
	c.callees = map[int][]int{}
	callees := c.callees
	starts := []int{0} // the entry function too, for its call graph
	for i := 0; i < n; i++ {
		in := insns[i]
		if in.Opcode == isa.OpcodeCall && in.Src == isa.CallLocal {
			t, _ := isa.Target(insns, i)
			if _, ok := c.writes[t]; !ok {
				c.writes[t] = 0
				starts = append(starts, t)
			}
		}
		if in.IsLDDW() {
			i++
		}
	}
	const calleeSavedMask = 1<<isa.R6 | 1<<isa.R7 | 1<<isa.R8 | 1<<isa.R9
	for _, t := range starts {
		seen := make([]bool, n)
		stack := []int{t}
		var w uint16
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if i < 0 || i >= n || seen[i] {
				continue
			}
			seen[i] = true
			in := insns[i]
			next := i + 1
			switch cl := in.Class(); {
			case cl == isa.ClassALU || cl == isa.ClassALU64 || cl == isa.ClassLDX:
				w |= 1 << in.Dst
			case in.IsLDDW():
				w |= 1 << in.Dst
				next = i + 2
			case cl == isa.ClassSTX && in.Mode() == isa.ModeATOMIC && in.Imm&isa.AtomicFETCH != 0:
				w |= 1 << in.Src // (cmpxchg writes r0, not callee-saved)
			case cl == isa.ClassJMP || cl == isa.ClassJMP32:
				switch {
				case in.Opcode == isa.OpcodeExit:
					continue
				case in.Opcode == isa.OpcodeCall && in.Src == isa.CallLocal:
					ct, _ := isa.Target(insns, i)
					callees[t] = append(callees[t], ct)
				case in.Op() == isa.OpJA:
					tt, _ := isa.Target(insns, i)
					stack = append(stack, tt)
					continue
				case in.Op() != isa.OpCALL:
					tt, _ := isa.Target(insns, i)
					stack = append(stack, tt)
				}
			}
			stack = append(stack, next)
		}
		c.writes[t] = w & calleeSavedMask
	}
	for changed := true; changed; {
		changed = false
		for _, t := range starts {
			w := c.writes[t]
			for _, ct := range callees[t] {
				w |= c.writes[ct]
			}
			if w != c.writes[t] {
				c.writes[t] = w
				changed = true
			}
		}
	}
}

func (c *compiler) emitLD(i int, in isa.Instruction) error {
	e := &c.e
	if in.IsLDDW() {
		if in.Src != isa.PseudoImm64 {
			return &isa.InstructionError{Index: i, Insn: in, Reason: fmt.Sprintf("lddw with pseudo source %d must be resolved by a loader before the JIT compiles it", in.Src), Err: ErrUnsupported}
		}
		v := isa.Imm64(c.insns, i)
		if c.opts.BlindConstants {
			key := uint64(c.key())<<32 | uint64(uint32(c.key()))
			e.movImm64(xreg[in.Dst], v^key)
			e.movImm64(scratchReg, key)
			e.aluStore(aluXOR, s64, direct(xreg[in.Dst]), scratchReg)
			return nil
		}
		e.movImm64(xreg[in.Dst], v)
		return nil
	}
	// Legacy packet load: r0 = ntoh(packet[imm (+ src)]); out of bounds,
	// the function returns 0. Offsets are 32-bit; the negative ones in
	// [SKF_LL_OFF, SKF_NET_OFF) address the packet from its start.
	size := isa.SizeBytes(in.Size())
	// ldEnd is the packet length minus the size, possibly negative: in
	// the context, or (FilterVM) in the caller's argument spill area.
	ldEnd := ctxField(offLdEnd + 8*sizeIndex(size))
	if c.filter {
		ldEnd = c.ldEnd[sizeIndex(size)]
	}
	if in.Mode() == isa.ModeABS && in.Imm >= 0 && !c.opts.BlindConstants {
		// A constant offset known to be non-negative: compare it with
		// the bound directly and address the packet with it; no compare
		// at all when earlier loads proved the packet long enough.
		if !c.filter {
			e.aluImm(aluCMP, s64, ldEnd, in.Imm)
			e.jcc(condL, c.ldOOB)
		} else if end := int64(in.Imm) + int64(size); end > c.packetLen[i] {
			// The packet must hold zeroBelow[i] bytes (>= end): a
			// shorter one would make the run return 0 anyway.
			if c.ldLen {
				c.emitLenCheck(max(end, c.zeroBelow[i]))
			} else {
				e.aluImm(aluCMP, s64, ldEnd, int32(max(end, c.zeroBelow[i])-int64(size)))
				e.jcc(condL, c.ldOOB)
			}
		}
		base := budgetReg // FilterVM: the packet base
		if !c.filter {
			base = scratchReg
			e.load(s64, scratchReg, ctxField(offLdBase))
		}
		c.emitLegacyLoad(i, size, mem(base, in.Imm))
		return nil
	}
	if c.filter && c.emitIndexedLoad(i, in, size, ldEnd) {
		return nil
	}
	switch {
	case c.opts.BlindConstants:
		// The offset is a constant too (the kernel blinds it the same
		// way).
		c.blindedImm(s32, scratchReg, in.Imm)
		if in.Mode() == isa.ModeIND {
			e.aluStore(aluADD, s32, direct(scratchReg), xreg[in.Src])
		}
	case in.Mode() == isa.ModeABS:
		e.movImm32(scratchReg, uint32(in.Imm))
	default:
		e.leaSize(s32, scratchReg, mem(xreg[in.Src], in.Imm))
	}
	negative := e.newLabel()
	back := e.newLabel()
	// FilterVM: no negative check where the offset is known not to be.
	nonNegative := c.filter && !c.opts.BlindConstants && c.nonNegative != nil && c.nonNegative[i]
	if !nonNegative {
		e.test(s32, scratchReg, scratchReg)
		e.jcc(condL, negative)
	}
	e.bind(back)
	// The offset is now a non-negative 64-bit value.
	e.aluLoad(aluCMP, s64, scratchReg, ldEnd)
	e.jcc(condG, c.ldOOB)
	if c.filter {
		e.aluStore(aluADD, s64, direct(scratchReg), budgetReg)
	} else {
		e.aluLoad(aluADD, s64, scratchReg, ctxField(offLdBase))
	}
	c.emitLegacyLoad(i, size, mem(scratchReg, 0))
	if nonNegative {
		return nil
	}
	c.cold = append(c.cold, func() {
		e.bind(negative)
		e.aluImm(aluCMP, s32, direct(scratchReg), skfLLOff)
		e.jcc(condL, c.ldOOB)
		e.aluImm(aluCMP, s32, direct(scratchReg), skfNetOff)
		e.jcc(condGE, c.ldOOB)
		e.aluImm(aluSUB, s32, direct(scratchReg), skfLLOff)
		e.jmp(back)
	})
	return nil
}

// emitLegacyLoad loads size bytes at m into r0 in network order and
// clears r1-r5 if the program may still read them.
func (c *compiler) emitLegacyLoad(i, size int, m operand) {
	e := &c.e
	if c.fused != nil && c.fused[i] {
		c.emitFusedLoad(i, size, m)
		return
	}
	switch size {
	case 1:
		e.load(s8, rax, m)
	case 2:
		e.load(s16, rax, m)
		e.shiftImm(shROL, s16, rax, 8)
	case 4:
		e.load(s32, rax, m)
		e.bswap(s32, rax)
	}
	if c.keepArgs[i] {
		c.clearArgs()
	}
}

// Negative legacy packet offsets of classic BPF: SKF_LL_OFF addresses the
// link layer header, which for a plain packet is its first byte; others
// need socket buffer metadata and read as out of bounds.
const (
	skfLLOff  = -0x200000
	skfNetOff = -0x100000
)

// emitAccess emits a memory access of size bytes at base+off, bounds
// checked unless proven safe; do emits the access itself on the operand.
func (c *compiler) emitAccess(i int, base uint8, off int16, size int, write bool, do func(m operand)) {
	e := &c.e
	if base == isa.R10 && int(off) >= -isa.StackSize && int(off)+size <= 0 {
		do(mem(xreg[isa.R10], int32(off))) // inside the current frame
		return
	}
	if c.opts.proven(i) {
		do(mem(xreg[base], int32(off)))
		return
	}
	e.lea(scratchReg, mem(xreg[base], int32(off)+int32(size)))
	c.emitCheck(i, base, size, write, false)
	do(mem(scratchReg, -int32(size)))
}

// emitCheck compares the end address of an access (in r11) with the inline
// regions and exits to Go when it lies in none of them (or, for atomics,
// is misaligned). The access follows it, addressed as [r11-size].
func (c *compiler) emitCheck(i int, base uint8, size int, write, aligned bool) {
	e := &c.e
	order := []int{regionMem, regionStack, regionPacket, regionExtraW}
	if base == isa.R10 {
		order = []int{regionStack, regionMem, regionPacket, regionExtraW}
	}
	if !write {
		order = append(order, regionExtraR)
	}
	if c.filter {
		// FilterVM's runs have no packet region and no helpers to add
		// regions: the memory and the stack are all there is.
		order = []int{regionMem, regionStack}
		if base == isa.R10 {
			order = []int{regionStack, regionMem}
		}
	}
	ok := e.newLabel()
	slow := c.coldExit(exitRegion, i)
	if aligned {
		e.testImm(s32, direct(scratchReg), int32(size-1))
		e.jcc(condNE, slow)
	}
	for k, r := range order {
		ro := offRegions + int32(r)*sizeRegion
		next := slow
		if k < len(order)-1 {
			next = e.newLabel()
		}
		e.aluLoad(aluCMP, s64, scratchReg, ctxField(ro+8*sizeIndex(size)))
		e.jcc(condB, next)
		e.aluLoad(aluCMP, s64, scratchReg, ctxField(ro+offRegionHi))
		if k < len(order)-1 {
			e.jcc(condBE, ok)
			e.bind(next)
		} else {
			e.jcc(condA, slow)
		}
	}
	e.bind(ok)
	c.resume[i] = ok
}

// emitAtomic emits the atomic read-modify-write operations as LOCK-prefixed
// instructions; the fetching and, or and xor are a cmpxchg loop.
func (c *compiler) emitAtomic(i int, in isa.Instruction, size int) {
	e := &c.e
	src := xreg[in.Src]
	// Always address through r11: the cmpxchg loop needs rax, which may
	// be the base. Misaligned atomics fail, as in the interpreter (and a
	// locked access across a cache line would be a split lock).
	e.lea(scratchReg, mem(xreg[in.Dst], int32(in.Offset)+int32(size)))
	if !c.opts.proven(i) {
		c.emitCheck(i, in.Dst, size, true, true)
	}
	m := mem(scratchReg, -int32(size))
	op := in.Imm &^ isa.AtomicFETCH
	fetch := in.Imm&isa.AtomicFETCH != 0
	opc := map[int32]byte{isa.AtomicADD: aluADD, isa.AtomicOR: aluOR, isa.AtomicAND: aluAND, isa.AtomicXOR: aluXOR}[op]
	switch {
	case in.Imm == isa.AtomicCMPXCHG:
		e.lockCmpxchg(size, m, src)
		if size == s32 {
			e.mov(s32, rax, rax) // r0 gets the zero-extended old value
		}
	case in.Imm == isa.AtomicXCHG:
		e.xchgMem(size, m, src)
	case !fetch:
		e.lockALU(opc, size, m, src)
	case op == isa.AtomicADD:
		e.lockXadd(size, m, src)
	default:
		// Fetch and/or/xor: old = *m; loop { new = old op src;
		// cmpxchg } with rax as the comparand and r10 (the budget)
		// borrowed for new.
		e.store(s64, ctxField(offSpill), rax)
		e.store(s64, ctxField(offSpill+8), budgetReg)
		e.load(size, rax, m)
		loop := e.newLabel()
		e.bind(loop)
		e.mov(size, budgetReg, rax)
		if src == rax {
			e.aluLoad(opc, size, budgetReg, ctxField(offSpill))
		} else {
			e.aluStore(opc, size, direct(budgetReg), src)
		}
		e.lockCmpxchg(size, m, budgetReg)
		e.jcc(condNE, loop)
		e.load(s64, budgetReg, ctxField(offSpill+8))
		if src != rax {
			e.mov(size, src, rax)
			e.load(s64, rax, ctxField(offSpill))
		} else if size == s32 {
			e.mov(s32, rax, rax)
		}
	}
}
