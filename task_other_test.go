//go:build !linux

package bpfvm

import "testing"

// thisTask is only needed by kernel differential tests, which run on Linux.
func thisTask(t *testing.T) Task {
	t.Skip("the kernel oracle needs Linux")
	return Task{}
}
