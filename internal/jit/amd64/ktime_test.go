//go:build linux && amd64

package amd64_test

import (
	"runtime"
	"testing"

	"github.com/bpfvm/bpfvm/internal/benchprog"
	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/helpers"
	"github.com/bpfvm/bpfvm/internal/interp"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit/amd64"
)

// ktimeProgram reads ktime_get_ns twice (the second time into r0 - the
// first, which must be >= 0) around registers set before, and returns
// the second reading, or ^0 if the clock went backwards, or the sum of
// r1-r9 mismatched (read after the calls, as the interpreter keeps them).
const ktimeProgram = `
	mov %r1, 1
	mov %r2, 2
	mov %r3, 3
	mov %r4, 4
	mov %r5, 5
	mov %r6, 6
	mov %r7, 7
	mov %r8, 8
	mov %r9, 9
	call 5
	mov %r6, %r0
	add %r7, %r1
	add %r7, %r2
	add %r7, %r3
	add %r7, %r4
	add %r7, %r5
	add %r7, %r8
	add %r7, %r9
	call 5
	jlt %r0, %r6, bad
	jne %r7, 39, bad
	exit
bad:
	mov %r0, -1
	exit`

// TestKtimeInline checks inline ktime_get_ns against the Go-side helper
// (helpers' default clock): a reading inside the run lies between the
// helper's readings before and after it, the clock never goes backwards
// between readings, and every register survives the vDSO call. It runs
// under a continuous collector from varying stack depths, as the call
// switches stacks.
func TestKtimeInline(t *testing.T) {
	st := helpers.NewState(&helpers.Host{}, 0)
	ktime := st.Helpers()[engine.HelperKtimeGetNs]
	insns := assemble(t, ktimeProgram)
	p, err := amd64.Load(insns, amd64.Options{
		Helpers: engine.Helpers{engine.HelperKtimeGetNs: ktime},
		Inline:  engine.Inline{Ktime: true, KtimeBase: helpers.KtimeBase()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !amd64.InlinesKtime(p) {
		t.Skip("no vDSO clock_gettime in this process: ktime_get_ns stays a helper call")
	}
	stop := collectContinuously()
	defer stop()
	vm := p.NewVM()
	for i := 0; i < 2000; i++ {
		before, _ := ktime(nil, 0, 0, 0, 0, 0)
		got, err := callAtDepth(i%64, func() (uint64, error) { return vm.Run(nil) })
		after, _ := ktime(nil, 0, 0, 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got < before || got > after {
			t.Fatalf("run %d: ktime %d outside the helper's readings [%d, %d] (or registers lost)", i, got, before, after)
		}
	}
}

// callAtDepth calls f from depth frames further down the goroutine stack.
func callAtDepth(depth int, f func() (uint64, error)) (uint64, error) {
	var pad [64]byte
	if depth > 0 {
		r, err := callAtDepth(depth-1, f)
		runtime.KeepAlive(pad)
		return r, err
	}
	return f()
}

// TestKtimeInlineAgainstInterpreter runs ktime_get_ns calls between
// register-heavy code on both engines: r0 aside (a clock), registers,
// Executed and errors agree, also when the budget ends between the calls.
func TestKtimeInlineAgainstInterpreter(t *testing.T) {
	fixed := engine.Helpers{engine.HelperKtimeGetNs: func(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
		return 12345, nil
	}}
	for budget := uint64(10); budget <= 30; budget++ {
		src := ktimeProgram + "\n" // the reading is checked in-program
		insns := assemble(t, src)
		ip, err := interp.Load(insns, interp.Options{Helpers: fixed, Budget: budget})
		if err != nil {
			t.Fatal(err)
		}
		ivm := ip.NewVM()
		_, werr := ivm.Run(nil)
		p, err := amd64.Load(insns, amd64.Options{Helpers: fixed, Budget: budget, Inline: engine.Inline{Ktime: true, KtimeBase: 100}})
		if err != nil {
			t.Fatal(err)
		}
		vm := p.NewVM()
		got, gerr := vm.Run(nil)
		p.Close()
		if errKind(werr) != errKind(gerr) || vm.Executed() != ivm.Executed() {
			t.Fatalf("budget %d: interp %v (%d executed), jit %v (%d executed)", budget, werr, ivm.Executed(), gerr, vm.Executed())
		}
		if gerr == nil && got == ^uint64(0) {
			t.Fatalf("budget %d: the program saw the clock go back or a register change", budget)
		}
	}
}

// BenchmarkKtime measures one ktime_get_ns call in a loop of them, as
// CPU time per call: the JIT inline (the vDSO called from the code), the
// JIT through the helper's exit to Go, and the interpreter.
func BenchmarkKtime(b *testing.B) {
	const n = 10_000
	insns := assemble(b, `
		mov %r6, 0
		mov %r7, 0
	loop:
		call 5
		add %r7, %r0
		add %r6, 1
		jne %r6, 10000, loop
		mov %r0, %r6
		exit`)
	st := helpers.NewState(&helpers.Host{}, 0)
	hs := engine.Helpers{engine.HelperKtimeGetNs: st.Helpers()[engine.HelperKtimeGetNs]}
	inl := engine.Inline{Ktime: true, KtimeBase: helpers.KtimeBase()}
	for _, c := range []struct {
		name string
		run  func() (uint64, error)
	}{
		{"jit-inline", jitRunner(b, insns, amd64.Options{Helpers: hs, Inline: inl})},
		{"jit-exit", jitRunner(b, insns, amd64.Options{Helpers: hs})},
		{"interp", func() func() (uint64, error) {
			p, err := interp.Load(insns, interp.Options{Helpers: hs})
			if err != nil {
				b.Fatal(err)
			}
			vm := p.NewVM()
			return func() (uint64, error) { return vm.Run(nil) }
		}()},
	} {
		b.Run(c.name, func(b *testing.B) {
			cpu := startCPUTimer()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.run(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpu.stop().Nanoseconds())/float64(b.N*n), "cpu-ns/call")
		})
	}
	// The kernel's JIT calls its own bpf_ktime_get_ns.
	b.Run("kernel", func(b *testing.B) {
		benchKernel(b, benchprog.Program{Name: "ktime", Insns: insns, Want: n, Executed: n})
	})
}

func jitRunner(b *testing.B, insns []isa.Instruction, opts amd64.Options) func() (uint64, error) {
	p, err := amd64.Load(insns, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	vm := p.NewVM()
	return func() (uint64, error) { return vm.Run(nil) }
}
