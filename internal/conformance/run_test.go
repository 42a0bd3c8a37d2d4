package conformance

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// constEngine is a fake engine returning a fixed r0 or error, recording
// what it was given.
type constEngine struct {
	r0    uint64
	err   error
	calls int
	mem   []byte
	insns []isa.Instruction
}

func (e *constEngine) run(insns []isa.Instruction, mem []byte) (uint64, error) {
	e.calls++
	e.insns, e.mem = insns, mem
	return e.r0, e.err
}

const okProgram = "-- asm\nmov %r0, 7\nexit\n-- result\n0x7\n"

func TestJudgement(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		path     string
		r0       uint64
		err      error
		negative bool
		passed   bool
		stage    Stage
		reason   string // substring
	}{
		{"match", okProgram, "tests/a.data", 7, nil, false, true, StageResult, ""},
		{"mismatch", okProgram, "tests/a.data", 8, nil, false, false, StageResult, "r0 is 0x8, expected 0x7"},
		{"run error", okProgram, "tests/a.data", 0, errors.New("boom"), false, false, StageRun, "run: boom"},
		{"assemble error", "-- asm\nmov %r0, %r50\nexit\n-- result\n1\n", "a.data", 0, nil, false, false, StageAssemble, `assemble: a.data:2:10: expected a register`},
		{"validate error", "-- raw\n07 00 01 00 01 00 00 00\n95 00 00 00 00 00 00 00\n-- result\n1\n", "a.data", 0, nil, false, false, StageValidate, "unused offset field is 1"},
		{"uninitialized", "-- asm\nor %r0, %r10\nexit\n-- result\n1\n", "a.data", 0, nil, false, false, StageInit, "r0 is read before it is written"},
		{"parse error", "-- asm\nexit\n", "a.data", 0, nil, false, false, StageParse, "neither a result nor an error"},
		{"expected error, refused", "-- asm\nor %r0, %r10\nexit\n-- error\nInvalid\n", "a.data", 0, nil, false, true, StageInit, "refused as expected"},
		{"expected error, run fails", "-- asm\nmov %r0, 0\nexit\n-- error\nx\n", "a.data", 0, errors.New("trap"), false, true, StageRun, "refused as expected: run: trap"},
		{"expected error, runs with r0 0", "-- asm\nmov %r0, 0\nexit\n-- error\nx\n", "a.data", 0, nil, false, true, StageResult, ""},
		{"expected error, runs with r0 1", "-- asm\nmov %r0, 0\nexit\n-- error\nx\n", "a.data", 1, nil, false, false, StageResult, "r0 is 0x1, expected 0x0"},
		{"negative by path, mismatch", okProgram, "x/negative/a.data", 8, nil, false, true, StageResult, "r0 is 0x8, expected 0x7"},
		{"negative by path, match", okProgram, "x/negative/a.data", 7, nil, false, false, StageResult, "expected to be refused or to fail, but it ran"},
		{"negative by option, refused", "-- asm\nldxq %r0, %r1\nexit\n-- result\n1\n", "a.data", 0, nil, true, true, StageAssemble, `unknown instruction "ldxq"`},
		{"negative, parse error", "", "negative/empty.data", 0, nil, false, true, StageParse, "neither a result nor an error"},
		{"negative with error line, refused", "-- asm\nor %r0, %r10\nexit\n-- error\nInvalid\n", "negative/e.data", 0, nil, false, true, StageInit, "r0 is read before it is written"},
	}
	for _, tt := range tests {
		e := &constEngine{r0: tt.r0, err: tt.err}
		r := RunData("a", tt.path, []byte(tt.src), e.run, Options{Negative: tt.negative})
		if r.Passed != tt.passed || r.Stage != tt.stage || !strings.Contains(r.Reason, tt.reason) || (tt.reason == "" && r.Reason != "" && !r.Negative) {
			t.Errorf("%s: got passed=%v stage=%q reason=%q; want passed=%v stage=%q reason containing %q",
				tt.name, r.Passed, r.Stage, r.Reason, tt.passed, tt.stage, tt.reason)
		}
		ran := tt.stage == StageRun || tt.stage == StageResult
		if (e.calls == 1) != ran {
			t.Errorf("%s: engine called %d times", tt.name, e.calls)
		}
	}
}

func TestRunGivesFreshMemoryAndRecoversPanics(t *testing.T) {
	src := []byte("-- asm\nmov %r0, 1\nexit\n-- mem\n01 02\n-- result\n1\n")
	var seen [][]byte
	var first []byte
	run := func(insns []isa.Instruction, mem []byte) (uint64, error) {
		seen = append(seen, mem)
		first = append(first, mem[0])
		mem[0] = 0xee // tests write to their memory
		return 1, nil
	}
	for range 2 {
		if r := RunData("m", "m.data", src, run, Options{}); !r.Passed {
			t.Fatalf("failed: %s", r.Reason)
		}
	}
	if first[0] != 1 || first[1] != 1 || &seen[0][0] == &seen[1][0] {
		t.Errorf("each run must get a fresh copy of the memory")
	}
	noMem := &constEngine{r0: 7}
	RunData("n", "n.data", []byte(okProgram), noMem.run, Options{})
	if noMem.mem != nil {
		t.Errorf("without a mem section the engine gets nil memory, got %v", noMem.mem)
	}
	panicky := func([]isa.Instruction, []byte) (uint64, error) { panic("bad engine") }
	r := RunData("p", "p.data", []byte(okProgram), panicky, Options{})
	if r.Passed || r.Stage != StageRun || !strings.Contains(r.Reason, "engine panicked: bad engine") {
		t.Errorf("panic: %+v", r)
	}
}

func TestHelpers(t *testing.T) {
	h := Helpers()
	if len(h) != 1 || h[UnwindHelper] == nil {
		t.Fatalf("Helpers() = %v, want only id 5", h)
	}
	if v, err := h[UnwindHelper](nil, 0xffffffffffffffff, 2, 3, 4, 5); v != 0xffffffffffffffff || err != nil {
		t.Errorf("unwind(-1) = %#x, %v; want its first argument", v, err)
	}
}

func TestRunPaths(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tests/b.data", okProgram)
	write("tests/a.data", strings.Replace(okProgram, "0x7", "0x8", 1))
	write("tests/notes.txt", "ignored")
	write("negative/c.data", "-- asm\nbad\n-- result\n1\n")
	var helpers engine.Helpers
	factory := func(h engine.Helpers) Engine {
		helpers = h
		return (&constEngine{r0: 7}).run
	}
	results, err := RunPaths([]string{filepath.Join(dir, "tests"), filepath.Join(dir, "negative", "c.data")}, factory, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if helpers[UnwindHelper] == nil {
		t.Errorf("the factory must receive the suite's helpers")
	}
	var names []string
	for _, r := range results {
		names = append(names, r.Name)
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Errorf("results for %v, want a,b,c in order", names)
	}
	if p, f := Summary(results); p != 2 || f != 1 || results[0].Passed || !results[2].Negative {
		t.Errorf("passed %d failed %d: %+v", p, f, results)
	}
	if _, err := RunPaths([]string{filepath.Join(dir, "missing")}, factory, Options{}); err == nil {
		t.Errorf("a missing path must be an error")
	}
}
