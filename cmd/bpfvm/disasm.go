package main

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/isa"
)

func init() {
	register(&command{
		name:    "disasm",
		summary: "disassemble eBPF bytecode (.bin or .hex)",
		run:     runDisasm,
	})
}

const disasmUsage = `usage: bpfvm disasm [--style kernel|conformance] FILE

Disassembles eBPF bytecode: raw little-endian instructions (.bin), or hex
text (.hex: hex digits in memory byte order, white space ignored, as
written by bpfvm asm --hex). FILE may be - for standard input.
--style kernel (the default) prints the verifier / llvm-objdump notation
with slot indices (   0: r0 = *(u32 *)(r1 + 4)); --style conformance
prints conformance-suite assembly that bpfvm asm reads back to the same
bytecode.

flags:
`

func runDisasm(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("disasm", flag.ContinueOnError)
	style := fs.String("style", "kernel", "output notation: kernel or conformance")
	files, status := parseCommandFlags(fs, args, disasmUsage, stdout, stderr)
	if status >= 0 {
		return status
	}
	if *style != "kernel" && *style != "conformance" {
		fmt.Fprintf(stderr, "bpfvm disasm: unknown --style %q: use kernel or conformance\n", *style)
		return 2
	}
	if len(files) != 1 {
		fmt.Fprintf(stderr, "bpfvm disasm: expected one input file, got %d\n", len(files))
		return 2
	}
	data, err := readInput(files[0])
	if err != nil {
		fmt.Fprintf(stderr, "bpfvm disasm: %v\n", err)
		return 1
	}
	insns, err := decodeBytecode(data)
	if err != nil {
		fmt.Fprintf(stderr, "bpfvm disasm: %s: %v\n", files[0], err)
		return 1
	}
	if *style == "kernel" {
		fmt.Fprint(stdout, isa.FormatProgram(insns))
	} else {
		fmt.Fprint(stdout, asm.Disassemble(insns))
	}
	return 0
}

// decodeBytecode accepts raw bytecode or hex text (recognised by holding
// only hex digits and white space).
func decodeBytecode(data []byte) ([]isa.Instruction, error) {
	if bytes.HasPrefix(data, []byte("\x7fELF")) {
		return nil, fmt.Errorf("ELF object files are not supported yet; extract the section's bytes to a .bin file")
	}
	if isHexText(data) {
		digits := strings.Join(strings.Fields(string(data)), "")
		code, err := hex.DecodeString(digits)
		if err != nil {
			return nil, fmt.Errorf("hex text: %v", err)
		}
		data = code
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("no instructions")
	}
	return isa.Decode(data)
}

func isHexText(data []byte) bool {
	if len(bytes.TrimSpace(data)) == 0 {
		return false
	}
	for _, c := range data {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		case c == ' ', c == '\t', c == '\n', c == '\r':
		default:
			return false
		}
	}
	return true
}
