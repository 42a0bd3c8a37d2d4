package bpfvm

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// thisTask describes the calling thread as the kernel sees it.
func thisTask(t *testing.T) Task {
	comm, err := os.ReadFile("/proc/thread-self/comm")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	return Task{PID: uint32(unix.Gettid()), TGID: uint32(os.Getpid()), UID: uint32(os.Getuid()), GID: uint32(os.Getgid()),
		Comm: strings.TrimSpace(string(comm))}
}
