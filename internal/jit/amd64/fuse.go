//go:build linux && amd64

package amd64

import (
	"math/bits"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// Fused legacy loads (filter entry). Classic filters are mostly "load a
// packet field, compare it with a constant": translated, a legacy load
// into r0 and a conditional jump on w0 whose r0 nothing reads afterwards.
// The filter entry then compares the packet bytes in place (cmp or test
// of the field's width, the constant byte-swapped to network order)
// instead of loading, byte-swapping and comparing a register. The load's
// bounds check stays as it is.

// findFusedLoads returns, per slot, whether the legacy load there is
// fused with the jump after it (nil when none is): the jump compares r0
// with a constant (equality, a bit test, or for one byte an unsigned
// order) the field's width can represent, is no jump's target, and
// leaves r0 dead on both its edges. insns must pass filterable (jumps
// only forward).
func (c *compiler) findFusedLoads() []bool {
	if c.opts.BlindConstants {
		return nil // the constants must not appear in the code
	}
	insns := c.insns
	n := len(insns)
	target := engine.JumpTargets(insns)
	_, regsLive := liveness(insns, true) // no calls: an exit ends the run
	live := func(i int) bool { return regsLive[i]&(1<<isa.R0) != 0 }
	var fused []bool
	for i := 0; i+1 < n; i++ {
		ld, j := insns[i], insns[i+1]
		if ld.Class() != isa.ClassLD || ld.IsLDDW() || i > 0 && insns[i-1].IsLDDW() {
			continue
		}
		if target[i+1] || (j.Class() != isa.ClassJMP && j.Class() != isa.ClassJMP32) || j.Source() != isa.SrcK || j.Dst != isa.R0 {
			continue
		}
		t, ok := isa.Target(insns, i+1)
		if !ok || t < 0 || t >= n || live(t) || i+2 < n && live(i+2) {
			continue
		}
		size := isa.SizeBytes(ld.Size())
		if !fusable(size, j) {
			continue
		}
		if fused == nil {
			fused = make([]bool, n)
		}
		fused[i] = true
		i++ // the jump is not a load
	}
	return fused
}

// fusable says whether the jump j on a zero-extended field of size bytes
// in r0 can be a cmp or test of the field in memory.
func fusable(size int, j isa.Instruction) bool {
	max := int64(1)<<(8*size) - 1
	imm := int64(j.Imm) // JMP: compared with the 64-bit r0
	if j.Class() == isa.ClassJMP32 {
		imm = int64(uint32(j.Imm))
	}
	switch j.Op() {
	case isa.OpJSET:
		return true // r0 & imm == field & (imm's low bits)
	case isa.OpJEQ, isa.OpJNE:
		return imm >= 0 && imm <= max
	case isa.OpJGT, isa.OpJGE, isa.OpJLT, isa.OpJLE:
		// Ordered compares survive only without the byte swap.
		return size == 1 && imm >= 0 && imm <= max
	}
	return false
}

// emitFusedLoad emits the fused load at slot i (findFusedLoads), the
// field at m, and the jump after it.
func (c *compiler) emitFusedLoad(i, size int, m operand) {
	v, test := c.fusedCompare(i, size)
	c.e.within32(func() {
		if test {
			c.e.testImmN(size, m, v)
		} else {
			c.e.cmpImmN(size, m, v)
		}
		c.emitFusedJump(i)
	})
}

// emitFusedLoadIdx is emitFusedLoad on an indexed operand.
func (c *compiler) emitFusedLoadIdx(i, size int, m sibOperand) {
	v, test := c.fusedCompare(i, size)
	c.e.within32(func() {
		if test {
			c.e.testImmNIdx(size, m, v)
		} else {
			c.e.cmpImmNIdx(size, m, v)
		}
		c.emitFusedJump(i)
	})
}

// fusedCompare prepares the fused load at slot i: r1-r5 cleared if need
// be, and the compare's immediate in network order (test: a bit test).
func (c *compiler) fusedCompare(i, size int) (v int32, test bool) {
	if c.keepArgs[i] {
		c.clearArgs() // before the compare: xor sets the flags
	}
	j := c.insns[i+1]
	u := uint32(j.Imm)
	switch size {
	case 2:
		u = uint32(bits.ReverseBytes16(uint16(u)))
	case 4:
		u = bits.ReverseBytes32(u)
	}
	return int32(u), j.Op() == isa.OpJSET
}

// emitFusedJump emits the jump of the fused load at slot i.
func (c *compiler) emitFusedJump(i int) {
	j := c.insns[i+1]
	t, _ := isa.Target(c.insns, i+1)
	c.e.jcc(jumpCond[j.Op()], c.insn[t])
}

// emitLegacyLoadIdx is emitLegacyLoad (compile.go) on an indexed operand.
func (c *compiler) emitLegacyLoadIdx(i, size int, m sibOperand) {
	e := &c.e
	if c.fused != nil && c.fused[i] {
		c.emitFusedLoadIdx(i, size, m)
		return
	}
	e.loadIdx(size, rax, m)
	switch size {
	case 2:
		e.shiftImm(shROL, s16, rax, 8)
	case 4:
		e.bswap(s32, rax)
	}
	if c.keepArgs[i] {
		c.clearArgs()
	}
}
