package bpfvm

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// inlineRepeatSpec is a program whose only helper calls are lookups of an
// inline array: it counts its runs in element 0 and returns the count.
// On the run that makes the count bad (0: never) its second lookup's key
// pointer is 8, not on the stack: the interpreter's inline lookup falls
// back to the helper, which fails.
func inlineRepeatSpec(bad int32) *ebpf.CollectionSpec {
	insns := asm.Instructions{
		asm.StoreImm(asm.R10, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference("a"),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R6, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R6, 1),
		asm.StoreMem(asm.R0, 0, asm.R6, asm.DWord),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.JNE.Imm(asm.R6, bad, "lookup"),
		asm.Mov.Imm(asm.R2, 8),
		asm.LoadMapPtr(asm.R1, 0).WithReference("a").WithSymbol("lookup"),
		asm.FnMapLookupElem.Call(),
		asm.Mov.Reg(asm.R0, asm.R6),
		asm.Return(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}
	return &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{"a": {Name: "a", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 4}},
		Programs: map[string]*ebpf.ProgramSpec{"count": {
			Name: "count", Type: ebpf.XDP, License: "GPL", Instructions: insns,
		}},
	}
}

// TestInlineRepeat: a repeated run of a program whose helper calls are all
// inline map operations (the interpreter repeats it without the helper
// set-up per run: runInlineRepeat) makes every run, returns the last
// run's result and stops at the first failing run with the error a
// single run gives, on both engines.
func TestInlineRepeat(t *testing.T) {
	for _, e := range []Engine{Interpreter, JIT} {
		coll, err := NewRuntime(WithEngine(e), WithoutVerifier()).LoadCollection(inlineRepeatSpec(0))
		if err != nil {
			t.Fatal(err)
		}
		p, m := coll.Programs["count"], coll.Maps["a"]
		if e == Interpreter {
			inst, _ := p.get()
			if inst.inlineRep == nil {
				t.Error("the interpreter's instance has no inline repeater")
			}
			p.pool.Put(inst)
		}
		for _, repeat := range []uint32{2, 10, 1000} {
			if err := m.Update(uint32(0), uint64(0), UpdateAny); err != nil {
				t.Fatal(err)
			}
			opts := &RunOptions{Data: udpPkt, Repeat: repeat}
			ret, err := p.Run(opts)
			var n uint64
			if err := m.Lookup(uint32(0), &n); err != nil {
				t.Fatal(err)
			}
			if err != nil || ret != repeat || n != uint64(repeat) || opts.Duration <= 0 {
				t.Errorf("%s: Repeat %d returned %d, %v (Duration %v), counted %d runs; want %d, nil, %d", e, repeat, ret, err, opts.Duration, n, repeat, repeat)
			}
		}
		coll.Close()

		coll, err = NewRuntime(WithEngine(e), WithoutVerifier()).LoadCollection(inlineRepeatSpec(3))
		if err != nil {
			t.Fatal(err)
		}
		p, m = coll.Programs["count"], coll.Maps["a"]
		// The third run fails: what it reports alone, after two runs.
		var want error
		for i := 0; i < 3; i++ {
			_, want = p.Run(&RunOptions{Data: udpPkt})
		}
		if want == nil {
			t.Fatalf("%s: the third run did not fail", e)
		}
		if err := m.Update(uint32(0), uint64(0), UpdateAny); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: the third run alone: %v", e, want)
		_, err = p.Run(&RunOptions{Data: udpPkt, Repeat: 5})
		var n uint64
		if err := m.Lookup(uint32(0), &n); err != nil {
			t.Fatal(err)
		}
		if err == nil || err.Error() != want.Error() || n != 3 {
			t.Errorf("%s: Repeat 5 failed with %v after %d runs; want %v after 3", e, err, n, want)
		}
		coll.Close()
	}
}
