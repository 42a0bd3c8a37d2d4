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
		rt := NewRuntime(WithNumCPU(2), WithInstructionBudget(100_000))
		coll, err := rt.LoadCollectionReader(bytes.NewReader(obj))
		if err != nil {
			return
		}
		defer coll.Close()
		for _, p := range coll.Programs {
			p.Run(&RunOptions{Data: udpPkt})
		}
	})
}
