//go:build linux && amd64

package amd64_test

import (
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/internal/conformance"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/jit/amd64"
)

// pairProgram returns a random program dense in the instruction pairs the
// compiler fuses (a register copy then an add or sub of a constant to the
// copy, and shifts of it, which stay apart; a stack store then a load of
// the same slot), with jumps
// into the middle of some pairs (which then must not fuse) and calls of
// helper 4, which runs the program from an instruction given in r1: the
// second instruction of a pair, or any other, in a callback region at the
// start of the program. That region uses only r1-r5 (defined at a
// callback's entry in both engines: the others differ, and need not agree)
// and stores what it computes into the memory r1 points to.
func pairProgram(seed uint64) []isa.Instruction {
	r := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	var insns []isa.Instruction
	emit := func(in isa.Instruction) { insns = append(insns, in) }
	sizes := []uint8{isa.SizeB, isa.SizeH, isa.SizeW, isa.SizeDW}
	// pair emits one random pair writing dst from src (or a constant).
	pair := func(dst, src uint8) {
		cls := []uint8{isa.ClassALU64, isa.ClassALU}[r.IntN(2)]
		if r.IntN(2) == 0 {
			op := []uint8{isa.OpADD, isa.OpSUB, isa.OpLSH, isa.OpRSH, isa.OpARSH}[r.IntN(5)]
			imm := []int32{0, 1, -1, 31, 32, 63, 64, 13, -0x80000000, 0x7fffffff, int32(r.Uint32())}[r.IntN(11)]
			bcls := cls
			if r.IntN(8) == 0 {
				bcls ^= isa.ClassALU ^ isa.ClassALU64 // a mixed pair: no fusion
			}
			emit(isa.Instruction{Opcode: cls | isa.OpMOV | isa.SrcX, Dst: dst, Src: src})
			emit(isa.Instruction{Opcode: bcls | op | isa.SrcK, Dst: dst, Imm: imm})
			return
		}
		size := sizes[r.IntN(4)]
		sb := int16(isa.SizeBytes(size))
		off := -sb * int16(1+r.IntN(int(512/sb)))
		mode := isa.ModeMEM
		if r.IntN(3) == 0 {
			mode = isa.ModeMEMSX
			if size == isa.SizeDW {
				size = isa.SizeW
				off &^= 3
			}
		}
		if r.IntN(2) == 0 {
			emit(isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | size, Dst: isa.R10, Src: src, Offset: off})
		} else {
			emit(isa.Instruction{Opcode: isa.ClassST | isa.ModeMEM | size, Dst: isa.R10, Offset: off, Imm: int32(r.Uint32()) >> uint(r.IntN(32))})
		}
		if r.IntN(8) == 0 {
			off ^= 8 // another slot: no fusion
			if off > -int16(isa.SizeBytes(size)) {
				off = -16
			}
		}
		emit(isa.Instruction{Opcode: isa.ClassLDX | mode | size, Dst: dst, Src: isa.R10, Offset: off})
	}

	// The callback region, jumped over.
	emit(isa.Instruction{Opcode: isa.ClassJMP | isa.OpJA})
	var entries []int32
	for k := 0; k < 8; k++ {
		entries = append(entries, int32(len(insns)+1), int32(len(insns)+r.IntN(3)))
		pair(uint8(2+r.IntN(4)), uint8(2+r.IntN(4)))
		for q := uint8(2); q <= 5; q++ {
			emit(isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | isa.SizeB, Dst: 1, Src: q, Offset: int16(8*k) + int16(q)})
		}
	}
	emit(isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: 0, Src: 2})
	emit(isa.Instruction{Opcode: isa.ClassALU64 | isa.OpXOR | isa.SrcX, Dst: 0, Src: 5})
	emit(isa.Instruction{Opcode: isa.OpcodeExit})
	insns[0].Offset = int16(len(insns) - 1)

	reg := func() uint8 {
		if k := uint8(r.IntN(9)); k != 1 {
			return k
		}
		return 0
	}
	// Every register starts defined, some with values that make shifts
	// and sign extensions interesting.
	for k := uint8(0); k < 10; k++ {
		if k == 1 {
			continue // r1 is the memory
		}
		l := isa.LDDW(k, r.Uint64()>>uint(r.IntN(64)))
		emit(l[0])
		emit(l[1])
	}
	for n := 10 + r.IntN(40); n > 0; n-- {
		switch r.IntN(6) {
		case 0, 1, 2, 3:
			pair(reg(), reg()) // not r1 or r10: addresses differ between the engines
		case 4: // a conditional jump forward over a few instructions, maybe into a pair
			emit(isa.Instruction{Opcode: isa.ClassJMP | isa.OpJSGT | isa.SrcK, Dst: reg(), Imm: int32(r.IntN(3)) - 1, Offset: int16(1 + r.IntN(3))})
		case 5: // a callback, with the memory as its r1
			emit(isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: 6, Src: 1})
			emit(isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: 2, Src: 1})
			emit(isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: 1, Imm: entries[r.IntN(len(entries))]})
			emit(isa.Instruction{Opcode: isa.OpcodeCall, Imm: 4})
			emit(isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: 1, Src: 6})
			// No address left behind; r2-r5 are undefined after a call.
			emit(isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: 6, Imm: int32(r.Uint32())})
			for q := uint8(2); q <= 5; q++ {
				emit(isa.Instruction{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: q, Imm: int32(r.Uint32())})
			}
		}
	}
	// Fold every register into r0, and the stack into memory, so that
	// each value is compared.
	for k := uint8(2); k < 10; k++ {
		emit(isa.Instruction{Opcode: isa.ClassALU64 | isa.OpXOR | isa.SrcX, Dst: 0, Src: k})
		emit(isa.Instruction{Opcode: isa.ClassALU64 | isa.OpLSH | isa.SrcK, Dst: 0, Imm: 3})
	}
	for off := int16(-8); off >= -64; off -= 8 {
		emit(isa.Instruction{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeDW, Dst: 2, Src: isa.R10, Offset: off})
		emit(isa.Instruction{Opcode: isa.ClassSTX | isa.ModeMEM | isa.SizeDW, Dst: 1, Src: 2, Offset: -off - 8})
	}
	emit(isa.Instruction{Opcode: isa.OpcodeExit})
	// Jumps must land inside the program.
	for i := range insns {
		if insns[i].Opcode == isa.ClassJMP|isa.OpJSGT|isa.SrcK && i+1+int(insns[i].Offset) >= len(insns) {
			insns[i].Offset = 0
		}
	}
	return insns
}

