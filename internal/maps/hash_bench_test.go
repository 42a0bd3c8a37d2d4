package maps

import (
	"encoding/binary"
	"testing"
)

// BenchmarkHashProgUpdate measures a program's replace of existing keys
// (BPF_ANY, 4-byte keys, 8-byte values), the path of
// testdata/bench_maps.c's bench_hash_update without an engine.
func BenchmarkHashProgUpdate(b *testing.B) {
	for _, typ := range []Type{Hash, LRUHash, PerCPUHash} {
		b.Run(typ.String(), func(b *testing.B) {
			m, err := New(Spec{Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: 64, NumCPU: 2})
			if err != nil {
				b.Fatal(err)
			}
			var keys [16][4]byte
			val := make([]byte, 8)
			for i := range keys {
				binary.LittleEndian.PutUint32(keys[i][:], uint32(i))
				if err := m.ProgUpdate(keys[i][:], val, UpdateAny, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				binary.LittleEndian.PutUint64(val, uint64(i))
				if err := m.ProgUpdate(keys[i&15][:], val, UpdateAny, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
