package main

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/isa"
)

func init() {
	register(&command{
		name:    "asm",
		summary: "assemble conformance-syntax eBPF text into bytecode",
		run:     runAsm,
	})
}

const asmUsage = `usage: bpfvm asm [-o OUT] [--hex] FILE.s

Assembles eBPF text in the conformance-suite syntax (mov %r0, 1 / exit)
into bytecode: raw little-endian instructions (.bin), or with --hex one
instruction per line as 16 hex digits in memory byte order. FILE may be -
for standard input. Without -o the output goes next to FILE with the
extension .bin or .hex (standard output when FILE is -); -o - writes to
standard output.

flags:
`

func runAsm(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("asm", flag.ContinueOnError)
	out := fs.String("o", "", "output file (- for standard output)")
	hexOut := fs.Bool("hex", false, "write hex text instead of raw bytes")
	files, status := parseCommandFlags(fs, args, asmUsage, stdout, stderr)
	if status >= 0 {
		return status
	}
	if len(files) != 1 {
		fmt.Fprintf(stderr, "bpfvm asm: expected one input file, got %d\n", len(files))
		return 2
	}
	in := files[0]
	src, err := readInput(in)
	if err != nil {
		fmt.Fprintf(stderr, "bpfvm asm: %v\n", err)
		return 1
	}
	insns, err := asm.AssembleFile(in, string(src))
	if err != nil {
		fmt.Fprintf(stderr, "bpfvm asm: %v\n", err)
		return 1
	}
	var data []byte
	if *hexOut {
		data = []byte(hexText(insns))
	} else {
		data = isa.Encode(insns)
	}
	dest := *out
	if dest == "" {
		if in == "-" {
			dest = "-"
		} else {
			ext := ".bin"
			if *hexOut {
				ext = ".hex"
			}
			dest = strings.TrimSuffix(in, filepath.Ext(in)) + ext
		}
	}
	if dest == "-" {
		_, err = stdout.Write(data)
	} else {
		err = os.WriteFile(dest, data, 0o644)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bpfvm asm: %v\n", err)
		return 1
	}
	return 0
}

// hexText writes one instruction slot per line as 16 hex digits, bytes in
// memory order.
func hexText(insns []isa.Instruction) string {
	var b strings.Builder
	for _, i := range insns {
		b.WriteString(hex.EncodeToString(i.Encode(nil)))
		b.WriteByte('\n')
	}
	return b.String()
}

func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}

// parseCommandFlags parses flags that may appear before, between or after
// the positional arguments (`bpfvm conformance tests/ -v`). It returns the
// positional arguments and -1, or an exit status: 0 after -h (usage on
// stdout), 2 after a bad flag (error and usage on stderr).
func parseCommandFlags(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) ([]string, int) {
	fs.SetOutput(io.Discard)
	printUsage := func(w io.Writer) {
		fmt.Fprint(w, usage)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printUsage(stdout)
				return nil, 0
			}
			fmt.Fprintf(stderr, "bpfvm %s: %v\n", fs.Name(), err)
			printUsage(stderr)
			return nil, 2
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, -1
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), -1
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}