// TestDifferentialPairs runs pairProgram's programs on the interpreter and
// the JIT, with and without BMI2 and constant blinding.
func TestDifferentialPairs(t *testing.T) {
	mem := make([]byte, 64)
	n := 2000
	if testing.Short() {
		n = 200
	}
	ran := 0
	for seed := uint64(0); seed < uint64(n); seed++ {
		insns := pairProgram(seed)
		if err := isa.Validate(insns); err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, listing(insns))
		}
		want := runInterp(insns, mem, 5000)
		for _, bmi2 := range []bool{true, false} {
			restore := amd64.SetBMI2(bmi2)
			got := runJITWith(insns, mem, amd64.Options{Helpers: diffHelpers(), Budget: 5000, BlindConstants: seed%4 == 3})
			restore()
			if d := compareOutcomes(want, got); d != "" {
				t.Fatalf("seed %d (bmi2 %v, blinded %v): %s\n%s", seed, bmi2, seed%4 == 3, d, listing(insns))
			}
		}
		ran++
	}
	t.Logf("%d programs agreed (BMI2 available: %v)", ran, amd64.HasBMI2())
}

// TestWithoutBMI2 runs the conformance suite and random programs on code
// compiled without the BMI2 shifts, the path of CPUs that lack them.
func TestWithoutBMI2(t *testing.T) {
	defer amd64.SetBMI2(false)()
	for name, eng := range map[string]conformance.EngineFactory{"plain": jitEngine, "blinded": blindedEngine} {
		results, err := conformance.RunPaths([]string{filepath.Join(suiteDir(t), "tests")}, eng, conformance.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			if !r.Passed {
				t.Errorf("%s %s: %s", name, r.Name, r.Reason)
			}
		}
		if passed, failed := conformance.Summary(results); passed != 313 || failed != 0 {
			t.Errorf("%s: %d passed, %d failed; want 313 passed, 0 failed", name, passed, failed)
		}
	}
	mem := make([]byte, 64)
	for i := range mem {
		mem[i] = byte(i*7 + 3)
	}
	for seed := 0; seed < 500; seed++ {
		insns := randomProgram(uint64(seed), 8+seed%40)
		if isa.Validate(insns) != nil {
			continue
		}
		want := runInterp(insns, mem, 5000)
		got := runJITWith(insns, mem, amd64.Options{Helpers: diffHelpers(), Budget: 5000, BlindConstants: seed%2 == 1})
		if d := compareOutcomes(want, got); d != "" {
			t.Fatalf("seed %d: %s\n%s", seed, d, listing(insns))
		}
	}
}

