package progtype

import (
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// FuzzRewrite feeds arbitrary bytecode to the context-access analysis and
// rewriter: no panic, and a rewrite keeps the instruction count.
func FuzzRewrite(f *testing.F) {
	seed := []isa.Instruction{
		{Opcode: 0xbf, Dst: 6, Src: 1},
		{Opcode: 0x61, Dst: 2, Src: 6, Offset: 76},
		{Opcode: 0x7b, Dst: 10, Src: 1, Offset: -8},
		{Opcode: 0x79, Dst: 3, Src: 10, Offset: -8},
		{Opcode: 0x61, Dst: 4, Src: 3, Offset: 80},
		{Opcode: 0x85, Src: 1, Imm: 1},
		{Opcode: 0x95},
		{Opcode: 0x61, Dst: 0, Src: 1, Offset: 4},
		{Opcode: 0x95},
	}
	f.Add(isa.Encode(seed), uint8(SchedCLS))
	f.Add(isa.Encode(seed), uint8(XDP))
	f.Fuzz(func(t *testing.T, code []byte, typ uint8) {
		insns, err := isa.Decode(code)
		if err != nil || isa.Validate(insns) != nil {
			return
		}
		out, err := Rewrite(Type(typ%40), insns)
		if err == nil && len(out) != len(insns) {
			t.Fatalf("rewrite changed the length: %d -> %d", len(insns), len(out))
		}
	})
}

// FuzzPrepare builds test-run contexts from arbitrary packets and context
// structs: errors are fine, panics are not, and outputs fit the buffers.
func FuzzPrepare(f *testing.F) {
	f.Add(uint8(XDP), make([]byte, 64), make([]byte, 24))
	f.Add(uint8(SchedCLS), make([]byte, 60), make([]byte, 192))
	f.Add(uint8(SocketFilter), make([]byte, 14), []byte(nil))
	f.Fuzz(func(t *testing.T, typ uint8, data, ctx []byte) {
		r := NewRun()
		for i := 0; i < 2; i++ { // twice: reuse must work
			if err := r.Prepare(Type(typ%40), Request{Data: data, Context: ctx, WantContextOut: true}); err != nil {
				return
			}
			res := r.Finish()
			if r.Packet != nil && len(res.DataOut) > len(r.Packet.Buf) {
				t.Fatal("data out larger than the buffer")
			}
		}
	})
}
