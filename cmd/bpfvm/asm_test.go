package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/internal/conformance"
)

// runCLI runs a subcommand in-process and returns its exit status and
// output.
func runCLI(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	status := dispatch(args, &stdout, &stderr)
	return status, stdout.String(), stderr.String()
}

const sample = `# a sample program
mov %r0, 0
ldxw %r1, [%r1+4]
jeq %r1, 0, done
lddw %r0, 0x1122334455667788
done:
exit
`

func TestAsmDisasmRoundTrip(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "prog.s")
	if err := os.WriteFile(src, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	if status, _, stderr := runCLI("asm", src); status != 0 {
		t.Fatalf("asm: status %d: %s", status, stderr)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "prog.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(bin) != 6*8 || bin[0] != 0xb7 || bin[8] != 0x61 || bin[9] != 0x11 {
		t.Fatalf("prog.bin = % x", bin)
	}
	status, hexOut, stderr := runCLI("asm", "--hex", "-o", "-", src)
	if status != 0 {
		t.Fatalf("asm --hex: %d %s", status, stderr)
	}
	lines := strings.Split(strings.TrimSpace(hexOut), "\n")
	if len(lines) != 6 || lines[0] != "b700000000000000" || lines[1] != "6111040000000000" || lines[3] != "1800000088776655" {
		t.Errorf("hex output:\n%s", hexOut)
	}
	hexFile := filepath.Join(dir, "prog.hex")
	if err := os.WriteFile(hexFile, []byte(hexOut), 0o644); err != nil {
		t.Fatal(err)
	}
	wantKernel := `   0: r0 = 0
   1: r1 = *(u32 *)(r1 + 4)
   2: if r1 == 0x0 goto +2
   3: r0 = 0x1122334455667788 ll
   5: exit
`
	for _, f := range []string{filepath.Join(dir, "prog.bin"), hexFile} {
		status, out, stderr := runCLI("disasm", f)
		if status != 0 || out != wantKernel {
			t.Errorf("disasm %s: status %d, stderr %q, output:\n%s\nwant:\n%s", f, status, stderr, out, wantKernel)
		}
	}
	status, conf, _ := runCLI("disasm", "--style", "conformance", filepath.Join(dir, "prog.bin"))
	if status != 0 {
		t.Fatalf("disasm --style conformance: %d", status)
	}
	src2 := filepath.Join(dir, "again.s")
	if err := os.WriteFile(src2, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if status, _, stderr := runCLI("asm", src2); status != 0 {
		t.Fatalf("re-assembling: %s", stderr)
	}
	again, _ := os.ReadFile(filepath.Join(dir, "again.bin"))
	if !bytes.Equal(again, bin) {
		t.Errorf("asm | disasm --style conformance | asm differs:\n%s", conf)
	}
}

func TestAsmErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.s")
	os.WriteFile(bad, []byte("mov %r0, 1\nor %r0, %r50\n"), 0o644)
	status, _, stderr := runCLI("asm", bad)
	if status != 1 || !strings.Contains(stderr, bad+`:2:9: expected a register like %r1, got "%r50"`) {
		t.Errorf("status %d, stderr %q", status, stderr)
	}
	for _, args := range [][]string{{"asm"}, {"asm", "a", "b"}, {"asm", "--bogus", bad}, {"disasm"}, {"disasm", "--style", "x", bad}} {
		if status, _, _ := runCLI(args...); status != 2 {
			t.Errorf("%v: status %d, want 2", args, status)
		}
	}
	for _, name := range []string{"asm", "disasm", "conformance"} {
		status, out, _ := runCLI(name, "-h")
		if status != 0 || !strings.Contains(out, "usage: bpfvm "+name) {
			t.Errorf("%s -h: status %d, output %q", name, status, out)
		}
	}
	if status, _, _ := runCLI("asm", filepath.Join(dir, "missing.s")); status != 1 {
		t.Errorf("missing file: status %d, want 1", status)
	}
	odd := filepath.Join(dir, "odd.bin")
	os.WriteFile(odd, []byte{0x95, 0, 0}, 0o644)
	if status, _, stderr := runCLI("disasm", odd); status != 1 || !strings.Contains(stderr, "not a multiple of 8") {
		t.Errorf("truncated bytecode: status %d, %q", status, stderr)
	}
	elf := filepath.Join(dir, "x.o")
	os.WriteFile(elf, []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"), 0o644)
	if status, _, _ := runCLI("disasm", elf); status != 1 {
		t.Errorf("a truncated ELF: status %d, want 1", status)
	}
}

func TestConformanceCommand(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "negative"), 0o755)
	os.WriteFile(filepath.Join(dir, "good.data"), []byte("-- asm\nmov %r0, 3\nexit\n-- result\n0x3\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "wrong.data"), []byte("-- asm\nmov %r0, 3\nexit\n-- result\n0x4\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "negative", "refused.data"), []byte("-- asm\nor %r0, %r10\nexit\n-- error\nInvalid\n"), 0o644)
	status, out, _ := runCLI("conformance", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if status != 1 || len(lines) != 2 || !strings.HasPrefix(lines[0], "FAIL ") || !strings.Contains(lines[0], "wrong.data: r0 is 0x3, expected 0x4") || lines[1] != "2 passed, 1 failed" {
		t.Errorf("status %d, output:\n%s", status, out)
	}
	status, out, _ = runCLI("conformance", filepath.Join(dir, "good.data"), "-v", "--engine", "interp", filepath.Join(dir, "negative"))
	if status != 0 || !strings.Contains(out, "PASS "+filepath.Join(dir, "good.data")+"\n") ||
		!strings.Contains(out, "refused.data: uninitialized-register check: instruction 0 (r0 |= r10): r0 is read before it is written") ||
		!strings.HasSuffix(out, "2 passed, 0 failed\n") {
		t.Errorf("status %d, output:\n%s", status, out)
	}
	for _, args := range [][]string{{"conformance"}, {"conformance", "--engine", "nope", dir}, {"conformance", "-x", dir}} {
		if status, _, _ := runCLI(args...); status != 2 {
			t.Errorf("%v: status %d, want 2", args, status)
		}
	}
	if status, _, _ := runCLI("conformance", filepath.Join(dir, "missing")); status != 1 {
		t.Errorf("missing path: status %d, want 1", status)
	}
}

func TestConformanceCommandOnSuite(t *testing.T) {
	suite, ok := conformance.LocateSuite()
	if !ok {
		t.Skip("conformance suite not found: no shared/conformance folder above the package directory and BPFVM_CONFORMANCE unset")
	}
	for _, engine := range []string{"interp", "jit"} {
		status, out, _ := runCLI("conformance", "--engine", engine, filepath.Join(suite, "tests"))
		if status != 0 || out != "313 passed, 0 failed\n" {
			t.Errorf("%s tests: status %d, output:\n%s", engine, status, out)
		}
		status, out, _ = runCLI("conformance", "--engine", engine, filepath.Join(suite, "negative"))
		if status != 0 || out != "60 passed, 0 failed\n" {
			t.Errorf("%s negative: status %d, output:\n%s", engine, status, out)
		}
	}
}