// TestBlindShiftsAndLegacyLoads checks that blinding also hides shift
// counts (as the kernel's blinding does, the count goes through a
// register) and legacy packet load offsets, and that results do not
// change, with and without BMI2.
func TestBlindShiftsAndLegacyLoads(t *testing.T) {
	insns := []isa.Instruction{
		{Opcode: isa.ClassLD | isa.ModeABS | isa.SizeW, Imm: 0x23456},
		{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: 7, Src: 0},
		{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcK, Dst: 8, Imm: 0x10},
		{Opcode: isa.ClassLD | isa.ModeIND | isa.SizeH, Src: 8, Imm: 0x31234},
		{Opcode: isa.ClassALU64 | isa.OpLSH | isa.SrcK, Dst: 0, Imm: 13},
		{Opcode: isa.ClassALU | isa.OpRSH | isa.SrcK, Dst: 7, Imm: 0x5eadbe07},
		{Opcode: isa.ClassALU64 | isa.OpARSH | isa.SrcK, Dst: 4, Imm: 3}, // r4 is rcx: the count's register without BMI2
		{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcX, Dst: 0, Src: 7},
		{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcX, Dst: 0, Src: 4},
		{Opcode: isa.OpcodeExit},
	}
	pkt := make([]byte, 0x40000)
	for i := range pkt {
		pkt[i] = byte(i*7 + i>>9)
	}
	var want uint64
	for k, bmi2 := range []bool{true, false} {
		for _, blind := range []bool{false, true} {
			restore := amd64.SetBMI2(bmi2)
			p, err := amd64.Load(insns, amd64.Options{BlindConstants: blind})
			restore()
			if err != nil {
				t.Fatal(err)
			}
			code := string(amd64.Code(p))
			for _, c := range []struct {
				name  string
				bytes string
			}{
				{"LD_ABS offset", "\x56\x34\x02\x00"},
				{"LD_IND offset", "\x34\x12\x03\x00"},
				{"shl rax, 13", "\xc1\xe0\x0d"},
				{"shr r13d, 7", "\xc1\xed\x07"},
			} {
				if found := strings.Contains(code, c.bytes); found == blind {
					t.Errorf("bmi2 %v, blinding %v: %s in the code: %v", bmi2, blind, c.name, found)
				}
			}
			vm := p.NewVM()
			r0, err := vm.RunWithPacket(nil, pkt)
			p.Close()
			if err != nil {
				t.Fatal(err)
			}
			if k == 0 && !blind {
				want = r0
			}
			if r0 != want || r0 == 0 {
				t.Errorf("bmi2 %v, blinding %v: r0 = %#x, want %#x (non-zero)", bmi2, blind, r0, want)
			}
		}
	}
	w := uint64(binary.BigEndian.Uint16(pkt[0x10+0x31234:])) << 13
	w += uint64(binary.BigEndian.Uint32(pkt[0x23456:]) >> 7)
	if want != w {
		t.Errorf("r0 = %#x, want %#x", want, w)
	}
}

// FuzzPairs is TestDifferentialPairs over the fuzzer's seeds and options.
func FuzzPairs(f *testing.F) {
	for _, s := range []uint64{0, 1, 52, 1 << 40} {
		f.Add(s, true, false)
		f.Add(s, false, true)
	}
	mem := make([]byte, 64)
	f.Fuzz(func(t *testing.T, seed uint64, bmi2, blind bool) {
		insns := pairProgram(seed)
		if err := isa.Validate(insns); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		want := runInterp(insns, mem, 5000)
		restore := amd64.SetBMI2(bmi2)
		got := runJITWith(insns, mem, amd64.Options{Helpers: diffHelpers(), Budget: 5000, BlindConstants: blind})
		restore()
		if d := compareOutcomes(want, got); d != "" {
			t.Fatalf("seed %d (bmi2 %v, blinded %v): %s\n%s", seed, bmi2, blind, d, listing(insns))
		}
	})
}
