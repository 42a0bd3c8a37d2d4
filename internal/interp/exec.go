package interp

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// Negative packet offsets of classic BPF: SKF_LL_OFF addresses the link
// layer header, which for a plain packet buffer is its first byte.
const (
	skfLLOff  = -0x200000
	skfNetOff = -0x100000
)

// The interpreter runs in two layers. inner is the hot loop: it executes
// the common instructions and calls no function at all, so the Go compiler
// keeps its state in machine registers instead of spilling it around
// calls. Whatever needs Go calls (helpers, atomics, legacy packet loads
// outside the packet, memory outside the stack and the last region used,
// errors) makes inner return to the driver, loop, which handles that one
// instruction and re-enters inner. So does a segment the budget left
// cannot pay for (see inner): loop takes the next chunk of the budget,
// checking the context, or, when the budget ends inside the segment, runs
// exactly the instructions it still allows, one at a time (stepOne). A run
// starts in inner (VM.run) and enters loop only if inner stops before the
// entry function exits.

// exec runs the function at slot pc on a new frame (the caller checked the
// depth) until that function exits, and returns its r0.
func (vm *VM) exec(pc int, r1, r2, r3, r4, r5 uint64) (uint64, error) {
	vm.depth++
	vm.deepest = max(vm.deepest, vm.depth)
	vm.stackLen = uint64(vm.depth) * isa.StackSize

	// Registers r0-r10; 16 entries so that indexing with a 4-bit field
	// needs no bounds check.
	var regs [16]uint64
	regs[1], regs[2], regs[3], regs[4], regs[5] = r1, r2, r3, r4, r5
	regs[10] = vm.stackLo + vm.stackLen
	return vm.loop(&regs, pc, stopNone, vm.depth)
}

// loop is the driver: it runs the function at depth base from slot pc
// until it exits, and returns its r0. why says why inner last stopped at
// pc, or is stopNone to enter inner first. loop shares the budget with the
// rest of the run through vm.left / vm.remaining, which it keeps in a
// local while running and writes back whenever Go code that may run bpf
// code (a helper) or the caller gets control.
func (vm *VM) loop(regs *[16]uint64, pc int, why stop, base int) (uint64, error) {
	plain, segs := vm.prog.plain, vm.prog.segs
	codeP, segsP := vm.prog.codeP, vm.prog.segsP
	left := vm.left
	for {
		if why == stopNone {
			why = stopStarved
			if !vm.stepAll {
				pc, left, why = vm.inner(regs, codeP, segsP, pc, left, base)
				if why == stopExit {
					vm.left = left
					return regs[0], nil
				}
			}
		}
		if why == stopStarved {
			// The segment at pc costs more than is left of the chunk.
			need := uint64(segs[pc])
			if vm.stepAll {
				need = 1
			}
			if left < need {
				var err error
				if left, err = vm.topUp(left, need); err != nil {
					reason := fmt.Sprintf("the run reached its budget of %d instructions", vm.runBudget)
					if err == engine.ErrCancelled {
						reason = "run cancelled: " + vm.ctx.Err().Error()
					}
					return 0, vm.stop(left, pc, err, reason)
				}
			}
			if left >= uint64(segs[pc]) && !vm.stepAll {
				why = stopNone
				continue
			}
			// The budget ends inside this segment: run exactly what it
			// allows, one instruction at a time.
			switch next, how := vm.stepOne(regs, pc, base); how {
			case stepped:
				pc = next
				left--
				why = stopNone
				continue
			case stepExited:
				vm.left = left - 1
				return regs[0], nil
			}
			// An instruction inner leaves to the driver: handled below.
		}
		why = stopNone
		in := &plain[pc] // the instruction at pc alone, even where code fuses it
		if !isLoadStore(in.kind) {
			left-- // the instruction runs here; a load or store reruns in inner
		}
		switch in.kind {
		case opLdxB, opLdxH, opLdxW, opLdxDW, opLdxsB, opLdxsH, opLdxsW:
			// Outside the stack and the cached region: search all regions;
			// on success the region is cached and inner runs the load.
			addr := regs[in.src&15] + uint64(int64(in.off))
			n := loadSize(in.kind)
			if vm.accessRegion(addr, n, false) == nil {
				return 0, vm.memFault(left-1, pc, addr, n, false)
			}
		case opStB, opStH, opStW, opStDW, opStxB, opStxH, opStxW, opStxDW:
			addr := regs[in.dst&15] + uint64(int64(in.off))
			n := storeSize(in.kind)
			if vm.accessRegion(addr, n, true) == nil {
				return 0, vm.memFault(left-1, pc, addr, n, true)
			}

		case opAtomAdd32, opAtomOr32, opAtomAnd32, opAtomXor32,
			opAtomFetchAdd32, opAtomFetchOr32, opAtomFetchAnd32, opAtomFetchXor32,
			opAtomXchg32, opAtomCmpxchg32:
			addr := regs[in.dst&15] + uint64(int64(in.off))
			p := vm.access(addr, 4, true)
			if p == nil || addr&3 != 0 {
				return 0, vm.memFault(left, pc, addr, 4, true)
			}
			atomic32(in.kind, (*uint32)(p), &regs[in.src&15], &regs[0])
			pc++
		case opAtomAdd64, opAtomOr64, opAtomAnd64, opAtomXor64,
			opAtomFetchAdd64, opAtomFetchOr64, opAtomFetchAnd64, opAtomFetchXor64,
			opAtomXchg64, opAtomCmpxchg64:
			addr := regs[in.dst&15] + uint64(int64(in.off))
			p := vm.access(addr, 8, true)
			if p == nil || addr&7 != 0 {
				return 0, vm.memFault(left, pc, addr, 8, true)
			}
			atomic64(in.kind, (*uint64)(p), &regs[in.src&15], &regs[0])
			pc++

		case opLdAbsB, opLdAbsH, opLdAbsW, opLdIndB, opLdIndH, opLdIndW:
			off := uint32(in.imm)
			if in.kind >= opLdIndB {
				off += uint32(regs[in.src&15])
			}
			v, ok := vm.loadPacket(int32(off), in.kind)
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			regs[0] = v
			pc++
			if !ok {
				// As the kernel: a load outside the packet returns 0 from
				// the current function.
				var done bool
				if pc, done = vm.ret(regs, base); done {
					vm.left = left
					return regs[0], nil
				}
			}

		case opCall, opMapLookupArray, opMapLookupHash, opMapUpdate, opMapDelete:
			if in.kind != opCall && vm.mapOp(regs, in) {
				pc++
				break
			}
			vm.left = left
			vm.calledHelper = true
			r0, err := vm.prog.helpers[in.off](vm, regs[1], regs[2], regs[3], regs[4], regs[5])
			left = vm.left
			if err != nil {
				return 0, vm.helperFault(left, pc, int64(vm.prog.insns[pc].Imm), err)
			}
			regs[0] = r0
			pc++
		case opCallX:
			id := regs[in.dst&15]
			h := vm.prog.byID[int32(id)]
			if h == nil || uint64(int64(int32(id))) != id {
				return 0, vm.stop(left, pc, engine.ErrUnknownHelper, fmt.Sprintf("callx: r%d = %d is not a known helper id", in.dst, int64(id)))
			}
			vm.left = left
			vm.calledHelper = true
			r0, err := h(vm, regs[1], regs[2], regs[3], regs[4], regs[5])
			left = vm.left
			if err != nil {
				return 0, vm.helperFault(left, pc, int64(id), err)
			}
			regs[0] = r0
			pc++
		case opCallLocal: // inner returns only when the depth is at the limit
			return 0, vm.stop(left, pc, engine.ErrCallDepth, fmt.Sprintf("the call would make frame %d; the limit is %d frames", vm.depth+1, isa.MaxCallDepth))
		case opExit: // not reached today: inner and stepOne run every exit
			var done bool
			if pc, done = vm.ret(regs, base); done {
				vm.left = left
				return regs[0], nil
			}
		default: // opInvalid: Load makes sure no jump lands here
			return 0, vm.stop(left, pc, engine.ErrOutOfBounds, "execution reached the second half of an lddw")
		}
	}
}

// inner executes instructions from slot pc until it meets one it leaves to
// the driver, and returns that slot and the budget left, not counting that
// instruction (stopSlow), or stopStarved if the budget left cannot pay for
// the segment starting at pc, or stopExit when the function at depth base
// (the one the driver runs) exits. It must call no function (see above).
//
// The budget is paid a segment at a time: segs[pc] is the number of
// instructions from pc to the next control transfer (jump, local call,
// exit) inclusive, charged when execution arrives at pc from a control
// transfer or enters inner, so the instructions in between run without a
// check. Leaving early refunds segs[pc], what was charged but not run.
//
// codeP and segsP point to the first op and segment cost of the code
// (Program.codeP, segsP): two words where slices would take six and push
// the last arguments onto the stack (a seventh of a trivial run's entry).
func (vm *VM) inner(regs *[16]uint64, codeP, segsP unsafe.Pointer, pc int, left uint64, base int) (pc2 int, left2 uint64, why stop) {
	// Every slot pc can reach is inside code: Validate checked the jump and
	// call targets and that the last instruction cannot fall through, and
	// Call checks its entry point. So indexing skips the bounds checks.
	_ = regs[0] // one nil check here instead of one per register access
	if n := uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))); left >= n {
		left -= n
	} else {
		return pc, left, stopStarved
	}
