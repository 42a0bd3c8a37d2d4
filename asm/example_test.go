package asm_test

import (
	"fmt"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/isa"
)

func ExampleAssemble() {
	insns, err := asm.Assemble(`
		ldxw %r0, [%r1+4]   # r1 = input memory
		jne %r0, 0, exit    # the first exit is the label "exit"
		mov %r0, 42
		exit`)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(isa.FormatProgram(insns))
	_, err = asm.Assemble("mov %r0, 1\nor %r0, %r50\n")
	fmt.Println(err)
	// Output:
	//    0: r0 = *(u32 *)(r1 + 4)
	//    1: if r0 != 0x0 goto +1
	//    2: r0 = 42
	//    3: exit
	// 2:9: expected a register like %r1, got "%r50"
}

func ExampleDisassemble() {
	insns := []isa.Instruction{
		{Opcode: 0xb7, Imm: 10},            // mov %r0, 10
		{Opcode: 0x17, Imm: 1},             // sub %r0, 1
		{Opcode: 0x55, Imm: 0, Offset: -2}, // jne %r0, 0, -2
		{Opcode: 0x95},                     // exit
	}
	fmt.Print(asm.Disassemble(insns))
	// Output:
	// mov %r0, 10
	// L1:
	// sub %r0, 1
	// jne %r0, 0, L1
	// exit
}
