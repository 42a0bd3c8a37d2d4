package interp

import (
	"bytes"
	"errors"
	"github.com/bpfvm/bpfvm/asm"
	"path/filepath"
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
)

const fuzzBudget = 20_000

// FuzzInterp loads arbitrary bytecode and, if Load accepts it, runs it with
// a small budget: it must never panic or hang, never execute more than the
// budget, fail only with *isa.InstructionError, and behave the same on a
// second run with the same input.
func FuzzInterp(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(conformanceDir, "tests", "*.data"))
	for _, file := range files {
		c := parseConformance(f, file)
		insns, err := asm.Assemble(c.asm)
		if err != nil {
			continue
		}
		f.Add(isa.Encode(insns), c.mem)
	}
	for _, src := range []string{
		"mov %r0, 0\nloop:\nadd %r0, 1\nja loop",
		"ldxdw %r0, [%r1+4]\nstxdw [%r1], %r0\nexit",
		"call local f\nexit\nf:\ncall local f\nexit",
		"call 1\nstb [%r0+1], 1\nldxdw %r0, [%r0]\nexit",
		"mov %r1, 3\nmov %r2, 4\ncall 5\nexit\ncb:\nmov %r0, %r1\nexit",
		"mov %r2, 1\ncall %r2\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 8\ncall 4\nldxdw %r0, [%r10-8]\nexit",
	} {
		insns, err := asm.Assemble(src)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(isa.Encode(insns), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	}
	ro := make([]byte, 8)
	rw := make([]byte, 8)
	helpers := envHelpers(ro, rw)
	for id, h := range conformanceHelpers {
		helpers[id+100] = h
	}

	f.Fuzz(func(t *testing.T, code []byte, mem []byte) {
		insns, err := isa.Decode(code)
		if err != nil {
			return
		}
		p, err := Load(insns, Options{Helpers: helpers, Budget: fuzzBudget})
		if err != nil {
			var ie *isa.InstructionError
			if len(insns) > 0 && len(insns) <= isa.MaxInstructions && !errors.As(err, &ie) {
				t.Fatalf("load error is not an *isa.InstructionError: %v", err)
			}
			return
		}
		vm := p.NewVM()
		type outcome struct {
			r0       uint64
			err      string
			executed uint64
			mem      []byte
		}
		// Both runs use the same buffer, so addresses (which programs may
		// return or errors may print) are equal too.
		m := make([]byte, len(mem))
		var results [2]outcome
		for i := range results {
			copy(m, mem)
			clear(ro)
			clear(rw)
			r0, err := vm.Run(m)
			o := outcome{r0: r0, executed: vm.Executed(), mem: append([]byte(nil), m...)}
			if err != nil {
				var ie *isa.InstructionError
				if !errors.As(err, &ie) {
					t.Fatalf("run error is not an *isa.InstructionError: %v", err)
				}
				o.err = err.Error()
			}
			if o.executed > fuzzBudget {
				t.Fatalf("executed %d instructions, budget %d", o.executed, fuzzBudget)
			}
			results[i] = o
		}
		a, b := results[0], results[1]
		if a.r0 != b.r0 || a.err != b.err || a.executed != b.executed || !bytes.Equal(a.mem, b.mem) {
			t.Fatalf("two runs differ:\n%+v\n%+v", a, b)
		}
	})
}
