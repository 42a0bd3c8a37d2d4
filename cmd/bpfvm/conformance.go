package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/bpfvm/bpfvm/internal/conformance"
	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit"
	"github.com/bpfvm/bpfvm/internal/kerneltest"
)

func init() {
	register(&command{
		name:    "conformance",
		summary: "run eBPF conformance-suite tests (.data files)",
		run:     runConformance,
	})
}

const conformanceUsage = `usage: bpfvm conformance [--engine NAME] [-v] [--negative] [--verify] PATH...

Runs bpf_conformance test files (.data; folders are searched recursively)
on an engine (interp, jit, or kernel: the running Linux kernel, through
BPF_PROG_TEST_RUN, which refuses a few of the suite's programs) and prints
one line per failing test with the reason, then "N passed, M failed". Tests in a folder named negative (or all tests, with
--negative) must be refused or fail; they pass when they do. Exit status:
0 all passed, 1 some failed, 2 bad usage.

Programs run with every runtime check on. --verify (interp, jit) first
verifies each program as the verifier's "mem" type (r1 a pointer to the
test's memory, r2 its length): a rejection fails the test (passes a
negative one) and an accepted program runs without the checks the
verifier made unnecessary (on the JIT, the accesses it proved in bounds).

flags:
`

func runConformance(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	engineName := fs.String("engine", "interp", "engine to run the programs on: "+strings.Join(conformance.EngineNames(), ", "))
	verbose := fs.Bool("v", false, "also list passing tests, with the reason a negative test was refused")
	negative := fs.Bool("negative", false, "judge every test as a negative test")
	verify := fs.Bool("verify", false, "verify each program first (r1 = the memory, r2 = its length); run the proven accesses unchecked")
	paths, status := parseCommandFlags(fs, args, conformanceUsage, stdout, stderr)
	if status >= 0 {
		return status
	}
	factory, ok := conformance.Engines[*engineName]
	if !ok {
		fmt.Fprintf(stderr, "bpfvm conformance: unknown engine %q (available: %s)\n", *engineName, strings.Join(conformance.EngineNames(), ", "))
		return 2
	}
	if *verify {
		if *engineName == "kernel" {
			fmt.Fprintln(stderr, "bpfvm conformance: --verify is for bpfvm's engines: the kernel always verifies")
			return 2
		}
		factory = verifiedEngine(jit.Kind(*engineName))
	}
	switch *engineName {
	case "jit":
		if err := jit.Available(); err != nil {
			fmt.Fprintf(stderr, "bpfvm conformance: %v: the tests run on the interpreter\n", err)
		}
	case "kernel":
		if err := kerneltest.Available(); err != nil {
			fmt.Fprintf(stderr, "bpfvm conformance: %v\n", err)
			return 1
		}
	}
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "bpfvm conformance: no test files or folders given")
		fmt.Fprint(stderr, conformanceUsage)
		return 2
	}
	results, err := conformance.RunPaths(paths, factory, conformance.Options{Negative: *negative})
	if err != nil {
		fmt.Fprintf(stderr, "bpfvm conformance: %v\n", err)
		return 1
	}
	for _, r := range results {
		name := r.Path
		if name == "" {
			name = r.Name
		}
		switch {
		case !r.Passed:
			fmt.Fprintf(stdout, "FAIL %s: %s\n", name, r.Reason)
		case *verbose && r.Negative:
			fmt.Fprintf(stdout, "PASS %s: %s\n", name, r.Reason)
		case *verbose:
			fmt.Fprintf(stdout, "PASS %s\n", name)
		}
	}
	passed, failed := conformance.Summary(results)
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

// verifiedEngine verifies each program before it runs on the engine,
// passing the accesses the verifier proved in bounds to it.
func verifiedEngine(kind jit.Kind) conformance.EngineFactory {
	return func(helpers engine.Helpers) conformance.Engine {
		return func(insns []isa.Instruction, mem []byte) (uint64, error) {
			proven, err := verifyMem(insns, len(mem))
			if err != nil {
				return 0, err
			}
			p, _, err := jit.Load(kind, insns, jit.Options{Helpers: helpers, Proven: proven})
			if err != nil {
				return 0, err
			}
			defer p.Close()
			return p.NewVM().Run(mem)
		}
	}
}
