package cbpf

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkMatchHTTPCPU is BenchmarkFilterHTTP's matcher rows with the
// CPU time of the benchmark's thread per packet (cpu-ns/op) beside wall
// time: on the shared test machine wall time mostly measures waiting for
// a CPU, which hides what changes in the engines.
func BenchmarkMatchHTTPCPU(b *testing.B) {
	pkt := tcpFrame(80, 5, 0)
	for _, e := range testEngines {
		b.Run(e.String(), func(b *testing.B) {
			f, err := NewFilter(httpProgram, Options{Engine: e})
			if err != nil {
				b.Fatal(err)
			}
			m := f.NewMatcher()
			defer m.Close()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := threadCPUTime()
			for i := 0; i < b.N; i++ {
				if v, _ := m.Match(pkt, nil); v != 262144 {
					b.Fatal(v)
				}
			}
			if cpu := threadCPUTime() - cpu0; cpu0 > 0 && cpu > 0 {
				b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
			}
		})
	}
}

// threadCPUTime returns the CPU time the calling OS thread has used, in
// nanoseconds, or 0 if it is unavailable.
func threadCPUTime() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return ts.Nano()
}
