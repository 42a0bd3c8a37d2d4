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

// exec runs the function at slot pc on a new frame (the caller checked the
// depth) until that function exits, and returns its r0. It shares the
// budget with the rest of the run through vm.left / vm.remaining, which it
// keeps in a local while running and writes back whenever Go code that may
// run bpf code (a helper) or the caller gets control.
func (vm *VM) exec(pc int, r1, r2, r3, r4, r5 uint64) (uint64, error) {
	code := vm.prog.code
	helpers := vm.prog.helpers

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
		if left == 0 {
			vm.left = 0
			if err := vm.refill(); err != nil {
				reason := fmt.Sprintf("the run reached its budget of %d instructions", vm.runBudget)
				if err == engine.ErrCancelled {
					reason = "run cancelled: " + vm.ctx.Err().Error()
				}
				// Count the instruction that could not run as executed
				// neither: Executed() stays at most the budget.
				return 0, vm.fault(pc, err, reason)
			}
			left = vm.left
		}
		left--
		in := &code[pc]
		pc++
		switch in.kind {
		case opAdd64K:
			regs[in.dst&15] += in.imm
		case opAdd64X:
			regs[in.dst&15] += regs[in.src&15]
		case opSub64K:
			regs[in.dst&15] -= in.imm
		case opSub64X:
			regs[in.dst&15] -= regs[in.src&15]
		case opMul64K:
			regs[in.dst&15] *= in.imm
		case opMul64X:
			regs[in.dst&15] *= regs[in.src&15]
		case opDiv64K:
			regs[in.dst&15] = div64(regs[in.dst&15], in.imm)
		case opDiv64X:
			regs[in.dst&15] = div64(regs[in.dst&15], regs[in.src&15])
		case opSdiv64K:
			regs[in.dst&15] = sdiv64(regs[in.dst&15], in.imm)
		case opSdiv64X:
			regs[in.dst&15] = sdiv64(regs[in.dst&15], regs[in.src&15])
		case opMod64K:
			regs[in.dst&15] = mod64(regs[in.dst&15], in.imm)
		case opMod64X:
			regs[in.dst&15] = mod64(regs[in.dst&15], regs[in.src&15])
		case opSmod64K:
			regs[in.dst&15] = smod64(regs[in.dst&15], in.imm)
		case opSmod64X:
			regs[in.dst&15] = smod64(regs[in.dst&15], regs[in.src&15])
		case opOr64K:
			regs[in.dst&15] |= in.imm
		case opOr64X:
			regs[in.dst&15] |= regs[in.src&15]
		case opAnd64K:
			regs[in.dst&15] &= in.imm
		case opAnd64X:
			regs[in.dst&15] &= regs[in.src&15]
		case opLsh64K:
			regs[in.dst&15] <<= in.imm & 63
		case opLsh64X:
			regs[in.dst&15] <<= regs[in.src&15] & 63
		case opRsh64K:
			regs[in.dst&15] >>= in.imm & 63
		case opRsh64X:
			regs[in.dst&15] >>= regs[in.src&15] & 63
		case opArsh64K:
			regs[in.dst&15] = uint64(int64(regs[in.dst&15]) >> (in.imm & 63))
		case opArsh64X:
			regs[in.dst&15] = uint64(int64(regs[in.dst&15]) >> (regs[in.src&15] & 63))
		case opXor64K:
			regs[in.dst&15] ^= in.imm
		case opXor64X:
			regs[in.dst&15] ^= regs[in.src&15]
		case opNeg64:
			regs[in.dst&15] = -regs[in.dst&15]
		case opMov64K:
			regs[in.dst&15] = in.imm
		case opMov64X:
			regs[in.dst&15] = regs[in.src&15]
		case opMovsx64s8:
			regs[in.dst&15] = uint64(int64(int8(regs[in.src&15])))
		case opMovsx64s16:
			regs[in.dst&15] = uint64(int64(int16(regs[in.src&15])))
		case opMovsx64s32:
			regs[in.dst&15] = uint64(int64(int32(regs[in.src&15])))

		case opAdd32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) + uint32(in.imm))
		case opAdd32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) + uint32(regs[in.src&15]))
		case opSub32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) - uint32(in.imm))
		case opSub32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) - uint32(regs[in.src&15]))
		case opMul32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) * uint32(in.imm))
		case opMul32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) * uint32(regs[in.src&15]))
		case opDiv32K:
			regs[in.dst&15] = uint64(div32(uint32(regs[in.dst&15]), uint32(in.imm)))
		case opDiv32X:
			regs[in.dst&15] = uint64(div32(uint32(regs[in.dst&15]), uint32(regs[in.src&15])))
		case opSdiv32K:
			regs[in.dst&15] = uint64(sdiv32(uint32(regs[in.dst&15]), uint32(in.imm)))
		case opSdiv32X:
			regs[in.dst&15] = uint64(sdiv32(uint32(regs[in.dst&15]), uint32(regs[in.src&15])))
		case opMod32K:
			regs[in.dst&15] = uint64(mod32(uint32(regs[in.dst&15]), uint32(in.imm)))
		case opMod32X:
			regs[in.dst&15] = uint64(mod32(uint32(regs[in.dst&15]), uint32(regs[in.src&15])))
		case opSmod32K:
			regs[in.dst&15] = uint64(smod32(uint32(regs[in.dst&15]), uint32(in.imm)))
		case opSmod32X:
			regs[in.dst&15] = uint64(smod32(uint32(regs[in.dst&15]), uint32(regs[in.src&15])))
		case opOr32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) | uint32(in.imm))
		case opOr32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) | uint32(regs[in.src&15]))
		case opAnd32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) & uint32(in.imm))
		case opAnd32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) & uint32(regs[in.src&15]))
		case opLsh32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) << (in.imm & 31))
		case opLsh32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) << (regs[in.src&15] & 31))
		case opRsh32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) >> (in.imm & 31))
		case opRsh32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) >> (regs[in.src&15] & 31))
		case opArsh32K:
			regs[in.dst&15] = uint64(uint32(int32(regs[in.dst&15]) >> (in.imm & 31)))
		case opArsh32X:
			regs[in.dst&15] = uint64(uint32(int32(regs[in.dst&15]) >> (regs[in.src&15] & 31)))
		case opXor32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) ^ uint32(in.imm))
		case opXor32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) ^ uint32(regs[in.src&15]))
		case opNeg32:
			regs[in.dst&15] = uint64(-uint32(regs[in.dst&15]))
		case opMov32K:
			regs[in.dst&15] = uint64(uint32(in.imm))
		case opMov32X:
			regs[in.dst&15] = uint64(uint32(regs[in.src&15]))
		case opMovsx32s8:
			regs[in.dst&15] = uint64(uint32(int32(int8(regs[in.src&15]))))
		case opMovsx32s16:
			regs[in.dst&15] = uint64(uint32(int32(int16(regs[in.src&15]))))

		case opSwap16:
			regs[in.dst&15] = uint64(bits.ReverseBytes16(uint16(regs[in.dst&15])))
		case opSwap32:
			regs[in.dst&15] = uint64(bits.ReverseBytes32(uint32(regs[in.dst&15])))
		case opSwap64:
			regs[in.dst&15] = bits.ReverseBytes64(regs[in.dst&15])
		case opZext16:
			regs[in.dst&15] = uint64(uint16(regs[in.dst&15]))
		case opZext32:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]))
		case opNop:

		case opLDDW:
			regs[in.dst&15] = in.imm
			pc++

		case opLdxB:
			addr := regs[in.src&15] + uint64(int64(in.off))
			p := vm.access(addr, 1, false)
			if p == nil {
				return 0, vm.memFault(left, pc-1, addr, 1, false)
			}
			regs[in.dst&15] = uint64(*(*uint8)(p))
		case opLdxH:
			addr := regs[in.src&15] + uint64(int64(in.off))
			p := vm.access(addr, 2, false)
			if p == nil {
				return 0, vm.memFault(left, pc-1, addr, 2, false)
			}
			regs[in.dst&15] = uint64(*(*uint16)(p))
		case opLdxW:
			addr := regs[in.src&15] + uint64(int64(in.off))
			p := vm.access(addr, 4, false)
			if p == nil {
				return 0, vm.memFault(left, pc-1, addr, 4, false)
			}
			regs[in.dst&15] = uint64(*(*uint32)(p))
		case opLdxDW:
			addr := regs[in.src&15] + uint64(int64(in.off))
			p := vm.access(addr, 8, false)
			if p == nil {
				return 0, vm.memFault(left, pc-1, addr, 8, false)
			}
			regs[in.dst&15] = *(*uint64)(p)
		case opLdxsB:
			addr := regs[in.src&15] + uint64(int64(in.off))
			p := vm.access(addr, 1, false)
			if p == nil {
				return 0, vm.memFault(left, pc-1, addr, 1, false)
			}
			regs[in.dst&15] = uint64(int64(*(*int8)(p)))
		case opLdxsH:
			addr := regs[in.src&15] + uint64(int64(in.off))
			p := vm.access(addr, 2, false)
			if p == nil {
				return 0, vm.memFault(left, pc-1, addr, 2, false)
			}
			regs[in.dst&15] = uint64(int64(*(*int16)(p)))
		case opLdxsW:
			addr := regs[in.src&15] + uint64(int64(in.off))
			p := vm.access(addr, 4, false)
			if p == nil {
				return 0, vm.memFault(left, pc-1, addr, 4, false)
			}
			regs[in.dst&15] = uint64(int64(*(*int32)(p)))

		case opStB, opStxB:
			v := in.imm
			if in.kind == opStxB {
				v = regs[in.src&15]
			}
			addr := regs[in.dst&15] + uint64(int64(in.off))
			p := vm.access(addr, 1, true)
			if p == nil {
				return 0, vm.memFault(left, pc-1, addr, 1, true)
			}
			*(*uint8)(p) = uint8(v)
		case opStH, opStxH:
			v := in.imm
			if in.kind == opStxH {
				v = regs[in.src&15]
			}
			addr := regs[in.dst&15] + uint64(int64(in.off))
			p := vm.access(addr, 2, true)
			if p == nil {
				return 0, vm.memFault(left, pc-1, addr, 2, true)
			}
			*(*uint16)(p) = uint16(v)
		case opStW, opStxW:
			v := in.imm
			if in.kind == opStxW {
				v = regs[in.src&15]
			}
			addr := regs[in.dst&15] + uint64(int64(in.off))
			p := vm.access(addr, 4, true)
			if p == nil {
				return 0, vm.memFault(left, pc-1, addr, 4, true)
			}
			*(*uint32)(p) = uint32(v)
		case opStDW, opStxDW:
			v := in.imm
			if in.kind == opStxDW {
				v = regs[in.src&15]
			}
			addr := regs[in.dst&15] + uint64(int64(in.off))
			p := vm.access(addr, 8, true)
			if p == nil {
				return 0, vm.memFault(left, pc-1, addr, 8, true)
			}
			*(*uint64)(p) = v

		case opAtomAdd32, opAtomOr32, opAtomAnd32, opAtomXor32,
			opAtomFetchAdd32, opAtomFetchOr32, opAtomFetchAnd32, opAtomFetchXor32,
			opAtomXchg32, opAtomCmpxchg32:
			addr := regs[in.dst&15] + uint64(int64(in.off))
			p := vm.access(addr, 4, true)
			if p == nil || addr&3 != 0 {
				return 0, vm.memFault(left, pc-1, addr, 4, true)
			}
			atomic32(in.kind, (*uint32)(p), &regs[in.src&15], &regs[0])
		case opAtomAdd64, opAtomOr64, opAtomAnd64, opAtomXor64,
			opAtomFetchAdd64, opAtomFetchOr64, opAtomFetchAnd64, opAtomFetchXor64,
			opAtomXchg64, opAtomCmpxchg64:
			addr := regs[in.dst&15] + uint64(int64(in.off))
			p := vm.access(addr, 8, true)
			if p == nil || addr&7 != 0 {
				return 0, vm.memFault(left, pc-1, addr, 8, true)
			}
			atomic64(in.kind, (*uint64)(p), &regs[in.src&15], &regs[0])

		case opLdAbsB, opLdAbsH, opLdAbsW, opLdIndB, opLdIndH, opLdIndW:
			off := uint32(in.imm)
			if in.kind >= opLdIndB {
				off += uint32(regs[in.src&15])
			}
			v, ok := vm.loadPacket(int32(off), in.kind)
			regs[1], regs[2], regs[3], regs[4], regs[5] = 0, 0, 0, 0, 0
			regs[0] = v
			if !ok {
				// As the kernel: a load outside the packet returns 0 from
				// the current function.
				var done bool
				if pc, done = vm.ret(&regs, base); done {
					vm.left = left
					return regs[0], nil
				}
			}

		case opJA:
			pc = int(in.off)
		case opJeq64K:
			if regs[in.dst&15] == in.imm {
				pc = int(in.off)
			}
		case opJeq64X:
			if regs[in.dst&15] == regs[in.src&15] {
				pc = int(in.off)
			}
		case opJeq32K:
			if uint32(regs[in.dst&15]) == uint32(in.imm) {
				pc = int(in.off)
			}
		case opJeq32X:
			if uint32(regs[in.dst&15]) == uint32(regs[in.src&15]) {
				pc = int(in.off)
			}
		case opJne64K:
			if regs[in.dst&15] != in.imm {
				pc = int(in.off)
			}
		case opJne64X:
			if regs[in.dst&15] != regs[in.src&15] {
				pc = int(in.off)
			}
		case opJne32K:
			if uint32(regs[in.dst&15]) != uint32(in.imm) {
				pc = int(in.off)
			}
		case opJne32X:
			if uint32(regs[in.dst&15]) != uint32(regs[in.src&15]) {
				pc = int(in.off)
			}
		case opJgt64K:
			if regs[in.dst&15] > in.imm {
				pc = int(in.off)
			}
		case opJgt64X:
			if regs[in.dst&15] > regs[in.src&15] {
				pc = int(in.off)
			}
		case opJgt32K:
			if uint32(regs[in.dst&15]) > uint32(in.imm) {
				pc = int(in.off)
			}
		case opJgt32X:
			if uint32(regs[in.dst&15]) > uint32(regs[in.src&15]) {
				pc = int(in.off)
			}
		case opJge64K:
			if regs[in.dst&15] >= in.imm {
				pc = int(in.off)
			}
		case opJge64X:
			if regs[in.dst&15] >= regs[in.src&15] {
				pc = int(in.off)
			}
		case opJge32K:
			if uint32(regs[in.dst&15]) >= uint32(in.imm) {
				pc = int(in.off)
			}
		case opJge32X:
			if uint32(regs[in.dst&15]) >= uint32(regs[in.src&15]) {
				pc = int(in.off)
			}
		case opJlt64K:
			if regs[in.dst&15] < in.imm {
				pc = int(in.off)
			}
		case opJlt64X:
			if regs[in.dst&15] < regs[in.src&15] {
				pc = int(in.off)
			}
		case opJlt32K:
			if uint32(regs[in.dst&15]) < uint32(in.imm) {
				pc = int(in.off)
			}
		case opJlt32X:
			if uint32(regs[in.dst&15]) < uint32(regs[in.src&15]) {
				pc = int(in.off)
			}
		case opJle64K:
			if regs[in.dst&15] <= in.imm {
				pc = int(in.off)
			}
		case opJle64X:
			if regs[in.dst&15] <= regs[in.src&15] {
				pc = int(in.off)
			}
		case opJle32K:
			if uint32(regs[in.dst&15]) <= uint32(in.imm) {
				pc = int(in.off)
			}
		case opJle32X:
			if uint32(regs[in.dst&15]) <= uint32(regs[in.src&15]) {
				pc = int(in.off)
			}
		case opJsgt64K:
			if int64(regs[in.dst&15]) > int64(in.imm) {
				pc = int(in.off)
			}
		case opJsgt64X:
			if int64(regs[in.dst&15]) > int64(regs[in.src&15]) {
				pc = int(in.off)
			}
		case opJsgt32K:
			if int32(regs[in.dst&15]) > int32(in.imm) {
				pc = int(in.off)
			}
		case opJsgt32X:
			if int32(regs[in.dst&15]) > int32(regs[in.src&15]) {
				pc = int(in.off)
			}
		case opJsge64K:
			if int64(regs[in.dst&15]) >= int64(in.imm) {
				pc = int(in.off)
			}
		case opJsge64X:
			if int64(regs[in.dst&15]) >= int64(regs[in.src&15]) {
				pc = int(in.off)
			}
		case opJsge32K:
			if int32(regs[in.dst&15]) >= int32(in.imm) {
				pc = int(in.off)
			}
		case opJsge32X:
			if int32(regs[in.dst&15]) >= int32(regs[in.src&15]) {
				pc = int(in.off)
			}
		case opJslt64K:
			if int64(regs[in.dst&15]) < int64(in.imm) {
				pc = int(in.off)
			}
		case opJslt64X:
			if int64(regs[in.dst&15]) < int64(regs[in.src&15]) {
				pc = int(in.off)
			}
		case opJslt32K:
			if int32(regs[in.dst&15]) < int32(in.imm) {
				pc = int(in.off)
			}
		case opJslt32X:
			if int32(regs[in.dst&15]) < int32(regs[in.src&15]) {
				pc = int(in.off)
			}
		case opJsle64K:
			if int64(regs[in.dst&15]) <= int64(in.imm) {
				pc = int(in.off)
			}
		case opJsle64X:
			if int64(regs[in.dst&15]) <= int64(regs[in.src&15]) {
				pc = int(in.off)
			}
		case opJsle32K:
			if int32(regs[in.dst&15]) <= int32(in.imm) {
				pc = int(in.off)
			}
		case opJsle32X:
			if int32(regs[in.dst&15]) <= int32(regs[in.src&15]) {
				pc = int(in.off)
			}
		case opJset64K:
			if regs[in.dst&15]&in.imm != 0 {
				pc = int(in.off)
			}
		case opJset64X:
			if regs[in.dst&15]&regs[in.src&15] != 0 {
				pc = int(in.off)
			}
		case opJset32K:
			if uint32(regs[in.dst&15])&uint32(in.imm) != 0 {
				pc = int(in.off)
			}
		case opJset32X:
			if uint32(regs[in.dst&15])&uint32(regs[in.src&15]) != 0 {
				pc = int(in.off)
			}

		case opCall:
			vm.left = left
			r0, err := helpers[in.off](vm, regs[1], regs[2], regs[3], regs[4], regs[5])
			left = vm.left
			if err != nil {
				return 0, vm.helperFault(left, pc-1, int64(vm.prog.insns[pc-1].Imm), err)
			}
			regs[0] = r0
		case opCallX:
			id := regs[in.dst&15]
			h := vm.prog.byID[int32(id)]
			if h == nil || uint64(int64(int32(id))) != id {
				return 0, vm.stop(left, pc-1, engine.ErrUnknownHelper, fmt.Sprintf("callx: r%d = %d is not a known helper id", in.dst, int64(id)))
			}
			vm.left = left
			r0, err := h(vm, regs[1], regs[2], regs[3], regs[4], regs[5])
			left = vm.left
			if err != nil {
				return 0, vm.helperFault(left, pc-1, int64(id), err)
			}
			regs[0] = r0
		case opCallLocal:
			if vm.depth >= isa.MaxCallDepth {
				return 0, vm.stop(left, pc-1, engine.ErrCallDepth, fmt.Sprintf("the call would make frame %d; the limit is %d frames", vm.depth+1, isa.MaxCallDepth))
			}
			f := &vm.frames[vm.depth]
			f.ret = pc
			f.saved = [4]uint64{regs[6], regs[7], regs[8], regs[9]}
			vm.depth++
			vm.deepest = max(vm.deepest, vm.depth)
			vm.stackLen += isa.StackSize
			regs[10] = vm.stackLo + vm.stackLen
			pc = int(in.off)
		case opExit:
			var done bool
			if pc, done = vm.ret(&regs, base); done {
				vm.left = left
				return regs[0], nil
			}

		default: // opInvalid: Load makes sure no jump lands here
			return 0, vm.stop(left, pc-1, engine.ErrOutOfBounds, "execution reached the second half of an lddw")
		}
	}
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
	reason := vm.describeFault(addr, n, write)
	if vm.access(addr, n, write) != nil { // in bounds, so it was the alignment
		reason = fmt.Sprintf("atomic access of %d bytes at %#x is not aligned to %d bytes", n, addr, n)
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
