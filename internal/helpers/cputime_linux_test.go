package helpers

import "golang.org/x/sys/unix"

// threadCPUTime returns the CPU time the calling OS thread has used, in
// nanoseconds, or 0 if it is unavailable.
func threadCPUTime() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return ts.Nano()
}
