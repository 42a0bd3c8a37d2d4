package cbpf

import (
	"reflect"
	"strings"
	"testing"
)

// issueExample is the program from the bpfvm issue, `ip and tcp and dst
// port 80` in bpf_asm syntax.
const issueExample = `
	ldh [12]
	jeq #0x800, L1, L5
L1:	ldb [23]
	jeq #6, L2, L5
L2:	ldh [20]
	jset #0x1fff, L5, L3
L3:	ldx 4*([14]&0xf)
	ldh [x+16]
	jeq #80, L4, L5
L4:	ret #262144
L5:	ret #0
`

// httpProgram is `tcpdump -dd 'ip and tcp and dst port 80'`.
var httpProgram = []Instruction{
	{0x28, 0, 0, 0x0000000c},
	{0x15, 0, 8, 0x00000800},
	{0x30, 0, 0, 0x00000017},
	{0x15, 0, 6, 0x00000006},
	{0x28, 0, 0, 0x00000014},
	{0x45, 4, 0, 0x00001fff},
	{0xb1, 0, 0, 0x0000000e},
	{0x48, 0, 0, 0x00000010},
	{0x15, 0, 1, 0x00000050},
	{0x6, 0, 0, 0x00040000},
	{0x6, 0, 0, 0x00000000},
}

func TestAssembleIssueExample(t *testing.T) {
	prog, err := Assemble(issueExample)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(prog, httpProgram) {
		t.Fatalf("Assemble = \n%s\nwant\n%s", FormatC(prog), FormatC(httpProgram))
	}
	if err := Check(prog); err != nil {
		t.Fatal(err)
	}
}

func TestAssembleForms(t *testing.T) {
	for src, want := range map[string][]Instruction{
		"ld #len\nldx len\nld #pktlen\nret a":                     {{Op: OpLDLen}, {Op: OpLDXLen}, {Op: OpLDLen}, {Op: OpRetA}},
		"ld #proto\nldh #type\nldb ifidx\nret #0":                 {{Op: 0x20, K: adOff}, {Op: 0x28, K: adOff + 4}, {Op: 0x30, K: adOff + 8}, {Op: OpRetK}},
		"ld #vlan_avail\nld vlan_pr\nld #rand\nld #poff\nret x":   {{Op: 0x20, K: adOff + 48}, {Op: 0x20, K: adOff + 48}, {Op: 0x20, K: adOff + 56}, {Op: 0x20, K: adOff + 52}, {Op: OpRetX}},
		"LD M[3]\nst m[15]\nstx M[0]\nldx M[1]\nRET %A":           {{Op: OpLDMem, K: 3}, {Op: OpST, K: 15}, {Op: OpSTX}, {Op: OpLDXMem, K: 1}, {Op: OpRetA}},
		"ldi #-1\nldxi 0x10\nld [x + -4]\nldb [%x+0]\nret #0b101": {{Op: OpLDImm, K: 0xffffffff}, {Op: OpLDXImm, K: 16}, {Op: 0x40, K: 0xfffffffc}, {Op: 0x50}, {Op: OpRetK, K: 5}},
		"add #1\nsub x\nmul %x\ndiv #010\nmod #3\nand #0xff\nor x\nxor #1\nlsh #2\nrsh x\nneg\ntax\ntxa\nret a": {
			{Op: 0x04, K: 1}, {Op: 0x1c}, {Op: 0x2c}, {Op: 0x34, K: 8}, {Op: 0x94, K: 3}, {Op: 0x54, K: 0xff},
			{Op: 0x4c}, {Op: 0xa4, K: 1}, {Op: 0x64, K: 2}, {Op: 0x7c}, {Op: OpNeg}, {Op: OpTAX}, {Op: OpTXA}, {Op: OpRetA}},
		"jeq #1, a1\njneq x, a1\njlt #2, a1\njle #3, a1\na1: ja end\njset x, end, end\nend: ret #1": {
			{Op: 0x15, Jt: 3, K: 1}, {Op: 0x1d, Jf: 2}, {Op: 0x35, Jf: 1, K: 2}, {Op: 0x25, Jf: 0, K: 3},
			{Op: OpJA, K: 1}, {Op: 0x4d}, {Op: OpRetK, K: 1}},
		"/* block\ncomment */ ret #1 ; trailing\n# hash comment line\n": {{Op: OpRetK, K: 1}},
		"ldxb 4*([14]&0xf) ret a": {{Op: OpLDXMSH, K: 14}, {Op: OpRetA}},
	} {
		got, err := Assemble(src)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Assemble(%q) = %v, %v\nwant %v", src, got, err, want)
		}
	}
}

