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
	// CalleeEntry is what a callback may read on entry: its arguments
	// and its frame pointer.
	CalleeEntry = ArgRegs | 1<<R10
)

// ErrUninitialized is wrapped by the errors CheckInitialized returns. It
// wraps ErrInvalidProgram.
var ErrUninitialized = fmt.Errorf("%w: register read before it is written", ErrInvalidProgram)

// CheckInitialized refuses a program that may read a register before
// writing it on some path: a forward "definitely written" dataflow analysis
// over the control-flow graph. The entry function starts with the registers
// in entry. A bpf-to-bpf callee starts, as in the kernel, with r10 and
// those of r1-r5 that every caller has written; a callback (the target of
// an lddw function pointer, called by a helper) with r1-r5 and r10. The
// program and callbacks must write r0 before exit; a bpf-to-bpf function
// need not (it may return nothing), but then its callers have no r0
// after the call. A helper call writes r0; helper and local calls leave
// r1-r5 unwritten (clobbered) and r6-r9 as they were, as the kernel's
// calling convention guarantees. Helper arguments are not checked: that
// needs the helpers' prototypes. Legacy packet loads behave like a
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
	// Function entries: the program's, the targets of local calls, and
	// callbacks (targets of lddw function pointers). Each slot belongs to
	// the function starting at or before it, as in the kernel's layout.
	isStart := make([]bool, n)
	callback := make([]bool, n)
	isStart[0] = true
	for k := 0; k < n; k++ {
		i := insns[k]
		if t, ok := Target(insns, k); ok && t >= 0 && t < n {
			switch {
			case i.Opcode == OpcodeCall && i.Src == CallLocal:
				isStart[t] = true
			case i.IsLDDW() && i.Src == PseudoFunc:
				isStart[t], callback[t] = true, true
			}
		}
		if i.IsLDDW() {
			k++
		}
	}
	funcOf := make([]int, n)
	for k, f := 0, 0; k < n; k++ {
		if isStart[k] {
			f = k
		}
		funcOf[k] = f
	}
	returnsR0 := returnSummaries(insns, isStart, funcOf)
	return checkFlow(insns, entry, funcOf, callback, returnsR0)
}

// returnSummaries computes, for each function entry f, whether every exit
// of f leaves r0 written (a bpf-to-bpf function may return nothing; its
// callers then have no r0). Callees are summarised before their callers
// (a post-order walk of the call graph), so each function is analysed
// once; a recursive call, which the kernel refuses anyway, counts as
// returning nothing.
func returnSummaries(insns []Instruction, isStart []bool, funcOf []int) []bool {
	n := len(insns)
	returnsR0 := make([]bool, n)
	const (
		unvisited = iota
		inProgress
		done
	)
	state := make([]uint8, n)
	// callees lists the local calls' targets of the function at f.
	callees := func(f int) []int {
		var out []int
		for k := f; k < n && funcOf[k] == f; k++ {
			if i := insns[k]; i.Opcode == OpcodeCall && i.Src == CallLocal {
				if t, ok := Target(insns, k); ok && t >= 0 && t < n && state[t] != done {
					out = append(out, t)
				}
			}
			if insns[k].IsLDDW() {
				k++
			}
		}
		return out
	}
	// Scratch for the single-bit dataflow of one function at a time.
	r0 := make([]bool, n)
	seen := make([]bool, n)
	var work []int
	summarise := func(f int) bool {
		var reached []int
		returns, anyExit := true, false
		push := func(k int, set bool) {
			if k < 0 || k >= n || funcOf[k] != f {
				return // leaving the function: not a valid program
			}
			if !seen[k] {
				seen[k], r0[k] = true, set
				reached = append(reached, k)
				work = append(work, k)
			} else if r0[k] && !set {
				r0[k] = false
				work = append(work, k)
			}
		}
		push(f, false)
		for len(work) > 0 {
			k := work[len(work)-1]
			work = work[:len(work)-1]
			i := insns[k]
			set := r0[k]
			_, writes, clobbers := effects(i)
			if clobbers.Has(R0) {
				set = false
			}
			if writes.Has(R0) {
				set = true
			}
			next := k + 1
			if i.IsLDDW() {
				next = k + 2
			}
			switch {
			case i.Opcode == OpcodeExit:
				anyExit = true
				returns = returns && set
				continue
			case i.Opcode == OpcodeCall && i.Src == CallLocal:
				if t, ok := Target(insns, k); ok && t >= 0 && t < n {
					set = state[t] == done && returnsR0[t]
				}
			case i.Opcode == OpcodeJA || i.Opcode == OpcodeJA32:
				if t, ok := Target(insns, k); ok {
					push(t, set)
				}
				continue
			case (i.Class() == ClassJMP || i.Class() == ClassJMP32) && i.Op() != OpCALL:
				if t, ok := Target(insns, k); ok {
					push(t, set)
				}
			}
			push(next, set)
		}
		for _, k := range reached {
			seen[k] = false
		}
		return returns || !anyExit
	}
	// Iterative post-order walk over the call graph.
	type frame struct {
		f       int
		pending []int
	}
	for root := 0; root < n; root++ {
		if !isStart[root] || state[root] != unvisited {
			continue
		}
		state[root] = inProgress
		stack := []frame{{root, callees(root)}}
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if len(top.pending) > 0 {
				t := top.pending[0]
				top.pending = top.pending[1:]
				if state[t] == unvisited {
					state[t] = inProgress
					stack = append(stack, frame{t, callees(t)})
				}
				continue
			}
			returnsR0[top.f] = summarise(top.f)
			state[top.f] = done
			stack = stack[:len(stack)-1]
		}
	}
	return returnsR0
}

// checkFlow runs the "definitely written" dataflow over the whole program.
func checkFlow(insns []Instruction, entry RegMask, funcOf []int, callback, returnsR0 []bool) error {
	n := len(insns)
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
	for k := range callback {
		if callback[k] {
			// A helper calls the callback with all five arguments.
			push(k, CalleeEntry)
		}
	}
	for len(work) > 0 {
		k := work[len(work)-1]
		work = work[:len(work)-1]
		i := insns[k]
		state := in[k]
		reads, writes, clobbers := effects(i)
		f := funcOf[k]
		// The exit of a bpf-to-bpf function need not return a value: only
		// the program's and a callback's result must be written.
		localExit := i.Opcode == OpcodeExit && f != 0 && !callback[f]
		if localExit {
			reads = 0
		}
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
		case i.Opcode == OpcodeCall && i.Src == CallLocal:
			// The callee gets a new frame: the arguments the caller has
			// written, and its own frame pointer. r0 comes back only if
			// the callee writes it.
			if t, ok := Target(insns, k); ok && t >= 0 && t < n {
				push(t, state&ArgRegs|Reg(R10))
				if !returnsR0[t] {
					out &^= Reg(R0)
				}
			}
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
		case i.Imm == atomicLoadAcquire:
			return src, dst, 0
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
