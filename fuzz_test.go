package bpfvm

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadCollection loads hostile ELF objects: any outcome but a panic
// (or a hang) is fine, and what loads must run on a packet without
// crashing the host.
func FuzzLoadCollection(f *testing.F) {
	objs, _ := filepath.Glob(filepath.Join("testdata", "*.o"))
	for _, o := range objs {
		if b, err := os.ReadFile(o); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, obj []byte) {
		rt := NewRuntime(WithNumCPU(2), WithInstructionBudget(100_000), WithRandomSeed(1), testKconfig)
		coll, err := rt.LoadCollectionReader(bytes.NewReader(obj))
		if err != nil {
			return
		}
		defer coll.Close()
		// Verified programs also run on the JIT, whose proven accesses
		// are unchecked: a verifier soundness bug shows as a crash or a
		// result different from the checked interpreter's.
		jc, err := NewRuntime(WithNumCPU(2), WithInstructionBudget(100_000), WithRandomSeed(1), WithEngine(JIT), testKconfig).LoadCollectionReader(bytes.NewReader(obj))
		if err != nil {
			t.Fatalf("loads on the interpreter, not on the JIT: %v", err)
		}
		defer jc.Close()
		for name, p := range coll.Programs {
			r1, e1 := p.Run(&RunOptions{Data: udpPkt})
			r2, e2 := jc.Programs[name].Run(&RunOptions{Data: udpPkt})
			if e1 == nil && (e2 != nil || r1 != r2) {
				t.Fatalf("%s: interpreter %d, JIT %d %v", name, r1, r2, e2)
			}
		}
	})
}
