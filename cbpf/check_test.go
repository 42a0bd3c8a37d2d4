package cbpf

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	ret0 := Stmt(OpRetK, 0)
	long := make([]Instruction, MaxInstructions+1)
	for i := range long {
		long[i] = ret0
	}
	for _, c := range []struct {
		name string
		prog []Instruction
		want string // "" = valid
	}{
		{"http", httpProgram, ""},
		{"empty", nil, "no instructions"},
		{"too long", long, "more than the limit"},
		{"max length", long[:MaxInstructions], ""},
		{"no ret at end", []Instruction{Stmt(OpLDImm, 1)}, "instruction 0 (ld #0x1): the last instruction is not a return"},
		{"ret x", []Instruction{Stmt(OpRetX, 0)}, "unknown opcode 0xe"},
		{"ld #k with size bits", []Instruction{Stmt(0x08, 1), ret0}, "unknown opcode 0x8"},
		{"wide opcode", []Instruction{Stmt(0x106, 1), ret0}, "unknown opcode 0x106"},
		{"div #0", []Instruction{Stmt(ClassALU|AluDIV, 0), ret0}, "division by the constant 0"},
		{"mod #0", []Instruction{Stmt(ClassALU|AluMOD, 0), ret0}, "division by the constant 0"},
		{"div x", []Instruction{Stmt(ClassALU|AluDIV|SrcX, 0), ret0}, ""},
		{"lsh #32", []Instruction{Stmt(ClassALU|AluLSH, 32), ret0}, "shift by 32"},
		{"rsh #31", []Instruction{Stmt(ClassALU|AluRSH, 31), ret0}, ""},
		{"M[16]", []Instruction{Stmt(OpST, 16), ret0}, "scratch memory index 16"},
		{"ja past end", []Instruction{Stmt(OpJA, 1), ret0}, "jump target 2 is past"},
		{"ja huge", []Instruction{Stmt(OpJA, 0xffffffff), ret0}, "past the last"},
		{"ja to last", []Instruction{Stmt(OpJA, 0), ret0}, ""},
		{"jt past end", []Instruction{Jump(ClassJMP|JmpJEQ, 0, 1, 0), ret0}, "jump target 2 or 1"},
		{"jf past end", []Instruction{Jump(ClassJMP|JmpJGT|SrcX, 0, 0, 5), ret0}, "past the last"},
		{"ancillary ok", []Instruction{Stmt(ClassLD|ModeABS|SizeB, adOff+AncillaryVLANTPID), ret0}, ""},
		{"ancillary unknown", []Instruction{Stmt(ClassLD|ModeABS|SizeW, adOff+64), ret0}, "unknown ancillary load offset SKF_AD_OFF+64"},
		{"ancillary misaligned", []Instruction{Stmt(ClassLD|ModeABS|SizeH, adOff+2), ret0}, "SKF_AD_OFF+2"},
		{"net offset", []Instruction{Stmt(ClassLD|ModeABS|SizeW, uint32(NetOffset&0xffffffff)), ret0}, ""},
		{"ind in ancillary area", []Instruction{Stmt(ClassLD|ModeIND|SizeW, adOff+64), ret0}, ""},
		{"read before write", []Instruction{Stmt(OpLDMem, 3), ret0}, "M[3] may be read before it is written"},
		{"write then read", []Instruction{Stmt(OpSTX, 3), Stmt(OpLDXMem, 3), ret0}, ""},
		{"written on one path only", []Instruction{
			Jump(ClassJMP|JmpJEQ, 0, 0, 1), Stmt(OpST, 2), Stmt(OpLDMem, 2), ret0}, "instruction 2 (ld M[2])"},
		{"written on both paths", []Instruction{
			Jump(ClassJMP|JmpJEQ, 0, 0, 2), Stmt(OpST, 2), Stmt(OpJA, 1), Stmt(OpSTX, 2), Stmt(OpLDMem, 2), ret0}, ""},
		{"ja skips the write", []Instruction{
			Stmt(OpJA, 1), Stmt(OpST, 1), Stmt(OpLDMem, 1), ret0}, "M[1] may be read"},
		{"after ret, only jumpers count", []Instruction{
			Jump(ClassJMP|JmpJEQ, 0, 2, 0), Stmt(OpST, 0), ret0, Stmt(OpLDMem, 0), ret0}, "instruction 3"},
	} {
		err := Check(c.prog)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: Check = %v, want nil", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: Check = %v, want %q", c.name, err, c.want)
		case err != nil && !errors.Is(err, ErrInvalidProgram):
			t.Errorf("%s: error %v does not wrap ErrInvalidProgram", c.name, err)
		}
	}
}

func TestInstructionString(t *testing.T) {
	for ins, want := range map[Instruction]string{
		httpProgram[1]:                 "jeq #0x800 jt +0 jf +8",
		Stmt(OpJA, 3):                  "ja +3",
		Stmt(OpLDXMSH, 14):             "ldxb 4*([14]&0xf)",
		Stmt(0x20, adOff):              "ld [proto]",
		Stmt(OpRetA, 0):                "ret",
		Stmt(ClassLD|ModeIND|SizeH, 2): "ldh [x + 2]",
	} {
		if got := ins.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", ins, got, want)
		}
	}
}
