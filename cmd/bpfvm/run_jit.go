package main

import (
	"fmt"
	"os"

	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit"
)

// The JIT joins `bpfvm run`. Where it is unavailable (not linux/amd64) the
// program runs on the interpreter and stderr says so.
func init() {
	runEngines[string(jit.JIT)] = func(insns []isa.Instruction, budget uint64, proven []uint64) (runner, error) {
		p, fallback, err := jit.Load(jit.JIT, insns, jit.Options{Budget: budget, Proven: proven})
		if err != nil {
			return nil, err
		}
		if fallback != nil {
			fmt.Fprintf(os.Stderr, "bpfvm run: %v\n", fallback)
		}
		// The process ends after the run; the JIT's code memory goes with it.
		return p.NewVM(), nil
	}
}
