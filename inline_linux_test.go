package bpfvm

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// TestInlineMapsAgainstKernel runs testdata/map_inline.c, whose map
// helpers the engines run inline, in the kernel and on both engines, on
// chosen CPUs (a raw tracepoint program runs where BPF_F_TEST_RUN_ON_CPU
// says), and compares every result and, exactly per CPU, every map.
func TestInlineMapsAgainstKernel(t *testing.T) {
	for _, e := range []Engine{Interpreter, JIT} {
		t.Run(string(e), func(t *testing.T) { testInlineMapsAgainstKernel(t, e) })
	}
}

func testInlineMapsAgainstKernel(t *testing.T, e Engine) {
	spec, err := ebpf.LoadCollectionSpec(filepath.Join("testdata", "map_inline.o"))
	if err != nil {
		t.Fatal(err)
	}
	kc := kernelCollection(t, spec)
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	vc, err := NewRuntime(WithNumCPU(ncpu), WithEngine(e)).LoadCollection(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	if err := kc.Maps["keys"].Update(uint32(0), uint32(5), ebpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
	if err := vc.Maps["keys"].Update(uint32(0), uint32(5), UpdateAny); err != nil {
		t.Fatal(err)
	}
	kp, vp := kc.Programs["map_inline"], vc.Programs["map_inline"]
	// (base key, value seed, CPU): keys run past every array's end; the
	// hash sees inserts, failed updates, increments and deletes.
	steps := [][3]uint64{{0, 1, 0}, {3, 5, 1}, {6, 2, 0}, {0, 9, 1}, {2, 4, 1}, {7, 7, 0}, {1, 1, 0}, {4, 3, 1}, {0, 2, 1}, {5, 8, 0}}
	for i, s := range steps {
		cpu := uint32(s[2] % uint64(ncpu))
		ctx := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, s[0]), s[1])
		kr, err := kp.Run(&ebpf.RunOptions{Context: ctx, CPU: cpu, Flags: unix.BPF_F_TEST_RUN_ON_CPU})
		if err != nil {
			t.Fatalf("step %d: kernel: %v", i, err)
		}
		vr, err := vp.Run(&RunOptions{Context: ctx, CPU: cpu})
		if err != nil {
			t.Fatalf("step %d: bpfvm: %v", i, err)
		}
		if kr != vr {
			t.Errorf("step %d %v: kernel returned %d, bpfvm %d", i, s, kr, vr)
		}
	}
	for name, ms := range spec.Maps {
		if ms.Type == ebpf.PerCPUArray {
			comparePerCPU(t, name, ms, kc.Maps[name], vc.Maps[name], ncpu)
		}
	}
	compareMaps(t, spec, kc, vc, nil)
}

// comparePerCPU compares the u64 values of every index of a per-CPU
// array, CPU by CPU.
func comparePerCPU(t *testing.T, name string, ms *ebpf.MapSpec, km *ebpf.Map, vm *Map, ncpu int) {
	t.Helper()
	for k := uint32(0); k < ms.MaxEntries; k++ {
		kv, vv := make([]uint64, ncpu), make([]uint64, ncpu)
		if err := km.Lookup(k, kv); err != nil {
			t.Fatalf("%s[%d]: kernel: %v", name, k, err)
		}
		if err := vm.Lookup(k, &vv); err != nil {
			t.Fatalf("%s[%d]: bpfvm: %v", name, k, err)
		}
		if fmt.Sprint(kv) != fmt.Sprint(vv) {
			t.Errorf("%s[%d] per CPU: kernel %v, bpfvm %v", name, k, kv, vv)
		}
	}
}
