package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/verifier"
)

func init() {
	register(&command{name: "verify", summary: "check that a program is safe, as the kernel's verifier would", run: runVerify})
}

// mapSpec is one map in a --maps file (the verifier corpus's format).
type mapSpec struct {
	Name       string   `json:"name"`
	Type       string   `json:"type"`
	KeySize    uint32   `json:"key_size"`
	ValueSize  uint32   `json:"value_size"`
	MaxEntries uint32   `json:"max_entries"`
	Flags      uint32   `json:"flags"`
	Inner      *mapSpec `json:"inner"`
	// Insns lists the lddw slots that refer to this map; their immediates
	// are patched with the map's fd. Without it, lddw map fds count from 0
	// in the order of the file (BPF_PSEUDO_MAP_IDX style).
	Insns []int  `json:"insns"`
	FD    *int32 `json:"fd"`
}

func (m *mapSpec) toMap(fd int32) *verifier.Map {
	out := &verifier.Map{Name: m.Name, Type: m.Type, KeySize: m.KeySize, ValueSize: m.ValueSize, MaxEntries: m.MaxEntries, Flags: m.Flags, FD: fd}
	if m.Inner != nil {
		out.Inner = m.Inner.toMap(0)
	}
	return out
}

func runVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	progType := fs.String("type", "socket_filter", "program type (kernel name: socket_filter, sched_cls, xdp, tracepoint, raw_tp, kprobe, cgroup_skb, ...)")
	progName := fs.String("prog", "", "program to verify in an ELF object (default: every program)")
	mapsFile := fs.String("maps", "", "JSON file describing the maps the program uses (the verifier corpus's map format)")
	logOn := fs.Bool("log", false, "print a kernel-style per-instruction state log")
	attach := fs.Uint("attach", 0, "expected attach type (numeric enum bpf_attach_type)")
	flags := fs.Uint("flags", 0, "BPF_PROG_LOAD prog_flags (1 = strict alignment, 2 = any alignment)")
	// usage prints to stdout for -h (asked for), to stderr after bad usage.
	usage := func(w io.Writer) {
		fs.SetOutput(w)
		defer fs.SetOutput(stderr)
		fmt.Fprintln(w, "usage: bpfvm verify [--type T] [--prog NAME] [--maps FILE.json] [--log] PROGRAM")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Verifies eBPF programs the way the Linux kernel's verifier does for root. PROGRAM is an")
		fmt.Fprintln(w, "ELF object (clang -target bpf; every program in it, or --prog NAME; maps, program types")
		fmt.Fprintln(w, "and BTF line info come from the object, and --type overrides the type), or raw bytecode")
		fmt.Fprintln(w, "(PROGRAM.bin: little-endian 8-byte slots; PROGRAM.hex or -: hex text, one 16-digit slot")
		fmt.Fprintln(w, "per line or one run of digits) with --type and --maps.")
		fmt.Fprintln(w, "Exit status: 0 every program accepted, 1 any rejected, 2 bad usage.")
		fmt.Fprintln(w)
		fs.PrintDefaults()
	}
	fs.Usage = func() {} // printed below, on the right stream
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return 0
		}
		usage(stderr)
		return 2
	}
	if fs.NArg() != 1 {
		usage(stderr)
		return 2
	}
	if !knownProgType(*progType) {
		fmt.Fprintf(stderr, "bpfvm verify: unknown program type %q (supported: %s)\n", *progType, strings.Join(sortedProgTypes(), ", "))
		return 2
	}
	path := fs.Arg(0)
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bpfvm verify: %v\n", err)
		return 2
	}
	if bytes.HasPrefix(data, []byte("\x7fELF")) {
		typeSet := false
		fs.Visit(func(f *flag.Flag) { typeSet = typeSet || f.Name == "type" })
		if *mapsFile != "" {
			fmt.Fprintln(stderr, "bpfvm verify: --maps is for raw bytecode; an ELF object declares its own maps")
			return 2
		}
		override := ""
		if typeSet {
			override = *progType
		}
		return verifyObject(path, data, *progName, override, *logOn, stdout, stderr)
	}
	if *progName != "" {
		fmt.Fprintln(stderr, "bpfvm verify: --prog selects a program in an ELF object; raw bytecode holds exactly one program")
		return 2
	}
	insns, err := decodeRawProgram(path, data)
	if err != nil {
		fmt.Fprintf(stderr, "bpfvm verify: %s: %v\n", path, err)
		return 2
	}
	cfg := verifier.Config{ProgType: *progType, ExpectedAttachType: uint32(*attach), Flags: uint32(*flags)}
	if *mapsFile != "" {
		maps, err := loadMaps(*mapsFile, insns)
		if err != nil {
			fmt.Fprintf(stderr, "bpfvm verify: %s: %v\n", *mapsFile, err)
			return 2
		}
		cfg.Maps = maps
	}
	if *logOn {
		cfg.Log, cfg.LogLevel = stdout, 1
	}
	return printVerdict(stdout, "", insns, cfg)
}

