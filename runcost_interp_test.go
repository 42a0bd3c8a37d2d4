package bpfvm

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpfvm/bpfvm/internal/engine"
)

// TestInterpBareEntry checks the interpreter's bare path (Program.interpBare:
// Run pinned on interp.VM.RunBare): a program computing on its registers
// only takes it and answers as the JIT does through Run, a Runner and a
// hook, with the results cleared and nothing allocated; a program using
// its stack or failing goes through the same pinned path to the VM's
// RunWithPacket; a runt packet is refused; a budget below the program's
// length fails as before.
func TestInterpBareEntry(t *testing.T) {
	progs := []struct {
		name  string
		insns asm.Instructions
		// regsOnly: the interpreter's RunBare takes it.
		regsOnly bool
	}{
		{"const", asm.Instructions{asm.Mov.Imm(asm.R0, 5), asm.Mul.Imm(asm.R0, 3), asm.Return()}, true},
		{"branch", asm.Instructions{
			asm.Mov.Imm(asm.R3, 4),
			asm.JGT.Imm(asm.R3, 3, "big"),
			asm.Mov.Imm(asm.R0, 1),
			asm.Return(),
			asm.Mov.Imm(asm.R0, 2).WithSymbol("big"),
			asm.Return(),
		}, true},
		{"stack", asm.Instructions{
			asm.Mov.Imm(asm.R2, 7),
			asm.StoreMem(asm.RFP, -8, asm.R2, asm.DWord),
			asm.LoadMem(asm.R0, asm.RFP, -8, asm.DWord),
			asm.Return(),
		}, false},
	}
	for _, c := range progs {
		jit := loadProgram(t, NewRuntime(WithEngine(JIT)), ebpf.XDP, c.insns)
		want, err := jit.Run(&RunOptions{Data: udpPkt})
		if err != nil {
			t.Fatalf("%s: jit: %v", c.name, err)
		}
		p := loadProgram(t, NewRuntime(WithEngine(Interpreter)), ebpf.XDP, c.insns)
		if !p.interpBare {
			t.Fatalf("%s: not on the interpreter's bare path", c.name)
		}
		inst := p.pool.Get()
		if inst == nil || inst.bare.ivm == nil {
			t.Fatalf("%s: no idle instance on the interpreter", c.name)
		}
		if _, ok := inst.bare.ivm.RunBare(); ok != c.regsOnly {
			t.Fatalf("%s: RunBare ok %v, want %v", c.name, ok, c.regsOnly)
		}
		p.pool.Put(inst)
		h := NewHook("ingress", XDP)
		if err := h.Attach(p); err != nil {
			t.Fatal(err)
		}
		r, err := p.NewRunner()
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			opts := &RunOptions{Data: udpPkt, Duration: 5, Redirect: &Redirect{}}
			if ret, err := p.Run(opts); err != nil || ret != want || opts.Duration != 0 || opts.Redirect != nil {
				t.Fatalf("%s: Run = %d, %v, %+v; want %d", c.name, ret, err, opts, want)
			}
			opts = &RunOptions{Data: udpPkt, Duration: 5}
			if ret, err := r.Run(opts); err != nil || ret != want || opts.Duration != 0 {
				t.Fatalf("%s: Runner.Run = %d, %v, %+v; want %d", c.name, ret, err, opts, want)
			}
			if v := h.Fire(udpPkt, nil); v[0].Err != nil || v[0].Retval != want {
				t.Fatalf("%s: fire %+v, want %d", c.name, v, want)
			}
			if _, err := p.Run(&RunOptions{Data: udpPkt[:10]}); !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("%s: runt packet: %v", c.name, err)
			}
		}
		r.Close()
		if n := testing.AllocsPerRun(100, func() { p.Run(&RunOptions{Data: udpPkt}) }); n != 0 {
			t.Errorf("%s: Run allocates %v times", c.name, n)
		}
		// A budget below the length: the fast path declines, the VM fails.
		short := loadProgram(t, NewRuntime(WithEngine(Interpreter), WithInstructionBudget(1)), ebpf.XDP, c.insns)
		for i := 0; i < 2; i++ {
			if _, err := short.Run(&RunOptions{Data: udpPkt}); !errors.Is(err, engine.ErrBudgetExhausted) {
				t.Fatalf("%s: budget 1: %v", c.name, err)
			}
		}
	}
	// A failing program on the same path names the program in its error.
	fault := loadProgram(t, NewRuntime(WithEngine(Interpreter), WithoutVerifier()), ebpf.XDP, asm.Instructions{
		asm.Mov.Imm(asm.R1, 0x1000),
		asm.LoadMem(asm.R0, asm.R1, 0, asm.DWord),
		asm.Return(),
	})
	if !fault.interpBare {
		t.Fatal("fault: not on the interpreter's bare path")
	}
	for i := 0; i < 2; i++ {
		if _, err := fault.Run(&RunOptions{Data: udpPkt}); !errors.Is(err, engine.ErrOutOfBounds) {
			t.Fatalf("fault: %v", err)
		}
	}
}
