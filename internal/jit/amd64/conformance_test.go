//go:build linux && amd64

package amd64_test

import (
	"path/filepath"
	"testing"

	"github.com/bpfvm/bpfvm/internal/conformance"
	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit/amd64"
)

// jitEngine is the conformance EngineFactory of the JIT.
func jitEngine(helpers engine.Helpers) conformance.Engine { return jitEngineWith(helpers, false) }

// blindedEngine runs the suite with constant blinding.
func blindedEngine(helpers engine.Helpers) conformance.Engine { return jitEngineWith(helpers, true) }

func jitEngineWith(helpers engine.Helpers, blind bool) conformance.Engine {
	return func(insns []isa.Instruction, mem []byte) (uint64, error) {
		p, err := amd64.Load(insns, amd64.Options{Helpers: helpers, BlindConstants: blind})
		if err != nil {
			return 0, err
		}
		defer p.Close()
		return p.NewVM().Run(mem)
	}
}

func suiteDir(t *testing.T) string {
	dir, ok := conformance.LocateSuite()
	if !ok {
		t.Fatal("conformance suite not found (set BPFVM_CONFORMANCE)")
	}
	return dir
}

// TestConformance runs the 313 conformance tests on the JIT, with and
// without constant blinding.
func TestConformance(t *testing.T) {
	for name, eng := range map[string]conformance.EngineFactory{"plain": jitEngine, "blinded": blindedEngine} {
		t.Run(name, func(t *testing.T) {
			results, err := conformance.RunPaths([]string{filepath.Join(suiteDir(t), "tests")}, eng, conformance.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range results {
				if !r.Passed {
					t.Errorf("%s: %s", r.Name, r.Reason)
				}
			}
			if passed, failed := conformance.Summary(results); passed != 313 || failed != 0 {
				t.Errorf("%d passed, %d failed; want 313 passed, 0 failed", passed, failed)
			}
		})
	}
}

// TestConformanceNegative runs the 60 negative tests: the JIT must refuse
// (or, for the wrong-result test, disagree with) every one.
func TestConformanceNegative(t *testing.T) {
	results, err := conformance.RunPaths([]string{filepath.Join(suiteDir(t), "negative")}, jitEngine, conformance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if !r.Passed {
			t.Errorf("%s: %s", r.Name, r.Reason)
		}
	}
	if passed, failed := conformance.Summary(results); passed != 60 || failed != 0 {
		t.Errorf("%d passed, %d failed; want 60 passed, 0 failed", passed, failed)
	}
}
