package conformance

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/internal/jit"
)

// TestSuite runs the 313 conformance tests on bpfvm's engines (the
// kernel has its own tests: it refuses some programs).
func TestSuite(t *testing.T) {
	dir := requireSuite(t)
	for _, name := range bpfvmEngines() {
		t.Run(name, func(t *testing.T) {
			if name == "jit" {
				requireJIT(t)
			}
			results, err := RunPaths([]string{filepath.Join(dir, "tests")}, Engines[name], Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range results {
				if !r.Passed {
					t.Errorf("%s: %s", r.Name, r.Reason)
				}
			}
			if passed, failed := Summary(results); passed != 313 || failed != 0 {
				t.Errorf("%d passed, %d failed; want 313 passed, 0 failed", passed, failed)
			}
		})
	}
}

// bpfvmEngines lists the engines of bpfvm itself: every Engines entry but
// the kernel.
func bpfvmEngines() []string {
	var names []string
	for _, n := range EngineNames() {
		if n != "kernel" {
			names = append(names, n)
		}
	}
	return names
}

func requireJIT(t *testing.T) {
	if err := jit.Available(); err != nil {
		t.Skipf("the JIT cannot run here: %v", err)
	}
}

// negativeStage is the stage at which each negative test must be refused,
// so a negative test cannot pass for the wrong reason (say, a parser
// error where the validator should have spoken).
func negativeStage(name string) Stage {
	switch {
	case strings.HasPrefix(name, "unused-"):
		return StageValidate
	case strings.HasPrefix(name, "invalid_unknown_directive"), name == "empty", name == "empty_instructions":
		return StageParse
	case strings.HasPrefix(name, "invalid_"):
		return StageAssemble
	case name == "error":
		return StageInit
	case name == "incorrect_return_value_high_bits":
		return StageResult
	}
	return ""
}

// TestNegativeSuite runs the 60 negative tests on every engine: each must
// be refused (or, for the wrong-result test, return a different r0) at the
// right stage.
func TestNegativeSuite(t *testing.T) {
	dir := requireSuite(t)
	for _, name := range bpfvmEngines() {
		t.Run(name, func(t *testing.T) {
			if name == "jit" {
				requireJIT(t)
			}
			results, err := RunPaths([]string{filepath.Join(dir, "negative")}, Engines[name], Options{})
			if err != nil {
				t.Fatal(err)
			}
			checkNegative(t, results)
		})
	}
}

func checkNegative(t *testing.T, results []Result) {
	for _, r := range results {
		if !r.Negative {
			t.Errorf("%s: not judged as negative", r.Name)
		}
		if !r.Passed {
			t.Errorf("%s: %s", r.Name, r.Reason)
		}
		if want := negativeStage(r.Name); r.Stage != want {
			t.Errorf("%s: decided at stage %q, want %q (%s)", r.Name, r.Stage, want, r.Reason)
		}
	}
	if passed, failed := Summary(results); passed != 60 || failed != 0 {
		t.Errorf("%d passed, %d failed; want 60 passed, 0 failed", passed, failed)
	}
}
