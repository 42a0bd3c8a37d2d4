package isa_test

import (
	"bytes"
	"encoding/binary"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	ciliumasm "github.com/cilium/ebpf/asm"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// kernelLine matches an instruction line of the verifier log at level 2:
// "12: (bf) r1 = r6   ; R1_w=ctx() R6=ctx()".
var kernelLine = regexp.MustCompile(`^(\d+): \(([0-9a-f]{2})\) (.*?)(\s+;.*)?$`)

// Where bpfvm deliberately follows llvm-objdump rather than the kernel
// (as the formatter's documentation says), the kernel's text is rewritten
// before comparing.
var kernelRewrites = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`(goto\S* pc[+-]\d+) .*$`), "$1"},         // drop the branch target's state
	{regexp.MustCompile(`\(r(\d+) ([+-])(\d+)\)`), "(r$1 $2 $3)"}, // (r10 -8) -> (r10 - 8)
	{regexp.MustCompile(`goto(l?) pc([+-])`), "goto$1 $2"},        // goto pc+3 -> goto +3
	{regexp.MustCompile(`call [a-z_0-9]+#(\d+)`), "call $1"},      // call bpf_get_prandom_u32#7 -> call 7
	{regexp.MustCompile(`atomic64_`), "atomic_"},                  // size is in the pointer type
}

// wToR renames w registers to r registers.
var wToR = regexp.MustCompile(`\bw(\d+)`)

