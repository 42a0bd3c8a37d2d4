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
// calls. Whatever needs Go calls (helpers, atomics, legacy packet loads,
// memory outside the stack and the last region used, budget refills,
// errors, the final exit) makes inner return to exec, which handles that
// one instruction and re-enters inner.

// exec runs the function at slot pc on a new frame (the caller checked the
// depth) until that function exits, and returns its r0. It shares the
// budget with the rest of the run through vm.left / vm.remaining, which it
// keeps in a local while running and writes back whenever Go code that may
// run bpf code (a helper) or the caller gets control.
func (vm *VM) exec(pc int, r1, r2, r3, r4, r5 uint64) (uint64, error) {
	code := vm.prog.code
	vm.depth++
	vm.deepest = max(vm.deepest, vm.depth)
	vm.stackLen = uint64(vm.depth) * isa.StackSize
	base := vm.depth

	// Registers r0-r10; 16 entries so that indexing with a 4-bit field
	// needs no bounds check.
	var regs [16]uint64
	regs[1], regs[2], regs[3], regs[4], regs[5] = r1, r2, r3, r4, r5
	regs[10] = vm.stackLo + vm.stackLen

	left := vm.left
	for {
		pc, left = vm.inner(&regs, pc, left, base)
		if left == 0 {
			vm.left = 0
			if err := vm.refill(); err != nil {
				reason := fmt.Sprintf("the run reached its budget of %d instructions", vm.runBudget)
				if err == engine.ErrCancelled {
					reason = "run cancelled: " + vm.ctx.Err().Error()
				}
				return 0, vm.fault(pc, err, reason)
			}
			left = vm.left
			continue
		}
		left--
		in := &code[pc]
		switch in.kind {
		case opLdxB, opLdxH, opLdxW, opLdxDW, opLdxsB, opLdxsH, opLdxsW:
			// Outside the stack and the cached region: search all regions;
			// on success the region is cached and inner runs the load.
			addr := regs[in.src&15] + uint64(int64(in.off))
			n := loadSize(in.kind)
			if vm.accessRegion(addr, n, false) == nil {
				return 0, vm.memFault(left, pc, addr, n, false)
			}
			left++ // inner charges it
		case opStB, opStH, opStW, opStDW, opStxB, opStxH, opStxW, opStxDW:
			addr := regs[in.dst&15] + uint64(int64(in.off))
			n := storeSize(in.kind)
			if vm.accessRegion(addr, n, true) == nil {
				return 0, vm.memFault(left, pc, addr, n, true)
			}
			left++

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
				if pc, done = vm.ret(&regs, base); done {
					vm.left = left
					return regs[0], nil
				}
			}

		case opCall:
			vm.left = left
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
			r0, err := h(vm, regs[1], regs[2], regs[3], regs[4], regs[5])
			left = vm.left
			if err != nil {
				return 0, vm.helperFault(left, pc, int64(id), err)
			}
			regs[0] = r0
			pc++
		case opCallLocal: // inner returns only when the depth is at the limit
			return 0, vm.stop(left, pc, engine.ErrCallDepth, fmt.Sprintf("the call would make frame %d; the limit is %d frames", vm.depth+1, isa.MaxCallDepth))
		case opExit: // inner returns only for the exit of the entry function
			var done bool
			if pc, done = vm.ret(&regs, base); done {
				vm.left = left
				return regs[0], nil
			}
		default: // opInvalid: Load makes sure no jump lands here
			return 0, vm.stop(left, pc, engine.ErrOutOfBounds, "execution reached the second half of an lddw")
		}
	}
}

