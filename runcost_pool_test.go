package bpfvm

import (
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// TestRunsBounded: only programs whose runs execute each instruction at
// most once (no backward jump, no call) are bounded.
func TestRunsBounded(t *testing.T) {
	exit := isa.Instruction{Opcode: isa.OpcodeExit}
	mov := isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: 0, Imm: 1}
	for _, c := range []struct {
		name  string
		insns []isa.Instruction
		want  bool
	}{
		{"straight", []isa.Instruction{mov, exit}, true},
		{"forward jump", []isa.Instruction{{Opcode: isa.ClassJMP | isa.OpJEQ | isa.SrcK, Dst: 0, Offset: 1}, mov, exit}, true},
		{"lddw", []isa.Instruction{{Opcode: isa.OpcodeLDDW, Imm: -1}, {}, exit}, true},
		{"lddw whose high half looks like a backward jump", []isa.Instruction{{Opcode: isa.OpcodeLDDW}, {Opcode: isa.OpcodeJA, Offset: -2}, exit}, true},
		{"backward jump", []isa.Instruction{mov, {Opcode: isa.ClassJMP | isa.OpJEQ | isa.SrcK, Dst: 0, Offset: -2}, exit}, false},
		{"jump to itself", []isa.Instruction{mov, {Opcode: isa.OpcodeJA, Offset: -1}, exit}, false},
		{"gotol backward", []isa.Instruction{mov, {Opcode: isa.OpcodeJA32, Imm: -2}, exit}, false},
		{"local call", []isa.Instruction{{Opcode: isa.OpcodeCall, Src: isa.CallLocal, Imm: 1}, exit, mov, exit}, false},
		{"helper call", []isa.Instruction{{Opcode: isa.OpcodeCall, Imm: 7}, exit}, false},
		{"callx", []isa.Instruction{mov, {Opcode: isa.OpcodeCallX}, exit}, false},
	} {
		if got := runsBounded(c.insns); got != c.want {
			t.Errorf("%s: runsBounded = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestPinnedRuns: runs of short bare programs (made pinned to the P, on
// the P's idle instance) answer as the general path does, values and
// errors alike, leave the goroutine unpinned (the scheduler and the
// garbage collector work afterwards) and allocate nothing.
func TestPinnedRuns(t *testing.T) {
	for _, e := range []Engine{Interpreter, JIT} {
		rt := NewRuntime(WithEngine(e), WithoutVerifier())
		// r0 = 7 * 6, through the stack: not pure for the interpreter.
		stack := loadProgram(t, rt, ebpf.XDP, asm.Instructions{
			asm.Mov.Imm(asm.R2, 7),
			asm.StoreMem(asm.RFP, -8, asm.R2, asm.DWord),
			asm.LoadMem(asm.R0, asm.RFP, -8, asm.DWord),
			asm.Mul.Imm(asm.R0, 6),
			asm.Return(),
		})
		// Reads an absolute address: fails at run time.
		fault := loadProgram(t, rt, ebpf.XDP, asm.Instructions{
			asm.Mov.Imm(asm.R1, 0x1000),
			asm.LoadMem(asm.R0, asm.R1, 0, asm.DWord),
			asm.Return(),
		})
		// A loop: bare, not short.
		loop := loadProgram(t, rt, ebpf.XDP, asm.Instructions{
			asm.Mov.Imm(asm.R0, 3),
			asm.Sub.Imm(asm.R0, 1).WithSymbol("top"),
			asm.JGT.Imm(asm.R0, 0, "top"),
			asm.Add.Imm(asm.R0, 9),
			asm.Return(),
		})
		for _, c := range []struct {
			p     *Program
			short bool
		}{{stack, true}, {fault, true}, {loop, false}} {
			if !c.p.bare || c.p.short != c.short {
				t.Fatalf("%s %s: bare %v short %v", e, c.p, c.p.bare, c.p.short)
			}
		}
		for _, c := range []struct {
			p   *Program
			ret uint32
		}{{stack, 42}, {loop, 9}} {
			h := NewHook("ingress", XDP)
			if err := h.Attach(c.p); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				opts := &RunOptions{Data: udpPkt, Duration: 5, Redirect: &Redirect{}}
				if ret, err := c.p.Run(opts); err != nil || ret != c.ret || opts.Duration != 0 || opts.Redirect != nil {
					t.Fatalf("%s %s: %d, %v, %+v", e, c.p, ret, err, opts)
				}
				if v := h.Fire(udpPkt, nil); v[0].Err != nil || v[0].Retval != c.ret {
					t.Fatalf("%s %s: fire %+v", e, c.p, v)
				}
				// A runt packet fails, and the next run is right again.
				if _, err := c.p.Run(&RunOptions{Data: udpPkt[:10]}); !errors.Is(err, ErrInvalidInput) {
					t.Fatalf("%s %s: runt packet: %v", e, c.p, err)
				}
			}
			if n := testing.AllocsPerRun(100, func() { c.p.Run(&RunOptions{Data: udpPkt}) }); n != 0 {
				t.Errorf("%s %s: Run allocates %v times", e, c.p, n)
			}
		}
		// The same error on every path: pinned, pooled with an output,
		// a Runner, a hook.
		_, errPinned := fault.Run(&RunOptions{Data: udpPkt})
		_, errPinned2 := fault.Run(&RunOptions{Data: udpPkt})
		_, errFull := fault.Run(&RunOptions{Data: udpPkt, DataOut: make([]byte, 100)})
		r, err := fault.NewRunner()
		if err != nil {
			t.Fatal(err)
		}
		_, errRunner := r.Run(&RunOptions{Data: udpPkt})
		r.Close()
		h := NewHook("ingress", XDP)
		if err := h.Attach(fault); err != nil {
			t.Fatal(err)
		}
		errFire := h.Fire(udpPkt, nil)[0].Err
		for _, err := range []error{errPinned, errPinned2, errFull, errRunner, errFire} {
			var ie *isa.InstructionError
			if !errors.Is(err, engine.ErrOutOfBounds) || !errors.As(err, &ie) || ie.Index != 1 || err.Error() != errFull.Error() {
				t.Fatalf("%s: fault: %v (want %v)", e, err, errFull)
			}
		}
		// Unpinned: another goroutine runs, a collection completes.
		done := make(chan struct{})
		go func() { close(done) }()
		<-done
		runtime.GC()
	}
}

// TestPoolConcurrent runs short, bare and helper-calling programs from
// many goroutines, through Run and Hook.Fire (with -race the pool's per-P
// slots are off; without, they are on): every result is right, and the
// pool made at most one instance per P besides those the concurrency
// needs.
func TestPoolConcurrent(t *testing.T) {
	const goroutines, runs = 8, 300
	for _, e := range []Engine{Interpreter, JIT} {
		rt := NewRuntime(WithEngine(e))
		short := loadProgram(t, rt, ebpf.XDP, asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()})
		loop := loadProgram(t, rt, ebpf.XDP, asm.Instructions{
			asm.Mov.Imm(asm.R0, 50),
			asm.Sub.Imm(asm.R0, 1).WithSymbol("top"),
			asm.JGT.Imm(asm.R0, 0, "top"),
			asm.Add.Imm(asm.R0, 1),
			asm.Return(),
		})
		helper := loadProgram(t, rt, ebpf.XDP, asm.Instructions{asm.FnGetSmpProcessorId.Call(), asm.Mov.Imm(asm.R0, 3), asm.Return()})
		progs := []*Program{short, loop, helper}
		want := []uint32{2, 1, 3}
		h := NewHook("ingress", XDP)
		for _, p := range progs {
			if err := h.Attach(p); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out []Verdict
				for i := 0; i < runs; i++ {
					k := (g + i) % len(progs)
					data := udpPkt
					if i%7 == 0 {
						data = udpPkt[:40] // another length: prepared again
					}
					if ret, err := progs[k].Run(&RunOptions{Data: data}); err != nil || ret != want[k] {
						errs <- errors.New(progs[k].String() + ": wrong result")
						return
					}
					out = h.FireAppend(out[:0], data, nil)
					for j, v := range out {
						if v.Err != nil || v.Retval != want[j] {
							errs <- errors.New(v.Program.String() + ": wrong verdict")
							return
						}
					}
					if i%50 == 0 {
						runtime.Gosched()
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("%s: %v", e, err)
		}
		for _, p := range progs {
			p.pool.mu.Lock()
			made := len(p.pool.all)
			p.pool.mu.Unlock()
			if limit := len(p.pool.local) + goroutines + 1; made > limit {
				t.Errorf("%s %s: %d instances made, more than %d", e, p, made, limit)
			}
		}
	}
}
