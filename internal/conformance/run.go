package conformance

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

var errNoEngine = errors.New("no engine")

// Engine runs a loaded program once on a fresh copy of the input memory
// (r1 = its address or 0 when empty, r2 = its length) and returns r0.
type Engine func(insns []isa.Instruction, mem []byte) (r0 uint64, err error)

// EngineFactory builds an engine that offers the given helpers to the
// programs it runs.
type EngineFactory func(helpers engine.Helpers) Engine

// UnwindHelper is the helper id the suite calls (call_unwind_fail, callx).
const UnwindHelper = 5

// Helpers returns the helpers the suite expects: id 5, uBPF's "unwind",
// which returns its first argument. (uBPF also stops the program when the
// result is 0; no test relies on that, since both callers pass -1.)
func Helpers() engine.Helpers {
	return engine.Helpers{
		UnwindHelper: func(_ engine.Env, r1, _, _, _, _ uint64) (uint64, error) { return r1, nil },
	}
}

// Result is the outcome of one test.
type Result struct {
	Name     string
	Path     string
	Negative bool // judged inverted: passes iff the normal judgement fails
	Passed   bool
	// Stage is the step that decided the normal judgement (for a passing
	// positive test: StageResult).
	Stage Stage
	// Reason explains a failure, or for a passing negative test why the
	// program was refused. Empty for a passing positive test.
	Reason string
	R0     uint64 // r0 of the run, if it ran
}

// Options tune a run.
type Options struct {
	// Negative forces every test to be judged as a negative test. Without
	// it, tests in a directory named `negative` are negative.
	Negative bool
}

// IsNegativePath reports whether a test file lies in a directory named
// `negative`, the suite's convention for tests that must be refused.
func IsNegativePath(path string) bool {
	for _, part := range strings.Split(filepath.ToSlash(filepath.Dir(path)), "/") {
		if part == "negative" {
			return true
		}
	}
	return false
}

// RunData parses and runs one test given its contents.
//
// Judgement: a positive test passes iff the program loads, runs and leaves
// the expected r0; if the file expects an error, being refused (at any
// stage) or failing at run time also passes (the message is not compared:
// FORMAT.md section 8). A negative test passes iff the plain judgement —
// loads, runs, expected r0 — fails, as upstream's WILL_FAIL tests.
func RunData(name, path string, data []byte, run Engine, opts Options) Result {
	r := Result{Name: name, Path: path, Negative: opts.Negative || IsNegativePath(path)}
	t, err := ParseData(name, data)
	if err == nil {
		t.Path = path
	}
	o := execute(t, err, run)
	r.Stage, r.R0 = o.stage, o.r0
	matched := o.err == nil && o.r0 == o.want
	switch {
	case r.Negative:
		r.Passed = !matched
		if matched {
			r.Reason = fmt.Sprintf("the program was expected to be refused or to fail, but it ran and returned the expected r0 %#x", o.r0)
		} else {
			r.Reason = o.reason()
		}
	case o.err != nil && t != nil && t.HasError:
		r.Passed = true
		r.Reason = "refused as expected: " + o.reason()
	default:
		r.Passed = matched
		if !matched {
			r.Reason = o.reason()
		}
	}
	return r
}

// outcome is what happened to one test: the stage reached, the error that
// stopped it (nil if it ran to completion) and r0.
type outcome struct {
	stage    Stage
	err      error
	r0, want uint64
}

func (o outcome) reason() string {
	if o.err != nil {
		return o.err.Error()
	}
	return fmt.Sprintf("r0 is %#x, expected %#x", o.r0, o.want)
}

func execute(t *Test, parseErr error, run Engine) outcome {
	if parseErr != nil {
		return outcome{stage: StageParse, err: &StageError{Stage: StageParse, Err: parseErr}}
	}
	insns, err := t.Load()
	if err != nil {
		var se *StageError
		stage := StageAssemble
		if errors.As(err, &se) {
			stage = se.Stage
		}
		return outcome{stage: stage, err: err, want: t.Result}
	}
	r0, err := runSafely(run, insns, t.Mem)
	if err != nil {
		return outcome{stage: StageRun, err: &StageError{Stage: StageRun, Err: err}, want: t.Result}
	}
	return outcome{stage: StageResult, r0: r0, want: t.Result}
}

// runSafely copies the memory (tests write to it) and turns an engine
// panic into an error, so one broken engine path cannot stop the suite.
func runSafely(run Engine, insns []isa.Instruction, mem []byte) (r0 uint64, err error) {
	if run == nil {
		return 0, errNoEngine
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("engine panicked: %v", p)
		}
	}()
	var buf []byte
	if len(mem) > 0 {
		buf = append([]byte(nil), mem...)
	}
	return run(insns, buf)
}

// RunFile runs one `.data` file.
func RunFile(path string, run Engine, opts Options) Result {
	name := strings.TrimSuffix(filepath.Base(path), ".data")
	data, err := os.ReadFile(path)
	if err != nil {
		r := Result{Name: name, Path: path, Negative: opts.Negative || IsNegativePath(path), Stage: StageParse, Reason: err.Error()}
		return r
	}
	return RunData(name, path, data, run, opts)
}

// Files expands paths (files, or directories searched recursively for
// `*.data`) into a sorted list of test files.
func Files(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(path, ".data") {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, nil
}

// RunPaths runs every test under paths with engines built by newEngine
// (given Helpers()) and returns one result per file.
func RunPaths(paths []string, newEngine EngineFactory, opts Options) ([]Result, error) {
	files, err := Files(paths)
	if err != nil {
		return nil, err
	}
	run := newEngine(Helpers())
	results := make([]Result, 0, len(files))
	for _, f := range files {
		results = append(results, RunFile(f, run, opts))
	}
	return results, nil
}

// Summary counts passed and failed results.
func Summary(results []Result) (passed, failed int) {
	for _, r := range results {
		if r.Passed {
			passed++
		} else {
			failed++
		}
	}
	return passed, failed
}

// LocateSuite finds the shared conformance suite: $BPFVM_CONFORMANCE if
// set, else the first `shared/conformance` folder (holding FORMAT.md) in
// the current directory or one of its parents. That covers both the main
// checkout (/work/main, suite at ../shared) and worktrees (/work/wt/NAME,
// suite at ../../shared).
func LocateSuite() (string, bool) {
	if dir := os.Getenv("BPFVM_CONFORMANCE"); dir != "" {
		_, err := os.Stat(filepath.Join(dir, "tests"))
		return dir, err == nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		cand := filepath.Join(dir, "shared", "conformance")
		if _, err := os.Stat(filepath.Join(cand, "FORMAT.md")); err == nil {
			return cand, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}
