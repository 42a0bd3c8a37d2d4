package loader

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpfvm/bpfvm/internal/helpers"
	"github.com/bpfvm/bpfvm/internal/isa"
)

type fakeMaps struct {
	data []byte
}

func (f *fakeMaps) MapHandle(name string) (uint64, bool) {
	if name == "m" {
		return 0xbff0_0000_0000_0010, true
	}
	return 0, false
}

func (f *fakeMaps) MapValue(name string) ([]byte, bool) {
	if name == ".data" {
		return f.data, true
	}
	return nil, false
}

func TestLink(t *testing.T) {
	fm := &fakeMaps{data: make([]byte, 16)}
	insns := asm.Instructions{
		asm.LoadMapPtr(asm.R1, 0).WithReference("m"),
		asm.LoadMapValue(asm.R2, 0, 8).WithReference(".data"),
		asm.Instruction{OpCode: asm.LoadImmOp(asm.DWord), Dst: asm.R3, Src: asm.PseudoFunc, Constant: -1}.WithReference("cb"),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
		asm.Mov.Imm(asm.R0, 1).WithSymbol("cb"),
		asm.Return(),
	}
	l, err := Link(&ebpf.ProgramSpec{Name: "p", Instructions: insns}, fm, func(string) bool { return false }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Insns) != 10 {
		t.Fatalf("%d slots, want 10", len(l.Insns))
	}
	if v := isa.Imm64(l.Insns, 0); v != 0xbff0_0000_0000_0010 || l.Insns[0].Src != 0 {
		t.Errorf("map pointer load: %#x src %d", v, l.Insns[0].Src)
	}
	if v := isa.Imm64(l.Insns, 2); v != addrOf(fm.data)+8 || l.Insns[2].Src != 0 {
		t.Errorf("direct value load: %#x, want %#x", v, addrOf(fm.data)+8)
	}
	if v := isa.Imm64(l.Insns, 4); v != helpers.FuncPointer(8) {
		t.Errorf("function pointer: %#x, want %#x", v, helpers.FuncPointer(8))
	}
	if len(l.Direct) != 1 || l.Direct[0].Map != ".data" || !l.Direct[0].Writable {
		t.Errorf("direct regions %+v", l.Direct)
	}
	if err := isa.Validate(l.Insns); err != nil {
		t.Errorf("linked program does not validate: %v", err)
	}
	// The verifier's copy: the same slots, maps by index, functions as
	// BPF_PSEUDO_FUNC.
	if len(l.Verify) != len(l.Insns) || len(l.VerifyMaps) != 2 || l.VerifyMaps[0] != "m" || l.VerifyMaps[1] != ".data" {
		t.Fatalf("verifier copy: %d slots, maps %q", len(l.Verify), l.VerifyMaps)
	}
	if v := l.Verify[0]; v.Src != isa.PseudoMapIdx || isa.Imm64(l.Verify, 0) != 0 {
		t.Errorf("verifier map load: src %d imm %#x", v.Src, isa.Imm64(l.Verify, 0))
	}
	if v := l.Verify[2]; v.Src != isa.PseudoMapIdxValue || l.Verify[2].Imm != 1 || l.Verify[3].Imm != 8 {
		t.Errorf("verifier value load: src %d map %d off %d", v.Src, l.Verify[2].Imm, l.Verify[3].Imm)
	}
	if v := l.Verify[4]; v.Src != isa.PseudoFunc || v.Imm != 3 {
		t.Errorf("verifier function pointer: src %d imm %d", v.Src, v.Imm)
	}
	for i := 6; i < len(l.Insns); i++ {
		if l.Verify[i] != l.Insns[i] {
			t.Errorf("slot %d differs: %v vs %v", i, l.Verify[i], l.Insns[i])
		}
	}

	bad := asm.Instructions{asm.LoadMapPtr(asm.R1, 0).WithReference("nope"), asm.Return()}
	if _, err := Link(&ebpf.ProgramSpec{Instructions: bad}, fm, func(string) bool { return false }, Options{}); err == nil {
		t.Error("unknown map accepted")
	}
	kfunc := asm.Instructions{asm.Instruction{OpCode: asm.OpCode(asm.JumpClass).SetJumpOp(asm.Call), Src: asm.PseudoKfuncCall}.WithReference("bpf_foo"), asm.Return()}
	if _, err := Link(&ebpf.ProgramSpec{Instructions: kfunc}, fm, func(string) bool { return false }, Options{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("kfunc call: %v", err)
	}
	big := asm.Instructions{asm.LoadMapValue(asm.R2, 0, 100).WithReference(".data"), asm.Return()}
	if _, err := Link(&ebpf.ProgramSpec{Instructions: big}, fm, func(string) bool { return false }, Options{}); err == nil {
		t.Error("offset beyond the value accepted")
	}
}
