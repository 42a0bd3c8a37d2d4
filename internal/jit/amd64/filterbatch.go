//go:build linux && amd64

package amd64

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// The batch entry runs a FilterProgram over a slice of packets in one
// native call: the compiler writes a counted loop around the filter body
// (the program's own jumps stay forward-only), whose exits store the
// verdict and start the next packet's run. Its frame is the caller's
// argument spill area of filterBatchFunc's eight arguments: the three
// legacy-load bounds and g at the single entry's places, then the loop's
// state where registers the program never names (allocLdEnds) do not
// hold it.

// The loop's state (compiler.batchState).
const (
	bCur = iota // address of the next packet's slice header
	bEnd        // address just after the last header
	// bVerdict: address of the verdict of the packet running (or next),
	// what the code returns: RunBatch tells from it how many packets ran.
	bVerdict
)

var batchSpill = [3]operand{mem(rsp, 8+32), mem(rsp, 8+40), mem(rsp, 8+48)}

// sliceHeaderSize is the size of a []byte's header (pointer, len, cap).
const sliceHeaderSize = int32(unsafe.Sizeof([]byte(nil)))

// filterBatchFunc is the Go function type of the batch entry (see
// filterFunc for the ABI): pkts is the address of the first []byte
// header, n their count, verdicts the address of n uint32s. It returns
// the address of the verdict of the packet that stopped the loop (after
// the last one if none did) and that run's status (0: none did). The unused
// arguments reserve the spill area the loop keeps its state in.
type filterBatchFunc func(pkts unsafe.Pointer, n uint64, ctx *runContext, verdicts unsafe.Pointer, _, _, _, _ uint64) (end uintptr, status uint64)

// closedBatch is what the batch entry of a closed FilterProgram is.
func closedBatch(unsafe.Pointer, uint64, *runContext, unsafe.Pointer, uint64, uint64, uint64, uint64) (end uintptr, status uint64) {
	return 0, filterClosed
}

// emitBatchStubs emits the batch entry's loop around the body: the
// verdict's store (runEnd, where exits go unless batchEnd stores it
// inline), the entry and the per-packet start, which falls through to
// instruction 0.
func (c *compiler) emitBatchStubs() {
	e := &c.e
	cur, end, verdict := c.batchState[bCur], c.batchState[bEnd], c.batchState[bVerdict]
	next := e.newLabel()
	c.batchNext = next
	done := e.newLabel()
	tooLarge := e.newLabel()
	e.bind(c.runEnd)
	if verdict.isMem {
		e.load(s64, scratchReg, verdict)
		e.store(s32, mem(scratchReg, 0), rax)
		e.aluImm(aluADD, s64, direct(scratchReg), 4)
		e.store(s64, verdict, scratchReg)
	} else {
		e.store(s32, mem(verdict.r, 0), rax)
		e.aluImm(aluADD, s64, verdict, 4)
	}
	e.jmp(next)
	e.bind(c.ldOOB)
	e.aluStore(aluXOR, s32, direct(rax), rax)
	e.jmp(c.runEnd)
	c.cold = append(c.cold, func() {
		// The verdict cursor before g: it may be in r14.
		e.bind(done)
		e.load(s64, rax, verdict)
		e.load(s64, r14, filterG)
		e.aluStore(aluXOR, s32, direct(rbx), rbx)
		e.ret()
		e.bind(tooLarge)
		e.load(s64, rax, verdict)
		e.load(s64, r14, filterG)
		e.movImm32(rbx, filterTooLarge)
		e.ret()
	})
	c.out.freshEntry = len(e.b)
	// rax: the headers, rbx: their count, rcx: the context, rdi: the
	// verdicts. The state's registers are eBPF registers', so only rdi
	// may be one of them (the verdict cursor's, set first).
	e.mov(s64, ctxReg, rcx)
	e.store(s64, filterG, r14)
	if verdict.isMem {
		e.store(s64, verdict, rdi)
	} else if verdict.r != rdi {
		e.mov(s64, verdict.r, rdi)
	}
	e.imulImm(s64, rbx, rbx, sliceHeaderSize)
	e.aluStore(aluADD, s64, direct(rbx), rax)
	if end.isMem {
		e.store(s64, end, rbx)
	} else {
		e.mov(s64, end.r, rbx)
	}
	if cur.isMem {
		e.store(s64, cur, rax)
	} else {
		e.mov(s64, cur.r, rax)
	}
	// The loop head on a 32-byte boundary (the code is page-aligned):
	// the per-packet path then spans as few decode windows as it can.
	// The padding runs once per call. With the cursors in registers,
	// runs go on at batchBody (batchAdvance), which is then the head.
	inRegs := !cur.isMem && !end.isMem && !verdict.isMem
	if !inRegs {
		e.align(32)
	}
	e.bind(next)
	p := scratchReg
	if cur.isMem {
		e.load(s64, scratchReg, cur)
	} else {
		p = cur.r
	}
	if end.isMem {
		e.aluLoad(aluCMP, s64, p, end)
	} else {
		e.aluStore(aluCMP, s64, direct(p), end.r)
	}
	e.jcc(condAE, done)
	c.batchDone = done
	c.batchBody = e.newLabel()
	if inRegs {
		e.align(32)
	}
	e.bind(c.batchBody)
	e.load(s64, budgetReg, mem(p, 0)) // the packet's address
	e.load(s64, rbx, mem(p, 8))       // its length
	e.aluImm(aluADD, s64, direct(p), sliceHeaderSize)
	if cur.isMem {
		e.store(s64, cur, scratchReg)
	}
	// Packets are at most 2^31-1 bytes, as for the single entry.
	e.aluImm(aluCMP, s64, direct(rbx), 0x7fffffff)
	e.jcc(condA, tooLarge)
	c.emitFilterRunStart()
}

