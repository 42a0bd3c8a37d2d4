//go:build linux && amd64

package amd64

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// mapCode copies code into fresh memory and makes it read-execute. The
// memory is never writable and executable at the same time.
func mapCode(code []byte) ([]byte, error) {
	page := unix.Getpagesize()
	size := (len(code) + page - 1) / page * page
	m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("jit: mapping %d bytes for code: %w", size, err)
	}
	copy(m, code)
	// Fill the rest of the page with int3 so a stray jump traps.
	for i := len(code); i < len(m); i++ {
		m[i] = 0xcc
	}
	if err := unix.Mprotect(m, unix.PROT_READ|unix.PROT_EXEC); err != nil {
		_ = unix.Munmap(m)
		return nil, fmt.Errorf("jit: making code executable: %w", err)
	}
	return m, nil
}

// unmapCode releases memory from mapCode.
func unmapCode(m []byte) { _ = unix.Munmap(m) }
