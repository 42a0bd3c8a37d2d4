// Package jit chooses the engine a program runs on: the JIT where it is
// available (linux/amd64), the interpreter otherwise or on request. Both
// engines sit behind the same two small interfaces, so callers (the public
// API's WithEngine, the command line's --engine) pick one by name and run
// programs the same way.
package jit

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/interp"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit/amd64"
)

// Kind names an engine.
type Kind string

// The engines.
const (
	Interpreter Kind = "interp"
	JIT         Kind = "jit"
)

// ParseKind parses an engine name as the command line spells it.
func ParseKind(name string) (Kind, error) {
	switch Kind(name) {
	case Interpreter, JIT:
		return Kind(name), nil
	}
	return "", fmt.Errorf("unknown engine %q (interp or jit)", name)
}

// Available returns nil if the JIT can run here, or an error wrapping
// amd64.ErrUnavailable that says why not.
func Available() error {
	if runtime.GOARCH != "amd64" || runtime.GOOS != "linux" {
		return fmt.Errorf("%w (this is %s/%s)", amd64.ErrUnavailable, runtime.GOOS, runtime.GOARCH)
	}
	return nil
}

// Options configure Load.
type Options struct {
	Helpers engine.Helpers
	// Budget per run; 0 means engine.DefaultBudget.
	Budget uint64
	// Proven marks the accesses a verifier proved in bounds (bit i%64 of
	// word i/64 for instruction i): the JIT compiles them unchecked (see
	// amd64.Options.Proven). The interpreter checks every access anyway.
	Proven []uint64
	// Inline describes the maps and helpers the engines may run without
	// the generic helper call (engine.Inline).
	Inline engine.Inline
}

// Program is a loaded program on either engine.
type Program interface {
	// NewVM returns a machine for one goroutine.
	NewVM() VM
	// Close releases the program (the JIT's code memory).
	Close() error
	// Engine reports the engine the program runs on.
	Engine() Kind
}

// VM runs a Program; both engines' VMs implement it (and engine.Env).
type VM interface {
	Run(mem []byte) (uint64, error)
	RunWithPacket(mem, packet []byte) (uint64, error)
	// RunRepeat is n runs (at least one) of RunWithPacket(mem, packet)
	// on the same buffers, returning the last r0 or the first error
	// (packet = mem repeats Run).
	RunRepeat(mem, packet []byte, n uint32) (uint64, error)
	// AddPersistentRegion makes b accessible to every run until
	// ResetPersistentRegions (b stays alive and unmoved until then);
	// neither may be called during a run.
	AddPersistentRegion(b []byte, writable bool) error
	ResetPersistentRegions() error
	Executed() uint64
	SetBudget(n uint64)
	SetContext(ctx context.Context)
	// SetCPU sets the CPU the inline map operations use (per-CPU values);
	// it must match the helpers' CPU. SetPrandom gives the VM the state
	// of get_prandom_u32 that inline calls advance (the helpers' own).
	// Neither may be called during a run.
	SetCPU(cpu int)
	SetPrandom(state *uint64)
}

// Load loads insns on the engine of the given kind. When the JIT is asked
// for but unavailable, the program loads on the interpreter and fallback
// says why (a message for the user); err is for failures to load.
func Load(kind Kind, insns []isa.Instruction, opts Options) (p Program, fallback error, err error) {
	switch kind {
	case Interpreter, "":
		ip, err := interp.Load(insns, interp.Options{Helpers: opts.Helpers, Budget: opts.Budget, Inline: opts.Inline})
		if err != nil {
			return nil, nil, err
		}
		return interpProgram{ip}, nil, nil
	case JIT:
		jp, err := amd64.Load(insns, amd64.Options{Helpers: opts.Helpers, Budget: opts.Budget, Proven: opts.Proven, Inline: opts.Inline})
		if errors.Is(err, amd64.ErrUnavailable) {
			p, _, err := Load(Interpreter, insns, opts)
			return p, fmt.Errorf("%w: running on the interpreter", err2(Available(), err)), err
		}
		if err != nil {
			return nil, nil, err
		}
		return jitProgram{jp}, nil, nil
	}
	return nil, nil, fmt.Errorf("unknown engine %q (interp or jit)", kind)
}

func err2(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

type interpProgram struct{ p *interp.Program }

func (p interpProgram) NewVM() VM    { return p.p.NewVM() }
func (p interpProgram) Close() error { return nil }
func (p interpProgram) Engine() Kind { return Interpreter }

type jitProgram struct{ p *amd64.Program }

func (p jitProgram) NewVM() VM    { return p.p.NewVM() }
func (p jitProgram) Close() error { return p.p.Close() }
func (p jitProgram) Engine() Kind { return JIT }

// RunOnce returns a function that loads a program on the engine, runs it
// once on mem and closes it: the shape of the conformance runner's Engine.
// A JIT that is unavailable falls back to the interpreter silently.
func RunOnce(kind Kind, helpers engine.Helpers) func(insns []isa.Instruction, mem []byte) (uint64, error) {
	return func(insns []isa.Instruction, mem []byte) (uint64, error) {
		p, _, err := Load(kind, insns, Options{Helpers: helpers})
		if err != nil {
			return 0, err
		}
		defer p.Close()
		return p.NewVM().Run(mem)
	}
}

// LoadFilter compiles insns for the JIT's filter entry when kind is the
// JIT, the JIT can run here and the program fits the entry (bounded runs:
// no calls, no backward jumps; see amd64.FilterProgram); otherwise it
// returns nil and no error: the program runs on its engine's VM only.
// (Callers hold the amd64 types themselves: through an alias declared
// here, the compiler would not inline FilterVM.RunStatus into them.)
// Helpers and Inline are not used (the entry makes no calls); Proven is.
func LoadFilter(kind Kind, insns []isa.Instruction, opts Options) (*amd64.FilterProgram, error) {
	if kind != JIT || Available() != nil {
		return nil, nil
	}
	fp, err := amd64.LoadFilter(insns, amd64.Options{Budget: opts.Budget, Proven: opts.Proven})
	if errors.Is(err, amd64.ErrNotFilter) || errors.Is(err, amd64.ErrUnavailable) {
		return nil, nil
	}
	return fp, err
}
