package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// writeFile writes a file in a test directory and returns its path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// incProgram increments the first byte of the memory and returns
// r2 << 8 | the new byte value.
const incProgram = `
ldxb %r0, [%r1]
add %r0, 1
stxb [%r1], %r0
lsh %r2, 8
or %r0, %r2
exit
`

func TestRunFormats(t *testing.T) {
	dir := t.TempDir()
	insns, err := asm.Assemble(incProgram)
	if err != nil {
		t.Fatal(err)
	}
	var hexText strings.Builder
	hexText.WriteString("# the increment program\n\n")
	for i, in := range insns {
		b := in.Encode(nil)
		hexText.WriteString(strings.ToUpper(hex.EncodeToString(b)))
		if i == 0 {
			hexText.WriteString("  # ldxb")
		}
		hexText.WriteString("\n")
	}
	for _, f := range []string{
		writeFile(t, dir, "inc.s", []byte(incProgram)),
		writeFile(t, dir, "inc.asm", []byte(incProgram)),
		writeFile(t, dir, "inc.bin", isa.Encode(insns)),
		writeFile(t, dir, "inc.hex", []byte(hexText.String())),
	} {
		t.Run(filepath.Base(f), func(t *testing.T) {
			status, stdout, stderr := runCLI("run", "--mem-hex", "41 00 00", f)
			if status != 0 {
				t.Fatalf("status %d: %s", status, stderr)
			}
			if stdout != "0x342\n" {
				t.Errorf("stdout = %q, want 0x342", stdout)
			}
		})
	}
}

func TestRunJSON(t *testing.T) {
	dir := t.TempDir()
	prog := writeFile(t, dir, "inc.s", []byte(incProgram))
	memFile := writeFile(t, dir, "mem.bin", []byte{7, 8})
	// Flags after the program are accepted too.
	status, stdout, stderr := runCLI("run", prog, "--mem", memFile, "--json", "--repeat", "3")
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	var out struct {
		R0         string `json:"r0"`
		Mem        string `json:"mem"`
		Insns      uint64 `json:"insns"`
		DurationNS *int64 `json:"duration_ns"`
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("output %q: %v", stdout, err)
	}
	// Each of the three runs starts from a fresh copy: the byte is 8, not 10.
	if out.R0 != "0x208" || out.Mem != "0808" || out.Insns != 6 || out.DurationNS == nil || *out.DurationNS < 0 {
		t.Errorf("output = %s", stdout)
	}
	if strings.Count(stdout, "\n") != 1 {
		t.Errorf("output is not exactly one line: %q", stdout)
	}
}

