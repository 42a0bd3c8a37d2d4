package asm_test

import (
	"testing"

	"github.com/bpfvm/bpfvm/asm"
)

const benchSource = `
    mov %r0, 0
    mov %r6, 2
outer:
    jge %r6, 1000, done
    mov %r7, 2
inner:
    mov %r8, %r7
    mul %r8, %r7
    jgt %r8, %r6, prime
    mov %r9, %r6
    mod %r9, %r7
    jeq %r9, 0, next
    add %r7, 1
    ja inner
prime:
    add %r0, 1
next:
    lddw %r1, 0x1122334455667788
    lock fetch add [%r10-8], %r1
    ldxdw %r2, [%r10-8]
    add %r6, 1
    ja outer
done:
    exit
`

func BenchmarkAssemble(b *testing.B) {
	b.SetBytes(int64(len(benchSource)))
	for b.Loop() {
		if _, err := asm.Assemble(benchSource); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDisassemble(b *testing.B) {
	insns, err := asm.Assemble(benchSource)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		_ = asm.Disassemble(insns)
	}
}
