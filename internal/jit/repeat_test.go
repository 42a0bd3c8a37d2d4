package jit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"unsafe"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/progen"
)

// TestRunRepeat checks RunRepeat on both engines against what its runs
// must do one by one: the stack starts zeroed each run, mem keeps what
// earlier runs wrote, the last r0 is returned, Executed counts the last
// run, and the first failing run stops the repetition with its error. The
// variant with a helper call makes the JIT's code exit to Go every run.
func TestRunRepeat(t *testing.T) {
	const body = `
ldxdw %%r3, [%%r10-8]
add %%r3, 1
stxdw [%%r10-8], %%r3
ldxb %%r0, [%%r1]
add %%r0, %%r3
stxb [%%r1], %%r0
jne %%r0, %d, +2
mov %%r1, 0
ldxb %%r0, [%%r1]
exit`
	helpers := engine.Helpers{1: func(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) { return 0, nil }}
	for _, k := range []Kind{Interpreter, JIT} {
		for _, call := range []bool{false, true} {
			pre, shift := "", 0
			if call {
				pre, shift = "mov %r6, %r1\ncall 1\nmov %r1, %r6\n", 3
			}
			load := func(limit int) VM {
				t.Helper()
				insns, err := asm.Assemble(pre + fmt.Sprintf(body, limit))
				if err != nil {
					t.Fatal(err)
				}
				p, _, err := Load(k, insns, Options{Helpers: helpers})
				if err != nil {
					t.Fatalf("%s: %v", k, err)
				}
				t.Cleanup(func() { p.Close() })
				return p.NewVM()
			}
			name := fmt.Sprintf("%s/call=%v", k, call)

			vm := load(200)
			mem := make([]byte, 4)
			for _, n := range []uint32{0, 1, 5} {
				before := mem[0]
				r0, err := vm.RunRepeat(mem, mem, n)
				runs := byte(max(n, 1))
				if err != nil || r0 != uint64(before+runs) || mem[0] != before+runs || vm.Executed() != uint64(8+shift) {
					t.Errorf("%s n=%d: r0 %d, err %v, mem[0] %d, executed %d", name, n, r0, err, mem[0], vm.Executed())
				}
			}
			// A separate packet: the same on its own buffers.
			pkt := make([]byte, 10)
			if r0, err := vm.RunRepeat(mem[:1], pkt, 4); err != nil || r0 != 7+4 {
				t.Errorf("%s with packet: r0 %d, err %v", name, r0, err)
			}

			vm = load(3)
			mem = make([]byte, 4)
			_, err := vm.RunRepeat(mem, mem, 10)
			var ie *isa.InstructionError
			if !errors.As(err, &ie) || ie.Index != 8+shift || !errors.Is(err, engine.ErrOutOfBounds) || mem[0] != 3 {
				t.Errorf("%s: error %v after %d runs, want out of bounds at %d after 3", name, err, mem[0], 8+shift)
			}
		}
	}
}

// TestPersistentRegions checks on both engines that a persistent region
// is accessible in every run (not only the first), that a read-only one
// refuses writes, and that ResetPersistentRegions removes them.
func TestPersistentRegions(t *testing.T) {
	const src = `
ldxdw %r2, [%r1]
ldxb %r0, [%r2]
add %r0, 1
stxb [%r2], %r0
exit`
	insns, err := asm.Assemble(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []Kind{Interpreter, JIT} {
		p, _, err := Load(k, insns, Options{})
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		defer p.Close()
		vm := p.NewVM()
		data, other := make([]byte, 8), make([]byte, 8)
		if err := vm.AddPersistentRegion(other, true); err != nil {
			t.Fatal(err)
		}
		if err := vm.AddPersistentRegion(data, true); err != nil {
			t.Fatal(err)
		}
		mem := make([]byte, 8)
		binary.LittleEndian.PutUint64(mem, uint64(uintptr(unsafe.Pointer(&data[0]))))
		for i := 1; i <= 3; i++ {
			if r0, err := vm.Run(mem); err != nil || r0 != uint64(i) || data[0] != byte(i) {
				t.Fatalf("%s run %d: r0 %d, err %v, data[0] %d", k, i, r0, err, data[0])
			}
		}
		if r0, err := vm.RunRepeat(mem, mem, 4); err != nil || r0 != 7 || data[0] != 7 {
			t.Fatalf("%s RunRepeat: r0 %d, err %v, data[0] %d", k, r0, err, data[0])
		}

		if err := vm.ResetPersistentRegions(); err != nil {
			t.Fatal(err)
		}
		if _, err := vm.Run(mem); !errors.Is(err, engine.ErrOutOfBounds) || data[0] != 7 {
			t.Errorf("%s after reset: err %v, data[0] %d; want out of bounds", k, err, data[0])
		}

		// Read-only: the load works, the store fails (at instruction 3).
		if err := vm.AddPersistentRegion(data, false); err != nil {
			t.Fatal(err)
		}
		var ie *isa.InstructionError
		if _, err := vm.Run(mem); !errors.As(err, &ie) || ie.Index != 3 || !errors.Is(err, engine.ErrOutOfBounds) || data[0] != 7 {
			t.Errorf("%s read-only: err %v, data[0] %d; want out of bounds at 3", k, err, data[0])
		}
		runtime.KeepAlive(data)
	}
}

// FuzzRunRepeat checks on both engines that RunRepeat(mem, mem, n) is n
// runs one after the other: same r0, error, instruction count and memory
// as Run called n times on an identical buffer. Programs come from
// progen (seeded) or raw bytes; both runs use the same VM, as a program
// may branch on addresses.
func FuzzRunRepeat(f *testing.F) {
	f.Add([]byte{}, int64(1), uint8(3))
	f.Add([]byte{}, int64(7), uint8(1))
	f.Add([]byte{0x71, 0x10, 0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 1, 0, 0, 0, 0x73, 0x01, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0}, int64(0), uint8(4))
	f.Fuzz(func(t *testing.T, code []byte, seed int64, n uint8) {
		var insns []isa.Instruction
		mem := make([]byte, 64)
		if len(code) == 0 {
			p, err := progen.Generate(seed, progen.Options{})
			if err != nil {
				t.Fatal(err)
			}
			insns, mem = p.Body, p.Memory
		} else {
			var err error
			if len(code)%8 != 0 || len(code) > 8*1024 {
				return
			}
			if insns, err = isa.Decode(code); err != nil || isa.Validate(insns) != nil {
				return
			}
		}
		reps := uint32(n%8) + 1
		for _, k := range []Kind{Interpreter, JIT} {
			p, _, err := Load(k, insns, Options{Budget: 20000})
			if err != nil {
				return // e.g. a call to a helper that does not exist
			}
			vm := p.NewVM()
			buf := append([]byte(nil), mem...)
			var r0 uint64
			var err1 error
			for i := uint32(0); i < reps && err1 == nil; i++ {
				r0, err1 = vm.Run(buf)
			}
			exec1, mem1 := vm.Executed(), append([]byte(nil), buf...)
			copy(buf, mem)
			r0r, errR := vm.RunRepeat(buf, buf, reps)
			p.Close()
			if fmt.Sprint(err1) != fmt.Sprint(errR) || (err1 == nil && r0 != r0r) || vm.Executed() != exec1 || !bytes.Equal(buf, mem1) {
				t.Fatalf("%s: %d runs: r0 %d, err %v, executed %d; RunRepeat: r0 %d, err %v, executed %d; memory equal %v\n%s",
					k, reps, r0, err1, exec1, r0r, errR, vm.Executed(), bytes.Equal(buf, mem1), isa.FormatProgram(insns))
			}
		}
	})
}
