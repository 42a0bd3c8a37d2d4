package asm_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/conformance"
	"github.com/bpfvm/bpfvm/internal/isa"
)

type insn = isa.Instruction

// TestAssembleEncodings checks every mnemonic against the encodings of
// FORMAT.md section 5 (opcode bytes written out by hand from that table).
func TestAssembleEncodings(t *testing.T) {
	tests := []struct {
		src  string
		want []insn
	}{
		{"add %r0, 1", []insn{{Opcode: 0x07, Imm: 1}}},
		{"add32 %r0, %r1", []insn{{Opcode: 0x0c, Src: 1}}},
		{"mov %r0, 1", []insn{{Opcode: 0xb7, Imm: 1}}},
		{"mov32 %r0, 1", []insn{{Opcode: 0xb4, Imm: 1}}},
		{"mov %r9, %r10", []insn{{Opcode: 0xbf, Dst: 9, Src: 10}}},
		{"sub %r1, -5", []insn{{Opcode: 0x17, Dst: 1, Imm: -5}}},
		{"mul32 %r1, 0xffffffff", []insn{{Opcode: 0x24, Dst: 1, Imm: -1}}},
		{"div %r1, %r2", []insn{{Opcode: 0x3f, Dst: 1, Src: 2}}},
		{"or %r1, 0x80000000", []insn{{Opcode: 0x47, Dst: 1, Imm: -2147483648}}},
		{"and32 %r1, -2147483648", []insn{{Opcode: 0x54, Dst: 1, Imm: -2147483648}}},
		{"lsh %r1, 2147483647", []insn{{Opcode: 0x67, Dst: 1, Imm: 2147483647}}},
		{"rsh32 %r1, %r3", []insn{{Opcode: 0x7c, Dst: 1, Src: 3}}},
		{"mod %r1, 3", []insn{{Opcode: 0x97, Dst: 1, Imm: 3}}},
		{"xor32 %r1, 3", []insn{{Opcode: 0xa4, Dst: 1, Imm: 3}}},
		{"arsh %r1, 3", []insn{{Opcode: 0xc7, Dst: 1, Imm: 3}}},
		{"neg %r1", []insn{{Opcode: 0x87, Dst: 1}}},
		{"neg32 %r1", []insn{{Opcode: 0x84, Dst: 1}}},
		{"sdiv %r1, 3", []insn{{Opcode: 0x37, Dst: 1, Offset: 1, Imm: 3}}},
		{"sdiv32 %r1, %r2", []insn{{Opcode: 0x3c, Dst: 1, Src: 2, Offset: 1}}},
		{"smod %r1, %r2", []insn{{Opcode: 0x9f, Dst: 1, Src: 2, Offset: 1}}},
		{"smod32 %r1, 7", []insn{{Opcode: 0x94, Dst: 1, Offset: 1, Imm: 7}}},
		{"movsx832 %r1, %r2", []insn{{Opcode: 0xbc, Dst: 1, Src: 2, Offset: 8}}},
		{"movsx1632 %r1, %r2", []insn{{Opcode: 0xbc, Dst: 1, Src: 2, Offset: 16}}},
		{"movsx864 %r1, %r2", []insn{{Opcode: 0xbf, Dst: 1, Src: 2, Offset: 8}}},
		{"movsx1664 %r1, %r2", []insn{{Opcode: 0xbf, Dst: 1, Src: 2, Offset: 16}}},
		{"movsx3264 %r1, %r2", []insn{{Opcode: 0xbf, Dst: 1, Src: 2, Offset: 32}}},
		{"le16 %r3", []insn{{Opcode: 0xd4, Dst: 3, Imm: 16}}},
		{"le64 %r3", []insn{{Opcode: 0xd4, Dst: 3, Imm: 64}}},
		{"be32 %r3", []insn{{Opcode: 0xdc, Dst: 3, Imm: 32}}},
		{"swap16 %r3", []insn{{Opcode: 0xd7, Dst: 3, Imm: 16}}},
		{"bswap64 %r3", []insn{{Opcode: 0xd7, Dst: 3, Imm: 64}}},
		{"ldxb %r0, [%r1]", []insn{{Opcode: 0x71, Src: 1}}},
		{"ldxh %r0, [%r1+2]", []insn{{Opcode: 0x69, Src: 1, Offset: 2}}},
		{"ldxw %r0, [%r10-4]", []insn{{Opcode: 0x61, Src: 10, Offset: -4}}},
		{"ldxdw %r0, [%r1+0xffff]", []insn{{Opcode: 0x79, Src: 1, Offset: -1}}},
		{"ldxdw %r0, [%r1-32768]", []insn{{Opcode: 0x79, Src: 1, Offset: -32768}}},
		{"ldxsb %r0, [%r1+1]", []insn{{Opcode: 0x91, Src: 1, Offset: 1}}},
		{"ldxsh %r0, [%r1+1]", []insn{{Opcode: 0x89, Src: 1, Offset: 1}}},
		{"ldxsw %r0, [%r1+1]", []insn{{Opcode: 0x81, Src: 1, Offset: 1}}},
		{"stb [%r10-1], 5", []insn{{Opcode: 0x72, Dst: 10, Offset: -1, Imm: 5}}},
		{"sth [%r10-2], 5", []insn{{Opcode: 0x6a, Dst: 10, Offset: -2, Imm: 5}}},
		{"stw [%r10-4], 5", []insn{{Opcode: 0x62, Dst: 10, Offset: -4, Imm: 5}}},
		{"stdw [%r10-8], -1", []insn{{Opcode: 0x7a, Dst: 10, Offset: -8, Imm: -1}}},
		{"stxb [%r1+3], %r2", []insn{{Opcode: 0x73, Dst: 1, Src: 2, Offset: 3}}},
		{"stxh [%r1+3], %r2", []insn{{Opcode: 0x6b, Dst: 1, Src: 2, Offset: 3}}},
		{"stxw [%r1+3], %r2", []insn{{Opcode: 0x63, Dst: 1, Src: 2, Offset: 3}}},
		{"stxdw [%r1+3], %r2", []insn{{Opcode: 0x7b, Dst: 1, Src: 2, Offset: 3}}},
		{"lddw %r0, 0x1122334455667788", []insn{{Opcode: 0x18, Imm: 0x55667788}, {Imm: 0x11223344}}},
		{"lddw %r1, -1", []insn{{Opcode: 0x18, Dst: 1, Imm: -1}, {Imm: -1}}},
		{"lddw %r1, 18446744073709551615", []insn{{Opcode: 0x18, Dst: 1, Imm: -1}, {Imm: -1}}},
		{"ja +2", []insn{{Opcode: 0x05, Offset: 2}}},
		{"ja -1", []insn{{Opcode: 0x05, Offset: -1}}},
		{"ja32 +70000", []insn{{Opcode: 0x06, Imm: 70000}}},
		{"jeq %r1, 0, +1", []insn{{Opcode: 0x15, Dst: 1, Offset: 1}}},
		{"jeq %r1, %r2, +1", []insn{{Opcode: 0x1d, Dst: 1, Src: 2, Offset: 1}}},
		{"jgt %r1, 1, +1", []insn{{Opcode: 0x25, Dst: 1, Imm: 1, Offset: 1}}},
		{"jge %r1, 1, +1", []insn{{Opcode: 0x35, Dst: 1, Imm: 1, Offset: 1}}},
		{"jset %r1, 1, +1", []insn{{Opcode: 0x45, Dst: 1, Imm: 1, Offset: 1}}},
		{"jne %r1, 1, +1", []insn{{Opcode: 0x55, Dst: 1, Imm: 1, Offset: 1}}},
		{"jsgt %r1, 1, +1", []insn{{Opcode: 0x65, Dst: 1, Imm: 1, Offset: 1}}},
		{"jsge %r1, 1, +1", []insn{{Opcode: 0x75, Dst: 1, Imm: 1, Offset: 1}}},
		{"jlt %r1, 1, +1", []insn{{Opcode: 0xa5, Dst: 1, Imm: 1, Offset: 1}}},
		{"jle %r1, 1, +1", []insn{{Opcode: 0xb5, Dst: 1, Imm: 1, Offset: 1}}},
		{"jslt %r1, 1, +1", []insn{{Opcode: 0xc5, Dst: 1, Imm: 1, Offset: 1}}},
		{"jsle %r1, 1, +1", []insn{{Opcode: 0xd5, Dst: 1, Imm: 1, Offset: 1}}},
		{"jeq32 %r1, 1, +1", []insn{{Opcode: 0x16, Dst: 1, Imm: 1, Offset: 1}}},
		{"jsle32 %r1, %r2, -3", []insn{{Opcode: 0xde, Dst: 1, Src: 2, Offset: -3}}},
		{"call 5", []insn{{Opcode: 0x85, Imm: 5}}},
		{"call helper 5", []insn{{Opcode: 0x85, Imm: 5}}},
		{"call %r2", []insn{{Opcode: 0x8d, Dst: 2}}},
		{"call helper %r3", []insn{{Opcode: 0x8d, Dst: 3}}},
		{"call local +4", []insn{{Opcode: 0x85, Src: 1, Imm: 4}}},
		{"call runtime 77", []insn{{Opcode: 0x85, Src: 2, Imm: 77}}},
		{"exit", []insn{{Opcode: 0x95}}},
		{"lock add [%r10-8], %r1", []insn{{Opcode: 0xdb, Dst: 10, Src: 1, Offset: -8, Imm: 0x00}}},
		{"lock fetch add [%r10-8], %r1", []insn{{Opcode: 0xdb, Dst: 10, Src: 1, Offset: -8, Imm: 0x01}}},
		{"lock and32 [%r10-8], %r1", []insn{{Opcode: 0xc3, Dst: 10, Src: 1, Offset: -8, Imm: 0x50}}},
		{"lock fetch or32 [%r10-8], %r1", []insn{{Opcode: 0xc3, Dst: 10, Src: 1, Offset: -8, Imm: 0x41}}},
		{"lock xor [%r10], %r1", []insn{{Opcode: 0xdb, Dst: 10, Src: 1, Imm: 0xa0}}},
		{"lock xchg [%r10-8], %r1", []insn{{Opcode: 0xdb, Dst: 10, Src: 1, Offset: -8, Imm: 0xe1}}},
		{"lock xchg32 [%r10-8], %r1", []insn{{Opcode: 0xc3, Dst: 10, Src: 1, Offset: -8, Imm: 0xe1}}},
		{"lock cmpxchg [%r10-8], %r1", []insn{{Opcode: 0xdb, Dst: 10, Src: 1, Offset: -8, Imm: 0xf1}}},
		{"lock cmpxchg32 [%r10-8], %r1", []insn{{Opcode: 0xc3, Dst: 10, Src: 1, Offset: -8, Imm: 0xf1}}},
		{"ldabsw 12", []insn{{Opcode: 0x20, Imm: 12}}},
		{"ldindh %r3, 2", []insn{{Opcode: 0x48, Src: 3, Imm: 2}}},
		{".raw 0x0000000100010007", []insn{{Opcode: 0x07, Offset: 1, Imm: 1}}},
		// Forgiving forms.
		{"mov %r0,1", []insn{{Opcode: 0xb7, Imm: 1}}},
		{"mov r0, r1", []insn{{Opcode: 0xbf, Src: 1}}},
		{"\tmov\t%r0 ,  1  # comment", []insn{{Opcode: 0xb7, Imm: 1}}},
		{"ldxw %r0, [ %r1 + 4 ] ; comment", []insn{{Opcode: 0x61, Src: 1, Offset: 4}}},
		{"ldxw %r0, [\t%r1 -4\t]", []insn{{Opcode: 0x61, Src: 1, Offset: -4}}},
		{"exit // comment", []insn{{Opcode: 0x95}}},
		{"stw [%r1+0x10], 0x10", []insn{{Opcode: 0x62, Dst: 1, Offset: 16, Imm: 16}}},
		{"stw [%r1-0x10], 0", []insn{{Opcode: 0x62, Dst: 1, Offset: -16}}},
		{"mov %r11, %r15", []insn{{Opcode: 0xbf, Dst: 11, Src: 15}}},
	}
	for _, tt := range tests {
		got, err := asm.Assemble(tt.src)
		if err != nil {
			t.Errorf("Assemble(%q): %v", tt.src, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Assemble(%q) = %+v, want %+v", tt.src, got, tt.want)
		}
	}
}

func TestLabels(t *testing.T) {
	src := `
start:
	jeq %r1, 0, exit     # forward to the auto label
	lddw %r0, 1          # two slots
	ja done
back:
	mov %r0, 2
	exit
done: ja back
	call local func
	ja32 start
func: mov %r0, 3
	exit
`
	got, err := asm.Assemble(src)
	if err != nil {
		t.Fatal(err)
	}
	want := []insn{
		{Opcode: 0x15, Dst: 1, Offset: 4}, // 0 -> exit at 5
		{Opcode: 0x18, Imm: 1}, {},        // 1, 2
		{Opcode: 0x05, Offset: 2},      // 3 -> done at 6
		{Opcode: 0xb7, Imm: 2},         // 4 back
		{Opcode: 0x95},                 // 5 first exit
		{Opcode: 0x05, Offset: -3},     // 6 done -> 4
		{Opcode: 0x85, Src: 1, Imm: 1}, // 7 -> 9
		{Opcode: 0x06, Imm: -9},        // 8 -> 0
		{Opcode: 0xb7, Imm: 3},         // 9 func
		{Opcode: 0x95},                 // 10
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

func TestExplicitExitLabelWins(t *testing.T) {
	got, err := asm.Assemble("ja exit\nexit\nexit:\nexit")
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Offset != 1 {
		t.Errorf("ja exit went to offset %d, want 1 (the explicit label)", got[0].Offset)
	}
}

func TestAssembleErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"or %r0, %r50", `1:9: expected a register like %r1, got "%r50"`},
		{"mov %r0, 1\n\nor %r0, %r16", `3:9: expected a register like %r1, got "%r16"`},
		{"ldxq %r0, %r1", `1:1: unknown instruction "ldxq"`},
		{"ldxb %r0, %r1", `1:11: expected a memory operand like [%r1+8], got "%r1"`},
		{"ldxb %r0, [%r1+0x10000]", `1:16: number 0x10000 does not fit in 16 bits`},
		{"ldxb %r0, [%r1+32768]", `1:16: 32768 is out of range for a signed 16-bit field (-32768..32767)`},
		{"ldxb %r0, [%r1-32769]", `1:16: -32769 is out of range for a signed 16-bit field (-32768..32767)`},
		{"ldxb %r0, [%r1+4", `1:11: memory operand "[%r1+4" has no closing ']'`},
		{"lddw %r0", `1:1: lddw takes 2 operands (register, 64-bit immediate), got 1`},
		{"mov32 %r0, 2147483648", `1:12: 2147483648 is out of range for a signed 32-bit field (-2147483648..2147483647)`},
		{"mov32 %r0, -2147483649", `1:13: -2147483649 is out of range for a signed 32-bit field (-2147483648..2147483647)`},
		{"mov32 %r0, 0x100000000", `1:12: number 0x100000000 does not fit in 32 bits`},
		{"mov32 %r0, -0x1", `1:12: negative hex immediate "-0x1": write the raw pattern (0x...) or a negative decimal`},
		{"mov %r0, abc", `1:10: expected a register like %r1 or an immediate like 42, got "abc"`},
		{"mov %r0, 1, 2", `1:13: mov takes 2 operands (register, register or immediate), got 3`},
		{"ja NOT_A_LABEL\nexit", `1:4: undefined label "NOT_A_LABEL"`},
		{"ja 5", `1:4: expected a label or a relative target like +3 or -2, got "5"`},
		{"ja +32768", `1:5: 32768 is out of range for a signed 16-bit field (-32768..32767)`},
		{"lock or [%r10-8]", `1:1: invalid number of operands for lock: expected ` + "`lock [fetch] OP [%rd+off], %rs`" + `, got 2 operands after lock`},
		{"lock", `1:1: invalid number of operands for lock: expected ` + "`lock [fetch] OP [%rd+off], %rs`" + `, got 0 operands after lock`},
		{"lock sub [%r10-8], %r1", `1:6: unknown atomic operation "sub": expected add, and, or, xor, xchg or cmpxchg (with an optional 32 suffix)`},
		{"a:\na:", `2:1: label "a" is already defined on line 1`},
		{"1a:", `1:1: invalid label name "1a": use letters, digits, '_' and '.', not starting with a digit`},
		{"mov, %r0, 1", `1:4: unexpected ','`},
		{"mov %r0,, 1", `1:9: unexpected ','`},
		{"mov %r0, 1,", `1:12: expected an operand after ','`},
		{"call foo 1", `1:6: unknown call kind "foo": expected helper, local or runtime`},
		{"call", `1:1: call takes a helper id, a register, ` + "`helper N`, `local TARGET` or `runtime N`" + `; got 0 operands`},
		{"movsx3232 %r1, %r2", `1:1: unknown instruction "movsx3232" (movsx is movsx832, movsx1632, movsx864, movsx1664 or movsx3264)`},
		{"ldxsdw %r0, [%r1]", `1:1: unknown instruction "ldxsdw"`},
		{"add64 %r0, 1", `1:1: unknown instruction "add64": the 64-bit form has no suffix (add)`},
		{"jmp +1", `1:1: unknown instruction "jmp": the unconditional jump is ja`},
		{"exit 1", `1:6: exit takes 0 operands (none), got 1`},
		{"mov %r01, 1", `1:5: expected a register like %r1, got "%r01"`},
		{"ldxw %r0, [%r1 4]", `1:16: unexpected space in memory operand "[%r1 4]"`},
		{"ldxw %r0, [%r1+0 x4]", `1:18: unexpected space in memory operand "[%r1+0 x4]"`},
		{"ldxw %r0, [% r1]", `1:14: unexpected space in memory operand "[% r1]"`},
		{"lddw %r0, 0x10000000000000000", `1:11: number 0x10000000000000000 does not fit in 64 bits`},
	}
	for _, tt := range tests {
		_, err := asm.Assemble(tt.src)
		if err == nil {
			t.Errorf("Assemble(%q) succeeded, want error %q", tt.src, tt.want)
			continue
		}
		var ae *asm.Error
		if !errors.As(err, &ae) {
			t.Errorf("Assemble(%q) error %T is not *asm.Error", tt.src, err)
		}
		if err.Error() != tt.want {
			t.Errorf("Assemble(%q)\n error %s\n want  %s", tt.src, err, tt.want)
		}
	}
	_, err := asm.AssembleFile("prog.s", "mov %r0, %r99")
	if want := `prog.s:1:10: expected a register like %r1, got "%r99"`; err == nil || err.Error() != want {
		t.Errorf("AssembleFile error = %v, want %s", err, want)
	}
}

