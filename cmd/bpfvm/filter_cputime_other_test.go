//go:build !linux

package main

import "time"

// threadCPU reports no CPU time where the thread's is not available.
func threadCPU() func() time.Duration { return func() time.Duration { return 0 } }
