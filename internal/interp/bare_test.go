package interp

import (
	"context"
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// TestRunBare checks that RunBare takes exactly the bare programs (see
// Program.bare) on a VM whose fast path applies, and that what it returns
// and counts is what RunWithPacket gives.
func TestRunBare(t *testing.T) {
	mem := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	for _, c := range []struct {
		name, src string
		bare      bool
	}{
		{"const", "mov %r0, 5\nmul %r0, 3\nexit", true},
		{"r10-value", "mov %r0, %r10\nexit", true},
		{"forward-jump", "mov %r0, 1\njeq %r0, 1, +1\nmov %r0, 2\nexit", true},
		{"lddw", "lddw %r0, 0x123456789\nexit", true},
		{"div-by-zero", "mov %r0, 7\nmov %r3, 0\ndiv %r0, %r3\nexit", true},
		{"reads-r1", "mov %r0, %r1\nexit", false},
		{"reads-r2", "mov %r0, %r2\nexit", false},
		{"reads-unset", "mov %r0, %r5\nexit", false},
		{"legacy-load", "ldabsb 1\nexit", false},
		{"stack", "mov %r2, 7\nstxdw [%r10-8], %r2\nldxdw %r0, [%r10-8]\nexit", false},
		{"loop", "mov %r0, 0\nloop:\nadd %r0, 1\njlt %r0, 3, loop\nexit", false},
		{"local-call", "call local f\nexit\nf:\nmov %r0, 1\nexit", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := mustLoad(t, c.src, Options{})
			if p.bare != c.bare {
				t.Fatalf("Program.bare = %v, want %v", p.bare, c.bare)
			}
			vm := p.NewVM()
			want, err := vm.RunWithPacket(mem, mem)
			if err != nil {
				t.Fatal(err)
			}
			wantExec := vm.Executed()
			vm.executed = 0 // RunBare must set it
			got, ok := vm.RunBare()
			if ok != c.bare {
				t.Fatalf("RunBare ok = %v, want %v", ok, c.bare)
			}
			if !ok {
				return
			}
			if c.name == "r10-value" {
				// r10's value is this VM's stack: compare with what
				// RunWithPacket gave, which is not a constant.
				if got != vm.stackLo+isa.StackSize {
					t.Fatalf("r10 = %#x, want %#x", got, vm.stackLo+isa.StackSize)
				}
			}
			if got != want || vm.Executed() != wantExec {
				t.Fatalf("RunBare = %#x (executed %d), RunWithPacket = %#x (executed %d)", got, vm.Executed(), want, wantExec)
			}
		})
	}
}

// TestRunBareDeclines checks that RunBare leaves to RunWithPacket the runs
// whose checks its fast path skips: a context (it may be cancelled), a
// budget below the program's length, stepping; and takes them again once
// they are gone.
func TestRunBareDeclines(t *testing.T) {
	p := mustLoad(t, "mov %r0, 5\nadd %r0, 1\nadd %r0, 1\nexit", Options{})
	vm := p.NewVM()
	check := func(what string, want bool) {
		t.Helper()
		r0, ok := vm.RunBare()
		if ok != want || ok && r0 != 7 {
			t.Fatalf("%s: RunBare = %d, %v; want ok %v", what, r0, ok, want)
		}
	}
	check("plain", true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	vm.SetContext(ctx)
	check("with a context", false)
	if _, err := vm.RunWithPacket(nil, nil); err == nil {
		t.Fatal("RunWithPacket with a cancelled context succeeded")
	}
	vm.SetContext(nil)
	check("context removed", true)
	vm.SetBudget(3)
	check("budget below the length", false)
	vm.SetBudget(4)
	check("budget of the length", true)
	vm.SetBudget(0)
	vm.setStepAll(true)
	check("stepping", false)
	vm.setStepAll(false)
	check("stepping off", true)
}

// FuzzRunBare checks RunBare against RunWithPacket on generated programs:
// where it takes a run, the result and count are RunWithPacket's, and it
// takes every run of a bare program on a default VM.
func FuzzRunBare(f *testing.F) {
	f.Add([]byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08})
	f.Add([]byte("a longer seed that makes a longer program with several kinds of instructions"))
	f.Add([]byte{0xb4, 0x00, 0x01, 0x02, 0x03, 0x37, 0x00, 0x04, 0x05, 0x06})
	f.Fuzz(func(t *testing.T, seed []byte) {
		insns := genProgram(seed)
		if isa.Validate(insns) != nil {
			return
		}
		p, err := Load(insns, Options{Helpers: envHelpers(make([]byte, 8), make([]byte, 8))})
		if err != nil {
			return // a generated call to an id without a helper
		}
		vm := p.NewVM()
		r0, ok := vm.RunBare()
		if ok != p.bare {
			t.Fatalf("RunBare ok = %v for a program with bare = %v", ok, p.bare)
		}
		if !ok {
			return
		}
		exec := vm.Executed()
		want, err := vm.RunWithPacket([]byte{9, 8, 7, 6, 5, 4, 3, 2}, []byte{1, 2})
		if err != nil || want != r0 || vm.Executed() != exec {
			t.Fatalf("RunBare = %#x (executed %d), RunWithPacket = %#x, %v (executed %d)", r0, exec, want, err, vm.Executed())
		}
	})
}
