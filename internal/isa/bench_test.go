package isa

import "testing"

// benchProgram is a loop with a branch, a helper call and stack traffic.
var benchProgram = []Instruction{
	{Opcode: 0xb7, Dst: 0}, {Opcode: 0xb7, Dst: 6, Imm: 2},
	{Opcode: 0x35, Dst: 6, Imm: 1000, Offset: 9},
	{Opcode: 0xbf, Dst: 8, Src: 6}, {Opcode: 0x2f, Dst: 8, Src: 6},
	{Opcode: 0x25, Dst: 8, Imm: 50, Offset: 2},
	{Opcode: 0x85, Imm: 7}, {Opcode: 0x7b, Dst: 10, Src: 0, Offset: -8},
	{Opcode: 0x79, Dst: 2, Src: 10, Offset: -8}, {Opcode: 0x07, Dst: 6, Imm: 1},
	{Opcode: 0x0f, Dst: 0, Src: 6}, {Opcode: 0x05, Offset: -10},
	{Opcode: 0x95},
}

func BenchmarkCheckInitialized(b *testing.B) {
	for b.Loop() {
		if err := CheckInitialized(benchProgram, 1<<R1|1<<R10); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFormatProgram(b *testing.B) {
	for b.Loop() {
		_ = FormatProgram(benchProgram)
	}
}
