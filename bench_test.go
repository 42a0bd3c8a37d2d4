package bpfvm

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
)

func loadTestdata(tb testing.TB, obj string, opts ...Option) (*ebpf.CollectionSpec, *Collection) {
	tb.Helper()
	spec, err := ebpf.LoadCollectionSpec(filepath.Join("testdata", obj))
	if err != nil {
		tb.Fatal(err)
	}
	coll, err := NewRuntime(append(append([]Option{WithNumCPU(4)}, gapOpts(obj)...), opts...)...).LoadCollection(spec)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { coll.Close() })
	return spec, coll
}

// BenchmarkRun measures one Program.Run call (context built from the
// packet each time, as BPF_PROG_TEST_RUN does per call).
func BenchmarkRun(b *testing.B) {
	for _, c := range []struct{ obj, prog string }{
		{"xdp_pass.o", "xdp_pass"},
		{"xdp_firewall.o", "xdp_firewall"},
		{"percpu_counters.o", "percpu_counters"},
	} {
		b.Run(c.prog, func(b *testing.B) {
			_, coll := loadTestdata(b, c.obj)
			p := coll.Programs[c.prog]
			opts := &RunOptions{Data: udpPkt}
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if _, err := p.Run(opts); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b, 1)
		})
	}
}

// BenchmarkRepeat measures the per-repetition time of Run with a large
// Repeat: the figure BPF_PROG_TEST_RUN's duration reports.
func BenchmarkRepeat(b *testing.B) {
	for _, c := range []struct{ obj, prog string }{
		{"xdp_pass.o", "xdp_pass"},
		{"xdp_firewall.o", "xdp_firewall"},
		{"percpu_counters.o", "percpu_counters"},
		{"bench_maps.o", "bench_hash_update"}, // 16 updates per run
		{"bench_maps.o", "bench_hash_lookup"}, // 16 lookups per run
		{"bench_maps.o", "bench_array_lookup"},
	} {
		for _, e := range []Engine{Interpreter, JIT} {
			b.Run(c.prog+"/bpfvm-"+string(e), func(b *testing.B) {
				_, coll := loadTestdata(b, c.obj, WithEngine(e))
				opts := &RunOptions{Data: udpPkt, Repeat: uint32(b.N)}
				b.ResetTimer()
				cpu := startCPU()
				if _, err := coll.Programs[c.prog].Run(opts); err != nil {
					b.Fatal(err)
				}
				cpu.report(b, 1)
				b.ReportMetric(float64(opts.Duration.Nanoseconds()), "ns/run")
			})
		}
		b.Run(c.prog+"/kernel", func(b *testing.B) {
			spec, err := ebpf.LoadCollectionSpec(filepath.Join("testdata", c.obj))
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
			b.ResetTimer()
			cpu := startCPU()
			ret, d, err := kc.Programs[c.prog].Benchmark(udpPkt, b.N, nil)
			cpu.report(b, 1)
			_ = ret
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(d.Nanoseconds()), "ns/run")
		})
	}
}

// BenchmarkMapGo measures map operations from Go.
func BenchmarkMapGo(b *testing.B) {
	rt := NewRuntime(WithNumCPU(4))
	for _, typ := range []ebpf.MapType{ebpf.Hash, ebpf.Array} {
		m, err := rt.NewMap(&ebpf.MapSpec{Name: "m", Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: 1024})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(typ.String()+"/update", func(b *testing.B) {
			b.ReportAllocs()
			k, v := make([]byte, 4), make([]byte, 8)
			cpu := startCPU()
			for i := 0; b.Loop(); i++ {
				k[0] = byte(i)
				if err := m.Update(k, v, UpdateAny); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b, 1)
		})
		b.Run(typ.String()+"/lookup", func(b *testing.B) {
			b.ReportAllocs()
			k, v := make([]byte, 4), make([]byte, 8)
			cpu := startCPU()
			for i := 0; b.Loop(); i++ {
				k[0] = byte(i)
				if err := m.Lookup(k, v); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b, 1)
		})
	}
}

// BenchmarkMapGoKernel is BenchmarkMapGo on kernel maps (the bpf()
// syscall through cilium/ebpf): the figures bpfvm's are compared with.
func BenchmarkMapGoKernel(b *testing.B) {
	for _, typ := range []ebpf.MapType{ebpf.Hash, ebpf.Array} {
		m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "m", Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: 1024})
		if err != nil {
			if errors.Is(err, os.ErrPermission) || errors.Is(err, ebpf.ErrNotSupported) {
				b.Skipf("kernel unavailable: %v", err)
			}
			b.Fatal(err)
		}
		defer m.Close()
		b.Run(typ.String()+"/update", func(b *testing.B) {
			k, v := make([]byte, 4), make([]byte, 8)
			cpu := startCPU()
			for i := 0; b.Loop(); i++ {
				k[0] = byte(i)
				if err := m.Update(k, v, ebpf.UpdateAny); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b, 1)
		})
		b.Run(typ.String()+"/lookup", func(b *testing.B) {
			k, v := make([]byte, 4), make([]byte, 8)
			cpu := startCPU()
			for i := 0; b.Loop(); i++ {
				k[0] = byte(i)
				if err := m.Lookup(k, v); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b, 1)
		})
	}
}

// BenchmarkLoadCollection measures parsing and loading an object.
func BenchmarkLoadCollection(b *testing.B) {
	obj, err := os.ReadFile(filepath.Join("testdata", "xdp_firewall.o"))
	if err != nil {
		b.Fatal(err)
	}
	rt := NewRuntime(WithNumCPU(2))
	for b.Loop() {
		c, err := rt.LoadCollectionReader(bytes.NewReader(obj))
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// cpuClock measures the CPU time of the benchmark's thread: on a shared,
// loaded machine wall time mostly measures waiting for a CPU.
type cpuClock struct{ start int64 }

// startCPU locks the goroutine to its thread (unlocked by report) and
// starts the clock.
func startCPU() cpuClock {
	runtime.LockOSThread()
	return cpuClock{threadCPUTime()}
}

// report adds cpu-ns/op: the thread's CPU time over b.N*perOp operations.
func (c cpuClock) report(b *testing.B, perOp int) {
	end := threadCPUTime()
	runtime.UnlockOSThread()
	if c.start > 0 && end > c.start {
		b.ReportMetric(float64(end-c.start)/float64(b.N*perOp), "cpu-ns/op")
	}
}