dispatch:
	for {
		in := (*op)(unsafe.Add(codeP, uintptr(pc)*unsafe.Sizeof(op{})))
		switch in.kind {
		case opInvalid: // a case, so the jump table starts at 0
			return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
		case opAdd64K:
			regs[in.dst&15] += in.imm
			pc++
			continue
		case opAdd64X:
			regs[in.dst&15] += regs[in.src&15]
			pc++
			continue
		case opSub64K:
			regs[in.dst&15] -= in.imm
			pc++
			continue
		case opSub64X:
			regs[in.dst&15] -= regs[in.src&15]
			pc++
			continue
		case opMul64K:
			regs[in.dst&15] *= in.imm
			pc++
			continue
		case opMul64X:
			regs[in.dst&15] *= regs[in.src&15]
			pc++
			continue
		case opDiv64K:
			regs[in.dst&15] = div64(regs[in.dst&15], in.imm)
			pc++
			continue
		case opDiv64X:
			regs[in.dst&15] = div64(regs[in.dst&15], regs[in.src&15])
			pc++
			continue
		case opSdiv64K:
			regs[in.dst&15] = sdiv64(regs[in.dst&15], in.imm)
			pc++
			continue
		case opSdiv64X:
			regs[in.dst&15] = sdiv64(regs[in.dst&15], regs[in.src&15])
			pc++
			continue
		case opMod64K:
			regs[in.dst&15] = mod64(regs[in.dst&15], in.imm)
			pc++
			continue
		case opMod64X:
			regs[in.dst&15] = mod64(regs[in.dst&15], regs[in.src&15])
			pc++
			continue
		case opSmod64K:
			regs[in.dst&15] = smod64(regs[in.dst&15], in.imm)
			pc++
			continue
		case opSmod64X:
			regs[in.dst&15] = smod64(regs[in.dst&15], regs[in.src&15])
			pc++
			continue
		case opOr64K:
			regs[in.dst&15] |= in.imm
			pc++
			continue
		case opOr64X:
			regs[in.dst&15] |= regs[in.src&15]
			pc++
			continue
		case opAnd64K:
			regs[in.dst&15] &= in.imm
			pc++
			continue
		case opAnd64X:
			regs[in.dst&15] &= regs[in.src&15]
			pc++
			continue
		case opLsh64K:
			regs[in.dst&15] <<= in.imm & 63
			pc++
			continue
		case opLsh64X:
			regs[in.dst&15] <<= regs[in.src&15] & 63
			pc++
			continue
		case opRsh64K:
			regs[in.dst&15] >>= in.imm & 63
			pc++
			continue
		case opRsh64X:
			regs[in.dst&15] >>= regs[in.src&15] & 63
			pc++
			continue
		case opArsh64K:
			regs[in.dst&15] = uint64(int64(regs[in.dst&15]) >> (in.imm & 63))
			pc++
			continue
		case opArsh64X:
			regs[in.dst&15] = uint64(int64(regs[in.dst&15]) >> (regs[in.src&15] & 63))
			pc++
			continue
		case opXor64K:
			regs[in.dst&15] ^= in.imm
			pc++
			continue
		case opXor64X:
			regs[in.dst&15] ^= regs[in.src&15]
			pc++
			continue
		case opNeg64:
			regs[in.dst&15] = -regs[in.dst&15]
			pc++
			continue
		case opMov64K:
			regs[in.dst&15] = in.imm
			pc++
			continue
		case opMov64X:
			regs[in.dst&15] = regs[in.src&15]
			pc++
			continue
		case opMovsx64s8:
			regs[in.dst&15] = uint64(int64(int8(regs[in.src&15])))
			pc++
			continue
		case opMovsx64s16:
			regs[in.dst&15] = uint64(int64(int16(regs[in.src&15])))
			pc++
			continue
		case opMovsx64s32:
			regs[in.dst&15] = uint64(int64(int32(regs[in.src&15])))
			pc++
			continue

		case opAdd32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) + uint32(in.imm))
			pc++
			continue
		case opAdd32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) + uint32(regs[in.src&15]))
			pc++
			continue
		case opSub32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) - uint32(in.imm))
			pc++
			continue
		case opSub32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) - uint32(regs[in.src&15]))
			pc++
			continue
		case opMul32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) * uint32(in.imm))
			pc++
			continue
		case opMul32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) * uint32(regs[in.src&15]))
			pc++
			continue
		case opDiv32K:
			regs[in.dst&15] = uint64(div32(uint32(regs[in.dst&15]), uint32(in.imm)))
			pc++
			continue
		case opDiv32X:
			regs[in.dst&15] = uint64(div32(uint32(regs[in.dst&15]), uint32(regs[in.src&15])))
			pc++
			continue
		case opSdiv32K:
			regs[in.dst&15] = uint64(sdiv32(uint32(regs[in.dst&15]), uint32(in.imm)))
			pc++
			continue
		case opSdiv32X:
			regs[in.dst&15] = uint64(sdiv32(uint32(regs[in.dst&15]), uint32(regs[in.src&15])))
			pc++
			continue
		case opMod32K:
			regs[in.dst&15] = uint64(mod32(uint32(regs[in.dst&15]), uint32(in.imm)))
			pc++
			continue
		case opMod32X:
			regs[in.dst&15] = uint64(mod32(uint32(regs[in.dst&15]), uint32(regs[in.src&15])))
			pc++
			continue
		case opSmod32K:
			regs[in.dst&15] = uint64(smod32(uint32(regs[in.dst&15]), uint32(in.imm)))
			pc++
			continue
		case opSmod32X:
			regs[in.dst&15] = uint64(smod32(uint32(regs[in.dst&15]), uint32(regs[in.src&15])))
			pc++
			continue
		case opOr32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) | uint32(in.imm))
			pc++
			continue
		case opOr32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) | uint32(regs[in.src&15]))
			pc++
			continue
		case opAnd32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) & uint32(in.imm))
			pc++
			continue
		case opAnd32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) & uint32(regs[in.src&15]))
			pc++
			continue
		case opLsh32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) << (in.imm & 31))
			pc++
			continue
		case opLsh32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) << (regs[in.src&15] & 31))
			pc++
			continue
		case opRsh32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) >> (in.imm & 31))
			pc++
			continue
		case opRsh32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) >> (regs[in.src&15] & 31))
			pc++
			continue
		case opArsh32K:
			regs[in.dst&15] = uint64(uint32(int32(regs[in.dst&15]) >> (in.imm & 31)))
			pc++
			continue
		case opArsh32X:
			regs[in.dst&15] = uint64(uint32(int32(regs[in.dst&15]) >> (regs[in.src&15] & 31)))
			pc++
			continue
		case opXor32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) ^ uint32(in.imm))
			pc++
			continue
		case opXor32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) ^ uint32(regs[in.src&15]))
			pc++
			continue
		case opNeg32:
			regs[in.dst&15] = uint64(-uint32(regs[in.dst&15]))
			pc++
			continue
		case opMov32K:
			regs[in.dst&15] = uint64(uint32(in.imm))
			pc++
			continue
		case opMov32X:
			regs[in.dst&15] = uint64(uint32(regs[in.src&15]))
			pc++
			continue
		case opMovsx32s8:
			regs[in.dst&15] = uint64(uint32(int32(int8(regs[in.src&15]))))
			pc++
			continue
		case opMovsx32s16:
			regs[in.dst&15] = uint64(uint32(int32(int16(regs[in.src&15]))))
			pc++
			continue

		case opSwap16:
			regs[in.dst&15] = uint64(bits.ReverseBytes16(uint16(regs[in.dst&15])))
			pc++
			continue
		case opSwap32:
			regs[in.dst&15] = uint64(bits.ReverseBytes32(uint32(regs[in.dst&15])))
			pc++
			continue
		case opSwap64:
			regs[in.dst&15] = bits.ReverseBytes64(regs[in.dst&15])
			pc++
			continue
		case opZext16:
			regs[in.dst&15] = uint64(uint16(regs[in.dst&15]))
			pc++
			continue
		case opZext32:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]))
			pc++
			continue
		case opNop:
			pc++
			continue

		case opLDDW:
			regs[in.dst&15] = in.imm
			pc += 2
			continue

		case opLdxB:
			p := unsafe.Pointer(nil) // in the live stack, or the region of the last read
			if a := regs[in.src&15] + uint64(int64(in.off)) - vm.stackLo; a <= vm.stackLen-1 {
				p = unsafe.Add(vm.stackPtr, a)
			} else if a := regs[in.src&15] + uint64(int64(in.off)) - vm.cacheR.lo; a < vm.cacheR.size && vm.cacheR.size-a >= 1 {
				p = unsafe.Add(vm.cacheR.ptr, a)
			}
			if p == nil {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			regs[in.dst&15] = uint64(*(*uint8)(p))
			pc++
			continue
		case opLdxH:
			p := unsafe.Pointer(nil) // in the live stack, or the region of the last read
			if a := regs[in.src&15] + uint64(int64(in.off)) - vm.stackLo; a <= vm.stackLen-2 {
				p = unsafe.Add(vm.stackPtr, a)
			} else if a := regs[in.src&15] + uint64(int64(in.off)) - vm.cacheR.lo; a < vm.cacheR.size && vm.cacheR.size-a >= 2 {
				p = unsafe.Add(vm.cacheR.ptr, a)
			}
			if p == nil {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			regs[in.dst&15] = uint64(*(*uint16)(p))
			pc++
			continue
		case opLdxW:
			p := unsafe.Pointer(nil) // in the live stack, or the region of the last read
			if a := regs[in.src&15] + uint64(int64(in.off)) - vm.stackLo; a <= vm.stackLen-4 {
				p = unsafe.Add(vm.stackPtr, a)
			} else if a := regs[in.src&15] + uint64(int64(in.off)) - vm.cacheR.lo; a < vm.cacheR.size && vm.cacheR.size-a >= 4 {
				p = unsafe.Add(vm.cacheR.ptr, a)
			}
			if p == nil {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			regs[in.dst&15] = uint64(*(*uint32)(p))
			pc++
			continue
		case opLdxDW:
			p := unsafe.Pointer(nil) // in the live stack, or the region of the last read
			if a := regs[in.src&15] + uint64(int64(in.off)) - vm.stackLo; a <= vm.stackLen-8 {
				p = unsafe.Add(vm.stackPtr, a)
			} else if a := regs[in.src&15] + uint64(int64(in.off)) - vm.cacheR.lo; a < vm.cacheR.size && vm.cacheR.size-a >= 8 {
				p = unsafe.Add(vm.cacheR.ptr, a)
			}
			if p == nil {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			regs[in.dst&15] = *(*uint64)(p)
			pc++
			continue
		case opLdxsB:
			p := unsafe.Pointer(nil) // in the live stack, or the region of the last read
			if a := regs[in.src&15] + uint64(int64(in.off)) - vm.stackLo; a <= vm.stackLen-1 {
				p = unsafe.Add(vm.stackPtr, a)
			} else if a := regs[in.src&15] + uint64(int64(in.off)) - vm.cacheR.lo; a < vm.cacheR.size && vm.cacheR.size-a >= 1 {
				p = unsafe.Add(vm.cacheR.ptr, a)
			}
			if p == nil {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			regs[in.dst&15] = uint64(int64(*(*int8)(p)))
			pc++
			continue
		case opLdxsH:
			p := unsafe.Pointer(nil) // in the live stack, or the region of the last read
			if a := regs[in.src&15] + uint64(int64(in.off)) - vm.stackLo; a <= vm.stackLen-2 {
				p = unsafe.Add(vm.stackPtr, a)
			} else if a := regs[in.src&15] + uint64(int64(in.off)) - vm.cacheR.lo; a < vm.cacheR.size && vm.cacheR.size-a >= 2 {
				p = unsafe.Add(vm.cacheR.ptr, a)
			}
			if p == nil {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			regs[in.dst&15] = uint64(int64(*(*int16)(p)))
			pc++
			continue
		case opLdxsW:
			p := unsafe.Pointer(nil) // in the live stack, or the region of the last read
			if a := regs[in.src&15] + uint64(int64(in.off)) - vm.stackLo; a <= vm.stackLen-4 {
				p = unsafe.Add(vm.stackPtr, a)
			} else if a := regs[in.src&15] + uint64(int64(in.off)) - vm.cacheR.lo; a < vm.cacheR.size && vm.cacheR.size-a >= 4 {
				p = unsafe.Add(vm.cacheR.ptr, a)
			}
			if p == nil {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			regs[in.dst&15] = uint64(int64(*(*int32)(p)))
			pc++
			continue
		case opStB:
			p := unsafe.Pointer(nil) // in the live stack (marked dirty), or the region of the last write
			if a := regs[in.dst&15] + uint64(int64(in.off)) - vm.stackLo; a <= vm.stackLen-1 {
				if a < vm.dirty {
					vm.dirty = a
				}
				p = unsafe.Add(vm.stackPtr, a)
			} else if a := regs[in.dst&15] + uint64(int64(in.off)) - vm.cacheW.lo; a < vm.cacheW.size && vm.cacheW.size-a >= 1 {
				p = unsafe.Add(vm.cacheW.ptr, a)
			}
			if p == nil {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			*(*uint8)(p) = uint8(in.imm)
			pc++
			continue
		case opStxB:
			p := unsafe.Pointer(nil) // in the live stack (marked dirty), or the region of the last write
			if a := regs[in.dst&15] + uint64(int64(in.off)) - vm.stackLo; a <= vm.stackLen-1 {
				if a < vm.dirty {
					vm.dirty = a
				}
				p = unsafe.Add(vm.stackPtr, a)
			} else if a := regs[in.dst&15] + uint64(int64(in.off)) - vm.cacheW.lo; a < vm.cacheW.size && vm.cacheW.size-a >= 1 {
				p = unsafe.Add(vm.cacheW.ptr, a)
			}
			if p == nil {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			*(*uint8)(p) = uint8(regs[in.src&15])
			pc++
			continue
		case opStH:
			p := unsafe.Pointer(nil) // in the live stack (marked dirty), or the region of the last write
			if a := regs[in.dst&15] + uint64(int64(in.off)) - vm.stackLo; a <= vm.stackLen-2 {
				if a < vm.dirty {
					vm.dirty = a
				}
				p = unsafe.Add(vm.stackPtr, a)
			} else if a := regs[in.dst&15] + uint64(int64(in.off)) - vm.cacheW.lo; a < vm.cacheW.size && vm.cacheW.size-a >= 2 {
				p = unsafe.Add(vm.cacheW.ptr, a)
			}
			if p == nil {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			*(*uint16)(p) = uint16(in.imm)
			pc++
			continue
		case opStxH:
			p := unsafe.Pointer(nil) // in the live stack (marked dirty), or the region of the last write
			if a := regs[in.dst&15] + uint64(int64(in.off)) - vm.stackLo; a <= vm.stackLen-2 {
				if a < vm.dirty {
					vm.dirty = a
				}
				p = unsafe.Add(vm.stackPtr, a)
			} else if a := regs[in.dst&15] + uint64(int64(in.off)) - vm.cacheW.lo; a < vm.cacheW.size && vm.cacheW.size-a >= 2 {
				p = unsafe.Add(vm.cacheW.ptr, a)
			}
			if p == nil {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			*(*uint16)(p) = uint16(regs[in.src&15])
			pc++
			continue
		case opStW:
			p := unsafe.Pointer(nil) // in the live stack (marked dirty), or the region of the last write
			if a := regs[in.dst&15] + uint64(int64(in.off)) - vm.stackLo; a <= vm.stackLen-4 {
				if a < vm.dirty {
					vm.dirty = a
				}
				p = unsafe.Add(vm.stackPtr, a)
			} else if a := regs[in.dst&15] + uint64(int64(in.off)) - vm.cacheW.lo; a < vm.cacheW.size && vm.cacheW.size-a >= 4 {
				p = unsafe.Add(vm.cacheW.ptr, a)
			}
			if p == nil {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			*(*uint32)(p) = uint32(in.imm)
			pc++
			continue
		case opStxW:
			p := unsafe.Pointer(nil) // in the live stack (marked dirty), or the region of the last write
			if a := regs[in.dst&15] + uint64(int64(in.off)) - vm.stackLo; a <= vm.stackLen-4 {
				if a < vm.dirty {
					vm.dirty = a
				}
				p = unsafe.Add(vm.stackPtr, a)
			} else if a := regs[in.dst&15] + uint64(int64(in.off)) - vm.cacheW.lo; a < vm.cacheW.size && vm.cacheW.size-a >= 4 {
				p = unsafe.Add(vm.cacheW.ptr, a)
			}
			if p == nil {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			*(*uint32)(p) = uint32(regs[in.src&15])
			pc++
			continue
		case opStDW:
			p := unsafe.Pointer(nil) // in the live stack (marked dirty), or the region of the last write
			if a := regs[in.dst&15] + uint64(int64(in.off)) - vm.stackLo; a <= vm.stackLen-8 {
				if a < vm.dirty {
					vm.dirty = a
				}
				p = unsafe.Add(vm.stackPtr, a)
			} else if a := regs[in.dst&15] + uint64(int64(in.off)) - vm.cacheW.lo; a < vm.cacheW.size && vm.cacheW.size-a >= 8 {
				p = unsafe.Add(vm.cacheW.ptr, a)
			}
			if p == nil {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			*(*uint64)(p) = in.imm
			pc++
			continue
		case opStxDW:
			p := unsafe.Pointer(nil) // in the live stack (marked dirty), or the region of the last write
			if a := regs[in.dst&15] + uint64(int64(in.off)) - vm.stackLo; a <= vm.stackLen-8 {
				if a < vm.dirty {
					vm.dirty = a
				}
				p = unsafe.Add(vm.stackPtr, a)
			} else if a := regs[in.dst&15] + uint64(int64(in.off)) - vm.cacheW.lo; a < vm.cacheW.size && vm.cacheW.size-a >= 8 {
				p = unsafe.Add(vm.cacheW.ptr, a)
			}
			if p == nil {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			*(*uint64)(p) = regs[in.src&15]
			pc++
			continue

		// Legacy packet loads inside the packet; the others (negative
		// offsets, outside the packet: the function returns 0) go to the driver.
		// A negative offset, sign-extended, is never below pktLen.
		case opLdAbsB:
			if o := in.imm; o < vm.pktLen {
				regs[0] = uint64(*(*uint8)(unsafe.Add(vm.pktPtr, o)))
				regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
				pc++
				continue
			}
			return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
		case opLdAbsH:
			if o := in.imm; o < vm.pktLen && vm.pktLen-o >= 2 {
				regs[0] = load16BE(unsafe.Add(vm.pktPtr, o))
				regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
				pc++
				continue
			}
			return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
		case opLdAbsW:
			if o := in.imm; o < vm.pktLen && vm.pktLen-o >= 4 {
				q := unsafe.Add(vm.pktPtr, o)
				regs[0] = uint64(*(*uint8)(q))<<24 | uint64(*(*uint8)(unsafe.Add(q, 1)))<<16 |
					uint64(*(*uint8)(unsafe.Add(q, 2)))<<8 | uint64(*(*uint8)(unsafe.Add(q, 3)))
				regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
				pc++
				continue
			}
			return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
		case opLdIndB:
			if o := indOffset(in.imm, regs[in.src&15]); o < vm.pktLen {
				regs[0] = uint64(*(*uint8)(unsafe.Add(vm.pktPtr, o)))
				regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
				pc++
				continue
			}
			return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
		case opLdIndH:
			if o := indOffset(in.imm, regs[in.src&15]); o < vm.pktLen && vm.pktLen-o >= 2 {
				regs[0] = load16BE(unsafe.Add(vm.pktPtr, o))
				regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
				pc++
				continue
			}
			return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
		case opLdIndW:
			if o := indOffset(in.imm, regs[in.src&15]); o < vm.pktLen && vm.pktLen-o >= 4 {
				q := unsafe.Add(vm.pktPtr, o)
				regs[0] = uint64(*(*uint8)(q))<<24 | uint64(*(*uint8)(unsafe.Add(q, 1)))<<16 |
					uint64(*(*uint8)(unsafe.Add(q, 2)))<<8 | uint64(*(*uint8)(unsafe.Add(q, 3)))
				regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
				pc++
				continue
			}
			return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow

		case opJA:
			pc = int(in.off)
		case opJeq64K:
			if regs[in.dst&15] == in.imm {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJeq64X:
			if regs[in.dst&15] == regs[in.src&15] {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJeq32K:
			if uint32(regs[in.dst&15]) == uint32(in.imm) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJeq32X:
			if uint32(regs[in.dst&15]) == uint32(regs[in.src&15]) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJne64K:
			if regs[in.dst&15] != in.imm {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJne64X:
			if regs[in.dst&15] != regs[in.src&15] {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJne32K:
			if uint32(regs[in.dst&15]) != uint32(in.imm) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJne32X:
			if uint32(regs[in.dst&15]) != uint32(regs[in.src&15]) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJgt64K:
			if regs[in.dst&15] > in.imm {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJgt64X:
			if regs[in.dst&15] > regs[in.src&15] {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJgt32K:
			if uint32(regs[in.dst&15]) > uint32(in.imm) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJgt32X:
			if uint32(regs[in.dst&15]) > uint32(regs[in.src&15]) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJge64K:
			if regs[in.dst&15] >= in.imm {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJge64X:
			if regs[in.dst&15] >= regs[in.src&15] {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJge32K:
			if uint32(regs[in.dst&15]) >= uint32(in.imm) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJge32X:
			if uint32(regs[in.dst&15]) >= uint32(regs[in.src&15]) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJlt64K:
			if regs[in.dst&15] < in.imm {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJlt64X:
			if regs[in.dst&15] < regs[in.src&15] {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJlt32K:
			if uint32(regs[in.dst&15]) < uint32(in.imm) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJlt32X:
			if uint32(regs[in.dst&15]) < uint32(regs[in.src&15]) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJle64K:
			if regs[in.dst&15] <= in.imm {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJle64X:
			if regs[in.dst&15] <= regs[in.src&15] {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJle32K:
			if uint32(regs[in.dst&15]) <= uint32(in.imm) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJle32X:
			if uint32(regs[in.dst&15]) <= uint32(regs[in.src&15]) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJsgt64K:
			if int64(regs[in.dst&15]) > int64(in.imm) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJsgt64X:
			if int64(regs[in.dst&15]) > int64(regs[in.src&15]) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJsgt32K:
			if int32(regs[in.dst&15]) > int32(in.imm) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJsgt32X:
			if int32(regs[in.dst&15]) > int32(regs[in.src&15]) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJsge64K:
			if int64(regs[in.dst&15]) >= int64(in.imm) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJsge64X:
			if int64(regs[in.dst&15]) >= int64(regs[in.src&15]) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJsge32K:
			if int32(regs[in.dst&15]) >= int32(in.imm) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJsge32X:
			if int32(regs[in.dst&15]) >= int32(regs[in.src&15]) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJslt64K:
			if int64(regs[in.dst&15]) < int64(in.imm) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJslt64X:
			if int64(regs[in.dst&15]) < int64(regs[in.src&15]) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJslt32K:
			if int32(regs[in.dst&15]) < int32(in.imm) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJslt32X:
			if int32(regs[in.dst&15]) < int32(regs[in.src&15]) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJsle64K:
			if int64(regs[in.dst&15]) <= int64(in.imm) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJsle64X:
			if int64(regs[in.dst&15]) <= int64(regs[in.src&15]) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJsle32K:
			if int32(regs[in.dst&15]) <= int32(in.imm) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJsle32X:
			if int32(regs[in.dst&15]) <= int32(regs[in.src&15]) {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJset64K:
			if regs[in.dst&15]&in.imm != 0 {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJset64X:
			if regs[in.dst&15]&regs[in.src&15] != 0 {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJset32K:
			if uint32(regs[in.dst&15])&uint32(in.imm) != 0 {
				pc = int(in.off)
			} else {
				pc++
			}
		case opJset32X:
			if uint32(regs[in.dst&15])&uint32(regs[in.src&15]) != 0 {
				pc = int(in.off)
			} else {
				pc++
			}

		// Superinstructions (fuse.go). in2 is the op of the second
		// instruction, in the next slot.
		case opMovXAddK:
			regs[in.dst&15] = regs[in.src&15] + in.imm
			pc += 2
			continue
		case opMovXAddKLddw:
			regs[in.dst&15] = regs[in.src&15] + in.imm
			in3 := (*op)(unsafe.Add(unsafe.Pointer(in), 2*unsafe.Sizeof(op{})))
			regs[in3.dst&15] = in3.imm
			pc += 4
			continue
		case opMov32KStxW:
			regs[in.dst&15] = uint64(uint32(in.imm))
			in2 := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{})))
			p := unsafe.Pointer(nil) // in the live stack (marked dirty), or the region of the last write
			if a := regs[in2.dst&15] + uint64(int64(in2.off)) - vm.stackLo; a <= vm.stackLen-4 {
				if a < vm.dirty {
					vm.dirty = a
				}
				p = unsafe.Add(vm.stackPtr, a)
			} else if a := regs[in2.dst&15] + uint64(int64(in2.off)) - vm.cacheW.lo; a < vm.cacheW.size && vm.cacheW.size-a >= 4 {
				p = unsafe.Add(vm.cacheW.ptr, a)
			}
			if p == nil {
				return pc + 1, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc+1)*4))), stopSlow
			}
			*(*uint32)(p) = uint32(regs[in2.src&15])
			pc += 2
			continue
		case opMov64KStxDW:
			regs[in.dst&15] = in.imm
			in2 := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{})))
			p := unsafe.Pointer(nil) // in the live stack (marked dirty), or the region of the last write
			if a := regs[in2.dst&15] + uint64(int64(in2.off)) - vm.stackLo; a <= vm.stackLen-8 {
				if a < vm.dirty {
					vm.dirty = a
				}
				p = unsafe.Add(vm.stackPtr, a)
			} else if a := regs[in2.dst&15] + uint64(int64(in2.off)) - vm.cacheW.lo; a < vm.cacheW.size && vm.cacheW.size-a >= 8 {
				p = unsafe.Add(vm.cacheW.ptr, a)
			}
			if p == nil {
				return pc + 1, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc+1)*4))), stopSlow
			}
			*(*uint64)(p) = regs[in2.src&15]
			pc += 2
			continue
		case opMovXMovX:
			regs[in.dst&15] = regs[in.src&15]
			in2 := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{})))
			regs[in2.dst&15] = regs[in2.src&15]
			pc += 2
			continue
		case opMovXMov32K:
			regs[in.dst&15] = regs[in.src&15]
			in2 := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{})))
			regs[in2.dst&15] = uint64(uint32(in2.imm))
			pc += 2
			continue
		case opMovXMov64K:
			regs[in.dst&15] = regs[in.src&15]
			in2 := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{})))
			regs[in2.dst&15] = in2.imm
			pc += 2
			continue
		case opMov64KMov64K:
			regs[in.dst&15] = in.imm
			in2 := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{})))
			regs[in2.dst&15] = in2.imm
			pc += 2
			continue
		case opMov32KMov32K:
			regs[in.dst&15] = uint64(uint32(in.imm))
			in2 := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{})))
			regs[in2.dst&15] = uint64(uint32(in2.imm))
			pc += 2
			continue
		case opLdxDWAdd64X:
			p := unsafe.Pointer(nil) // in the live stack, or the region of the last read
			if a := regs[in.src&15] + uint64(int64(in.off)) - vm.stackLo; a <= vm.stackLen-8 {
				p = unsafe.Add(vm.stackPtr, a)
			} else if a := regs[in.src&15] + uint64(int64(in.off)) - vm.cacheR.lo; a < vm.cacheR.size && vm.cacheR.size-a >= 8 {
				p = unsafe.Add(vm.cacheR.ptr, a)
			}
			if p == nil {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			regs[in.dst&15] = *(*uint64)(p)
			in2 := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{})))
			regs[in2.dst&15] += regs[in2.src&15]
			pc += 2
			continue
		case opLdxDWAddMovX:
			// The region of the last read first: the load is almost
			// always of a map value a lookup just primed it with (the
			// stack is no cached region, so the order changes nothing).
			p := unsafe.Pointer(nil)
			if a := regs[in.src&15] + uint64(int64(in.off)) - vm.cacheR.lo; a < vm.cacheR.size && vm.cacheR.size-a >= 8 {
				p = unsafe.Add(vm.cacheR.ptr, a)
			} else if a := regs[in.src&15] + uint64(int64(in.off)) - vm.stackLo; a <= vm.stackLen-8 {
				p = unsafe.Add(vm.stackPtr, a)
			}
			if p == nil {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			// rA = load; rA += rC; rC = rA (fuse.go: A != C), through a
			// local: register-file stores and loads with indices the CPU
			// learns late made a chain that was most of a lookup's cost.
			x := *(*uint64)(p) + regs[in.aux&15]
			regs[in.dst&15] = x
			regs[in.aux&15] = x
			pc += 3
			continue
		case opAdd64XMovX:
			regs[in.dst&15] += regs[in.src&15]
			in2 := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{})))
			regs[in2.dst&15] = regs[in2.src&15]
			pc += 2
			continue
		case opAdd64KJeqK:
			regs[in.dst&15] += uint64(int64(int32(in.imm)))
			if in2 := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))); regs[in2.dst&15] == in2.imm {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opAdd64KJeqX:
			regs[in.dst&15] += uint64(int64(int32(in.imm)))
			if in2 := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))); regs[in2.dst&15] == regs[in2.src&15] {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opAdd64KJgtK:
			regs[in.dst&15] += uint64(int64(int32(in.imm)))
			if in2 := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))); regs[in2.dst&15] > in2.imm {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opAdd64KJgtX:
			regs[in.dst&15] += uint64(int64(int32(in.imm)))
			if in2 := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))); regs[in2.dst&15] > regs[in2.src&15] {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opAdd64KJgeK:
			regs[in.dst&15] += uint64(int64(int32(in.imm)))
			if in2 := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))); regs[in2.dst&15] >= in2.imm {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opAdd64KJgeX:
			regs[in.dst&15] += uint64(int64(int32(in.imm)))
			if in2 := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))); regs[in2.dst&15] >= regs[in2.src&15] {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdAbsBJeq:
			o := uint64(int64(int32(in.imm)))
			if !(o < vm.pktLen) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			v := uint64(*(*uint8)(unsafe.Add(vm.pktPtr, o)))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v == k {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdAbsBJgt:
			o := uint64(int64(int32(in.imm)))
			if !(o < vm.pktLen) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			v := uint64(*(*uint8)(unsafe.Add(vm.pktPtr, o)))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v > k {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdAbsBJge:
			o := uint64(int64(int32(in.imm)))
			if !(o < vm.pktLen) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			v := uint64(*(*uint8)(unsafe.Add(vm.pktPtr, o)))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v >= k {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdAbsBJset:
			o := uint64(int64(int32(in.imm)))
			if !(o < vm.pktLen) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			v := uint64(*(*uint8)(unsafe.Add(vm.pktPtr, o)))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v&k != 0 {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdAbsHJeq:
			o := uint64(int64(int32(in.imm)))
			if !(o < vm.pktLen && vm.pktLen-o >= 2) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			v := load16BE(unsafe.Add(vm.pktPtr, o))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v == k {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdAbsHJgt:
			o := uint64(int64(int32(in.imm)))
			if !(o < vm.pktLen && vm.pktLen-o >= 2) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			v := load16BE(unsafe.Add(vm.pktPtr, o))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v > k {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdAbsHJge:
			o := uint64(int64(int32(in.imm)))
			if !(o < vm.pktLen && vm.pktLen-o >= 2) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			v := load16BE(unsafe.Add(vm.pktPtr, o))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v >= k {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdAbsHJset:
			o := uint64(int64(int32(in.imm)))
			if !(o < vm.pktLen && vm.pktLen-o >= 2) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			v := load16BE(unsafe.Add(vm.pktPtr, o))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v&k != 0 {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdAbsWJeq:
			o := uint64(int64(int32(in.imm)))
			if !(o < vm.pktLen && vm.pktLen-o >= 4) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			q := unsafe.Add(vm.pktPtr, o)
			v := uint64(*(*uint8)(q))<<24 | uint64(*(*uint8)(unsafe.Add(q, 1)))<<16 |
				uint64(*(*uint8)(unsafe.Add(q, 2)))<<8 | uint64(*(*uint8)(unsafe.Add(q, 3)))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v == k {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdAbsWJgt:
			o := uint64(int64(int32(in.imm)))
			if !(o < vm.pktLen && vm.pktLen-o >= 4) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			q := unsafe.Add(vm.pktPtr, o)
			v := uint64(*(*uint8)(q))<<24 | uint64(*(*uint8)(unsafe.Add(q, 1)))<<16 |
				uint64(*(*uint8)(unsafe.Add(q, 2)))<<8 | uint64(*(*uint8)(unsafe.Add(q, 3)))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v > k {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdAbsWJge:
			o := uint64(int64(int32(in.imm)))
			if !(o < vm.pktLen && vm.pktLen-o >= 4) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			q := unsafe.Add(vm.pktPtr, o)
			v := uint64(*(*uint8)(q))<<24 | uint64(*(*uint8)(unsafe.Add(q, 1)))<<16 |
				uint64(*(*uint8)(unsafe.Add(q, 2)))<<8 | uint64(*(*uint8)(unsafe.Add(q, 3)))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v >= k {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdAbsWJset:
			o := uint64(int64(int32(in.imm)))
			if !(o < vm.pktLen && vm.pktLen-o >= 4) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			q := unsafe.Add(vm.pktPtr, o)
			v := uint64(*(*uint8)(q))<<24 | uint64(*(*uint8)(unsafe.Add(q, 1)))<<16 |
				uint64(*(*uint8)(unsafe.Add(q, 2)))<<8 | uint64(*(*uint8)(unsafe.Add(q, 3)))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v&k != 0 {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdIndBJeq:
			o := indOffset(in.imm, regs[in.src&15])
			if !(o < vm.pktLen) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			v := uint64(*(*uint8)(unsafe.Add(vm.pktPtr, o)))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v == k {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdIndBJgt:
			o := indOffset(in.imm, regs[in.src&15])
			if !(o < vm.pktLen) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			v := uint64(*(*uint8)(unsafe.Add(vm.pktPtr, o)))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v > k {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdIndBJge:
			o := indOffset(in.imm, regs[in.src&15])
			if !(o < vm.pktLen) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			v := uint64(*(*uint8)(unsafe.Add(vm.pktPtr, o)))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v >= k {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdIndBJset:
			o := indOffset(in.imm, regs[in.src&15])
			if !(o < vm.pktLen) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			v := uint64(*(*uint8)(unsafe.Add(vm.pktPtr, o)))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v&k != 0 {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdIndHJeq:
			o := indOffset(in.imm, regs[in.src&15])
			if !(o < vm.pktLen && vm.pktLen-o >= 2) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			v := load16BE(unsafe.Add(vm.pktPtr, o))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v == k {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdIndHJgt:
			o := indOffset(in.imm, regs[in.src&15])
			if !(o < vm.pktLen && vm.pktLen-o >= 2) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			v := load16BE(unsafe.Add(vm.pktPtr, o))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v > k {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdIndHJge:
			o := indOffset(in.imm, regs[in.src&15])
			if !(o < vm.pktLen && vm.pktLen-o >= 2) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			v := load16BE(unsafe.Add(vm.pktPtr, o))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v >= k {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdIndHJset:
			o := indOffset(in.imm, regs[in.src&15])
			if !(o < vm.pktLen && vm.pktLen-o >= 2) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			v := load16BE(unsafe.Add(vm.pktPtr, o))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v&k != 0 {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdIndWJeq:
			o := indOffset(in.imm, regs[in.src&15])
			if !(o < vm.pktLen && vm.pktLen-o >= 4) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			q := unsafe.Add(vm.pktPtr, o)
			v := uint64(*(*uint8)(q))<<24 | uint64(*(*uint8)(unsafe.Add(q, 1)))<<16 |
				uint64(*(*uint8)(unsafe.Add(q, 2)))<<8 | uint64(*(*uint8)(unsafe.Add(q, 3)))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v == k {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdIndWJgt:
			o := indOffset(in.imm, regs[in.src&15])
			if !(o < vm.pktLen && vm.pktLen-o >= 4) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			q := unsafe.Add(vm.pktPtr, o)
			v := uint64(*(*uint8)(q))<<24 | uint64(*(*uint8)(unsafe.Add(q, 1)))<<16 |
				uint64(*(*uint8)(unsafe.Add(q, 2)))<<8 | uint64(*(*uint8)(unsafe.Add(q, 3)))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v > k {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdIndWJge:
			o := indOffset(in.imm, regs[in.src&15])
			if !(o < vm.pktLen && vm.pktLen-o >= 4) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			q := unsafe.Add(vm.pktPtr, o)
			v := uint64(*(*uint8)(q))<<24 | uint64(*(*uint8)(unsafe.Add(q, 1)))<<16 |
				uint64(*(*uint8)(unsafe.Add(q, 2)))<<8 | uint64(*(*uint8)(unsafe.Add(q, 3)))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v >= k {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdIndWJset:
			o := indOffset(in.imm, regs[in.src&15])
			if !(o < vm.pktLen && vm.pktLen-o >= 4) {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			q := unsafe.Add(vm.pktPtr, o)
			v := uint64(*(*uint8)(q))<<24 | uint64(*(*uint8)(unsafe.Add(q, 1)))<<16 |
				uint64(*(*uint8)(unsafe.Add(q, 2)))<<8 | uint64(*(*uint8)(unsafe.Add(q, 3)))
			regs[0] = v
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			if k := (*op)(unsafe.Add(unsafe.Pointer(in), unsafe.Sizeof(op{}))).imm; v&k != 0 {
				pc = int(in.off)
			} else {
				pc = int(in.imm >> 32)
			}
		case opLdAbsBMsh:
			o := in.imm
			if o >= vm.pktLen {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			v := uint64(*(*uint8)(unsafe.Add(vm.pktPtr, o))&0xf) << 2
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			regs[0] = v
			regs[in.src&15] = v
			pc += 4
			continue
		case opCallLocal:
			if vm.depth >= isa.MaxCallDepth {
				return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
			}
			f := &vm.frames[vm.depth]
			f.ret = pc + 1
			f.saved = [4]uint64{regs[6], regs[7], regs[8], regs[9]}
			vm.depth++
			vm.deepest = max(vm.deepest, vm.depth)
			vm.stackLen += isa.StackSize
			regs[10] = vm.stackLo + vm.stackLen
			pc = int(in.off)
		case opMov32KExit:
			regs[in.dst&15] = uint64(uint32(in.imm))
			pc++
			fallthrough
		case opExit:
			if vm.depth == base {
				// The function the driver runs returns: its segment, which
				// ends here, is paid.
				return pc, left, stopExit
			}
			vm.depth--
			vm.stackLen -= isa.StackSize
			f := &vm.frames[vm.depth]
			regs[6], regs[7], regs[8], regs[9] = f.saved[0], f.saved[1], f.saved[2], f.saved[3]
			regs[10] = vm.stackLo + vm.stackLen
			pc = f.ret

		case opMapLookupHash, opMapGroupHash: // mapops.go: a key on the stack, r1 the map; fuse.go: the lookup group
		groupHash:
			// at is the slot of the lookup, where the driver takes over
			// if this cannot decide.
			at, mi := pc, in.dst // the slot of the lookup and the map
			if in.kind == opMapGroupHash {
				// As opMapGroupArray's.
				k := uint64(uint32(in.imm))
				fp := vm.stackLen
				a := fp + uint64(int64(int16(uint16(in.off))))
				if in.aux&groupDW == 0 {
					*(*uint32)(unsafe.Add(vm.stackPtr, a)) = uint32(k)
				} else {
					k = in.imm
					*(*uint64)(unsafe.Add(vm.stackPtr, a)) = k
				}
				regs[in.dst&15] = k
				if a < vm.dirty {
					vm.dirty = a
				}
				regs[2] = vm.stackLo + fp + uint64(int64(in.off>>16))
				mi = in.src
				regs[1] = vm.vmMapAt(mi).handle
				at = pc + 6
			}
			// The chains are read without locks, as the map's own lookups
			// read them; an entry with the key's hash may be the key: the
			// driver looks it up.
			if v := vm.vmMapAt(mi); regs[1] == v.handle && v.buckets != nil {
				if a := regs[2] - vm.stackLo; a <= vm.stackLen-v.ks {
					x := uint64(*(*uint32)(unsafe.Add(vm.stackPtr, a)))
					if v.ks == 8 {
						x = *(*uint64)(unsafe.Add(vm.stackPtr, a))
					}
					// Spelled out so that inner makes no call (see load16BE):
					// engine.Mix64(x ^ v.seed), then the chain walk, read
					// without locks as the map's own lookups read it. An
					// absent key is 0; a present one is its value's address
					// in a preallocated map (value slabs are persistent
					// regions), after setting an LRU entry's reference bit
					// as the helper does, with the value's slab primed in
					// the access caches; a hit without preallocation
					// (!v.hit) is left to the driver.
					h := x ^ v.seed
					h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
					h = (h ^ h>>27) * 0x94d049bb133111eb
					h ^= h >> 31
					r0, decided := uint64(0), true
					var vp unsafe.Pointer // r0 as a pointer, on a hit
					for e := v.bucketHead(h); e != nil; e = atomic.LoadPointer((*unsafe.Pointer)(unsafe.Add(e, v.nextOff))) {
						if *(*uint64)(unsafe.Add(e, v.hashOff)) != h {
							continue
						}
						if !v.hit {
							decided = false
							break
						}
						kp := *(*unsafe.Pointer)(unsafe.Add(e, v.keyOff))
						k := uint64(*(*uint32)(kp))
						if v.ks == 8 {
							k = *(*uint64)(kp)
						}
						if k != x {
							continue
						}
						if v.lru {
							if ref := (*uint32)(unsafe.Add(e, v.refOff)); atomic.LoadUint32(ref) == 0 {
								atomic.StoreUint32(ref, 1)
							}
						}
						vp = unsafe.Add(atomic.LoadPointer((*unsafe.Pointer)(unsafe.Add(e, v.valOff))), v.cpuOff)
						r0 = uint64(uintptr(vp))
						if r0-v.slab.lo < v.slab.size {
							if vm.cacheR.lo != v.slab.lo {
								vm.cacheR = v.slab
							}
							if v.slab.writable && vm.cacheW.lo != v.slab.lo {
								vm.cacheW = v.slab
							}
						}
						break
					}
					if decided {
						regs[0] = r0
						if in.kind == opMapLookupHash {
							pc++
							continue
						}
						// The group's jump on r0; its destination's
						// segment is paid below the switch. As
						// opMapGroupArray's.
						if in.aux&groupAccum != 0 && r0 != 0 {
							if n := uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc+8)*4))); left >= n {
								left -= n
								ld := (*op)(unsafe.Add(unsafe.Pointer(in), 8*unsafe.Sizeof(op{})))
								c := (*op)(unsafe.Add(unsafe.Pointer(in), 9*unsafe.Sizeof(op{}))).src & 15
								x := *(*uint64)(unsafe.Add(vp, ld.off)) + regs[c]
								regs[ld.dst&15] = x
								regs[c] = x
								pc += 11
								// As opMapGroupArray's: the next group
								// without a dispatch.
								if nx := (*op)(unsafe.Add(unsafe.Pointer(in), 11*unsafe.Sizeof(op{}))); nx.kind == opMapGroupHash {
									in = nx
									goto groupHash
								}
								continue
							}
							pc += 8
						} else if (r0 == 0) != (in.aux&groupJne != 0) {
							pc = int((*op)(unsafe.Add(unsafe.Pointer(in), 7*unsafe.Sizeof(op{}))).off)
						} else {
							pc += 8
						}
						break
					}
				}
			}
			return at, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(at)*4))), stopSlow
		case opMapLookupArray: // mapops.go: a key on the stack, r1 the map
			// The result, or 0 for an index out of range, with the slab
			// primed in the access caches (the program reads the value
			// next, almost always). Spelled out (see load16BE).
			if v, a := vm.vmMapAt(in.dst), regs[2]-vm.stackLo; regs[1] == v.handle && a <= vm.stackLen-4 {
				if i := uint64(*(*uint32)(unsafe.Add(vm.stackPtr, a))); i < v.max {
					regs[0] = v.base + i*v.stride
					if vm.cacheR.lo != v.slab.lo {
						vm.cacheR = v.slab
					}
					if v.slab.writable && vm.cacheW.lo != v.slab.lo {
						vm.cacheW = v.slab
					}
				} else {
					regs[0] = 0
				}
				pc++
				continue
			}
			return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
		case opMapGroupArray: // fuse.go: the lookup group on an inline array
		groupArray:
			if in.aux == groupSameKey|groupAccum {
				// clang's shape for a constant u32 key whose value is
				// summed (unrolled lookups): a chain of such groups that
				// hit runs here on one flag test per group, with the
				// frame's addresses computed once. Anything else (a
				// miss, a budget that cannot pay the accumulation, other
				// flags) goes to the general code below before anything
				// is written, which then does all of it.
				fp := vm.stackLen
				frame, frameAddr := unsafe.Add(vm.stackPtr, fp), vm.stackLo+fp
				if g := uintptr(in.imm >> 32); g != 0 {
					// A chain (fuse.go: chainGroups) whose groups all hit,
					// with the budget for all of it: the key stores, the
					// sum, and the last group's registers. Values come
					// from the VM's table (setChains).
					ci := (*chainInfo)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(vm.prog.chains)), (g-1)*unsafe.Sizeof(chainInfo{})))
					vals := unsafe.Add(unsafe.Pointer(unsafe.SliceData(vm.chainVal)), (g-1)*unsafe.Sizeof(unsafe.Pointer(nil)))
					if val := *(*unsafe.Pointer)(vals); val != nil && left >= ci.cost {
						left -= ci.cost
						sum := regs[ci.c&15]
						last := in
						for range ci.n {
							*(*uint32)(unsafe.Add(frame, int16(uint16(in.off)))) = uint32(in.imm)
							val = *(*unsafe.Pointer)(vals)
							sum += *(*uint64)(unsafe.Add(val, (*op)(unsafe.Add(unsafe.Pointer(in), 8*unsafe.Sizeof(op{}))).off))
							vals = unsafe.Add(vals, unsafe.Sizeof(unsafe.Pointer(nil)))
							last = in
							in = (*op)(unsafe.Add(unsafe.Pointer(in), 11*unsafe.Sizeof(op{})))
						}
						if a := fp + uint64(ci.minStore); a < vm.dirty {
							vm.dirty = a
						}
						regs[last.dst&15] = uint64(uint32(last.imm))
						regs[2] = frameAddr + uint64(int64(last.off>>16))
						regs[1] = vm.vmMapAt(last.src).handle
						regs[0] = uint64(uintptr(val))
						regs[ci.a&15] = sum
						regs[ci.c&15] = sum
						pc += 11 * ci.n
						if in.kind != opMapGroupArray {
							continue dispatch
						}
						goto groupArray
					}
				}
				for {
					v := vm.vmMapAt(in.src)
					k := uint64(uint32(in.imm))
					n := uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc+8)*4)))
					if k >= v.max || left < n {
						break
					}
					left -= n
					o1, o2 := int64(int16(uint16(in.off))), int64(in.off>>16)
					*(*uint32)(unsafe.Add(frame, o1)) = uint32(k)
					regs[in.dst&15] = k
					if a := fp + uint64(o1); a < vm.dirty {
						vm.dirty = a
					}
					regs[2] = frameAddr + uint64(o2)
					regs[1] = v.handle
					at := k * v.stride
					regs[0] = v.base + at
					ld := (*op)(unsafe.Add(unsafe.Pointer(in), 8*unsafe.Sizeof(op{})))
					c := (*op)(unsafe.Add(unsafe.Pointer(in), 9*unsafe.Sizeof(op{}))).src & 15
					x := *(*uint64)(unsafe.Add(v.slab.ptr, at+uint64(int64(ld.off)))) + regs[c]
					regs[ld.dst&15] = x
					regs[c] = x
					pc += 11
					in = (*op)(unsafe.Add(unsafe.Pointer(in), 11*unsafe.Sizeof(op{})))
					if in.kind != opMapGroupArray {
						continue dispatch
					}
					if in.aux != groupSameKey|groupAccum {
						goto groupArray
					}
				}
			}
			// The key register and its store, r2 and r1 (Load checked
			// that the lddw loads this map's handle and that both stack
			// offsets lie in the frame: r10, read-only, is the end of the
			// live stack, so fp is its offset there).
			k := uint64(uint32(in.imm))
			fp := vm.stackLen
			a := fp + uint64(int64(int16(uint16(in.off))))
			if in.aux&groupDW == 0 {
				*(*uint32)(unsafe.Add(vm.stackPtr, a)) = uint32(k)
			} else {
				k = in.imm
				*(*uint64)(unsafe.Add(vm.stackPtr, a)) = k
			}
			regs[in.dst&15] = k
			if a < vm.dirty {
				vm.dirty = a
			}
			ka := fp + uint64(int64(in.off>>16))
			regs[2] = vm.stackLo + ka
			v := vm.vmMapAt(in.src)
			regs[1] = v.handle
			i := uint64(uint32(k)) // the key just stored (groupSameKey)
			if in.aux&groupSameKey == 0 {
				i = uint64(*(*uint32)(unsafe.Add(vm.stackPtr, ka)))
			}
			r0, at := uint64(0), i*v.stride // at: the value's offset in the slab
			if in.aux&groupFirst != 0 {
				// rC = 0, the null check, and on a hit rC = the value
				// (isFirst): its segment first, as the fall-through
				// would pay it, then the load (unchecked: a whole value
				// in the slab). C is the load's dst.
				ld := (*op)(unsafe.Add(unsafe.Pointer(in), 9*unsafe.Sizeof(op{})))
				c := ld.dst & 15
				if i >= v.max {
					regs[0], regs[c] = 0, 0
					pc += 10 // the jump's target
					break
				}
				regs[0], regs[c] = v.base+at, 0
				if n := uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc+9)*4))); left >= n {
					left -= n
					regs[c] = *(*uint64)(unsafe.Add(v.slab.ptr, at+uint64(int64(ld.off))))
					pc += 10
					// As below: the next group without a dispatch (the
					// load's segment runs through it).
					if nx := (*op)(unsafe.Add(unsafe.Pointer(in), 10*unsafe.Sizeof(op{}))); nx.kind == opMapGroupArray {
						in = nx
						goto groupArray
					}
					continue
				}
				pc += 9
				break
			}
			if i < v.max {
				r0 = v.base + at
				if in.aux&groupAccum != 0 {
					// Fall through into the accumulation (isAccum): its
					// segment, if the budget pays it, then the three
					// instructions. The caches are left alone: the
					// program rarely reads the value again.
					regs[0] = r0
					if n := uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc+8)*4))); left >= n {
						left -= n
						ld := (*op)(unsafe.Add(unsafe.Pointer(in), 8*unsafe.Sizeof(op{})))
						c := (*op)(unsafe.Add(unsafe.Pointer(in), 9*unsafe.Sizeof(op{}))).src & 15
						x := *(*uint64)(unsafe.Add(v.slab.ptr, at+uint64(int64(ld.off)))) + regs[c]
						regs[ld.dst&15] = x
						regs[c] = x
						pc += 11
						// Unrolled lookups: when the next slot is another
						// group, run it without a dispatch (the slot's op,
						// as the dispatch would; no segment starts here).
						if nx := (*op)(unsafe.Add(unsafe.Pointer(in), 11*unsafe.Sizeof(op{}))); nx.kind == opMapGroupArray {
							in = nx
							goto groupArray
						}
						continue
					}
					pc += 8
					break
				}
				if vm.cacheR.lo != v.slab.lo {
					vm.cacheR = v.slab
				}
				if v.slab.writable && vm.cacheW.lo != v.slab.lo {
					vm.cacheW = v.slab
				}
			}
			regs[0] = r0
			if (r0 == 0) != (in.aux&groupJne != 0) {
				pc = int((*op)(unsafe.Add(unsafe.Pointer(in), 7*unsafe.Sizeof(op{}))).off)
			} else {
				pc += 8
			}

		default:
			return pc, left + uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))), stopSlow
		}
		// A control transfer brought execution to pc: pay for its segment.
		if n := uint64(*(*uint32)(unsafe.Add(segsP, uintptr(pc)*4))); left >= n {
			left -= n
		} else {
			return pc, left, stopStarved
		}
	}
}

