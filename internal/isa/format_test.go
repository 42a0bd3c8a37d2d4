package isa

import "testing"

func TestString(t *testing.T) {
	tests := []struct {
		i    Instruction
		want string
	}{
		{Instruction{Opcode: 0xb7, Imm: 1}, "r0 = 1"},
		{Instruction{Opcode: 0xb4, Dst: 2, Imm: -1}, "w2 = -1"},
		{Instruction{Opcode: 0x0c, Src: 1}, "w0 += w1"},
		{Instruction{Opcode: 0x0f, Dst: 3, Src: 4}, "r3 += r4"},
		{Instruction{Opcode: 0x17, Dst: 1, Imm: 8}, "r1 -= 8"},
		{Instruction{Opcode: 0x2f, Dst: 1, Src: 2}, "r1 *= r2"},
		{Instruction{Opcode: 0x3f, Dst: 1, Src: 2}, "r1 /= r2"},
		{Instruction{Opcode: 0x3f, Dst: 1, Src: 2, Offset: 1}, "r1 s/= r2"},
		{Instruction{Opcode: 0x94, Dst: 1, Offset: 1, Imm: 3}, "w1 s%= 3"},
		{Instruction{Opcode: 0x97, Dst: 1, Imm: 3}, "r1 %= 3"},
		{Instruction{Opcode: 0x47, Dst: 1, Imm: 3}, "r1 |= 3"},
		{Instruction{Opcode: 0x57, Dst: 1, Imm: 3}, "r1 &= 3"},
		{Instruction{Opcode: 0x67, Dst: 1, Imm: 32}, "r1 <<= 32"},
		{Instruction{Opcode: 0x77, Dst: 1, Imm: 32}, "r1 >>= 32"},
		{Instruction{Opcode: 0xc7, Dst: 1, Imm: 32}, "r1 s>>= 32"},
		{Instruction{Opcode: 0xa7, Dst: 1, Imm: 3}, "r1 ^= 3"},
		{Instruction{Opcode: 0x87, Dst: 1}, "r1 = -r1"},
		{Instruction{Opcode: 0x84, Dst: 1}, "w1 = -w1"},
		{Instruction{Opcode: 0xbf, Dst: 1, Src: 2, Offset: 8}, "r1 = (s8)r2"},
		{Instruction{Opcode: 0xbf, Dst: 1, Src: 2, Offset: 32}, "r1 = (s32)r2"},
		{Instruction{Opcode: 0xbc, Dst: 1, Src: 2, Offset: 16}, "w1 = (s16)w2"},
		{Instruction{Opcode: 0xd4, Dst: 1, Imm: 16}, "r1 = le16 r1"},
		{Instruction{Opcode: 0xdc, Dst: 1, Imm: 32}, "r1 = be32 r1"},
		{Instruction{Opcode: 0xd7, Dst: 1, Imm: 64}, "r1 = bswap64 r1"},
		{Instruction{Opcode: 0x61, Src: 1, Offset: 4}, "r0 = *(u32 *)(r1 + 4)"},
		{Instruction{Opcode: 0x79, Dst: 2, Src: 10, Offset: -8}, "r2 = *(u64 *)(r10 - 8)"},
		{Instruction{Opcode: 0x71, Src: 1}, "r0 = *(u8 *)(r1 + 0)"},
		{Instruction{Opcode: 0x69, Src: 1, Offset: 2}, "r0 = *(u16 *)(r1 + 2)"},
		{Instruction{Opcode: 0x91, Src: 1, Offset: 2}, "r0 = *(s8 *)(r1 + 2)"},
		{Instruction{Opcode: 0x81, Src: 1, Offset: 2}, "r0 = *(s32 *)(r1 + 2)"},
		{Instruction{Opcode: 0x62, Dst: 10, Offset: -4, Imm: 7}, "*(u32 *)(r10 - 4) = 7"},
		{Instruction{Opcode: 0x7b, Dst: 10, Src: 1, Offset: -8}, "*(u64 *)(r10 - 8) = r1"},
		{Instruction{Opcode: 0x73, Dst: 1, Src: 2, Offset: 3}, "*(u8 *)(r1 + 3) = r2"},
		{Instruction{Opcode: 0xdb, Dst: 10, Src: 1, Offset: -8, Imm: 0x00}, "lock *(u64 *)(r10 - 8) += r1"},
		{Instruction{Opcode: 0xc3, Dst: 10, Src: 1, Offset: -8, Imm: 0x50}, "lock *(u32 *)(r10 - 8) &= r1"},
		{Instruction{Opcode: 0xdb, Dst: 10, Src: 0, Offset: -8, Imm: 0x01}, "r0 = atomic_fetch_add((u64 *)(r10 - 8), r0)"},
		{Instruction{Opcode: 0xc3, Dst: 10, Src: 2, Offset: -8, Imm: 0xa1}, "w2 = atomic_fetch_xor((u32 *)(r10 - 8), w2)"},
		{Instruction{Opcode: 0xdb, Dst: 10, Src: 2, Offset: -8, Imm: 0xe1}, "r2 = atomic_xchg((u64 *)(r10 - 8), r2)"},
		{Instruction{Opcode: 0xdb, Dst: 10, Src: 2, Offset: -8, Imm: 0xf1}, "r0 = atomic_cmpxchg((u64 *)(r10 - 8), r0, r2)"},
		{Instruction{Opcode: 0xc3, Dst: 10, Src: 2, Offset: -8, Imm: 0xf1}, "w0 = atomic_cmpxchg((u32 *)(r10 - 8), w0, w2)"},
		{Instruction{Opcode: 0xdb, Dst: 10, Src: 2, Imm: 0x10}, "invalid atomic operation 0x10 on *(u64 *)(r10 + 0) with r2"},
		{Instruction{Opcode: 0x18, Dst: 1, Imm: 0x55667788}, "r1 = 0x55667788 ll (low half)"},
		{Instruction{Opcode: 0x20, Imm: 12}, "r0 = *(u32 *)skb[12]"},
		{Instruction{Opcode: 0x48, Src: 3, Imm: 2}, "r0 = *(u16 *)skb[r3 + 2]"},
		{Instruction{Opcode: 0x05, Offset: 3}, "goto +3"},
		{Instruction{Opcode: 0x05, Offset: -1}, "goto -1"},
		{Instruction{Opcode: 0x06, Imm: 70000}, "gotol +70000"},
		{Instruction{Opcode: 0x25, Dst: 1, Imm: 5, Offset: 3}, "if r1 > 0x5 goto +3"},
		{Instruction{Opcode: 0x15, Dst: 1, Imm: -1, Offset: 3}, "if r1 == -0x1 goto +3"},
		{Instruction{Opcode: 0x1d, Dst: 1, Src: 2, Offset: -2}, "if r1 == r2 goto -2"},
		{Instruction{Opcode: 0x6e, Dst: 1, Src: 2, Offset: 1}, "if w1 s> w2 goto +1"},
		{Instruction{Opcode: 0xd6, Dst: 1, Imm: 0x10, Offset: 1}, "if w1 s<= 0x10 goto +1"},
		{Instruction{Opcode: 0x45, Dst: 1, Imm: 1, Offset: 1}, "if r1 & 0x1 goto +1"},
		{Instruction{Opcode: 0x55, Dst: 1, Imm: 1, Offset: 1}, "if r1 != 0x1 goto +1"},
		{Instruction{Opcode: 0xa5, Dst: 1, Imm: 1, Offset: 1}, "if r1 < 0x1 goto +1"},
		{Instruction{Opcode: 0x85, Imm: 5}, "call 5"},
		{Instruction{Opcode: 0x85, Src: 1, Imm: 3}, "call pc+3"},
		{Instruction{Opcode: 0x85, Src: 2, Imm: 99}, "call kfunc#99"},
		{Instruction{Opcode: 0x8d, Dst: 2}, "callx r2"},
		{Instruction{Opcode: 0x95}, "exit"},
		{Instruction{Opcode: 0xe5, Offset: -1}, "may_goto -1"},
		{Instruction{Opcode: 0x0d, Dst: 3}, "gotox r3"},
		{Instruction{Opcode: 0xdb, Dst: 0, Src: 2, Offset: 8, Imm: 0x100}, "r0 = load_acquire((u64 *)(r2 + 8))"},
		{Instruction{Opcode: 0xd3, Dst: 10, Src: 2, Offset: -1, Imm: 0x110}, "store_release((u8 *)(r10 - 1), r2)"},
		{Instruction{Opcode: 0xbf, Dst: 1, Src: 2, Offset: 1, Imm: 1 << 16}, "r1 = addr_space_cast(r2, 1, 0)"},
		{Instruction{Opcode: 0xff, Dst: 1, Src: 2, Offset: 3, Imm: 4}, "invalid opcode 0xff (dst=r1 src=r2 off=3 imm=4)"},
		{Instruction{Opcode: 0x00}, "invalid opcode 0x00 (dst=r0 src=r0 off=0 imm=0)"},
	}
	for _, tt := range tests {
		if got := tt.i.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.i, got, tt.want)
		}
	}
}

