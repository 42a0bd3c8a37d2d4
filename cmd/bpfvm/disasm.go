package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/isa"
)

func init() {
	register(&command{
		name:    "disasm",
		summary: "disassemble eBPF bytecode (.bin, .hex or an ELF object)",
		run:     runDisasm,
	})
}

const disasmUsage = `usage: bpfvm disasm [--style kernel|conformance] FILE

Disassembles eBPF bytecode: raw little-endian instructions (.bin), hex
text (.hex: hex digits in memory byte order, white space ignored, as
written by bpfvm asm --hex), or every code section of a BPF ELF object
file (.o, as clang -target bpf writes it; relocations are not applied).
FILE may be - for standard input.
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
	if bytes.HasPrefix(data, []byte(elf.ELFMAG)) {
		if err := disasmELF(data, *style, stdout); err != nil {
			fmt.Fprintf(stderr, "bpfvm disasm: %s: %v\n", files[0], err)
			return 1
		}
		return 0
	}
	insns, err := decodeRawProgram(files[0], data)
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

// disasmELF disassembles every code section of a BPF ELF object, as
// llvm-objdump -d does: the bytes as they are in the file (relocations,
// such as map references, are not applied), with the function symbols.
func disasmELF(data []byte, style string, w io.Writer) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return err
	}
	if f.Machine != elf.EM_BPF {
		return fmt.Errorf("not a BPF object file (machine %v)", f.Machine)
	}
	if f.ByteOrder != binary.LittleEndian {
		return fmt.Errorf("big-endian BPF object files are not supported")
	}
	// Function symbols by section and slot.
	syms, _ := f.Symbols() // a stripped object has none
	names := map[elf.SectionIndex]map[uint64]string{}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Value%isa.InstructionSize != 0 {
			continue
		}
		if names[s.Section] == nil {
			names[s.Section] = map[uint64]string{}
		}
		names[s.Section][s.Value/isa.InstructionSize] = s.Name
	}
	found := false
	for idx, sec := range f.Sections {
		if sec.Type != elf.SHT_PROGBITS || sec.Flags&elf.SHF_EXECINSTR == 0 || sec.Size == 0 {
			continue
		}
		code, err := sec.Data()
		if err != nil {
			return fmt.Errorf("section %s: %v", sec.Name, err)
		}
		insns, err := isa.Decode(code)
		if err != nil {
			return fmt.Errorf("section %s: %v", sec.Name, err)
		}
		if found {
			fmt.Fprintln(w)
		}
		found = true
		symbols := names[elf.SectionIndex(idx)]
		if style == "conformance" {
			fmt.Fprintf(w, "# section %s\n", sec.Name)
			for _, n := range sortedKeys(symbols) {
				fmt.Fprintf(w, "# %s at slot %d\n", symbols[n], n)
			}
			fmt.Fprint(w, asm.Disassemble(insns))
			continue
		}
		fmt.Fprintf(w, "Disassembly of section %s:\n", sec.Name)
		for _, line := range strings.SplitAfter(isa.FormatProgram(insns), "\n") {
			var n uint64
			if _, err := fmt.Sscanf(line, "%d:", &n); err == nil && symbols[n] != "" {
				fmt.Fprintf(w, "\n%s:\n", symbols[n])
			}
			fmt.Fprint(w, line)
		}
	}
	if !found {
		return fmt.Errorf("the object file has no code sections")
	}
	return nil
}

func sortedKeys(m map[uint64]string) []uint64 {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
