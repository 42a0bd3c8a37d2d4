package interp

import (
	"math/rand"
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/kerneltest"
)

// TestLegacyPacketLoadsKernel compares the legacy packet loads (LD_ABS,
// LD_IND) with the kernel's, on random programs run as SCHED_CLS (whose skb
// starts at the first byte of the packet, as RunWithPacket's packet does):
// big-endian values, offsets inside, across and past the end of the packet,
// negative offsets, SKF_LL_OFF, 32-bit truncation of LD_IND's register
// plus immediate, and "out of bounds returns 0 from the program". The
// kernel returns r0 as 32 bits, so the low halves are compared.
func TestLegacyPacketLoadsKernel(t *testing.T) {
	kerneltest.Require(t)
	n := 300
	if testing.Short() {
		n = 50
	}
	for seed := int64(1); seed <= int64(n); seed++ {
		rng := rand.New(rand.NewSource(seed))
		pkt := make([]byte, 14+rng.Intn(60))
		rng.Read(pkt)
		insns := genLegacyProgram(rng, len(pkt))
		want, _, _, err := kerneltest.RunSchedCLS(insns, pkt, 1)
		if err != nil {
			t.Fatalf("seed %d: kernel: %v\n%s", seed, err, isa.FormatProgram(insns))
		}
		p, err := Load(insns, Options{})
		if err != nil {
			t.Fatalf("seed %d: Load: %v", seed, err)
		}
		got, err := p.NewVM().RunWithPacket(nil, pkt)
		if err != nil {
			t.Fatalf("seed %d: run: %v", seed, err)
		}
		if uint32(got) != want {
			t.Fatalf("seed %d: r0 = %#x, kernel %#x\npacket % x\n%s", seed, got, want, pkt, isa.FormatProgram(insns))
		}
	}
}

// genLegacyProgram makes a program of a few legacy packet loads whose
// results it folds into r7 (which the loads do not clobber) and returns.
func genLegacyProgram(rng *rand.Rand, pktLen int) []isa.Instruction {
	mov := func(dst uint8, imm int32) isa.Instruction {
		return isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV, Dst: dst, Imm: imm}
	}
	insns := []isa.Instruction{
		{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: isa.R6, Src: isa.R1}, // the kernel wants the skb in r6
		mov(isa.R7, 0),
	}
	sizes := []uint8{isa.SizeB, isa.SizeH, isa.SizeW}
	for i, loads := 0, 1+rng.Intn(8); i < loads; i++ {
		size := sizes[rng.Intn(3)]
		// Mostly inside the packet, sometimes just outside either end, and
		// sometimes through the link-layer base.
		off := rng.Intn(pktLen+6) - 3
		if rng.Intn(6) == 0 {
			off += skfLLOff
		}
		if rng.Intn(2) == 0 {
			insns = append(insns, isa.Instruction{Opcode: isa.ClassLD | isa.ModeABS | size, Imm: int32(off)})
		} else {
			idx := rng.Intn(pktLen+6) - 3
			if rng.Intn(4) == 0 {
				// Only the low 32 bits of register + immediate count.
				l := isa.LDDW(isa.R8, uint64(1+rng.Intn(3))<<32|uint64(uint32(idx)))
				insns = append(insns, l[0], l[1])
			} else {
				insns = append(insns, mov(isa.R8, int32(idx)))
			}
			insns = append(insns, isa.Instruction{Opcode: isa.ClassLD | isa.ModeIND | size, Src: isa.R8, Imm: int32(off - idx)})
		}
		insns = append(insns,
			isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMUL, Dst: isa.R7, Imm: 31},
			isa.Instruction{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcX, Dst: isa.R7, Src: isa.R0},
		)
	}
	return append(insns,
		isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: isa.R0, Src: isa.R7},
		isa.Instruction{Opcode: isa.OpcodeExit},
	)
}
