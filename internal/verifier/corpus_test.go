package verifier

import (
	"regexp"
	"strconv"
	"time"

	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// corpusCase is one line of verifier-corpus.jsonl (the fields used here).
type corpusCase struct {
	Name               string      `json:"name"`
	Source             string      `json:"source"`
	ProgType           string      `json:"prog_type"`
	ExpectedAttachType uint32      `json:"expected_attach_type"`
	ProgFlags          uint32      `json:"prog_flags"`
	InsnsHex           []string    `json:"insns_hex"`
	Maps               []corpusMap `json:"maps"`
	Kernel             string      `json:"kernel_6_18"`
	KernelLogTail      string      `json:"kernel_log_tail"`
	ExpectErrstr       []string    `json:"expect_errstr"`
}

type corpusMap struct {
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	KeySize    uint32     `json:"key_size"`
	ValueSize  uint32     `json:"value_size"`
	MaxEntries uint32     `json:"max_entries"`
	Flags      uint32     `json:"flags"`
	Inner      *corpusMap `json:"inner"`
	Insns      []int      `json:"insns"`
}

// corpusPaths: the shared directory sits beside the repository (main
// checkout) or beside the worktree directory (engineers' worktrees).
var corpusPaths = []string{
	"../../../shared/verifier-corpus/verifier-corpus.jsonl",
	"../../../../shared/verifier-corpus/verifier-corpus.jsonl",
}

func (m *corpusMap) toMap(fd int32) *Map {
	out := &Map{Name: m.Name, Type: m.Type, KeySize: m.KeySize, ValueSize: m.ValueSize, MaxEntries: m.MaxEntries, Flags: m.Flags, FD: fd}
	if m.Inner != nil {
		out.Inner = m.Inner.toMap(0)
	}
	return out
}

// load decodes a case and patches its map fds (fd = 100 + map index), as
// the kernel run did with real fds.
func (c *corpusCase) load() ([]isa.Instruction, Config, error) {
	var code []byte
	for _, h := range c.InsnsHex {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, Config{}, err
		}
		code = append(code, b...)
	}
	insns, err := isa.Decode(code)
	if err != nil {
		return nil, Config{}, err
	}
	cfg := Config{ProgType: c.ProgType, ExpectedAttachType: c.ExpectedAttachType, Flags: c.ProgFlags}
	for i := range c.Maps {
		fd := int32(100 + i)
		cfg.Maps = append(cfg.Maps, c.Maps[i].toMap(fd))
		for _, at := range c.Maps[i].Insns {
			if at >= 0 && at < len(insns) {
				insns[at].Imm = fd
			}
		}
	}
	return insns, cfg, nil
}

