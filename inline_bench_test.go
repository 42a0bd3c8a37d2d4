package bpfvm

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
)

// BenchmarkRepeatHits is BenchmarkRepeat's hash and array lookups with
// every key present (BenchmarkRepeat's hash lookups all miss: its map is
// empty), beside the kernel's figures for the same program and contents.
func BenchmarkRepeatHits(b *testing.B) {
	for _, prog := range []string{"bench_hash_lookup", "bench_array_lookup"} {
		m := map[string]string{"bench_hash_lookup": "bh", "bench_array_lookup": "ba"}[prog]
		for _, e := range []Engine{Interpreter, JIT} {
			b.Run(prog+"/bpfvm-"+string(e), func(b *testing.B) {
				_, coll := loadTestdata(b, "bench_maps.o", WithEngine(e))
				for k := uint32(0); k < 16; k++ {
					if err := coll.Maps[m].Update(k, uint64(k*3), UpdateAny); err != nil {
						b.Fatal(err)
					}
				}
				opts := &RunOptions{Data: udpPkt, Repeat: uint32(b.N)}
				b.ResetTimer()
				cpu := startCPU()
				if _, err := coll.Programs[prog].Run(opts); err != nil {
					b.Fatal(err)
				}
				cpu.report(b, 1)
			})
		}
		b.Run(prog+"/kernel", func(b *testing.B) {
			spec, err := ebpf.LoadCollectionSpec(filepath.Join("testdata", "bench_maps.o"))
			if err != nil {
				b.Fatal(err)
			}
			kc, err := ebpf.NewCollection(spec)
			if err != nil {
				if errors.Is(err, os.ErrPermission) || errors.Is(err, ebpf.ErrNotSupported) {
					b.Skipf("kernel unavailable: %v", err)
				}
				b.Fatal(err)
			}
			defer kc.Close()
			for k := uint32(0); k < 16; k++ {
				if err := kc.Maps[m].Update(k, uint64(k*3), ebpf.UpdateAny); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			cpu := startCPU()
			if _, _, err := kc.Programs[prog].Benchmark(udpPkt, b.N, nil); err != nil {
				b.Fatal(err)
			}
			cpu.report(b, 1)
		})
	}
}
