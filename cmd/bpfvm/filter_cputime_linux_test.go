package main

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU locks the goroutine to its thread and returns a function
// giving the CPU time the thread has used since: on the shared test
// machine, far steadier than wall time. The function unlocks the thread.
func threadCPU() func() time.Duration {
	runtime.LockOSThread()
	start := cpuNow()
	return func() time.Duration {
		d := cpuNow() - start
		runtime.UnlockOSThread()
		return d
	}
}

func cpuNow() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
