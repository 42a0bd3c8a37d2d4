package main

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/bpfvm/bpfvm"
)

func init() {
	register(&command{
		name:    "test-run",
		summary: "run a program of an ELF object on a packet/context, as BPF_PROG_TEST_RUN does",
		run:     runTestRun,
	})
}

const testRunUsage = `usage: bpfvm test-run --prog NAME [--data FILE] [--ctx FILE] [--repeat N]
                      [--cpu N] [--json] OBJECT.o

Loads the ELF object (clang -target bpf) and runs program NAME once (or N
times) on the packet in --data and the context struct in --ctx (raw bytes:
__sk_buff for tc and socket filters, xdp_md for XDP, the raw context of
tracing programs), the way the kernel's BPF_PROG_TEST_RUN does, and prints
the return value, the packet and context after the run, and the mean
duration. --json prints one object:
{"retval":N,"data_out":"<hex>","ctx_out":"<hex>","duration_ns":N}.

flags:
`

func runTestRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("test-run", flag.ContinueOnError)
	prog := fs.String("prog", "", "program name (as in `bpfvm prog list`)")
	dataFile := fs.String("data", "", "file with the packet (data_in)")
	ctxFile := fs.String("ctx", "", "file with the context struct (ctx_in)")
	repeat := fs.Uint("repeat", 1, "number of runs; the duration is the mean")
	cpu := fs.Uint("cpu", 0, "CPU the run reports")
	jsonOut := fs.Bool("json", false, "print one JSON object")
	files, status := parseCommandFlags(fs, args, testRunUsage, stdout, stderr)
	if status >= 0 {
		return status
	}
	if len(files) != 1 || *prog == "" {
		fmt.Fprintln(stderr, "bpfvm test-run: need --prog NAME and one OBJECT.o")
		return 2
	}
	var data, ctx []byte
	var err error
	if *dataFile != "" {
		if data, err = os.ReadFile(*dataFile); err != nil {
			fmt.Fprintf(stderr, "bpfvm test-run: %v\n", err)
			return 1
		}
	}
	if *ctxFile != "" {
		if ctx, err = os.ReadFile(*ctxFile); err != nil {
			fmt.Fprintf(stderr, "bpfvm test-run: %v\n", err)
			return 1
		}
	}
	rt := bpfvm.NewRuntime(bpfvm.WithTraceOutput(stderr))
	coll, err := rt.LoadCollectionFile(files[0])
	if err != nil {
		fmt.Fprintf(stderr, "bpfvm test-run: %v\n", err)
		return 1
	}
	defer coll.Close()
	p, ok := coll.Programs[*prog]
	if !ok {
		names := make([]string, 0, len(coll.Programs))
		for n := range coll.Programs {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(stderr, "bpfvm test-run: no program %q in %s (programs: %s)\n", *prog, files[0], strings.Join(names, ", "))
		return 1
	}
	opts := &bpfvm.RunOptions{Data: data, Repeat: uint32(*repeat), CPU: uint32(*cpu)}
	if len(data) > 0 {
		opts.DataOut = make([]byte, len(data)+4096)
	}
	var ctxOut []byte
	if ctx != nil {
		opts.Context = ctx
		ctxOut = make([]byte, len(ctx))
		opts.ContextOut = ctxOut
	}
	ret, err := p.Run(opts)
	if err != nil {
		fmt.Fprintf(stderr, "bpfvm test-run: %v\n", err)
		return 1
	}
	out := struct {
		Retval     uint32 `json:"retval"`
		DataOut    string `json:"data_out"`
		CtxOut     string `json:"ctx_out"`
		DurationNs int64  `json:"duration_ns"`
	}{ret, hex.EncodeToString(opts.DataOut), hex.EncodeToString(ctxOut), opts.Duration.Nanoseconds()}
	if *jsonOut {
		b, _ := json.Marshal(out)
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	fmt.Fprintf(stdout, "retval:   %d (%#x)\n", out.Retval, out.Retval)
	fmt.Fprintf(stdout, "data_out: %s\n", out.DataOut)
	if ctx != nil {
		fmt.Fprintf(stdout, "ctx_out:  %s\n", out.CtxOut)
	}
	fmt.Fprintf(stdout, "duration: %dns\n", out.DurationNs)
	return 0
}
