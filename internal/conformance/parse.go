// Package conformance reads and runs the eBPF conformance suite
// (bpf_conformance `.data` files, format described in
// /work/shared/conformance/FORMAT.md) on any engine.
//
// ParseFile/ParseData read a test; Test.Load assembles (or decodes) its
// program and checks it with isa.Validate and isa.CheckInitialized; RunPaths
// runs files and folders on an Engine built by an EngineFactory (Interp,
// JIT, or Kernel, the running Linux kernel as the oracle) and returns a
// Result per test. Tests under a folder named `negative` must be refused.
//
//	results, err := conformance.RunPaths([]string{"../shared/conformance/tests"}, conformance.Interp, conformance.Options{})
//	passed, failed := conformance.Summary(results)
package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// Test is one parsed `.data` file.
type Test struct {
	Name string // file name without .data
	Path string // as given to ParseFile; empty for ParseData

	// Asm is the text of the asm sections. Lines outside them are kept
	// as empty lines so assembler errors carry the file's line numbers.
	Asm string
	// Raw holds the instructions of the raw sections; when non-empty it
	// replaces Asm, as upstream does.
	Raw []isa.Instruction

	Mem []byte // input memory (nil: none)

	Result    uint64 // expected r0 (0 when there is only an error line)
	HasResult bool
	// Error is the last line of the error sections. HasError is set by the
	// `-- error` marker itself, even with no line after it (see ParseData).
	Error    string
	HasError bool
}

// ParseError is a file the suite's parser refuses or skips.
type ParseError struct {
	Name string
	Line int // 0 when the problem is the file as a whole
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Name, e.Line, e.Msg)
	}
	return e.Name + ": " + e.Msg
}

type section int

const (
	secNone section = iota
	secAsm
	secResult
	secMem
	secRaw
	secIgnored
	secError
)

// sectionOf classifies a marker line exactly as upstream does: by
// substring, in a fixed order, first match wins.
func sectionOf(line string) (section, bool) {
	switch {
	case strings.Contains(line, "asm"):
		return secAsm, true
	case strings.Contains(line, "result"):
		return secResult, true
	case strings.Contains(line, "mem"):
		return secMem, true
	case strings.Contains(line, "raw"):
		return secRaw, true
	case strings.Contains(line, "no register offset"), strings.Contains(line, " c"):
		return secIgnored, true
	case strings.Contains(line, "error"):
		return secError, true
	}
	return secNone, false
}

// ParseFile reads and parses a `.data` file.
func ParseFile(path string) (*Test, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := ParseData(strings.TrimSuffix(filepath.Base(path), ".data"), data)
	if t != nil {
		t.Path = path
	}
	return t, err
}

// ParseData parses the text of a `.data` file per FORMAT.md section 1:
// `#` comments, `--` section markers recognised by substring, asm lines
// concatenated, mem and raw tokens concatenated, the last result and error
// lines kept. Raw sections come in two forms: one 64-bit word per slot
// (`0x5566778800000018`, tests/) or eight two-digit hex bytes per slot in
// memory order (`18 00 00 00 88 77 66 55`, negative/); a section whose
// tokens are all exactly two hex digits is read as bytes.
//
// Where upstream skips a file (unknown directive, neither result nor error,
// no instructions) ParseData returns an error: a runner cannot run it. One
// deliberate difference: an `-- error` marker with no line after it still
// means "an error is expected" (upstream would skip such a file as having
// no result), so the negative `unused-*` programs are still loaded and
// refused by validation rather than by the parser.
func ParseData(name string, data []byte) (*Test, error) {
	t := &Test{Name: name}
	var asmLines []string
	var memToks, rawToks []string
	var resultLine string
	resultLineNo := 0
	sec := secNone
	for n, line := range strings.Split(string(data), "\n") {
		asmLines = append(asmLines, "")
		line = strings.TrimSuffix(line, "\r")
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if strings.Contains(line, "--") {
			s, ok := sectionOf(line)
			if !ok {
				return nil, &ParseError{Name: name, Line: n + 1, Msg: fmt.Sprintf("unknown directive %q (the suite skips such files)", strings.TrimSpace(line))}
			}
			sec = s
			if sec == secError {
				t.HasError = true
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		switch sec {
		case secAsm:
			asmLines[n] = line
		case secResult:
			resultLine, resultLineNo = strings.TrimSpace(line), n+1
		case secMem:
			memToks = append(memToks, strings.Fields(line)...)
		case secRaw:
			rawToks = append(rawToks, strings.Fields(line)...)
		case secError:
			t.Error = strings.TrimSpace(line)
		}
	}
	t.Asm = strings.Join(asmLines, "\n")
	if resultLineNo > 0 {
		v, err := parseResult(resultLine)
		if err != nil {
			return nil, &ParseError{Name: name, Line: resultLineNo, Msg: err.Error()}
		}
		t.Result, t.HasResult = v, true
	}
	if !t.HasResult && !t.HasError {
		return nil, &ParseError{Name: name, Msg: "the file has neither a result nor an error section (the suite skips it)"}
	}
	for _, tok := range memToks {
		v, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(tok, "0x"), "0X"), 16, 64)
		if err != nil {
			return nil, &ParseError{Name: name, Msg: fmt.Sprintf("mem token %q is not a hex number", tok)}
		}
		t.Mem = append(t.Mem, byte(v))
	}
	raw, err := parseRaw(rawToks)
	if err != nil {
		return nil, &ParseError{Name: name, Msg: err.Error()}
	}
	t.Raw = raw
	if len(t.Raw) == 0 && strings.TrimSpace(t.Asm) == "" {
		return nil, &ParseError{Name: name, Msg: "the file has no instructions (the suite skips it)"}
	}
	return t, nil
}

