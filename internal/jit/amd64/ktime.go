//go:build linux && amd64

package amd64

import (
	"unsafe"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// ktime_get_ns inline: with engine.Inline.Ktime, the code calls the
// vDSO's clock_gettime(CLOCK_MONOTONIC) itself, as the Go runtime's
// nanotime does, and returns its nanoseconds minus Inline.KtimeBase:
// exactly the Go-side helper's value (helpers.KtimeBase), on the same
// clock, without an exit to Go.
//
// The vDSO function follows the System V ABI and may need more stack than
// the goroutine's has below the code (Go's runtime runs it on the system
// stack for that reason), so the code switches rsp to a stack of the
// VM's own for the call (ktimeStackWords) and back. Nothing Go does
// depends on rsp meanwhile: signals run on the thread's signal stack, and
// the runtime neither preempts nor unwinds code that is not Go's (a
// profiling sample there counts as external code). The call clobbers the
// System V caller-saved registers: rax (r0, the result), rdi, rsi, rdx,
// rcx, r8 (r1-r5: saved in the context if read afterwards), r9 (the
// context: pushed on the private stack), r10 (the budget: saved) and
// r11 (scratch: the goroutine's rsp, pushed). A clock_gettime that fails
// (it does not for CLOCK_MONOTONIC) falls back to the helper's exit.

// ktimeStackWords is the size of the vDSO call's stack: far more than
// clock_gettime needs, also when the kernel was built to probe its stack.
const ktimeStackWords = 16 << 10 / 8

// clockMonotonic is CLOCK_MONOTONIC's clock id.
const clockMonotonic = 1

// ktimeState is the run context's part for inline ktime_get_ns.
type ktimeState struct {
	stack uint64    // top of the VM's stack for the vDSO call, 16-byte aligned
	base  int64     // Inline.KtimeBase
	ts    [2]int64  // the struct timespec clock_gettime fills
	save  [6]uint64 // r1-r5 and the budget register across the call
}

var (
	offKtime      = offInline + int32(unsafe.Offsetof(inlineState{}.ktime))
	offKtimeStack = offKtime + int32(unsafe.Offsetof(ktimeState{}.stack))
	offKtimeBase  = offKtime + int32(unsafe.Offsetof(ktimeState{}.base))
	offKtimeTs    = offKtime + int32(unsafe.Offsetof(ktimeState{}.ts))
	offKtimeSave  = offKtime + int32(unsafe.Offsetof(ktimeState{}.save))
)

// emitKtime emits ktime_get_ns at the call in slot i, calling the vDSO
// function at fn.
func (c *compiler) emitKtime(i int, fn uintptr) {
	e := &c.e
	after := c.live[i+1] // a call is never the last instruction: Validate
	generic, done := e.newLabel(), e.newLabel()
	for r := 1; r <= 5; r++ {
		if after&(1<<r) != 0 {
			e.store(s64, ctxField(offKtimeSave+int32(8*(r-1))), xreg[r])
		}
	}
	e.store(s64, ctxField(offKtimeSave+40), budgetReg)
	e.mov(s64, scratchReg, rsp)
	e.load(s64, rsp, ctxField(offKtimeStack))
	e.push(scratchReg)
	e.push(ctxReg) // two pushes: rsp stays 16-byte aligned for the call
	e.movImm32(rdi, clockMonotonic)
	e.lea(rsi, ctxField(offKtimeTs))
	e.movImm64(rax, uint64(fn))
	e.callIndirect(rax)
	e.pop(ctxReg)
	e.pop(scratchReg)
	e.mov(s64, rsp, scratchReg)
	e.test(s32, rax, rax)
	// Loads leave the flags alone.
	e.load(s64, budgetReg, ctxField(offKtimeSave+40))
	for r := 1; r <= 5; r++ {
		if after&(1<<r) != 0 {
			e.load(s64, xreg[r], ctxField(offKtimeSave+int32(8*(r-1))))
		}
	}
	e.jcc(condNE, generic)
	e.load(s64, rax, ctxField(offKtimeTs))
	e.imulImm(s64, rax, rax, 1_000_000_000)
	e.aluLoad(aluADD, s64, rax, ctxField(offKtimeTs+8))
	e.aluLoad(aluSUB, s64, rax, ctxField(offKtimeBase))
	e.jmp(done)
	e.bind(generic)
	c.emitHelperCall(i)
	e.bind(done)
}

// usesKtime reports whether insns call ktime_get_ns where the code runs
// it inline.
func usesKtime(insns []isa.Instruction, inl *engine.Inline) bool {
	if !inl.Ktime || vdsoClockGettime() == 0 {
		return false
	}
	for _, in := range insns {
		if in.Opcode == isa.OpcodeCall && in.Src == isa.CallHelper && in.Imm == engine.HelperKtimeGetNs {
			return true
		}
	}
	return false
}

// initKtime gives a VM whose program runs ktime_get_ns inline the stack
// for the vDSO call and the clock's base.
func (vm *VM) initKtime() {
	if !usesKtime(vm.p.insns, &vm.p.inline) {
		return
	}
	vm.ktimeStack = make([]uint64, ktimeStackWords)
	top := uint64(uintptr(unsafe.Pointer(&vm.ktimeStack[len(vm.ktimeStack)-1]))) &^ 15
	vm.ctx.inline.ktime = ktimeState{stack: top, base: vm.p.inline.KtimeBase}
}
