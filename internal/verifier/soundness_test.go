package verifier

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/interp"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/progen"
)

// The soundness harness: programs the verifier accepts run in the
// interpreter, which checks every memory access at run time. A check that
// trips is a verifier bug: it accepted a program that is not safe.
//
// Programs come from progen (which the kernel accepts) and from random
// mutations of them (offsets, immediates, registers, opcodes), most of
// which are unsafe and must be rejected.

func mutate(r *rand.Rand, body []isa.Instruction) []isa.Instruction {
	out := slices.Clone(body)
	n := 1 + r.IntN(3)
	if r.IntN(4) == 0 {
		n += r.IntN(6)
	}
	for k := 0; k < n; k++ {
		i := r.IntN(len(out))
		if (i > 0 && out[i-1].IsLDDW()) || out[i].IsLDDW() {
			continue
		}
		in := &out[i]
		switch r.IntN(8) {
		case 6:
			// Make a load/store base another register (often a scalar
			// or a pointer that needs different bounds).
			if c := in.Class(); c == isa.ClassLDX {
				in.Src = uint8(r.IntN(11))
			} else if c == isa.ClassST || c == isa.ClassSTX {
				in.Dst = uint8(r.IntN(11))
			}
		case 7:
			// Turn an instruction into pointer arithmetic on the memory
			// pointer or the frame pointer.
			*in = isa.Instruction{Opcode: isa.ClassALU64 | isa.OpADD | isa.SrcX, Dst: uint8(r.IntN(9)), Src: []uint8{isa.R9, isa.R10, uint8(r.IntN(9))}[r.IntN(3)]}
		case 0:
			in.Offset += int16(r.IntN(33) - 16)
		case 1:
			in.Offset = int16(r.IntN(1<<16) - 1<<15)
		case 2:
			in.Imm += int32(r.IntN(65) - 32)
		case 3:
			in.Dst = uint8(r.IntN(11))
		case 4:
			in.Src = uint8(r.IntN(11))
		case 5:
			// Same class, another size or operation.
			in.Opcode ^= uint8(1 << (3 + r.IntN(5)))
		}
	}
	return out
}

// runChecked runs an accepted program; it reports a verifier bug when the
// interpreter's run-time checks trip.
func runChecked(insns []isa.Instruction, mem []byte) error {
	p, err := interp.Load(insns, interp.Options{Budget: 1 << 20})
	if err != nil {
		return nil // the interpreter does not run it (e.g. helpers): nothing to learn
	}
	_, err = p.NewVM().Run(mem)
	if errors.Is(err, engine.ErrOutOfBounds) || errors.Is(err, engine.ErrCallDepth) {
		return err
	}
	return nil
}

func TestSoundnessHarness(t *testing.T) {
	seeds := 150
	mutants := 40
	if testing.Short() {
		seeds, mutants = 30, 10
	}
	accepted, rejected, mutAccepted := 0, 0, 0
	r := rand.New(rand.NewPCG(7, 7))
	for seed := int64(0); seed < int64(seeds); seed++ {
		p, err := progen.Generate(seed, progen.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{ProgType: "mem", MemSize: uint32(p.MemSize())}
		if _, err := Verify(p.Kernel, Config{ProgType: "xdp"}); err != nil {
			t.Errorf("seed %d: the XDP form the kernel accepts is rejected: %v", seed, err)
		}
		if _, err := Verify(p.Body, cfg); err != nil {
			rejected++
			t.Logf("seed %d: progen program rejected: %v", seed, err)
		} else {
			accepted++
			if err := runChecked(p.Body, slices.Clone(p.Memory)); err != nil {
				t.Fatalf("seed %d: accepted program trips a run-time check: %v", seed, err)
			}
		}
		for m := 0; m < mutants; m++ {
			body := mutate(r, p.Body)
			if _, err := Verify(body, cfg); err != nil {
				continue
			}
			mutAccepted++
			if err := runChecked(body, slices.Clone(p.Memory)); err != nil {
				t.Fatalf("seed %d mutant %d: the verifier accepted a program that trips a run-time check: %v\n%s", seed, m, err, dump(body))
			}
		}
	}
	t.Logf("progen programs accepted %d, rejected %d; accepted mutants run clean: %d", accepted, rejected, mutAccepted)
	if rejected*10 > seeds {
		t.Errorf("%d of %d kernel-acceptable progen programs rejected", rejected, seeds)
	}
}

func dump(insns []isa.Instruction) string {
	s := ""
	for i, in := range insns {
		s += fmt.Sprintf("%4d: %s\n", i, in)
	}
	return s
}

// FuzzSoundness mutates progen programs with fuzzer-chosen seeds.
func FuzzSoundness(f *testing.F) {
	f.Add(int64(1), uint64(1))
	f.Add(int64(42), uint64(99))
	f.Fuzz(func(t *testing.T, seed int64, mseed uint64) {
		p, err := progen.Generate(seed&0xffff, progen.Options{Insns: 32})
		if err != nil {
			t.Skip()
		}
		r := rand.New(rand.NewPCG(mseed, 3))
		body := mutate(r, p.Body)
		cfg := Config{ProgType: "mem", MemSize: uint32(p.MemSize()), MaxProcessed: 200_000}
		if _, err := Verify(body, cfg); err != nil {
			return
		}
		if err := runChecked(body, slices.Clone(p.Memory)); err != nil {
			t.Fatalf("accepted program trips a run-time check: %v\n%s", err, dump(body))
		}
	})
}