// stepOne runs the instruction at pc by itself, if inner can: it returns
// the next slot and stepped, stepExited if the instruction was the exit of
// the function the driver runs, or stepLeft for an instruction the driver
// handles.
// The caller pays for the instruction.
func (vm *VM) stepOne(regs *[16]uint64, pc, base int) (int, stepResult) {
	segs := vm.prog.segs
	if segs[pc] == 1 {
		// A control transfer: inner runs it with budget for it alone and
		// stops, starved, at its destination.
		next, left, why := vm.inner(regs, vm.prog.codeP, vm.prog.segsP, pc, 1, base)
		switch {
		case why == stopExit:
			return next, stepExited
		case why == stopStarved && left == 0:
			return next, stepped
		}
		return pc, stepLeft
	}
	// Anything else runs on a copy followed by a stop (opInvalid), so
	// inner cannot go on to the next instruction.
	vm.scratch = [3]op{vm.prog.plain[pc]}
	next, _, _ := vm.inner(regs, unsafe.Pointer(&vm.scratch), unsafe.Pointer(&scratchSegs), 0, 1, base)
	if next == 0 {
		return pc, stepLeft
	}
	return pc + next, stepped
}

// stop says why inner returned.
type stop uint8

const (
	stopNone    stop = iota // (loop) inner has not run yet
	stopSlow                // the driver must handle the instruction at pc
	stopStarved             // the budget left cannot pay for the segment at pc
	stopExit                // the function at depth base exited; r0 is its result
)

