//go:build linux && amd64

package amd64_test

import (
	"bytes"
	"testing"

	"github.com/bpfvm/bpfvm/internal/interp"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit/amd64"
)

// TestRunWithPacketBuffers: RunWithPacket's fast path (the regions
// already describe the buffers) answers as the interpreter does while
// the caller changes buffers between runs: the same ones, another packet
// of the same length, a shorter one, the packet being mem, none.
func TestRunWithPacketBuffers(t *testing.T) {
	insns := []isa.Instruction{
		{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: 6, Src: 1},             // r6 = r1
		{Opcode: isa.ClassLD | isa.ModeABS | isa.SizeB, Imm: 3},                     // r0 = packet[3]
		{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeB, Dst: 2, Src: 6},            // r2 = mem[0]
		{Opcode: isa.ClassALU64 | isa.OpLSH | isa.SrcK, Dst: 2, Imm: 8},             // r2 <<= 8
		{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcX, Dst: 0, Src: 2},             // r0 += r2
		{Opcode: isa.ClassSTX | isa.ModeMEM | isa.SizeB, Dst: 6, Src: 0, Offset: 1}, // mem[1] = r0
		{Opcode: isa.OpcodeExit},
	}
	jp, err := amd64.Load(insns, amd64.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer jp.Close()
	ip, err := interp.Load(insns, interp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	jvm, ivm := jp.NewVM(), ip.NewVM()
	memJ, memI := []byte{5, 0, 0, 0}, []byte{5, 0, 0, 0}
	pktA, pktB := []byte{1, 2, 3, 4, 5}, []byte{9, 9, 9, 7, 9}
	for i, c := range []struct {
		name string
		pkt  func(mem []byte) []byte
	}{
		{"first", func([]byte) []byte { return pktA }},
		{"same", func([]byte) []byte { return pktA }},
		{"same again", func([]byte) []byte { return pktA }},
		{"other packet", func([]byte) []byte { return pktB }},
		{"shorter", func([]byte) []byte { return pktA[:3] }}, // packet[3] is outside: the run ends with 0
		{"back", func([]byte) []byte { return pktA }},
		{"packet is mem", func(mem []byte) []byte { return mem }},
		{"no packet", func([]byte) []byte { return nil }},
		{"back again", func([]byte) []byte { return pktB }},
		{"same once more", func([]byte) []byte { return pktB }},
	} {
		gotJ, errJ := jvm.RunWithPacket(memJ, c.pkt(memJ))
		gotI, errI := ivm.RunWithPacket(memI, c.pkt(memI))
		if gotJ != gotI || (errJ == nil) != (errI == nil) || errJ != nil && errJ.Error() != errI.Error() || jvm.Executed() != ivm.Executed() || !bytes.Equal(memJ, memI) {
			t.Fatalf("run %d (%s): jit %d, %v (%d executed, mem %v); interp %d, %v (%d executed, mem %v)", i, c.name, gotJ, errJ, jvm.Executed(), memJ, gotI, errI, ivm.Executed(), memI)
		}
	}
}
