package isa

import (
	"errors"
	"testing"
	"time"
)

func TestCheckInitialized(t *testing.T) {
	const entry = RegMask(1<<R1 | 1<<R2 | 1<<R10)
	mov := func(dst uint8, imm int32) Instruction { return Instruction{Opcode: 0xb7, Dst: dst, Imm: imm} }
	movr := func(dst, src uint8) Instruction { return Instruction{Opcode: 0xbf, Dst: dst, Src: src} }
	exit := Instruction{Opcode: 0x95}
	tests := []struct {
		name  string
		prog  []Instruction
		index int // -1: accepted
		reg   string
	}{
		{"r0 never written", []Instruction{{Opcode: 0x4f, Src: 10}, exit}, 0, "r0"},
		{"exit reads r0", []Instruction{exit}, 0, "r0"},
		{"mov then exit", []Instruction{mov(0, 1), exit}, -1, ""},
		{"mov from unset r3", []Instruction{movr(0, 3), exit}, 0, "r3"},
		{"entry registers", []Instruction{movr(0, 1), {Opcode: 0x0f, Src: 2}, {Opcode: 0x0f, Src: 10}, exit}, -1, ""},
		{"add to unset dst", []Instruction{mov(0, 0), {Opcode: 0x07, Dst: 4, Imm: 1}, exit}, 1, "r4"},
		{"one path leaves r0 unset", []Instruction{
			{Opcode: 0x15, Dst: 1, Offset: 1}, // if r1 == 0 goto +1
			mov(0, 1),
			exit,
		}, 2, "r0"},
		{"both paths set r0", []Instruction{
			{Opcode: 0x15, Dst: 1, Offset: 2},
			mov(0, 1),
			{Opcode: 0x05, Offset: 1},
			mov(0, 2),
			exit,
		}, -1, ""},
		{"helper call clobbers r1", []Instruction{
			{Opcode: 0x85, Imm: 5},
			movr(0, 1),
			exit,
		}, 1, "r1"},
		{"helper call sets r0", []Instruction{{Opcode: 0x85, Imm: 5}, exit}, -1, ""},
		{"callx reads dst", []Instruction{{Opcode: 0x8d, Dst: 3}, exit}, 0, "r3"},
		{"local call preserves r6, clobbers r2", []Instruction{
			mov(6, 1),
			{Opcode: 0x85, Src: CallLocal, Imm: 3},
			{Opcode: 0x0f, Src: 6}, // r0 += r6
			movr(0, 2),             // r2 clobbered by the call
			exit,
			movr(0, 5), // callee: r1-r5 set on entry
			exit,
		}, 3, "r2"},
		{"callee cannot read an argument its caller did not write", []Instruction{
			mov(1, 1),
			{Opcode: 0x85, Src: CallLocal, Imm: 2},
			exit,
			exit,
			{Opcode: 0xbf, Dst: 0, Src: 1}, // r1 was written by the caller
			{Opcode: 0x0f, Dst: 0, Src: 3}, // r3 was not
			exit,
		}, 5, "r3"},
		{"callee arguments are those every caller wrote", []Instruction{
			mov(0, 0), mov(3, 1),
			{Opcode: 0x85, Src: CallLocal, Imm: 3}, // writes r3
			{Opcode: 0x85, Src: CallLocal, Imm: 2}, // r3 clobbered by the first call
			exit,
			exit,
			{Opcode: 0xbf, Dst: 0, Src: 3},
			exit,
		}, 6, "r3"},
		{"a callee may return nothing if the caller ignores r0", []Instruction{
			{Opcode: 0x85, Src: CallLocal, Imm: 2},
			mov(0, 0),
			exit,
			exit, // void callee
		}, -1, ""},
		{"r0 after a callee that returns nothing", []Instruction{
			{Opcode: 0x85, Src: CallLocal, Imm: 1},
			exit, // reads r0: the callee did not write it
			exit,
		}, 1, "r0"},
		{"r0 after a callee that writes it on one path only", []Instruction{
			{Opcode: 0x85, Src: CallLocal, Imm: 1},
			exit,
			{Opcode: 0x15, Dst: 1, Offset: 1},
			mov(0, 1),
			exit,
		}, 1, "r0"},
		{"void-ness propagates through nested calls", []Instruction{
			{Opcode: 0x85, Src: CallLocal, Imm: 1}, // f
			exit,
			{Opcode: 0x85, Src: CallLocal, Imm: 1}, // f: calls g, returns its r0
			exit,
			mov(2, 0), // g: returns nothing
			exit,
		}, 1, "r0"},
		{"a callback must return a value", []Instruction{
			{Opcode: 0x18, Dst: 2, Src: PseudoFunc, Imm: 3}, {},
			mov(0, 0),
			exit,
			exit,
		}, 4, "r0"},
		{"callee cannot read r6", []Instruction{
			{Opcode: 0x85, Src: CallLocal, Imm: 1},
			exit,
			movr(0, 6),
			exit,
		}, 2, "r6"},
		{"callback via lddw function pointer", []Instruction{
			{Opcode: 0x18, Dst: 3, Src: PseudoFunc, Imm: 3}, {},
			mov(0, 0),
			exit,
			movr(0, 4), // callback: r4 counts as set
			exit,
		}, -1, ""},
		{"loop keeps r0 set", []Instruction{
			mov(0, 0),
			{Opcode: 0x07, Imm: 1},              // r0 += 1
			{Opcode: 0xa5, Imm: 10, Offset: -2}, // if r0 < 10 goto -2
			exit,
		}, -1, ""},
		{"unreachable code is not checked", []Instruction{mov(0, 0), exit, movr(0, 9), exit}, -1, ""},
		{"store reads dst", []Instruction{{Opcode: 0x62, Dst: 3, Imm: 1}, mov(0, 0), exit}, 0, "r3"},
		{"stx reads src", []Instruction{{Opcode: 0x7b, Dst: 10, Src: 3, Offset: -8}, mov(0, 0), exit}, 0, "r3"},
		{"ldx writes dst", []Instruction{{Opcode: 0x79, Src: 1}, exit}, -1, ""},
		{"atomic fetch writes src", []Instruction{
			mov(3, 1),
			{Opcode: 0xdb, Dst: 10, Src: 3, Offset: -8, Imm: 0x01},
			movr(0, 3),
			exit,
		}, -1, ""},
		{"cmpxchg reads r0", []Instruction{mov(3, 1), {Opcode: 0xdb, Dst: 10, Src: 3, Offset: -8, Imm: 0xf1}, exit}, 1, "r0"},
		{"ld_abs clobbers r1", []Instruction{{Opcode: 0x30, Imm: 0}, movr(0, 1), exit}, 1, "r1"},
		{"ld_ind reads src", []Instruction{{Opcode: 0x50, Src: 4}, exit}, 0, "r4"},
		{"load-acquire writes dst", []Instruction{{Opcode: 0xdb, Dst: 0, Src: 1, Imm: 0x100}, exit}, -1, ""},
		{"lddw writes dst", []Instruction{{Opcode: 0x18, Imm: 1}, {}, exit}, -1, ""},
		{"jump compares read both", []Instruction{mov(0, 0), {Opcode: 0x1d, Dst: 1, Src: 7}, exit}, 1, "r7"},
	}
	for _, tt := range tests {
		err := CheckInitialized(tt.prog, entry)
		if tt.index < 0 {
			if err != nil {
				t.Errorf("%s: unexpected error %v", tt.name, err)
			}
			continue
		}
		var ie *InstructionError
		if !errors.As(err, &ie) {
			t.Errorf("%s: error %v, want an *InstructionError at %d", tt.name, err, tt.index)
			continue
		}
		if ie.Index != tt.index || ie.Reason != tt.reg+" is read before it is written" {
			t.Errorf("%s: error at %d %q, want at %d about %s", tt.name, ie.Index, ie.Reason, tt.index, tt.reg)
		}
		if !errors.Is(err, ErrUninitialized) || !errors.Is(err, ErrInvalidProgram) {
			t.Errorf("%s: error does not wrap ErrUninitialized and ErrInvalidProgram", tt.name)
		}
	}
}

