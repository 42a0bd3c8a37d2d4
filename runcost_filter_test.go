package bpfvm

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/jit"
)

// TestFilterEntryRuns checks the bare runs of short bare programs on the
// JIT's filter entry (bareRun.fvm): which programs get it, and that every
// path (pinned, pooled, Runner, hook) answers as the interpreter does,
// with a zeroed stack each run and no allocation.
func TestFilterEntryRuns(t *testing.T) {
	type result struct {
		ret uint32
		err string
	}
	results := map[Engine][]result{}
	for _, e := range []Engine{Interpreter, JIT} {
		rt := NewRuntime(WithEngine(e), WithoutVerifier())
		// Returns the stack word at -8 (zero on entry), then writes it:
		// a run that saw an earlier run's stack would return 5.
		stale := loadProgram(t, rt, ebpf.XDP, asm.Instructions{
			asm.LoadMem(asm.R0, asm.RFP, -8, asm.DWord),
			asm.Mov.Imm(asm.R2, 5),
			asm.StoreMem(asm.RFP, -8, asm.R2, asm.DWord),
			asm.Return(),
		})
		branchy := loadProgram(t, rt, ebpf.SchedCLS, asm.Instructions{
			asm.Mov.Imm(asm.R3, 4),
			asm.JEq.Imm(asm.R3, 4, "skip"),
			asm.Mov.Imm(asm.R0, 9),
			asm.Return(),
			asm.Mov.Imm(asm.R0, 1).WithSymbol("skip"),
			asm.LSh.Imm(asm.R0, 40),
			asm.Return(),
		})
		// Writes near address 0: the filter entry's run fails, the VM's
		// error is the one reported.
		fault := loadProgram(t, rt, ebpf.SocketFilter, asm.Instructions{
			asm.Mov.Imm(asm.R1, 16),
			asm.StoreMem(asm.R1, 0, asm.R1, asm.Word),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		})
		// Counts its runs in global data: bare and short, but a failed
		// filter run could not be run again unseen, so no filter entry.
		counter := loadGlobalCounter(t, rt)
		// A loop: bare, not short.
		loop := loadProgram(t, rt, ebpf.XDP, asm.Instructions{
			asm.Mov.Imm(asm.R0, 3),
			asm.Sub.Imm(asm.R0, 1).WithSymbol("top"),
			asm.JGT.Imm(asm.R0, 0, "top"),
			asm.Return(),
		})
		onJIT := e == JIT && jit.Available() == nil
		for _, c := range []struct {
			p              *Program
			filter, shared bool
		}{{stale, onJIT, false}, {branchy, onJIT, onJIT}, {fault, onJIT, false}, {counter, false, false}, {loop, false, false}} {
			if !c.p.bare || (c.p.filter != nil) != c.filter || (c.p.shared != nil) != c.shared {
				t.Fatalf("%s %s: bare %v, filter entry %v, shared %v; want %v, %v", e, c.p, c.p.bare, c.p.filter != nil, c.p.shared != nil, c.filter, c.shared)
			}
		}
		var got []result
		add := func(ret uint32, err error) {
			r := result{ret: ret}
			if err != nil {
				r.err = err.Error()
			}
			got = append(got, r)
		}
		for _, p := range []*Program{stale, branchy, fault, counter} {
			h := NewHook("h", p.Type())
			if err := h.Attach(p); err != nil {
				t.Fatal(err)
			}
			r, err := p.NewRunner()
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{60, 60, 60, 14, 14, 100} {
				data := make([]byte, n)
				for i := 0; i < 3; i++ {
					add(p.Run(&RunOptions{Data: data}))
				}
				add(r.Run(&RunOptions{Data: data}))
				v := h.Fire(data, nil)[0]
				add(v.Retval, v.Err)
				add(p.Run(&RunOptions{Data: data, DataOut: make([]byte, 200)}))
			}
			r.Close()
			if p != counter && p != fault { // a failed run builds its error
				if n := testing.AllocsPerRun(100, func() { p.Run(&RunOptions{Data: udpPkt}) }); n != 0 {
					t.Errorf("%s %s: Run allocates %v times", e, p, n)
				}
			}
		}
		results[e] = got
	}
	want, got := results[Interpreter], results[JIT]
	for i := range want {
		// The engines' error messages differ; both fail or neither.
		if got[i].ret != want[i].ret || (got[i].err == "") != (want[i].err == "") {
			t.Fatalf("run %d: jit %+v, interpreter %+v", i, got[i], want[i])
		}
	}
	if want[0].ret != 0 || want[len(want)-1].ret == 0 {
		t.Fatalf("unexpected results %+v", want)
	}
}

