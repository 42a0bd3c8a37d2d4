package bpfvm

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// TestHashReuseAgainstKernel: a program holding a value of a preallocated
// hash (or LRU hash) map deletes its key and inserts another; the kernel
// hands the freed element to the insert (its free lists are per CPU, last
// in first out), so the held pointer reads the new key's value. bpfvm's value
// slabs reuse a freed slot the same way, with the hit returned inline on
// both engines.
func TestHashReuseAgainstKernel(t *testing.T) {
	for _, typ := range []ebpf.MapType{ebpf.Hash, ebpf.LRUHash} {
		t.Run(typ.String(), func(t *testing.T) { testHashReuse(t, typ) })
	}
}

func testHashReuse(t *testing.T, typ ebpf.MapType) {
	mapArgs := func(key int16, val int16) asm.Instructions {
		in := asm.Instructions{
			asm.LoadMapPtr(asm.R1, 0).WithReference("h"),
			asm.Mov.Reg(asm.R2, asm.R10),
			asm.Add.Imm(asm.R2, int32(key)),
		}
		if val != 0 {
			in = append(in, asm.Mov.Reg(asm.R3, asm.R10), asm.Add.Imm(asm.R3, int32(val)), asm.Mov.Imm(asm.R4, 0))
		}
		return in
	}
	var insns asm.Instructions
	add := func(in ...asm.Instruction) { insns = append(insns, in...) }
	add(asm.StoreImm(asm.R10, -4, 1, asm.Word), asm.Mov.Imm(asm.R1, 111), asm.StoreMem(asm.R10, -16, asm.R1, asm.DWord))
	add(mapArgs(-4, -16)...)
	add(asm.FnMapUpdateElem.Call())
	add(mapArgs(-4, 0)...)
	add(asm.FnMapLookupElem.Call(), asm.JEq.Imm(asm.R0, 0, "out"), asm.Mov.Reg(asm.R6, asm.R0))
	add(mapArgs(-4, 0)...)
	add(asm.FnMapDeleteElem.Call())
	add(asm.StoreImm(asm.R10, -4, 2, asm.Word), asm.Mov.Imm(asm.R1, 222), asm.StoreMem(asm.R10, -16, asm.R1, asm.DWord))
	add(mapArgs(-4, -16)...)
	add(asm.FnMapUpdateElem.Call())
	// The held value, and the new key's value through a fresh lookup.
	add(asm.LoadMem(asm.R7, asm.R6, 0, asm.DWord))
	add(mapArgs(-4, 0)...)
	add(asm.FnMapLookupElem.Call(), asm.JEq.Imm(asm.R0, 0, "out"))
	add(asm.LoadMem(asm.R0, asm.R0, 0, asm.DWord), asm.Mul.Imm(asm.R0, 1000), asm.Add.Reg(asm.R0, asm.R7), asm.Return())
	add(asm.Mov.Imm(asm.R0, 0).WithSymbol("out"), asm.Return())
	spec := &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{"h": {Name: "h", Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: 4}},
		Programs: map[string]*ebpf.ProgramSpec{"reuse": {
			Name: "reuse", Type: ebpf.XDP, License: "GPL", Instructions: insns,
		}},
	}
	kc := kernelCollection(t, spec)
	// The second run replaces key 2 instead of inserting it: a hash map
	// takes its spare element (extra_elems), leaving the held value,
	// freed, alone; an LRU map takes a free element: the held one.
	var kr [3]uint32
	for run := range kr {
		var err error
		if kr[run], err = kc.Programs["reuse"].Run(&ebpf.RunOptions{Data: udpPkt}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("the kernel returned %v", kr)
	for _, e := range []Engine{Interpreter, JIT} {
		vc, err := NewRuntime(WithEngine(e)).LoadCollection(spec)
		if err != nil {
			t.Fatal(err)
		}
		for run := range kr {
			vr, err := vc.Programs["reuse"].Run(&RunOptions{Data: udpPkt})
			if err != nil {
				t.Fatal(err)
			}
			if vr != kr[run] {
				t.Errorf("%s run %d: bpfvm returned %d, the kernel %d", e, run, vr, kr[run])
			}
		}
		vc.Close()
	}
}