// printVerdict verifies one program and prints the verdict (prefixed by
// the program's name for objects) with the statistics; it returns the
// exit status.
func printVerdict(stdout io.Writer, name string, insns []isa.Instruction, cfg verifier.Config) int {
	prefix := ""
	if name != "" {
		prefix = name + ": "
	}
	res, err := verifier.Verify(insns, cfg)
	if err != nil {
		var verr *verifier.Error
		if errors.As(err, &verr) {
			fmt.Fprintf(stdout, "%srejected: %s", prefix, verr.Detail())
			fmt.Fprintln(stdout, verr.Stats)
			return 1
		}
		fmt.Fprintf(stdout, "%srejected: %v\n", prefix, err)
		return 1
	}
	fmt.Fprintf(stdout, "%saccepted\n", prefix)
	fmt.Fprintln(stdout, res.Stats)
	return 0
}

// verifyObject verifies the programs of an ELF object.
func verifyObject(path string, data []byte, only, progType string, logOn bool, stdout, stderr io.Writer) int {
	spec, err := parseObject(data)
	if err != nil {
		fmt.Fprintf(stderr, "bpfvm verify: %s: %v\n", path, err)
		return 2
	}
	if t, ok := verifier.ObjectProgramType(progType); ok {
		// --type gives programs in sections libbpf does not recognise
		// their type (and overrides every program's below).
		for _, ps := range spec.Programs {
			if ps.Type == ebpf.UnspecifiedProgram {
				ps.Type = t
			}
		}
	}
	progs := verifier.ObjectPrograms(spec)
	if only != "" {
		var sel []verifier.ObjectProgram
		var names []string
		for _, p := range progs {
			names = append(names, p.Name)
			if p.Name == only {
				sel = append(sel, p)
			}
		}
		if len(sel) == 0 {
			fmt.Fprintf(stderr, "bpfvm verify: %s has no program %q (it has: %s)\n", path, only, strings.Join(names, ", "))
			return 2
		}
		progs = sel
	}
	if len(progs) == 0 {
		fmt.Fprintf(stderr, "bpfvm verify: %s holds no program\n", path)
		return 2
	}
	status := 0
	for i, p := range progs {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if p.Err != nil {
			fmt.Fprintf(stdout, "%s: rejected: %v (unsupported by bpfvm)\n", p.Name, p.Err)
			status = 1
			continue
		}
		cfg := p.Config
		if progType != "" {
			cfg.ProgType = progType
		}
		if logOn {
			cfg.Log, cfg.LogLevel = stdout, 1
		}
		if printVerdict(stdout, p.Name, p.Insns, cfg) != 0 {
			status = 1
		}
	}
	return status
}

// parseObject parses an ELF object, turning a parser panic on a hostile
// file into an error.
func parseObject(data []byte) (spec *ebpf.CollectionSpec, err error) {
	defer func() {
		if p := recover(); p != nil {
			spec, err = nil, fmt.Errorf("malformed ELF object (the parser failed: %v)", p)
		}
	}()
	return ebpf.LoadCollectionSpecFromReader(bytes.NewReader(data))
}

func knownProgType(t string) bool {
	for _, n := range verifier.ProgTypes() {
		if n == t {
			return true
		}
	}
	return false
}

func sortedProgTypes() []string {
	n := verifier.ProgTypes()
	sort.Strings(n)
	return n
}

func loadMaps(path string, insns []isa.Instruction) ([]*verifier.Map, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var specs []mapSpec
	if err := json.Unmarshal(data, &specs); err != nil {
		// A corpus case line carries its maps in a "maps" field.
		var wrapped struct {
			Maps []mapSpec `json:"maps"`
		}
		if err2 := json.Unmarshal(data, &wrapped); err2 != nil || wrapped.Maps == nil {
			return nil, fmt.Errorf("not a JSON array of maps: %v", err)
		}
		specs = wrapped.Maps
	}
	var maps []*verifier.Map
	for i := range specs {
		fd := int32(100 + i)
		if specs[i].FD != nil {
			fd = *specs[i].FD
		} else if len(specs[i].Insns) == 0 {
			fd = int32(i)
		}
		maps = append(maps, specs[i].toMap(fd))
		for _, at := range specs[i].Insns {
			if at < 0 || at >= len(insns) || !insns[at].IsLDDW() {
				return nil, fmt.Errorf("map %q: instruction %d is not an lddw", specs[i].Name, at)
			}
			insns[at].Imm = fd
		}
	}
	return maps, nil
}
