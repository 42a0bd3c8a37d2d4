package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/bpfvm/bpfvm/cbpf"
)

func init() {
	register(&command{
		name:    "cbpf",
		summary: "check classic BPF programs and convert between bpf_asm and tcpdump -d/-dd/-ddd",
		run:     runCBPF,
	})
}

const cbpfUsage = `usage: bpfvm cbpf [-to FORMAT] [-nocheck] [FILE]

Reads a classic BPF program from FILE (or standard input when FILE is
absent or -) in any of these formats, recognised automatically:

  bpf_asm source    ldh [12] / jeq #0x800, L1, L2 / L1: ret #65535 ...
  tcpdump -d        (000) ldh      [12]
  tcpdump -dd       { 0x28, 0, 0, 0x0000000c },
  tcpdump -ddd      a count line, then "40 0 0 12" lines (also bpf_asm's
                    one-line "4,40 0 0 12,..." form)

checks it with the Linux kernel's rules (what SO_ATTACH_FILTER accepts)
and prints it in FORMAT: asm (bpf_asm source), d, dd or ddd (exactly as
tcpdump prints them). Exit status 1 if the program does not parse or
fails the check.

flags:
`

func runCBPF(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cbpf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	to := fs.String("to", "d", "output format: asm, d, dd or ddd")
	noCheck := fs.Bool("nocheck", false, "print the program even if the kernel would refuse it")
	// The usage goes to stdout for -h (asked for), to stderr after a bad
	// flag; the flag package's own call of Usage would print it first.
	usage := func() {
		fmt.Fprint(fs.Output(), cbpfUsage)
		fs.PrintDefaults()
	}
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fs.SetOutput(stdout)
		}
		usage()
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	format := map[string]func([]cbpf.Instruction) (string, error){
		"asm": cbpf.Disassemble,
		"d":   func(p []cbpf.Instruction) (string, error) { return cbpf.FormatListing(p), nil },
		"dd":  func(p []cbpf.Instruction) (string, error) { return cbpf.FormatC(p), nil },
		"ddd": func(p []cbpf.Instruction) (string, error) { return cbpf.FormatDecimal(p), nil },
	}[*to]
	if format == nil {
		fmt.Fprintf(stderr, "bpfvm cbpf: unknown output format %q (asm, d, dd or ddd)\n", *to)
		return 2
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(stderr, "bpfvm cbpf: expected at most one input file, got %d\n", fs.NArg())
		return 2
	}
	name := "-"
	if fs.NArg() == 1 {
		name = fs.Arg(0)
	}
	var src []byte
	var err error
	if name == "-" {
		src, err = io.ReadAll(os.Stdin)
		name = "<stdin>"
	} else {
		src, err = os.ReadFile(name)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bpfvm cbpf: %v\n", err)
		return 1
	}
	prog, err := cbpf.Parse(string(src))
	if err != nil {
		fmt.Fprintf(stderr, "bpfvm cbpf: %s:%v (read as %v)\n", name, err, cbpf.Detect(string(src)))
		return 1
	}
	if !*noCheck {
		if err := cbpf.Check(prog); err != nil {
			fmt.Fprintf(stderr, "bpfvm cbpf: %s: %v\n", name, err)
			return 1
		}
	}
	out, err := format(prog)
	if err != nil {
		fmt.Fprintf(stderr, "bpfvm cbpf: %s: %v\n", name, err)
		return 1
	}
	fmt.Fprint(stdout, out)
	return 0
}
