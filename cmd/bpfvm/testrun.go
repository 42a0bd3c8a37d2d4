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

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

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
                      [--cpu N] [--json] [--no-verify] OBJECT.o
       bpfvm test-run --prog NAME --pcap FILE [-w OUT.pcap] OBJECT.o

Loads the ELF object (clang -target bpf) and runs program NAME once (or N
times) on the packet in --data and the context struct in --ctx (raw bytes:
__sk_buff for tc and socket filters, xdp_md for XDP, the raw context of
tracing programs), the way the kernel's BPF_PROG_TEST_RUN does, and prints
the return value, the packet and context after the run, and the mean
duration. --json prints one object:
{"retval":N,"data_out":"<hex>","ctx_out":"<hex>","duration_ns":N}.

Every program of the object is verified when it loads; a rejection prints
the verifier's diagnostic. --no-verify skips the verifier and runs with
every runtime check on instead.

With --pcap, runs an XDP, tc or socket filter program over every packet of
a capture (pcap, Ethernet) and prints the count per verdict; -w writes the
packets the program lets through (after its changes; socket filters
truncate to their return value) to a new capture.

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
	pcapIn := fs.String("pcap", "", "run over every packet of this capture")
	pcapOut := fs.String("w", "", "with --pcap: write the packets let through to this capture")
	noVerify := fs.Bool("no-verify", false, "load without the verifier; run with every runtime check on")
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
	rtOpts := []bpfvm.Option{bpfvm.WithTraceOutput(stderr)}
	if *noVerify {
		rtOpts = append(rtOpts, bpfvm.WithoutVerifier())
	}
	rt := bpfvm.NewRuntime(rtOpts...)
	coll, err := rt.LoadCollectionFile(files[0])
	if err != nil {
		fmt.Fprintf(stderr, "bpfvm test-run: %v\n", err)
		var ve *bpfvm.VerifierError
		if errors.As(err, &ve) {
			fmt.Fprintln(stderr, rejectionDetail(ve))
		}
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
	if *pcapIn != "" {
		return runPcap(p, *pcapIn, *pcapOut, stdout, stderr)
	}
	if *pcapOut != "" {
		fmt.Fprintln(stderr, "bpfvm test-run: -w needs --pcap")
		return 2
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

// verdictName names a return value for the program's type.
func verdictName(t bpfvm.ProgramType, ret uint32) string {
	switch t {
	case bpfvm.XDP:
		if n, ok := map[uint32]string{0: "XDP_ABORTED", 1: "XDP_DROP", 2: "XDP_PASS", 3: "XDP_TX", 4: "XDP_REDIRECT"}[ret]; ok {
			return n
		}
	case bpfvm.SchedCLS, bpfvm.SchedACT:
		if n, ok := map[uint32]string{0xffffffff: "TC_ACT_UNSPEC", 0: "TC_ACT_OK", 1: "TC_ACT_RECLASSIFY", 2: "TC_ACT_SHOT", 3: "TC_ACT_PIPE", 4: "TC_ACT_STOLEN", 5: "TC_ACT_QUEUED", 6: "TC_ACT_REPEAT", 7: "TC_ACT_REDIRECT"}[ret]; ok {
			return n
		}
	case bpfvm.SocketFilter:
		if ret == 0 {
			return "drop"
		}
		return "accept"
	}
	return fmt.Sprintf("%d", ret)
}

// passes reports whether a verdict lets the packet through, and how many
// bytes of it.
func passes(t bpfvm.ProgramType, ret uint32, n int) (bool, int) {
	switch t {
	case bpfvm.XDP:
		return ret == 2 || ret == 3 || ret == 4, n
	case bpfvm.SchedCLS, bpfvm.SchedACT:
		return ret == 0 || ret == 0xffffffff || ret == 3 || ret == 7, n
	case bpfvm.SocketFilter:
		return ret != 0, min(n, int(ret))
	}
	return false, 0
}

func runPcap(p *bpfvm.Program, in, out string, stdout, stderr io.Writer) int {
	switch p.Type() {
	case bpfvm.XDP, bpfvm.SchedCLS, bpfvm.SchedACT, bpfvm.SocketFilter:
	default:
		fmt.Fprintf(stderr, "bpfvm test-run: --pcap needs an XDP, tc or socket filter program, %s is %s\n", p.Name(), p.Type())
		return 2
	}
	f, err := os.Open(in)
	if err != nil {
		fmt.Fprintf(stderr, "bpfvm test-run: %v\n", err)
		return 1
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		fmt.Fprintf(stderr, "bpfvm test-run: %s: %v\n", in, err)
		return 1
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		fmt.Fprintf(stderr, "bpfvm test-run: %s: link type %s, want Ethernet\n", in, r.LinkType())
		return 1
	}
	var w *pcapgo.Writer
	if out != "" {
		of, err := os.Create(out)
		if err != nil {
			fmt.Fprintf(stderr, "bpfvm test-run: %v\n", err)
			return 1
		}
		defer of.Close()
		w = pcapgo.NewWriter(of)
		if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			fmt.Fprintf(stderr, "bpfvm test-run: %v\n", err)
			return 1
		}
	}
	counts := map[string]int{}
	total, failed := 0, 0
	buf := make([]byte, 65536)
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintf(stderr, "bpfvm test-run: %s: packet %d: %v\n", in, total+1, err)
			return 1
		}
		total++
		opts := &bpfvm.RunOptions{Data: data, DataOut: buf}
		ret, err := p.Run(opts)
		if err != nil {
			failed++
			counts["error"]++
			continue
		}
		counts[verdictName(p.Type(), ret)]++
		if ok, n := passes(p.Type(), ret, len(opts.DataOut)); ok && w != nil {
			ci.CaptureLength, ci.Length = n, n
			if err := w.WritePacket(ci, opts.DataOut[:n]); err != nil {
				fmt.Fprintf(stderr, "bpfvm test-run: %v\n", err)
				return 1
			}
		}
	}
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(stdout, "%d packets\n", total)
	for _, n := range names {
		fmt.Fprintf(stdout, "  %-18s %d\n", n, counts[n])
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "bpfvm test-run: %d packets failed to run (not a valid input for BPF_PROG_TEST_RUN, or a run-time fault)\n", failed)
	}
	return 0
}