// TestFormatAgainstKernel loads a program using every instruction form a
// socket filter may use and compares each instruction's String with the
// kernel verifier's rendering of it.
func TestFormatAgainstKernel(t *testing.T) {
	requireKernel(t)
	var p []isa.Instruction
	add := func(is ...isa.Instruction) { p = append(p, is...) }
	// Unknown scalars in r6-r9 and small constants in r1-r5 keep every
	// operation legal (no division by a constant 0, no pointer maths).
	add(isa.Instruction{Opcode: 0x85, Imm: 7}, isa.Instruction{Opcode: 0xbf, Dst: 6})
	add(isa.Instruction{Opcode: 0x85, Imm: 7}, isa.Instruction{Opcode: 0xbf, Dst: 7})
	for d := uint8(1); d <= 5; d++ {
		add(isa.Instruction{Opcode: 0xb7, Dst: d, Imm: int32(d)})
	}
	add(isa.Instruction{Opcode: 0xb7, Dst: 8, Imm: 3}, isa.Instruction{Opcode: 0xb7, Dst: 9, Imm: -7})
	for _, class := range []uint8{isa.ClassALU64, isa.ClassALU} {
		for _, op := range []uint8{isa.OpADD, isa.OpSUB, isa.OpMUL, isa.OpDIV, isa.OpOR, isa.OpAND, isa.OpLSH, isa.OpRSH, isa.OpMOD, isa.OpXOR, isa.OpMOV, isa.OpARSH} {
			add(isa.Instruction{Opcode: class | op | isa.SrcK, Dst: 6, Imm: 3})
			add(isa.Instruction{Opcode: class | op | isa.SrcX, Dst: 7, Src: 8})
		}
		add(isa.Instruction{Opcode: class | isa.OpDIV | isa.SrcK, Dst: 6, Offset: 1, Imm: -3})
		add(isa.Instruction{Opcode: class | isa.OpMOD | isa.SrcX, Dst: 6, Offset: 1, Src: 9})
		add(isa.Instruction{Opcode: class | isa.OpNEG, Dst: 6})
		add(isa.Instruction{Opcode: class | isa.OpMOV | isa.SrcX, Dst: 7, Src: 6, Offset: 8})
		add(isa.Instruction{Opcode: class | isa.OpMOV | isa.SrcX, Dst: 7, Src: 6, Offset: 16})
		add(isa.Instruction{Opcode: class | isa.OpMOV | isa.SrcK, Dst: 7, Imm: -1})
	}
	add(isa.Instruction{Opcode: 0xbf, Dst: 7, Src: 6, Offset: 32})
	for _, w := range []int32{16, 32, 64} {
		add(isa.Instruction{Opcode: 0xd4, Dst: 6, Imm: w}, isa.Instruction{Opcode: 0xdc, Dst: 6, Imm: w}, isa.Instruction{Opcode: 0xd7, Dst: 6, Imm: w})
	}
	lddw := isa.LDDW(8, 0x1122334455667788)
	add(lddw[0], lddw[1])
	for _, size := range []uint8{isa.SizeB, isa.SizeH, isa.SizeW, isa.SizeDW} {
		add(isa.Instruction{Opcode: isa.ClassST | isa.ModeMEM | size, Dst: 10, Offset: -16, Imm: 5})
		add(isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | size, Dst: 10, Src: 6, Offset: -24})
		add(isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEM | size, Dst: 7, Src: 10, Offset: -24})
		if size != isa.SizeDW {
			add(isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEMSX | size, Dst: 7, Src: 10, Offset: -24})
		}
	}
	add(isa.Instruction{Opcode: 0x7b, Dst: 10, Src: 6, Offset: -8})
	for _, size := range []uint8{isa.SizeW, isa.SizeDW} {
		for _, imm := range []int32{isa.AtomicADD, isa.AtomicOR, isa.AtomicAND, isa.AtomicXOR} {
			add(isa.Instruction{Opcode: isa.ClassSTX | isa.ModeATOMIC | size, Dst: 10, Src: 7, Offset: -8, Imm: imm})
			add(isa.Instruction{Opcode: isa.ClassSTX | isa.ModeATOMIC | size, Dst: 10, Src: 7, Offset: -8, Imm: imm | isa.AtomicFETCH})
		}
		add(isa.Instruction{Opcode: isa.ClassSTX | isa.ModeATOMIC | size, Dst: 10, Src: 7, Offset: -8, Imm: isa.AtomicXCHG})
		add(isa.Instruction{Opcode: 0xb7, Dst: 0, Imm: 0})
		add(isa.Instruction{Opcode: isa.ClassSTX | isa.ModeATOMIC | size, Dst: 10, Src: 7, Offset: -8, Imm: isa.AtomicCMPXCHG})
	}
	for _, class := range []uint8{isa.ClassJMP, isa.ClassJMP32} {
		for _, op := range []uint8{isa.OpJEQ, isa.OpJGT, isa.OpJGE, isa.OpJSET, isa.OpJNE, isa.OpJSGT, isa.OpJSGE, isa.OpJLT, isa.OpJLE, isa.OpJSLT, isa.OpJSLE} {
			add(isa.Instruction{Opcode: class | op | isa.SrcK, Dst: 6, Imm: 5, Offset: 1})
			add(isa.Instruction{Opcode: isa.OpcodeJA})
			add(isa.Instruction{Opcode: class | op | isa.SrcX, Dst: 6, Src: 7, Offset: 1})
			add(isa.Instruction{Opcode: isa.OpcodeJA32})
		}
	}
	add(isa.Instruction{Opcode: 0xb7, Dst: 0}, isa.Instruction{Opcode: 0x95})

	cins, err := ciliumasm.AppendInstructions(nil, bytes.NewReader(isa.Encode(p)), binary.LittleEndian, "linux")
	if err != nil {
		t.Fatal(err)
	}
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, Instructions: cins, License: "GPL"},
		ebpf.ProgramOptions{LogLevel: ebpf.LogLevelInstruction, LogSizeStart: 1 << 22})
	if err != nil {
		t.Fatalf("the kernel refused the sample program: %v", err)
	}
	defer prog.Close()
	seen := map[int]bool{}
	for _, line := range strings.Split(prog.VerifierLog, "\n") {
		m := kernelLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if n >= len(p) || seen[n] {
			continue
		}
		seen[n] = true
		want := m[3]
		for _, rw := range kernelRewrites {
			want = rw.re.ReplaceAllString(want, rw.repl)
		}
		i := p[n]
		got := i.String()
		switch {
		case i.IsLDDW():
			got = strings.TrimSuffix(strings.TrimPrefix(isa.FormatProgram(p[n:n+2]), "   0: "), " ll\n")
		case i.Class() == isa.ClassSTX && i.Mode() == isa.ModeATOMIC && i.Size() == isa.SizeW:
			// bpfvm names the 32-bit registers of 32-bit atomics wN, as
			// llvm-objdump does; the kernel writes rN.
			got = wToR.ReplaceAllString(got, "r$1")
		}
		if got != want {
			t.Errorf("instruction %d (%s): bpfvm %q, kernel %q (raw %q)", n, m[2], got, want, m[3])
		}
	}
	if len(seen) < len(p)-40 {
		t.Errorf("the kernel log showed only %d of %d instructions", len(seen), len(p))
	}
	t.Logf("compared %d instructions with the kernel's rendering", len(seen))
}
