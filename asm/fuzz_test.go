package asm_test

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/conformance"
	"github.com/bpfvm/bpfvm/internal/isa"
)

var fuzzSeeds = []string{
	"mov %r0, 1\nexit",
	"lddw %r1, 0x1122334455667788\njeq %r1, 0, exit\nexit",
	"l: ja l",
	"lock fetch add32 [%r10-8], %r1\ncall local +1\nexit\nexit",
	"ldxw %r0, [ %r1 + 0xffff ]\nstb [%r10-1], -1\nmovsx3264 %r1, %r2\nbswap16 %r1",
	"call %r2\ncall runtime 3\nja32 -1\n.raw 0x95\nldindw %r1, 3",
	"jsle32 %r1, %r2, +0\nmov %r0,,1",
	"a:\nb: sdiv %r1, 0x80000000 # x\nsmod32 %r1, -2147483648 ; y",
}

// addSuiteSeeds adds the asm of some suite programs to the corpus.
func addSuiteSeeds(f *testing.F) {
	dir, ok := conformance.LocateSuite()
	if !ok {
		return
	}
	files, _ := filepath.Glob(filepath.Join(dir, "tests", "*.data"))
	for n, file := range files {
		if n%10 != 0 {
			continue
		}
		if t, err := conformance.ParseFile(file); err == nil {
			f.Add(t.Asm)
		}
	}
}

// FuzzAssemble: Assemble never panics, and whatever it accepts survives
// Disassemble and re-assembly unchanged.
func FuzzAssemble(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	addSuiteSeeds(f)
	f.Fuzz(func(t *testing.T, src string) {
		insns, err := asm.Assemble(src)
		if err != nil {
			if _, ok := err.(*asm.Error); !ok {
				t.Fatalf("error %T is not *asm.Error: %v", err, err)
			}
			return
		}
		text := asm.Disassemble(insns)
		again, err := asm.Assemble(text)
		if err != nil {
			t.Fatalf("re-assembling %q: %v\nfrom source %q", text, err, src)
		}
		if !reflect.DeepEqual(again, insns) {
			t.Fatalf("round trip differs:\n%+v\n%+v\ntext:\n%s", insns, again, text)
		}
	})
}

// FuzzDisassemble: any bytecode disassembles to text that assembles back
// to exactly the same instructions.
func FuzzDisassemble(f *testing.F) {
	f.Add(isa.Encode([]isa.Instruction{{Opcode: 0xb7, Imm: 1}, {Opcode: 0x95}}))
	f.Add(isa.Encode([]isa.Instruction{{Opcode: 0x18, Imm: 1}, {Imm: 2}, {Opcode: 0x05, Offset: -3}}))
	f.Add(isa.Encode([]isa.Instruction{{Opcode: 0x18, Src: 1}, {Dst: 1}, {Opcode: 0x15, Offset: -2}}))
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\xff\x85\x10\x00\x00\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, code []byte) {
		if len(code) > 1024 {
			// Large inputs add nothing but make minimisation crawl.
			return
		}
		insns, err := isa.Decode(code[:len(code)/8*8])
		if err != nil {
			t.Fatal(err)
		}
		text := asm.Disassemble(insns)
		again, err := asm.Assemble(text)
		if err != nil {
			t.Fatalf("assembling the disassembly: %v\n%s", err, text)
		}
		if !reflect.DeepEqual(again, insns) {
			t.Fatalf("round trip differs:\n%+v\n%+v\ntext:\n%s", insns, again, text)
		}
	})
}
