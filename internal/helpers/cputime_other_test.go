//go:build !linux

package helpers

// threadCPUTime is unavailable here: benchmarks report wall time only.
func threadCPUTime() int64 { return 0 }