// batchEnd ends a run of the batch entry with r0: inline, the verdict's
// store and the jump to the next packet when the verdict cursor is in a
// register (one jump fewer), else a jump to the shared store (runEnd).
func (c *compiler) batchEnd() {
	e := &c.e
	v := c.batchState[bVerdict]
	if v.isMem {
		e.jmp(c.runEnd)
		return
	}
	e.store(s32, mem(v.r, 0), rax)
	c.batchAdvance()
}

// batchAdvance moves the verdict cursor (in a register) past the verdict
// just stored and goes on with the next packet: with the loop's cursors
// in registers, the loop's test is repeated here (a compare and one
// taken branch instead of a jump back to the test).
func (c *compiler) batchAdvance() {
	e := &c.e
	v, cur, end := c.batchState[bVerdict], c.batchState[bCur], c.batchState[bEnd]
	e.aluImm(aluADD, s64, v, 4)
	if cur.isMem || end.isMem {
		e.jmp(c.batchNext)
		return
	}
	e.aluStore(aluCMP, s64, direct(cur.r), end.r)
	e.jcc(condB, c.batchBody)
	e.jmp(c.batchDone)
}

// loadBatch compiles the batch entry of p (LoadFilter).
func (p *FilterProgram) loadBatch(opts *Options) error {
	comp, err := compileModes(p.insns, opts, true, true)
	if err != nil {
		return err
	}
	code, err := mapCode(comp.code)
	if err != nil {
		return err
	}
	p.bcomp, p.bcode = comp, code
	p.bfv.fn = uintptr(unsafe.Pointer(unsafe.SliceData(code))) + uintptr(comp.freshEntry)
	p.bcleanup = runtime.AddCleanup(p, unmapCode, code)
	return nil
}

// batchChunk bounds the packets of one native call, so that a goroutine
// running a long batch still reaches a safe point (for the collector and
// the scheduler) every few hundred thousand instructions.
func (p *FilterProgram) batchChunk() int {
	return min(max(1<<18/max(len(p.insns), 1), 1), 4096)
}

// ErrBatchLengths is returned by RunBatch when verdicts is shorter than
// pkts.
var ErrBatchLengths = errors.New("jit: fewer verdicts than packets")