// TestDisassembleRoundTrip assembles every suite program, disassembles it
// and re-assembles the text: the instructions must be identical.
func TestDisassembleRoundTrip(t *testing.T) {
	dir, ok := conformance.LocateSuite()
	if !ok {
		t.Skip("conformance suite not found: no shared/conformance folder above the package directory and BPFVM_CONFORMANCE unset")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "tests", "*.data"))
	if len(files) != 313 {
		t.Errorf("found %d suite files, want 313", len(files))
	}
	for _, f := range files {
		test, err := conformance.ParseFile(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for _, prog := range []string{"asm", "raw"} {
			var insns []isa.Instruction
			if prog == "asm" {
				insns, err = asm.Assemble(test.Asm)
			} else if insns = test.Raw; len(insns) == 0 {
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			text := asm.Disassemble(insns)
			again, err := asm.Assemble(text)
			if err != nil {
				t.Errorf("%s (%s): re-assembling the disassembly: %v\n%s", f, prog, err, text)
				continue
			}
			if !reflect.DeepEqual(again, insns) {
				t.Errorf("%s (%s): round trip differs\n%s", f, prog, text)
			}
		}
	}
}

func TestDisassembleText(t *testing.T) {
	src := "mov %r0, 0\njeq %r1, 0x100, +2\nlddw %r2, 0x1122334455667788\nja -5\nlock fetch add32 [%r10-8], %r1\nldxw %r0, [%r1+4]\ncall local -8\nexit\n.raw 0x0000000100010007\n"
	insns, err := asm.Assemble(src)
	if err != nil {
		t.Fatal(err)
	}
	want := `L0:
mov %r0, 0
jeq %r1, 0x100, L4
lddw %r2, 0x1122334455667788
L4:
ja L0
lock fetch add32 [%r10-8], %r1
ldxw %r0, [%r1+4]
call local L0
exit
.raw 0x0000000100010007
`
	if got := asm.Disassemble(insns); got != want {
		t.Errorf("Disassemble:\n%s\nwant:\n%s", got, want)
	}
	// Targets outside the program or inside an lddw stay relative.
	insns = []insn{{Opcode: 0x05, Offset: 1}, {Opcode: 0x18}, {}, {Opcode: 0x05, Offset: 100}}
	if got, want := asm.Disassemble(insns), "ja +1\nlddw %r0, 0\nja +100\n"; got != want {
		t.Errorf("Disassemble:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(asm.Disassemble([]insn{{Opcode: 0x18, Src: 1, Imm: 3}, {}}), ".raw 0x0000000300001018") {
		t.Errorf("a map-fd lddw should be written as .raw")
	}
}