// inner executes instructions from slot pc until it meets one it leaves to
// exec (or the budget chunk ends: left == 0), and returns that slot and the
// budget left, not counting the instruction it returns for. It must call
// no function (see above).
func (vm *VM) inner(regs *[16]uint64, pc int, left uint64, base int) (int, uint64) {
	// Every slot pc can reach is inside code: Validate checked the jump and
	// call targets and that the last instruction cannot fall through, and
	// Call checks its entry point. So indexing skips the bounds check.
	code := unsafe.Pointer(unsafe.SliceData(vm.prog.code))
	_ = regs[0] // one nil check here instead of one per register access
	for {
		if left == 0 {
			return pc, 0
		}
		left--
		in := (*op)(unsafe.Add(code, uintptr(pc)*unsafe.Sizeof(op{})))
		switch in.kind {
		case opInvalid: // a case, so the jump table starts at 0
			return pc, left + 1
		case opAdd64K:
			regs[in.dst&15] += in.imm
			pc++
		case opAdd64X:
			regs[in.dst&15] += regs[in.src&15]
			pc++
		case opSub64K:
			regs[in.dst&15] -= in.imm
			pc++
		case opSub64X:
			regs[in.dst&15] -= regs[in.src&15]
			pc++
		case opMul64K:
			regs[in.dst&15] *= in.imm
			pc++
		case opMul64X:
			regs[in.dst&15] *= regs[in.src&15]
			pc++
		case opDiv64K:
			regs[in.dst&15] = div64(regs[in.dst&15], in.imm)
			pc++
		case opDiv64X:
			regs[in.dst&15] = div64(regs[in.dst&15], regs[in.src&15])
			pc++
		case opSdiv64K:
			regs[in.dst&15] = sdiv64(regs[in.dst&15], in.imm)
			pc++
		case opSdiv64X:
			regs[in.dst&15] = sdiv64(regs[in.dst&15], regs[in.src&15])
			pc++
		case opMod64K:
			regs[in.dst&15] = mod64(regs[in.dst&15], in.imm)
			pc++
		case opMod64X:
			regs[in.dst&15] = mod64(regs[in.dst&15], regs[in.src&15])
			pc++
		case opSmod64K:
			regs[in.dst&15] = smod64(regs[in.dst&15], in.imm)
			pc++
		case opSmod64X:
			regs[in.dst&15] = smod64(regs[in.dst&15], regs[in.src&15])
			pc++
		case opOr64K:
			regs[in.dst&15] |= in.imm
			pc++
		case opOr64X:
			regs[in.dst&15] |= regs[in.src&15]
			pc++
		case opAnd64K:
			regs[in.dst&15] &= in.imm
			pc++
		case opAnd64X:
			regs[in.dst&15] &= regs[in.src&15]
			pc++
		case opLsh64K:
			regs[in.dst&15] <<= in.imm & 63
			pc++
		case opLsh64X:
			regs[in.dst&15] <<= regs[in.src&15] & 63
			pc++
		case opRsh64K:
			regs[in.dst&15] >>= in.imm & 63
			pc++
		case opRsh64X:
			regs[in.dst&15] >>= regs[in.src&15] & 63
			pc++
		case opArsh64K:
			regs[in.dst&15] = uint64(int64(regs[in.dst&15]) >> (in.imm & 63))
			pc++
		case opArsh64X:
			regs[in.dst&15] = uint64(int64(regs[in.dst&15]) >> (regs[in.src&15] & 63))
			pc++
		case opXor64K:
			regs[in.dst&15] ^= in.imm
			pc++
		case opXor64X:
			regs[in.dst&15] ^= regs[in.src&15]
			pc++
		case opNeg64:
			regs[in.dst&15] = -regs[in.dst&15]
			pc++
		case opMov64K:
			regs[in.dst&15] = in.imm
			pc++
		case opMov64X:
			regs[in.dst&15] = regs[in.src&15]
			pc++
		case opMovsx64s8:
			regs[in.dst&15] = uint64(int64(int8(regs[in.src&15])))
			pc++
		case opMovsx64s16:
			regs[in.dst&15] = uint64(int64(int16(regs[in.src&15])))
			pc++
		case opMovsx64s32:
			regs[in.dst&15] = uint64(int64(int32(regs[in.src&15])))
			pc++

		case opAdd32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) + uint32(in.imm))
			pc++
		case opAdd32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) + uint32(regs[in.src&15]))
			pc++
		case opSub32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) - uint32(in.imm))
			pc++
		case opSub32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) - uint32(regs[in.src&15]))
			pc++
		case opMul32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) * uint32(in.imm))
			pc++
		case opMul32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) * uint32(regs[in.src&15]))
			pc++
		case opDiv32K:
			regs[in.dst&15] = uint64(div32(uint32(regs[in.dst&15]), uint32(in.imm)))
			pc++
		case opDiv32X:
			regs[in.dst&15] = uint64(div32(uint32(regs[in.dst&15]), uint32(regs[in.src&15])))
			pc++
		case opSdiv32K:
			regs[in.dst&15] = uint64(sdiv32(uint32(regs[in.dst&15]), uint32(in.imm)))
			pc++
		case opSdiv32X:
			regs[in.dst&15] = uint64(sdiv32(uint32(regs[in.dst&15]), uint32(regs[in.src&15])))
			pc++
		case opMod32K:
			regs[in.dst&15] = uint64(mod32(uint32(regs[in.dst&15]), uint32(in.imm)))
			pc++
		case opMod32X:
			regs[in.dst&15] = uint64(mod32(uint32(regs[in.dst&15]), uint32(regs[in.src&15])))
			pc++
		case opSmod32K:
			regs[in.dst&15] = uint64(smod32(uint32(regs[in.dst&15]), uint32(in.imm)))
			pc++
		case opSmod32X:
			regs[in.dst&15] = uint64(smod32(uint32(regs[in.dst&15]), uint32(regs[in.src&15])))
			pc++
		case opOr32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) | uint32(in.imm))
			pc++
		case opOr32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) | uint32(regs[in.src&15]))
			pc++
		case opAnd32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) & uint32(in.imm))
			pc++
		case opAnd32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) & uint32(regs[in.src&15]))
			pc++
		case opLsh32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) << (in.imm & 31))
			pc++
		case opLsh32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) << (regs[in.src&15] & 31))
			pc++
		case opRsh32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) >> (in.imm & 31))
			pc++
		case opRsh32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) >> (regs[in.src&15] & 31))
			pc++
		case opArsh32K:
			regs[in.dst&15] = uint64(uint32(int32(regs[in.dst&15]) >> (in.imm & 31)))
			pc++
		case opArsh32X:
			regs[in.dst&15] = uint64(uint32(int32(regs[in.dst&15]) >> (regs[in.src&15] & 31)))
			pc++
		case opXor32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) ^ uint32(in.imm))
			pc++
		case opXor32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) ^ uint32(regs[in.src&15]))
			pc++
		case opNeg32:
			regs[in.dst&15] = uint64(-uint32(regs[in.dst&15]))
			pc++
		case opMov32K:
			regs[in.dst&15] = uint64(uint32(in.imm))
			pc++
		case opMov32X:
			regs[in.dst&15] = uint64(uint32(regs[in.src&15]))
			pc++
		case opMovsx32s8:
			regs[in.dst&15] = uint64(uint32(int32(int8(regs[in.src&15]))))
			pc++
		case opMovsx32s16:
			regs[in.dst&15] = uint64(uint32(int32(int16(regs[in.src&15]))))
			pc++

		case opSwap16:
			regs[in.dst&15] = uint64(bits.ReverseBytes16(uint16(regs[in.dst&15])))
			pc++
		case opSwap32:
			regs[in.dst&15] = uint64(bits.ReverseBytes32(uint32(regs[in.dst&15])))
			pc++
		case opSwap64:
			regs[in.dst&15] = bits.ReverseBytes64(regs[in.dst&15])
			pc++
		case opZext16:
			regs[in.dst&15] = uint64(uint16(regs[in.dst&15]))
			pc++
		case opZext32:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]))
			pc++
		case opNop:
			pc++

		case opLDDW:
			regs[in.dst&15] = in.imm
			pc += 2

		case opLdxB:
			p := vm.fastRead(regs[in.src&15]+uint64(int64(in.off)), 1)
			if p == nil {
				return pc, left + 1
			}
			regs[in.dst&15] = uint64(*(*uint8)(p))
			pc++
		case opLdxH:
			p := vm.fastRead(regs[in.src&15]+uint64(int64(in.off)), 2)
			if p == nil {
				return pc, left + 1
			}
			regs[in.dst&15] = uint64(*(*uint16)(p))
			pc++
		case opLdxW:
			p := vm.fastRead(regs[in.src&15]+uint64(int64(in.off)), 4)
			if p == nil {
				return pc, left + 1
			}
			regs[in.dst&15] = uint64(*(*uint32)(p))
			pc++
		case opLdxDW:
			p := vm.fastRead(regs[in.src&15]+uint64(int64(in.off)), 8)
			if p == nil {
				return pc, left + 1
			}
			regs[in.dst&15] = *(*uint64)(p)
			pc++
		case opLdxsB:
			p := vm.fastRead(regs[in.src&15]+uint64(int64(in.off)), 1)
			if p == nil {
				return pc, left + 1
			}
			regs[in.dst&15] = uint64(int64(*(*int8)(p)))
			pc++
		case opLdxsH:
			p := vm.fastRead(regs[in.src&15]+uint64(int64(in.off)), 2)
			if p == nil {
				return pc, left + 1
			}
			regs[in.dst&15] = uint64(int64(*(*int16)(p)))
			pc++
		case opLdxsW:
			p := vm.fastRead(regs[in.src&15]+uint64(int64(in.off)), 4)
			if p == nil {
				return pc, left + 1
			}
			regs[in.dst&15] = uint64(int64(*(*int32)(p)))
			pc++
		case opStB:
			p := vm.fastWrite(regs[in.dst&15]+uint64(int64(in.off)), 1)
			if p == nil {
				return pc, left + 1
			}
			*(*uint8)(p) = uint8(in.imm)
			pc++
		case opStxB:
			p := vm.fastWrite(regs[in.dst&15]+uint64(int64(in.off)), 1)
			if p == nil {
				return pc, left + 1
			}
			*(*uint8)(p) = uint8(regs[in.src&15])
			pc++
		case opStH:
			p := vm.fastWrite(regs[in.dst&15]+uint64(int64(in.off)), 2)
			if p == nil {
				return pc, left + 1
			}
			*(*uint16)(p) = uint16(in.imm)
			pc++
		case opStxH:
			p := vm.fastWrite(regs[in.dst&15]+uint64(int64(in.off)), 2)
			if p == nil {
				return pc, left + 1
			}
			*(*uint16)(p) = uint16(regs[in.src&15])
			pc++
		case opStW:
			p := vm.fastWrite(regs[in.dst&15]+uint64(int64(in.off)), 4)
			if p == nil {
				return pc, left + 1
			}
			*(*uint32)(p) = uint32(in.imm)
			pc++
		case opStxW:
			p := vm.fastWrite(regs[in.dst&15]+uint64(int64(in.off)), 4)
			if p == nil {
				return pc, left + 1
			}
			*(*uint32)(p) = uint32(regs[in.src&15])
			pc++
		case opStDW:
			p := vm.fastWrite(regs[in.dst&15]+uint64(int64(in.off)), 8)
			if p == nil {
				return pc, left + 1
			}
			*(*uint64)(p) = in.imm
			pc++
		case opStxDW:
			p := vm.fastWrite(regs[in.dst&15]+uint64(int64(in.off)), 8)
			if p == nil {
				return pc, left + 1
			}
			*(*uint64)(p) = regs[in.src&15]
			pc++

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
		case opCallLocal:
			if vm.depth >= isa.MaxCallDepth {
				return pc, left + 1
			}
			f := &vm.frames[vm.depth]
			f.ret = pc + 1
			f.saved = [4]uint64{regs[6], regs[7], regs[8], regs[9]}
			vm.depth++
			vm.deepest = max(vm.deepest, vm.depth)
			vm.stackLen += isa.StackSize
			regs[10] = vm.stackLo + vm.stackLen
			pc = int(in.off)
		case opExit:
			if vm.depth == base {
				return pc, left + 1
			}
			vm.depth--
			vm.stackLen -= isa.StackSize
			f := &vm.frames[vm.depth]
			regs[6], regs[7], regs[8], regs[9] = f.saved[0], f.saved[1], f.saved[2], f.saved[3]
			regs[10] = vm.stackLo + vm.stackLen
			pc = f.ret

		default:
			return pc, left + 1
		}
	}
}

// fastRead returns a pointer to the n bytes at addr if they lie in the
// live stack or in the region the last read outside the stack used, or nil.
// It is small enough to be inlined into inner.
func (vm *VM) fastRead(addr, n uint64) unsafe.Pointer {
	if a := addr - vm.stackLo; a <= vm.stackLen-n { // stackLen >= StackSize > n
		return unsafe.Add(vm.stackPtr, a)
	}
	if a := addr - vm.cacheR.lo; a < vm.cacheR.size && vm.cacheR.size-a >= n {
		return unsafe.Add(vm.cacheR.ptr, a)
	}
	return nil
}

// fastWrite is fastRead for stores: the cached region is the last writable
// region a store outside the stack used.
func (vm *VM) fastWrite(addr, n uint64) unsafe.Pointer {
	if a := addr - vm.stackLo; a <= vm.stackLen-n {
		return unsafe.Add(vm.stackPtr, a)
	}
	if a := addr - vm.cacheW.lo; a < vm.cacheW.size && vm.cacheW.size-a >= n {
		return unsafe.Add(vm.cacheW.ptr, a)
	}
	return nil
}

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
// the function is the one exec entered (base is its depth).
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
