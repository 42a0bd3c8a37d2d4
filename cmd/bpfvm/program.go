package main

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// decodeRawProgram turns the bytes of a program file into instructions, for
// every subcommand that takes raw programs (run, verify, disasm):
//   - .s / .asm: conformance-syntax assembly;
//   - .bin: raw little-endian bytecode;
//   - .hex, standard input ("-"), or any file holding only hex digits and
//     white space: hex text in memory byte order, one 16-digit instruction
//     per line or one run of digits; # and ; start comments in .hex files;
//   - anything else: raw bytecode.
func decodeRawProgram(name string, data []byte) ([]isa.Instruction, error) {
	ext := strings.ToLower(filepath.Ext(name))
	switch {
	case ext == ".s" || ext == ".asm":
		return asm.AssembleFile(name, string(data))
	case bytes.HasPrefix(data, []byte(elf.ELFMAG)):
		return nil, fmt.Errorf("%s: unknown program format: this is an ELF object (bpfvm test-run, verify and disasm take objects)", name)
	case ext == ".hex" || name == "-" || (ext != ".bin" && isHexText(data)):
		return parseHexProgram(name, string(data))
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%s: no instructions", name)
	}
	insns, err := isa.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return insns, nil
}

// parseHexProgram reads hex text: one instruction per line as 16 hex digits
// in memory byte order, or the digits of several instructions run together;
// # and ; start comments, blank lines are skipped.
func parseHexProgram(name, text string) ([]isa.Instruction, error) {
	var digits strings.Builder
	badLine, bad := 0, ""
	for n, line := range strings.Split(text, "\n") {
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		d := strings.Join(strings.Fields(line), "")
		if d == "" {
			continue
		}
		if len(d)%16 != 0 && badLine == 0 {
			badLine, bad = n+1, d
		}
		digits.WriteString(d)
	}
	all := digits.String()
	if all == "" {
		return nil, fmt.Errorf("%s: no instructions", name)
	}
	if len(all)%16 != 0 {
		return nil, fmt.Errorf("%s:%d: %q is not a whole number of instructions (16 hex digits each)", name, badLine, bad)
	}
	code, err := hex.DecodeString(all)
	if err != nil {
		return nil, fmt.Errorf("%s: not hex: %v", name, err)
	}
	return isa.Decode(code)
}

// isHexText reports whether data holds only hex digits and white space.
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