func TestCheckInitializedInvalidProgramsDoNotPanic(t *testing.T) {
	progs := [][]Instruction{
		nil,
		{{Opcode: 0x05, Offset: 100}},
		{{Opcode: 0x05, Offset: -100}},
		{{Opcode: 0x18}},
		{{Opcode: 0x85, Src: CallLocal, Imm: -5}},
		{{Opcode: 0x18, Src: PseudoFunc, Imm: 1000}, {}},
		{{Opcode: 0xb7, Dst: 15, Src: 15}, {Opcode: 0x95}},
	}
	for _, p := range progs {
		_ = CheckInitialized(p, 0xffff)
		_ = CheckInitialized(p, 0)
	}
}

func TestRegMaskString(t *testing.T) {
	if got := (RegMask(1<<R1 | 1<<R2 | 1<<R10)).String(); got != "r1|r2|r10" {
		t.Errorf("String = %q", got)
	}
	if got := RegMask(0).String(); got != "none" {
		t.Errorf("String = %q", got)
	}
}

// TestCheckInitializedLargeCallChain: 256 functions of ~3,900 slots, each
// calling the next and the last returning nothing, a million slots in all.
// Return summaries are computed once per function; re-running the whole
// analysis per function took 20 s here.
func TestCheckInitializedLargeCallChain(t *testing.T) {
	if testing.Short() {
		t.Skip("a million-instruction program")
	}
	const funcs, size = 256, 3900
	p := []Instruction{{Opcode: 0x85, Src: CallLocal, Imm: 2}, {Opcode: 0xb7}, {Opcode: 0x95}}
	for k := 0; k < funcs; k++ {
		for j := 0; j < size; j++ {
			p = append(p, Instruction{Opcode: 0xb7, Dst: 3, Imm: int32(j)})
		}
		if k < funcs-1 {
			p = append(p, Instruction{Opcode: 0x85, Src: CallLocal, Imm: 1})
		}
		p = append(p, Instruction{Opcode: 0x95})
	}
	start := time.Now()
	if err := CheckInitialized(p, 1<<R1|1<<R10); err != nil {
		t.Fatal(err)
	}
	// The main function reads r0 after the chain: refused.
	p[1] = Instruction{Opcode: 0xb7, Dst: 2, Imm: 5}
	var ie *InstructionError
	if err := CheckInitialized(p, 1<<R1|1<<R10); !errors.As(err, &ie) || ie.Index != 2 {
		t.Errorf("error %v, want r0 unwritten at the main exit (2)", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestCheckInitializedRecursion(t *testing.T) {
	// f calls itself: the kernel refuses recursion; here it must just end.
	p := []Instruction{
		{Opcode: 0x85, Src: CallLocal, Imm: 1},
		{Opcode: 0x95},
		{Opcode: 0x85, Src: CallLocal, Imm: -1},
		{Opcode: 0x95},
	}
	err := CheckInitialized(p, 1<<R1|1<<R10)
	var ie *InstructionError
	if !errors.As(err, &ie) || ie.Index != 1 {
		t.Errorf("error %v: a recursive function counts as returning nothing", err)
	}
}
