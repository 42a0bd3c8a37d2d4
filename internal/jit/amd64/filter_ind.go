//go:build linux && amd64

package amd64

import (
	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// Indexed indirect legacy loads (filter entry). An indirect load whose
// offset is known non-negative (indNonNegative) computes the offset into
// the scratch register, checks it against the packet's bound and then
// addresses the packet as base + offset with an indexed operand, instead
// of adding the base to the offset first.
//
// Classic filters compute the index of their indirect loads with "ldxb
// 4*([k]&0xf)", translated into "w0 &= 15; w0 <<= 2; w7 = w0" just before
// the load: when X (r7) is read by nothing after the load, the copy is not
// emitted (the load indexes with r0 instead), and a shift of r0 by 0-3
// before it becomes the index's scale. The load overwrites r0 (or, fused,
// leaves it dead), so neither elision is observable.

// indexedLoads says how the filter entry emits indirect legacy loads.
type indexedLoads struct {
	// load[i]: the indirect load at slot i is indexed, with this
	// register times scale as the offset (before its immediate).
	load []indexedLoad
	// elided[i]: slot i is emitted as nothing (folded into the load
	// after it).
	elided []bool
}

type indexedLoad struct {
	ok    bool
	index reg
	scale uint8
}

// findIndexedLoads returns the indexed indirect loads of a filter entry
// program (nil if none). insns must pass filterable.
func (c *compiler) findIndexedLoads() *indexedLoads {
	if c.opts.BlindConstants || c.nonNegative == nil {
		return nil
	}
	insns := c.insns
	n := len(insns)
	target := engine.JumpTargets(insns)
	_, live := liveness(insns, true) // no calls: an exit ends the run
	lddwAt := func(k int) bool { return k >= 0 && insns[k].IsLDDW() }
	var r *indexedLoads
	for i, in := range insns {
		if in.Class() != isa.ClassLD || in.Mode() != isa.ModeIND || lddwAt(i-1) || !c.nonNegative[i] {
			continue
		}
		if r == nil {
			r = &indexedLoads{load: make([]indexedLoad, n), elided: make([]bool, n)}
		}
		r.load[i] = indexedLoad{ok: true, index: xreg[in.Src], scale: 1}
		// "wX = w0" (or rX = r0) just before, X read by nothing after.
		if i < 1 || target[i] || lddwAt(i-2) || i+1 >= n || live[i+1]&(1<<in.Src) != 0 {
			continue
		}
		mv := insns[i-1]
		if mv.Opcode != isa.ClassALU|isa.OpMOV|isa.SrcX && mv.Opcode != isa.ClassALU64|isa.OpMOV|isa.SrcX ||
			mv.Offset != 0 || mv.Src != isa.R0 || mv.Dst != in.Src || mv.Dst == isa.R0 || r.elided[i-1] {
			continue
		}
		// The offset's low 32 bits are r0's either way, all the 32-bit
		// lea of the offset uses.
		r.elided[i-1] = true
		r.load[i].index = xreg[isa.R0]
		// "w0 <<= s" (or r0 <<= s), s in 0-3, just before the copy and
		// no jump reaching the copy without it.
		if i < 2 || target[i-1] || lddwAt(i-3) {
			continue
		}
		sh := insns[i-2]
		if (sh.Opcode == isa.ClassALU|isa.OpLSH|isa.SrcK || sh.Opcode == isa.ClassALU64|isa.OpLSH|isa.SrcK) &&
			sh.Dst == isa.R0 && sh.Offset == 0 && sh.Imm >= 0 && sh.Imm <= 3 {
			r.elided[i-2] = true
			r.load[i].scale = 1 << sh.Imm
		}
	}
	return r
}

// elided reports whether slot i is emitted as nothing (findIndexedLoads).
func (c *compiler) elided(i int) bool { return c.indexed != nil && c.indexed.elided[i] }

// emitIndexedLoad emits the indirect legacy load at slot i if it is
// indexed (findIndexedLoads), and reports whether it was.
func (c *compiler) emitIndexedLoad(i int, in isa.Instruction, size int, ldEnd operand) bool {
	if c.indexed == nil || !c.indexed.load[i].ok {
		return false
	}
	l := c.indexed.load[i]
	e := &c.e
	// The offset, modulo 2^32 as the VM's; known non-negative.
	if c.ldLen {
		// The offset's end against the length: [r10+r11-size].
		bias := int32(size)
		if l.scale == 1 {
			e.leaSize(s32, scratchReg, mem(l.index, in.Imm+bias))
		} else {
			e.leaIdx(s32, scratchReg, sibOperand{index: l.index, scale: l.scale, disp: in.Imm + bias, noBase: true})
		}
		e.within32(func() {
			e.aluLoad(aluCMP, s64, scratchReg, direct(rbx))
			e.jcc(condG, c.ldOOB)
		})
		c.emitLegacyLoadIdx(i, size, memIdx(budgetReg, scratchReg, -bias))
		return true
	}
	if l.scale == 1 {
		e.leaSize(s32, scratchReg, mem(l.index, in.Imm))
	} else {
		e.leaIdx(s32, scratchReg, sibOperand{index: l.index, scale: l.scale, disp: in.Imm, noBase: true})
	}
	e.within32(func() {
		e.aluLoad(aluCMP, s64, scratchReg, ldEnd)
		e.jcc(condG, c.ldOOB)
	})
	c.emitLegacyLoadIdx(i, size, memIdx(budgetReg, scratchReg, 0))
	return true
}

// lenBounds says whether the legacy loads' bounds checks can compare with
// the packet length in rbx (eBPF r6's register) instead of per-size bounds
// computed at each run's start (ldEnd: a lea per size, per run): the
// program never names r6 (used: the registers it names), and every legacy
// load checks its end against the length, either absolute with a
// non-negative offset (emitLenCheck) or indirect and indexed with an
// immediate below 2^30 (its end then fits a 32-bit displacement; the
// offset is below 2^31). Nothing in the generated code but the entries
// touches rbx otherwise.
func (c *compiler) lenBounds(used uint16) bool {
	if c.opts.BlindConstants || used&(1<<isa.R6) != 0 {
		return false
	}
	for i, in := range c.insns {
		if in.Class() != isa.ClassLD || in.IsLDDW() || i > 0 && c.insns[i-1].IsLDDW() {
			continue
		}
		switch in.Mode() {
		case isa.ModeABS:
			if in.Imm < 0 {
				return false
			}
		case isa.ModeIND:
			if c.nonNegative == nil || !c.nonNegative[i] || in.Imm > 1<<30 || in.Imm < 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// emitLenCheck ends the run with 0 (ldOOB) if the packet is shorter than
// n bytes (ldLen).
func (c *compiler) emitLenCheck(n int64) {
	if n > 1<<31-1 {
		c.e.jmp(c.ldOOB) // packets are shorter
		return
	}
	c.e.within32(func() {
		c.e.aluImm(aluCMP, s64, direct(rbx), int32(n))
		c.e.jcc(condL, c.ldOOB)
	})
}
