package conformance

import (
	"sort"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/interp"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit"
)

// Interp is the EngineFactory of the reference interpreter: each run loads
// the program (with the given helpers) and runs it on a new VM.
func Interp(helpers engine.Helpers) Engine {
	return func(insns []isa.Instruction, mem []byte) (uint64, error) {
		p, err := interp.Load(insns, interp.Options{Helpers: helpers})
		if err != nil {
			return 0, err
		}
		return p.NewVM().Run(mem)
	}
}

// JIT is the EngineFactory of the amd64 JIT. Where the JIT is unavailable
// (see jit.Available) programs run on the interpreter instead.
func JIT(helpers engine.Helpers) Engine {
	return jit.RunOnce(jit.JIT, helpers)
}

// Engines lists the engines the suite can run on, by the name the command
// line uses.
var Engines = map[string]EngineFactory{
	"interp": Interp,
	"jit":    JIT,
	"kernel": Kernel,
}

// EngineNames returns the names of Engines, sorted.
func EngineNames() []string {
	names := make([]string, 0, len(Engines))
	for n := range Engines {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