// RunBatch runs the program on each packet of pkts in turn, exactly as
// Run would, and stores the low 32 bits of each run's r0 in verdicts[i]
// (which must be at least as long as pkts). The runs go in native calls
// of many packets each: the generated code loops over the packets. It
// stops at the first run that fails and returns the number of packets
// whose runs succeeded (all of them, with a nil error, or the index of
// the failing packet, with Run's error for it); verdicts from that
// index on are left as they were.
func (vm *FilterVM) RunBatch(pkts [][]byte, verdicts []uint32) (int, error) {
	if len(verdicts) < len(pkts) {
		return 0, fmt.Errorf("%w: %d packets, %d verdicts", ErrBatchLengths, len(pkts), len(verdicts))
	}
	chunk := vm.p.batchChunk()
	for off := 0; off < len(pkts); off += chunk {
		part := pkts[off:min(off+chunk, len(pkts))]
		base := unsafe.Pointer(&verdicts[off])
		end, status := vm.batch(unsafe.Pointer(unsafe.SliceData(part)), uint64(len(part)), vm.ctx, base, 0, 0, 0, 0)
		if status != 0 {
			done := 0
			if status != filterClosed {
				done = int((uintptr(end) - uintptr(base)) / 4)
			}
			return off + done, vm.StatusError(status)
		}
	}
	runtime.KeepAlive(pkts)
	runtime.KeepAlive(verdicts)
	return len(pkts), nil
}

// ldEndCandidates are the x86 registers that may hold the legacy loads'
// bounds (and the batch loop's state) when the program never names their
// eBPF registers: none of them is used implicitly by the code generator
// (rax, rdx: division and atomics; rcx: shifts; rbx: the packet length
// while the bounds are computed; r12: the frame pointer). r14 (eBPF r8)
// is Go's g, but an entry that places anything there saves g in the
// spill area first, and every return reloads it (changesG).
var ldEndCandidates = []uint8{isa.R9, isa.R5, isa.R2, isa.R1, isa.R7, isa.R8}

// allocLdEnds places the FilterVM code's legacy-load bounds: in registers
// of eBPF registers the program never names (nor clears: the legacy loads
// clear r1-r5 when a later instruction may read them), else in the
// caller's argument spill area. A bound in a register saves a store per
// run and a load per legacy load.
func (c *compiler) allocLdEnds() {
	var used uint16 = 1<<isa.R0 | 1<<isa.R10 | c.entryLive
	for i, in := range c.insns {
		used |= 1<<(in.Dst&15) | 1<<(in.Src&15)
		if c.keepArgs[i] {
			used |= argRegs
		}
	}
	sizes := c.boundSizes()
	free := ldEndCandidates
	c.batchState = batchSpill
	c.ldLen = c.lenBounds(used)
	for k := range c.ldEnd {
		c.ldEnd[k] = filterLdEnd(k)
		if !sizes[k] || c.ldLen {
			continue
		}
		for len(free) > 0 && used&(1<<free[0]) != 0 {
			free = free[1:]
		}
		if len(free) > 0 {
			c.ldEnd[k] = direct(xreg[free[0]])
			free = free[1:]
		}
	}
	if !c.batch {
		return
	}
	// The batch loop's state, most used first.
	for _, k := range []int{bCur, bVerdict, bEnd} {
		for len(free) > 0 && used&(1<<free[0]) != 0 {
			free = free[1:]
		}
		if len(free) > 0 {
			c.batchState[k] = direct(xreg[free[0]])
			free = free[1:]
		}
	}
}

// boundSizes says which legacy-load sizes (1, 2, 4 bytes) a bounds check
// of the filter entry's code uses: an absolute load that earlier checks
// cover (packetLen) needs none, so its size may need no bound at all.
func (c *compiler) boundSizes() [3]bool {
	var sizes [3]bool
	for i, in := range c.insns {
		if in.Class() != isa.ClassLD || in.IsLDDW() || (i > 0 && c.insns[i-1].IsLDDW()) {
			continue
		}
		size := isa.SizeBytes(in.Size())
		if in.Mode() == isa.ModeABS && in.Imm >= 0 && !c.opts.BlindConstants &&
			int64(in.Imm)+int64(size) <= c.packetLen[i] {
			continue // emitLD emits no check here
		}
		sizes[sizeIndex(size)] = true
	}
	return sizes
}
