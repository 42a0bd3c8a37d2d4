package bpfvm

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
)

func TestCallsHelpers(t *testing.T) {
	exit := isa.Instruction{Opcode: isa.OpcodeExit}
	mov := isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: 0, Imm: 1}
	// An lddw whose second slot looks like a helper call: not a call.
	lddw := isa.LDDW(0, 0)
	lddw[1] = isa.Instruction{Opcode: isa.OpcodeCall, Imm: 1}
	for _, c := range []struct {
		name  string
		insns []isa.Instruction
		want  bool
	}{
		{"none", []isa.Instruction{mov, exit}, false},
		{"helper", []isa.Instruction{{Opcode: isa.OpcodeCall, Imm: 1}, exit}, true},
		{"kfunc", []isa.Instruction{{Opcode: isa.OpcodeCall, Src: 2, Imm: 1}, exit}, true},
		{"callx", []isa.Instruction{{Opcode: isa.OpcodeCallX}, exit}, true},
		{"local", []isa.Instruction{{Opcode: isa.OpcodeCall, Src: isa.CallLocal, Imm: 1}, exit, mov, exit}, false},
		{"lddw slot", append(lddw[:], exit), false},
	} {
		if got := callsHelpers(c.insns); got != c.want {
			t.Errorf("%s: callsHelpers = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestRepeatPlain checks the repeat loop of programs that call no helper
// on both engines: the result of the last repetition, and run-time errors
// with the right instruction index.
func TestRepeatPlain(t *testing.T) {
	for _, e := range []Engine{Interpreter, JIT} {
		rt := NewRuntime(WithoutVerifier(), WithEngine(e))
		load := func(insns asm.Instructions) *Program {
			t.Helper()
			coll, err := rt.LoadCollection(&ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
				"p": {Name: "p", Type: ebpf.XDP, Instructions: insns, License: "GPL"},
			}, Maps: map[string]*ebpf.MapSpec{}})
			if err != nil {
				t.Fatalf("%s: %v", e, err)
			}
			p := coll.Programs["p"]
			if !p.plain {
				t.Fatalf("%s: program without calls not plain", e)
			}
			return p
		}
		// r0 = data_end - data: the packet's length, each repetition.
		p := load(asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
			asm.LoadMem(asm.R0, asm.R1, 4, asm.Word),
			asm.Sub.Reg(asm.R0, asm.R2),
			asm.Return(),
		})
		for _, repeat := range []uint32{0, 1, 7} {
			opts := &RunOptions{Data: udpPkt, Repeat: repeat}
			ret, err := p.Run(opts)
			if err != nil || ret != uint32(len(udpPkt)) {
				t.Errorf("%s repeat %d: Run = %d, %v; want %d", e, repeat, ret, err, len(udpPkt))
			}
			if opts.Redirect != nil {
				t.Errorf("%s: Redirect set without a redirect", e)
			}
		}
		// A read at address 0 fails at instruction 1 (not 0 or 2).
		p = load(asm.Instructions{
			asm.Mov.Imm(asm.R1, 0),
			asm.LoadMem(asm.R0, asm.R1, 0, asm.Byte),
			asm.Return(),
		})
		_, err := p.Run(&RunOptions{Data: udpPkt, Repeat: 5})
		var ie *isa.InstructionError
		if !errors.As(err, &ie) || ie.Index != 1 || !errors.Is(err, engine.ErrOutOfBounds) {
			t.Errorf("%s: Run error = %v, want out of bounds at instruction 1", e, err)
		}
	}
}
