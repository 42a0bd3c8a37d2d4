package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// ciliumTestdata returns cilium/ebpf's folder of clang-built BPF objects
// from the module cache.
func ciliumTestdata(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cilium/ebpf").Output()
	dir := filepath.Join(strings.TrimSpace(string(out)), "testdata")
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Skipf("cannot locate github.com/cilium/ebpf in the module cache: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("cilium/ebpf's testdata is missing: %v", err)
	}
	return dir
}

var (
	objdumpInsn  = regexp.MustCompile(`(?m)^\s*(\d+):\t(.*)$`)
	objdumpLabel = regexp.MustCompile(` <[^>]+>$`)
	objdumpSym   = regexp.MustCompile(`^[0-9a-f]+ <(.+)>:$`)
	hexNumber    = regexp.MustCompile(`(-?)0x([0-9a-f]+)`)
	localCall    = regexp.MustCompile(`call pc\+?(-?\d+)`)
)

// normalizeOurs rewrites bpfvm's rendering where llvm-objdump 14 differs
// only in notation: decimal numbers, `call -1` for a local call.
func normalizeOurs(s string) string {
	s = localCall.ReplaceAllString(s, "call $1")
	return hexNumber.ReplaceAllStringFunc(s, func(m string) string {
		sub := hexNumber.FindStringSubmatch(m)
		v, _ := strconv.ParseUint(sub[2], 16, 64)
		return sub[1] + strconv.FormatUint(v, 10)
	})
}

// TestDisasmELFAgainstLLVM disassembles clang-built BPF objects and
// compares every instruction with llvm-objdump -d: same sections, same
// function symbols, same slot indices, same text up to notation.
func TestDisasmELFAgainstLLVM(t *testing.T) {
	if _, err := exec.LookPath("llvm-objdump"); err != nil {
		t.Skip("llvm-objdump not installed")
	}
	files, _ := filepath.Glob(filepath.Join(ciliumTestdata(t), "*-el.elf"))
	if len(files) == 0 {
		t.Skip("no BPF objects found")
	}
	compared, unknown := 0, 0
	for _, f := range files {
		want, err := exec.Command("llvm-objdump", "-d", "--no-show-raw-insn", f).Output()
		if err != nil {
			t.Errorf("llvm-objdump %s: %v", f, err)
			continue
		}
		status, got, stderr := runCLI("disasm", f)
		if status == 1 && strings.Contains(stderr, "no code sections") && !objdumpInsn.Match(want) {
			continue // maps or BTF only: llvm-objdump shows nothing either
		}
		if status != 0 {
			t.Errorf("disasm %s: %s", f, stderr)
			continue
		}
		// Reduce both to "section|symbol|index|text" records.
		var llvm []string
		section, sym := "", ""
		for _, line := range strings.Split(string(want), "\n") {
			switch {
			case strings.HasPrefix(line, "Disassembly of section "):
				section, sym = strings.TrimSuffix(strings.TrimPrefix(line, "Disassembly of section "), ":"), ""
			case objdumpSym.MatchString(line):
				// Local labels (LBB0_3) are not function symbols.
				if name := objdumpSym.FindStringSubmatch(line)[1]; !strings.HasPrefix(name, "LBB") {
					sym = name
				}
			case objdumpInsn.MatchString(line):
				m := objdumpInsn.FindStringSubmatch(line)
				llvm = append(llvm, section+"|"+sym+"|"+m[1]+"|"+objdumpLabel.ReplaceAllString(m[2], ""))
			}
		}
		var ours []string
		section, sym = "", ""
		for _, line := range strings.Split(got, "\n") {
			switch {
			case strings.HasPrefix(line, "Disassembly of section "):
				section, sym = strings.TrimSuffix(strings.TrimPrefix(line, "Disassembly of section "), ":"), ""
			case strings.HasSuffix(line, ":") && !strings.Contains(line, " "):
				sym = strings.TrimSuffix(line, ":")
			case line != "":
				idx, text, _ := strings.Cut(strings.TrimSpace(line), ": ")
				ours = append(ours, section+"|"+sym+"|"+idx+"|"+normalizeOurs(text))
			}
		}
		if len(ours) != len(llvm) {
			t.Errorf("%s: %d instructions, llvm-objdump shows %d", filepath.Base(f), len(ours), len(llvm))
			continue
		}
		for n := range ours {
			if strings.HasSuffix(llvm[n], "|<unknown>") {
				unknown++ // newer than LLVM 14 (e.g. may_goto)
				continue
			}
			compared++
			if ours[n] != llvm[n] {
				t.Errorf("%s: bpfvm %q, llvm-objdump %q", filepath.Base(f), ours[n], llvm[n])
			}
		}
	}
	t.Logf("%d objects, %d instructions identical to llvm-objdump's (%d it cannot decode)", len(files), compared, unknown)
}

func TestDisasmELFErrors(t *testing.T) {
	dir := t.TempDir()
	self, err := os.Executable() // the test binary: an ELF file, not BPF
	if err != nil {
		t.Skip(err)
	}
	if status, _, stderr := runCLI("disasm", self); status != 1 || !strings.Contains(stderr, "not a BPF object file") {
		t.Errorf("a non-BPF ELF: status %d, %q", status, stderr)
	}
	trunc := filepath.Join(dir, "t.o")
	os.WriteFile(trunc, []byte("\x7fELF\x02\x01\x01"), 0o644)
	if status, _, _ := runCLI("disasm", trunc); status != 1 {
		t.Errorf("a truncated ELF: status %d", status)
	}
}