func TestAssembleErrors(t *testing.T) {
	for src, want := range map[string]string{
		"":                        "no instructions",
		"ret":                     `1:4: expected "#", found end of input`,
		"ldh [12]\n  bogus #1":    `2:3: unknown instruction "bogus"`,
		"jeq #1, nowhere\nret #0": `1:9: undefined label "nowhere"`,
		"l: ret #0\njeq #1, l":    `2:9: label "l" is not after the jump`,
		"l: ret #0\nl: ret #1":    `2:1: label "l" defined twice`,
		"ret #0x100000000":        "1:6: bad number",
		"ret #-2147483649":        "does not fit in 32 bits",
		"ldx 3*([14]&0xf)":        "1:5: only 4*([k]&0xf) exists",
		"ld [x 4]":                `1:7: expected "+"`,
		"ret #1 $":                "1:8: unexpected character",
		"/* open":                 "unterminated",
		"end:":                    "not followed by an instruction",
		"ret: ret #0":             "instruction name",
		"ld M 3]":                 `1:6: expected "["`,
		"st [3]":                  "expected M[k]",
		"ldh #len":                "unexpected",
	} {
		_, err := Assemble(src)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Assemble(%q) error = %v, want %q", src, err, want)
		}
	}
	// Jumps beyond 255 instructions cannot be encoded.
	src := "jeq #1, far\n" + strings.Repeat("ld #1\n", 256) + "far: ret #0\n"
	if _, err := Assemble(src); err == nil || !strings.Contains(err.Error(), "at most 255") {
		t.Errorf("long jump: %v", err)
	}
}

func TestDisassemble(t *testing.T) {
	src, err := Disassemble(httpProgram)
	if err != nil {
		t.Fatal(err)
	}
	want := "\tldh [12]\n\tjeq #0x800, L2, L10\nL2:\tldb [23]\n\tjeq #0x6, L4, L10\nL4:\tldh [20]\n\tjset #0x1fff, L10\n" +
		"L6:\tldxb 4*([14]&0xf)\n\tldh [x + 16]\n\tjeq #0x50, L9, L10\nL9:\tret #262144\nL10:\tret #0\n"
	if src != want {
		t.Errorf("Disassemble =\n%s\nwant\n%s", src, want)
	}
	// Every encodable instruction round-trips, including those Linux
	// refuses (ret x) and odd offsets (negative, ancillary, xor_x).
	var prog []Instruction
	for op := 0; op < 256; op++ {
		for _, k := range []uint32{0, 1, 0x80000000, 0xffffffff, adOff, adOff + 40, adOff + 48, 0xfff00000} {
			prog = append(prog, Instruction{Op: uint16(op), K: k})
		}
	}
	var ok []Instruction
	for n, ins := range prog {
		if _, err := asmText(ins, n, func(int) string { return "L" }); err == nil && ins.Op != OpJA && !ins.IsJump() {
			ok = append(ok, ins)
		}
	}
	ok = append(ok, Instruction{Op: OpRetK})
	src, err = Disassemble(ok)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Assemble(src)
	if err != nil {
		t.Fatal(err)
	}
	// k is meaningless (and dropped) for instructions without an operand.
	for n := range ok {
		if op, operand := ok[n].mnemonic(n); operand == "" || operand == "x" || operand == "#pktlen" || op == "unimp" {
			ok[n].K = 0
		}
	}
	if len(ok) < 150 || !reflect.DeepEqual(back, ok) {
		t.Errorf("round trip of %d instructions differs", len(ok))
		for n := range ok {
			if n < len(back) && back[n] != ok[n] {
				t.Errorf("%d: %v -> %v", n, ok[n], back[n])
			}
		}
	}
	if _, err := Disassemble([]Instruction{{Op: 0x18}}); err == nil {
		t.Error("Disassemble accepted an opcode bpf_asm cannot express")
	}
	if _, err := Disassemble([]Instruction{{Op: OpJA, K: 5}}); err == nil {
		t.Error("Disassemble accepted a jump out of the program")
	}
}
