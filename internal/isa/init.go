package isa

import (
	"fmt"
	"math/bits"
	"strings"
)

// RegMask is a set of registers: bit n stands for rn.
type RegMask uint16

// Reg returns the mask holding only register r.
func Reg(r uint8) RegMask { return 1 << (r & 15) }

// Has reports whether r is in the set.
func (m RegMask) Has(r uint8) bool { return m&Reg(r) != 0 }

// String lists the registers, e.g. "r1|r2|r10".
func (m RegMask) String() string {
	if m == 0 {
		return "none"
	}
	var parts []string
	for r := uint8(0); r < 16; r++ {
		if m.Has(r) {
			parts = append(parts, fmt.Sprintf("r%d", r))
		}
	}
	return strings.Join(parts, "|")
}

// Register sets used by CheckInitialized.
const (
	// ArgRegs are r1-r5, the argument registers a call clobbers.
	ArgRegs RegMask = 1<<R1 | 1<<R2 | 1<<R3 | 1<<R4 | 1<<R5
	// CalleeEntry is what a bpf-to-bpf callee (or a callback) may read on
	// entry: its arguments and its frame pointer.
	CalleeEntry = ArgRegs | 1<<R10
)

// ErrUninitialized is wrapped by the errors CheckInitialized returns. It
// wraps ErrInvalidProgram.
var ErrUninitialized = fmt.Errorf("%w: register read before it is written", ErrInvalidProgram)

// CheckInitialized refuses a program that may read a register before
// writing it on some path: a forward "definitely written" dataflow analysis
// over the control-flow graph. The entry function starts with the registers
// in entry; bpf-to-bpf callees (targets of local calls and of lddw function
// pointers) start with r1-r5 and r10. A helper or local call writes r0 and
// leaves r1-r5 unwritten (clobbered); r6-r9 survive a local call, as the
// kernel's calling convention guarantees. Legacy packet loads behave like a
// call (r0 written, r1-r5 clobbered), as in the kernel. Unreachable code is
// not checked: it never runs.
//
// The error is an *InstructionError wrapping ErrUninitialized. It expects a
// program that passed Validate but never panics on one that did not.
func CheckInitialized(insns []Instruction, entry RegMask) error {
	n := len(insns)
	if n == 0 {
		return nil
	}
	// in[k]: registers written on every path reaching slot k so far;
	// seen[k]: k is reachable. The meet is intersection.
	in := make([]RegMask, n)
	seen := make([]bool, n)
	work := make([]int, 0, n)
	push := func(k int, m RegMask) {
		if k < 0 || k >= n {
			return
		}
		if !seen[k] {
			seen[k], in[k] = true, m
			work = append(work, k)
			return
		}
		if in[k]&m != in[k] {
			in[k] &= m
			work = append(work, k)
		}
	}
	push(0, entry)
	// Callees are analysed as their own entry points.
	for k := 0; k < n; k++ {
		i := insns[k]
		if (i.Opcode == OpcodeCall && i.Src == CallLocal) || (i.IsLDDW() && i.Src == PseudoFunc) {
			if t, ok := Target(insns, k); ok {
				push(t, CalleeEntry)
			}
		}
		if i.IsLDDW() {
			k++
		}
	}
	for len(work) > 0 {
		k := work[len(work)-1]
		work = work[:len(work)-1]
		i := insns[k]
		state := in[k]
		reads, writes, clobbers := effects(i)
		if missing := reads &^ state; missing != 0 {
			r := uint8(bits.TrailingZeros16(uint16(missing)))
			return &InstructionError{Index: k, Insn: i, Reason: fmt.Sprintf("r%d is read before it is written", r), Err: ErrUninitialized}
		}
		out := (state &^ clobbers) | writes
		next := k + 1
		if i.IsLDDW() {
			next = k + 2
		}
		switch {
		case i.Opcode == OpcodeExit:
			continue
		case i.Opcode == OpcodeJA || i.Opcode == OpcodeJA32:
			if t, ok := Target(insns, k); ok {
				push(t, out)
			}
			continue
		case (i.Class() == ClassJMP || i.Class() == ClassJMP32) && i.Op() != OpCALL:
			if t, ok := Target(insns, k); ok {
				push(t, out)
			}
		}
		push(next, out)
	}
	return nil
}

// effects returns the registers an instruction reads, writes and leaves
// unwritten (clobbers).
func effects(i Instruction) (reads, writes, clobbers RegMask) {
	dst, src := Reg(i.Dst), Reg(i.Src)
	switch i.Class() {
	case ClassALU, ClassALU64:
		switch {
		case i.Op() == OpMOV && i.Source() == SrcX:
			return src, dst, 0
		case i.Op() == OpMOV:
			return 0, dst, 0
		case i.Op() == OpNEG || i.Op() == OpEND || i.Source() == SrcK:
			return dst, dst, 0
		default:
			return dst | src, dst, 0
		}
	case ClassJMP, ClassJMP32:
		switch {
		case i.Opcode == OpcodeExit:
			return Reg(R0), 0, 0
		case i.Opcode == OpcodeCallX:
			return dst, Reg(R0), ArgRegs
		case i.Op() == OpCALL:
			return 0, Reg(R0), ArgRegs
		case i.Op() == OpJA:
			return 0, 0, 0
		case i.Source() == SrcX:
			return dst | src, 0, 0
		default:
			return dst, 0, 0
		}
	case ClassLDX:
		return src, dst, 0
	case ClassST:
		return dst, 0, 0
	case ClassSTX:
		if i.Mode() != ModeATOMIC {
			return dst | src, 0, 0
		}
		switch {
		case i.Imm == AtomicCMPXCHG:
			return dst | src | Reg(R0), Reg(R0), 0
		case i.Imm&AtomicFETCH != 0:
			return dst | src, src, 0
		default:
			return dst | src, 0, 0
		}
	case ClassLD:
		switch i.Mode() {
		case ModeABS:
			return 0, Reg(R0), ArgRegs
		case ModeIND:
			return src, Reg(R0), ArgRegs
		default:
			return 0, dst, 0
		}
	}
	return 0, 0, 0
}