func loadCorpus(t testing.TB) []corpusCase {
	var f *os.File
	var err error
	for _, p := range corpusPaths {
		if f, err = os.Open(p); err == nil {
			break
		}
	}
	if err != nil {
		t.Skipf("verifier corpus not available (%v); it lives in the shared directory beside the repository", err)
	}
	defer f.Close()
	var cases []corpusCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var c corpusCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("corpus line %d: %v", len(cases)+1, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// kernelMemorySafety reports whether the kernel's rejection was for
// memory or type safety (as opposed to structure, limits or policy), from
// its log.
func kernelMemorySafety(log string) bool {
	for _, s := range []string{
		"outside of the packet", "invalid mem access", "invalid bpf_context access", "!read_ok",
		"invalid write to stack", "invalid read from stack", "min value is", "max value is",
		"unbounded memory access", "invalid access to", "expected=", "out of bounds",
		"invalid stack", "variable ctx access", "invalid zero-sized", "misaligned",
		"invalid indirect", "invalid variable-offset", "invalid size of register", "leaks addr",
		"pointer arithmetic", "pointer comparison", "cannot write into", "forbidden",
		"dereference of modified", "negative offset", "invalid sock", "type=", "bitwise operator",
		"subtract pointer", "subtraction from stack", "pointer += pointer", "is not allowed",
		"unbounded min value", "makes", "map_value pointer", "reference leak", "must be referenced",
	} {
		if strings.Contains(log, s) {
			return true
		}
	}
	return false
}

// laterSoundnessFixes are programs 6.18 accepts that later kernels reject
// (README: rejecting them is acceptable).
var laterSoundnessFixes = map[string]bool{}

func TestCorpus(t *testing.T) {
	cases := loadCorpus(t)
	type tally struct{ agree, total int }
	by := map[string]map[string]*tally{"prog type": {}, "file": {}, "kernel verdict": {}, "our rejection kind": {}}
	count := func(dim, key string, ok bool) {
		m := by[dim]
		if m[key] == nil {
			m[key] = &tally{}
		}
		m[key].total++
		if ok {
			m[key].agree++
		}
	}
	agree := 0
	var unsound, disagreements []string
	var ours, kernels time.Duration
	timed := 0
	type slowCase struct {
		name         string
		ours, kernel time.Duration
	}
	var slow []slowCase
	cpuStart := cpuTime()
	for i := range cases {
		c := &cases[i]
		insns, cfg, err := c.load()
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		start := time.Now()
		_, verr := Verify(insns, cfg)
		elapsed := time.Since(start)
		if m := kernelTimeRe.FindStringSubmatch(c.KernelLogTail); m != nil {
			us, _ := strconv.Atoi(m[1])
			kernels += time.Duration(us) * time.Microsecond
			ours += elapsed
			timed++
			slow = append(slow, slowCase{c.Name, elapsed, time.Duration(us) * time.Microsecond})
		}
		got := "accept"
		kind := "-"
		if verr != nil {
			got = "reject"
			if e, ok := verr.(*Error); ok {
				kind = e.Kind.String()
			} else {
				t.Fatalf("%s: Verify returned a %T, not *Error: %v", c.Name, verr, verr)
			}
		}
		ok := got == c.Kernel
		if ok {
			agree++
		} else {
			disagreements = append(disagreements, fmt.Sprintf("%s [%s] kernel=%s us=%s %v | kernel: %s", c.Name, c.ProgType, c.Kernel, got, verr, lastLogLine(c.KernelLogTail)))
		}
		if got == "accept" && c.Kernel == "reject" && kernelMemorySafety(c.KernelLogTail) && !laterSoundnessFixes[c.Name] {
			unsound = append(unsound, fmt.Sprintf("%s: kernel: %s", c.Name, lastLogLine(c.KernelLogTail)))
		}
		stem := c.Name
		if i := strings.IndexByte(stem, '/'); i >= 0 {
			stem = stem[:i]
		}
		count("prog type", c.ProgType, ok)
		count("file", stem, ok)
		count("kernel verdict", c.Kernel, ok)
		if got == "reject" {
			count("our rejection kind", kind, ok)
		}
	}
	cpu := cpuTime() - cpuStart
	pct := 100 * float64(agree) / float64(len(cases))
	t.Logf("CPU time of the whole run (verification plus decoding): %v; the kernel's verification time sum: %v", cpu, kernels)
	t.Logf("verification time over the %d cases whose kernel log states it: bpfvm %v, Linux 6.18 %v (%.2fx)", timed, ours, kernels, float64(ours)/float64(kernels))
	sort.Slice(slow, func(i, j int) bool { return slow[i].ours > slow[j].ours })
	for _, sc := range slow[:min(5, len(slow))] {
		t.Logf("slowest: %-60s bpfvm %v, kernel %v", sc.name, sc.ours, sc.kernel)
	}
	t.Logf("agreement with Linux 6.18: %d/%d = %.2f%%", agree, len(cases), pct)
	for _, dim := range []string{"kernel verdict", "our rejection kind", "prog type", "file"} {
		var keys []string
		for k := range by[dim] {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return by[dim][keys[i]].total > by[dim][keys[j]].total })
		var b strings.Builder
		for _, k := range keys {
			tl := by[dim][k]
			fmt.Fprintf(&b, "  %-40s %4d/%4d %6.1f%%\n", k, tl.agree, tl.total, 100*float64(tl.agree)/float64(tl.total))
		}
		t.Logf("by %s:\n%s", dim, b.String())
	}
	if out := os.Getenv("BPFVM_CORPUS_DISAGREEMENTS"); out != "" {
		os.WriteFile(filepath.Clean(out), []byte(strings.Join(disagreements, "\n")+"\n"), 0o644)
	}
	for _, u := range unsound {
		t.Errorf("accepted a program the kernel rejects for memory safety: %s", u)
	}
	if pct < corpusFloor {
		t.Errorf("agreement %.2f%% fell below the floor of %.2f%%", pct, corpusFloor)
	}
}

// corpusFloor is the agreement the verifier has reached; raise it as the
// verifier improves (the goal is 98%).
const corpusFloor = 99.0

var kernelTimeRe = regexp.MustCompile(`verification time (\d+) usec`)

func lastLogLine(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if strings.HasPrefix(l, "processed ") || strings.HasPrefix(l, "verification time") || strings.HasPrefix(l, "stack depth") {
			continue
		}
		return l
	}
	return ""
}