// stepResult says what stepOne did.
type stepResult uint8

const (
	stepLeft   stepResult = iota // nothing: the driver handles the instruction
	stepped                      // ran it; execution goes on at the slot returned
	stepExited                   // it was the exit of the function the driver runs
)

// scratchSegs are the segment costs of VM.scratch: the one instruction.
var scratchSegs = [3]uint32{1, 0, 0}

// topUp moves budget from vm.remaining into left, a chunk at a time,
// until left covers need or nothing remains; it checks the context first.
// It fails if the run is cancelled or no budget at all is left.
func (vm *VM) topUp(left, need uint64) (uint64, error) {
	if vm.cancelled() {
		return left, engine.ErrCancelled
	}
	for left < need && vm.remaining > 0 {
		n := min(vm.remaining, chunk)
		vm.remaining -= n
		left += n
	}
	if left == 0 {
		return 0, engine.ErrBudgetExhausted
	}
	return left, nil
}

// indOffset is the offset of LD_IND: imm + src in 32 bits, sign-extended
// (a negative offset becomes a huge one, outside any packet).
func indOffset(imm, src uint64) uint64 {
	return uint64(int64(int32(uint32(imm) + uint32(src))))
}

// load16BE reads a big-endian value byte by byte (the compiler merges the
// loads); it is small enough to be inlined even into inner.
//
// inner spells out everything else it needs (the 32-bit big-endian load;
// the memory check: the live stack, then the region the last read or
// write outside the stack used): it is so large that the compiler only
// inlines tiny functions into it ("big" functions get a reduced inlining
// budget), and a call in inner makes it keep pc and the budget on the
// stack around every dispatch.
func load16BE(p unsafe.Pointer) uint64 {
	return uint64(*(*uint8)(p))<<8 | uint64(*(*uint8)(unsafe.Add(p, 1)))
}

