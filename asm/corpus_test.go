package asm_test

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// TestRoundTripVerifierCorpus disassembles the 2,415 programs of the shared
// verifier corpus (the kernel's verifier selftests: map loads, calls,
// packet access, atomics, invalid encodings) and re-assembles them: the
// bytecode must come back identical.
func TestRoundTripVerifierCorpus(t *testing.T) {
	dir, _ := os.Getwd()
	var path string
	for path == "" {
		cand := filepath.Join(dir, "shared", "verifier-corpus", "verifier-corpus.jsonl")
		if _, err := os.Stat(cand); err == nil {
			path = cand
		} else if parent := filepath.Dir(dir); parent != dir {
			dir = parent
		} else {
			t.Skip("verifier corpus not found: no shared/verifier-corpus folder above the package directory")
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<26)
	programs, raw, total := 0, 0, 0
	for sc.Scan() {
		var c struct {
			Name  string   `json:"name"`
			Insns []string `json:"insns_hex"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		code, err := hex.DecodeString(strings.Join(c.Insns, ""))
		if err != nil {
			t.Fatal(err)
		}
		insns, err := isa.Decode(code)
		if err != nil {
			t.Fatal(err)
		}
		text := asm.Disassemble(insns)
		again, err := asm.Assemble(text)
		if err != nil {
			t.Errorf("%s: %v\n%s", c.Name, err, text)
			continue
		}
		if !reflect.DeepEqual(again, insns) {
			t.Errorf("%s: round trip differs\n%s", c.Name, text)
		}
		programs++
		total += len(insns)
		raw += strings.Count(text, ".raw ")
	}
	t.Logf("%d programs, %d slots round-tripped; %d slots needed .raw", programs, total, raw)
	if programs < 2000 {
		t.Errorf("only %d programs", programs)
	}
}