// parseResult reads the expected r0: hex if the text contains 0x
// (unsigned 64-bit), unsigned decimal otherwise.
func parseResult(s string) (uint64, error) {
	var v uint64
	var err error
	if i := strings.Index(strings.ToLower(s), "0x"); i >= 0 {
		if i != 0 {
			return 0, fmt.Errorf("result %q is not a number", s)
		}
		v, err = strconv.ParseUint(s[2:], 16, 64)
	} else {
		v, err = strconv.ParseUint(s, 10, 64)
	}
	if err != nil {
		return 0, fmt.Errorf("result %q is not an unsigned 64-bit number", s)
	}
	return v, nil
}

func isByteToken(s string) bool {
	return len(s) == 2 && isHexDigit(s[0]) && isHexDigit(s[1])
}

func isHexDigit(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func parseRaw(toks []string) ([]isa.Instruction, error) {
	if len(toks) == 0 {
		return nil, nil
	}
	bytesForm := true
	for _, tok := range toks {
		if !isByteToken(tok) {
			bytesForm = false
			break
		}
	}
	if bytesForm {
		if len(toks)%isa.InstructionSize != 0 {
			return nil, fmt.Errorf("raw section has %d bytes, not a whole number of %d-byte instructions", len(toks), isa.InstructionSize)
		}
		code := make([]byte, len(toks))
		for n, tok := range toks {
			v, _ := strconv.ParseUint(tok, 16, 8)
			code[n] = byte(v)
		}
		return isa.Decode(code)
	}
	insns := make([]isa.Instruction, len(toks))
	for n, tok := range toks {
		var v uint64
		var err error
		if h, ok := strings.CutPrefix(strings.ToLower(tok), "0x"); ok {
			v, err = strconv.ParseUint(h, 16, 64)
		} else {
			v, err = strconv.ParseUint(tok, 10, 64)
		}
		if err != nil {
			return nil, fmt.Errorf("raw token %q is not a 64-bit instruction word", tok)
		}
		insns[n] = isa.FromUint64(v)
	}
	return insns, nil
}

// Program returns the test's instructions: the raw section if present,
// otherwise the assembled asm section (errors are *asm.Error with the
// file's line numbers).
func (t *Test) Program() ([]isa.Instruction, error) {
	if len(t.Raw) > 0 {
		return t.Raw, nil
	}
	name := t.Path
	if name == "" {
		name = t.Name
	}
	return asm.AssembleFile(name, t.Asm)
}

// EntryRegisters are the registers a test program may read on entry: r1
// (memory), r2 (its length) and r10 (the frame pointer).
const EntryRegisters = isa.RegMask(1<<isa.R1 | 1<<isa.R2 | 1<<isa.R10)

// Load produces the program a runtime is given: the instructions, checked
// with isa.Validate and isa.CheckInitialized(r1|r2|r10). The returned
// error says which step refused the program.
func (t *Test) Load() ([]isa.Instruction, error) {
	insns, err := t.Program()
	if err != nil {
		return nil, &StageError{Stage: StageAssemble, Err: err}
	}
	if err := isa.Validate(insns); err != nil {
		return nil, &StageError{Stage: StageValidate, Err: err}
	}
	if err := isa.CheckInitialized(insns, EntryRegisters); err != nil {
		return nil, &StageError{Stage: StageInit, Err: err}
	}
	return insns, nil
}

// Stage names the step of a test that decided its outcome.
type Stage string

// The stages, in the order a test goes through them.
const (
	StageParse    Stage = "parse"
	StageAssemble Stage = "assemble"
	StageValidate Stage = "validate"
	StageInit     Stage = "uninitialized-register check"
	StageRun      Stage = "run"
	StageResult   Stage = "result"
)

// StageError is an error with the stage that produced it.
type StageError struct {
	Stage Stage
	Err   error
}

func (e *StageError) Error() string { return string(e.Stage) + ": " + e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }
