package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/bpfvm/bpfvm/internal/interp"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/verifier"
)

func init() {
	register(&command{
		name:    "run",
		summary: "run an eBPF program (.bin, .hex, .s) on input memory and print r0",
		run:     runRun,
	})
}

const runUsage = `usage: bpfvm run [--engine interp] [--mem FILE | --mem-hex HEX] [--repeat N]
                 [--json] [--budget N] [--verify] PROGRAM

Runs an eBPF program with r1 = the address of a writable copy of the input
memory and r2 = its length, and prints r0 (0x...). PROGRAM is raw
little-endian bytecode (.bin), hex text (.hex: one instruction per line as
16 hex digits in memory byte order; # comments and blank lines allowed) or
conformance-syntax assembly (.s, .asm). The program must pass structural
validation and read no register before writing it (r1, r2 and r10 are set
on entry). It runs with every runtime check on (each memory access checked,
the instruction budget), as an instruction-set test bench.

--verify first runs the verifier (program type "mem": r1 a pointer to the
memory, r2 its length) and refuses a program it rejects (exit status 1,
with the reason, the state and the path to the failing instruction); an
accepted program then runs without the checks the verifier made
unnecessary (on the JIT, the accesses it proved in bounds).

--json prints one object: {"r0":"0x...","mem":"<memory after the run, hex>",
"insns":<instructions executed>,"duration_ns":<mean time per run>}.
--repeat N runs N times, each on a fresh copy of the memory, and reports
the mean duration.

flags:
`

// runner is what the run command needs of an engine.
type runner interface {
	Run(mem []byte) (uint64, error)
	Executed() uint64
}

// runEngines builds a runner for a program, by engine name. Other engines
// add themselves here from their own files.
// proven marks the accesses the verifier proved in bounds (nil: none);
// engines that check every access anyway ignore it.
var runEngines = map[string]func(insns []isa.Instruction, budget uint64, proven []uint64) (runner, error){
	"interp": func(insns []isa.Instruction, budget uint64, _ []uint64) (runner, error) {
		p, err := interp.Load(insns, interp.Options{Budget: budget})
		if err != nil {
			return nil, err
		}
		return p.NewVM(), nil
	},
}

func runRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	engine := fs.String("engine", "interp", "execution engine: "+strings.Join(runEngineNames(), ", "))
	memFile := fs.String("mem", "", "file holding the input memory (raw bytes)")
	memHex := fs.String("mem-hex", "", "input memory as hex digits (white space ignored)")
	repeat := fs.Int("repeat", 1, "number of runs (each on a fresh copy of the memory)")
	jsonOut := fs.Bool("json", false, "print one JSON object instead of r0")
	budget := fs.Uint64("budget", 0, "instructions one run may execute (0: the default, 10000000)")
	verify := fs.Bool("verify", false, "verify the program first (r1 = the memory, r2 = its length); run the proven accesses unchecked")
	files, status := parseCommandFlags(fs, args, runUsage, stdout, stderr)
	if status >= 0 {
		return status
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "bpfvm run: "+format+"\n", a...)
		return 2
	}
	if len(files) != 1 {
		return usageErr("expected one PROGRAM, got %d (bpfvm run -h for help)", len(files))
	}
	newRunner, ok := runEngines[*engine]
	if !ok {
		return usageErr("unknown engine %q: use one of %s", *engine, strings.Join(runEngineNames(), ", "))
	}
	if *memFile != "" && *memHex != "" {
		return usageErr("--mem and --mem-hex are exclusive")
	}
	if *repeat < 1 {
		return usageErr("--repeat must be at least 1, not %d", *repeat)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "bpfvm run: %v\n", err)
		return 1
	}

	var mem []byte
	var err error
	switch {
	case *memFile != "":
		if mem, err = os.ReadFile(*memFile); err != nil {
			return fail(err)
		}
	case *memHex != "":
		if mem, err = hex.DecodeString(strings.Join(strings.Fields(*memHex), "")); err != nil {
			return fail(fmt.Errorf("--mem-hex: %v", err))
		}
	}
	insns, err := readProgram(files[0])
	if err != nil {
		return fail(err)
	}
	if err := isa.Validate(insns); err != nil {
		return fail(fmt.Errorf("%s: %w", files[0], err))
	}
	if err := isa.CheckInitialized(insns, isa.Reg(isa.R1)|isa.Reg(isa.R2)|isa.Reg(isa.R10)); err != nil {
		return fail(fmt.Errorf("%s: %w", files[0], err))
	}
	var proven []uint64
	if *verify {
		if proven, err = verifyMem(insns, len(mem)); err != nil {
			var ve *verifier.Error
			if errors.As(err, &ve) {
				return fail(fmt.Errorf("%s: verifier: %s", files[0], rejectionDetail(ve)))
			}
			return fail(fmt.Errorf("%s: %w", files[0], err))
		}
	}
	r, err := newRunner(insns, *budget, proven)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", files[0], err))
	}

	buf := make([]byte, len(mem))
	var r0 uint64
	var total time.Duration
	for i := 0; i < *repeat; i++ {
		copy(buf, mem)
		start := time.Now()
		r0, err = r.Run(buf)
		total += time.Since(start)
		if err != nil {
			return fail(err)
		}
	}
	if !*jsonOut {
		fmt.Fprintf(stdout, "%#x\n", r0)
		return 0
	}
	out, err := json.Marshal(struct {
		R0         string `json:"r0"`
		Mem        string `json:"mem"`
		Insns      uint64 `json:"insns"`
		DurationNS int64  `json:"duration_ns"`
	}{fmt.Sprintf("%#x", r0), hex.EncodeToString(buf), r.Executed(), total.Nanoseconds() / int64(*repeat)})
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "%s\n", out)
	return 0
}

func runEngineNames() []string {
	names := make([]string, 0, len(runEngines))
	for n := range runEngines {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// readProgram reads a program file (see decodeRawProgram for the formats).
func readProgram(name string) ([]isa.Instruction, error) {
	data, err := readInput(name)
	if err != nil {
		return nil, err
	}
	return decodeRawProgram(name, data)
}
