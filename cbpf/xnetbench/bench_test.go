// Package xnetbench compares bpfvm's classic BPF filter with
// golang.org/x/net/bpf's VM on the same program and packet. It is a
// separate module so that golang.org/x/net, a benchmark-only dependency,
// stays out of bpfvm's go.mod.
package xnetbench

import (
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	"github.com/bpfvm/bpfvm/cbpf"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// httpProgram is `tcpdump -dd 'ip and tcp and dst port 80'`.
var httpProgram = []cbpf.Instruction{
	{Op: 0x28, K: 0x0000000c},
	{Op: 0x15, Jf: 8, K: 0x00000800},
	{Op: 0x30, K: 0x00000017},
	{Op: 0x15, Jf: 6, K: 0x00000006},
	{Op: 0x28, K: 0x00000014},
	{Op: 0x45, Jt: 4, K: 0x00001fff},
	{Op: 0xb1, K: 0x0000000e},
	{Op: 0x48, K: 0x00000010},
	{Op: 0x15, Jf: 1, K: 0x00000050},
	{Op: 0x6, K: 0x00040000},
	{Op: 0x6, K: 0x00000000},
}

// frame is a 64-byte Ethernet/IPv4/TCP frame to port 80.
func frame() []byte {
	f := make([]byte, 64)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	f[14] = 0x45
	f[23] = 6
	binary.BigEndian.PutUint16(f[36:], 80)
	return f
}

// threadCPU is the CPU time of the calling thread: on a machine shared
// with other work it measures the filter's cost better than wall time.
func threadCPU() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

// measure runs match b.N times and reports, besides ns/op, the thread CPU
// time per packet (cpu-ns/op).
func measure(b *testing.B, match func() uint32) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	start := threadCPU()
	for range b.N {
		if v := match(); v != 262144 {
			b.Fatalf("verdict %d, want 262144", v)
		}
	}
	b.ReportMetric(float64(threadCPU()-start)/float64(b.N), "cpu-ns/op")
}

func BenchmarkHTTP(b *testing.B) {
	pkt := frame()
	for _, e := range []cbpf.Engine{cbpf.EngineClassic, cbpf.EngineInterp, cbpf.EngineJIT} {
		b.Run("bpfvm-"+e.String(), func(b *testing.B) {
			f, err := cbpf.NewFilter(httpProgram, cbpf.Options{Engine: e})
			if errors.Is(err, cbpf.ErrEngineUnavailable) {
				b.Skip(err)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			measure(b, func() uint32 { v, _ := f.Match(pkt, nil); return v })
		})
		b.Run("bpfvm-"+e.String()+"-matcher", func(b *testing.B) {
			f, err := cbpf.NewFilter(httpProgram, cbpf.Options{Engine: e})
			if errors.Is(err, cbpf.ErrEngineUnavailable) {
				b.Skip(err)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			m := f.NewMatcher()
			defer m.Close()
			measure(b, func() uint32 { v, _ := m.Match(pkt, nil); return v })
		})
		// Batches of 64 through MatchBatch: op = one packet.
		b.Run("bpfvm-"+e.String()+"-batch64", func(b *testing.B) {
			f, err := cbpf.NewFilter(httpProgram, cbpf.Options{Engine: e})
			if errors.Is(err, cbpf.ErrEngineUnavailable) {
				b.Skip(err)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			m := f.NewMatcher()
			defer m.Close()
			pkts := make([][]byte, 64)
			for i := range pkts {
				pkts[i] = pkt
			}
			verdicts := make([]uint32, len(pkts))
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ResetTimer()
			start := threadCPU()
			for done := 0; done < b.N; done += len(pkts) {
				k := min(len(pkts), b.N-done)
				if err := m.MatchBatch(pkts[:k], nil, verdicts[:k]); err != nil || verdicts[k-1] != 262144 {
					b.Fatalf("MatchBatch: %v, verdict %d", err, verdicts[k-1])
				}
			}
			b.ReportMetric(float64(threadCPU()-start)/float64(b.N), "cpu-ns/op")
		})
	}
	b.Run("bpfvm-eval", func(b *testing.B) {
		measure(b, func() uint32 { return cbpf.Eval(httpProgram, pkt, nil) })
	})
	b.Run("x-net-bpf", func(b *testing.B) {
		raw := make([]bpf.RawInstruction, len(httpProgram))
		for i, ins := range httpProgram {
			raw[i] = bpf.RawInstruction{Op: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
		}
		insns, ok := bpf.Disassemble(raw)
		if !ok {
			b.Fatal("x/net/bpf cannot disassemble the program")
		}
		vm, err := bpf.NewVM(insns)
		if err != nil {
			b.Fatal(err)
		}
		measure(b, func() uint32 { v, _ := vm.Run(pkt); return uint32(v) })
	})
}
