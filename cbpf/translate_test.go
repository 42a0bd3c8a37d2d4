package cbpf

import (
	"math/rand/v2"
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// TestTranslateInitialized: every translated program reads only registers
// it has written (r1 and r10 are set on entry), although Translate drops
// the parts of the prologue it finds unnecessary; TestEnginesAgree checks
// the verdicts.
func TestTranslateInitialized(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	opts := genOptions{ancillary: allAncillary, negative: true, maxOff: 80}
	trimmed := 0
	for i := 0; i < 3000; i++ {
		prog := randomProgram(r, 2+r.IntN(40), opts)
		insns, err := Translate(prog)
		if err != nil {
			t.Fatal(err)
		}
		if err := isa.Validate(insns); err != nil {
			t.Fatalf("%v\n%s", err, FormatListing(prog))
		}
		if err := isa.CheckInitialized(insns, isa.Reg(isa.R1)|isa.Reg(isa.R10)); err != nil {
			t.Fatalf("%v\n%s\n%s", err, FormatListing(prog), isa.FormatProgram(insns))
		}
		if len(insns) < 3 || insns[0] != alu32K(isa.OpMOV, regA, 0) || insns[1] != alu32K(isa.OpMOV, regX, 0) || insns[2] != mov64X(regCtx, isa.R1) {
			trimmed++
		}
	}
	if trimmed == 0 {
		t.Error("no program needed less than the full prologue")
	}
}

// TestTranslateHTTP pins the translation of `ip and tcp and dst port 80`:
// no prologue (A is loaded first, X set before use, no context read) and
// no save of A around ldxb 4*([14]&0xf) (A is reloaded right after).
func TestTranslateHTTP(t *testing.T) {
	insns, err := Translate(httpProgram)
	if err != nil {
		t.Fatal(err)
	}
	want := []isa.Instruction{
		ins(isa.ClassLD|isa.ModeABS|isa.SizeH, 0, 0, 0, 12),
		ins(isa.ClassJMP32|isa.OpJNE|isa.SrcK, 0, 0, 12, 0x800),
		ins(isa.ClassLD|isa.ModeABS|isa.SizeB, 0, 0, 0, 23),
		ins(isa.ClassJMP32|isa.OpJNE|isa.SrcK, 0, 0, 10, 6),
		ins(isa.ClassLD|isa.ModeABS|isa.SizeH, 0, 0, 0, 20),
		ins(isa.ClassJMP32|isa.OpJSET|isa.SrcK, 0, 0, 8, 0x1fff),
		ins(isa.ClassLD|isa.ModeABS|isa.SizeB, 0, 0, 0, 14),
		alu32K(isa.OpAND, regA, 0xf),
		alu32K(isa.OpLSH, regA, 2),
		alu32X(isa.OpMOV, regX, regA),
		ins(isa.ClassLD|isa.ModeIND|isa.SizeH, 0, regX, 0, 16),
		ins(isa.ClassJMP32|isa.OpJNE|isa.SrcK, 0, 0, 2, 80),
		alu32K(isa.OpMOV, regA, 262144),
		exit(),
		alu32K(isa.OpMOV, regA, 0),
		exit(),
	}
	if len(insns) != len(want) {
		t.Fatalf("%d instructions, want %d:\n%s", len(insns), len(want), isa.FormatProgram(insns))
	}
	for i := range want {
		if insns[i] != want[i] {
			t.Errorf("instruction %d = %v, want %v", i, insns[i], want[i])
		}
	}
}

// TestLiveA checks the liveness that decides whether ldxb 4*([k]&0xf)
// saves A.
func TestLiveA(t *testing.T) {
	for _, c := range []struct {
		prog []Instruction
		want bool // A live after the msh at 0
	}{
		{[]Instruction{Stmt(OpLDXMSH, 14), Stmt(OpRetA, 0)}, true},
		{[]Instruction{Stmt(OpLDXMSH, 14), Stmt(OpRetK, 0)}, false},
		{[]Instruction{Stmt(OpLDXMSH, 14), Stmt(ClassLD|ModeIND|SizeH, 2), Stmt(OpRetA, 0)}, false},
		{[]Instruction{Stmt(OpLDXMSH, 14), Stmt(OpTAX, 0), Stmt(OpRetK, 0)}, true},
		{[]Instruction{Stmt(OpLDXMSH, 14), Stmt(OpTXA, 0), Stmt(OpRetA, 0)}, false},
		{[]Instruction{Stmt(OpLDXMSH, 14), Jump(ClassJMP|JmpJEQ|SrcK, 1, 0, 1), Stmt(OpRetK, 0), Stmt(OpRetK, 1)}, true},
		{[]Instruction{Stmt(OpLDXMSH, 14), Stmt(OpJA, 1), Stmt(OpRetA, 0), Stmt(OpRetK, 1)}, false},
		{[]Instruction{Stmt(OpLDXMSH, 14), Stmt(OpJA, 0), Stmt(ClassALU|AluADD|SrcK, 1), Stmt(OpRetK, 1)}, true},
		{[]Instruction{Stmt(OpLDXMSH, 14), Stmt(OpST, 0), Stmt(OpRetK, 1)}, true},
		{[]Instruction{Stmt(OpLDXMSH, 14), Stmt(OpLDXImm, 0), Stmt(OpLDImm, 0), Stmt(OpRetA, 1)}, false},
		{[]Instruction{Stmt(OpLDXMSH, 14), Stmt(ClassLD|ModeABS|SizeW, adOff+AncillaryAlu_XOR_X), Stmt(OpRetA, 0)}, true},
		{[]Instruction{Stmt(OpLDXMSH, 14), Stmt(ClassLD|ModeABS|SizeW, adOff+AncillaryRandom), Stmt(OpRetA, 0)}, false},
	} {
		if got := liveA(c.prog)[1]; got != c.want {
			t.Errorf("%s: A live after the msh = %v, want %v", FormatListing(c.prog), got, c.want)
		}
	}
}
