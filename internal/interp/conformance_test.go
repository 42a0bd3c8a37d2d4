package interp

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

const conformanceDir = "/work/shared/conformance"

type conformanceCase struct {
	name   string
	asm    string
	raw    []uint64
	mem    []byte
	result uint64
}

// parseConformance reads a .data file as FORMAT.md section 1 describes.
func parseConformance(t testing.TB, path string) conformanceCase {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := conformanceCase{name: strings.TrimSuffix(filepath.Base(path), ".data")}
	var asm []string
	section := ""
	var result string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if strings.Contains(line, "--") {
			for _, s := range []string{"asm", "result", "mem", "raw", "no register offset", " c", "error"} {
				if strings.Contains(line, s) {
					section = s
					break
				}
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		switch section {
		case "asm":
			asm = append(asm, line)
		case "mem":
			for _, tok := range strings.Fields(line) {
				v, err := strconv.ParseUint(tok, 16, 64)
				if err != nil {
					t.Fatalf("%s: mem token %q: %v", path, tok, err)
				}
				c.mem = append(c.mem, byte(v))
			}
		case "raw":
			for _, tok := range strings.Fields(line) {
				v, err := strconv.ParseUint(strings.TrimPrefix(tok, "0x"), 16, 64)
				if !strings.HasPrefix(tok, "0x") {
					v, err = strconv.ParseUint(tok, 10, 64)
				}
				if err != nil {
					t.Fatalf("%s: raw token %q: %v", path, tok, err)
				}
				c.raw = append(c.raw, v)
			}
		case "result":
			result = strings.TrimSpace(line)
		}
	}
	c.asm = strings.Join(asm, "\n")
	if strings.Contains(result, "0x") {
		c.result, err = strconv.ParseUint(strings.TrimPrefix(strings.ToLower(result), "0x"), 16, 64)
	} else {
		c.result, err = strconv.ParseUint(result, 10, 64)
	}
	if err != nil {
		t.Fatalf("%s: result %q: %v", path, result, err)
	}
	return c
}

// conformanceHelpers is what the suite's runtime contract asks for: helper
// 5 returns its first argument (uBPF's "unwind" without the unwinding).
var conformanceHelpers = engine.Helpers{
	5: func(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) { return r1, nil },
}

func TestConformance(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(conformanceDir, "tests", "*.data"))
	if len(files) == 0 {
		t.Skipf("conformance suite not found in %s", conformanceDir)
	}
	for _, f := range files {
		c := parseConformance(t, f)
		t.Run(c.name, func(t *testing.T) {
			var insns []isa.Instruction
			if len(c.raw) > 0 {
				for _, w := range c.raw {
					insns = append(insns, isa.FromUint64(w))
				}
			} else {
				var err error
				if insns, err = asm.Assemble(c.asm); err != nil {
					t.Fatalf("assemble: %v", err)
				}
			}
			p, err := Load(insns, Options{Helpers: conformanceHelpers})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			vm := p.NewVM()
			// Two runs on one VM, each with a fresh copy of the memory:
			// the second checks that nothing leaks from run to run.
			for run := 0; run < 2; run++ {
				mem := append([]byte(nil), c.mem...)
				got, err := vm.Run(mem)
				if err != nil {
					t.Fatalf("run %d: %v", run, err)
				}
				if got != c.result {
					t.Fatalf("run %d: r0 = %#x, want %#x", run, got, c.result)
				}
			}
		})
	}
}

// TestConformanceNegative checks that the encoded negative cases (raw
// programs with non-zero unused fields and the like) are refused by Load.
// Cases that fail in the assembler are the asm package's concern.
func TestConformanceNegative(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(conformanceDir, "negative", "*.data"))
	if len(files) == 0 {
		t.Skipf("conformance suite not found in %s", conformanceDir)
	}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var code []byte
		inRaw := false
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			if strings.Contains(line, "--") {
				inRaw = strings.Contains(line, "raw")
				continue
			}
			if !inRaw {
				continue
			}
			for _, tok := range strings.Fields(line) {
				v, err := strconv.ParseUint(strings.TrimPrefix(tok, "0x"), 16, 8)
				if err != nil {
					t.Fatalf("%s: raw byte %q: %v", f, tok, err)
				}
				code = append(code, byte(v))
			}
		}
		if code == nil {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			insns, err := isa.Decode(code)
			if err != nil {
				return // refused while decoding
			}
			if _, err := Load(insns, Options{Helpers: conformanceHelpers}); err == nil {
				t.Errorf("Load accepted % x", code)
			}
		})
	}
	if n == 0 {
		t.Fatal("no raw negative cases found")
	}
}