func isLoadStore(kind uint8) bool { return kind >= opLdxB && kind <= opStxDW }

func loadSize(kind uint8) uint64 {
	switch kind {
	case opLdxB, opLdxsB:
		return 1
	case opLdxH, opLdxsH:
		return 2
	case opLdxW, opLdxsW:
		return 4
	}
	return 8
}

func storeSize(kind uint8) uint64 {
	switch kind {
	case opStB, opStxB:
		return 1
	case opStH, opStxH:
		return 2
	case opStW, opStxW:
		return 4
	}
	return 8
}

// ret returns from the current function: to the caller's slot, or done if
// the function is the one the driver runs (base is its depth).
func (vm *VM) ret(regs *[16]uint64, base int) (pc int, done bool) {
	if vm.depth == base {
		return 0, true
	}
	vm.depth--
	vm.stackLen -= isa.StackSize
	f := &vm.frames[vm.depth]
	regs[6], regs[7], regs[8], regs[9] = f.saved[0], f.saved[1], f.saved[2], f.saved[3]
	regs[10] = vm.stackLo + vm.stackLen
	return f.ret, false
}

// stop saves the budget state and builds the error for slot pc.
func (vm *VM) stop(left uint64, pc int, sentinel error, reason string) error {
	vm.left = left
	return vm.fault(pc, sentinel, reason)
}

func (vm *VM) memFault(left uint64, pc int, addr, n uint64, write bool) error {
	// Name the operand as written (r1+9) before its value.
	i := vm.prog.insns[pc]
	base := i.Src
	if write {
		base = i.Dst
	}
	operand := fmt.Sprintf("r%d%+d", base, i.Offset)
	var reason string
	if vm.access(addr, n, write) != nil { // in bounds, so it was the alignment
		reason = fmt.Sprintf("atomic access of %d bytes at %s (%#x) is not aligned to %d bytes", n, operand, addr, n)
	} else {
		reason = vm.describeFault(addr, n, write, operand)
	}
	return vm.stop(left, pc, engine.ErrOutOfBounds, reason)
}

func (vm *VM) helperFault(left uint64, pc int, id int64, err error) error {
	return vm.stop(left, pc, fmt.Errorf("%w: %w", engine.ErrHelperFailed, err), fmt.Sprintf("helper %d failed: %v", id, err))
}

// loadPacket is the legacy packet load: a big-endian value of the kind's
// size at off, and whether it lay inside the packet.
func (vm *VM) loadPacket(off int32, kind uint8) (uint64, bool) {
	var n uint64
	switch kind {
	case opLdAbsB, opLdIndB:
		n = 1
	case opLdAbsH, opLdIndH:
		n = 2
	default:
		n = 4
	}
	o := int64(off)
	if o < 0 {
		if o < skfLLOff || o >= skfNetOff {
			return 0, false // other negative offsets need skb metadata
		}
		o -= skfLLOff
	}
	if uint64(o) > vm.pktLen || n > vm.pktLen-uint64(o) {
		return 0, false
	}
	b := unsafe.Slice((*byte)(vm.pktPtr), vm.pktLen)[o : uint64(o)+n]
	switch n {
	case 1:
		return uint64(b[0]), true
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), true
	}
	return uint64(binary.BigEndian.Uint32(b)), true
}

func div64(a, b uint64) uint64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func mod64(a, b uint64) uint64 {
	if b == 0 {
		return a
	}
	return a % b
}

// sdiv64 and smod64: Go defines MinInt64 / -1 = MinInt64 and
// MinInt64 % -1 = 0, the results the ISA specifies.
func sdiv64(a, b uint64) uint64 {
	if b == 0 {
		return 0
	}
	return uint64(int64(a) / int64(b))
}

func smod64(a, b uint64) uint64 {
	if b == 0 {
		return a
	}
	return uint64(int64(a) % int64(b))
}

func div32(a, b uint32) uint32 {
	if b == 0 {
		return 0
	}
	return a / b
}

func mod32(a, b uint32) uint32 {
	if b == 0 {
		return a
	}
	return a % b
}

func sdiv32(a, b uint32) uint32 {
	if b == 0 {
		return 0
	}
	return uint32(int32(a) / int32(b))
}

func smod32(a, b uint32) uint32 {
	if b == 0 {
		return a
	}
	return uint32(int32(a) % int32(b))
}

// atomic32 performs a 32-bit atomic operation on p with operand *src;
// fetching forms load the old value (zero-extended) into *src, cmpxchg
// compares with and loads into *r0.
func atomic32(kind uint8, p *uint32, src, r0 *uint64) {
	v := uint32(*src)
	switch kind {
	case opAtomAdd32:
		atomic.AddUint32(p, v)
	case opAtomOr32:
		atomic.OrUint32(p, v)
	case opAtomAnd32:
		atomic.AndUint32(p, v)
	case opAtomXor32:
		xor32(p, v)
	case opAtomFetchAdd32:
		*src = uint64(atomic.AddUint32(p, v) - v)
	case opAtomFetchOr32:
		*src = uint64(atomic.OrUint32(p, v))
	case opAtomFetchAnd32:
		*src = uint64(atomic.AndUint32(p, v))
	case opAtomFetchXor32:
		*src = uint64(xor32(p, v))
	case opAtomXchg32:
		*src = uint64(atomic.SwapUint32(p, v))
	case opAtomCmpxchg32:
		want := uint32(*r0)
		for {
			old := atomic.LoadUint32(p)
			if old != want || atomic.CompareAndSwapUint32(p, old, v) {
				*r0 = uint64(old)
				return
			}
		}
	}
}