func TestFormatProgram(t *testing.T) {
	prog := []Instruction{
		{Opcode: 0x18, Dst: 1, Imm: 0x55667788}, {Imm: 0x11223344},
		{Opcode: 0x18, Dst: 2, Src: PseudoMapFD, Imm: 4}, {},
		{Opcode: 0x18, Dst: 3, Src: PseudoMapValue, Imm: 4}, {Imm: 16},
		{Opcode: 0x18, Dst: 4, Src: PseudoFunc, Imm: -3}, {},
		{Opcode: 0x18, Dst: 5, Src: PseudoMapIdx, Imm: 1}, {},
		{Opcode: 0x18, Dst: 6, Src: PseudoBTFID, Imm: 77}, {},
		{Opcode: 0x61, Src: 1, Offset: 4},
		{Opcode: 0x95},
		{Opcode: 0x18, Imm: 1}, // truncated lddw: shown as its first slot
	}
	want := `   0: r1 = 0x1122334455667788 ll
   2: r2 = map[fd:4] ll
   4: r3 = map[fd:4][0]+16 ll
   6: r4 = func pc-3 ll
   8: r5 = map[idx:1] ll
  10: r6 = btf_id[77] ll
  12: r0 = *(u32 *)(r1 + 4)
  13: exit
  14: r0 = 0x1 ll (low half)
`
	if got := FormatProgram(prog); got != want {
		t.Errorf("FormatProgram:\n%s\nwant:\n%s", got, want)
	}
}

func TestInstructionErrorUsesFormatter(t *testing.T) {
	err := Validate([]Instruction{{Opcode: 0x07, Offset: 1, Imm: 1}, {Opcode: 0x95}})
	if err == nil || err.Error() != "instruction 0 (r0 += 1): unused offset field is 1, must be 0" {
		t.Errorf("Validate error = %v", err)
	}
}
