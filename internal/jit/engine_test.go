package jit

import (
	"errors"
	"runtime"
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit/amd64"
)

func TestLoadEngines(t *testing.T) {
	insns := []isa.Instruction{
		{Opcode: isa.ClassALU64 | isa.OpMOV, Dst: 0, Imm: 7},
		{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcX, Dst: 0, Src: 2},
		{Opcode: isa.OpcodeExit},
	}
	for _, k := range []Kind{Interpreter, JIT} {
		p, fallback, err := Load(k, insns, Options{})
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		want := k
		if Available() != nil {
			want = Interpreter
			if k == JIT && !errors.Is(fallback, amd64.ErrUnavailable) {
				t.Errorf("JIT unavailable on %s/%s but no fallback message: %v", runtime.GOOS, runtime.GOARCH, fallback)
			}
		} else if fallback != nil {
			t.Errorf("%s: unexpected fallback %v", k, fallback)
		}
		if p.Engine() != want {
			t.Errorf("%s: runs on %s, want %s", k, p.Engine(), want)
		}
		vm := p.NewVM()
		r0, err := vm.Run(make([]byte, 5))
		if err != nil || r0 != 12 || vm.Executed() != 3 {
			t.Errorf("%s: r0 %d, err %v, executed %d", k, r0, err, vm.Executed())
		}
		if err := p.Close(); err != nil {
			t.Error(err)
		}
		if r0, err := RunOnce(k, nil)(insns, nil); err != nil || r0 != 7 {
			t.Errorf("%s RunOnce: %d, %v", k, r0, err)
		}
	}
	if _, _, err := Load("llvm", insns, Options{}); err == nil {
		t.Error("unknown engine accepted")
	}
	if _, err := ParseKind("jit"); err != nil {
		t.Error(err)
	}
	if _, err := ParseKind("x"); err == nil {
		t.Error("ParseKind accepted x")
	}
	if _, _, err := Load(JIT, nil, Options{}); !errors.Is(err, isa.ErrInvalidProgram) {
		t.Errorf("invalid program: %v", err)
	}
}