// TestFilterEntryClose checks that a bare run after Close does not run
// closed code: it fails or runs on a new machine, as without the filter
// entry.
func TestFilterEntryClose(t *testing.T) {
	rt := NewRuntime(WithEngine(JIT))
	p := loadProgram(t, rt, ebpf.XDP, asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()})
	r, err := p.NewRunner()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if ret, err := p.Run(&RunOptions{Data: udpPkt}); ret != 2 || err != nil {
			t.Fatalf("%d, %v", ret, err)
		}
		if ret, err := r.Run(&RunOptions{Data: udpPkt}); ret != 2 || err != nil {
			t.Fatalf("runner: %d, %v", ret, err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(&RunOptions{Data: udpPkt}); err == nil {
		t.Fatal("runner of a closed program ran")
	}
	// Run after Close: whatever it answers, it must not crash.
	p.Run(&RunOptions{Data: udpPkt})
}

// loadGlobalCounter loads an XDP program that increments a counter in
// its .data and returns it.
func loadGlobalCounter(t *testing.T, rt *Runtime) *Program {
	t.Helper()
	coll, err := rt.LoadCollection(&ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{".data": {
			Name: ".data", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1,
			Contents: []ebpf.MapKV{{Key: uint32(0), Value: make([]byte, 8)}},
		}},
		Programs: map[string]*ebpf.ProgramSpec{"p": {Name: "p", Type: ebpf.XDP, License: "GPL", Instructions: asm.Instructions{
			asm.LoadMapValue(asm.R1, 0, 0).WithReference(".data"),
			asm.LoadMem(asm.R0, asm.R1, 0, asm.DWord),
			asm.Add.Imm(asm.R0, 1),
			asm.StoreMem(asm.R1, 0, asm.R0, asm.DWord),
			asm.Return(),
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { coll.Close() })
	return coll.Programs["p"]
}

// TestSharedFilterConcurrent runs a program on its shared filter VM
// (Program.shared) from many goroutines, on packets of valid and invalid
// lengths: every run answers as alone, a runt packet always fails.
func TestSharedFilterConcurrent(t *testing.T) {
	if jit.Available() != nil {
		t.Skip("no JIT here:", jit.Available())
	}
	p := loadProgram(t, NewRuntime(WithEngine(JIT)), ebpf.XDP, asm.Instructions{
		asm.Mov.Imm(asm.R0, 5),
		asm.Mul.Imm(asm.R0, 3),
		asm.Return(),
	})
	if p.shared == nil {
		t.Fatal("no shared filter VM")
	}
	pkts := [][]byte{make([]byte, 60), make([]byte, 10), make([]byte, 100), udpPkt}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 3000; i++ {
				data := pkts[(i+g)%len(pkts)]
				if i%7 == 0 {
					data = pkts[0] // runs of one length in a row too
				}
				ret, err := p.Run(&RunOptions{Data: data})
				if len(data) == 10 {
					if !errors.Is(err, ErrInvalidInput) {
						errs <- fmt.Errorf("runt packet: %d, %v", ret, err)
						return
					}
					continue
				}
				if ret != 15 || err != nil {
					errs <- fmt.Errorf("%d bytes: %d, %v", len(data), ret, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestFilterEntryBudget: a budget smaller than a short bare program keeps
// it off the filter entry (which counts nothing), so its runs fail with
// the budget error as on the interpreter.
func TestFilterEntryBudget(t *testing.T) {
	for _, e := range []Engine{Interpreter, JIT} {
		p := loadProgram(t, NewRuntime(WithEngine(e), WithInstructionBudget(2)), ebpf.XDP, asm.Instructions{
			asm.Mov.Imm(asm.R0, 1),
			asm.Add.Imm(asm.R0, 1),
			asm.Add.Imm(asm.R0, 1),
			asm.Return(),
		})
		if p.filter != nil || p.shared != nil {
			t.Fatalf("%s: filter entry for a program longer than its budget", e)
		}
		for i := 0; i < 3; i++ {
			if _, err := p.Run(&RunOptions{Data: udpPkt}); !errors.Is(err, engine.ErrBudgetExhausted) {
				t.Fatalf("%s: %v, want the budget error", e, err)
			}
		}
	}
}