func TestRunNoMemory(t *testing.T) {
	dir := t.TempDir()
	prog := writeFile(t, dir, "p.s", []byte("mov %r0, %r1\nadd %r0, %r2\nexit\n"))
	status, stdout, stderr := runCLI("run", "--json", prog)
	if status != 0 || !strings.HasPrefix(stdout, `{"r0":"0x0","mem":"","insns":3,"duration_ns":`) {
		t.Fatalf("status %d, stdout %q, stderr %q", status, stdout, stderr)
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	loop := writeFile(t, dir, "loop.s", []byte("mov %r0, 0\nloop:\nadd %r0, 1\nja loop\n"))
	oob := writeFile(t, dir, "oob.s", []byte("mov %r0, 0\nldxw %r0, [%r1+8]\nexit\n"))
	uninit := writeFile(t, dir, "uninit.s", []byte("mov %r0, %r3\nexit\n"))
	helper := writeFile(t, dir, "helper.s", []byte("call 1\nexit\n"))
	badHex := writeFile(t, dir, "bad.hex", []byte("b70000000000\n"))
	badAsm := writeFile(t, dir, "bad.s", []byte("mov %r0\n"))
	elf := writeFile(t, dir, "prog.o", []byte("\x7fELF"))
	cases := []struct {
		name   string
		args   []string
		status int
		stderr string
	}{
		{"budget", []string{"--budget", "100", loop}, 1, "budget of 100"},
		{"out-of-bounds", []string{"--mem-hex", "0102030405060708", oob}, 1, "instruction 1"},
		{"uninitialized", []string{uninit}, 1, "r3"},
		{"unknown-helper", []string{helper}, 1, "unknown helper 1"},
		{"bad-hex", []string{badHex}, 1, "16 hex digits"},
		{"bad-asm", []string{badAsm}, 1, "bad.s:1:"},
		{"unknown-format", []string{elf}, 1, "unknown program format"},
		{"missing-file", []string{filepath.Join(dir, "nope.s")}, 1, "no such file"},
		{"bad-mem-hex", []string{"--mem-hex", "zz", loop}, 1, "--mem-hex"},
		{"no-program", nil, 2, "expected one PROGRAM"},
		{"two-programs", []string{loop, oob}, 2, "expected one PROGRAM"},
		{"unknown-engine", []string{"--engine", "nope", loop}, 2, "unknown engine"},
		{"both-mems", []string{"--mem", oob, "--mem-hex", "00", loop}, 2, "exclusive"},
		{"bad-repeat", []string{"--repeat", "0", loop}, 2, "--repeat"},
		{"bad-flag", []string{"--nope", loop}, 2, "nope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, stdout, stderr := runCLI(append([]string{"run"}, c.args...)...)
			if status != c.status {
				t.Errorf("status %d, want %d (stderr %q)", status, c.status, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, c.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr, c.stderr)
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	for _, args := range [][]string{{"run", "-h"}, {"help", "run"}} {
		status, stdout, stderr := runCLI(args...)
		if status != 0 || !strings.Contains(stdout, "usage: bpfvm run") || !strings.Contains(stdout, "--repeat") || stderr != "" {
			t.Errorf("%v: status %d, stdout %q, stderr %q", args, status, stdout, stderr)
		}
	}
	var buf bytes.Buffer
	usage(&buf)
	if !strings.Contains(buf.String(), "run ") {
		t.Errorf("bpfvm help does not list run:\n%s", buf.String())
	}
}

func TestRunJITEngine(t *testing.T) {
	for _, engine := range []string{"interp", "jit"} {
		var stdout, stderr bytes.Buffer
		status := dispatch([]string{"run", "--engine", engine, "--json", "../../examples/asm/primes.s"}, &stdout, &stderr)
		if status != 0 {
			t.Fatalf("%s: status %d, stderr %q", engine, status, stderr.String())
		}
		if !strings.Contains(stdout.String(), `"r0":"0xa8"`) {
			t.Errorf("%s: want 168 primes (0xa8), got %s", engine, stdout.String())
		}
	}
}

// TestRawProgramFormats: run, verify and disasm read raw programs through
// one decoder: .bin, .hex (per line or one run of digits, with comments),
// hex-looking files without an extension, and assembly.
func TestRawProgramFormats(t *testing.T) {
	dir := t.TempDir()
	code := []byte{0xb7, 0, 0, 0, 7, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0} // r0 = 7; exit
	files := []string{
		writeFile(t, dir, "p.bin", code),
		writeFile(t, dir, "p.hex", []byte("# r0 = 7\nb700000007000000\n9500000000000000 ; exit\n")),
		writeFile(t, dir, "run.hex", []byte("b7000000070000009500000000000000\n")),
		writeFile(t, dir, "p", []byte("b700000007000000 9500000000000000\n")),
		writeFile(t, dir, "p.s", []byte("mov %r0, 7\nexit\n")),
	}
	for _, f := range files {
		if status, stdout, stderr := runCLI("run", f); status != 0 || strings.TrimSpace(stdout) != "0x7" {
			t.Errorf("run %s: status %d, stdout %q, stderr %q", filepath.Base(f), status, stdout, stderr)
		}
		if filepath.Ext(f) == ".s" {
			continue
		}
		if status, stdout, stderr := runCLI("disasm", f); status != 0 || !strings.Contains(stdout, "r0 = 7") {
			t.Errorf("disasm %s: status %d, stdout %q, stderr %q", filepath.Base(f), status, stdout, stderr)
		}
		if status, stdout, stderr := runCLI("verify", "--type", "xdp", f); status != 0 || !strings.Contains(stdout, "accepted") {
			t.Errorf("verify %s: status %d, stdout %q, stderr %q", filepath.Base(f), status, stdout, stderr)
		}
	}
}