func atomic64(kind uint8, p *uint64, src, r0 *uint64) {
	v := *src
	switch kind {
	case opAtomAdd64:
		atomic.AddUint64(p, v)
	case opAtomOr64:
		atomic.OrUint64(p, v)
	case opAtomAnd64:
		atomic.AndUint64(p, v)
	case opAtomXor64:
		xor64(p, v)
	case opAtomFetchAdd64:
		*src = atomic.AddUint64(p, v) - v
	case opAtomFetchOr64:
		*src = atomic.OrUint64(p, v)
	case opAtomFetchAnd64:
		*src = atomic.AndUint64(p, v)
	case opAtomFetchXor64:
		*src = xor64(p, v)
	case opAtomXchg64:
		*src = atomic.SwapUint64(p, v)
	case opAtomCmpxchg64:
		want := *r0
		for {
			old := atomic.LoadUint64(p)
			if old != want || atomic.CompareAndSwapUint64(p, old, v) {
				*r0 = old
				return
			}
		}
	}
}

// xor32 and xor64 are atomic xors (sync/atomic has none); they return the
// old value.
func xor32(p *uint32, v uint32) uint32 {
	for {
		old := atomic.LoadUint32(p)
		if atomic.CompareAndSwapUint32(p, old, old^v) {
			return old
		}
	}
}

func xor64(p *uint64, v uint64) uint64 {
	for {
		old := atomic.LoadUint64(p)
		if atomic.CompareAndSwapUint64(p, old, old^v) {
			return old
		}
	}
}
