package main

import (
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const conformanceDir = "/work/shared/conformance"

// TestRunVerify: --verify runs an accepted program with the results of a
// checked run, and refuses an unsafe one with the verifier's diagnostic
// before it runs.
func TestRunVerify(t *testing.T) {
	dir := t.TempDir()
	inc := writeFile(t, dir, "inc.s", []byte(incProgram))
	oob := writeFile(t, dir, "oob.s", []byte("mov %r0, 0\nldxw %r0, [%r1+8]\nexit\n"))
	for _, engine := range []string{"interp", "jit"} {
		_, want, _ := runCLI("run", "--engine", engine, "--mem-hex", "41424344", inc)
		status, got, stderr := runCLI("run", "--verify", "--engine", engine, "--mem-hex", "41424344", inc)
		if status != 0 || got != want || want != "0x442\n" {
			t.Fatalf("%s: status %d, %q (checked run: %q), stderr %q", engine, status, got, want, stderr)
		}
		status, got, stderr = runCLI("run", "--verify", "--engine", engine, "--mem-hex", "0102030405060708", oob)
		if status != 1 || got != "" || !strings.Contains(stderr, "verifier: unsafe: instruction 1 (r0 = *(u32 *)(r1 + 8))") ||
			!strings.Contains(stderr, "state: ") || !strings.Contains(stderr, "memory has 8 bytes") {
			t.Fatalf("%s: unsafe program: status %d, stdout %q, stderr %q", engine, status, got, stderr)
		}
		// The same access is safe in a 12-byte memory.
		status, got, stderr = runCLI("run", "--verify", "--engine", engine, "--mem-hex", "010203040506070809000000", oob)
		if status != 0 || got != "0x9\n" {
			t.Fatalf("%s: status %d, %q, stderr %q", engine, status, got, stderr)
		}
	}
}

// TestConformanceVerify: with --verify, the verifier refuses exactly the
// tests the kernel refuses (out-of-range shift immediates, callx), and
// every other test passes on both engines with its proven accesses
// unchecked.
func TestConformanceVerify(t *testing.T) {
	if _, err := os.Stat(conformanceDir); err != nil {
		t.Skipf("conformance suite not found: %v", err)
	}
	for _, engine := range []string{"interp", "jit"} {
		status, stdout, stderr := runCLI("conformance", "--verify", "--engine", engine, conformanceDir)
		if status != 1 || !strings.HasSuffix(stdout, "360 passed, 13 failed\n") {
			t.Fatalf("%s: status %d, stderr %q, stdout:\n%s", engine, status, stderr, stdout)
		}
		for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			if !strings.HasPrefix(line, "FAIL ") {
				continue
			}
			name := filepath.Base(strings.SplitN(strings.TrimPrefix(line, "FAIL "), ":", 2)[0])
			shift := strings.Contains(name, "sh") && (strings.Contains(name, "-imm-high") || strings.Contains(name, "-imm-neg"))
			if !(shift && strings.Contains(line, "invalid shift")) && !(name == "callx.data" && strings.Contains(line, "verifier")) {
				t.Errorf("%s: unexpected failure: %s", engine, line)
			}
		}
	}
	if status, _, stderr := runCLI("conformance", "--verify", "--engine", "kernel", conformanceDir); status != 2 || !strings.Contains(stderr, "always verifies") {
		t.Errorf("--verify with the kernel: status %d, %q", status, stderr)
	}
}

// TestTestRunVerifier: test-run prints the verifier's diagnostic for a
// rejected object program and runs it checked with --no-verify.
func TestTestRunVerifier(t *testing.T) {
	dir := t.TempDir()
	data := writeFile(t, dir, "pkt", make([]byte, 64))
	// Every testdata object verifies: make one that does not, xdp_pass
	// setting w1 instead of w0, so r0 is returned unset.
	obj := filepath.Join(dir, "leak.o")
	if err := os.WriteFile(obj, patchFirstInsn(t, "../../testdata/xdp_pass.o", "xdp", []byte{0xb4, 0x01, 0, 0, 2, 0, 0, 0}), 0o644); err != nil {
		t.Fatal(err)
	}
	status, _, stderr := runCLI("test-run", "--prog", "xdp_pass", "--data", data, obj)
	if status != 1 || !strings.Contains(stderr, "R0 !read_ok") || !strings.Contains(stderr, "source: ./xdp_pass.c:") {
		t.Fatalf("status %d, stderr %q", status, stderr)
	}
	status, stdout, stderr := runCLI("test-run", "--no-verify", "--prog", "xdp_pass", "--data", data, "--json", obj)
	if status != 0 || !strings.Contains(stdout, `"retval":`) {
		t.Fatalf("--no-verify: status %d, stdout %q, stderr %q", status, stdout, stderr)
	}
}

// patchFirstInsn returns an ELF object with the first instruction of a
// section replaced.
func patchFirstInsn(t *testing.T, path, section string, insn []byte) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	sec := f.Section(section)
	if sec == nil || sec.Size < 8 {
		t.Fatalf("%s has no section %s", path, section)
	}
	copy(raw[sec.Offset:], insn)
	return raw
}
