package cbpf

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cpuTimer measures the CPU time of the benchmark's thread: on a machine
// shared with other work, it is far steadier than wall time.
type cpuTimer struct{ start time.Duration }

func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

func startCPUTimer() cpuTimer {
	runtime.LockOSThread()
	return cpuTimer{threadCPU()}
}

// report adds the CPU time per operation to the benchmark's results.
func (c cpuTimer) report(b *testing.B) {
	d := threadCPU() - c.start
	runtime.UnlockOSThread()
	if d > 0 {
		b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
