package asm_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/conformance"
	"github.com/bpfvm/bpfvm/internal/isa"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenTests are suite programs covering every instruction family.
var goldenTests = []string{
	"call_local", "callx", "subnet", "prime", "lddw", "lock_fetch_add32", "lock_cmpxchg",
	"rfc9669_movsx", "rfc9669_ldxsb", "rfc9669_bswap64", "rfc9669_ja32", "sdiv64-imm",
	"be16", "stxb-chain", "jslt32-reg", "arsh32-imm-high", "neg64", "mem-len",
}

// TestGolden keeps the kernel-style and conformance-style disassembly of
// some suite programs in testdata/golden (go test ./asm -run Golden
// -update rewrites them after an intended change).
func TestGolden(t *testing.T) {
	dir, ok := conformance.LocateSuite()
	if !ok {
		t.Skip("conformance suite not found: no shared/conformance folder above the package directory and BPFVM_CONFORMANCE unset")
	}
	for _, name := range goldenTests {
		test, err := conformance.ParseFile(filepath.Join(dir, "tests", name+".data"))
		if err != nil {
			t.Fatal(err)
		}
		insns, err := test.Program()
		if err != nil {
			t.Fatal(err)
		}
		got := "# " + name + ": isa.FormatProgram\n" + isa.FormatProgram(insns) +
			"\n# " + name + ": asm.Disassemble\n" + asm.Disassemble(insns)
		path := filepath.Join("testdata", "golden", name+".txt")
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("%s differs from %s:\n%s", name, path, got)
		}
	}
}
