package interp

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/bpfvm/bpfvm/internal/engine"
)

// repeatSrc counts its runs in mem[0:8] and returns the counter plus the
// value of key 3 of the test array (31), or the counter alone if the
// lookup misses. On the run numbered badRun (0: never) the key pointer is
// 8, not on the stack: the inline lookup cannot run it and falls back to
// helper 1.
func repeatSrc(badRun int) string {
	return fmt.Sprintf(`ldxdw %%r6, [%%r1+0]
add %%r6, 1
stxdw [%%r1+0], %%r6
stw [%%r10-4], 3
mov %%r2, %%r10
add %%r2, -4
jne %%r6, %d, +1
mov %%r2, 8
lddw %%r1, %#x
call 1
mov %%r7, 0
jeq %%r0, 0, +1
ldxdw %%r7, [%%r0+0]
mov %%r0, %%r7
add %%r0, %%r6
exit`, badRun, testArrayHandle)
}

// TestRunRepeatInline: RunRepeatInline runs back to back until a run
// calls a helper (here only when the inline lookup falls back to it) or
// fails, and each run is the run RunWithPacket makes.
func TestRunRepeatInline(t *testing.T) {
	calls := 0
	opts := Options{
		Helpers: engine.Helpers{1: func(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
			calls++
			return 0, nil
		}},
		Inline: newTestMaps(t).inline,
	}
	t.Run("no-fallback", func(t *testing.T) {
		vm := mustLoad(t, repeatSrc(0), opts).NewVM()
		if !vm.HelpersInline() {
			t.Fatal("HelpersInline is false for a program whose only call is an inline lookup")
		}
		mem := make([]byte, 8)
		calls = 0
		r0, runs, err := vm.RunRepeatInline(mem, mem, 5)
		if err != nil || runs != 5 || r0 != 31+5 || calls != 0 {
			t.Fatalf("RunRepeatInline(5) = %d, %d runs, %v, %d helper calls; want 36, 5 runs, nil, 0 calls", r0, runs, err, calls)
		}
		if c := binary.LittleEndian.Uint64(mem); c != 5 {
			t.Fatalf("the program counted %d runs, want 5", c)
		}
		// n = 0 runs once, as RunRepeat.
		if r0, runs, err := vm.RunRepeatInline(mem, mem, 0); err != nil || runs != 1 || r0 != 31+6 {
			t.Fatalf("RunRepeatInline(0) = %d, %d runs, %v; want 37, 1 run, nil", r0, runs, err)
		}
	})
	t.Run("fallback", func(t *testing.T) {
		vm := mustLoad(t, repeatSrc(3), opts).NewVM()
		mem := make([]byte, 8)
		calls = 0
		// Runs 1 and 2 are inline, run 3 calls the helper (which misses):
		// RunRepeatInline stops there.
		r0, runs, err := vm.RunRepeatInline(mem, mem, 5)
		if err != nil || runs != 3 || r0 != 3 || calls != 1 {
			t.Fatalf("RunRepeatInline(5) = %d, %d runs, %v, %d helper calls; want 3, 3 runs, nil, 1 call", r0, runs, err, calls)
		}
		r0, runs, err = vm.RunRepeatInline(mem, mem, 2)
		if err != nil || runs != 2 || r0 != 31+5 || calls != 1 {
			t.Fatalf("then RunRepeatInline(2) = %d, %d runs, %v, %d helper calls; want 36, 2 runs, nil, 1 call", r0, runs, err, calls)
		}
	})
	t.Run("error", func(t *testing.T) {
		vm := mustLoad(t, repeatSrc(0)+"\n", opts).NewVM()
		// An 8-byte counter in a 4-byte mem: the first run fails.
		mem := make([]byte, 4)
		_, runs, err := vm.RunRepeatInline(mem, mem, 5)
		checkErr(t, err, engine.ErrOutOfBounds, 0, "read of 8 bytes")
		if runs != 1 {
			t.Fatalf("%d runs after a failing run, want 1", runs)
		}
	})
	t.Run("helper-call", func(t *testing.T) {
		vm := mustLoad(t, "mov %r0, 7\ncall 1\nmov %r0, 7\nexit", opts).NewVM()
		if vm.HelpersInline() {
			t.Fatal("HelpersInline is true for a program calling a helper")
		}
		calls = 0
		for i := 1; i <= 3; i++ {
			if r0, runs, err := vm.RunRepeatInline(nil, nil, 5); err != nil || runs != 1 || r0 != 7 || calls != i {
				t.Fatalf("RunRepeatInline(5) = %d, %d runs, %v, %d helper calls; want 7, 1 run, nil, %d calls", r0, runs, err, calls, i)
			}
		}
	})
	t.Run("no-call", func(t *testing.T) {
		vm := mustLoad(t, "mov %r0, 7\nexit", opts).NewVM()
		if !vm.HelpersInline() {
			t.Fatal("HelpersInline is false for a program without calls")
		}
		if r0, runs, err := vm.RunRepeatInline(nil, nil, 4); err != nil || runs != 4 || r0 != 7 {
			t.Fatalf("RunRepeatInline(4) = %d, %d runs, %v; want 7, 4 runs, nil", r0, runs, err)
		}
	})
}

// TestFastPathRegisters: a fast-path run (a pure program) starts with
// every register but r1, r2 and r10 zero, whatever an earlier run of the
// same VM left in them; only programs that cannot read one before writing
// it skip clearing them.
func TestFastPathRegisters(t *testing.T) {
	// With a 1-byte mem the program returns r3 unset, otherwise 5 (r3 set).
	p := mustLoad(t, "jeq %r2, 1, +3\nmov %r3, 5\nmov %r0, %r3\nexit\nmov %r0, %r3\nexit", Options{})
	if !p.pure || p.entryClean {
		t.Fatalf("pure %v, entryClean %v; want a pure program that may read r3 unset", p.pure, p.entryClean)
	}
	vm := p.NewVM()
	for i, c := range []struct {
		n    int
		want uint64
	}{{2, 5}, {1, 0}, {2, 5}, {1, 0}} {
		if got, err := vm.Run(make([]byte, c.n)); err != nil || got != c.want {
			t.Fatalf("run %d (%d-byte mem): r0 = %d, %v; want %d", i, c.n, got, err, c.want)
		}
	}
	if !mustLoad(t, "mov %r0, 2\nexit", Options{}).entryClean {
		t.Error("entryClean is false for `r0 = 2; exit`")
	}
}

// TestGeneralPathRegisters is TestFastPathRegisters for a program that
// takes the general way (it stores to its stack).
func TestGeneralPathRegisters(t *testing.T) {
	p := mustLoad(t, "stdw [%r10-8], 1\njeq %r2, 1, +3\nmov %r3, 5\nmov %r0, %r3\nexit\nmov %r0, %r3\nexit", Options{})
	if p.pure || p.entryClean {
		t.Fatalf("pure %v, entryClean %v; want an impure program that may read r3 unset", p.pure, p.entryClean)
	}
	vm := p.NewVM()
	for i, c := range []struct {
		n    int
		want uint64
	}{{2, 5}, {1, 0}, {2, 5}, {1, 0}} {
		if got, err := vm.Run(make([]byte, c.n)); err != nil || got != c.want {
			t.Fatalf("run %d (%d-byte mem): r0 = %d, %v; want %d", i, c.n, got, err, c.want)
		}
	}
}
