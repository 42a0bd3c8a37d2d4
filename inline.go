package bpfvm

import (
	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/helpers"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// inlineFor describes what the engines may run inline for insns: the
// array and hash maps whose handles its lddw instructions load (the
// loader wrote them there), and get_prandom_u32. Helpers the runtime's
// host helpers replace (WithHelper) stay calls, so the host's function
// runs.
func (r *Runtime) inlineFor(insns []isa.Instruction) engine.Inline {
	var inl engine.Inline
	_, hostRand := r.hostHelpers[engine.HelperGetPrandomU32]
	inl.Prandom = !hostRand
	// ktime_get_ns inline reads CLOCK_MONOTONIC: only for the default clock.
	_, hostKtime := r.hostHelpers[engine.HelperKtimeGetNs]
	if !hostKtime && r.host.Clock == nil {
		inl.Ktime, inl.KtimeBase = true, helpers.KtimeBase()
	}
	// The helpers that never run bpf code (host helpers may).
	inl.Leaf = map[int32]bool{}
	for _, in := range insns {
		if in.Opcode == isa.OpcodeCall && in.Src == isa.CallHelper && helpers.Leaf(in.Imm) {
			if _, host := r.hostHelpers[in.Imm]; !host {
				inl.Leaf[in.Imm] = true
			}
		}
	}
	for _, id := range []int32{engine.HelperMapLookupElem, engine.HelperMapUpdateElem, engine.HelperMapDeleteElem} {
		if _, ok := r.hostHelpers[id]; ok {
			return inl
		}
	}
	seen := map[uint64]bool{}
	for n := 0; n < len(insns); n++ {
		in := insns[n]
		if !in.IsLDDW() {
			continue
		}
		n++ // the second slot
		if in.Src != isa.PseudoImm64 {
			continue
		}
		h := isa.Imm64(insns, n-1)
		if seen[h] || len(inl.Maps) >= engine.MaxInlineMaps {
			continue
		}
		seen[h] = true
		m, err := r.registry.MapByHandle(h)
		if err != nil {
			continue // not a map pointer: a plain constant
		}
		if im, ok := helpers.InlineMap(m, h); ok {
			inl.Maps = append(inl.Maps, im)
		}
	}
	return inl
}
