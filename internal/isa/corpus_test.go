package isa_test

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// corpusCase is the part of a verifier-corpus case these tests use.
type corpusCase struct {
	Name    string   `json:"name"`
	Insns   []string `json:"insns_hex"`
	Kernel  string   `json:"kernel_6_18"`
	LogTail string   `json:"kernel_log_tail"`
	insns   []isa.Instruction
}

// loadCorpus reads the shared verifier corpus (the kernel's verifier
// selftests with this kernel's verdicts), found in a shared/ folder above
// the working directory, or skips.
func loadCorpus(t *testing.T) []corpusCase {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	var path string
	for {
		cand := filepath.Join(dir, "shared", "verifier-corpus", "verifier-corpus.jsonl")
		if _, err := os.Stat(cand); err == nil {
			path = cand
			break
		}
		if parent := filepath.Dir(dir); parent != dir {
			dir = parent
			continue
		}
		t.Skip("verifier corpus not found: no shared/verifier-corpus folder above the package directory")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []corpusCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<26)
	for sc.Scan() {
		var c corpusCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		code, err := hex.DecodeString(strings.Join(c.Insns, ""))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if c.insns, err = isa.Decode(code); err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestCheckInitializedOnCorpus: wherever the kernel refused a selftest
// because a register was read unwritten ("R2 !read_ok"), CheckInitialized
// refuses it too, except where the read is a helper's argument (that
// needs helper prototypes, which CheckInitialized does not have).
func TestCheckInitializedOnCorpus(t *testing.T) {
	cases := loadCorpus(t)
	const entry = isa.RegMask(1<<isa.R1 | 1<<isa.R10) // every program type's entry state
	var uninit, helperArgs, refused, accepted, acceptedRefused int
	for _, c := range cases {
		err := isa.CheckInitialized(c.insns, entry)
		if c.Kernel == "accept" {
			accepted++
			if err != nil {
				acceptedRefused++ // paths the kernel proved infeasible
			}
		}
		lines := strings.Split(c.LogTail, "\n")
		for n, line := range lines {
			if !strings.HasSuffix(line, "!read_ok") {
				continue
			}
			uninit++
			if n > 0 {
				if m := kernelLine.FindStringSubmatch(lines[n-1]); m != nil && m[2] == "85" {
					helperArgs++
					break
				}
			}
			if err == nil {
				t.Errorf("%s: the kernel found an uninitialized read that CheckInitialized missed:\n%s", c.Name, c.LogTail)
			} else {
				refused++
			}
			break
		}
	}
	t.Logf("%d cases; %d refused by the kernel for an unwritten register: %d refused by CheckInitialized, %d helper-argument reads not modelled; of %d accepted by the kernel, CheckInitialized refuses %d (on paths the kernel proves dead)",
		len(cases), uninit, refused, helperArgs, accepted, acceptedRefused)
	if uninit < 30 {
		t.Errorf("only %d cases with unwritten registers: is the corpus complete?", uninit)
	}
}

// TestFormatOnCorpus compares String with every instruction line of the
// kernel's log tails in the corpus.
func TestFormatOnCorpus(t *testing.T) {
	cases := loadCorpus(t)
	compared := 0
	for _, c := range cases {
		_ = isa.FormatProgram(c.insns)
		for _, line := range strings.Split(c.LogTail, "\n") {
			m := kernelLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			n, _ := strconv.Atoi(m[1])
			if n >= len(c.insns) || strconv.FormatUint(uint64(c.insns[n].Opcode), 16) != strings.TrimPrefix(m[2], "0") && m[2] != "00" {
				continue // a log of a rewritten program (after fixups)
			}
			i := c.insns[n]
			if i.IsLDDW() {
				continue // the kernel shows the loaded map pointer or address
			}
			want := m[3]
			for _, rw := range kernelRewrites {
				want = rw.re.ReplaceAllString(want, rw.repl)
			}
			got := i.String()
			if i.Class() == isa.ClassSTX && i.Mode() == isa.ModeATOMIC && i.Size() == isa.SizeW {
				got = wToR.ReplaceAllString(got, "r$1")
			}
			if i.Class() == isa.ClassJMP || i.Class() == isa.ClassJMP32 {
				if i.Source() == isa.SrcK && i.Imm < 0 {
					continue // bpfvm shows a negative immediate signed
				}
			}
			compared++
			if got != want {
				t.Errorf("%s: instruction %d: bpfvm %q, kernel %q", c.Name, n, got, m[3])
			}
		}
	}
	t.Logf("compared %d instruction renderings", compared)
}
