package isa

import "fmt"

// String formats the instruction. TEMPORARY: replaced by the kernel-style
// formatter (format.go is owned by the assembler work).
func (i Instruction) String() string {
	return fmt.Sprintf("%#02x dst=r%d src=r%d off=%d imm=%d", i.Opcode, i.Dst, i.Src, i.Offset, i.Imm)
}
